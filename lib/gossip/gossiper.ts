/**
 * Membership dissemination (DESIGN §3 "Dissemination"): spreads the ops a replica accepts to
 * every member, by epidemic gossip backed by periodic anti-entropy. Liveness (SWIM), node
 * states and JOIN come later; this is the op path only.
 *
 * - Queue. Every op the replica accepts (its `ops:added` event: a local admin action, an
 *   ingest, a merge) goes into a `BroadcastQueue`, and is sent at most
 *   retransmitMult × ⌈log10(N+1)⌉ times (`retransmitLimit`).
 * - Push. Every `gossipIntervalMs` a `gossip` message with queued ops (fewest-sent first,
 *   packed to the packet budget) goes to `fanout` random members with known endpoints.
 * - Forward on arrival. When ops are accepted, one gossip round runs at once instead of
 *   waiting for the next tick. DEVIATION from memberlist, which only queues them: each hop
 *   then costs one network latency instead of latency + up to one gossip interval, so news
 *   crosses log_fanout(N) hops in ≈ log_fanout(N) × latency.
 * - Gaps. Gossip whose ops have a missing causal past (the replica parks them and names the
 *   chain positions it needs) triggers an immediate `pull` from the sender, which has that
 *   past; at most one per sender per gossip interval.
 * - Anti-entropy. Every `pushPullIntervalFor(cfg, N)` (first one at a random offset, so nodes
 *   do not synchronise) send `digest` (the replica's ops digest) to one random member. The
 *   receiver answers with `pullReply` pages of what it has that the digest lacks
 *   (`replica.diff`), and, if its own digest differs, with a `pull` carrying its digest,
 *   which is answered the same way but never asked back — so one exchange repairs both
 *   sides (memberlist's push-pull) and cannot loop. Node-state buckets are sent empty and
 *   `pull.page` is ignored (every page is sent at once) until node states and paged
 *   re-requests exist.
 * - Senders. `sealer.open` looks senders up among the replica's current members only (the
 *   map is rebuilt whenever ops are added and on each tick, since expiry depends on time),
 *   so once a node has seen a revocation, the revoked node's packets are dropped as
 *   `unknown-sender`. Every dropped packet is counted by reason in `stats().drops`; hostile
 *   input is never thrown out of the receive handler.
 * - Addresses. A static book (`setEndpoint`) for now; node states will fill it later.
 *
 * All time comes from the injected `Clock` and all choices from the injected `Random`, so a
 * `ManualClock` + `SeededRandom` run replays exactly.
 */
import type { Clock, TimerHandle } from '../clock.js'
import type { NodeIdentity } from '../identity/identity.js'
import { type Key, keyIdMapKey } from '../identity/key.js'
import { decodeOp } from '../membership/codec.js'
import type { LoggedOp } from '../membership/log.js'
import type { WireOp } from '../membership/op.js'
import type { Replica } from '../membership/replica.js'
import type { Random } from '../random.js'
import { MAX_COUNTER_BYTES, MessageType, MIN_HEADER_BYTES } from '../wire/header.js'
import { DROP_REASONS, type DropReason, isDropped, maxPayloadBytes, type PacketSealer, TAG_BYTES } from '../wire/seal.js'
import { BroadcastQueue } from './broadcast-queue.js'
import { type GossipConfig, pushPullIntervalFor } from './config.js'
import type { Endpoint } from './endpoint.js'
import { decodeMessage, encodeMessage, paginate, STATE_BUCKETS, STATE_HASH_BYTES } from './messages.js'
import type { Transport } from './transport.js'

/** Worst-case per-item framing in a gossip message: varuint(length << 1) for ops ≤ 8 KB. */
const ITEM_OVERHEAD_BYTES = 2
/** The items count of a gossip message (≤ 127 items: one byte). */
const COUNT_BYTES = 1

export interface GossiperComponents {
  identity: NodeIdentity
  replica: Replica
  /** Started and stopped by the caller; the gossiper only adds (and removes) a handler. */
  transport: Transport
  sealer: PacketSealer
  clock: Clock
  random: Random
}

/** Why a packet was dropped: the sealer's reasons, then the gossiper's own. */
export type GossipDropReason = DropReason | 'bad-message' | 'unexpected-type'

