/**
 * The SWIM probe loop (DESIGN §3 "Liveness"), driving the pure `Liveness` table with timers
 * and messages. After memberlist's `probeNode`; ours.
 *
 * Every `liveness.probeIntervalMs()` (Lifeguard-scaled; the first at a random offset so
 * nodes do not probe in lockstep):
 *   1. The previous probe period ends: if its target neither acked nor sent anything,
 *      `liveness.onProbeFailed(target, nacks)` suspects it (the engine gossips the claim).
 *   2. `liveness.probeTarget()` picks the next target; we `ping` it with a fresh seq.
 *   3. After `liveness.probeTimeoutMs()` without an ack, up to `indirectChecks` other live
 *      members get a `pingReq(seq, target)`; each pings the target itself and relays the
 *      ack, or answers `nack(seq)` if its own probe timeout passes first. Nacks tell
 *      Lifeguard whether the helpers were reachable at all (a missing nack counts against
 *      our own health, not the target's). At the same moment, and spread evenly over the
 *      rest of the interval, `fallbackPings` direct pings go to the target again with the
 *      same seq: the stand-in for memberlist's TCP fallback ping (see GossipConfig).
 * Any authenticated packet from the target closes the period as a success (the engine calls
 * `liveness.onAnyPacket` for every packet), so a node that is busy talking is never
 * suspected for a lost ack.
 *
 * Seqs are one counter for our probes and the probes we run for others, wrapping below
 * MAX_SEQ; an ack is matched by seq alone (acks are hints: a lying member can only delay a
 * suspicion, and any of its own packets would do that anyway).
 */
import type { Clock, TimerHandle } from '../clock.js'
import type { Key } from '../identity/key.js'
import type { Random } from '../random.js'
import type { LivenessBroadcast, Liveness } from './liveness.js'
import { MAX_SEQ } from './messages.js'

export interface ProberComponents {
  liveness: Liveness
  clock: Clock
  random: Random
  /** Sends a ping (the engine adds the heads hash and piggybacked news). */
  sendPing: (to: Key, seq: number) => void
  sendPingReq: (via: Key, seq: number, target: Key) => void
  sendAck: (to: Key, seq: number) => void
  sendNack: (to: Key, seq: number) => void
  /** Up to `k` distinct live members other than `exclude` (and us), chosen at random. */
  pickHelpers: (k: number, exclude: Key) => Key[]
  /** A claim the engine must gossip (a suspicion we raised). */
  broadcast: (b: LivenessBroadcast) => void
}

export interface ProberStats {
  probes: number
  indirectProbes: number
  probesFailed: number
  relayed: number
  nacksSent: number
  /** Direct pings sent again after a missed direct ack. */
  fallbackPings: number
}

interface Probe { key: Key, seq: number, nacksExpected: number, nacksReceived: number, timer: TimerHandle | undefined, retries: TimerHandle[] }
interface Relay { requester: Key, seq: number, timer: TimerHandle }

/** Relays in flight at most (each is a pingReq we are answering); beyond it new ones are refused. */
const MAX_RELAYS = 256

export class Prober {
  private readonly c: ProberComponents
  private readonly indirectChecks: number
  private readonly fallbackPings: number
  private running = false
  private tickTimer: TimerHandle | undefined
  private probe: Probe | undefined
  private readonly relays = new Map<number, Relay>()
  private seq = 0
  readonly stats: ProberStats = { probes: 0, indirectProbes: 0, probesFailed: 0, relayed: 0, nacksSent: 0, fallbackPings: 0 }

  constructor (components: ProberComponents, init: { indirectChecks: number, fallbackPings?: number }) {
    this.c = components
    this.indirectChecks = init.indirectChecks
    this.fallbackPings = init.fallbackPings ?? 0
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.tickTimer = this.c.clock.schedule(() => { this.tick() }, this.c.random.int(this.c.liveness.probeIntervalMs()))
  }

  stop (): void {
    if (!this.running) return
    this.running = false
    if (this.tickTimer !== undefined) this.c.clock.cancel(this.tickTimer)
    this.tickTimer = undefined
    if (this.probe !== undefined) this.cancelTimers(this.probe)
    this.probe = undefined
    for (const r of this.relays.values()) this.c.clock.cancel(r.timer)
    this.relays.clear()
  }

