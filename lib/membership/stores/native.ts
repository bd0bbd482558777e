/**
 * The native store (default): ops in per-author chains (the `OpLog`), digest = chain heads.
 *
 * Digest layout:
 *   varuint n ‖ n × (bytes(8) author key id ‖ varuint seq ‖ bytes(8) id prefix)   chain tips, sorted
 *   varuint b ‖ b × (varuint count ‖ bytes(8) xor of id prefixes)                 standalone ops,
 *                                                                               bucketed by id[0] mod b
 * so the digest is O(admins), not O(members). Diff layout: varuint n ‖ n × varbytes(wire op),
 * in lamport order (a causal order).
 *
 * What the holder of a digest lacks, per chain: everything not an ancestor of one of its tips
 * that we know. A tip we do not know and that lies beyond our own head means the remote is
 * ahead on the same history, unless our chain forks or a remote tip sits at a seq where we
 * hold a different op (a fork the remote has not seen): then we send the whole chain, which
 * is how equivocation evidence reaches every replica.
 */
import { SyncDecodeError } from '../../errors.js'
import { keyIdMapKey, KEY_ID_BYTES } from '../../identity/key.js'
import { Decoder, Encoder, readBytes, readVarUint, writeBytes, writeVarBytes, writeVarUint } from '../../util/encoding.js'
import { bytesEqual, compareBytes } from '../../util/bytes.js'
import { readDecodedOp } from '../codec.js'
import type { LoggedOp, OpLog } from '../log.js'
import { HASH_PREFIX_BYTES, MAX_OP_BYTES, type Op, type WireOp } from '../op.js'
import type { OpStore, UnpackResult } from './store.js'

export const STANDALONE_BUCKETS = 16
const MAX_DIGEST_TIPS = 4096

function fail (message: string): never { throw new SyncDecodeError(`failed to decode native sync message: ${message}`) }

interface Tip { keyId: Uint8Array, seq: number, hash: Uint8Array }

export class NativeOpStore implements OpStore {
  readonly name = 'native' as const
  constructor (private readonly log: OpLog) {}

  add (_op: Op): void { /* the log is the store */ }
  has (id: Uint8Array): boolean { return this.log.has(id) }
  get size (): number { return this.log.size }

  digest (): Uint8Array {
    const enc = new Encoder(64)
    const tips = this.log.tips().sort((a, b) => compareBytes(a.author.id, b.author.id) || a.seq - b.seq || compareBytes(a.id, b.id))
    writeVarUint(enc, tips.length)
    for (const t of tips) {
      writeBytes(enc, t.author.id)
      writeVarUint(enc, t.seq)
      writeBytes(enc, t.id.subarray(0, HASH_PREFIX_BYTES))
    }
    const buckets = this.buckets()
    writeVarUint(enc, STANDALONE_BUCKETS)
    for (const b of buckets) { writeVarUint(enc, b.count); writeBytes(enc, b.xor) }
    return enc.finish()
  }

  private buckets (): Array<{ count: number, xor: Uint8Array }> {
    const out = Array.from({ length: STANDALONE_BUCKETS }, () => ({ count: 0, xor: new Uint8Array(HASH_PREFIX_BYTES) }))
    for (const op of this.log.standalone) {
      const b = out[op.idKey.charCodeAt(0) % STANDALONE_BUCKETS]
      b.count++
      for (let i = 0; i < HASH_PREFIX_BYTES; i++) b.xor[i] ^= op.idKey.charCodeAt(i)
    }
    return out
  }

