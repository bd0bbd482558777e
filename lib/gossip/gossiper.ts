/**
 * The gossip engine (DESIGN §3): spreads ops, node states and liveness claims to every member
 * by epidemic gossip backed by anti-entropy, runs SWIM with Lifeguard, and admits joiners.
 *
 * - Queue. Every op the replica accepts (`ops:added`: a local admin action, an ingest, a
 *   merge), every node state that is news, and every liveness claim go into one
 *   `BroadcastQueue` and are sent at most retransmitMult × ⌈log10(N+1)⌉ times, one peer
 *   each (a gossip round to `fanout` peers is `fanout` sends). Node states are superseded by
 *   node (key `s:<node>`), claims by subject (`c:<node>`); ops never are.
 * - Push. Every `gossipIntervalMs` a `gossip` message with queued items (fewest-sent first,
 *   packed to the packet budget) goes to `fanout` random members that are not dead. Pings
 *   and acks carry queued items too (piggyback), so SWIM traffic spreads news for free.
 * - Forward on arrival. When a packet brings news (new ops, a newer state, a claim that
 *   changed our table), one gossip round runs at once instead of waiting for the next tick.
 *   DEVIATION from memberlist, which only queues it: each hop then costs one network latency
 *   instead of latency + up to one gossip interval, so news crosses the log_fanout(N) hops
 *   to every node in ≈ log_fanout(N) × latency.
 * - Gaps. Ops with a missing causal past, and a ping or ack whose 8-byte heads hash differs
 *   from ours, trigger an immediate `pull` from that peer (at most one per peer per gossip
 *   interval).
 * - Anti-entropy. Every `pushPullIntervalFor(cfg, N)` (first at a random offset) send
 *   `digest` — the replica's ops digest and the 16 node-state bucket summaries — to one random
 *   member, dead ones included (that is how a healed partition finds its other half). The
 *   receiver answers with `pullReply` pages of the ops the digest lacks and of its states in
 *   every differing bucket, and, if the op sets or any bucket differ, with a `pull` (its
 *   reply digest and the differing buckets), answered the same way. With the native store an
 *   exchange is range-based reconciliation (native.ts): a digest that had to summarise (too
 *   many chains for the packet) is answered by a pull that narrows the differing ranges, and
 *   so on, each pull one hop further, until nothing differs or the hop limit is reached; a
 *   pull holding only exact lists is never asked back. Every digest is made to fit the packet
 *   whatever the number of chains (DESIGN §2.1 "Digests always fit"), so one exchange repairs
 *   both sides, cannot loop, and costs a few packets whatever N is.
 * - Liveness. `Prober` runs SWIM's probe loop over `Liveness`; any authenticated packet
 *   from a member counts as its ack. A claim that we are suspect or dead is refuted by
 *   re-signing our node state at a higher incarnation and gossiping it: alive *is* the
 *   signed state. A member we hold dead that talks to us is told so (once per probe interval),
 *   so after a partition heals it refutes and everyone marks it alive again.
 * - Senders. `sealer.open` looks senders up among current, unrevoked members (plus the
 *   bootstrap keys a `join` named, unless revoked), so once a node has seen a revocation the
 *   revoked node's packets are dropped as `unknown-sender`. Every dropped packet is counted
 *   by reason in `stats().drops`; hostile input is never thrown out of the receive handler.
 * - Addresses. Where to send to a member: the source of its last authenticated packet
 *   (roaming, as WireGuard does), else an address from `setEndpoint` (bootstrap), else its
 *   signed node state's first endpoint (static, then listen, then reflexive).
 * - JOIN (join.ts has the limiter). A joiner sends `join(enroll)` with mac1 to any member;
 *   the member answers with a stateless cookie; the joiner repeats the JOIN with the cookie;
 *   the member ingests the enroll and, once the joiner is a member in its view, starts an
 *   anti-entropy exchange with it. JOINs are rate-limited per source prefix before any
 *   X25519 is spent on a reply. Only an enroll that can be valid is ingested (of the joiner
 *   itself, by an admin neither revoked nor cut off, neither of the joiner's keys revoked:
 *   `joinOpCanBeValid`); any other JOIN is refused, except a member's, which is synced
 *   without ingesting its op.
 *
 * All time comes from the injected `Clock` and all choices from the injected `Random`, so a
 * `ManualClock` + `SeededRandom` run replays exactly.
 */
import { createHash } from 'node:crypto'
import type { Clock, TimerHandle } from '../clock.js'
import { TypedEventTarget } from '../events.js'
import type { NodeIdentity } from '../identity/identity.js'
import { type Key, keyIdMapKey } from '../identity/key.js'
import { decodeOp } from '../membership/codec.js'
import type { LoggedOp, OpLog } from '../membership/log.js'
import { MAX_OP_BYTES, OpKind, type WireOp } from '../membership/op.js'
import { indexChanges, type MemberIndex, type Replica } from '../membership/replica.js'
import { DIGEST_BYTES, MIN_DIGEST_BYTES, NativeOpStore, NOTHING_ASKED, type Response } from '../membership/stores/native.js'
import type { OpStore } from '../membership/stores/store.js'
import type { Random } from '../random.js'
import { toKeyString } from '../util/bytes.js'
import { CookieIssuer } from '../wire/cookie.js'
import { MAX_COUNTER_BYTES, MessageType, MIN_HEADER_BYTES } from '../wire/header.js'
import { DROP_REASONS, type DropReason, isDropped, maxPayloadBytes, type Opened, type PacketSealer, TAG_BYTES } from '../wire/seal.js'
import { BroadcastQueue, type BroadcastItem } from './broadcast-queue.js'
import { decodeClaim, encodeClaim } from './claim.js'
import { type GossipConfig, pushPullIntervalFor } from './config.js'
import { type Endpoint, hostFamily } from './endpoint.js'
import { JoinLimiter } from './join-limiter.js'
import { Liveness, type LivenessBroadcast, type PeerLivenessDetail } from './liveness.js'
import { decodeMessage, encodeMessage, HEADS_HASH_BYTES, type Items, opsDigestRoom, paginate } from './messages.js'
import { decodeSignedNodeState, signNodeState, verifyNodeState, type NodeEndpoint, type NodeState, type SignedNodeState } from './node-state.js'
import { Prober, type ProberStats } from './prober.js'
import { StateTable, type StateTableBase } from './state-table.js'
import type { Transport } from './transport.js'

/** Worst-case per-item framing: varuint(length << 2 | kind) for items ≤ 4 KB. */
const ITEM_OVERHEAD_BYTES = 2
/** The items count of a message (≤ 127 items: one byte). */
const COUNT_BYTES = 1
/** seq (≤ 5 bytes) ‖ heads hash: the fixed part of ping and ack. */
const PING_FIXED_BYTES = 5 + HEADS_HASH_BYTES
/** The first JOIN retry, ms; doubles per attempt up to JOIN_RETRY_MAX_MS. */
const JOIN_RETRY_MS = 500
const JOIN_RETRY_MAX_MS = 8_000
/** The replica ingest source of every op that came in a JOIN (one quota for all of them). */
const JOIN_SOURCE = 'join'
/** Pages of one pull reply at most (≈ 90 KB); a longer diff continues on the puller's next pull. */
const MAX_REPLY_PAGES = 64
/** Distinct requests from one peer answered together at the end of a reply interval, at most. */
const MAX_DEFERRED_DIGESTS = 8
/** How often, ms, one peer is answered with a full reply window at most. */
const REPLY_INTERVAL_MS = 50
/** How often the member set is re-read for expiry, ms, when no op arrived. */
const EXPIRY_CHECK_MS = 10_000
/** Endpoint sources in order of preference, for a member we have not heard from. */
const SOURCE_RANK: Record<string, number> = { static: 0, listen: 1, reflexive: 2, wireguard: 3 }
/** Warm-start tables by the known-states array and the (shared) log they were offered against. */
const warmStarts = new WeakMap<ReadonlyArray<Uint8Array | SignedNodeState>, WeakMap<OpLog, { base: StateTableBase, accepted: NodeState[] }>>()
/** Each node state's preferred endpoint, process-wide (states are immutable and shared by every node that holds them). */
const preferred = new WeakMap<NodeState, Endpoint | null>()

