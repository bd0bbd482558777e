/**
 * Peer events from view diffs (DESIGN §4): the peers the program was told about, kept beside
 * the replica's view, and the `peer:add` / `peer:update` / `peer:remove` that bring the first
 * up to the second. Each fires once per change, whatever order the ops arrived in, since the
 * view is a function of the op set.
 *
 * Cost. A batch of accepted ops is diffed only on the subjects it names (`opSubject`), O(ops):
 * what a simulator of thousands of nodes needs. A batch that can change other subjects' places
 * is diffed in full, O(members): a remove or revoke of an admin or of a subject whose signing
 * key authors a chain (`Replica.removalIsConfined`: a cut-off admin invalidates the enrolls
 * it authored), an admin grant (ranks below it move) or an op that forks its author's chain
 * (equivocation cuts the chain). Expiry needs no op: one timer on the injected clock fires when
 * the earliest `expiresAt + maxClockSkewMs` known passes, and a full diff follows; no member
 * with an expiry, no timer.
 *
 * Endpoints and metadata come from node states (`stateOf`); `stateChanged(key)` re-diffs one
 * peer when its state changed.
 */
import type { Clock, TimerHandle } from '../clock.js'
import type { NodeState } from '../gossip/node-state.js'
import type { StateTableBase } from '../gossip/state-table.js'
import { OverlayMap } from '../util/overlay-map.js'
import type { Key } from '../identity/key.js'
import type { LoggedOp } from '../membership/log.js'
import { opSubject, ROLE_ADMIN } from '../membership/op.js'
import type { Member, Replica } from '../membership/replica.js'
import type { PeerInfo, PeerRemoveReason } from './events.js'

/** The longest single wait for an expiry: far ones are re-checked, so a timer never overflows setTimeout. */
const MAX_EXPIRY_WAIT_MS = 3_600_000
const EMPTY = new Uint8Array(0)

export interface PeerTrackerComponents {
  replica: Replica
  clock: Clock
  self: Key
  /** The member's current node state, if one is known. */
  stateOf: (key: Key) => NodeState | undefined
  /** The replica's expiry allowance (`ReplicaInit.maxClockSkewMs`). */
  maxClockSkewMs: number
  /**
   * The gossiper's warm-start state table while it is unchanged (`Gossiper.sharedStates`):
   * then trackers on the same shared replica core start from one peer map (see `resync`).
   */
  sharedStates?: () => StateTableBase | undefined
  emitAdd: (peer: PeerInfo) => void
  emitUpdate: (peer: PeerInfo) => void
  emitRemove: (peer: PeerInfo, reason: PeerRemoveReason) => void
}

/** Peer maps first resyncs built, by the shared state table and log they were built from (`startShared`). */
const startMaps = new WeakMap<StateTableBase, WeakMap<object, ReadonlyMap<string, PeerInfo>>>()
/** Stands for "no node state" in `infos`. */
const NO_STATE: object = Object.freeze({})
/**
 * PeerInfos by the live enroll and node state they were made from, process-wide: the same
 * pair gives the same (frozen) object, so an unchanged peer is one identity comparison, and
 * the nodes of a simulator, which hold the same ops and states, hold one PeerInfo per peer.
 */
const infos = new WeakMap<LoggedOp, WeakMap<object, PeerInfo>>()

/** The PeerInfo of member `m`, whose record came from `enroll`, with `state`. */
function peerInfoOf (m: Member, enroll: LoggedOp | undefined, state: NodeState | undefined): PeerInfo {
  if (enroll === undefined) return toPeerInfo(m, state)
  let byState = infos.get(enroll)
  if (byState === undefined) { byState = new WeakMap(); infos.set(enroll, byState) }
  const k = state ?? NO_STATE
  let info = byState.get(k)
  // The rank and the address can move without the enroll changing (a grant, a cut-off admin).
  if (info === undefined || info.rank !== m.rank || info.overlayAddress !== m.overlayAddress) {
    info = toPeerInfo(m, state)
    byState.set(k, info)
  }
  return info
}

