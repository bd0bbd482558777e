/**
 * OpLog: the index of every op a replica has accepted (resolved, signature verified, causal
 * past present), shared by ingestion, authority, the view and the native store.
 *
 * Causal-past queries. Each op carries `base`: for every *other* chain in its causal past,
 * the highest op of that chain there. An op without deps shares its prev's `base` object, so
 * a chain of N plain enrolls holds one map, not N. Then, for an op E on chain A and any op R:
 *
 *   E ∈ past(R)  ⇔  H = (R's chain is A ? R : R.base[A]) exists, H.seq ≥ E.seq, and E is
 *                    H's ancestor at E.seq (free when the chain has a single op at that seq).
 *
 * Standalone ops (leave) have no chain: they are never in anyone's past.
 *
 * Every logged op is an `OpEntry`: one class, so authority and view code sees one object
 * shape. It keeps one view (its wire bytes) and its id as a map key string; `id`, `prev`,
 * `body`, `sig` and `authorId` are derived when asked (a spread of an entry loses them).
 */
import type { Key } from '../identity/key.js'
import { KEY_ID_BYTES, keyIdMapKey } from '../identity/key.js'
import { SIGNATURE_BYTES } from '../identity/sign.js'
import { fromKeyString, toKeyString } from '../util/bytes.js'
import { IntTrie } from '../util/int-trie.js'
import { HASH_PREFIX_BYTES, type Dep, type Op, type OpKind, type Payload, type WireOp } from './op.js'

/**
 * Per other chain (by `Chain.index`), the highest op(s) of it in an op's causal past: several
 * only where the chain forks and the past holds more than one branch. Persistent: an op's map
 * shares all but the changed paths with its prev's and its deps' (util/int-trie.ts), so the
 * metadata is O(chains) per distinct past, never a copy per op.
 */
export type Base = IntTrie<LoggedOp | LoggedOp[]>

export interface LoggedOp extends Op {
  /** `id` as a map key. */
  idKey: string
  /** `prev` as a map key. */
  prevKey: string | undefined
  /** The author's chain for chain ops; undefined for standalone ops. */
  chain: Chain | undefined
  base: Base
  /** Set by each authority pass. */
  valid: boolean
}

export class Chain {
  /** ops[seq] is the op at that seq, or an array of ops where the chain forks. */
  readonly bySeq: Array<LoggedOp | LoggedOp[] | undefined> = []
  maxSeq = 0
  /** The lowest seq holding more than one op, or Infinity. */
  forkSeq = Infinity
  constructor (readonly author: Key, readonly index: number) {}

  at (seq: number): LoggedOp[] {
    const x = this.bySeq[seq]
    return x === undefined ? [] : Array.isArray(x) ? x : [x]
  }
}

const EMPTY_BASE: Base = IntTrie.empty()
const NO_OPS: readonly LoggedOp[] = Object.freeze([])

/**
 * A resolved op (author, prev, lamport and id known), and once added, a logged one. Its wire
 * bytes are `buf[start … end]` (often a whole sync diff shared by many entries); the byte
 * fields of `Op` are views made when asked.
 *
 * Bulk decoding (`readDecodedOp`) makes entries not yet resolved, `idKey` empty and `author`
 * undefined but for genesis; ingestion fills those in place (`resolveInPlace`), once.
 */
export class OpEntry implements LoggedOp {
  chain: Chain | undefined = undefined
  base: Base = EMPTY_BASE
  valid = false

  constructor (
    public author: Key,
    readonly seq: number,
    readonly deps: Dep[],
    readonly payload: Payload,
    readonly buf: Uint8Array,
    readonly start: number,
    readonly end: number,
    public lamport: number,
    public idKey: string,
    public prevKey: string | undefined
  ) {}

  /** Whether this is a decoded entry that has not been resolved yet. */
  get unresolved (): boolean { return this.idKey === '' }