/**
 * Whether the op a JOIN carries can be valid (DESIGN §2.1 "JOIN"): an enroll of the joiner
 * itself (the key that sealed the JOIN), with neither its wg nor its signing key revoked in
 * our view, authored by a signing key that holds an admin rank here, is not revoked, and
 * signed it at a seq where its authority had not ended (a remove, its own leave, a demotion,
 * a fork: the same limit `Admin.rank` applies). A JOIN comes from a key that is not a member
 * yet, so nothing else it carries may reach our log or our gossip. The author is named by key
 * id on the wire: every key we hold with that id is tried, since an id never decides whose a
 * key is.
 */
function joinOpCanBeValid (replica: Replica, joiner: Key, op: WireOp): boolean {
  if (op.kind !== OpKind.enroll || op.payload.kind !== 2) return false
  const rec = op.payload.record
  if (!rec.wgPublicKey.equals(joiner) || replica.isRevoked(joiner) || replica.isRevoked(rec.signPublicKey)) return false
  const auth = replica.authority
  return replica.log.keysFor(op.authorId).some(k => {
    if (replica.rankOf(k) === undefined || replica.isRevoked(k)) return false
    const chain = replica.log.chainOf(k)
    const cut = auth.cutSign.get(k.mapKey) ?? (chain === undefined ? undefined : auth.cutoff.get(chain))
    return cut === undefined || op.seq <= cut
  })
}

/** Where to reach a node by its state: its endpoint of the best-ranked source (shared: do not change it). */
function stateEndpoint (st: NodeState | undefined): Endpoint | undefined {
  if (st === undefined) return undefined
  let e = preferred.get(st)
  if (e === undefined) {
    const best = [...st.endpoints].sort((a, b) => (SOURCE_RANK[a.source] ?? 9) - (SOURCE_RANK[b.source] ?? 9))[0]
    e = best === undefined ? null : Object.freeze({ host: best.host, port: best.port })
    preferred.set(st, e)
  }
  return e ?? undefined
}

export interface GossiperComponents {
  identity: NodeIdentity
  replica: Replica
  /** Started and stopped by the caller; the gossiper only adds (and removes) a handler. */
  transport: Transport
  sealer: PacketSealer
  clock: Clock
  random: Random
}

export interface GossiperInit {
  /** Our starting incarnation (restored from storage: pass stored + 1 on each start). Default 0. */
  incarnation?: number
  /**
   * What our signed node state advertises. Default: the transport's local endpoint as
   * `listen` when it is a concrete address (not 0.0.0.0 or ::), else none — peers then use
   * the source address of our packets.
   */
  endpoints?: NodeEndpoint[]
  /** Application metadata in our node state, ≤ 512 bytes. Default empty. */
  appMetadata?: Uint8Array
  /** Signed node states known at start (a simulator's warm start, or a cache). Default none. */
  knownStates?: ReadonlyArray<Uint8Array | SignedNodeState>
}

export interface GossiperEvents {
  /** A member declared dead came back (a newer node state). Listeners run in order and must not block. */
  'peer:reachable': CustomEvent<PeerLivenessDetail>
  /** A member was declared dead (its suspicion ran out, or a dead claim arrived). */
  'peer:unreachable': CustomEvent<PeerLivenessDetail>
  /** A member's node state changed (endpoints, metadata, incarnation). */
  state: CustomEvent<{ key: Key, state: NodeState }>
  /** Our incarnation changed (a refutation): persist it. */
  incarnation: CustomEvent<{ incarnation: number }>
  /** A JOIN was answered: a member started syncing with us. */
  joined: CustomEvent<{ via: Key }>
}

/** Why a packet was dropped: the sealer's reasons, then the gossiper's own. */
export type GossipDropReason = DropReason | 'bad-message' | 'unexpected-type' | 'join-rate' | 'bad-cookie'

type Counted = 'gossip' | 'digest' | 'pull' | 'pullReply' | 'ping' | 'pingReq' | 'ack' | 'nack' | 'join' | 'cookie'
const COUNTED: readonly Counted[] = ['gossip', 'digest', 'pull', 'pullReply', 'ping', 'pingReq', 'ack', 'nack', 'join', 'cookie']
const NAME_OF: Record<number, Counted> = {
  [MessageType.join]: 'join', [MessageType.cookie]: 'cookie', [MessageType.ping]: 'ping', [MessageType.pingReq]: 'pingReq', [MessageType.ack]: 'ack', [MessageType.nack]: 'nack', [MessageType.gossip]: 'gossip', [MessageType.digest]: 'digest', [MessageType.pull]: 'pull', [MessageType.pullReply]: 'pullReply'
}
const emptyCounts = (): Record<Counted, number> => Object.fromEntries(COUNTED.map(c => [c, 0])) as Record<Counted, number>

export interface GossiperStats {
  /** Packets sent and bytes sent (sealed, as handed to the transport), by message type, and all bytes. */
  sent: Record<Counted, number>
  sentBytesByType: Record<Counted, number>
  sentBytes: number
  /**
   * Packets opened and handled, by message type, and packets dropped, by reason: every packet
   * the transport delivers is counted in exactly one of the two.
   */
  received: Record<Counted, number>
  drops: Record<GossipDropReason, number>
  /** JOINs with a valid cookie refused: an op that cannot be valid (joinOpCanBeValid), or an enroll that did not make the joiner a member. */
  joinsRefused: number
  /** Items that failed to decode or verify (counted and skipped; neighbours still taken). */
  badOps: number
  badStates: number
  badClaims: number
  /** Ops the replica accepted from gossip and piggyback, and from pull replies and joins. */
  opsFromGossip: number
  opsFromPull: number
  /** Newer node states taken. */
  statesTaken: number
  /** Gossip rounds run at once on news (forward on arrival / local op). */
  immediateRounds: number
  /** Messages we could not encode (a digest too big for a packet). */
  encodeErrors: number
  /** Packets not sent: sealing failed (low-order peer key) or the transport refused them. */
  sendErrors: number
  /** Pulls sent at once: gossiped ops with a missing past, or a differing heads hash. */
  gapPulls: number
  /** Refutations: times we raised our incarnation. */
  refutations: number
  /** Items queued now. */
  queued: number
  probe: ProberStats
}

export class Gossiper extends TypedEventTarget<GossiperEvents> {
  private readonly identity: NodeIdentity
  private readonly replica: Replica
  private readonly transport: Transport
  private readonly sealer: PacketSealer
  private readonly clock: Clock
  private readonly random: Random
  readonly config: GossipConfig
  readonly queue: BroadcastQueue
  readonly liveness: Liveness
  readonly states: StateTable
  private readonly prober: Prober
  private readonly limiter: JoinLimiter
  private readonly cookies: CookieIssuer