export class PeerTracker {
  private readonly c: PeerTrackerComponents
  /** What the program was last told of each peer (see `peerInfoOf`). */
  private known = new OverlayMap<string, PeerInfo>()
  private resynced = false
  private expiryTimer: TimerHandle | undefined
  /** The earliest `expiresAt + skew` among the peers placed since the last full diff. */
  private expiryAt = Infinity
  /** When the armed expiry timer fires. */
  private timerDue = Infinity
  private stopped = false

  constructor (components: PeerTrackerComponents) { this.c = components }

  /** The peers the program knows (other members), in the view's order as of the last diff. */
  peers (): PeerInfo[] { return [...this.known.values()] }

  get (key: Key): PeerInfo | undefined { return this.known.get(key.mapKey) }

  /** Diffs every member. The first call (at start) adds every member already in the view. */
  resync (): void {
    if (this.stopped) return
    if (!this.resynced) {
      this.resynced = true
      if (this.startShared()) return
    }
    const members = this.c.replica.members()
    const live = new Set<string>()
    this.expiryAt = Infinity
    for (const m of members) {
      if (m.wgPublicKey.equals(this.c.self)) continue
      live.add(m.wgPublicKey.mapKey)
      this.place(m.wgPublicKey, m)
    }
    for (const [id, k] of this.known) if (!live.has(id)) this.drop(id, k)
    this.armExpiry()
  }

  /**
   * The first resync of a tracker whose replica core and state table are shared (a
   * simulator's pool): every such tracker would build the same map of every member but
   * itself, so they share one map of every member (built by the first) and each hides
   * itself in its overlay. Same events, in the same order, as the plain first resync.
   */
  private startShared (): boolean {
    const states = this.c.sharedStates?.()
    const replica = this.c.replica
    // With an expiry in the view, who is a member depends on the instant too.
    if (states === undefined || !replica.isShared || replica.memberIndex().anyExpiry) return false
    const log = replica.log
    let base = startMaps.get(states)?.get(log)
    if (base === undefined) {
      const all = new Map<string, PeerInfo>()
      for (const m of replica.members()) all.set(m.wgPublicKey.mapKey, peerInfoOf(m, replica.liveEnroll(m.wgPublicKey), states.held.get(m.wgPublicKey.mapKey)?.signed.state))
      base = all
      let byLog = startMaps.get(states)
      if (byLog === undefined) { byLog = new WeakMap(); startMaps.set(states, byLog) }
      byLog.set(log, base)
    }
    this.known = new OverlayMap(base)
    this.known.delete(this.c.self.mapKey)
    this.expiryAt = Infinity
    for (const info of this.known.values()) {
      if (info.expiresAt !== undefined) this.expiryAt = Math.min(this.expiryAt, info.expiresAt + this.c.maxClockSkewMs)
      this.c.emitAdd(info)
    }
    this.armExpiry()
    return true
  }

  /** Diffs what a batch of accepted ops can have changed. */
  opsAdded (ops: readonly LoggedOp[]): void {
    if (this.stopped) return
    if (ops.some(op => widens(op, this.c.replica))) { this.resync(); return }
    const seen = new Set<string>()
    for (const op of ops) {
      const subject = opSubject(op)
      if (seen.has(subject.mapKey) || subject.equals(this.c.self)) continue
      seen.add(subject.mapKey)
      this.check(subject)
    }
    this.armExpiry()
  }

  /** A member's node state changed: endpoints or metadata may have. */
  stateChanged (key: Key): void {
    if (this.stopped || key.equals(this.c.self)) return
    this.check(key)
  }

  /** Cancels the expiry timer; no event fires after this. */
  stop (): void {
    this.stopped = true
    if (this.expiryTimer !== undefined) this.c.clock.cancel(this.expiryTimer)
    this.expiryTimer = undefined
  }

  private check (key: Key): void {
    const m = this.c.replica.member(key)
    if (m !== undefined) { this.place(key, m); return }
    const k = this.known.get(key.mapKey)
    if (k !== undefined) this.drop(key.mapKey, k)
  }

