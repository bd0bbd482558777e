/**
 * Crash safety of FileStorage with a real process and a real SIGKILL: a child
 * (crash-child.ts) appends ops with `sync: true` as fast as it can and prints `ack <index>`
 * once each call resolved; the parent kills it at a seeded random moment, 50 times, and
 * restarts it. Every restart must load (no crash may leave a file that fails to load), and
 * hold every op acknowledged before, in order; the last incarnation acknowledged must
 * survive too. Most kills land while ops are being written; one in five lands at any moment
 * from spawn on, so some hit the load, the tail repair or `init` itself.
 *
 * A SIGKILL leaves a prefix of each write(2), and the child's writes are small, so real
 * kills almost never tear a record. What a power cut leaves is modelled instead: after one
 * kill in four the parent cuts the log at a random byte past the last acknowledged op, or
 * zeroes it from there to the end (a file grown before its data reached the disk), and the
 * child's next load must repair that and keep going.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { openSync, statSync, truncateSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { FileStorage } from '../../lib/mesh/file-storage.js'
import { RECORD_HEADER_BYTES } from '../../lib/mesh/log-records.js'
import { withSeed } from '../helpers/seed.js'
import { useTempDir } from '../helpers/temp-dir.js'
import { CRASH_GENESIS, crashOp } from './crash-child.js'

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url))
const KILLS = 50
/** After `ready`, how long the child may write before the kill: [0, WRITE_MS). */
const WRITE_MS = 80
/** For the kills that do not wait for `ready`: [0, ANY_MS) after spawn (start-up takes ~350 ms). */
const ANY_MS = 600
/** A child that neither prints nor dies in this long is stuck. */
const STUCK_MS = 10_000

interface Run {
  /** `ready <ops> <incarnation> <torn bytes cut>`, when the child got that far. */
  ready?: { ops: number, incarnation: number, tornBytes: number }
  acks: number[]
  incs: number[]
  stderr: string
  exit: { code: number | null, signal: NodeJS.Signals | null }
}

describe('integration/crash', function () {
  this.timeout(120_000)
  const dir = useTempDir('wiremesh-crash-')
  let child: ChildProcess | undefined

  afterEach(() => {
    // Never leave a child behind (by its pid, through the handle we spawned).
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    child = undefined
  })

  /** Spawns the child, kills it `delayMs` after `ready` (or after spawn), resolves once it exited. */
  async function run (seed: number, afterReady: boolean, delayMs: number): Promise<Run> {
    const r: Omit<Run, 'exit'> = { acks: [], incs: [], stderr: '' }
    const c = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), CHILD, dir.path, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = c
    const kill = (): void => { if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL') }
    const timers: NodeJS.Timeout[] = [setTimeout(kill, STUCK_MS)]
    if (!afterReady) timers.push(setTimeout(kill, delayMs))
    let partial = ''
    c.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop()!
      for (const line of lines) {
        const [what, ...args] = line.split(' ')
        const n = args.map(Number)
        if (what === 'ready') {
          r.ready = { ops: n[0], incarnation: n[1], tornBytes: n[2] }
          if (afterReady) timers.push(setTimeout(kill, delayMs))
        } else if (what === 'ack') r.acks.push(n[0])
        else if (what === 'inc') r.incs.push(n[0])
        else r.stderr += `unexpected stdout line: ${line}\n`
      }
    })
    c.stderr!.setEncoding('utf8').on('data', (chunk: string) => { r.stderr += chunk })
    const exit = await new Promise<Run['exit']>((resolve, reject) => {
      c.once('error', reject)
      c.once('close', (code, signal) => { resolve({ code, signal }) })
    })
    for (const t of timers) clearTimeout(t)
    child = undefined
    return { ...r, exit }
  }

  /** A power cut's damage past `from`: the log cut at a random byte, or zeros from there on. */
  function tear (from: number, zeros: boolean, random: { int: (n: number) => number }): void {
    const log = join(dir.path, 'ops.log')
    const size = statSync(log).size
    const at = from + random.int(size - from + 1)
    if (!zeros) { truncateSync(log, at); return }
    const fd = openSync(log, 'r+')
    try {
      writeSync(fd, Buffer.alloc(size - at), 0, size - at, at)
    } finally {
      closeSync(fd)
    }
  }

  it(`loses no acknowledged op across ${KILLS} SIGKILLs at random moments`, async function () {
    await withSeed(this, async random => {
      let acked = -1 // the highest op index acknowledged so far
      let ackedInc = 0 // the highest incarnation acknowledged so far
      let ackedBytes = 0 // the length of ops.log up to the end of op `acked`
      let repairs = 0
      let tears = 0
      let killedBeforeReady = 0
      for (let k = 0; k < KILLS; k++) {
        const afterReady = random.int(5) !== 0
        const r = await run(random.int(2 ** 31), afterReady, random.int(afterReady ? WRITE_MS : ANY_MS))
        const at = `kill ${k + 1} of ${KILLS}`
        expect(r.stderr, `${at}: child stderr`).to.equal('')
        expect(r.exit.signal, `${at}: the child must die by our SIGKILL, not exit (code ${r.exit.code})`).to.equal('SIGKILL')
        if (r.ready === undefined) { killedBeforeReady++; continue }
        // The child checked op i is crashOp(i) for all it loaded; here: nothing acknowledged is missing.
        expect(r.ready.ops, `${at}: ops loaded after acknowledging up to index ${acked}`).to.be.above(acked)
        expect(r.ready.incarnation, `${at}: incarnation loaded`).to.be.at.least(ackedInc)
        if (r.ready.tornBytes > 0) repairs++
        let prev = r.ready.ops - 1
        for (const a of r.acks) {
          expect(a, `${at}: acks in order`).to.be.above(prev)
          prev = a
        }
        for (let i = acked + 1; i <= prev; i++) ackedBytes += RECORD_HEADER_BYTES + crashOp(i).length
        acked = Math.max(acked, prev)
        for (const n of r.incs) ackedInc = Math.max(ackedInc, n)
        if (acked >= 0 && random.int(4) === 0) { tear(ackedBytes, random.int(2) === 0, random); tears++ }
      }

      const storage = new FileStorage(dir.path)
      try {
        const state = await storage.load()
        expect(state, 'final load').to.not.equal(undefined)
        expect(Buffer.from(state!.genesis).equals(CRASH_GENESIS)).to.equal(true)
        expect(state!.ops.length).to.be.above(acked)
        state!.ops.forEach((op, i) => { expect(Buffer.from(op).equals(crashOp(i)), `op ${i}`).to.equal(true) })
        expect(state!.incarnation).to.be.at.least(ackedInc)
        console.log(`      ${state!.ops.length} ops (${acked + 1} acknowledged), incarnation ${state!.incarnation}; ` +
          `${killedBeforeReady} kills before ready; ${tears} tails torn, ${repairs} cut on load`)
      } finally {
        await storage.close()
      }
    })
  })
})
