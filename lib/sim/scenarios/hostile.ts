/**
 * `hostile`: one member floods crafted ops at its whole gossip budget while an honest admin
 * keeps changing the membership and one node sits behind a partition (issue 11's acceptance).
 *
 *   [0, settle)               the org runs
 *   settle                    the flood starts: attacker A (a random member, never the root)
 *                             pushes one gossip payload of fresh crafted ops to `fanout`
 *                             random peers every gossipIntervalMs, on top of its normal gossip
 *                             (one shape of lib/sim/hostile-ops.ts per payload, in turn)
 *   settle + g/2              victim V (another random member) is cut off alone
 *   settle + g·j, j = 1 … k   the root enrolls a new member (odd j) or revokes a random member
 *                             (even j); g = floodMs / (k + 2)
 *   settle + g·(k + 1)        the root revokes A (A floods on: a revoked key that keeps talking)
 *   settle + floodMs          the flood stops; V's partition heals
 *   … until healed            V lists the root's members and holds the root's whole chain;
 *                             at most maxHealWaitMs
 *
 * How A floods: crafted ops go into A's own broadcast queue and A runs a gossip round at once
 * (`gossiper.queue.enqueue` + `gossiper.gossipRound()`), so they leave as real `gossip`
 * packets sealed by A's sealer, from A's socket, under A's epoch and counter: receivers
 * cannot tell them from A's honest gossip. Left in the queue, they also ride A's normal rounds
 * and pings as retransmits, as any queued op would. A's replica never sees them (a hostile node
 * does not need its own log to hold what it sends), so a pull from A returns none of them.
 *
 * Figures, per seed and pooled:
 * - `rounds`: each honest change (enrolment, revocation, A's revocation) from its step to the
 *   last expected node's `peer:add` / `peer:remove`, in gossip intervals. Expected nodes: live
 *   ones that have joined when the change starts (for a revocation: that list its subject
 *   then), less its subject and V (V is measured by healing). Target: p99 over changes ≤ 4
 *   rounds.
 * - `encodeErrors`: the sum over every running node of `gossiper.stats().encodeErrors` (every
 *   message the gossiper failed to encode: a digest or pull, a reply page, a ping or gossip).
 *   Target: 0.
 * - `healMs`: heal → V healed (above), against `antiEntropyMs` = pushPullIntervalFor(cfg, live N).
 *   Target: healMs ≤ antiEntropyMs.
 * - `storedNeverValidBytes`: per node, the wire bytes of A's crafted ops in its op log (at
 *   flood end and at the end); the max over nodes. `parkedMax`: the most ops a node holds
 *   waiting for their past (`replica.pending`), at the same instants.
 * - traffic per node before, during and after the flood; what A sent in its flood rounds
 *   (`floodSentBytes`, fanout × one packet per gossip interval) and in all (`attackerSentBytes`).
 */
import { pushPullIntervalFor } from '../../gossip/config.js'
import type { Key } from '../../identity/key.js'
import { HASH_PREFIX_BYTES, type Op, OpKind } from '../../membership/op.js'
import { compareBytes, toKeyString } from '../../util/bytes.js'
import { MAX_COUNTER_BYTES, MIN_HEADER_BYTES } from '../../wire/header.js'
import { TAG_BYTES } from '../../wire/seal.js'
import { type ChangeKind, type ChangeReport, ConvergenceTracker, summarize, type ConvergenceSummary, trafficRate, type TrafficWindow } from '../metrics.js'
import { ADMIN_SHAPES, ATTACK_SHAPES, type AttackShape, hostileOps } from '../hostile-ops.js'
import type { Simulation } from '../simulation.js'
import { overSeeds, runStats, type RunStats, SETTLE_MS } from './common.js'

export const FLOOD_MS = 60_000
/** Honest changes during the flood besides A's revocation: enrolments and revocations alternating. */
export const HOSTILE_CHANGES = 8
export const HOSTILE_ROUNDS_TARGET = 4
/** Per-item framing in a gossip message (varuint length ‖ kind, for items ≤ 4 KB). */
const ITEM_OVERHEAD_BYTES = 2

