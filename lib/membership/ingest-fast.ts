/**
 * The in-order fast path of ingestion: what a sync diff from a peer looks like. Each op builds
 * on the log or on an earlier op of the same batch, exactly one key has its author's key id,
 * its chain neither forks nor already holds its seq, and nothing is parked. Such a prefix
 * resolves in one pass against the log and a per-chain list of the batch's own ops, with no
 * tentative index, no need keys and no wake-ups: the general path (ingest.ts) would resolve
 * it to the same ops in the same order.
 *
 * The first op that is not that simple ends the prefix; the caller commits the prefix (when
 * every signature in it verifies) and hands the rest to the general path. Anything unusual
 * (forks, key-id collisions, duplicates within the batch, wrong-branch prevs, genesis) is
 * left to the general path, never decided here.
 */
import { KEY_ID_BYTES, keyIdMapKey, type Key } from '../identity/key.js'
import { SIGNATURE_BYTES } from '../identity/sign.js'
import { bytesEqual, keyStringAt } from '../util/bytes.js'
import { sha256Key, signedBytes } from './codec.js'
import { idPrefixMatches, OpEntry, type Chain, type OpLog } from './log.js'
import { OpKind, type Dep, type WireOp } from './op.js'
import { isKnownVerifiedAt, type SignatureJob } from './verify.js'

export interface InOrderPrefix {
  /** Resolved ops of the prefix in input order, duplicates left out. */
  ops: OpEntry[]
  /** Input ops the prefix covers, from `start`. */
  covered: number
  duplicates: number
  /** Signatures the cache does not vouch for, and the index in `ops` of each. */
  jobs: SignatureJob[]
  jobOf: number[]
}

/** A chain's ops resolved in this batch: consecutive seqs from `first`. */
interface BatchRun { first: number, ops: OpEntry[] }

export function resolveInOrder (log: OpLog, orgId: Uint8Array, input: readonly WireOp[], start: number): InOrderPrefix {
  const out: InOrderPrefix = { ops: [], covered: 0, duplicates: 0, jobs: [], jobOf: [] }
  const runs = new Map<string, BatchRun>()
  /** Ids of the batch's standalone ops (a chain op seen twice fails the seq check instead). */
  const leaveIds = new Set<string>()
  /**
   * The first 4 bytes of every signing key this batch enrolls: an op by a key id starting so
   * needs the general path, which also resolves authors against the batch's own keys.
   */
  const newKeyIds = new Set<number>()
  // The author of the previous op, its chain and its run: usually the same again.
  let lastHi = 0
  let lastLo = 0
  let author: Key | undefined
  let chain: Chain | undefined
  let run: BatchRun | undefined
  let i = start
  for (; i < input.length; i++) {
    const w = input[i]
    const kind = w.kind
    if (kind === OpKind.genesis) break
    let buf: Uint8Array
    let start: number
    let end: number
    if (w instanceof OpEntry) { buf = w.buf; start = w.start; end = w.end } else { buf = w.wire; start = 0; end = buf.length }
    const hi = (buf[start + 1] << 24) | (buf[start + 2] << 16) | (buf[start + 3] << 8) | buf[start + 4]
    const lo = (buf[start + 5] << 24) | (buf[start + 6] << 16) | (buf[start + 7] << 8) | buf[start + 8]
    if (newKeyIds.has(hi)) break
    if (author === undefined || hi !== lastHi || lo !== lastLo) {
      const keys = log.keysForIdKey(keyStringAt(buf, start + 1, start + 1 + KEY_ID_BYTES))
      if (keys.length !== 1) break
      author = keys[0]
      chain = log.chainOf(author)
      run = runs.get(author.mapKey)
      lastHi = hi
      lastLo = lo
    }

    let lamport = 0
    let depsFound = true
    for (const d of w.deps) {
      const dop = log.findDep(d) ?? findInBatch(log, runs, d)
      if (dop === undefined) { depsFound = false; break }
      if (dop.lamport > lamport) lamport = dop.lamport
    }
    if (!depsFound) break

    let prev: OpEntry | undefined
    let extendsLog = true
    const seq = w.seq
    if (kind !== OpKind.leave) {
      if (chain !== undefined && chain.forkSeq !== Infinity) break
      extendsLog = chain === undefined || chain.maxSeq < seq
      if (run !== undefined) {
        if (run.first + run.ops.length !== seq) break
        prev = run.ops[run.ops.length - 1]
      } else if (seq > 1) {
        const slot = chain?.bySeq[seq - 1]
        if (slot === undefined || Array.isArray(slot)) break
        prev = slot as OpEntry
      }
      if (prev !== undefined && prev.lamport > lamport) lamport = prev.lamport
    }
    lamport += 1

    const sigAt = end - SIGNATURE_BYTES
    const signed = signedBytes(buf.subarray(start, sigAt), orgId, prev?.idKey, lamport, author)
    const idKey = sha256Key(signed)
    const logged = log.getKey(idKey)
    if (logged !== undefined) {
      // The same op only with the same signature; else another branch's: general path.
      if (!bytesEqual(logged.sig, buf.subarray(sigAt, end))) break
      out.duplicates++
      continue
    }
    // Not a duplicate, yet at a seq the log holds: a fork.
    if (!extendsLog) break
    if (kind === OpKind.leave) {
      if (leaveIds.has(idKey)) break
      leaveIds.add(idKey)
    }
    // A freshly decoded entry becomes the logged op itself; anything else is copied.
    const op = w instanceof OpEntry && w.unresolved
      ? w.resolveInPlace(author, lamport, idKey, prev?.idKey)
      : new OpEntry(author, seq, w.deps, w.payload, buf, start, end, lamport, idKey, prev?.idKey)
    if (kind !== OpKind.leave) {
      if (run === undefined) { run = { first: seq, ops: [op] }; runs.set(author.mapKey, run) } else run.ops.push(op)
    }
    const p = w.payload
    if (p.kind === 2) {
      const k = p.record.signPublicKey.mapKey
      newKeyIds.add((k.charCodeAt(0) << 24) | (k.charCodeAt(1) << 16) | (k.charCodeAt(2) << 8) | k.charCodeAt(3))
    }
    if (!isKnownVerifiedAt(idKey, buf, sigAt)) {
      out.jobs.push({ key: author, data: signed.slice(), sig: buf.subarray(sigAt, end) })
      out.jobOf.push(out.ops.length)
    }
    out.ops.push(op)
  }
  out.covered = i - start
  return out
}

function findInBatch (log: OpLog, runs: Map<string, BatchRun>, d: Dep): OpEntry | undefined {
  for (const key of log.keysForIdKey(keyIdMapKey(d.keyId))) {
    const run = runs.get(key.mapKey)
    const op = run?.ops[d.seq - run.first]
    if (op !== undefined && idPrefixMatches(op.idKey, d.hash)) return op
  }
  return undefined
}
