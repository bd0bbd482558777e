/**
 * Replica: one node's copy of an org's membership. Holds the op log and an `OpStore`,
 * ingests ops from anywhere, and derives validity and the member view from the op set.
 *
 * The view is a pure function of the op set and, for expiry only, of the time it is read at;
 * it is brought up to date lazily, when read after the log has changed (incrementally for the
 * common ops, see derive.ts). `members()` keeps the live members sorted between reads, so a
 * read after a few changes costs O(members) with no sort and no hashing.
 */
import { systemClock, type Clock } from '../clock.js'
import { resolve } from '../config.js'
import { TypedEventTarget } from '../events.js'
import { authoredHere } from './author.js'
import { bytesEqual, toKeyString } from '../util/bytes.js'
import { InvalidOpError } from '../errors.js'
import type { Key } from '../identity/key.js'
import { formatPrefix } from '../identity/overlay.js'
import { sharedVerifyPool } from '../identity/verify-pool.js'
import type { AuthorityResult } from './authority.js'
import { decodeOp, sha256, signedBytes } from './codec.js'
import { Derived } from './derive.js'
import { Ingest, DEFAULT_PENDING_QUOTA, type IngestResult } from './ingest.js'
import { OpEntry, OpLog, type LoggedOp } from './log.js'
import { allHeld, batchKey, copyEntry, type ReplicaCore, type ReplicaPool } from './replica-pool.js'
import { ORG_ID_BYTES, OpKind, type GenesisPayload, type MemberRecord, type Op, type WireOp } from './op.js'
import type { ViewEntry } from './view.js'
import { lowerBound, placeChanged, sortByWgKey } from './wg-order.js'
import { isKnownVerified, rememberVerified, type BatchVerifier } from './verify.js'
import { verifySignature } from '../identity/sign.js'
import { inadmissible } from './admissible.js'
import { opsAboveCuts } from './prune.js'
import { verifyPop } from './pop.js'
import { NativeOpStore } from './stores/native.js'
import type { OpStore, OpStoreName } from './stores/store.js'

export interface ReplicaInit {
  /** Which op store to keep the ops in (default `native`; `yjs` and `automerge` after `import 'wiremesh/stores'`). */
  store?: OpStoreName | ((log: OpLog) => OpStore)
  /**
   * Verifies signatures of incoming ops (default: the process-wide `sharedVerifyPool()`, which
   * checks small batches on the calling thread and large ones on every core).
   */
  verifier?: BatchVerifier
  clock?: Clock
  /**
   * Expired members stay visible this long past `expiresAt`, so nodes whose clocks disagree
   * by less than this agree on who is a member (default 60 000 ms, range [0, 1 day]).
   */
  maxClockSkewMs?: number
  /**
   * Ops held back for a missing causal past, per source (default 4096, range [1, 10^6]).
   * Bounds what a misbehaving peer can make a node hold; the oldest go first.
   */
  pendingQuota?: number
  /**
   * Share op-set state with the other replicas of this process that use the same pool
   * (replica-pool.ts): for simulated nodes only, never for replicas fed from the network.
   * Ignored with a `store` factory. Default none.
   */
  pool?: ReplicaPool
}

export const REPLICA_CONFIG = {
  maxClockSkewMs: { default: 60_000, min: 0, max: 86_400_000, integer: true },
  pendingQuota: { default: DEFAULT_PENDING_QUOTA, min: 1, max: 1_000_000, integer: true }
}

export interface ReplicaEvents {
  /** Ops were accepted (from a merge, an ingest or a local action): the view may have changed. */
  'ops:added': CustomEvent<{ added: number, source: string, ops: readonly LoggedOp[] }>
}

export interface Member {
  wgPublicKey: Key
  signPublicKey: Key
  name?: string
  /** Frozen: shared with the op it came from. */
  roles: readonly string[]
  /** Frozen: shared with the op it came from. */
  staticEndpoints?: readonly string[]
  expiresAt?: number
  /** The member's /128 in the org prefix. */
  overlayAddress: string
  /** Rank if the member is an admin (root 0). */
  rank?: number
}

