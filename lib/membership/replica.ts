/**
 * Replica: one node's copy of an org's membership. Holds the op log and an `OpStore`,
 * ingests ops from anywhere, and derives validity and the member view from the op set.
 *
 * The view is a pure function of the op set and, for expiry only, of the time it is read at;
 * it is recomputed lazily when the log has changed since the last read.
 */
import { systemClock, type Clock } from '../clock.js'
import { resolve } from '../config.js'
import { TypedEventTarget } from '../events.js'
import { InvalidOpError } from '../errors.js'
import type { Key } from '../identity/key.js'
import { overlayAddress, formatPrefix } from '../identity/overlay.js'
import { evaluateAuthority, type AuthorityResult, type Root } from './authority.js'
import { decodeOp, sha256, signedBytes } from './codec.js'
import { Ingest, DEFAULT_PENDING_QUOTA, type IngestResult } from './ingest.js'
import { OpLog, type LoggedOp } from './log.js'
import { ORG_ID_BYTES, OpKind, type GenesisPayload, type MemberRecord, type Op, type WireOp } from './op.js'
import { computeView, type ComputedView } from './view.js'
import { inlineVerifier, isKnownVerified, rememberVerified, type BatchVerifier } from './verify.js'
import { verifySignature } from '../identity/sign.js'
import { NativeOpStore } from './stores/native.js'
import type { OpStore, OpStoreName } from './stores/store.js'

export interface ReplicaInit {
  /** Which op store to keep the ops in (default `native`; `yjs` and `automerge` after `import 'wiremesh/stores'`). */
  store?: OpStoreName | ((log: OpLog) => OpStore)
  /** Verifies signatures of incoming ops (default: on the calling thread). */
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
}

export const REPLICA_CONFIG = {
  maxClockSkewMs: { default: 60_000, min: 0, max: 86_400_000, integer: true },
  pendingQuota: { default: DEFAULT_PENDING_QUOTA, min: 1, max: 1_000_000, integer: true }
}

export interface ReplicaEvents {
  /** Ops were accepted (from a merge, an ingest or a local action): the view may have changed. */
  'ops:added': CustomEvent<{ added: number, source: string }>
}

export interface Member {
  wgPublicKey: Key
  signPublicKey: Key
  name?: string
  roles: string[]
  staticEndpoints?: string[]
  expiresAt?: number
  /** The member's /128 in the org prefix. */
  overlayAddress: string
  /** Rank if the member is an admin (root 0). */
  rank?: number
}

export interface MergeResult extends IngestResult {
  /** Ops in the diff that did not decode. */
  malformed: number
}

export const DEFAULT_MAX_CLOCK_SKEW_MS = REPLICA_CONFIG.maxClockSkewMs.default

/** Store factories by name; yjs and automerge register themselves when imported. */
export const storeFactories = new Map<OpStoreName, (log: OpLog) => OpStore>([['native', log => new NativeOpStore(log)]])

