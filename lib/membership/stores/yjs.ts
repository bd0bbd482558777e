/**
 * `YjsOpStore`: the op set as a `Y.Map` named `ops` of a `Y.Doc`, keyed by the base64 op id,
 * each value the op's wire bytes; diffed by Yjs state vector (DESIGN §2, "Op stores").
 *
 * Determinism. Replicas add ops locally (the layer above calls `add` for every op it
 * accepts, whether authored here or received), so a Yjs item must come out the same on every
 * replica whatever the order. Each op is written by its own Yjs client:
 *
 *   client(op) = first 53 bits of op.id (1 if that is 0)        < 2^53, a safe integer
 *
 * and `doc.clientID` is set to it just before the `map.set` (Yjs reads `doc.clientID` for
 * every item it creates, `typeMapSet` in yjs/src/types/AbstractType.js). Every op is then
 * the single item (client(op), clock 0) with parent `ops`, key base64(id), no origins and a
 * ContentBinary, on every replica; the state vector of a set is {client(op): 1 | op ∈ set},
 * and Yjs writes state vectors sorted by client, so equal sets give equal bytes. Yjs
 * encodes clients as unsigned varints (lib0 reads them up to 2^53 − 1), so 53-bit clients
 * travel intact.
 *
 * Collisions. Two ops whose ids share 53 bits (2^26 hashes for an author grinding its own
 * ops) land on one client: the second one added gets clock 1, so {X} and {Y} have the same
 * state vector and a plain state-vector diff would never move X to a holder of Y. So:
 * - the digest also carries a fingerprint of the exact set, and when the two state vectors
 *   are equal but the fingerprints differ, the diff is the whole store;
 * - a client holding more than one item is always sent whole, since its clocks name
 *   different ops on different replicas.
 * The state vector still never depends on add order (a client's clock is its op count).
 *
 * Digest layout:
 *
 *   bytes(16)  fingerprint = first 16 bytes of SHA-256(concatenation of the ids in base64 order)
 *   rest       Yjs state vector (v1): varuint n ‖ n × (varuint client ‖ varuint clock), clients descending
 *
 * Diff: a Yjs v1 update (`Y.encodeStateAsUpdate(doc, remoteStateVector)`). Unpack never
 * applies it: a diff may carry forged items, and an item only enters the store when the
 * layer above has checked its op and calls `add`, which recreates the same item. Unpack
 * decodes the structs and reads the op bytes out of each item under `ops` instead.
 *
 * Adds are queued and written in one Yjs transaction when the doc is next read (digest,
 * diff): a Yjs transaction costs O(clients) to open and close, so one per op would make
 * 10,000 adds quadratic.
 */
import { createHash } from 'node:crypto'
import * as Y from 'yjs'
import { OpDecodeError, SyncDecodeError } from '../../errors.js'
import { decodeOp } from '../codec.js'
import type { Op, WireOp } from '../op.js'
import { bytesEqual, concatBytes, toBase64 } from '../../util/bytes.js'
import type { OpStore, UnpackResult } from './store.js'

const MAP_NAME = 'ops'
export const FINGERPRINT_BYTES = 16

/** The Yjs client that writes `id`'s item: its first 53 bits, never 0. */
export function yjsClientOf (id: Uint8Array): number {
  let v = 0
  for (let i = 0; i < 6; i++) v = v * 256 + id[i]
  v = v * 32 + (id[6] >>> 3)
  return v === 0 ? 1 : v
}

export class YjsOpStore implements OpStore {
  readonly name = 'yjs' as const
  private readonly doc = new Y.Doc()
  private readonly map = this.doc.getMap<Uint8Array>(MAP_NAME)
  /** base64 id → id, for every op added (queued ones included). */
  private readonly ids = new Map<string, Uint8Array>()
  private queue: Op[] = []
  /** Clients that hold more than one item (see "Collisions"). */
  private readonly collided = new Set<number>()
  private fingerprintCache: Uint8Array | undefined
  private digestCache: Uint8Array | undefined

  add (op: Op): void {
    const key = toBase64(op.id)
    if (this.ids.has(key)) return
    this.ids.set(key, op.id)
    this.queue.push(op)
    this.fingerprintCache = undefined
    this.digestCache = undefined
  }