  /** Addresses by member map key: learned from packets, set by hand (then: from node states, `stateEndpoint`). */
  private readonly learned = new Map<string, Endpoint>()
  private readonly book = new Map<string, Endpoint>()
  /**
   * Current, unrevoked members by key id and in key order, as the replica shares it (us
   * included: `sender()` leaves us out, and so does sampling, by skipping `selfAt`).
   */
  private senders: MemberIndex = { byId: new Map(), list: [], anyExpiry: false }
  /** Our place in `senders.list`, or -1. */
  private selfAt = -1
  /** Members but us. */
  private senderCount = 0
  /** Bootstrap keys accepted as senders until we are joined: key id → key. */
  private provisional = new Map<string, Key>()
  private sendersStale = true
  private lastExpiryCheckMs = Number.NEGATIVE_INFINITY
  /** Whether any member has an `expiresAt`: without one, time alone cannot change the member set. */
  private anyExpiry = false
  private readonly lastPullAt = new Map<string, number>()
  private readonly lastReplyAt = new Map<string, number>()
  /** Per peer: a pull that came within REPLY_INTERVAL_MS of our last reply, answered when it ends. */
  private readonly deferredReplies = new Map<string, { digests: Uint8Array[], buckets: readonly number[], timer: TimerHandle }>()
  /** Whether the last pull-reply page from a peer ended a window with more to come. */
  private readonly lastToldDeadAt = new Map<string, number>()
  private own: SignedNodeState
  private readonly ownEndpoints: NodeEndpoint[] | undefined
  private appMetadata: Uint8Array
  private headsCache: { log: OpLog, version: number, hash: Uint8Array } | undefined
  private joining: { targets: Array<{ key: Key, endpoint: Endpoint }>, enroll: Uint8Array, attempt: number, timer: TimerHandle | undefined } | undefined
  private running = false
  private gossipTimer: TimerHandle | undefined
  private pushPullTimer: TimerHandle | undefined
  private offPacket: (() => void) | undefined
  private readonly onOpsAdded = (e: CustomEvent<{ ops: readonly LoggedOp[] }>): void => { this.opsAdded(e.detail.ops) }
  private readonly s = {
    sent: emptyCounts(),
    sentBytesByType: emptyCounts(),
    sentBytes: 0,
    received: emptyCounts(),
    drops: Object.fromEntries([...DROP_REASONS, 'bad-message', 'unexpected-type', 'join-rate', 'bad-cookie'].map(r => [r, 0])) as Record<GossipDropReason, number>,
    badOps: 0,
    badStates: 0,
    badClaims: 0,
    opsFromGossip: 0,
    opsFromPull: 0,
    statesTaken: 0,
    immediateRounds: 0,
    encodeErrors: 0,
    sendErrors: 0,
    gapPulls: 0,
    refutations: 0,
    joinsRefused: 0
  }

  constructor (components: GossiperComponents, config: GossipConfig, init: GossiperInit = {}) {
    super()
    this.identity = components.identity
    this.replica = components.replica
    this.transport = components.transport
    this.sealer = components.sealer
    this.clock = components.clock
    this.random = components.random
    this.config = config
    this.queue = new BroadcastQueue({ retransmitMult: config.retransmitMult })
    this.liveness = new Liveness({ clock: this.clock, random: this.random }, { self: this.identity.wgPublicKey, config, incarnation: init.incarnation ?? 0 })
    this.liveness.addEventListener('peer:unreachable', e => { this.onUnreachable(e.detail) })
    this.liveness.addEventListener('peer:reachable', e => { this.emit('peer:reachable', e.detail) })
    this.states = new StateTable({ orgId: this.replica.orgId, signKeyOf: k => this.signKeyOf(k) })
    this.prober = new Prober({
      liveness: this.liveness,
      clock: this.clock,
      random: this.random,
      sendPing: (to, seq) => { this.sendPingOrAck(MessageType.ping, to, seq) },
      sendAck: (to, seq) => { this.sendPingOrAck(MessageType.ack, to, seq) },
      sendPingReq: (via, seq, target) => { this.sendSmall(via, MessageType.pingReq, { type: MessageType.pingReq, seq, target: target.id.slice() }) },
      sendNack: (to, seq) => { this.sendSmall(to, MessageType.nack, { type: MessageType.nack, seq }) },
      pickHelpers: (k, exclude) => this.pickPeers(k, key => !key.equals(exclude) && this.liveness.get(key)?.state === 'alive'),
      broadcast: b => { this.broadcastLiveness(b) }
    }, { indirectChecks: config.indirectChecks, fallbackPings: config.fallbackPings })
    this.limiter = new JoinLimiter(this.clock, config.joinRateLimitPerSec)
    this.cookies = new CookieIssuer({ clock: this.clock, random: this.random })
    this.ownEndpoints = init.endpoints
    this.appMetadata = init.appMetadata ?? new Uint8Array(0)
    this.own = this.signOwn()
    this.refreshSenders()
    if (init.knownStates !== undefined) this.warmStart(init.knownStates)
  }

  /**
   * Offers the known states. What that gives depends on the states and the member set only,
   * so gossipers on one shared replica core (a simulator's pool) that got the very same array
   * share the table that results (`StateTable.share`) instead of each offering all N.
   */
  private warmStart (known: ReadonlyArray<Uint8Array | SignedNodeState>): void {
    const log = this.replica.log
    const memo = warmStarts.get(known)?.get(log)
    if (memo !== undefined) {
      this.states.startFrom(memo.base)
      for (const st of memo.accepted) this.liveness.onAlive(st.wgPublicKey, st.incarnation)
      return
    }
    const accepted: NodeState[] = []
    for (const s of known) {
      const r = s instanceof Uint8Array ? this.states.offer(s) : this.states.offerSigned(s)
      if (r.accepted) {
        const st = r.held.signed.state
        accepted.push(st)
        this.liveness.onAlive(st.wgPublicKey, st.incarnation)
      }
    }
    // Worth it only where the core is shared; a private one's log is nobody else's key.
    if (!this.replica.isShared) return
    let byLog = warmStarts.get(known)
    if (byLog === undefined) { byLog = new WeakMap(); warmStarts.set(known, byLog) }
    byLog.set(log, { base: this.states.share(), accepted })
  }

  /** The shared state table this gossiper still holds unchanged, if any (a key for what derives from it). */
  get sharedStates (): StateTableBase | undefined { return this.states.unchangedBase }

  /** Attaches to the transport and replica and starts the timers. Idempotent. */
  start (): void {
    if (this.running) return
    this.running = true
    this.refreshSenders()
    this.offPacket = this.transport.onPacket((packet, from) => { this.receive(packet, from) })
    this.replica.addEventListener('ops:added', this.onOpsAdded)
    this.liveness.start()
    this.publishOwn()
    // Random first offsets, so nodes started together do not tick together.
    this.gossipTimer = this.clock.schedule(() => { this.gossipTick() }, this.random.int(this.config.gossipIntervalMs))
    this.pushPullTimer = this.clock.schedule(() => { this.pushPullTick() }, this.random.int(pushPullIntervalFor(this.config, this.clusterSize())))
    this.prober.start()
    if (this.joining !== undefined) this.sendJoins()
  }

