/**
 * `VerifyPool`: Ed25519 verification spread over worker threads and the calling thread.
 *
 * One verify costs ~85–110 µs, so a new replica checking 10,000 enrolls spends a second on
 * one core. A batch is packed into one `SharedArrayBuffer` (posted, never copied or
 * structured-cloned op by op); every thread, the caller included, then claims chunks of
 * `CHUNK_JOBS` jobs with an atomic counter until none are left, so a worker that is still
 * booting or descheduled simply does less. The thread whose chunk completes the batch says so
 * (a worker by message; the caller returns at once).
 *
 * Buffer layout (little-endian):
 *
 *   i32[0] next job to claim        i32[1] jobs done          i32[2] job count   i32[3] chunk
 *   u32[4 … 4+n]  n + 1 job offsets (job i spans offsets i … i+1)
 *   u8 [n]        results: 0 not done, 1 valid, 2 malformed, 3 invalid   (at byte 16 + 4(n+1))
 *   jobs          key(32) ‖ sig(64) ‖ signed bytes           (from the first offset)
 *
 * Batches below `minBatch` jobs are verified inline: a round trip to a worker costs about as
 * much as two verifies. Workers are `unref`'d while idle, so an idle pool never keeps the
 * process alive, and `ref`'d while a batch is in flight, so an awaited batch always ends;
 * `close()` ends them for good.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { BatchVerifier, SignatureJob } from '../membership/verify.js'
import { KEY_BYTES } from './key.js'
import { SIGNATURE_BYTES, verifySignature } from './sign.js'

export interface VerifyPoolInit {
  /** Worker threads besides the caller (default: available cores − 1, at least 1). */
  workers?: number
  /** Smaller batches are verified inline (default 48). */
  minBatch?: number
}

/**
 * Jobs a thread claims at a time: at most ~3 ms of work, and at least 8 chunks per thread, so
 * a thread that starts late (a worker waking up) still gets its share of a small batch.
 */
export const CHUNK_JOBS = 32
const MIN_CHUNK_JOBS = 4
export const DEFAULT_MIN_BATCH = 48
const HEADER_BYTES = 16
const JOB_HEADER_BYTES = KEY_BYTES + SIGNATURE_BYTES

