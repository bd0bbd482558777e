/**
 * SWIM failure detection with Lifeguard (DESIGN §3 "Liveness"): who among the members is
 * alive, suspect or dead, as this node sees it. After memberlist's `state.go`; ours, and pure:
 * no transport, no I/O. The gossip engine calls in with what it heard, sends what the
 * methods return, and drives the probe loop with the intervals this class computes.
 *
 * Table. One entry per member the view (membership/) knows, keyed by `Key.mapKey`:
 * { state: alive | suspect | dead, incarnation, stateChangeMs }. Liveness never adds or
 * removes members — `addMember` / `removeMember` follow the view — it only judges them. Our
 * own entry is just `incarnation`: a counter only we raise, which is how we refute.
 *
 * Probe loop (the engine, every `probeIntervalMs()`):
 *   1. `probeTarget()` picks, every `ringProbeEvery`-th time, our ring successor (the next
 *      member in wg key order, as `Replica.members()` lists them, that is not dead:
 *      config.ts says why); otherwise the next member round-robin over a shuffled list: every pass
 *      reshuffles with the injected Random, skips dead members (and never holds ourselves),
 *      so every live member is probed exactly once per pass, and by this node within 2
 *      passes of any moment (SWIM's bound; across the cluster some node probes it after
 *      ≈ e/(e−1) intervals on average). Picking a target opens a new probe period for it.
 *      A suspect target is still probed; the engine should piggyback the suspicion on the
 *      ping (Lifeguard's buddy system) so the node learns of it and refutes.
 *   2. The engine pings it and waits `probeTimeoutMs()`; then asks `indirectChecks` peers to
 *      ping it; at the end of the period, if nothing came back, `onProbeFailed(key, nacks)`.
 *   3. `onAck(key)` — a direct or relayed ack — and `onAnyPacket(key)` — any authenticated
 *      gossip packet from that member — close the period as a success: "any authenticated
 *      gossip packet from a member in the current period counts as its ack". A later
 *      `onProbeFailed` for that period is then ignored.
 *   4. A failed probe raises our health score (+1 per expected nack that did not come, +1 if
 *      none were expected: the peers we asked are presumed fine, so a missing nack says our
 *      own path is bad) and suspects the target; a successful one lowers it by 1.
 *
 * Suspicion. `suspect` at incarnation i replaces `alive` at ≤ i; a Lifeguard `Suspicion`
 * timer (suspicion.ts) starts at the max timeout and shrinks as other nodes confirm; when it
 * fires the member is dead at the same incarnation and 'peer:unreachable' is emitted with
 * cause 'suspicion-timeout' (the engine gossips the death on that event: no method call
 * returned it). `dead` at i replaces alive/suspect at ≤ i (cause 'claim').
 * `alive` at i clears suspect/dead only if i is *greater* than what we hold (equal is stale
 * news); dead → alive emits 'peer:reachable'.
 *
 * Refutation. A suspect or dead message about ourselves at incarnation a ≥ ours makes us
 * take incarnation max(ours, a) + 1, raise our health score by 1 (others could not hear us,
 * which is evidence that we are the slow one) and return an alive broadcast to gossip.
 *
 * Every method that changes state returns the `LivenessBroadcast` to re-gossip, or undefined.
 * Unknown members, stale incarnations and incarnations outside [0, MAX_COUNTER] (the node
 * state's bound, so a claim always fits the wire) are ignored, never thrown on: input is
 * hostile. A claim about us at MAX_COUNTER cannot be refuted and is ignored too.
 *
 * Deviations from memberlist, on purpose:
 *   - Probe interval *and* timeout are scaled by health (config.ts `probeTimeoutMs`);
 *     memberlist scales only the interval.
 *   - Any authenticated packet counts as an ack (DESIGN §3); memberlist needs an ack message.
 *     Our packets are sealed per sender (§3 "Sealing"), so this cannot be spoofed.
 *   - A suspicion that runs out while we have heard an authenticated packet from the member
 *     since it began does not kill it: it re-arms (from us, at the max timeout). A node that
 *     keeps talking to us is never declared dead by us; its incarnation still has to rise
 *     for the suspicion to clear, so views converge once it refutes.
 *   - No reclaim of dead entries (memberlist's GossipToTheDeadTime): entries live exactly as
 *     long as the view's membership does; `deadNodeReclaimMs` is left to the engine.
 */
