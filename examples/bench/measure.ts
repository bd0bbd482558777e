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

/** Runs `fn` `runs` times (after `setup` each time, untimed) and returns the median ms. */
export async function timeMedian<T> (runs: number, setup: () => Promise<T> | T, fn: (x: T) => Promise<unknown> | unknown): Promise<number> {
  const ms: number[] = []
  for (let i = 0; i < runs; i++) {
    const x = await setup()
    const t0 = nowMs()
    await fn(x)
    ms.push(nowMs() - t0)
  }
  return median(ms)
}

function fullGc (): void {
  const gc = globalThis.gc
  if (typeof gc !== 'function') throw new Error('bench: gc() is not exposed; run node with --expose-gc')
  // Twice: the first pass can leave garbage that only weak callbacks release.
  gc(); gc()
}

/** What the process holds: the JS heap plus ArrayBuffer backing stores and WASM memory. */
function heldBytes (): number {
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

/**
 * Bytes retained by what `build` returns: gc, measure, build, gc, measure. The result is kept
 * referenced until the second measurement, then returned with the figure.
 */
export async function retainedBytes<T> (build: () => Promise<T>): Promise<{ bytes: number, value: T }> {
  fullGc()
  const before = heldBytes()
  const value = await build()
  fullGc()
  const after = heldBytes()
  return { bytes: after - before, value }
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