export interface HostileInit {
  settleMs?: number
  /** How long A floods, ms. Default 60 000. */
  floodMs?: number
  /** Honest changes during the flood (odd: enrol, even: revoke), then A's revocation. Default 8. */
  changes?: number
  /** Longest wait after heal for V, ms. Default 2 anti-entropy periods. */
  maxHealWaitMs?: number
  /** The attack shapes A takes turns at (hostile-ops.ts), until revoked. Default every shape a plain member can send. */
  shapes?: readonly AttackShape[]
}

export interface HostileRun extends RunStats {
  attacker: number
  victim: number
  floodStartMs: number
  floodMs: number
  /** Crafted ops A generated and pushed into its queue, and their bytes. */
  craftedOps: number
  craftedBytes: number
  /** What A's flood rounds sent, and all A's gossiper sent during the flood (its honest traffic included). */
  floodSentBytes: number
  attackerSentBytes: number
  gossipIntervalMs: number
  /** The honest changes (A's revocation last), each to every expected node. */
  changes: Array<Omit<ChangeReport, 'delaysMs'>>
  /** Over those changes: roundsP50, roundsP99 … */
  rounds: ConvergenceSummary
  encodeErrors: number
  nodesWithEncodeErrors: number
  antiEntropyMs: number
  /** Heal → V healed; null if not within maxHealWaitMs. */
  healMs: number | null
  /** Heal → V's digest equals the root's (informative: crafted ops count in digests). */
  digestMatchMs: number | null
  storedNeverValidBytes: { atFloodEndMax: number, atEndMax: number, nodesHoldingAny: number }
  parkedMax: { atFloodEnd: number, atEnd: number }
  traffic: { settle: TrafficWindow, flood: TrafficWindow, afterHeal: TrafficWindow }
  /** The command that runs this seed alone. */
  replay: string
}