  /** Cancels every timer and listener `start()` made. Idempotent. */
  stop (): void {
    if (!this.running) return
    this.running = false
    for (const t of [this.gossipTimer, this.pushPullTimer, this.joining?.timer]) if (t !== undefined) this.clock.cancel(t)
    for (const d of this.deferredReplies.values()) this.clock.cancel(d.timer)
    this.deferredReplies.clear()
    this.gossipTimer = undefined
    this.pushPullTimer = undefined
    if (this.joining !== undefined) this.joining.timer = undefined
    this.prober.stop()
    this.liveness.stop()
    this.offPacket?.()
    this.offPacket = undefined
    this.replica.removeEventListener('ops:added', this.onOpsAdded)
  }

  isStarted (): boolean { return this.running }

  get incarnation (): number { return this.liveness.incarnation }

  /** Our current signed node state. */
  get ownState (): SignedNodeState { return this.own }

  /** Where to send to the member with WireGuard key `wgKey`, until we hear from it. */
  setEndpoint (wgKey: Key, endpoint: Endpoint): void {
    if (wgKey.equals(this.identity.wgPublicKey)) return
    this.book.set(wgKey.mapKey, endpoint)
  }

  /** The endpoint we would send to for `wgKey`, if any. */
  endpointOf (wgKey: Key): Endpoint | undefined {
    const k = wgKey.mapKey
    return this.learned.get(k) ?? this.book.get(k) ?? stateEndpoint(this.states.state(wgKey))
  }

  nodeState (wgKey: Key): NodeState | undefined {
    return wgKey.equals(this.identity.wgPublicKey) ? this.own.state : this.states.state(wgKey)
  }

  /** Replaces our app metadata (≤ 512 bytes) and gossips the new state. */
  setAppMetadata (bytes: Uint8Array): void {
    const old = this.appMetadata
    this.appMetadata = bytes
    try {
      this.raiseIncarnation()
    } catch (err) {
      this.appMetadata = old
      throw err
    }
  }

  /**
   * Joins through any of `targets` (members' keys and underlay endpoints) with our enroll op
   * in wire form: JOIN, cookie, JOIN with the cookie, then the member syncs us (also after a
   * restart: the JOIN hands a member that never heard of us our enroll at once). A member
   * with no enroll to send — the root, which passes its genesis — sends `targets` its digest
   * instead, which they answer like any anti-entropy exchange. Retries with backoff (0.5 s
   * doubling to 8 s) until a target answers with sync; 'joined' then fires.
   */
  join (targets: ReadonlyArray<{ wgPublicKey: Key, endpoint: Endpoint }>, enrollWire: Uint8Array): void {
    if (this.joining?.timer !== undefined) this.clock.cancel(this.joining.timer)
    const list = targets.filter(t => !t.wgPublicKey.equals(this.identity.wgPublicKey)).map(t => ({ key: t.wgPublicKey, endpoint: t.endpoint }))
    this.joining = { targets: list, enroll: enrollWire, attempt: 0, timer: undefined }
    this.provisional = new Map(list.map(t => [t.key.idMapKey, t.key]))
    for (const t of list) this.setEndpoint(t.key, t.endpoint)
    if (this.running) this.sendJoins()
  }

  get isJoining (): boolean { return this.joining !== undefined }

  stats (): GossiperStats {
    return {
      sent: { ...this.s.sent },
      sentBytesByType: { ...this.s.sentBytesByType },
      sentBytes: this.s.sentBytes,
      received: { ...this.s.received },
      drops: { ...this.s.drops },
      badOps: this.s.badOps,
      badStates: this.s.badStates,
      badClaims: this.s.badClaims,
      opsFromGossip: this.s.opsFromGossip,
      opsFromPull: this.s.opsFromPull,
      statesTaken: this.s.statesTaken,
      immediateRounds: this.s.immediateRounds,
      encodeErrors: this.s.encodeErrors,
      sendErrors: this.s.sendErrors,
      gapPulls: this.s.gapPulls,
      refutations: this.s.refutations,
      joinsRefused: this.s.joinsRefused,
      queued: this.queue.size,
      probe: { ...this.prober.stats }
    }
  }

  /** Runs one gossip round now (also what the timer does). */
  gossipRound (): void {
    if (!this.running || this.queue.size === 0) return
    const peers = this.pickPeers(this.config.fanout, key => this.liveness.get(key)?.state !== 'dead')
    if (peers.length === 0) return
    const budget = this.payloadBudget(MessageType.gossip)
    // Each peer it goes to is one transmit of every item (memberlist counts per node sent to).
    const items = this.takeItems(budget - COUNT_BYTES, peers.length)
    if (items === undefined) return
    let payload: Uint8Array
    try {
      // Never throws with the conservative per-item overhead; guarded because this also runs
      // inside the replica's event listener, where a throw would escape.
      payload = encodeMessage(MessageType.gossip, { type: MessageType.gossip, ...items }, budget).payload
    } catch {
      this.s.encodeErrors++
      return
    }
    for (const p of peers) this.send(p, MessageType.gossip, payload)
  }

  /**
   * Sends our digest to `to`, or to one random member, dead ones included (what the timer
   * does): an anti-entropy exchange.
   */
  pushPull (to?: Key): void {
    if (!this.running) return
    const [peer] = to !== undefined ? [to] : this.pickPeers(1, () => true)
    if (peer === undefined) return
    const payload = this.encodeDigest()
    if (payload !== undefined) this.send(peer, MessageType.digest, payload)
  }

  // ---- receiving ------------------------------------------------------------------------

  private receive (packet: Uint8Array, from: Endpoint): void {
    this.refreshSenders()
    // A JOIN (byte 3 of the header is the type) is limited per source prefix *before* any
    // X25519 is spent on it: the limit is what keeps a flood from costing CPU.
    if (packet.length > 3 && packet[3] === MessageType.join && !this.limiter.admit(from)) { this.s.drops['join-rate']++; return }
    const opened = this.sealer.open(packet, id => this.lookupSender(id))
    if (isDropped(opened)) { this.s.drops[opened.drop]++; return }
    const counted = { done: false }
    try {
      if (opened.type === MessageType.join) { this.onJoin(opened, from); return }
      this.onMemberPacket(opened, from, counted)
    } catch {
      // Hostile content that got past decoding (a digest the store cannot read, say): one
      // count per packet, so a packet counted as received is not also a drop.
      if (!counted.done) this.s.drops['bad-message']++
    }
  }

