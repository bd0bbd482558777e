/**
 * `restart-storm`: a share of the org restarts at once (a fleet upgrade, a power cut).
 *
 *   [0, settle)          the org runs
 *   settle               `fraction` of the live nodes, picked by the seed, stop cleanly together
 *   + downtimeMs         the others run on meanwhile; then each restarts on its storage, on a
 *                        fresh socket at the same address, one incarnation up (Simulation.restart)
 *   … until alive        every live node holds every restarted node `alive` in its liveness at
 *                        (at least) the incarnation the new instance started with; at most maxWaitMs
 *
 * Figures: `aliveAgainMs` (back up → that instant, null if never), compared with 3
 * anti-entropy periods `3 × pushPullIntervalFor(cfg, live N)`; how many (observer, restarted)
 * pairs were declared dead on the way (`declaredDead`, real deaths: the node was down), and
 * `falseDeaths` among the nodes that did not restart (must be 0). Target: aliveAgainMs ≤ 3
 * periods.
 */
import { pushPullIntervalFor } from '../../gossip/config.js'
import { trafficRate, type TrafficWindow } from '../metrics.js'
import type { Simulation } from '../simulation.js'
import { AllHold, falseDeaths, overSeeds, runStats, type RunStats, SETTLE_MS } from './common.js'

export const RESTART_FRACTION = 0.3
export const RESTART_DOWNTIME_MS = 2000
/** The target, in anti-entropy periods. */
export const RESTART_TARGET_PERIODS = 3

export interface RestartStormInit {
  settleMs?: number
  /** Share of live nodes restarted, in [0, 1]. Default 0.3. */
  fraction?: number
  /** How long they stay down, ms. Default 2 000. */
  downtimeMs?: number
  /** Longest wait once they are back, ms. Default twice the target (6 periods). */
  maxWaitMs?: number
}

export interface RestartStormRun extends RunStats {
  restarted: number
  downtimeMs: number
  stoppedAtMs: number
  backAtMs: number
  antiEntropyMs: number
  /** Back up → every live node holds every restarted node alive at its new incarnation; null if never. */
  aliveAgainMs: number | null
  /** (observer, restarted node) pairs declared dead meanwhile. */
  declaredDead: number
  /** Pairs in which a node that did not restart was declared dead. */
  falseDeaths: number
  /** What the nodes sent while settling (a baseline), while the restarted ones were down, and from their return until alive again (or the wait ended). */
  trafficSettle: TrafficWindow
  trafficDown: TrafficWindow
  trafficBack: TrafficWindow
  /** At the end, pairs not yet satisfied (up to 5): what the observer holds. */
  pending: Array<{ observer: number, subject: number, state: string, incarnation: number | null, wanted: number }>
}

export async function restartStormScenario (sim: Simulation, init: RestartStormInit = {}): Promise<RestartStormRun> {
  const downtimeMs = init.downtimeMs ?? RESTART_DOWNTIME_MS
  await sim.start()
  await sim.run(init.settleMs ?? SETTLE_MS)
  const stoppedAtMs = sim.elapsedMs
  const before = sim.sentTotals()
  const running = sim.live().length
  const trafficSettle = trafficRate(before.bytes, before.packets, running, stoppedAtMs)
  const restarted = await sim.restart(init.fraction ?? RESTART_FRACTION, { downtimeMs })
  const backAtMs = sim.elapsedMs
  const back = sim.sentTotals()
  const trafficDown = trafficRate(back.bytes - before.bytes, back.packets - before.packets, running - restarted.length, downtimeMs)
  const wanted = restarted.map(i => sim.meshOf(i).gossiper.incarnation)
  const keys = restarted.map(i => sim.keyOf(i))
  const observers = sim.live()
  const liveness = observers.map(i => sim.meshOf(i).gossiper.liveness)
  const antiEntropyMs = pushPullIntervalFor(sim.gossipConfig, observers.length)
  const r = restarted.length
  // Pair k: observer ⌊k / r⌋ about restarted node k mod r (itself excepted).
  const holds = (k: number): boolean => {
    const o = Math.floor(k / r)
    const s = k - o * r
    if (observers[o] === restarted[s]) return true
    const e = liveness[o].get(keys[s])
    return e !== undefined && e.state === 'alive' && e.incarnation >= wanted[s]
  }
  const all = new AllHold(observers.length * r, holds)
  const ok = await sim.runUntil(() => all.check(), init.maxWaitMs ?? 2 * RESTART_TARGET_PERIODS * antiEntropyMs)
  const end = sim.sentTotals()
  const trafficBack = trafficRate(end.bytes - back.bytes, end.packets - back.packets, observers.length, sim.elapsedMs - backAtMs)

  const down = new Set(restarted)
  let declaredDead = 0
  const seen = new Set<string>()
  for (const d of sim.unreachable()) {
    if (d.atMs < stoppedAtMs || !down.has(d.subject) || seen.has(`${d.observer} ${d.subject}`)) continue
    seen.add(`${d.observer} ${d.subject}`)
    declaredDead++
  }
  const pending = all.failing(5).map(k => {
    const o = Math.floor(k / r)
    const s = k - o * r
    const e = liveness[o].get(keys[s])
    return { observer: observers[o], subject: restarted[s], state: e?.state ?? 'unknown', incarnation: e?.incarnation ?? null, wanted: wanted[s] }
  })
  return {
    ...runStats(sim),
    restarted: r,
    downtimeMs,
    stoppedAtMs,
    backAtMs,
    antiEntropyMs,
    aliveAgainMs: ok ? sim.elapsedMs - backAtMs : null,
    declaredDead,
    falseDeaths: falseDeaths(sim, restarted).length,
    trafficSettle,
    trafficDown,
    trafficBack,
    pending
  }
}