/**
 * The worker, as CommonJS source: no file to resolve under tsx or from dist, and no loader
 * flags (`execArgv: []`) to slow its start.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createPublicKey, verify } = require('node:crypto')
const keys = new Map()
function keyObject (u8, at) {
  const s = Buffer.from(u8.buffer, at, 32).toString('latin1')
  let k = keys.get(s)
  if (k === undefined) {
    if (keys.size >= 65536) keys.clear()
    try { k = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(u8.buffer, at, 32).toString('base64url') }, format: 'jwk' }) } catch { k = null }
    keys.set(s, k)
  }
  return k
}
parentPort.on('message', ({ batch, sab }) => {
  const ctl = new Int32Array(sab, 0, 4)
  const n = ctl[2]
  const chunk = ctl[3]
  const offs = new Uint32Array(sab, ${HEADER_BYTES}, n + 1)
  const u8 = new Uint8Array(sab)
  const res = ${HEADER_BYTES} + 4 * (n + 1)
  for (;;) {
    const start = Atomics.add(ctl, 0, chunk)
    if (start >= n) break
    const end = Math.min(n, start + chunk)
    for (let i = start; i < end; i++) {
      const at = offs[i]
      const k = keyObject(u8, at)
      let ok = false
      if (k !== null) {
        try { ok = verify(null, u8.subarray(at + ${JOB_HEADER_BYTES}, offs[i + 1]), k, u8.subarray(at + 32, at + ${JOB_HEADER_BYTES})) } catch { ok = false }
      }
      u8[res + i] = ok ? 1 : 3
    }
    if (Atomics.add(ctl, 1, end - start) + (end - start) === n) parentPort.postMessage(batch)
  }
})
`

export class VerifyPool implements BatchVerifier {
  private readonly workerCount: number
  private readonly minBatch: number
  private workers: Worker[] = []
  private readonly waiting = new Map<number, () => void>()
  private nextBatch = 1
  private inFlight = 0
  private closed = false

  constructor (init: VerifyPoolInit = {}) {
    this.workerCount = Math.max(1, Math.floor(init.workers ?? availableParallelism() - 1))
    this.minBatch = Math.max(1, init.minBatch ?? DEFAULT_MIN_BATCH)
  }

  /** Starts the workers now rather than at the first large batch. Idempotent. */
  start (): void {
    if (this.closed || this.workers.length > 0) return
    for (let i = 0; i < this.workerCount; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], stdout: false, stderr: false })
      w.on('message', (batch: number) => { this.waiting.get(batch)?.() })
      // A dead worker leaves its claimed chunk unfinished: settle everything and stop using workers.
      w.on('error', () => { this.fail() })
      w.on('exit', () => { if (!this.closed) this.fail() })
      w.unref()
      this.workers.push(w)
    }
  }

  async verifyBatch (jobs: SignatureJob[]): Promise<boolean[]> {
    if (jobs.length < this.minBatch || this.closed) return jobs.map(j => verifySignature(j.key, j.data, j.sig))
    this.start()
    const n = jobs.length
    let bytes = 0
    for (const j of jobs) bytes += JOB_HEADER_BYTES + j.data.length
    const resAt = HEADER_BYTES + 4 * (n + 1)
    const jobsAt = resAt + n + ((4 - (n % 4)) % 4)
    const sab = new SharedArrayBuffer(jobsAt + bytes)
    const ctl = new Int32Array(sab, 0, 4)
    const offs = new Uint32Array(sab, HEADER_BYTES, n + 1)
    const u8 = new Uint8Array(sab)
    ctl[2] = n
    const chunk = Math.max(MIN_CHUNK_JOBS, Math.min(CHUNK_JOBS, Math.ceil(n / (8 * (this.workers.length + 1)))))
    ctl[3] = chunk
    let at = jobsAt
    for (let i = 0; i < n; i++) {
      const j = jobs[i]
      offs[i] = at
      j.key.writeTo(u8, at)
      // A malformed signature fails anyway; keep the layout fixed.
      if (j.sig.length === SIGNATURE_BYTES) u8.set(j.sig, at + KEY_BYTES)
      else u8[resAt + i] = 2
      u8.set(j.data, at + JOB_HEADER_BYTES)
      at += JOB_HEADER_BYTES + j.data.length
    }
    offs[n] = at
    const batch = this.nextBatch++
    const finished = new Promise<void>(resolve => this.waiting.set(batch, resolve))
    if (this.inFlight++ === 0) for (const w of this.workers) w.ref()
    try {
      for (const w of this.workers) w.postMessage({ batch, sab })
      // The calling thread works too.
      for (;;) {
        const start = Atomics.add(ctl, 0, chunk)
        if (start >= n) break
        const end = Math.min(n, start + chunk)
        for (let i = start; i < end; i++) {
          const o = offs[i]
          if (u8[resAt + i] === 2) continue
          u8[resAt + i] = verifySignature(jobs[i].key, u8.subarray(o + JOB_HEADER_BYTES, offs[i + 1]), u8.subarray(o + KEY_BYTES, o + JOB_HEADER_BYTES)) ? 1 : 3
        }
        if (Atomics.add(ctl, 1, end - start) + (end - start) === n) this.waiting.get(batch)?.()
      }
      await finished
    } finally {
      this.waiting.delete(batch)
      if (--this.inFlight === 0) for (const w of this.workers) w.unref()
    }
    const out = new Array<boolean>(n)
    for (let i = 0; i < n; i++) {
      const r = u8[resAt + i]
      // 0: claimed by a worker that died before finishing; check it here.
      out[i] = r === 1 || (r === 0 && verifySignature(jobs[i].key, jobs[i].data, jobs[i].sig))
    }
    return out
  }

  /** Ends the workers; later batches are verified inline. Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const ws = this.workers
    this.workers = []
    await Promise.all(ws.map(async w => await w.terminate()))
    this.settleWaiting()
  }

  /** A worker died: finish in-flight batches inline and go on without workers. */
  private fail (): void {
    if (this.closed) return
    this.closed = true
    const ws = this.workers
    this.workers = []
    for (const w of ws) void w.terminate()
    this.settleWaiting()
  }

  private settleWaiting (): void {
    for (const done of this.waiting.values()) done()
  }
}

let shared: VerifyPool | undefined

/**
 * The process-wide pool that replicas use unless given a verifier: one worker per spare core,
 * started at the first batch of `DEFAULT_MIN_BATCH` or more, never keeping the process alive.
 */
export function sharedVerifyPool (): VerifyPool {
  shared ??= new VerifyPool()
  return shared
}
