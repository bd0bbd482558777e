/**
 * `AutomergeOpStore`: the op set as the root map of an Automerge document, key = hex op id,
 * value = the op's wire bytes; diffed by Automerge's sync protocol (DESIGN §2, "Op stores").
 *
 * Determinism. Replicas add ops locally, so every op must become the same Automerge change
 * on every replica. The change for op `o` holds exactly one op, `set _root[hex(o.id)] =
 * bytes(o.wire)`, and:
 *
 *   actor   = first 16 bytes of o.id          unique per op, so the actor's seq is always 1
 *   seq     = 1,  time = 0,  no message, no author
 *   deps    = [hash of the change for o.prev]  for chain ops after seq 1; [] otherwise
 *   startOp = o.seq for chain ops              its ancestry is the author's ops 1 … seq − 1,
 *             1 for standalone ops             one Automerge op each
 *
 * Chain ops hang off their `prev`, so the heads are the chain tips plus the standalone ops.
 * Automerge's JSON change API (`encodeChange`) cannot carry a bytes value, so `encodeOpChange`
 * writes the change chunk itself (automerge binary format, change chunk):
 *
 *   magic 85 6f 4a 83 ‖ checksum(4) ‖ type 01 ‖ uLEB len ‖ body
 *   body  = uLEB nDeps ‖ nDeps × hash(32) ‖ uLEB 16 ‖ actor(16) ‖ uLEB seq ‖ uLEB startOp ‖
 *           sLEB time ‖ uLEB 0 (no message) ‖ uLEB 0 (no other actors) ‖
 *           uLEB 6 ‖ 6 × (uLEB column id ‖ uLEB column length) ‖ column data
 *   columns  0x15 key string   7f ‖ uLEB len ‖ utf8       (RLE: one literal)
 *            0x34 insert       01                         (one false)
 *            0x42 action       7f 01                      (one literal: set)
 *            0x56 value meta   7f ‖ uLEB(len × 16 + 7)    (bytes of length len)
 *            0x57 value raw    the bytes
 *            0x70 pred count   7f 00                      (one literal: 0)
 *   hash = SHA-256(type ‖ uLEB len ‖ body), checksum = its first 4 bytes
 *
 * For deps [] and startOp 1 this is byte for byte what `Automerge.change` produces for the
 * same put (checked in the tests); Automerge verifies the checksum of every change it reads.
 * Automerge does not check startOp against the deps (any value is accepted), so startOp = seq
 * is our convention: the value Automerge itself would give a change on top of that ancestry.
 *
 * Sync. digest() is the first message Automerge's sync protocol sends from a fresh sync
 * state (heads and a Bloom filter of every change), re-encoded to carry our `need` list and
 * no capabilities (so peers answer with change chunks, not a whole document). diff() runs
 * one receive/generate step on a fresh sync state and returns a sync message holding only
 * the changes (the remote reads nothing else, and our heads and filter would cost 32 bytes
 * per head and 10 bits per change). A remote digest's Bloom filter is checked first: Automerge
 * trusts its parameters (see `checkHave`), and a digest's changes are dropped unread. A Bloom
 * filter has false positives (~1% at Automerge's 10 bits per change), so a diff may miss a
 * change the remote lacks; Automerge's remedy is the `need` list, which this store fills
 * from what it sees: the remote's heads that diff() does not know, and the deps of changes
 * unpack() sees that are neither here nor in the same diff. The needs ride on every digest
 * until the change arrives (digest() has no side effects), so a digest equals another
 * replica's holding the same set except while such a need is outstanding.
 *
 * A received change is never applied: a diff may carry forged ops, and an op only enters
 * the store when the layer above has checked it and calls `add`, which rebuilds its change.
 * Adds are queued and applied in one `applyChanges` batch when the document is next read.
 */
import * as A from '@automerge/automerge'
import { OpDecodeError, SyncDecodeError } from '../../errors.js'
import { decodeOp, sha256 } from '../codec.js'
import type { Op, WireOp } from '../op.js'
import { toHex } from '../../util/bytes.js'
import { Decoder, Encoder, readVarUint, varUintLength, writeBytes, writeU8, writeVarBytes, writeVarUint } from '../../util/encoding.js'
import type { OpStore, UnpackResult } from './store.js'

export const ACTOR_BYTES = 16
/** Hashes one digest may ask for (32 bytes each). */
export const MAX_NEEDS = 64
/** Changes a remote Bloom filter may describe. */
export const MAX_BLOOM_ENTRIES = 1 << 24