export interface RestartStormSummary {
  restarted: number
  downtimeMs: number
  /** The slowest seed's aliveAgainMs (null if one never got there), and the median. */
  aliveAgainMs: number | null
  aliveAgainMsP50: number | null
  antiEntropyMs: number
  /** RESTART_TARGET_PERIODS × antiEntropyMs. */
  targetMs: number
  falseDeaths: number
  ok: boolean
}

export function summarizeRestartStorm (runs: readonly RestartStormRun[]): RestartStormSummary {
  const alive = overSeeds(runs.map(r => r.aliveAgainMs))
  const antiEntropyMs = Math.min(...runs.map(r => r.antiEntropyMs))
  const targetMs = RESTART_TARGET_PERIODS * antiEntropyMs
  const fd = runs.reduce((s, r) => s + r.falseDeaths, 0)
  return {
    restarted: runs[0]?.restarted ?? 0,
    downtimeMs: runs[0]?.downtimeMs ?? RESTART_DOWNTIME_MS,
    aliveAgainMs: alive.max,
    aliveAgainMsP50: alive.p50,
    antiEntropyMs,
    targetMs,
    falseDeaths: fd,
    ok: alive.max !== null && alive.max <= targetMs
  }
}

export function restartStormLines (s: RestartStormSummary, runs: readonly RestartStormRun[]): string[] {
  const ms = (x: number | null): string => x === null ? 'never' : `${Math.round(x)} ms`
  const lines = [
    `restarted:        ${s.restarted} nodes at once, down ${s.downtimeMs} ms`,
    `alive again:      worst ${ms(s.aliveAgainMs)}, p50 ${ms(s.aliveAgainMsP50)} over ${runs.length} seed(s) (3 anti-entropy periods: ${s.targetMs} ms: ${s.aliveAgainMs !== null && s.aliveAgainMs <= s.targetMs ? 'within' : 'MISSED'})`,
    `false deaths:     ${s.falseDeaths} among nodes that did not restart`
  ]
  for (const r of runs) {
    const p = r.pending.slice(0, 3).map(x => `n${x.observer} holds n${x.subject} ${x.state}@${x.incarnation ?? '-'} (wants ${x.wanted})`).join(', ')
    const kb = (w: TrafficWindow): string => `${(w.bytesPerNodePerSec / 1000).toFixed(1)} kB/s, ${w.packetsPerNodePerSec.toFixed(1)} packets/s per node`
    lines.push(`  seed ${r.seed}: alive again ${ms(r.aliveAgainMs)}, ${r.declaredDead} pairs declared dead while down; sent settling ${kb(r.trafficSettle)}, while down ${kb(r.trafficDown)}, after ${kb(r.trafficBack)}${p === '' ? '' : `; still: ${p}`}`)
  }
  return lines
}