  /** An ack with `seq` arrived from `from`: ours (direct or relayed), or one to relay back. */
  onAck (from: Key, seq: number): void {
    if (this.probe !== undefined && seq === this.probe.seq) {
      this.c.liveness.onAck(this.probe.key)
      return
    }
    const r = this.relays.get(seq)
    if (r === undefined) return
    this.c.clock.cancel(r.timer)
    this.relays.delete(seq)
    this.stats.relayed++
    this.c.sendAck(r.requester, r.seq)
  }

  onNack (seq: number): void {
    if (this.probe !== undefined && seq === this.probe.seq) this.probe.nacksReceived++
  }

  /** `requester` asks us to probe `target` on its behalf (its probe `seq`). */
  onPingReq (requester: Key, seq: number, target: Key): void {
    if (!this.running || this.relays.size >= MAX_RELAYS) return
    const mine = this.nextSeq()
    const timer = this.c.clock.schedule(() => {
      if (this.relays.delete(mine)) {
        this.stats.nacksSent++
        this.c.sendNack(requester, seq)
      }
    }, this.c.liveness.probeTimeoutMs())
    this.relays.set(mine, { requester, seq, timer })
    this.c.sendPing(target, mine)
  }

  private tick (): void {
    if (!this.running) return
    this.finishProbe()
    this.tickTimer = this.c.clock.schedule(() => { this.tick() }, this.c.liveness.probeIntervalMs())
    const target = this.c.liveness.probeTarget()
    if (target === undefined) return
    const probe: Probe = { key: target.key, seq: this.nextSeq(), nacksExpected: 0, nacksReceived: 0, timer: undefined, retries: [] }
    this.probe = probe
    this.stats.probes++
    probe.timer = this.c.clock.schedule(() => { this.indirect(probe) }, this.c.liveness.probeTimeoutMs())
    this.c.sendPing(target.key, probe.seq)
  }

  /** The direct probe timed out: unless it was acked meanwhile, ask helpers. */
  private indirect (probe: Probe): void {
    probe.timer = undefined
    if (this.probe !== probe || this.c.liveness.isProbeResolved(probe.key)) return
    const helpers = this.c.pickHelpers(this.indirectChecks, probe.key)
    probe.nacksExpected = helpers.length
    if (helpers.length > 0) this.stats.indirectProbes++
    for (const h of helpers) this.c.sendPingReq(h, probe.seq, probe.key)
    // Direct again, now and spread over what is left of the period (each waits for its ack
    // as long as the first ping did, at most).
    const left = Math.max(0, this.c.liveness.probeIntervalMs() - this.c.liveness.probeTimeoutMs())
    for (let j = 0; j < this.fallbackPings; j++) {
      const ping = (): void => {
        if (this.probe !== probe || this.c.liveness.isProbeResolved(probe.key)) return
        this.stats.fallbackPings++
        this.c.sendPing(probe.key, probe.seq)
      }
      if (j === 0) ping()
      else probe.retries.push(this.c.clock.schedule(ping, Math.floor(j * left / this.fallbackPings)))
    }
  }

  private cancelTimers (probe: Probe): void {
    if (probe.timer !== undefined) this.c.clock.cancel(probe.timer)
    probe.timer = undefined
    for (const t of probe.retries) this.c.clock.cancel(t)
    probe.retries.length = 0
  }

  /** Ends the open period: no ack or packet from the target means a failed probe. */
  private finishProbe (): void {
    const probe = this.probe
    this.probe = undefined
    if (probe === undefined) return
    this.cancelTimers(probe)
    const b = this.c.liveness.onProbeFailed(probe.key, { expected: probe.nacksExpected, received: probe.nacksReceived })
    if (b !== undefined) {
      this.stats.probesFailed++
      this.c.broadcast(b)
    }
  }

  private nextSeq (): number {
    this.seq = this.seq >= MAX_SEQ ? 1 : this.seq + 1
    return this.seq
  }
}