export async function hostileScenario (sim: Simulation, init: HostileInit = {}): Promise<HostileRun> {
  const floodMs = init.floodMs ?? FLOOD_MS
  const k = init.changes ?? HOSTILE_CHANGES
  const gapMs = Math.floor(floodMs / (k + 2))
  await sim.start()
  await sim.run(init.settleMs ?? SETTLE_MS)
  const attacker = sim.pickMember()
  const victim = sim.pickMember([attacker])
  const tracked = new Tracked(sim, victim)
  const floodStartMs = sim.elapsedMs
  const atStart = sim.sentTotals()
  const attackerAtStart = sim.meshOf(attacker).gossiper.stats().sentBytes
  const source = craftedOps(sim, attacker, init.shapes)
  const flood = new Flood(sim, attacker, source)
  flood.start(floodStartMs + floodMs)
  try {
    await sim.run(Math.floor(gapMs / 2))
    sim.partition([[victim], sim.live().filter(i => i !== victim)])
    const joiners: number[] = []
    for (let j = 1; j <= k; j++) {
      await sim.run(floodStartMs + j * gapMs - sim.elapsedMs)
      if (j % 2 === 1) {
        tracked.begin('enroll', sim.size)
        const joiner = await sim.enroll()
        joiners.push(joiner)
        tracked.listen(joiner)
      } else {
        const target = sim.pickMember([attacker, victim, ...joiners])
        tracked.begin('revoke', target)
        await sim.revoke(target)
      }
    }
    await sim.run(floodStartMs + (k + 1) * gapMs - sim.elapsedMs)
    tracked.begin('revoke', attacker)
    await sim.revoke(attacker)
    source.revoked()
    await sim.run(floodStartMs + floodMs - sim.elapsedMs)
  } finally {
    flood.stop()
  }
  const atFloodEnd = sim.sentTotals()
  const attackerSentBytes = sim.meshOf(attacker).gossiper.stats().sentBytes - attackerAtStart
  const storedAtFloodEnd = flood.stored()

  sim.heal()
  const healedAtMs = sim.elapsedMs
  const antiEntropyMs = pushPullIntervalFor(sim.gossipConfig, sim.live().length)
  const watch = new VictimWatch(sim, victim)
  let digestMatchMs: number | null = null
  const healed = await sim.runUntil(() => {
    if (!watch.check()) return false
    if (watch.digestMatches) digestMatchMs ??= sim.elapsedMs - healedAtMs
    return watch.healed
  }, init.maxHealWaitMs ?? 2 * antiEntropyMs)
  const healMs = healed ? sim.elapsedMs - healedAtMs : null
  if (digestMatchMs === null && watch.digestMatches) digestMatchMs = sim.elapsedMs - healedAtMs
  const storedAtEnd = flood.stored()

  const nodes = sim.live().length
  const window = (from: { bytes: number, packets: number }, to: { bytes: number, packets: number }, ms: number): TrafficWindow =>
    trafficRate(to.bytes - from.bytes, to.packets - from.packets, nodes, ms)
  const reports = tracked.report()
  let encodeErrors = 0
  let nodesWithEncodeErrors = 0
  // Nobody is killed here: every node made, revoked ones included, still runs its gossiper.
  for (let i = 0; i < sim.size; i++) {
    const e = sim.meshOf(i).gossiper.stats().encodeErrors
    encodeErrors += e
    if (e > 0) nodesWithEncodeErrors++
  }
  return {
    ...runStats(sim),
    attacker,
    victim,
    floodStartMs,
    floodMs,
    craftedOps: flood.ops,
    craftedBytes: flood.bytes,
    floodSentBytes: flood.sentBytes,
    attackerSentBytes,
    gossipIntervalMs: sim.gossipIntervalMs,
    changes: reports.map(({ delaysMs: _, ...c }) => c),
    rounds: summarize(reports, sim.gossipIntervalMs),
    encodeErrors,
    nodesWithEncodeErrors,
    antiEntropyMs,
    healMs,
    digestMatchMs,
    storedNeverValidBytes: { atFloodEndMax: storedAtFloodEnd.maxBytes, atEndMax: storedAtEnd.maxBytes, nodesHoldingAny: storedAtEnd.nodesHolding },
    parkedMax: { atFloodEnd: storedAtFloodEnd.maxParked, atEnd: storedAtEnd.maxParked },
    traffic: {
      settle: window({ bytes: 0, packets: 0 }, atStart, floodStartMs),
      flood: window(atStart, atFloodEnd, floodMs),
      afterHeal: window(atFloodEnd, sim.sentTotals(), sim.elapsedMs - healedAtMs)
    },
    replay: replayCommand(sim, init)
  }
}

/** `wiremesh sim …` for this seed alone, with every argument its result depends on. */
function replayCommand (sim: Simulation, init: HostileInit): string {
  const r = sim.result()
  const latency = r.latencyMs === 'custom' ? '' : ` --latency-ms ${r.latencyMs.join(',')}`
  const own = [init.settleMs === undefined ? '' : ` --settle-ms ${init.settleMs}`, init.floodMs === undefined ? '' : ` --flood-ms ${init.floodMs}`].join('')
  return `wiremesh sim --scenario hostile --nodes ${r.nodes} --loss ${r.lossRate}${latency} --preset ${r.preset} --sealer ${r.sealer}${own} --seed ${r.seed}`
}

/**
 * The honest changes, tracked apart from the simulation's own tracker: V is left out of the
 * expected nodes (it is measured by healing), and so is a joiner still syncing when a change
 * starts. A revocation is expected only at nodes that list its subject when it starts: a
 * joiner whose sync brings the enrolment and the revocation together never lists the subject,
 * so it has no `peer:remove` to observe (with the flood, a joiner 1 s old often has not).
 */
class Tracked {
  private readonly tracker = new ConvergenceTracker()

  constructor (private readonly sim: Simulation, private readonly victim: number) {
    for (const i of sim.live()) this.listen(i)
  }

  listen (i: number): void {
    const mesh = this.sim.meshOf(i)
    mesh.addEventListener('peer:add', e => { this.observe('enroll', e.detail.wgPublicKey, i) })
    mesh.addEventListener('peer:remove', e => { this.observe('revoke', e.detail.peer.wgPublicKey, i) })
  }