  diff (remoteDigest: Uint8Array): Uint8Array {
    const { tips, buckets } = readDigest(remoteDigest)
    const byAuthor = new Map<string, Tip[]>()
    for (const t of tips) {
      const k = keyIdMapKey(t.keyId)
      const list = byAuthor.get(k)
      if (list === undefined) byAuthor.set(k, [t])
      else list.push(t)
    }
    const out: LoggedOp[] = []
    for (const chain of this.log.chains) {
      const remote = byAuthor.get(keyIdMapKey(chain.author.id)) ?? []
      const matched: LoggedOp[] = []
      let forkEvident = chain.forkSeq !== Infinity
      let ahead = false
      for (const t of remote) {
        const have = chain.at(t.seq).find(o => bytesEqual(o.id.subarray(0, HASH_PREFIX_BYTES), t.hash))
        if (have !== undefined) matched.push(have)
        else if (t.seq <= chain.maxSeq) forkEvident = true
        else ahead = true
      }
      if (ahead && !forkEvident) continue
      const floor = !forkEvident && matched.length > 0 ? Math.max(...matched.map(m => m.seq)) : 0
      for (let s = floor + 1; s <= chain.maxSeq; s++) {
        for (const op of chain.at(s)) {
          if (forkEvident && matched.some(m => this.log.inPast(op, m))) continue
          out.push(op)
        }
      }
    }
    const mine = this.buckets()
    for (const op of this.log.standalone) {
      const i = op.idKey.charCodeAt(0) % STANDALONE_BUCKETS
      const theirs = buckets[i]
      if (theirs === undefined || theirs.count !== mine[i].count || !bytesEqual(theirs.xor, mine[i].xor)) out.push(op)
    }
    out.sort((a, b) => a.lamport - b.lamport)
    const enc = new Encoder(out.length * 160 + 8)
    writeVarUint(enc, out.length)
    for (const op of out) writeVarBytes(enc, op.wire)
    return enc.finish()
  }

  unpack (diff: Uint8Array): UnpackResult {
    const dec = new Decoder(diff, fail)
    const n = readVarUint(dec, 5)
    if (n > diff.length) fail(`claims ${n} ops in ${diff.length} bytes`)
    const ops: WireOp[] = []
    let malformed = 0
    for (let i = 0; i < n; i++) {
      const at = dec.pos
      const len = readVarUint(dec, 4)
      if (len > MAX_OP_BYTES) fail(`field at byte ${at} is ${len} bytes, limit ${MAX_OP_BYTES}`)
      if (len > dec.end - dec.pos) fail(`truncated at byte ${dec.pos}: need ${len} bytes, have ${dec.end - dec.pos}`)
      const start = dec.pos
      dec.pos += len
      try {
        // Decoded in place: each op keeps one view into the diff (see readDecodedOp).
        const d = new Decoder(diff, fail, start, start + len)
        const op = readDecodedOp(d)
        if (d.pos !== start + len) { malformed++; continue }
        ops.push(op)
      } catch {
        malformed++
      }
    }
    if (dec.pos !== diff.length) fail(`${diff.length - dec.pos} trailing bytes`)
    return { ops, malformed }
  }
}

function readDigest (digest: Uint8Array): { tips: Tip[], buckets: Array<{ count: number, xor: Uint8Array }> } {
  const dec = new Decoder(digest, fail)
  const n = readVarUint(dec, 3)
  if (n > MAX_DIGEST_TIPS) fail(`${n} tips, limit ${MAX_DIGEST_TIPS}`)
  const tips: Tip[] = []
  for (let i = 0; i < n; i++) {
    tips.push({ keyId: readBytes(dec, KEY_ID_BYTES), seq: readVarUint(dec, 7), hash: readBytes(dec, HASH_PREFIX_BYTES) })
  }
  const b = readVarUint(dec, 2)
  if (b !== STANDALONE_BUCKETS) fail(`expected ${STANDALONE_BUCKETS} buckets, got ${b}`)
  const buckets: Array<{ count: number, xor: Uint8Array }> = []
  for (let i = 0; i < b; i++) buckets.push({ count: readVarUint(dec, 5), xor: readBytes(dec, HASH_PREFIX_BYTES) })
  if (dec.pos !== digest.length) fail(`${digest.length - dec.pos} trailing bytes`)
  return { tips, buckets }
}
