/**
 * `death`: how long until every live node has declared a vanished member unreachable.
 *
 *   [0, settle)         the org runs (warm start: everyone already knows everyone)
 *   settle              one random member (never the root) vanishes, as on SIGKILL (tracked)
 *   … until all         every live node's first `peer:unreachable` for it is its observation;
 *                       at most `maxWaitMs`
 *   + tailMs            run on, so a false death the kill provoked late is still counted
 *
 * Figures: `deadAllMs` (kill → the last live node declared it; null if one never did), the
 * spread of the per-node delays, and `falseDeaths`: how many *other* nodes, live at the end,
 * were declared dead by any live node at any time (must be 0). Target: deadAllMs ≤ 10 s at
 * p99 over seeds. For a miss, `slowest` names the last observers and why each declared
 * (its own suspicion timing out, or a claim it heard).
 */
import type { Simulation } from '../simulation.js'
import { falseDeaths, overSeeds, runStats, type RunStats, SETTLE_MS } from './common.js'
import { percentile } from '../metrics.js'

export const DEATH_TARGET_MS = 10_000

export interface DeathInit {
  /** Virtual ms before the kill. Default SETTLE_MS. */
  settleMs?: number
  /** Longest wait for every live node to declare it, ms. Default 60 000. */
  maxWaitMs?: number
  /** Run on after that, ms. Default 10 000. */
  tailMs?: number
}

export interface DeathRun extends RunStats {
  victim: number
  killedAtMs: number
  /** Live nodes that should declare it, and how many did. */
  expected: number
  declared: number
  /** Kill → last live node's declaration; null if one never declared. */
  deadAllMs: number | null
  /** Kill → first declaration anywhere. */
  firstMs: number | null
  delayP50Ms: number | null
  delayP99Ms: number | null
  /** Observers whose own suspicion ran out (the others heard a claim). */
  bySuspicionTimeout: number
  /** Distinct other live nodes declared dead by someone. */
  falseDeaths: number
  falseDeathSubjects: number[]
  /** The last observers to declare it (up to 5, latest first). */
  slowest: Array<{ node: number, delayMs: number, cause: string }>
  /** Live nodes that never declared it (up to 10). */
  never: number[]
}

export async function deathScenario (sim: Simulation, init: DeathInit = {}): Promise<DeathRun> {
  await sim.start()
  await sim.run(init.settleMs ?? SETTLE_MS)
  const victim = sim.pickMember()
  const killedAtMs = sim.elapsedMs
  sim.kill(victim)
  await sim.runUntilConverged(init.maxWaitMs ?? 60_000)
  await sim.run(init.tailMs ?? 10_000)

  const change = sim.changes().find(c => c.kind === 'death' && c.subject === victim)!
  const first = new Map<number, { delayMs: number, cause: string }>()
  for (const d of sim.unreachable()) {
    if (d.subject !== victim || d.atMs < killedAtMs || first.has(d.observer) || !sim.isLive(d.observer)) continue
    first.set(d.observer, { delayMs: d.atMs - killedAtMs, cause: d.cause })
  }
  const byDelay = [...first].sort(([a, x], [b, y]) => y.delayMs - x.delayMs || a - b)
  const fd = falseDeaths(sim, [victim])
  const subjects = [...new Set(fd.map(f => f.subject))].sort((a, b) => a - b)
  return {
    ...runStats(sim),
    victim,
    killedAtMs,
    expected: change.expected,
    declared: change.reached,
    deadAllMs: change.timeToAllMs,
    firstMs: change.delaysMs[0] ?? null,
    delayP50Ms: percentile(change.delaysMs, 50) ?? null,
    delayP99Ms: percentile(change.delaysMs, 99) ?? null,
    bySuspicionTimeout: [...first.values()].filter(f => f.cause === 'suspicion-timeout').length,
    falseDeaths: subjects.length,
    falseDeathSubjects: subjects,
    slowest: byDelay.slice(0, 5).map(([node, f]) => ({ node, ...f })),
    never: sim.live().filter(i => i !== victim && !first.has(i)).slice(0, 10)
  }
}

export interface DeathSummary {
  deadAllMsP50: number | null
  deadAllMsP99: number | null
  deadAllTargetMs: number
  /** In every seed every live node declared it. */
  declaredAll: boolean
  /** Summed over seeds. */
  falseDeaths: number
  ok: boolean
}

export function summarizeDeath (runs: readonly DeathRun[]): DeathSummary {
  const all = overSeeds(runs.map(r => r.deadAllMs))
  const declaredAll = runs.every(r => r.deadAllMs !== null)
  const fd = runs.reduce((s, r) => s + r.falseDeaths, 0)
  return {
    deadAllMsP50: all.p50,
    deadAllMsP99: all.p99,
    deadAllTargetMs: DEATH_TARGET_MS,
    declaredAll,
    falseDeaths: fd,
    ok: declaredAll && fd === 0 && all.p99 !== null && all.p99 <= DEATH_TARGET_MS
  }
}

export function deathLines (s: DeathSummary, runs: readonly DeathRun[]): string[] {
  const ms = (x: number | null): string => x === null ? 'never' : `${Math.round(x)} ms`
  const lines = [
    `dead everywhere:  p50 ${ms(s.deadAllMsP50)}, p99 ${ms(s.deadAllMsP99)} over ${runs.length} seed(s) (target p99 <= ${s.deadAllTargetMs} ms: ${s.deadAllMsP99 !== null && s.deadAllMsP99 <= s.deadAllTargetMs ? 'met' : 'MISSED'})`,
    `false deaths:     ${s.falseDeaths}${s.falseDeaths === 0 ? '' : ' (must be 0)'}`
  ]
  for (const r of runs) {
    const slow = r.slowest.slice(0, 3).map(x => `n${x.node} ${Math.round(x.delayMs)} ms (${x.cause})`).join(', ')
    lines.push(`  seed ${r.seed}: victim n${r.victim}, ${r.declared}/${r.expected} declared, first ${ms(r.firstMs)}, per node p50 ${ms(r.delayP50Ms)} p99 ${ms(r.delayP99Ms)}, all ${ms(r.deadAllMs)}; ${r.bySuspicionTimeout} by own timeout; last: ${slow}`)
  }
  return lines
}