  begin (kind: ChangeKind, subject: number): void {
    const key = kind === 'revoke' ? this.sim.keyOf(subject) : undefined
    const expected = this.sim.live().filter(i => i !== this.victim && this.sim.hasJoined(i) &&
      (key === undefined || this.sim.meshOf(i).replica.member(key) !== undefined))
    this.tracker.start(kind, subject, this.sim.elapsedMs, expected)
  }

  report (): ReturnType<ConvergenceTracker['report']> {
    return this.tracker.report(i => this.sim.isLive(i), this.sim.gossipIntervalMs)
  }

  private observe (kind: ChangeKind, key: Key, node: number): void {
    const subject = this.sim.indexOf(key)
    if (subject !== undefined) this.tracker.observe(kind, subject, node, this.sim.elapsedMs)
  }
}

/** A source of crafted ops: `next(budget)` returns wire ops whose items fit `budget` bytes. */
export interface CraftedOps {
  next (budgetBytes: number): Uint8Array[]
  /** A has been revoked: what a revoked key sends from now on. */
  revoked (): void
  /** Map keys of the ids of every op returned so far. */
  readonly ids: ReadonlyMap<string, number>
}

/** A's flood: one payload of fresh crafted ops into its queue and a gossip round, every gossip interval. */
class Flood {
  ops = 0
  bytes = 0
  sentBytes = 0
  private timer: ReturnType<Simulation['clock']['schedule']> | undefined
  private readonly budget: number

  constructor (private readonly sim: Simulation, private readonly attacker: number, private readonly source: CraftedOps) {
    const mesh = sim.meshOf(attacker)
    const packet = Math.min(sim.gossipConfig.maxPacketBytes, mesh.transport.maxPacketBytes)
    // The gossiper's own payload budget for a gossip message, less its 1-byte item count.
    this.budget = packet - (MIN_HEADER_BYTES + MAX_COUNTER_BYTES - 1) - TAG_BYTES - 1
  }

  start (untilMs: number): void {
    const tick = (): void => {
      this.timer = undefined
      if (this.sim.elapsedMs >= untilMs) return
      const gossiper = this.sim.meshOf(this.attacker).gossiper
      for (const bytes of this.source.next(this.budget)) {
        gossiper.queue.enqueue({ bytes })
        this.ops++
        this.bytes += bytes.length
      }
      const before = gossiper.stats().sentBytes
      gossiper.gossipRound()
      this.sentBytes += gossiper.stats().sentBytes - before
      this.timer = this.sim.clock.schedule(tick, this.sim.gossipIntervalMs)
    }
    tick()
  }

  stop (): void {
    if (this.timer !== undefined) this.sim.clock.cancel(this.timer)
    this.timer = undefined
  }

  /** The crafted bytes each running node's log holds (the max), how many hold any, and the most parked ops. */
  stored (): { maxBytes: number, nodesHolding: number, maxParked: number } {
    const byLog = new Map<unknown, number>()
    let maxBytes = 0
    let nodesHolding = 0
    let maxParked = 0
    for (let i = 0; i < this.sim.size; i++) {
      if (i === this.attacker) continue
      const replica = this.sim.meshOf(i).replica
      const log = replica.log
      let b = byLog.get(log)
      if (b === undefined) {
        b = 0
        for (const [id, len] of this.source.ids) if (log.byId.has(id)) b += len
        byLog.set(log, b)
      }
      if (b > 0) nodesHolding++
      maxBytes = Math.max(maxBytes, b)
      maxParked = Math.max(maxParked, replica.pending)
    }
    return { maxBytes, nodesHolding, maxParked }
  }
}

/** Whether V has healed: it lists the root's members and holds the root's chain up to its head. */
class VictimWatch {
  healed = false
  digestMatches = false
  private dirty = true
  private readonly rootView: string
  private readonly rootHead: number
  private readonly rootSign: Key