  /** Resolves a decoded entry (see the class comment); only while `unresolved`. */
  resolveInPlace (author: Key, lamport: number, idKey: string, prevKey: string | undefined): this {
    this.author = author
    this.lamport = lamport
    this.idKey = idKey
    this.prevKey = prevKey
    return this
  }

  get kind (): OpKind { return this.payload.kind }
  get bodyLength (): number { return this.end - this.start - SIGNATURE_BYTES }
  get wire (): Uint8Array { return this.buf.subarray(this.start, this.end) }
  get body (): Uint8Array { return this.buf.subarray(this.start, this.end - SIGNATURE_BYTES) }
  get sig (): Uint8Array { return this.buf.subarray(this.end - SIGNATURE_BYTES, this.end) }
  get authorId (): Uint8Array { return this.buf.subarray(this.start + 1, this.start + 1 + KEY_ID_BYTES) }
  /** A fresh copy each time: compare `idKey` instead where you can. */
  get id (): Uint8Array { return fromKeyString(this.idKey) }
  get prev (): Uint8Array | undefined { return this.prevKey === undefined ? undefined : fromKeyString(this.prevKey) }
}

/** The op `w` resolved with these author, prev, lamport and id (`idKey` = toKeyString(id)). */
export function resolvedOp (w: WireOp, author: Key, prev: Op | undefined, lamport: number, idKey: string): OpEntry {
  const prevKey = prev === undefined ? undefined : prev instanceof OpEntry ? prev.idKey : toKeyString(prev.id)
  if (w instanceof OpEntry) return new OpEntry(author, w.seq, w.deps, w.payload, w.buf, w.start, w.end, lamport, idKey, prevKey)
  const wire = w.wire
  return new OpEntry(author, w.seq, w.deps, w.payload, wire, 0, wire.length, lamport, idKey, prevKey)
}

/** The first 4 bytes of a key (or key id) map key, as a number. */
function idPrefix (s: string): number {
  return (s.charCodeAt(0) << 24) | (s.charCodeAt(1) << 16) | (s.charCodeAt(2) << 8) | s.charCodeAt(3)
}

/** Whether `key`'s key id is `idKey` (8 chars). */
function hasId (key: Key, idKey: string): boolean {
  if (idKey.length !== KEY_ID_BYTES) return false
  const s = key.mapKey
  for (let i = 0; i < KEY_ID_BYTES; i++) if (s.charCodeAt(i) !== idKey.charCodeAt(i)) return false
  return true
}

/** Whether the first HASH_PREFIX_BYTES of an id (as a map key) are `hash`'s. */
export function idPrefixMatches (idKey: string, hash: Uint8Array): boolean {
  if (hash.length < HASH_PREFIX_BYTES) return false
  for (let i = 0; i < HASH_PREFIX_BYTES; i++) if (idKey.charCodeAt(i) !== hash[i]) return false
  return true
}

export class OpLog {
  readonly byId = new Map<string, LoggedOp>()
  readonly chains: Chain[] = []
  private readonly chainByAuthor = new Map<string, Chain>()
  readonly standalone: LoggedOp[] = []
  /**
   * key id → signing keys, for every author the log can verify. Several keys can share a
   * key id: anyone who can sign an op (a member, even if its op is invalid) can put any
   * bytes in an enroll's signing key. Resolution tries each; the signature decides.
   * Keyed by the id's first 4 bytes as a number (no string per key); lookups filter on all 8.
   */
  private readonly keysById = new Map<number, Key | Key[]>()
  /** Admin grants stored (enrolls with the admin role), by the granted signing key. */
  private readonly grantsBySign = new Map<string, LoggedOp[]>()
  /** Bumped on every add: lets derived state know it is stale. */
  version = 0

  get size (): number { return this.byId.size }

  has (id: Uint8Array): boolean { return this.byId.has(toKeyString(id)) }
  get (id: Uint8Array): LoggedOp | undefined { return this.byId.get(toKeyString(id)) }
  /** By `idKey`. */
  getKey (idKey: string): LoggedOp | undefined { return this.byId.get(idKey) }