/** `Replica.memberIndex()`: shared, do not change it. */
export interface MemberIndex {
  /** By key id map key; of two members with one key id, the later in key order, at the earlier's place. */
  readonly byId: ReadonlyMap<string, Key>
  /** `byId`'s keys in its order (wg key order). */
  readonly list: readonly Key[]
  /** Whether a member has an `expiresAt` (then the index changes with time). */
  readonly anyExpiry: boolean
  /**
   * The index this one was built after and what changed since (member keys added and
   * removed), so a holder of `prev.index` can update in O(changes). One step only: building
   * the next index drops this one's `prev`, so old indexes are not kept alive.
   */
  prev?: MemberIndexStep
}

export interface MemberIndexStep {
  readonly index: MemberIndex
  readonly added: readonly Key[]
  readonly removed: readonly Key[]
}

/** The member keys in `next` and not in `prev` (added), and in `prev` and not in `next` (removed), by map key. */
export function indexChanges (prev: MemberIndex, next: MemberIndex): { added: Key[], removed: Key[] } {
  const added: Key[] = []
  const removed: Key[] = []
  // By map key: a copied core's keys are equal, not the same objects.
  for (const [id, k] of next.byId) if (prev.byId.get(id)?.mapKey !== k.mapKey) added.push(k)
  for (const [id, k] of prev.byId) if (next.byId.get(id)?.mapKey !== k.mapKey) removed.push(k)
  return { added, removed }
}

export interface MergeResult extends IngestResult {
  /** Ops in the diff that did not decode. */
  malformed: number
}

const ROOT_ROLES: string[] = Object.freeze(['admin']) as unknown as string[]
/** The root's record is made from genesis: it has no enroll, so no proof of possession. */
const NO_POP = new Uint8Array(0)

export const DEFAULT_MAX_CLOCK_SKEW_MS = REPLICA_CONFIG.maxClockSkewMs.default

/** Store factories by name; yjs and automerge register themselves when imported. */
export const storeFactories = new Map<OpStoreName, (log: OpLog) => OpStore>([['native', log => new NativeOpStore(log)]])

export class Replica extends TypedEventTarget<ReplicaEvents> {
  readonly orgId: Uint8Array
  readonly org: GenesisPayload
  private ingesting: Promise<unknown> = Promise.resolve()
  private readonly clock: Clock
  private readonly maxClockSkewMs: number
  private readonly factory: (log: OpLog) => OpStore
  private readonly verifier: BatchVerifier
  private readonly pendingQuota: number
  /** Everything the op set determines; swapped, never mutated, while a pool shares it (replica-pool.ts). */
  private c: ReplicaCore
  private readonly pool: ReplicaPool | undefined
  /** The pool's scope: org and store. */
  private readonly scope: string

  constructor (genesis: Op, init: ReplicaInit = {}) {
    super()
    const cfg = resolve(REPLICA_CONFIG, init)
    if (genesis.kind !== OpKind.genesis || genesis.payload.kind !== 1) throw new InvalidOpError('a replica starts from a genesis op')
    this.org = genesis.payload.genesis
    this.orgId = genesis.id.slice(0, ORG_ID_BYTES)
    this.clock = init.clock ?? systemClock
    this.maxClockSkewMs = cfg.maxClockSkewMs
    const factory = typeof init.store === 'function' ? init.store : storeFactories.get(init.store ?? 'native')
    if (factory === undefined) throw new InvalidOpError(`op store ${String(init.store)} is not loaded: import 'wiremesh/stores'`)
    this.factory = factory
    this.verifier = init.verifier ?? sharedVerifyPool()
    this.pendingQuota = cfg.pendingQuota
    this.pool = typeof init.store === 'function' ? undefined : init.pool
    this.scope = `${toKeyString(this.orgId)}/${typeof init.store === 'string' ? init.store : 'native'}`
    const shared = this.pool?.genesisCore(this.scope)
    this.c = shared ?? this.newCore(genesis, [])
    this.pool?.intern(this.scope, this.c)
  }

  /** The op log (current core: read it, do not keep it across an ingest). */
  get log (): OpLog { return this.c.log }
  get store (): OpStore { return this.c.store }
  get genesis (): LoggedOp { return this.c.genesis }
  private get derived (): Derived { return this.c.derived }