  constructor (private readonly sim: Simulation, private readonly victim: number) {
    const root = sim.meshOf(0)
    this.rootView = root.replica.viewFingerprint()
    this.rootSign = root.identity.signPublicKey
    this.rootHead = root.replica.log.chainOf(this.rootSign)?.maxSeq ?? 0
    sim.meshOf(victim).addEventListener('sync', () => { this.dirty = true })
    root.addEventListener('sync', () => { this.dirty = true })
  }

  /** Re-reads V after its log (or the root's) changed; true when anything is worth reporting. */
  check (): boolean {
    if (!this.dirty) return false
    this.dirty = false
    const v = this.sim.meshOf(this.victim).replica
    const root = this.sim.meshOf(0).replica
    this.digestMatches = compareBytes(v.digest(), root.digest()) === 0
    this.healed ||= (v.log.chainOf(this.rootSign)?.maxSeq ?? 0) >= this.rootHead && v.viewFingerprint() === this.rootView
    return true
  }
}

// ---- crafted ops ------------------------------------------------------------------------

/** What a plain member can send (hostile-ops.ts); `fork` and `admin-key-chain` need an admin. */
export const MEMBER_SHAPES: readonly AttackShape[] = ATTACK_SHAPES.filter(s => !ADMIN_SHAPES.has(s) && s !== 'revoked-writes')

/**
 * A's crafted ops (lib/sim/hostile-ops.ts): each tick fills the payload from the next of
 * `shapes` in turn, and once A is revoked (`revoked()`), from `revoked-writes` alone. Every
 * stream is started at the flood's start, on A's replica then, so each begins its own branch
 * at A's chain head: the mix equivocates too, never validly. One op is left out: A's own
 * leave naming its live enroll (from `leave-flood`), the one valid op a member's shapes hold,
 * which would take A out of the org before the root revokes it.
 */
export function craftedOps (sim: Simulation, attacker: number, shapes: readonly AttackShape[] = MEMBER_SHAPES): CraftedOps {
  const mesh = sim.meshOf(attacker)
  const seed = sim.result().seed
  const streams = (list: readonly AttackShape[]): Array<{ ops: Iterator<Op>, next: Op | undefined }> => list.map((shape, j) => {
    const ops = hostileOps(shape, { replica: mesh.replica, signer: mesh.identity.signer, seed: (seed ^ (0x686f7374 + j)) >>> 0 }, Infinity)
    return { ops, next: ops.next().value ?? undefined }
  })
  const member = streams(shapes)
  const revoked = streams(['revoked-writes'])
  const ownEnroll = mesh.replica.liveEnroll(mesh.identity.wgPublicKey)
  const leavesOwn = (op: Op): boolean => op.payload.kind === OpKind.leave && ownEnroll !== undefined &&
    op.payload.leave.subject.equals(mesh.identity.wgPublicKey) && op.deps.length === 1 &&
    compareBytes(op.deps[0].hash.subarray(0, HASH_PREFIX_BYTES), ownEnroll.id.subarray(0, HASH_PREFIX_BYTES)) === 0
  const ids = new Map<string, number>()
  let turn = 0
  let afterRevoke = false
  return {
    ids,
    revoked () { afterRevoke = true },
    next (budgetBytes) {
      const pool = afterRevoke ? revoked : member.filter(s => s.next !== undefined)
      if (pool.length === 0) return []
      const s = pool[turn++ % pool.length]
      const out: Uint8Array[] = []
      let room = budgetBytes
      while (s.next !== undefined && s.next.wire.length + ITEM_OVERHEAD_BYTES <= room) {
        const op = s.next
        s.next = s.ops.next().value ?? undefined
        if (leavesOwn(op)) continue
        room -= op.wire.length + ITEM_OVERHEAD_BYTES
        out.push(op.wire)
        ids.set(toKeyString(op.id), op.wire.length)
      }
      return out
    }
  }
}

// ---- pooling ----------------------------------------------------------------------------

export interface HostileSummary {
  floodMs: number
  /** Over every honest change of every seed. */
  rounds: ConvergenceSummary
  encodeErrors: number
  /** The slowest seed's healMs (null if one never healed), and the median. */
  healMs: number | null
  healMsP50: number | null
  antiEntropyMs: number
  storedNeverValidBytesMax: number
  bytesPerNodePerSecDuringFlood: number
  ok: boolean
}