export interface GossiperStats {
  /** Packets sent, by message type name. */
  sent: Record<'gossip' | 'digest' | 'pull' | 'pullReply', number>
  /** Packets opened and handled, by message type name. */
  received: Record<'gossip' | 'digest' | 'pull' | 'pullReply', number>
  drops: Record<GossipDropReason, number>
  /** Op items that failed `decodeOp` (counted and skipped, neighbours still ingested). */
  badOps: number
  /** Ops the replica accepted from gossip, and from pull replies. */
  opsFromGossip: number
  opsFromPull: number
  /** Gossip rounds run at once on news (forward on arrival / local op). */
  immediateRounds: number
  /** Digests (or pull replies) we could not encode: too big for a packet (a paged digest is not yet here). */
  encodeErrors: number
  /** Packets not sent: sealing failed (low-order peer key) or the transport refused them. */
  sendErrors: number
  /** Pulls sent at once because gossiped ops had a missing causal past. */
  gapPulls: number
  /** Ops queued now. */
  queued: number
}

type Counted = 'gossip' | 'digest' | 'pull' | 'pullReply'
const emptyCounts = (): Record<Counted, number> => ({ gossip: 0, digest: 0, pull: 0, pullReply: 0 })

export class Gossiper {
  private readonly identity: NodeIdentity
  private readonly replica: Replica
  private readonly transport: Transport
  private readonly sealer: PacketSealer
  private readonly clock: Clock
  private readonly random: Random
  readonly config: GossipConfig
  readonly queue: BroadcastQueue

  private readonly endpoints = new Map<string, Endpoint>()
  /** key id (map key) → member key, current members only. */
  private senders = new Map<string, Key>()
  /** How many ops of the log (in insertion order) have been queued or were there before. */
  private seen = 0
  /** The member set changed since `senders` was built. */
  private sendersStale = true
  /** When we last pulled from a peer because its gossip had a missing past (monotonic ms). */
  private readonly lastPullAt = new Map<string, number>()
  private running = false
  private gossipTimer: TimerHandle | undefined
  private pushPullTimer: TimerHandle | undefined
  private offPacket: (() => void) | undefined
  private readonly onOpsAdded = (e: CustomEvent<{ ops: readonly LoggedOp[] }>): void => { this.opsAdded(e.detail.ops) }
  private readonly s = {
    sent: emptyCounts(),
    received: emptyCounts(),
    drops: Object.fromEntries([...DROP_REASONS, 'bad-message', 'unexpected-type'].map(r => [r, 0])) as Record<GossipDropReason, number>,
    badOps: 0,
    opsFromGossip: 0,
    opsFromPull: 0,
    immediateRounds: 0,
    encodeErrors: 0,
    sendErrors: 0,
    gapPulls: 0
  }

  constructor (components: GossiperComponents, config: GossipConfig) {
    this.identity = components.identity
    this.replica = components.replica
    this.transport = components.transport
    this.sealer = components.sealer
    this.clock = components.clock
    this.random = components.random
    this.config = config
    this.queue = new BroadcastQueue({ retransmitMult: config.retransmitMult })
    // What the replica holds now is not news: anti-entropy, not gossip, spreads old ops.
    this.seen = this.replica.log.size
  }

  /** Attaches to the transport and replica and starts the timers. Idempotent. */
  start (): void {
    if (this.running) return
    this.running = true
    this.refreshSenders()
    this.offPacket = this.transport.onPacket((packet, from) => { this.receive(packet, from) })
    this.replica.addEventListener('ops:added', this.onOpsAdded)
    this.opsAdded(this.addedWhileStopped())
    // Random first offsets, so nodes started together do not tick together.
    this.gossipTimer = this.clock.schedule(() => { this.gossipTick() }, this.random.int(this.config.gossipIntervalMs))
    const pp = pushPullIntervalFor(this.config, this.clusterSize())
    this.pushPullTimer = this.clock.schedule(() => { this.pushPullTick() }, this.random.int(pp))
  }

  /** Cancels every timer and listener `start()` made. Idempotent. */
  stop (): void {
    if (!this.running) return
    this.running = false
    if (this.gossipTimer !== undefined) this.clock.cancel(this.gossipTimer)
    if (this.pushPullTimer !== undefined) this.clock.cancel(this.pushPullTimer)
    this.gossipTimer = undefined
    this.pushPullTimer = undefined
    this.offPacket?.()
    this.offPacket = undefined
    this.replica.removeEventListener('ops:added', this.onOpsAdded)
  }

  isStarted (): boolean { return this.running }

  /** Where to send to the member with WireGuard key `wgKey` (a static book for now). */
  setEndpoint (wgKey: Key, endpoint: Endpoint): void {
    if (wgKey.equals(this.identity.wgPublicKey)) return
    this.endpoints.set(wgKey.mapKey, endpoint)
  }