  private onMemberPacket (opened: Opened, from: Endpoint, counted: { done: boolean }): void {
    const sender = opened.sender
    const name = NAME_OF[opened.type]
    if (name === undefined || name === 'join') { this.s.drops['unexpected-type']++; return }
    // Decode before any state changes, so a malformed packet changes nothing.
    const m = decodeMessage(opened.type, opened.payload)
    this.s.received[name]++
    counted.done = true
    this.learned.set(sender.mapKey, from)
    this.liveness.onAnyPacket(sender)
    this.tellIfDead(sender)
    switch (m.type) {
      case MessageType.ping:
        this.takeNews(m, sender, 'gossip')
        this.sendPingOrAck(MessageType.ack, sender, m.seq)
        this.compareHeads(sender, m.headsHash)
        return
      case MessageType.ack:
        this.takeNews(m, sender, 'gossip')
        this.prober.onAck(sender, m.seq)
        this.compareHeads(sender, m.headsHash)
        return
      case MessageType.pingReq: {
        const target = this.sender(keyIdMapKey(m.target))
        if (target !== undefined) this.prober.onPingReq(sender, m.seq, target)
        return
      }
      case MessageType.nack:
        this.prober.onNack(m.seq)
        return
      case MessageType.gossip:
        this.takeNews(m, sender, 'gossip')
        return
      case MessageType.digest: {
        const buckets = this.states.differing(m.statesSummary)
        this.replyTo(sender, m.opsDigest, buckets)
        const { reply, same } = this.respond(m.opsDigest)
        if (reply !== undefined || buckets.length > 0) {
          // States only: a native pull that asks for no ops; a plain store's own digest, as before.
          const payload = this.encodePull(buckets, reply ?? (this.store instanceof NativeOpStore ? NOTHING_ASKED : undefined))
          if (payload !== undefined) this.send(sender, MessageType.pull, payload)
        }
        // Joined once we hold what a member holds: at once if our ops are the same, else
        // when its last reply page has been ingested (below).
        if (same) this.joinedVia(sender)
        return
      }
      case MessageType.pull: {
        this.replyTo(sender, m.opsDigest, m.buckets)
        // The next hop of a native exchange, if the pull asked for one (never for a plain
        // store: a pull is answered, not asked back).
        const { reply } = this.store instanceof NativeOpStore ? this.respond(m.opsDigest) : { reply: undefined }
        if (reply !== undefined) {
          const payload = this.encodePull([], reply)
          if (payload !== undefined) this.send(sender, MessageType.pull, payload)
        }
        return
      }
      case MessageType.pullReply:
        // The last page of a cut window says `more` and has the window's last page number. Per
        // page, not per sender: pages arrive out of order, and a page that came after the
        // window's last one must not cancel the pull that continues it.
        this.takeNews(m, sender, 'pull', m.more, m.more && (m.page + 1) % MAX_REPLY_PAGES === 0)
        return
      case MessageType.cookie: {
        const t = this.joining?.targets.find(x => x.key.equals(sender))
        if (t !== undefined) this.sendJoin(t.key, t.endpoint, m.cookie)
        return
      }
    }
  }

  /**
   * Ops, states and claims from a message: ingest each, counting (not throwing) bad ones.
   * For a pull reply, `more` says whether pages follow: after the last one is ingested, a
   * joiner is joined; a reply cut at MAX_REPLY_PAGES is continued by pulling again at once
   * when its last page (`windowEnd`: it still says `more`) has been ingested.
   */
  private takeNews (items: Items, sender: Key, via: 'gossip' | 'pull', more = false, windowEnd = false): void {
    let news = false
    for (const b of items.states) news = this.takeState(b) || news
    for (const b of items.claims ?? []) news = this.takeClaim(b, sender) || news
    const done = this.ingest(items.ops, sender, via)
    if (news && via === 'gossip') this.forwardNow()
    if (via === 'pull') {
      done.then(() => {
        if (!this.running) return
        if (!more) this.joinedVia(sender)
        else if (windowEnd) this.pullFrom(sender, true)
      }, () => {})
    }
  }

  private takeState (wire: Uint8Array): boolean {
    if (wire.length >= 32 && toKeyString(wire.subarray(0, 32)) === this.identity.wgPublicKey.mapKey) {
      this.checkOwnRival(wire)
      return false
    }
    const r = this.states.offer(wire)
    if (!r.accepted) {
      if (r.reason === 'malformed' || r.reason === 'bad-signature') this.s.badStates++
      return false
    }
    const st = r.held.signed.state
    this.s.statesTaken++
    this.queue.enqueue({ key: 's:' + st.wgPublicKey.mapKey, bytes: r.held.wire })
    this.liveness.onAlive(st.wgPublicKey, st.incarnation)
    this.emit('state', { key: st.wgPublicKey, state: st })
    return true
  }

  /**
   * A state of ours that we did not make in this run (an older run's, restored without its
   * incarnation; or a forgery, which cannot verify and costs only an incarnation): rise above
   * it so every node keeps ours. Our own bytes echoed back, or older states, are ignored.
   */
  private checkOwnRival (wire: Uint8Array): void {
    if (bytesEqual(wire, this.own === undefined ? new Uint8Array(0) : this.states.get(this.identity.wgPublicKey)?.wire ?? new Uint8Array(0))) return
    let rival: SignedNodeState
    try { rival = decodeSignedNodeState(wire) } catch { this.s.badStates++; return }
    // Only our own key can sign it: an unsigned "state of ours" must not move our incarnation.
    if (!verifyNodeState(rival, this.identity.signPublicKey, this.replica.orgId)) { this.s.badStates++; return }
    if (rival.state.incarnation >= this.liveness.incarnation) this.refuteAbove(rival.state.incarnation)
  }

  private takeClaim (bytes: Uint8Array, sender: Key): boolean {
    let c
    try { c = decodeClaim(bytes) } catch { this.s.badClaims++; return false }
    const self = this.identity.wgPublicKey
    const subject = keyIdMapKey(c.subject) === self.idMapKey ? self : this.sender(keyIdMapKey(c.subject))
    if (subject === undefined) return false
    const from = keyIdMapKey(c.from) === self.idMapKey ? self : this.sender(keyIdMapKey(c.from)) ?? sender
    // A claim above the newest incarnation anyone signed for the subject is bogus (claims are
    // unsigned): taking it would let one packet push an incarnation to its limit.
    const known = subject === self ? this.liveness.incarnation : this.liveness.get(subject)?.incarnation ?? 0
    if (c.incarnation > known) { this.s.badClaims++; return false }
    const b = c.type === 'suspect' ? this.liveness.onSuspect(subject, c.incarnation, from) : this.liveness.onDead(subject, c.incarnation, from)
    if (b === undefined) return false
    this.broadcastLiveness(b)
    return true
  }

  // ---- liveness ---------------------------------------------------------------------------

  /** Gossips what the liveness layer decided: our refutation as a new state, else a claim. */
  private broadcastLiveness (b: LivenessBroadcast): void {
    if (b.key.equals(this.identity.wgPublicKey)) {
      if (b.type === 'alive') this.afterRefute()
      return
    }
    if (b.type === 'alive') return // the member's own state carries it
    const claim = encodeClaim({ type: b.type, subject: b.key.id.slice(), incarnation: b.incarnation, from: b.from.id.slice() })
    this.queue.enqueue({ key: 'c:' + b.key.mapKey, bytes: claim })
    this.forwardNow()
  }

  private onUnreachable (d: PeerLivenessDetail): void {
    if (d.cause === 'suspicion-timeout') this.broadcastLiveness({ type: 'dead', key: d.key, incarnation: d.incarnation, from: this.identity.wgPublicKey })
    this.emit('peer:unreachable', d)
  }

  /** A member we hold dead is talking to us: tell it, so it refutes (once per probe interval). */
  private tellIfDead (sender: Key): void {
    const l = this.liveness.get(sender)
    if (l === undefined || l.state !== 'dead') return
    const now = this.clock.monotonic()
    const last = this.lastToldDeadAt.get(sender.mapKey)
    if (last !== undefined && now - last < this.config.probeIntervalMs) return
    this.lastToldDeadAt.set(sender.mapKey, now)
    const claim = encodeClaim({ type: 'dead', subject: sender.id.slice(), incarnation: l.incarnation, from: this.identity.wgPublicKey.id.slice() })
    const budget = this.payloadBudget(MessageType.gossip)
    this.send(sender, MessageType.gossip, encodeMessage(MessageType.gossip, { type: MessageType.gossip, ops: [], states: [], claims: [claim] }, budget).payload)
  }