  /** Every signing key with this key id that some accepted op introduced. */
  keysFor (keyId: Uint8Array): Key[] { return this.keysForIdKey(keyIdMapKey(keyId)) }

  /** `keysFor` by the key id's map key. */
  keysForIdKey (idKey: string): Key[] {
    const k = this.keysById.get(idPrefix(idKey))
    if (k === undefined) return []
    if (!Array.isArray(k)) return hasId(k, idKey) ? [k] : []
    return k.filter(x => hasId(x, idKey))
  }

  learnKey (key: Key): void {
    const id = idPrefix(key.mapKey)
    const have = this.keysById.get(id)
    if (have === undefined) this.keysById.set(id, key)
    else if (Array.isArray(have)) { if (!have.some(k => k.equals(key))) have.push(key) } else if (have !== key && !have.equals(key)) this.keysById.set(id, [have, key])
  }

  chainOf (author: Key): Chain | undefined { return this.chainByAuthor.get(author.mapKey) }

  /** Stored admin grants of a signing key (valid or not). */
  grantsFor (sign: Key): readonly LoggedOp[] { return this.grantsBySign.get(sign.mapKey) ?? NO_OPS }

  /** Ops of the chain whose author has key id `keyId` at `seq` (several where it forks). */
  opsAt (keyId: Uint8Array, seq: number): LoggedOp[] {
    const keys = this.keysFor(keyId)
    if (keys.length === 1) return this.chainOf(keys[0])?.at(seq) ?? []
    return keys.flatMap(k => this.chainOf(k)?.at(seq) ?? [])
  }

  /** The op a dep pins, if present. */
  findDep (d: Dep): LoggedOp | undefined {
    for (const op of this.opsAt(d.keyId, d.seq)) if (idPrefixMatches(op.idKey, d.hash)) return op
    return undefined
  }

  /** Adds an op whose prev and deps are present. Returns the logged op (existing if a duplicate). */
  add (op: Op): LoggedOp {
    const idKey = op instanceof OpEntry ? op.idKey : toKeyString(op.id)
    const have = this.byId.get(idKey)
    if (have !== undefined) return have
    const l = op instanceof OpEntry
      ? op
      : new OpEntry(op.author, op.seq, op.deps, op.payload, op.wire, 0, op.wire.length, op.lamport, idKey, op.prev === undefined ? undefined : toKeyString(op.prev))
    l.valid = false
    if (op.seq === 0) {
      l.chain = undefined
      l.base = this.mergeBases(EMPTY_BASE, op.deps)
      this.standalone.push(l)
    } else {
      let chain = this.chainByAuthor.get(op.author.mapKey)
      if (chain === undefined) {
        chain = new Chain(op.author, this.chains.length)
        this.chains.push(chain)
        this.chainByAuthor.set(op.author.mapKey, chain)
        this.learnKey(op.author)
      }
      l.chain = chain
      const prev = l.prevKey === undefined ? undefined : this.byId.get(l.prevKey)
      const prevBase = prev?.base ?? EMPTY_BASE
      l.base = op.deps.length === 0 ? prevBase : this.mergeBases(prevBase, op.deps)
      const slot = chain.bySeq[op.seq]
      if (slot === undefined) chain.bySeq[op.seq] = l
      else {
        chain.bySeq[op.seq] = Array.isArray(slot) ? [...slot, l] : [slot, l]
        if (op.seq < chain.forkSeq) chain.forkSeq = op.seq
      }
      if (op.seq > chain.maxSeq) chain.maxSeq = op.seq
    }
    // A chain's author was learnt with its chain (above).
    if (op.seq === 0) this.learnKey(op.author)
    if (op.payload.kind === 2) {
      const rec = op.payload.record
      this.learnKey(rec.signPublicKey)
      if (rec.roles.includes('admin')) {
        const list = this.grantsBySign.get(rec.signPublicKey.mapKey)
        if (list === undefined) this.grantsBySign.set(rec.signPublicKey.mapKey, [l])
        else list.push(l)
      }
    }
    this.byId.set(idKey, l)
    this.version++
    return l
  }