  /**
   * A private core holding genesis and `ops` (a causal order, all verified and resolved: a
   * log's own ops, re-entered as fresh entries so the source log is untouched).
   */
  private newCore (genesisOp: Op, ops: readonly LoggedOp[], lastIndex?: MemberIndex): ReplicaCore {
    const log = new OpLog()
    const store = this.factory(log)
    const genesis = log.add(genesisOp instanceof OpEntry ? copyEntry(genesisOp) : genesisOp)
    store.add(genesis)
    for (const op of ops) store.add(log.add(copyEntry(op)))
    const root = { chain: genesis.chain!, wgPublicKey: this.org.rootWgPublicKey, genesis }
    return {
      log, store, genesis, root,
      derived: new Derived(log, root, this.org.prefix, this.orgId),
      derivedVersion: log.version,
      fresh: [],
      sorted: undefined,
      index: undefined,
      lastIndex,
      ingestor: new Ingest(log, this.orgId, this.verifier, { sign: genesis.author, wg: this.org.rootWgPublicKey }, this.pendingQuota),
      shared: false
    }
  }

  /** The current core, made private first if a pool shares it (a copy: O(ops), no signature checked again). */
  private own (): ReplicaCore {
    const c = this.c
    if (c.shared) {
      const ops: LoggedOp[] = []
      for (const op of c.log.all()) if (op !== c.genesis) ops.push(op)
      this.c = this.newCore(c.genesis, ops, c.index?.index ?? c.lastIndex)
    }
    return this.c
  }

  /**
   * Boot-time ingest of stored ops (`decode` turns each into a wire op): as `ingest` from
   * 'storage', except that it emits no `ops:added` (nothing listens yet at boot) and that
   * with a pool, the very array another replica restored from gives its core at once.
   */
  async restore (wires: readonly Uint8Array[], decode: (wire: Uint8Array, index: number) => WireOp): Promise<void> {
    const pool = this.pool
    const core = pool?.restoredCore(this.scope, wires)
    if (core !== undefined && this.c === pool!.genesisCore(this.scope)) { this.c = core; return }
    if (wires.length === 0) return
    const ops: WireOp[] = new Array(wires.length)
    for (let i = 0; i < ops.length; i++) ops[i] = decode(wires[i], i)
    await this.ingest(ops, 'storage')
    if (pool !== undefined && this.c.shared) pool.rememberRestore(this.scope, wires, this.c)
  }

  /** Builds a replica from genesis wire bytes, checking the root's signature. */
  static fromGenesis (wire: Uint8Array, init?: ReplicaInit): Replica {
    return new Replica(resolveGenesis(decodeOp(wire)), init)
  }

  get prefix (): Uint8Array { return this.org.prefix }
  get size (): number { return this.log.size }
  get pending (): number { return this.c.ingestor.pending }

  /** Whether the current core is a pool's, shared with other replicas (replica-pool.ts). */
  get isShared (): boolean { return this.c.shared }

  /** Accepts wire ops from `source` (a peer id; quotas are per source). */
  async ingest (ops: Iterable<WireOp>, source = 'local'): Promise<IngestResult> {
    // One ingest at a time: a batch waits for its signatures off-thread, and a second batch
    // resolving meanwhile would not see what the first commits (nor wake what it needs).
    const list = Array.isArray(ops) ? ops as WireOp[] : [...ops]
    const run = this.ingesting.then(async () => this.pool === undefined ? await this.ingestOwn(list, source) : await this.ingestPooled(this.pool, list, source))
    this.ingesting = run.catch(() => {})
    const r = await run
    if (r.added.length > 0) this.emit('ops:added', { added: r.added.length, source, ops: r.added })
    return r
  }

  private async ingestOwn (list: WireOp[], source: string): Promise<IngestResult> {
    const c = this.own()
    // Where cut chains end (a flood above them goes dormant); only admins' chains can be cut.
    const limits = c.log.chains.length > 1 ? this.evaluate().cutLimits() : undefined
    const r = await c.ingestor.ingest(list, source, op => this.commit(op), limits)
    if (r.added.length > 0 && this.c === c && c.log.chains.length > 1) this.pruneAboveCuts(r)
    return r
  }

