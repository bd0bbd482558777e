/** Timing, heap and table helpers shared by the benchmarks. Progress goes to stderr. */

export function progress (message: string): void {
  process.stderr.write(`${message}\n`)
}

export function nowMs (): number { return performance.now() }

/** Median of the values (the mean of the middle two for an even count). */
export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * Runs `fn` `runs` times (after `setup` each time, untimed) and returns the median ms. No gc
 * is forced between runs: after a full gc V8 shrinks the young generation, and an
 * allocation-heavy run then pays more scavenges than it would in a running process.
 */
export async function timeMedian<T> (runs: number, setup: () => Promise<T> | T, fn: (x: T) => Promise<unknown> | unknown): Promise<number> {
  const ms: number[] = []
  for (let i = 0; i < runs; i++) {
    const x = await setup()
    const t0 = nowMs()
    await fn(x)
    ms.push(nowMs() - t0)
  }
  if (process.env.BENCH_DEBUG !== undefined) progress(`  runs: ${ms.map(x => x.toFixed(1)).join(' ')} ms`)
  return median(ms)
}

/**
 * A full gc that has finished: twice (the first pass can leave garbage that only weak
 * callbacks release), with turns of the event loop in between so that sweeping done after the
 * pause is over before heapUsed is read (else garbage of earlier phases still counts as used).
 */
async function fullGc (): Promise<void> {
  const gc = globalThis.gc
  if (typeof gc !== 'function') throw new Error('bench: gc() is not exposed; run node with --expose-gc')
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/**
 * Bytes retained by what `build` returns: gc, measure, build, gc, measure. `heap` is the JS
 * heap (`heapUsed`); `offHeap` what is held outside it (`external`: ArrayBuffer backing stores,
 * WASM memory). The result is kept referenced until the second measurement, then returned.
 */
export async function retainedBytes<T> (build: () => Promise<T>): Promise<{ heap: number, offHeap: number, value: T }> {
  await fullGc()
  const before = process.memoryUsage()
  const value = await build()
  await fullGc()
  const after = process.memoryUsage()
  return { heap: after.heapUsed - before.heapUsed, offHeap: after.external - before.external, value }
}

export function round (x: number | null, digits = 1): number | null {
  if (x === null || !Number.isFinite(x)) return null
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** A plain-text table: first row is the header; numbers right-aligned. */
export function formatTable (rows: Array<Array<string | number | null>>): string {
  const cells = rows.map(r => r.map(c => c === null ? '—' : typeof c === 'number' ? c.toLocaleString('en-US', { maximumFractionDigits: 1 }) : c))
  const widths = cells[0].map((_, i) => Math.max(...cells.map(r => r[i].length)))
  const line = (r: string[]): string => r.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join('  ')
  return [line(cells[0]), widths.map(w => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n')
}
