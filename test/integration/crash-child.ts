/**
 * The child process of crash.spec.ts: `node --import tsx crash-child.ts DIR SEED`.
 *
 * Loads the store in DIR (or creates it), checks every op it holds is `crashOp(i)` at index
 * i, prints `ready <ops> <incarnation> <torn bytes cut>`, then appends batches of the next
 * ops with `sync: true` as fast as it can, a few calls in flight at once, printing
 * `ack <last index>` only once a call has resolved, and now and then saves the incarnation
 * and prints `inc <n>` once that has resolved. It runs until killed. stdout is a pipe, and
 * pipe writes are synchronous on Linux, so an `ack` printed is an ack the parent can read.
 * Anything wrong: a line on stderr and exit code 3.
 */
import { fileURLToPath } from 'node:url'
import { FileStorage } from '../../lib/mesh/file-storage.js'
import { MAX_OP_BYTES } from '../../lib/membership/op.js'
import { SeededRandom } from '../../lib/random.js'

/** Op `i`: deterministic bytes, 1 to MAX_OP_BYTES long, so records straddle pages every way. */
export function crashOp (i: number): Uint8Array {
  const r = new SeededRandom(0x5eed0000 + i)
  return r.bytes(1 + r.int(MAX_OP_BYTES))
}
export const CRASH_GENESIS = new SeededRandom(0x6e6e).bytes(200)

const IN_FLIGHT = 4
const MAX_BATCH = 8

function die (message: string): never {
  process.stderr.write(`crash-child: ${message}\n`)
  process.exit(3)
}

function same (a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)
}

async function main (dir: string, seed: number): Promise<void> {
  const storage = new FileStorage(dir)
  const loaded = await storage.load()
  if (loaded === undefined) await storage.init(CRASH_GENESIS)
  const state = loaded ?? { genesis: CRASH_GENESIS, ops: [], incarnation: 0 }
  if (!same(state.genesis, CRASH_GENESIS)) die('wrong genesis')
  state.ops.forEach((op, i) => { if (!same(op, crashOp(i))) die(`op ${i} of ${state.ops.length} is not crashOp(${i})`) })
  process.stdout.write(`ready ${state.ops.length} ${state.incarnation} ${state.repairedTail?.bytes ?? 0}\n`)

  const random = new SeededRandom(seed)
  let next = state.ops.length
  let incarnation = state.incarnation
  let inFlight = 0
  const fail = (err: unknown): never => die(String((err as Error).stack ?? err))
  const pump = (): void => {
    while (inFlight < IN_FLIGHT) {
      inFlight++
      if (random.int(16) === 0) {
        const n = ++incarnation
        storage.saveIncarnation(n).then(() => { process.stdout.write(`inc ${n}\n`); inFlight--; pump() }, fail)
        continue
      }
      const count = 1 + random.int(MAX_BATCH)
      const batch = Array.from({ length: count }, (_, k) => crashOp(next + k))
      const last = next + count - 1
      next += count
      storage.appendOps(batch, { sync: true }).then(() => { process.stdout.write(`ack ${last}\n`); inFlight--; pump() }, fail)
    }
  }
  pump()
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dir, seed] = process.argv.slice(2)
  if (dir === undefined || seed === undefined) die('usage: crash-child.ts DIR SEED')
  main(dir, Number(seed)).catch(err => die(String((err as Error).stack ?? err)))
}