  /**
   * Drops what lies too far above a cut (prune.ts) by rebuilding the core from the kept ops
   * (no signature checked again); rare: once per revoke or fork of an admin that kept signing.
   */
  private pruneAboveCuts (r: IngestResult): void {
    const c = this.c
    const d = this.evaluate()
    // Ops above a known cut go dormant in ingestion: only a cut that moved can leave any.
    if (!d.cutsMoved() || d.auth.cutoff.size === 0) return
    const drop = opsAboveCuts(c.log, d.auth)
    if (drop.length === 0) return
    const gone = new Set(drop.map(op => op.idKey))
    const kept: LoggedOp[] = []
    for (const op of c.log.all()) if (op !== c.genesis && !gone.has(op.idKey)) kept.push(op)
    this.c = this.newCore(c.genesis, kept, c.index?.index ?? c.lastIndex)
    r.added = r.added.filter(op => !gone.has(op.idKey)).map(op => this.c.log.getKey(op.idKey)!)
    r.refused += gone.size
  }

  /**
   * With a pool: a batch the pool saw applied to this very core before moves us to the core
   * it gave, with the same result; else we copy the core, ingest into the copy, and hand the
   * outcome to the pool (which keeps one core per op set) when nothing is left parked.
   */
  private async ingestPooled (pool: ReplicaPool, list: WireOp[], source: string): Promise<IngestResult> {
    const from = this.c
    if (!from.shared) {
      const r = await this.ingestOwn(list, source)
      if (this.c.ingestor.pending === 0) this.adopt(pool, pool.intern(this.scope, this.c), r)
      return r
    }
    const key = batchKey(list)
    const t = pool.transition(from, key)
    if (t !== undefined) {
      this.c = t.core
      return { ...t.result, added: [...t.result.added], needs: [] }
    }
    if (allHeld(from.log, list)) {
      pool.stats.duplicates++
      return { added: [], duplicates: list.length, forged: 0, refused: 0, pending: 0, evicted: 0, needs: [] }
    }
    pool.stats.copies++
    const r = await this.ingestOwn(list, source)
    if (this.c.ingestor.pending > 0) return r
    this.adopt(pool, pool.intern(this.scope, this.c), r)
    pool.remember(from, key, this.c, { ...r, added: [...r.added], needs: [] })
    return r
  }

  /** Moves to `core` (the pool's for our op set), re-pointing `r.added` at its entries. */
  private adopt (pool: ReplicaPool, core: ReplicaCore, r: IngestResult): void {
    if (core === this.c) return
    for (let i = 0; i < r.added.length; i++) r.added[i] = core.log.getKey(r.added[i].idKey)!
    this.c = core
    pool.stats.dropped++
  }

  /** Adds an op authored and signed here (its signature is trusted and remembered). */
  addLocal (op: Op): LoggedOp {
    if (op.prev !== undefined && !this.log.has(op.prev)) throw new InvalidOpError('local op built on a missing prev')
    // An op `authorOp` just signed is trusted; anything else is checked like a received op
    // (its id, its signature), since it goes into the process-wide verify cache.
    if (!authoredHere.has(op)) {
      const signed = signedBytes(op.body, this.orgId, op.prev, op.lamport, op.author)
      if (!bytesEqual(sha256(signed), op.id) || !verifySignature(op.author, signed, op.sig)) throw new InvalidOpError('local op does not verify: wrong id, prev, lamport or signature')
      const p = op.payload
      if (p.kind === 2 && !verifyPop(this.orgId, p.record.wgPublicKey, p.record.signPublicKey, p.record.pop)) throw new InvalidOpError('local enroll has no valid proof of possession')
    }
    for (const d of op.deps) if (this.log.findDep(d) === undefined) throw new InvalidOpError('local op built on a missing dep')
    const why = inadmissible(this.log, { sign: this.genesis.author, wg: this.org.rootWgPublicKey }, op)
    if (why !== undefined) throw new InvalidOpError(`local op can never be valid: ${why}`)
    rememberVerified(toKeyString(op.id), op.sig)
    this.own()
    const l = this.commit(op)
    this.emit('ops:added', { added: 1, source: 'local', ops: [l] })
    return l
  }

  /** Adds to the current core, which must be private (`own()`). */
  private commit (op: Op): LoggedOp {
    const c = this.c
    const version = c.log.version
    const l = c.log.add(op)
    if (c.log.version !== version) c.fresh.push(l)
    c.store.add(l)
    return l
  }

  digest (): Uint8Array { return this.store.digest() }
  diff (remoteDigest: Uint8Array): Uint8Array { return this.store.diff(remoteDigest) }

  /** Merges a diff from another replica's store (same store kind). */
  async merge (diff: Uint8Array, source = 'remote'): Promise<MergeResult> {
    const { ops, malformed } = this.store.unpack(diff)
    const r = await this.ingest(ops, source)
    return { ...r, malformed }
  }