  /** A rival state of ours at `inc`: take an incarnation above it. */
  private refuteAbove (inc: number): void {
    const b = this.liveness.onSuspect(this.identity.wgPublicKey, inc, this.identity.wgPublicKey)
    if (b !== undefined) this.afterRefute()
  }

  private afterRefute (): void {
    this.s.refutations++
    this.own = this.signOwn()
    this.publishOwn()
    this.emit('incarnation', { incarnation: this.liveness.incarnation })
    this.forwardNow()
  }

  /** Re-signs our state one incarnation up (metadata changed) and gossips it. */
  private raiseIncarnation (): void {
    this.liveness.onSuspect(this.identity.wgPublicKey, this.liveness.incarnation, this.identity.wgPublicKey)
    this.afterRefute()
  }

  private signOwn (): SignedNodeState {
    return signNodeState({
      wgPublicKey: this.identity.wgPublicKey,
      incarnation: this.liveness.incarnation,
      endpoints: this.ownEndpoints ?? defaultEndpoints(this.transport),
      relayedPairs: [],
      appMetadata: this.appMetadata
    }, this.identity.signer, this.replica.orgId)
  }

  /** Puts our state in our own table (so digests include it) and in the queue. */
  private publishOwn (): void {
    const r = this.states.offerSigned(this.own)
    const wire = r.accepted ? r.held.wire : undefined
    if (wire !== undefined) this.queue.enqueue({ key: 's:' + this.identity.wgPublicKey.mapKey, bytes: wire })
  }

  // ---- JOIN -------------------------------------------------------------------------------

  private onJoin (opened: Opened, from: Endpoint): void {
    const joiner = opened.sender
    const m = decodeMessage(MessageType.join, opened.payload)
    if (m.cookie !== undefined && !this.cookies.verifyCookie(m.cookie, from.host, from.port)) { this.s.drops['bad-cookie']++; return }
    this.s.received.join++
    if (m.cookie === undefined) {
      this.sendTo(from, joiner, MessageType.cookie, encodeMessage(MessageType.cookie, { type: MessageType.cookie, cookie: this.cookies.makeCookie(from.host, from.port) }, this.payloadBudget(MessageType.cookie)).payload)
      return
    }
    let op: WireOp
    try { op = decodeOp(m.enroll) } catch { this.s.badOps++; this.s.joinsRefused++; return }
    const admissible = joinOpCanBeValid(this.replica, joiner, op)
    // A member's JOIN (after a restart) asks for a sync, and its enroll's author may have been
    // revoked since (the enroll stays valid below the cutoff): sync it, ingest nothing. Any
    // other JOIN whose op cannot be valid is refused before its op reaches the log or gossip.
    if (!admissible && this.replica.member(joiner) === undefined) { this.s.joinsRefused++; return }
    // One ingest source for every JOIN: the replica's per-source quota then bounds what
    // JOINs can park (a cookie is bound to an address, not a key, so keys are free to vary).
    const ingested = admissible ? this.replica.ingest([op], JOIN_SOURCE) : Promise.resolve()
    ingested.then(() => {
      if (!this.running) return
      this.refreshSenders()
      if (this.sender(joiner.idMapKey) === undefined) { this.s.joinsRefused++; return }
      this.learned.set(joiner.mapKey, from)
      const payload = this.encodeDigest()
      if (payload !== undefined) this.send(joiner, MessageType.digest, payload)
    }).catch(() => { this.s.badOps++; this.s.joinsRefused++ })
  }

  private sendJoins (): void {
    const j = this.joining
    if (j === undefined || !this.running) return
    const byDigest = j.enroll[0] !== OpKind.enroll && this.replica.member(this.identity.wgPublicKey) !== undefined
    const digest = byDigest ? this.encodeDigest() : undefined
    for (const t of j.targets) {
      if (digest !== undefined) this.sendTo(t.endpoint, t.key, MessageType.digest, digest)
      else this.sendJoin(t.key, t.endpoint)
    }
    const delay = Math.min(JOIN_RETRY_MAX_MS, JOIN_RETRY_MS * 2 ** j.attempt)
    j.attempt++
    j.timer = this.clock.schedule(() => { this.sendJoins() }, delay + this.random.int(Math.ceil(delay / 4)))
  }

  private sendJoin (key: Key, to: Endpoint, cookie?: Uint8Array): void {
    const j = this.joining
    if (j === undefined) return
    let payload: Uint8Array
    try {
      payload = encodeMessage(MessageType.join, cookie === undefined ? { type: MessageType.join, enroll: j.enroll } : { type: MessageType.join, enroll: j.enroll, cookie }, this.payloadBudget(MessageType.join)).payload
    } catch {
      this.s.encodeErrors++
      return
    }
    this.sendTo(to, key, MessageType.join, payload)
  }

  private joinedVia (sender: Key): void {
    const j = this.joining
    if (j === undefined) return
    if (j.timer !== undefined) this.clock.cancel(j.timer)
    this.joining = undefined
    // The bootstrap keys stay accepted: the sync that follows comes from them before their own
    // enrolls have reached us. They can only feed us signed data, and go once revoked.
    this.emit('joined', { via: sender })
  }

  // ---- ops --------------------------------------------------------------------------------

  /** Queues the ops the replica accepted, then pushes them at once. */
  private opsAdded (ops: readonly LoggedOp[]): void {
    this.sendersStale = true
    for (const op of ops) this.queue.enqueue({ bytes: op.wire })
    if (ops.length > 0 && this.running) {
      this.refreshSenders()
      this.forwardNow()
    }
  }

  private forwardNow (): void {
    if (!this.running || this.queue.size === 0) return
    this.s.immediateRounds++
    this.gossipRound()
  }

  /** Decodes op items (skipping bad ones) and ingests them; the replica's event queues what is new. */
  private async ingest (items: Uint8Array[], sender: Key, via: 'gossip' | 'pull'): Promise<void> {
    const ops: WireOp[] = []
    for (const b of items) {
      try { ops.push(decodeOp(b)) } catch { this.s.badOps++ }
    }
    if (ops.length === 0) return
    await this.replica.ingest(ops, sender.toBase64()).then(r => {
      if (via === 'gossip') this.s.opsFromGossip += r.added.length
      else this.s.opsFromPull += r.added.length
      // An op with a missing past: the sender has that past, so pull from it now.
      if (via === 'gossip' && r.needs.length > 0) this.pullFrom(sender)
    }, () => { this.s.badOps += ops.length })
  }

  private compareHeads (peer: Key, theirs: Uint8Array): void {
    if (!bytesEqual(theirs, this.headsHash())) this.pullFrom(peer)
  }

  /**
   * First 8 bytes of SHA-256(ops digest), recomputed when the log changed. A native digest is
   * taken at DIGEST_BYTES whatever our packet budget, so equal op sets hash alike on every node.
   */
  private headsHash (): Uint8Array {
    // By log and version: a pooled replica changes logs (membership/replica-pool.ts).
    const log = this.replica.log
    const v = log.version
    if (this.headsCache?.version !== v || this.headsCache.log !== log) {
      const store = this.store
      const digest = store instanceof NativeOpStore ? store.digest(DIGEST_BYTES) : store.digest()
      this.headsCache = { log, version: v, hash: new Uint8Array(createHash('sha256').update(digest).digest().subarray(0, HEADS_HASH_BYTES)) }
    }
    return this.headsCache.hash
  }