  stats (): GossiperStats {
    return {
      sent: { ...this.s.sent },
      received: { ...this.s.received },
      drops: { ...this.s.drops },
      badOps: this.s.badOps,
      opsFromGossip: this.s.opsFromGossip,
      opsFromPull: this.s.opsFromPull,
      immediateRounds: this.s.immediateRounds,
      encodeErrors: this.s.encodeErrors,
      sendErrors: this.s.sendErrors,
      gapPulls: this.s.gapPulls,
      queued: this.queue.size
    }
  }

  /** Runs one gossip round now (also what the timer does). */
  gossipRound (): void {
    if (!this.running || this.queue.size === 0) return
    const peers = this.pickPeers(this.config.fanout)
    if (peers.length === 0) return
    const budget = this.payloadBudget(MessageType.gossip)
    const items = this.queue.take(budget - COUNT_BYTES, ITEM_OVERHEAD_BYTES, this.clusterSize())
    if (items.length === 0) return
    let payload: Uint8Array
    try {
      // Never throws with the conservative per-item overhead above; guarded because this
      // also runs inside the replica's event listener, where a throw would escape.
      payload = encodeMessage(MessageType.gossip, { type: MessageType.gossip, ops: items.map(i => i.bytes), states: [] }, budget).payload
    } catch {
      this.s.encodeErrors++
      return
    }
    for (const p of peers) this.send(p, MessageType.gossip, payload, 'gossip')
  }

  /** Sends our digest to one random member (also what the timer does). */
  pushPull (): void {
    if (!this.running) return
    const [peer] = this.pickPeers(1)
    if (peer === undefined) return
    const payload = this.encodeDigest(MessageType.digest)
    if (payload !== undefined) this.send(peer, MessageType.digest, payload, 'digest')
  }

  /**
   * Our ops digest as a `digest` or `pull` payload, or undefined (counted in `encodeErrors`)
   * when it does not fit one packet: a store that large needs a paged digest, not yet here.
   */
  private encodeDigest (type: typeof MessageType.digest | typeof MessageType.pull): Uint8Array | undefined {
    const opsDigest = this.replica.digest()
    try {
      return type === MessageType.digest
        ? encodeMessage(type, { type, opsDigest, statesSummary: emptySummary() }, this.payloadBudget(type)).payload
        : encodeMessage(type, { type, opsDigest, buckets: [], page: 0 }, this.payloadBudget(type)).payload
    } catch {
      this.s.encodeErrors++
      return undefined
    }
  }

  private gossipTick (): void {
    this.gossipTimer = this.clock.schedule(() => { this.gossipTick() }, this.config.gossipIntervalMs)
    this.refreshSenders(true)
    this.gossipRound()
  }

  private pushPullTick (): void {
    this.pushPullTimer = this.clock.schedule(() => { this.pushPullTick() }, pushPullIntervalFor(this.config, this.clusterSize()))
    this.pushPull()
  }

  /** Queues the ops the replica accepted since we last looked, then pushes them at once. */
  private opsAdded (ops: readonly LoggedOp[]): void {
    this.sendersStale = true
    this.seen += ops.length
    for (const op of ops) this.queue.enqueue({ bytes: op.wire })
    if (ops.length > 0 && this.running) {
      this.s.immediateRounds++
      this.gossipRound()
    }
  }

  /** Ops the log gained while no listener was attached (the log keeps insertion order). */
  private addedWhileStopped (): LoggedOp[] {
    const out: LoggedOp[] = []
    let i = 0
    for (const op of this.replica.log.byId.values()) if (i++ >= this.seen) out.push(op)
    return out
  }

  private receive (packet: Uint8Array, _from: Endpoint): void {
    this.refreshSenders()
    const opened = this.sealer.open(packet, id => this.senders.get(keyIdMapKey(id)))
    if (isDropped(opened)) { this.s.drops[opened.drop]++; return }
    const sender = opened.sender
    try {
      switch (opened.type) {
        case MessageType.gossip: {
          const m = decodeMessage(MessageType.gossip, opened.payload)
          this.s.received.gossip++
          this.ingest(m.ops, sender, 'gossip')
          return
        }
        case MessageType.digest: {
          const m = decodeMessage(MessageType.digest, opened.payload)
          this.s.received.digest++
          this.replyTo(sender, m.opsDigest)
          const mine = this.replica.digest()
          if (!bytesEqual(mine, m.opsDigest)) {
            const payload = this.encodeDigest(MessageType.pull)
            if (payload !== undefined) this.send(sender, MessageType.pull, payload, 'pull')
          }
          return
        }
        case MessageType.pull: {
          const m = decodeMessage(MessageType.pull, opened.payload)
          this.s.received.pull++
          this.replyTo(sender, m.opsDigest)
          return
        }
        case MessageType.pullReply: {
          const m = decodeMessage(MessageType.pullReply, opened.payload)
          this.s.received.pullReply++
          this.ingest(m.ops, sender, 'pull')
          return
        }
        default:
          this.s.drops['unexpected-type']++
      }
    } catch {
      this.s.drops['bad-message']++
    }
  }