  has (id: Uint8Array): boolean { return this.ids.has(toBase64(id)) }

  get size (): number { return this.ids.size }

  digest (): Uint8Array {
    if (this.digestCache === undefined) {
      this.flush()
      this.digestCache = concatBytes(this.fingerprint(), Y.encodeStateVector(this.doc))
    }
    return this.digestCache
  }

  diff (remoteDigest: Uint8Array): Uint8Array {
    if (remoteDigest.length < FINGERPRINT_BYTES) throw new SyncDecodeError(`failed to decode yjs digest: ${remoteDigest.length} bytes, need at least ${FINGERPRINT_BYTES}`)
    let remote: Map<number, number>
    try {
      remote = Y.decodeStateVector(remoteDigest.subarray(FINGERPRINT_BYTES))
    } catch (err) {
      throw new SyncDecodeError(`failed to decode yjs digest: ${(err as Error).message}`, { cause: err })
    }
    this.flush()
    if (!bytesEqual(remoteDigest.subarray(0, FINGERPRINT_BYTES), this.fingerprint()) && this.sameStateVector(remote)) {
      // Same clients and clocks, different ops: colliding clients hold different ops there.
      return Y.encodeStateAsUpdate(this.doc)
    }
    for (const client of this.collided) remote.delete(client)
    return Y.encodeStateAsUpdate(this.doc, Y.encodeStateVector(remote))
  }

  unpack (diff: Uint8Array): UnpackResult {
    let structs: Array<Y.Item | Y.GC | Y.Skip>
    try {
      structs = Y.decodeUpdate(diff).structs
    } catch (err) {
      throw new SyncDecodeError(`failed to decode yjs diff: ${(err as Error).message}`, { cause: err })
    }
    const ops: WireOp[] = []
    let malformed = 0
    const take = (value: unknown): void => {
      if (!(value instanceof Uint8Array)) { malformed++; return }
      try {
        // Copy: the op's byte fields are views, and the caller may reuse the diff's buffer.
        ops.push(decodeOp(value.slice()))
      } catch (err) {
        if (!(err instanceof OpDecodeError)) throw err
        malformed++
      }
    }
    for (const s of structs) {
      if (!(s instanceof Y.Item)) continue // GC and Skip structs carry no content
      // A decoded item names its root parent by string (the typings only know integrated items).
      if ((s.parent as unknown) !== MAP_NAME || typeof s.parentSub !== 'string') { malformed++; continue }
      const c = s.content
      if (c instanceof Y.ContentBinary) take(c.content)
      else if (c instanceof Y.ContentAny) for (const v of c.arr) take(v)
      else malformed++
    }
    // Chain ops in increasing seq per author; the layer above restores the rest of causal order.
    ops.sort((a, b) => a.seq - b.seq)
    return { ops, malformed }
  }

  /** Writes queued ops, each as the one item of its own client (see the file header). */
  private flush (): void {
    if (this.queue.length === 0) return
    const ops = this.queue
    this.queue = []
    const doc = this.doc
    const saved = doc.clientID
    try {
      doc.transact(() => {
        for (const op of ops) {
          const client = yjsClientOf(op.id)
          if (Y.getState(doc.store, client) > 0) this.collided.add(client)
          doc.clientID = client
          // A plain Uint8Array (Yjs rejects a Buffer), copied out of any larger buffer.
          this.map.set(toBase64(op.id), new Uint8Array(op.wire))
        }
      })
    } finally {
      doc.clientID = saved
    }
  }

  private fingerprint (): Uint8Array {
    if (this.fingerprintCache === undefined) {
      const h = createHash('sha256')
      for (const key of [...this.ids.keys()].sort()) h.update(this.ids.get(key)!)
      this.fingerprintCache = new Uint8Array(h.digest().subarray(0, FINGERPRINT_BYTES))
    }
    return this.fingerprintCache
  }

  private sameStateVector (remote: Map<number, number>): boolean {
    if (remote.size !== this.doc.store.clients.size) return false
    for (const [client, clock] of remote) if (Y.getState(this.doc.store, client) !== clock) return false
    return true
  }
}