  private mergeBases (base: Base, deps: Dep[]): Base {
    let out = base
    for (const d of deps) {
      const dop = this.findDep(d)
      if (dop?.chain === undefined) continue
      const c = dop.chain
      out = out.set(c.index, this.take(out.get(c.index), c, dop))
      out = out.merge(dop.base, (mine, theirs, index) => {
        const chain = this.chains[index]
        let h: LoggedOp | LoggedOp[] | undefined = mine
        for (const x of Array.isArray(theirs) ? theirs : [theirs]) h = this.take(h, chain, x)
        return h!
      })
    }
    return out
  }

  /**
   * `cur` with `op` added to the heads kept for its chain: the highest op on an unforked
   * chain; on a forked one, every branch tip the past holds (a branch lost here would make a
   * remove that saw it miss the enroll it cancels).
   */
  private take (cur: LoggedOp | LoggedOp[] | undefined, c: Chain, op: LoggedOp): LoggedOp | LoggedOp[] {
    if (cur === undefined) return op
    if (!Array.isArray(cur) && c.forkSeq === Infinity) return cur.seq < op.seq ? op : cur
    const heads = Array.isArray(cur) ? cur : [cur]
    if (heads.some(h => this.isAncestor(op, h))) return cur
    const kept = heads.filter(h => !this.isAncestor(h, op))
    kept.push(op)
    return kept.length === 1 ? kept[0] : kept
  }

  /** a is b or an ancestor of b on b's chain (same chain assumed). */
  private isAncestor (a: LoggedOp, b: LoggedOp): boolean {
    if (a.seq > b.seq) return false
    if (a.seq < a.chain!.forkSeq) return true
    return this.ancestorAt(b, a.seq) === a
  }

  /** The highest op(s) of `chain` in the causal past of `r` (inclusive). */
  headIn (r: LoggedOp, chain: Chain): LoggedOp | LoggedOp[] | undefined {
    return r.chain === chain ? r : r.base.get(chain.index)
  }

  /** E ∈ past(R), inclusive. E must be a chain op. */
  inPast (e: LoggedOp, r: LoggedOp): boolean {
    const chain = e.chain
    if (chain === undefined) return false
    const h = this.headIn(r, chain)
    if (h === undefined) return false
    if (!Array.isArray(h)) return this.isAncestor(e, h)
    return h.some(x => this.isAncestor(e, x))
  }

  /** The op at `seq` on the branch ending at `h`. */
  ancestorAt (h: LoggedOp, seq: number): LoggedOp | undefined {
    let cur: LoggedOp | undefined = h
    while (cur !== undefined && cur.seq > seq) cur = cur.prevKey === undefined ? undefined : this.byId.get(cur.prevKey)
    return cur?.seq === seq ? cur : undefined
  }

  /** Ops of every chain with no successor: the digest's heads. */
  tips (): LoggedOp[] {
    const out: LoggedOp[] = []
    for (const c of this.chains) {
      if (c.forkSeq === Infinity) { const t = c.bySeq[c.maxSeq]; if (t !== undefined && !Array.isArray(t)) out.push(t); continue }
      const hasChild = new Set<string>()
      for (let s = c.forkSeq; s <= c.maxSeq; s++) for (const op of c.at(s)) if (op.prevKey !== undefined) hasChild.add(op.prevKey)
      for (let s = c.forkSeq - 1; s <= c.maxSeq; s++) for (const op of c.at(s)) if (!hasChild.has(op.idKey)) out.push(op)
    }
    return out
  }

  /** Every op in lamport order, which is a causal order. */
  * all (): Iterable<LoggedOp> {
    const ops = [...this.byId.values()]
    ops.sort((a, b) => a.lamport - b.lamport)
    yield * ops
  }
}