  /** `m` is in the view: add it, update it, or leave it as it is. */
  private place (key: Key, m: Member): void {
    if (m.expiresAt !== undefined) this.expiryAt = Math.min(this.expiryAt, m.expiresAt + this.c.maxClockSkewMs)
    const info = peerInfoOf(m, this.c.replica.liveEnroll(key), this.c.stateOf(key))
    const was = this.known.get(key.mapKey)
    if (was === info) return
    // Equal, from another op object (a pool's new core copies its ops): keep ours, shared.
    const same = was !== undefined && sameInfo(was, info)
    if (same && was.overlayAddress === info.overlayAddress) return
    this.known.set(key.mapKey, info)
    if (was === undefined) this.c.emitAdd(info)
    else if (!same) this.c.emitUpdate(info)
  }

  private drop (id: string, info: PeerInfo): void {
    this.known.delete(id)
    this.c.emitRemove(info, this.reasonFor(info))
  }

  private reasonFor (p: PeerInfo): PeerRemoveReason {
    const r = this.c.replica.goneReason(p.wgPublicKey)
    if (r !== undefined) return r
    if (p.expiresAt !== undefined && p.expiresAt + this.c.maxClockSkewMs < this.c.clock.now()) return 'expired'
    // Its enroll stopped being valid without an op about it (its admin was cut off).
    return this.c.replica.isRevoked(p.wgPublicKey) ? 'revoked' : 'removed'
  }

  /** One timer for the earliest expiry; re-armed only when that moves earlier. */
  private armExpiry (): void {
    if (this.stopped || this.expiryAt === Infinity) return
    const now = this.c.clock.now()
    // Hidden once `expiresAt + skew < now`, so 1 ms after the instant itself.
    const wait = Math.min(MAX_EXPIRY_WAIT_MS, Math.max(0, this.expiryAt - now + 1))
    const due = now + wait
    if (this.expiryTimer !== undefined) {
      if (this.timerDue <= due) return
      this.c.clock.cancel(this.expiryTimer)
    }
    this.timerDue = due
    this.expiryTimer = this.c.clock.schedule(() => {
      this.expiryTimer = undefined
      this.resync()
    }, wait)
  }
}

/** Ops after which subjects other than the op's own may have moved. */
function widens (op: LoggedOp, replica: Replica): boolean {
  const p = op.payload
  if ((p.kind === 3 || p.kind === 4) && !replica.removalIsConfined(p.kind === 3 ? p.remove.subject : p.revoke.subject)) return true
  if (p.kind === 2 && p.record.roles.includes(ROLE_ADMIN)) return true
  return op.chain !== undefined && op.chain.forkSeq <= op.seq
}

export function toPeerInfo (m: Member, state: NodeState | undefined): PeerInfo {
  const p: { -readonly [K in keyof PeerInfo]: PeerInfo[K] } = {
    wgPublicKey: m.wgPublicKey,
    signPublicKey: m.signPublicKey,
    overlayAddress: m.overlayAddress,
    roles: m.roles,
    endpoints: state?.endpoints ?? [],
    appMetadata: state?.appMetadata ?? EMPTY
  }
  if (m.name !== undefined) p.name = m.name
  if (m.rank !== undefined) p.rank = m.rank
  if (m.staticEndpoints !== undefined) p.staticEndpoints = m.staticEndpoints
  if (m.expiresAt !== undefined) p.expiresAt = m.expiresAt
  return Object.freeze(p)
}

function sameInfo (a: PeerInfo, b: PeerInfo): boolean {
  return a.name === b.name && a.rank === b.rank && a.expiresAt === b.expiresAt &&
    a.signPublicKey.equals(b.signPublicKey) &&
    sameList(a.roles, b.roles) && sameList(a.staticEndpoints ?? [], b.staticEndpoints ?? []) &&
    a.endpoints.length === b.endpoints.length &&
    a.endpoints.every((e, i) => e.host === b.endpoints[i].host && e.port === b.endpoints[i].port && e.source === b.endpoints[i].source) &&
    Buffer.compare(a.appMetadata, b.appMetadata) === 0
}

function sameList (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