  /** Sends `peer` our digest as a `pull` (states: none asked): it answers with what we lack. */
  private pullFrom (peer: Key, continuing = false): void {
    if (!this.running) return
    const now = this.clock.monotonic()
    const last = this.lastPullAt.get(peer.mapKey)
    if (!continuing && last !== undefined && now - last < this.config.gossipIntervalMs) return
    this.lastPullAt.set(peer.mapKey, now)
    const payload = this.encodePull([])
    if (payload === undefined) return
    this.s.gapPulls++
    this.send(peer, MessageType.pull, payload)
  }

  /**
   * Sends `peer` the pages of the ops its digests lack (in causal order) and of our states
   * in `buckets` — at most MAX_REPLY_PAGES of them, a prefix of the diff: the puller, having
   * ingested it, pulls again for the rest (its digest has moved). At most one reply per peer
   * per REPLY_INTERVAL_MS, so a member cannot turn 40-byte pulls into a stream of pages.
   */
  private replyTo (peer: Key, theirDigest: Uint8Array | Uint8Array[], buckets: readonly number[]): void {
    const digests = Array.isArray(theirDigest) ? theirDigest : [theirDigest]
    const now = this.clock.monotonic()
    const last = this.lastReplyAt.get(peer.mapKey)
    if (last !== undefined && now - last < REPLY_INTERVAL_MS) {
      // Too soon: answered once the interval is over. Dropping it instead stalled every long
      // sync: the pull continuing a window usually lands within REPLY_INTERVAL_MS of that
      // window, and the puller then waited for its next ping. The requests that came in the
      // meantime are answered together: each hop of a native exchange asks for other ranges.
      const waiting = this.deferredReplies.get(peer.mapKey)
      if (waiting !== undefined) {
        if (!waiting.digests.some(d => bytesEqual(d, digests[0]))) waiting.digests = [...waiting.digests, ...digests].slice(-MAX_DEFERRED_DIGESTS)
        waiting.buckets = [...new Set([...waiting.buckets, ...buckets])].sort((a, b) => a - b)
        return
      }
      const entry = {
        digests,
        buckets,
        timer: this.clock.schedule(() => {
          this.deferredReplies.delete(peer.mapKey)
          if (this.running) this.replyTo(peer, entry.digests, entry.buckets)
        }, last + REPLY_INTERVAL_MS - now)
      }
      this.deferredReplies.set(peer.mapKey, entry)
      return
    }
    const budget = this.payloadBudget(MessageType.pullReply)
    // A prefix of the ops that fits the window (an op costs at most its bytes + 2), then states.
    let room = MAX_REPLY_PAGES * (budget - 4)
    const store = this.store
    // The native store cuts its diff at the window (one op over it, so we see that it was cut).
    const diff = store instanceof NativeOpStore ? store.diffAll(digests, room + MAX_OP_BYTES + 2) : store.diff(digests[digests.length - 1])
    const all = store.unpack(diff).ops.map(o => o.wire)
    const states = buckets.length > 0 ? this.states.inBuckets(buckets) : []
    if (all.length === 0 && states.length === 0) return
    this.lastReplyAt.set(peer.mapKey, now)
    let cut = 0
    while (cut < all.length && room - (all[cut].length + 2) >= 0) room -= all[cut++].length + 2
    const ops = all.slice(0, cut)
    let pages
    try {
      pages = paginate({ ops, states }, budget).pages.slice(0, MAX_REPLY_PAGES)
    } catch {
      this.s.encodeErrors++
      return
    }
    if (cut < all.length || pages.length === MAX_REPLY_PAGES) pages[pages.length - 1].more = true
    for (const page of pages) this.send(peer, MessageType.pullReply, encodeMessage(MessageType.pullReply, page, budget).payload)
  }

  private get store (): OpStore { return this.replica.store }

  /**
   * Our ops digest and node-state summary. A native digest is made to fit what the packet
   * leaves it (native.ts), so this never fails for the number of chains; another store's
   * digest may not fit, and is counted in `encodeErrors`.
   */
  private encodeDigest (): Uint8Array | undefined {
    const budget = this.payloadBudget(MessageType.digest)
    const statesSummary = this.states.summary()
    const store = this.store
    return this.encodeOr(() => {
      const opsDigest = store instanceof NativeOpStore ? store.digest(opsDigestRoom(MessageType.digest, budget, statesSummary)) : store.digest()
      return encodeMessage(MessageType.digest, { type: MessageType.digest, opsDigest, statesSummary }, budget).payload
    })
  }

  /**
   * A pull asking for node states in `buckets` and for the ops `digest` lacks: by default our
   * level-0 digest, marked final for a native store (answer with ops; ask nothing back unless
   * it had to summarise).
   */
  private encodePull (buckets: number[], digest?: Uint8Array): Uint8Array | undefined {
    const budget = this.payloadBudget(MessageType.pull)
    const store = this.store
    return this.encodeOr(() => {
      const opsDigest = digest ?? (store instanceof NativeOpStore ? store.digest(opsDigestRoom(MessageType.pull, budget), true) : store.digest())
      return encodeMessage(MessageType.pull, { type: MessageType.pull, opsDigest, buckets, page: 0 }, budget).payload
    })
  }

  /**
   * The next hop of an exchange: what a native store says back to `digest` in a pull (native.ts
   * `respond`), and whether the op sets are the same. A plain store answers with its own
   * digest when the two differ, as before.
   */
  private respond (digest: Uint8Array): Response {
    const store = this.store
    if (store instanceof NativeOpStore) {
      const room = opsDigestRoom(MessageType.pull, this.payloadBudget(MessageType.pull))
      // A packet budget too small for any digest (a misconfigured transport) asks nothing.
      if (room < MIN_DIGEST_BYTES) { this.s.encodeErrors++; return { reply: undefined, same: false } }
      return store.respond(digest, room)
    }
    const same = bytesEqual(store.digest(), digest)
    return { reply: same ? undefined : store.digest(), same }
  }

  /** A message that cannot be encoded (another store's digest too big for a packet) is counted, not thrown. */
  private encodeOr (f: () => Uint8Array): Uint8Array | undefined {
    try { return f() } catch { this.s.encodeErrors++; return undefined }
  }

  // ---- sending ----------------------------------------------------------------------------

  private sendPingOrAck (type: typeof MessageType.ping | typeof MessageType.ack, to: Key, seq: number): void {
    const budget = this.payloadBudget(type)
    const items = this.takeItems(budget - PING_FIXED_BYTES - COUNT_BYTES) ?? { ops: [], states: [] }
    let payload: Uint8Array
    try {
      payload = encodeMessage(type, { type, seq, headsHash: this.headsHash(), ...items }, budget).payload
    } catch {
      this.s.encodeErrors++
      return
    }
    this.send(to, type, payload)
  }

  private sendSmall (to: Key, type: typeof MessageType.pingReq | typeof MessageType.nack, msg: Parameters<typeof encodeMessage>[1]): void {
    const payload = this.encodeOr(() => encodeMessage(type, msg as never, this.payloadBudget(type)).payload)
    if (payload !== undefined) this.send(to, type, payload)
  }

  /** Queued items for one message, split by kind; undefined when nothing fits. */
  private takeItems (budget: number, copies = 1): Items | undefined {
    if (this.queue.size === 0) return undefined
    const taken = this.queue.take(budget, ITEM_OVERHEAD_BYTES, this.clusterSize(), copies)
    if (taken.length === 0) return undefined
    const items: Items & { claims: Uint8Array[] } = { ops: [], states: [], claims: [] }
    for (const i of taken) itemList(items, i).push(i.bytes)
    return items
  }