  /** Sends `sender` every page of what we have that `theirDigest` lacks. */
  private replyTo (peer: Key, theirDigest: Uint8Array): void {
    const diff = this.replica.diff(theirDigest)
    const ops = this.replica.store.unpack(diff).ops.map(o => o.wire)
    if (ops.length === 0) return
    const budget = this.payloadBudget(MessageType.pullReply)
    let pages
    try {
      pages = paginate({ ops, states: [] }, budget).pages
    } catch {
      this.s.encodeErrors++
      return
    }
    for (const page of pages) {
      this.send(peer, MessageType.pullReply, encodeMessage(MessageType.pullReply, page, budget).payload, 'pullReply')
    }
  }

  /** Decodes op items (skipping bad ones) and ingests them; the replica's event queues what is new. */
  private ingest (items: Uint8Array[], sender: Key, via: 'gossip' | 'pull'): void {
    const ops: WireOp[] = []
    for (const b of items) {
      try { ops.push(decodeOp(b)) } catch { this.s.badOps++ }
    }
    if (ops.length === 0) return
    this.replica.ingest(ops, sender.toBase64()).then(r => {
      if (via === 'gossip') this.s.opsFromGossip += r.added.length
      else this.s.opsFromPull += r.added.length
      // An op with a missing past: the sender has that past, so pull from it now rather than
      // wait for anti-entropy (DESIGN §3). At most once per sender per gossip interval.
      if (via === 'gossip' && r.needs.length > 0) this.pullFrom(sender)
    }, () => { this.s.badOps += ops.length })
  }

  /** Sends `peer` our digest as a `pull`: it answers with what we lack. Rate-limited per peer. */
  private pullFrom (peer: Key): void {
    if (!this.running) return
    const now = this.clock.monotonic()
    const last = this.lastPullAt.get(peer.mapKey)
    if (last !== undefined && now - last < this.config.gossipIntervalMs) return
    this.lastPullAt.set(peer.mapKey, now)
    const payload = this.encodeDigest(MessageType.pull)
    if (payload === undefined) return
    this.s.gapPulls++
    this.send(peer, MessageType.pull, payload, 'pull')
  }

  private send (peer: Key, type: MessageType, payload: Uint8Array, name: Counted): void {
    const e = this.endpoints.get(peer.mapKey)
    if (e === undefined) return
    try {
      this.transport.send(e, this.sealer.seal(peer, type, payload))
      this.s.sent[name]++
    } catch {
      // A low-order peer key (seal) or a packet over the transport's limit: counted, not thrown,
      // since this runs from timers and from the replica's event listener.
      this.s.sendErrors++
    }
  }

  /** Up to `k` distinct random current members (not us) with a known endpoint. */
  private pickPeers (k: number): Key[] {
    const pool: Key[] = []
    for (const key of this.senders.values()) {
      if (this.endpoints.has(key.mapKey)) pool.push(key)
    }
    // Partial Fisher–Yates over a deterministic (map insertion) order.
    const n = Math.min(k, pool.length)
    for (let i = 0; i < n; i++) {
      const j = i + this.random.int(pool.length - i)
      const t = pool[i]; pool[i] = pool[j]; pool[j] = t
    }
    return pool.slice(0, n)
  }

  /** Rebuilds the sender map when the member set may have changed (or expiry may have, each tick). */
  private refreshSenders (force = false): void {
    if (!this.sendersStale && !force) return
    this.sendersStale = false
    const m = new Map<string, Key>()
    const me = this.identity.wgPublicKey
    for (const member of this.replica.members()) {
      const k = member.wgPublicKey
      if (k.equals(me) || this.replica.isRevoked(k)) continue
      m.set(k.idMapKey, k)
    }
    this.senders = m
  }

  private clusterSize (): number { return this.senders.size + 1 }

  /** The payload budget: the config's packet budget less the worst-case header and the tag. */
  private payloadBudget (type: MessageType): number {
    const packet = Math.min(this.config.maxPacketBytes, this.transport.maxPacketBytes)
    return Math.min(maxPayloadBytes(type), packet - (MIN_HEADER_BYTES + MAX_COUNTER_BYTES - 1) - TAG_BYTES)
  }
}

function emptySummary (): Array<{ count: number, hash: Uint8Array }> {
  return Array.from({ length: STATE_BUCKETS }, () => ({ count: 0, hash: new Uint8Array(STATE_HASH_BYTES) }))
}

function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