  /** The core's derived state, brought up to date (the same, whichever sharer asks first). */
  private evaluate (): Derived {
    const c = this.c
    const d = c.derived
    if (c.derivedVersion !== c.log.version) {
      // Ops added to the log behind our back (not through commit): derive from scratch.
      if (c.log.version === c.derivedVersion + c.fresh.length) d.update(c.fresh)
      else d.full()
      c.fresh = []
      c.derivedVersion = c.log.version
    }
    return d
  }

  /** Authority facts (ranks, cutoffs, revoked keys, subjects' ops), always current (updated in place). */
  get authority (): AuthorityResult { return this.evaluate().auth }

  /** Authority facts for checking a local action (current: updating them costs O(new ops)). */
  authorityForAuthoring (): { auth: AuthorityResult, revokedKeys: Set<string>, derived: Derived } {
    const d = this.evaluate()
    return { auth: d.auth, revokedKeys: d.view.revokedKeys, derived: d }
  }

  /** Live members at `now` (default: the clock), sorted by wg key. */
  members (now = this.clock.now()): Member[] {
    const entries = this.sortedEntries()
    const root = this.org.rootWgPublicKey.mapKey
    const rootAt = lowerBound(entries, root)
    const out: Member[] = []
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]
      if (i === rootAt) out.push(this.rootMember())
      if (this.isExpired(e.record, now)) continue
      out.push(this.toMember(e))
    }
    if (rootAt === entries.length) out.push(this.rootMember())
    return out
  }

  /**
   * The live, unrevoked members at `now` by key id, and in wg key order: what a gossiper
   * takes senders from. Kept with the core while no member can expire (then it depends on
   * the op set alone, and a pool's sharers share it); else built at each call.
   */
  memberIndex (now = this.clock.now()): MemberIndex {
    const c = this.c
    const hit = c.index
    if (hit !== undefined && hit.version === c.log.version) return hit.index
    const byId = new Map<string, Key>()
    let anyExpiry = false
    for (const m of this.members(now)) {
      if (m.expiresAt !== undefined) anyExpiry = true
      const k = m.wgPublicKey
      if (this.isRevoked(k)) continue
      byId.set(k.idMapKey, k)
    }
    const index: MemberIndex = { byId, list: [...byId.values()], anyExpiry }
    const prev = hit?.index ?? c.lastIndex
    if (prev !== undefined) {
      prev.prev = undefined
      index.prev = { index: prev, ...indexChanges(prev, index) }
    }
    c.index = anyExpiry ? undefined : { version: c.log.version, index }
    c.lastIndex = index
    return index
  }

  /** The live entries in wg key order, updated by what changed since last time. */
  private sortedEntries (): ViewEntry[] {
    const d = this.evaluate()
    const c = this.c
    const live = d.view.live
    if (c.sorted === undefined || c.sorted.passes !== d.fullPasses) {
      d.takeChanged()
      c.sorted = { passes: d.fullPasses, entries: sortByWgKey([...live.values()]) }
      return c.sorted.entries
    }
    const list = d.takeChanged()
    if (list.length === 0) return c.sorted.entries
    // Many changes (a bulk merge): sorting afresh is cheaper than merging.
    if (list.length * 4 > live.size) {
      c.sorted.entries = sortByWgKey([...live.values()])
      return c.sorted.entries
    }
    const entries = placeChanged(c.sorted.entries, list, live)
    c.sorted.entries = entries
    return entries
  }

  member (wgPublicKey: Key, now = this.clock.now()): Member | undefined {
    if (wgPublicKey.mapKey === this.org.rootWgPublicKey.mapKey) return this.rootMember()
    const e = this.evaluate().view.live.get(wgPublicKey.mapKey)
    if (e === undefined || this.isExpired(e.record, now)) return undefined
    return this.toMember(e)
  }

  /** `member(wgPublicKey, now)?.signPublicKey`, without making the Member (a gossiper asks this of every state it is offered). */
  memberSignKey (wgPublicKey: Key, now = this.clock.now()): Key | undefined {
    if (wgPublicKey.mapKey === this.org.rootWgPublicKey.mapKey) return this.c.genesis.author
    const e = this.evaluate().view.live.get(wgPublicKey.mapKey)
    return e === undefined || this.isExpired(e.record, now) ? undefined : e.record.signPublicKey
  }

  /** The enroll op whose record is the member's now (expiry not applied). */
  liveEnroll (wgPublicKey: Key): LoggedOp | undefined {
    return this.evaluate().view.live.get(wgPublicKey.mapKey)?.enroll
  }

  /** The root, a member by genesis. */
  rootMember (): Member {
    const record: MemberRecord = { wgPublicKey: this.org.rootWgPublicKey, signPublicKey: this.genesis.author, roles: ROOT_ROLES, pop: NO_POP }
    return this.toMember({ enroll: this.genesis, record, rank: 0 })
  }

  /** Whether a wg or signing key was revoked: it can never be a member again. */
  isRevoked (key: Key): boolean { return this.evaluate().view.revokedKeys.has(key.mapKey) }

  /** Why a former member is gone, if it is. */
  goneReason (wgPublicKey: Key): 'removed' | 'revoked' | 'left' | undefined {
    return this.evaluate().view.gone.get(wgPublicKey.mapKey)?.reason
  }

  /**
   * Whether removing or revoking `subject` changes no other subject's place: it holds no
   * admin grant and none of its signing keys authors a chain (derive.ts `confined`). A view
   * diff after such an op need look at the subject alone.
   */
  removalIsConfined (subject: Key): boolean {
    const d = this.evaluate()
    if (d.auth.rankOfSubject.has(subject.mapKey)) return false
    const so = d.auth.bySubject.get(subject.mapKey)
    return so === undefined || d.confined(so)
  }

  /** The admin rank of a signing key, if it holds a valid admin grant and its authority has not ended (root 0). */
  rankOf (signPublicKey: Key): number | undefined {
    const auth = this.evaluate().auth
    // A key whose authority ended (revoked, removed, left, demoted: authority.ts) has none.
    if (auth.cutSign.has(signPublicKey.mapKey)) return undefined
    return auth.rankOfSign.get(signPublicKey.mapKey)
  }

  /** A deterministic summary of the view (for convergence checks): sorted members and records. */
  viewFingerprint (now = this.clock.now()): string {
    return JSON.stringify(this.members(now).map(m => [m.wgPublicKey.toBase64(), m.signPublicKey.toBase64(), m.name ?? null, m.roles, m.staticEndpoints ?? null, m.expiresAt ?? null]))
  }

  private isExpired (r: MemberRecord, now: number): boolean {
    return r.expiresAt !== undefined && r.expiresAt + this.maxClockSkewMs < now
  }

  private toMember (e: ViewEntry): Member {
    const r = e.record
    const rank = e.rank
    const d = this.derived
    const overlayAddress = (e.address ??= d.hasher.format(e.addrSlot !== undefined ? d.addresses.hashKeyAt(e.addrSlot) : d.addressOf(r.wgPublicKey)))
    // Named members (the common case) are made whole: no property added afterwards.
    const m: Member = r.name !== undefined
      ? { wgPublicKey: r.wgPublicKey, signPublicKey: r.signPublicKey, roles: r.roles, overlayAddress, name: r.name }
      : { wgPublicKey: r.wgPublicKey, signPublicKey: r.signPublicKey, roles: r.roles, overlayAddress }
    if (r.staticEndpoints !== undefined) m.staticEndpoints = r.staticEndpoints
    if (r.expiresAt !== undefined) m.expiresAt = r.expiresAt
    if (rank !== undefined) m.rank = rank
    return m
  }

  /** The org's /48 as text. */
  get prefixCidr (): string { return formatPrefix(this.org.prefix) }
}



/** Resolves and verifies a genesis op: its author is in it and its org id is its own hash. */
export function resolveGenesis (w: WireOp): Op {
  if (w.kind !== OpKind.genesis || w.author === undefined) throw new InvalidOpError('not a genesis op')
  const signed = signedBytes(w.body, undefined, undefined, 1, w.author)
  const id = sha256(signed)
  const idKey = toKeyString(id)
  if (!isKnownVerified(idKey, w.sig)) {
    if (!verifySignature(w.author, signed, w.sig)) throw new InvalidOpError('genesis signature does not verify')
    rememberVerified(idKey, w.sig)
  }
  return { ...w, author: w.author, prev: undefined, lamport: 1, id }
}