type OpsDoc = Record<string, Uint8Array>
type DecodedChange = ReturnType<typeof A.decodeChange>
type DecodedSyncMessage = ReturnType<typeof A.decodeSyncMessage>

const MAGIC = [0x85, 0x6f, 0x4a, 0x83]
const CHUNK_CHANGE = 1

export class AutomergeOpStore implements OpStore {
  readonly name = 'automerge' as const
  private doc = A.init<OpsDoc>()
  /** hex op id → hash of its change, for every op added (queued ones included). */
  private readonly hashes = new Map<string, Uint8Array>()
  /** hex change hashes of every op added. */
  private readonly known = new Set<string>()
  private queue: Uint8Array[] = []
  private readonly needs = new Set<string>()
  private digestCache: Uint8Array | undefined

  add (op: Op): void {
    const key = toHex(op.id)
    if (this.hashes.has(key)) return
    let deps: Uint8Array[] = []
    if (op.prev !== undefined) {
      const prev = this.hashes.get(toHex(op.prev))
      // Adds are causal (store contract): a missing prev is a bug above the store.
      if (prev === undefined) throw new Error(`automerge store: prev ${toHex(op.prev)} of op ${key} was never added`)
      deps = [prev]
    }
    const { change, hash } = encodeOpChange(op.id.subarray(0, ACTOR_BYTES), key, op.wire, deps, op.prev === undefined ? 1 : op.seq)
    this.hashes.set(key, hash)
    this.known.add(toHex(hash))
    this.queue.push(change)
    this.digestCache = undefined
  }

  has (id: Uint8Array): boolean { return this.hashes.has(toHex(id)) }

  get size (): number { return this.hashes.size }

  digest (): Uint8Array {
    // digest() has no side effects: a need stays until the change arrives (asking for it
    // once was not enough: a caller may take a digest only to compare it).
    for (const h of this.needs) if (this.known.has(h)) this.needs.delete(h)
    const need = [...this.needs].sort().slice(0, MAX_NEEDS)
    if (need.length === 0 && this.digestCache !== undefined) return this.digestCache
    this.flush()
    const [, first] = A.generateSyncMessage(this.doc, A.initSyncState())
    const m = A.decodeSyncMessage(first!)
    const out = A.encodeSyncMessage({ heads: m.heads, need, have: m.have, changes: [] })
    if (need.length === 0) this.digestCache = out
    return out
  }

  diff (remoteDigest: Uint8Array): Uint8Array {
    const m = decodeSyncMessage(remoteDigest, 'digest')
    checkHave(m.have)
    for (const h of m.heads) if (!this.known.has(h) && this.needs.size < MAX_NEEDS) this.needs.add(h)
    this.flush()
    // Never let a digest's changes into the document: keep only heads, need and have.
    const clean = A.encodeSyncMessage({ heads: m.heads, need: m.need.slice(0, MAX_NEEDS), have: m.have, changes: [] })
    let reply: A.SyncMessage | null
    try {
      const [doc, state] = A.receiveSyncMessage(this.doc, A.initSyncState(), clean)
      this.doc = doc
      reply = A.generateSyncMessage(this.doc, state)[1]
    } catch (err) {
      throw new SyncDecodeError(`failed to use automerge digest: ${errorMessage(err)}`, { cause: err })
    }
    const changes = reply === null ? [] : A.decodeSyncMessage(reply).changes
    return A.encodeSyncMessage({ heads: [], need: [], have: [], changes })
  }

  unpack (diff: Uint8Array): UnpackResult {
    const m = decodeSyncMessage(diff, 'diff')
    const ops: WireOp[] = []
    let malformed = 0
    const changes: DecodedChange[] = []
    const inDiff = new Set<string>()
    for (const chunk of m.changes) {
      // Only plain change chunks: ours are never compressed, and our digests never ask for a
      // whole document, so a compressed change or a document (a deflate bomb, perhaps) is not ours.
      if (chunk.length <= 8 || chunk[8] !== CHUNK_CHANGE) { malformed++; continue }
      try {
        changes.push(A.decodeChange(chunk))
      } catch {
        malformed++
      }
    }
    for (const c of changes) inDiff.add(c.hash)
    for (const c of changes) {
      for (const dep of c.deps) {
        if (!this.known.has(dep) && !inDiff.has(dep) && this.needs.size < MAX_NEEDS) this.needs.add(dep)
      }
      for (const o of c.ops) {
        // A bytes value decodes as an array of numbers; anything else is not one of our ops.
        if (o.action !== 'set' || o.obj !== '_root' || !Array.isArray(o.value)) { malformed++; continue }
        try {
          ops.push(decodeOp(Uint8Array.from(o.value as number[])))
        } catch (err) {
          if (!(err instanceof OpDecodeError)) throw err
          malformed++
        }
      }
    }
    // Chain ops in increasing seq per author; the layer above restores the rest of causal order.
    ops.sort((a, b) => a.seq - b.seq)
    return { ops, malformed }
  }