import type { Clock } from '../clock.js'
import { TypedEventTarget } from '../events.js'
import type { Key } from '../identity/key.js'
import { MAX_COUNTER } from '../membership/op.js'
import { base64Order, byWgKey } from '../membership/wg-order.js'
import type { Random } from '../random.js'
import { Awareness } from './awareness.js'
import { suspicionConfirmations, suspicionTimeoutAfterMs, type GossipConfig } from './config.js'
import { Suspicion } from './suspicion.js'

export type LivenessState = 'alive' | 'suspect' | 'dead'

/** A snapshot of one member's entry. */
export interface MemberLiveness {
  readonly key: Key
  readonly state: LivenessState
  readonly incarnation: number
  /** clock.now() when `state` or `incarnation` last changed (or the member was added). */
  readonly stateChangeMs: number
}

/** What to gossip: an alive / suspect / dead claim about `key` at `incarnation`, raised by `from`. */
export interface LivenessBroadcast {
  readonly type: LivenessState
  readonly key: Key
  readonly incarnation: number
  readonly from: Key
}

/** An event's detail: the member's entry after the change, and what changed it. */
export interface PeerLivenessDetail extends MemberLiveness {
  /**
   * 'claim': an alive or dead message (the method that took it returned the broadcast);
   * 'suspicion-timeout': our suspicion ran out — the engine should gossip dead at
   * `incarnation` itself, as no call returned it.
   */
  readonly cause: 'claim' | 'suspicion-timeout'
}

/** Listeners run synchronously, in the order added (inside the call or timer that caused them), and must not block. */
export interface LivenessEvents {
  /** A dead member came back (an alive message with a higher incarnation). */
  'peer:reachable': CustomEvent<PeerLivenessDetail>
  /** A member was declared dead: its suspicion ran out, or a dead message arrived. */
  'peer:unreachable': CustomEvent<PeerLivenessDetail>
}

export interface LivenessComponents {
  clock: Clock
  random: Random
}

export interface LivenessInit {
  /** Our own WireGuard public key: never probed, never suspected by us. */
  self: Key
  config: GossipConfig
  /** Our starting incarnation (restored from persistence), default 0. */
  incarnation?: number
}

/** The nacks a failed probe saw: `expected` from the peers asked to probe indirectly, `received` of them. */
export interface ProbeNacks {
  expected: number
  received: number
}

/**
 * A member as added and not changed since: alive at the incarnation it was added with. One
 * object per (key, incarnation, instant), shared by every node that added the member so (a
 * simulator's nodes add the whole org at the same instant), so a table of untouched members
 * costs a map entry each. The first change makes it an `Entry` (`touch`).
 */
interface Seed {
  readonly key: Key
  readonly incarnation: number
  readonly stateChangeMs: number
}

/** The last few seeds made for each key, process-wide (a warm start makes two: added, then its state's incarnation). */
const seeds = new WeakMap<Key, Seed[]>()
const SEEDS_PER_KEY = 4

function seedOf (key: Key, incarnation: number, stateChangeMs: number): Seed {
  let list = seeds.get(key)
  if (list === undefined) { list = []; seeds.set(key, list) }
  for (const s of list) if (s.incarnation === incarnation && s.stateChangeMs === stateChangeMs) return s
  const s = Object.freeze({ key, incarnation, stateChangeMs })
  if (list.length === SEEDS_PER_KEY) list.shift()
  list.push(s)
  return s
}

/** A member whose liveness changed since it was added (or that we heard from while suspect). */
class Entry {
  state: LivenessState = 'alive'
  suspicion: Suspicion | undefined = undefined
  /** `seq` when we last heard from it (ack or packet); compared with `suspectedSeq`. */
  heardSeq = 0
  suspectedSeq = 0
  constructor (readonly key: Key, public incarnation: number, public stateChangeMs: number) {}
}

type Slot = Entry | Seed

function stateOf (e: Slot): LivenessState { return e instanceof Entry ? e.state : 'alive' }