export class Replica extends TypedEventTarget<ReplicaEvents> {
  readonly log = new OpLog()
  readonly store: OpStore
  readonly genesis: LoggedOp
  readonly orgId: Uint8Array
  readonly org: GenesisPayload
  private readonly ingestor: Ingest
  private readonly root: Root
  private readonly clock: Clock
  private readonly maxClockSkewMs: number
  private readonly addrCache = new Map<string, string>()
  private computed?: { version: number, auth: AuthorityResult, view: ComputedView, changes: number }
  /** Counts commits that can change authority facts (ranks, cutoffs, revoked keys). */
  private authorityChanges = 0

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
    this.store = factory(this.log)
    this.genesis = this.log.add(genesis)
    this.store.add(this.genesis)
    this.root = { chain: this.genesis.chain!, wgPublicKey: this.org.rootWgPublicKey, genesis: this.genesis }
    this.ingestor = new Ingest(this.log, this.orgId, init.verifier ?? inlineVerifier, cfg.pendingQuota)
  }

  /** Builds a replica from genesis wire bytes, checking the root's signature. */
  static fromGenesis (wire: Uint8Array, init?: ReplicaInit): Replica {
    return new Replica(resolveGenesis(decodeOp(wire)), init)
  }

  get prefix (): Uint8Array { return this.org.prefix }
  get size (): number { return this.log.size }
  get pending (): number { return this.ingestor.pending }

  /** Accepts wire ops from `source` (a peer id; quotas are per source). */
  async ingest (ops: Iterable<WireOp>, source = 'local'): Promise<IngestResult> {
    const r = await this.ingestor.ingest(ops, source, op => this.commit(op))
    if (r.added.length > 0) this.emit('ops:added', { added: r.added.length, source })
    return r
  }

  /** Adds an op authored and signed here (its signature is trusted and remembered). */
  addLocal (op: Op): LoggedOp {
    if (op.prev !== undefined && !this.log.has(op.prev)) throw new InvalidOpError('local op built on a missing prev')
    rememberVerified(toIdKey(op.id), op.sig)
    // A plain enroll of a non-admin by this node changes the view but no authority fact.
    const benign = op.payload.kind === 2 && !op.payload.record.roles.includes('admin')
    const l = this.commit(op, benign)
    this.emit('ops:added', { added: 1, source: 'local' })
    return l
  }

  private commit (op: Op, benign = false): LoggedOp {
    if (!benign) this.authorityChanges++
    const l = this.log.add(op)
    this.store.add(l)
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

  private evaluate (): { auth: AuthorityResult, view: ComputedView } {
    if (this.computed?.version !== this.log.version) {
      const auth = evaluateAuthority(this.log, this.root)
      const view = computeView(this.log, auth, this.org.prefix, this.orgId, this.addrCache)
      this.computed = { version: this.log.version, auth, view, changes: this.authorityChanges }
    }
    return this.computed
  }

  /** Authority facts (ranks, cutoffs, revoked keys, subjects' ops), always current. */
  get authority (): AuthorityResult { return this.evaluate().auth }

  /**
   * Authority facts for checking a local action: reuses the last evaluation when only this
   * node's own plain enrolls came since, so enrolling N members costs O(N), not O(N²).
   */
  authorityForAuthoring (): { auth: AuthorityResult, revokedKeys: Set<string> } {
    const c = this.computed !== undefined && this.computed.changes === this.authorityChanges ? this.computed : this.evaluate()
    return { auth: c.auth, revokedKeys: c.view.revokedKeys }
  }

  /** Live members at `now` (default: the clock), sorted by wg key. */
  members (now = this.clock.now()): Member[] {
    const out: Member[] = [this.rootMember()]
    for (const e of this.evaluate().view.live.values()) {
      if (this.isExpired(e.record, now)) continue
      out.push(this.toMember(e.record, e.rank))
    }
    return out.sort((a, b) => a.wgPublicKey.toBase64() < b.wgPublicKey.toBase64() ? -1 : 1)
  }

  member (wgPublicKey: Key, now = this.clock.now()): Member | undefined {
    if (wgPublicKey.equals(this.org.rootWgPublicKey)) return this.rootMember()
    const e = this.evaluate().view.live.get(wgPublicKey.mapKey)
    if (e === undefined || this.isExpired(e.record, now)) return undefined
    return this.toMember(e.record, e.rank)
  }

  /** The enroll op whose record is the member's now (expiry not applied). */
  liveEnroll (wgPublicKey: Key): LoggedOp | undefined {
    return this.evaluate().view.live.get(wgPublicKey.mapKey)?.enroll
  }

  /** The root, a member by genesis. */
  rootMember (): Member {
    return this.toMember({ wgPublicKey: this.org.rootWgPublicKey, signPublicKey: this.genesis.author, roles: ['admin'] }, 0)
  }

  /** Whether a wg or signing key was revoked: it can never be a member again. */
  isRevoked (key: Key): boolean { return this.evaluate().view.revokedKeys.has(key.mapKey) }

  /** Why a former member is gone, if it is. */
  goneReason (wgPublicKey: Key): 'removed' | 'revoked' | 'left' | undefined {
    return this.evaluate().view.gone.get(wgPublicKey.mapKey)?.reason
  }

  /** The admin rank of a signing key, if it holds a valid admin grant (root 0). */
  rankOf (signPublicKey: Key): number | undefined {
    return this.evaluate().auth.rankOfSign.get(signPublicKey.mapKey)
  }

  /** A deterministic summary of the view (for convergence checks): sorted members and records. */
  viewFingerprint (now = this.clock.now()): string {
    return JSON.stringify(this.members(now).map(m => [m.wgPublicKey.toBase64(), m.signPublicKey.toBase64(), m.name ?? null, m.roles, m.staticEndpoints ?? null, m.expiresAt ?? null]))
  }

  private isExpired (r: MemberRecord, now: number): boolean {
    return r.expiresAt !== undefined && r.expiresAt + this.maxClockSkewMs < now
  }

  private toMember (r: MemberRecord, rank: number | undefined): Member {
    const m: Member = {
      wgPublicKey: r.wgPublicKey,
      signPublicKey: r.signPublicKey,
      roles: r.roles,
      overlayAddress: overlayAddress(this.org.prefix, this.orgId, r.wgPublicKey)
    }
    if (r.name !== undefined) m.name = r.name
    if (r.staticEndpoints !== undefined) m.staticEndpoints = r.staticEndpoints
    if (r.expiresAt !== undefined) m.expiresAt = r.expiresAt
    if (rank !== undefined) m.rank = rank
    return m
  }

  /** The org's /48 as text. */
  get prefixCidr (): string { return formatPrefix(this.org.prefix) }
}

function toIdKey (id: Uint8Array): string { return Buffer.from(id.buffer, id.byteOffset, id.length).toString('latin1') }

/** Resolves and verifies a genesis op: its author is in it and its org id is its own hash. */
export function resolveGenesis (w: WireOp): Op {
  if (w.kind !== OpKind.genesis || w.author === undefined) throw new InvalidOpError('not a genesis op')
  const signed = signedBytes(w.body, undefined, undefined, 1, w.author)
  const id = sha256(signed)
  const idKey = toIdKey(id)
  if (!isKnownVerified(idKey, w.sig)) {
    if (!verifySignature(w.author, signed, w.sig)) throw new InvalidOpError('genesis signature does not verify')
    rememberVerified(idKey, w.sig)
  }
  return { ...w, author: w.author, prev: undefined, lamport: 1, id }
}