export function summarizeHostile (runs: readonly HostileRun[]): HostileSummary {
  const rounds = summarize(runs.flatMap(r => r.changes.map(c => ({ ...c, delaysMs: [] }))), runs[0]?.gossipIntervalMs ?? 1)
  const heal = overSeeds(runs.map(r => r.healMs))
  const antiEntropyMs = Math.min(...runs.map(r => r.antiEntropyMs))
  const encodeErrors = runs.reduce((s, r) => s + r.encodeErrors, 0)
  return {
    floodMs: runs[0]?.floodMs ?? FLOOD_MS,
    rounds,
    encodeErrors,
    healMs: heal.max,
    healMsP50: heal.p50,
    antiEntropyMs,
    storedNeverValidBytesMax: Math.max(0, ...runs.map(r => r.storedNeverValidBytes.atEndMax)),
    bytesPerNodePerSecDuringFlood: runs.reduce((s, r) => s + r.traffic.flood.bytesPerNodePerSec, 0) / Math.max(1, runs.length),
    ok: rounds.roundsP99 !== null && rounds.roundsP99 <= HOSTILE_ROUNDS_TARGET && encodeErrors === 0 && heal.max !== null && heal.max <= antiEntropyMs
  }
}

export function hostileLines (s: HostileSummary, runs: readonly HostileRun[]): string[] {
  const f = (x: number | null, d = 2): string => x === null ? 'never' : x.toFixed(d)
  const ms = (x: number | null): string => x === null ? 'never' : `${Math.round(x)} ms`
  const kb = (w: TrafficWindow): string => `${(w.bytesPerNodePerSec / 1000).toFixed(2)} kB/s`
  const lines = [
    `flood:            ${s.floodMs} ms by one member at its gossip budget, ${runs.reduce((n, r) => n + r.craftedOps, 0)} crafted ops over ${runs.length} seed(s)`,
    `honest changes:   rounds to every node p50 ${f(s.rounds.roundsP50)}, p99 ${f(s.rounds.roundsP99)} over ${s.rounds.changes} (target p99 <= ${HOSTILE_ROUNDS_TARGET}: ${s.rounds.roundsP99 !== null && s.rounds.roundsP99 <= HOSTILE_ROUNDS_TARGET ? 'met' : 'MISSED'})`,
    `encode errors:    ${s.encodeErrors}${s.encodeErrors === 0 ? '' : ' (must be 0)'}`,
    `victim healed:    worst ${ms(s.healMs)}, p50 ${ms(s.healMsP50)} (one anti-entropy period: ${s.antiEntropyMs} ms: ${s.healMs !== null && s.healMs <= s.antiEntropyMs ? 'within' : 'MISSED'})`,
    `stored crafted:   ${s.storedNeverValidBytesMax} bytes on the worst node; ${(s.bytesPerNodePerSecDuringFlood / 1000).toFixed(2)} kB/s sent per node during the flood`
  ]
  for (const r of runs) {
    lines.push(`  seed ${r.seed}: attacker n${r.attacker}, victim n${r.victim}, rounds p50 ${f(r.rounds.roundsP50)} p99 ${f(r.rounds.roundsP99)}, encode errors ${r.encodeErrors} on ${r.nodesWithEncodeErrors} node(s), healed ${ms(r.healMs)} (digest ${ms(r.digestMatchMs)}), stored crafted max ${r.storedNeverValidBytes.atFloodEndMax} B at flood end / ${r.storedNeverValidBytes.atEndMax} B at end on ${r.storedNeverValidBytes.nodesHoldingAny} node(s), parked max ${r.parkedMax.atEnd}; sent per node: settling ${kb(r.traffic.settle)}, flood ${kb(r.traffic.flood)}, after heal ${kb(r.traffic.afterHeal)}; attacker ${(r.attackerSentBytes / r.floodMs).toFixed(2)} kB/s`)
  }
  for (const r of runs) lines.push(`replay:           ${r.replay}`)
  return lines
}