export class Liveness extends TypedEventTarget<LivenessEvents> {
  readonly awareness: Awareness
  private readonly clock: Clock
  private readonly random: Random
  private readonly self: Key
  private readonly cfg: GossipConfig
  private readonly table = new Map<string, Slot>()
  private ownIncarnation: number
  /** The probe order of this pass (map keys); may hold dead or removed members, skipped. */
  private order: string[] = []
  private index = 0
  /** Member map keys in wg key order (the ring every node shares); rebuilt after a change. */
  private ring: string[] | undefined
  /** The ring as the engine's member index holds it (`useRing`), shared, not copied. */
  private sharedRing: readonly Key[] | undefined
  /** Probes opened so far, for `ringProbeEvery`. */
  private probes = 0
  private probe: { id: string, resolved: boolean } | undefined
  /** An event counter: orders "heard from" against "suspected since" without relying on clock ties. */
  private seq = 0
  private stopped = false

  constructor (components: LivenessComponents, init: LivenessInit) {
    super()
    this.clock = components.clock
    this.random = components.random
    this.self = init.self
    this.cfg = init.config
    const inc = init.incarnation ?? 0
    if (!validIncarnation(inc)) throw new RangeError(`incarnation must be an integer in [0, ${MAX_COUNTER}], got ${inc}`)
    this.ownIncarnation = inc
    this.awareness = new Awareness(init.config.awarenessMaxMultiplier)
  }

  /** Our own incarnation: raised only by refutation. */
  get incarnation (): number { return this.ownIncarnation }

  /** Lifeguard's local health score (0 is healthy). */
  get health (): number { return this.awareness.score }

  /** N for the suspicion formulas: the members we know, ourselves included. */
  get size (): number { return this.table.size + 1 }

  /** The probe interval, ms, scaled by health: probeIntervalMs × (health + 1). */
  probeIntervalMs (): number { return this.awareness.scale(this.cfg.probeIntervalMs) }

  /** How long to wait for a direct ack, ms, scaled by health: probeTimeoutMs × (health + 1). */
  probeTimeoutMs (): number { return this.awareness.scale(this.cfg.probeTimeoutMs) }

  get (key: Key): MemberLiveness | undefined {
    const e = this.table.get(key.mapKey)
    return e === undefined ? undefined : snapshot(e)
  }

  /** Every member's entry, in insertion order. */
  members (): MemberLiveness[] { return [...this.table.values()].map(snapshot) }

  /** A member the view added: alive at `incarnation`. Returns false for ourselves, a known member or a bad incarnation. */
  addMember (key: Key, incarnation = 0): boolean {
    const id = key.mapKey
    if (key.equals(this.self) || this.table.has(id) || !validIncarnation(incarnation)) return false
    this.table.set(id, seedOf(key, incarnation, this.clock.now()))
    this.ring = undefined
    // Into a random slot of what is left of this pass, so it is probed in this pass (memberlist
    // puts it anywhere in the list, which may leave it unprobed for up to two passes).
    const at = this.index + this.random.int(this.order.length - this.index + 1)
    this.order.splice(at, 0, id)
    return true
  }

  /**
   * `addMember` for each, in order, with the same outcome (the same random draws, the same
   * probe order) in O(n log n) instead of a splice each: a node that starts knowing 10,000
   * members would otherwise move 5 × 10^7 array slots.
   */
  addMembers (list: ReadonlyArray<readonly [Key, number]>): void {
    const added: string[] = []
    const at: number[] = []
    const now = this.clock.now()
    const prefix = this.order.length
    for (const [key, incarnation] of list) {
      const id = key.mapKey
      if (id === this.self.mapKey || this.table.has(id) || !validIncarnation(incarnation)) continue
      this.table.set(id, seedOf(key, incarnation, now))
      // The slot addMember would splice into, in the order as it then was.
      at.push(this.index + this.random.int(prefix + added.length - this.index + 1))
      added.push(id)
    }
    if (added.length === 0) return
    this.ring = undefined
    this.order = spliceAll(this.order, added, at)
  }