  private send (peer: Key, type: MessageType, payload: Uint8Array): void {
    const e = this.endpointOf(peer)
    if (e !== undefined) this.sendTo(e, peer, type, payload)
  }

  private sendTo (e: Endpoint, peer: Key, type: MessageType, payload: Uint8Array): void {
    try {
      const packet = this.sealer.seal(peer, type, payload)
      this.transport.send(e, packet)
      const name = NAME_OF[type]
      this.s.sent[name]++
      this.s.sentBytesByType[name] += packet.length
      this.s.sentBytes += packet.length
    } catch {
      // A low-order peer key (seal) or a packet over the transport's limit: counted, not thrown,
      // since this runs from timers and from the replica's event listener.
      this.s.sendErrors++
    }
  }

  /**
   * Up to `k` distinct random current members (not us) with an endpoint that pass `ok`. Samples
   * at random first (O(k) when most members qualify, the common case at any N), and falls back
   * to a scan of all members when sampling keeps missing. Deterministic for a seeded Random.
   */
  private pickPeers (k: number, ok: (key: Key) => boolean): Key[] {
    const list = this.senders.list
    const selfAt = this.selfAt
    const usable = (key: Key): boolean => this.endpointOf(key) !== undefined && ok(key)
    const out: Key[] = []
    if (this.senderCount > 4 * k) {
      const seen = new Set<number>()
      for (let tries = 0; out.length < k && tries < 4 * k; tries++) {
        // An index among the members but us.
        const i = this.random.int(this.senderCount)
        if (seen.has(i)) continue
        seen.add(i)
        const key = list[selfAt >= 0 && i >= selfAt ? i + 1 : i]
        if (usable(key)) out.push(key)
      }
      if (out.length === k) return out
      out.length = 0
    }
    const pool = list.filter((key: Key, i: number) => i !== selfAt && usable(key))
    if (pool.length === 0) {
      for (const key of this.provisional.values()) if (this.endpointOf(key) !== undefined) pool.push(key)
    }
    // Partial Fisher–Yates over a deterministic (map insertion) order.
    const n = Math.min(k, pool.length)
    for (let i = 0; i < n; i++) {
      const j = i + this.random.int(pool.length - i)
      const t = pool[i]; pool[i] = pool[j]; pool[j] = t
    }
    return pool.slice(0, n)
  }

  // ---- membership -------------------------------------------------------------------------

  private lookupSender (id: Uint8Array): Key | undefined {
    const k = keyIdMapKey(id)
    return this.sender(k) ?? this.provisional.get(k)
  }

  /** The current member (not us) with this key id (map key). */
  private sender (idMapKey: string): Key | undefined {
    const k = this.senders.byId.get(idMapKey)
    return k === undefined || k.equals(this.identity.wgPublicKey) ? undefined : k
  }

  private signKeyOf (wgKey: Key): Key | undefined {
    if (wgKey.equals(this.identity.wgPublicKey)) return this.replica.member(wgKey) !== undefined ? this.identity.signPublicKey : undefined
    if (this.sender(wgKey.idMapKey) === undefined) return undefined
    return this.replica.memberSignKey(wgKey)
  }

  /** Rebuilds the sender map when the member set may have changed, and follows it in liveness. */
  private refreshSenders (force = false): void {
    if (!this.sendersStale && !force) return
    this.sendersStale = false
    const index = this.replica.memberIndex()
    const me = this.identity.wgPublicKey
    const old = this.senders
    const m = index.byId
    this.anyExpiry = index.anyExpiry
    this.senders = index
    this.liveness.useRing(index.list)
    this.selfAt = index.list.findIndex(k => k.mapKey === me.mapKey)
    this.senderCount = index.list.length - (this.selfAt >= 0 ? 1 : 0)
    if (old === index) return this.afterRefresh(me, m)
    // One step on from what we hold: its change list, O(changes); else compare both, O(N).
    const { added: joined, removed } = index.prev?.index === old ? index.prev : indexChanges(old, index)
    for (const k of removed) {
      if (k.mapKey === me.mapKey) continue
      this.liveness.removeMember(k)
      this.states.remove(k)
      for (const book of [this.learned, this.book, this.lastPullAt, this.lastReplyAt, this.lastToldDeadAt]) book.delete(k.mapKey)
      const deferred = this.deferredReplies.get(k.mapKey)
      if (deferred !== undefined) { this.clock.cancel(deferred.timer); this.deferredReplies.delete(k.mapKey) }
      this.queue.removeKey('s:' + k.mapKey)
      this.queue.removeKey('c:' + k.mapKey)
      this.sealer.forget?.(k)
    }
    const added: Array<[Key, number]> = []
    for (const k of joined) {
      if (k.mapKey === me.mapKey) continue
      added.push([k, this.states.state(k)?.incarnation ?? 0])
    }
    this.liveness.addMembers(added)
    this.afterRefresh(me, m)
  }

  private afterRefresh (me: Key, m: ReadonlyMap<string, Key>): void {
    // A provisional (bootstrap) key goes once it is a member like any other, or once our view
    // knows it is gone (removed, left, revoked): only keys our log has not placed yet stay.
    for (const [id, k] of this.provisional) {
      if (m.has(id) || this.replica.goneReason(k) !== undefined || this.replica.isRevoked(k)) this.provisional.delete(id)
    }
    // We may have become a member: our own state can now enter our table.
    if (this.states.get(me) === undefined && this.running) this.publishOwn()
  }

  private clusterSize (): number { return this.senderCount + 1 }

  /** The payload budget: the config's packet budget less the worst-case header and the tag. */
  private payloadBudget (type: MessageType): number {
    const packet = Math.min(this.config.maxPacketBytes, this.transport.maxPacketBytes)
    return Math.min(maxPayloadBytes(type), packet - (MIN_HEADER_BYTES + MAX_COUNTER_BYTES - 1) - TAG_BYTES - (type === MessageType.join ? 24 + 16 : 0))
  }

  private gossipTick (): void {
    this.gossipTimer = this.clock.schedule(() => { this.gossipTick() }, this.config.gossipIntervalMs)
    // Expiry depends on time alone, so the member set is re-read now and then even when no op
    // arrived; not every tick, which would cost O(N) per node per gossip interval.
    const now = this.clock.monotonic()
    if (this.anyExpiry && now - this.lastExpiryCheckMs >= EXPIRY_CHECK_MS) {
      this.lastExpiryCheckMs = now
      this.refreshSenders(true)
    }
    this.gossipRound()
  }

  private pushPullTick (): void {
    this.pushPullTimer = this.clock.schedule(() => { this.pushPullTick() }, pushPullIntervalFor(this.config, this.clusterSize()))
    this.pushPull()
  }
}

function itemList (items: Items & { claims: Uint8Array[] }, i: BroadcastItem): Uint8Array[] {
  if (i.key === undefined) return items.ops
  return i.key.startsWith('s:') ? items.states : items.claims
}

/** Our advertised endpoint by default: the transport's, unless it is a wildcard address. */
function defaultEndpoints (transport: Transport): NodeEndpoint[] {
  try {
    const e = transport.localEndpoint()
    if (hostFamily(e.host) === 0 || e.host === '0.0.0.0' || e.host === '::') return []
    return [{ host: e.host, port: e.port, source: 'listen' }]
  } catch {
    return [] // not bound yet
  }
}

function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