  private flush (): void {
    if (this.queue.length === 0) return
    const changes = this.queue
    this.queue = []
    ;[this.doc] = A.applyChanges(this.doc, changes)
  }
}

/**
 * Automerge trusts the Bloom filter parameters a peer sends: a probe count of 2^28 makes it
 * allocate and loop that much per change, a zero-length filter divides by zero. Ours always
 * carry one filter with 10 bits per entry and 7 probes; accept that shape with some slack.
 */
function checkHave (have: DecodedSyncMessage['have']): void {
  const fail = (message: string): never => { throw new SyncDecodeError(`bad automerge digest: ${message}`) }
  if (have.length > 1) fail(`${have.length} have entries, expected at most 1`)
  for (const h of have) {
    if (h.bloom.length === 0) continue
    const dec = new Decoder(h.bloom, fail)
    const entries = readVarUint(dec, 5)
    const bitsPerEntry = readVarUint(dec, 5)
    const probes = readVarUint(dec, 5)
    if (entries < 1 || entries > MAX_BLOOM_ENTRIES) fail(`bloom filter of ${entries} entries`)
    if (bitsPerEntry < 1 || bitsPerEntry > 64) fail(`bloom filter with ${bitsPerEntry} bits per entry`)
    if (probes < 1 || probes > 32) fail(`bloom filter with ${probes} probes`)
    if (dec.remaining !== Math.ceil(entries * bitsPerEntry / 8)) fail('bloom filter length does not match its parameters')
  }
}

/** Automerge's wasm side throws strings as well as errors. */
function errorMessage (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function decodeSyncMessage (bytes: Uint8Array, what: string): DecodedSyncMessage {
  try {
    return A.decodeSyncMessage(bytes)
  } catch (err) {
    throw new SyncDecodeError(`failed to decode automerge ${what}: ${errorMessage(err)}`, { cause: err })
  }
}

/** The Automerge change chunk that holds one op (layout in the file header). */
export function encodeOpChange (actor: Uint8Array, key: string, value: Uint8Array, deps: Uint8Array[], startOp: number): { change: Uint8Array, hash: Uint8Array } {
  const keyBytes = Buffer.from(key, 'utf8')
  const meta = value.length * 16 + 7
  const enc = scratch
  enc.reset()
  writeVarUint(enc, deps.length)
  for (const d of deps) writeBytes(enc, d)
  writeVarBytes(enc, actor)
  writeVarUint(enc, 1) // seq
  writeVarUint(enc, startOp)
  writeU8(enc, 0) // time 0 (sLEB)
  writeU8(enc, 0) // no message
  writeU8(enc, 0) // no other actors
  const columns: Array<[number, number]> = [
    [0x15, 1 + varUintLength(keyBytes.length) + keyBytes.length], [0x34, 1], [0x42, 2],
    [0x56, 1 + varUintLength(meta)], [0x57, value.length], [0x70, 2]
  ]
  writeVarUint(enc, columns.length)
  for (const [id, len] of columns) { writeVarUint(enc, id); writeVarUint(enc, len) }
  writeU8(enc, 0x7f); writeVarBytes(enc, keyBytes)
  writeU8(enc, 0x01)
  writeU8(enc, 0x7f); writeU8(enc, 0x01)
  writeU8(enc, 0x7f); writeVarUint(enc, meta)
  writeBytes(enc, value)
  writeU8(enc, 0x7f); writeU8(enc, 0x00)
  const bodyLength = enc.pos

  const headLength = 1 + varUintLength(bodyLength)
  const change = new Uint8Array(8 + headLength + bodyLength)
  change.set(MAGIC, 0)
  change[8] = CHUNK_CHANGE
  let p = 9
  for (let v = bodyLength; ; v = Math.floor(v / 128)) {
    if (v <= 0x7f) { change[p++] = v; break }
    change[p++] = (v & 0x7f) | 0x80
  }
  change.set(enc.view(), p)
  const hash = sha256(change.subarray(8))
  change.set(hash.subarray(0, 4), 4)
  return { change, hash }
}

const scratch = new Encoder(2048)