  /** A member the view removed: its entry and timer go. Returns false if it was unknown. */
  removeMember (key: Key): boolean {
    const id = key.mapKey
    const e = this.table.get(id)
    if (e === undefined) return false
    if (e instanceof Entry) e.suspicion?.cancel()
    this.table.delete(id)
    this.ring = undefined
    const at = this.order.indexOf(id)
    if (at >= 0) {
      this.order.splice(at, 1)
      if (at < this.index) this.index--
    }
    if (this.probe?.id === id) this.probe = undefined
    return true
  }

  /**
   * The next member to probe, opening a new probe period for it (the previous period ends
   * unresolved if the engine never reported it); undefined when no member is alive or suspect.
   */
  probeTarget (): MemberLiveness | undefined {
    this.probe = undefined
    const every = this.cfg.ringProbeEvery
    if (every > 0 && ++this.probes % every === 0) {
      const next = this.ringSuccessor()
      if (next !== undefined) {
        this.probe = { id: next.key.mapKey, resolved: false }
        return snapshot(next)
      }
    }
    let reshuffled = false
    for (;;) {
      if (this.index >= this.order.length) {
        if (reshuffled) return undefined
        this.reshuffle()
        reshuffled = true
        continue
      }
      const id = this.order[this.index++]
      const e = this.table.get(id)
      if (e === undefined || stateOf(e) === 'dead') continue
      this.probe = { id, resolved: false }
      return snapshot(e)
    }
  }

  /** Whether the open probe period is `key`'s and is closed already (an ack or any packet came). */
  isProbeResolved (key: Key): boolean { return this.probe?.id === key.mapKey && this.probe.resolved }

  /** An ack (direct, or relayed by an indirect prober) for `key`. True if it closed the current probe period. */
  onAck (key: Key): boolean {
    return this.onAnyPacket(key)
  }

  /**
   * Any authenticated gossip packet from `key`. It counts as the member's ack in the current
   * probe period (true if it closed the period as a success), and as evidence against a
   * running suspicion (see the deviations above).
   */
  onAnyPacket (key: Key): boolean {
    const id = key.mapKey
    const e = this.table.get(id)
    if (e === undefined) return false
    // Only a suspicion reads it, and a suspicion makes an Entry: an untouched member needs none.
    const seq = ++this.seq
    if (e instanceof Entry) e.heardSeq = seq
    if (this.probe?.id !== id || this.probe.resolved) return false
    this.probe.resolved = true
    this.awareness.applyDelta(-1)
    return true
  }

  /**
   * The current probe of `key` got no ack, direct or indirect. Updates our health by the
   * missing nacks and suspects the member; returns the suspect broadcast, or undefined if
   * `key` is not the open probe period's target or it was already acked in this period.
   */
  onProbeFailed (key: Key, nacks: ProbeNacks = { expected: 0, received: 0 }): LivenessBroadcast | undefined {
    const id = key.mapKey
    const e = this.table.get(id)
    if (e === undefined || this.probe?.id !== id || this.probe.resolved) return undefined
    this.probe.resolved = true
    const expected = Math.max(0, Math.floor(nacks.expected))
    this.awareness.applyDelta(expected > 0 ? Math.max(0, expected - Math.max(0, Math.floor(nacks.received))) : 1)
    return this.suspect(id, e, e.incarnation, this.self)
  }

  /** An alive claim. About ourselves with a higher incarnation (our own stale past): refute. */
  onAlive (key: Key, incarnation: number): LivenessBroadcast | undefined {
    if (!validIncarnation(incarnation)) return undefined
    if (key.mapKey === this.self.mapKey) return incarnation > this.ownIncarnation ? this.refute(incarnation) : undefined
    const slot = this.table.get(key.mapKey)
    if (slot === undefined || incarnation <= slot.incarnation) return undefined
    if (!(slot instanceof Entry)) {
      // Alive, now at a higher incarnation since this instant: a seed still.
      this.table.set(key.mapKey, seedOf(slot.key, incarnation, this.clock.now()))
      return { type: 'alive', key: slot.key, incarnation, from: slot.key }
    }
    const e = slot
    const wasDead = e.state === 'dead'
    this.clearSuspicion(e)
    this.setState(e, 'alive', incarnation)
    if (wasDead) this.emit('peer:reachable', { ...snapshot(e), cause: 'claim' })
    return { type: 'alive', key: e.key, incarnation, from: e.key }
  }

  /**
   * A suspect claim raised or confirmed by `from`. About ourselves (at ≥ our incarnation):
   * refute, returning the alive broadcast. About a member: start a suspicion, or count a
   * confirmation of the running one; returns the suspect broadcast to re-gossip if it was news.
   */
  onSuspect (key: Key, incarnation: number, from: Key): LivenessBroadcast | undefined {
    if (!validIncarnation(incarnation)) return undefined
    if (key.equals(this.self)) return incarnation >= this.ownIncarnation ? this.refute(incarnation) : undefined
    const e = this.table.get(key.mapKey)
    return e === undefined ? undefined : this.suspect(key.mapKey, e, incarnation, from)
  }

  /** A dead claim. About ourselves (at ≥ our incarnation): refute. About a member: it is dead now. */
  onDead (key: Key, incarnation: number, from: Key = this.self): LivenessBroadcast | undefined {
    if (!validIncarnation(incarnation)) return undefined
    if (key.equals(this.self)) return incarnation >= this.ownIncarnation ? this.refute(incarnation) : undefined
    const slot = this.table.get(key.mapKey)
    if (slot === undefined || incarnation < slot.incarnation || stateOf(slot) === 'dead') return undefined
    const e = this.touch(key.mapKey, slot)
    this.clearSuspicion(e)
    this.die(e, incarnation, 'claim')
    return { type: 'dead', key: e.key, incarnation, from }
  }

  /** Undoes `stop()`: suspicion timers are started again. Idempotent. */
  start (): void { this.stopped = false }

  /** Cancels every timer this instance scheduled; afterwards no new suspicion timer is started (until `start()`). Idempotent. */
  stop (): void {
    this.stopped = true
    for (const e of this.table.values()) if (e instanceof Entry) this.clearSuspicion(e)
    this.probe = undefined
  }

  /** The member's Entry, made from its seed (in place: the table keeps its order) if it has none yet. */
  private touch (id: string, slot: Slot): Entry {
    if (slot instanceof Entry) return slot
    const e = new Entry(slot.key, slot.incarnation, slot.stateChangeMs)
    this.table.set(id, e)
    return e
  }

  private suspect (id: string, slot: Slot, incarnation: number, from: Key): LivenessBroadcast | undefined {
    if (incarnation < slot.incarnation) return undefined
    const state = stateOf(slot)
    if (state === 'dead') return undefined
    const e = this.touch(id, slot)
    if (e.state === 'suspect') {
      // Only an independent confirmation is news; after stop() there is no timer to shorten.
      return e.suspicion?.confirm(from) === true ? { type: 'suspect', key: e.key, incarnation, from } : undefined
    }
    this.setState(e, 'suspect', incarnation)
    this.startSuspicion(e, from)
    return { type: 'suspect', key: e.key, incarnation, from }
  }

  private startSuspicion (e: Entry, from: Key): void {
    if (this.stopped) return
    const n = this.size // fixed for this suspicion's life, as memberlist does
    e.suspectedSeq = ++this.seq
    const s: Suspicion = new Suspicion(this.clock, {
      from,
      expected: suspicionConfirmations(this.cfg, n),
      timeoutAfterMs: c => suspicionTimeoutAfterMs(this.cfg, n, c),
      onTimeout: () => this.suspicionExpired(e, s)
    })
    e.suspicion = s
  }

  private suspicionExpired (e: Entry, s: Suspicion): void {
    if (this.table.get(e.key.mapKey) !== e || e.suspicion !== s || e.state !== 'suspect') return
    e.suspicion = undefined
    if (e.heardSeq > e.suspectedSeq) {
      this.startSuspicion(e, this.self) // it talked to us since: not dead, still suspect
      return
    }
    this.die(e, e.incarnation, 'suspicion-timeout')
  }

  private refute (accused: number): LivenessBroadcast | undefined {
    if (accused >= MAX_COUNTER) return undefined
    this.ownIncarnation = Math.max(this.ownIncarnation, accused) + 1
    this.awareness.applyDelta(1)
    return { type: 'alive', key: this.self, incarnation: this.ownIncarnation, from: this.self }
  }

  private die (e: Entry, incarnation: number, cause: PeerLivenessDetail['cause']): void {
    this.setState(e, 'dead', incarnation)
    this.emit('peer:unreachable', { ...snapshot(e), cause })
  }

  private clearSuspicion (e: Entry): void {
    e.suspicion?.cancel()
    e.suspicion = undefined
  }

  private setState (e: Entry, state: LivenessState, incarnation: number): void {
    e.state = state
    e.incarnation = incarnation
    e.stateChangeMs = this.clock.now()
  }

  /**
   * Takes the ring from a list of member keys in key order that the caller keeps in step
   * with the members (the engine's member index, which thousands of simulated nodes share):
   * no sorted copy per node, and no re-sort after each change. Entries that are not members
   * here (ourselves) are skipped.
   */
  useRing (keys: readonly Key[]): void {
    this.sharedRing = keys
    this.ring = undefined
  }

  /** The first member after us in wg key order that is not dead (wrapping), or undefined. */
  private ringSuccessor (): Slot | undefined {
    const ring: ReadonlyArray<string | Key> = this.sharedRing ?? (this.ring ??= [...this.table.keys()].sort(compareWgKeys))
    const at = (i: number): string => { const k = ring[i]; return typeof k === 'string' ? k : k.mapKey }
    const me = this.self.mapKey
    const om = base64Order(me)
    let lo = 0
    let hi = ring.length
    while (lo < hi) { const mid = (lo + hi) >> 1; const k = at(mid); if (byWgKey(base64Order(k), k, om, me) <= 0) lo = mid + 1; else hi = mid }
    for (let i = 0; i < ring.length; i++) {
      const e = this.table.get(at((lo + i) % ring.length))
      if (e !== undefined && stateOf(e) !== 'dead') return e
    }
    return undefined
  }

  /** A new pass: every member, Fisher–Yates shuffled with the injected Random. */
  private reshuffle (): void {
    const order = [...this.table.keys()]
    for (let i = order.length - 1; i > 0; i--) {
      const j = this.random.int(i + 1)
      const t = order[i]; order[i] = order[j]; order[j] = t
    }
    this.order = order
    this.index = 0
  }
}

/** Map keys in wg key order (their base64 text's), as `Replica.members()` lists members. */
function compareWgKeys (a: string, b: string): number { return byWgKey(base64Order(a), a, base64Order(b), b) }

/**
 * `order` after splicing `ids[i]` in at `at[i]` (a slot of the array as it was then), for
 * i = 0, 1, …: the last one lands at its slot, each earlier one at its slot among those the
 * later ones left free (a Fenwick tree finds it), and the old entries fill the rest in order.
 */
function spliceAll (order: readonly string[], ids: readonly string[], at: readonly number[]): string[] {
  const n = order.length + ids.length
  const tree = new Int32Array(n + 1)
  for (let i = 1; i <= n; i++) { tree[i]++; const j = i + (i & -i); if (j <= n) tree[j] += tree[i] }
  let top = 1
  while (top * 2 <= n) top *= 2
  const out: Array<string | undefined> = new Array(n)
  for (let i = ids.length - 1; i >= 0; i--) {
    // The (at[i] + 1)-th free slot.
    let pos = 0
    let rest = at[i] + 1
    for (let step = top; step > 0; step >>= 1) {
      if (pos + step <= n && tree[pos + step] < rest) { pos += step; rest -= tree[pos] }
    }
    out[pos] = ids[i]
    for (let j = pos + 1; j <= n; j += j & -j) tree[j]--
  }
  let k = 0
  for (let i = 0; i < n; i++) if (out[i] === undefined) out[i] = order[k++]
  return out as string[]
}

function validIncarnation (i: number): boolean {
  return Number.isSafeInteger(i) && i >= 0 && i <= MAX_COUNTER
}

function snapshot (e: Slot): MemberLiveness {
  return { key: e.key, state: stateOf(e), incarnation: e.incarnation, stateChangeMs: e.stateChangeMs }
}
