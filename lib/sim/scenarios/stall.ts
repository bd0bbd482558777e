/**
 * `stall`: a frozen process (GC pause, SIGSTOP, VM migration) must not be declared dead.
 *
 *   [0, settle)                 the org runs
 *   settle                      one random member (never the root) is frozen for stallMs:
 *                               its timers and inbound packets wait (Simulation.stall)
 *   [settle, settle + stallMs + afterMs]   run on; the others' liveness of it sampled every 100 ms
 *
 * Figures: `falseDeaths`, the (observer, subject) pairs in which a live node declared a live
 * node dead at any time (the stalled node above all: `stalledDeclaredDead` observers); how
 * many observers held it suspect at some sample (`suspectedBy`), its incarnation before and
 * after (a rise means it refuted a suspicion), and whether every live node holds it alive at
 * the end (`aliveEverywhere`). Target: falseDeaths 0 and aliveEverywhere.
 */
import type { Simulation } from '../simulation.js'
import { type FalseDeath, falseDeaths, runSampling, runStats, type RunStats, SETTLE_MS } from './common.js'

export const STALL_MS = 5000
export const STALL_AFTER_MS = 30_000
const SAMPLE_MS = 100

export interface StallInit {
  settleMs?: number
  /** How long the node is frozen, ms. Default 5 000. */
  stallMs?: number
  /** Run on after the stall ends, ms. Default 30 000. */
  afterMs?: number
}

export interface StallRun extends RunStats {
  stalled: number
  stalledAtMs: number
  stallMs: number
  /** Distinct (observer, subject) pairs, both live, with a dead declaration. */
  falseDeaths: number
  /** The first of them (up to 10). */
  falseDeathPairs: FalseDeath[]
  /** Observers that declared the stalled node dead. */
  stalledDeclaredDead: number
  /** Observers that held it suspect at some sample. */
  suspectedBy: number
  incarnationBefore: number
  incarnationAfter: number
  /** Every live node holds it alive at the end. */
  aliveEverywhere: boolean
  /** Live nodes that do not, at the end (up to 10). */
  notAlive: Array<{ node: number, state: string }>
}

export async function stallScenario (sim: Simulation, init: StallInit = {}): Promise<StallRun> {
  const stallMs = init.stallMs ?? STALL_MS
  await sim.start()
  await sim.run(init.settleMs ?? SETTLE_MS)
  const stalled = sim.pickMember()
  const key = sim.keyOf(stalled)
  const stalledAtMs = sim.elapsedMs
  const incarnationBefore = sim.meshOf(stalled).gossiper.incarnation
  const observers = sim.live().filter(i => i !== stalled)
  const liveness = observers.map(i => sim.meshOf(i).gossiper.liveness)
  const suspected = new Set<number>()
  sim.stall(stalled, stallMs)
  await runSampling(sim, stallMs + (init.afterMs ?? STALL_AFTER_MS), SAMPLE_MS, () => {
    for (let k = 0; k < observers.length; k++) if (liveness[k].get(key)?.state === 'suspect') suspected.add(observers[k])
  })

  const fd = falseDeaths(sim)
  const notAlive: Array<{ node: number, state: string }> = []
  for (const i of sim.live()) {
    if (i === stalled) continue
    const state = sim.meshOf(i).gossiper.liveness.get(key)?.state ?? 'unknown'
    if (state !== 'alive') notAlive.push({ node: i, state })
  }
  return {
    ...runStats(sim),
    stalled,
    stalledAtMs,
    stallMs,
    falseDeaths: fd.length,
    falseDeathPairs: fd.slice(0, 10),
    stalledDeclaredDead: new Set(fd.filter(f => f.subject === stalled).map(f => f.observer)).size,
    suspectedBy: suspected.size,
    incarnationBefore,
    incarnationAfter: sim.meshOf(stalled).gossiper.incarnation,
    aliveEverywhere: notAlive.length === 0,
    notAlive: notAlive.slice(0, 10)
  }
}

export interface StallSummary {
  stallMs: number
  /** Summed over seeds. */
  falseDeaths: number
  stalledDeclaredDead: number
  /** In every seed. */
  aliveEverywhere: boolean
  /** Seeds in which the stalled node refuted (its incarnation rose). */
  refutedIn: number
  ok: boolean
}

export function summarizeStall (runs: readonly StallRun[]): StallSummary {
  const falseDeaths = runs.reduce((s, r) => s + r.falseDeaths, 0)
  const aliveEverywhere = runs.every(r => r.aliveEverywhere)
  return {
    stallMs: runs[0]?.stallMs ?? STALL_MS,
    falseDeaths,
    stalledDeclaredDead: runs.reduce((s, r) => s + r.stalledDeclaredDead, 0),
    aliveEverywhere,
    refutedIn: runs.filter(r => r.incarnationAfter > r.incarnationBefore).length,
    ok: falseDeaths === 0 && aliveEverywhere
  }
}

export function stallLines (s: StallSummary, runs: readonly StallRun[]): string[] {
  const lines = [
    `false deaths:     ${s.falseDeaths} (observer, subject) pairs over ${runs.length} seed(s)${s.falseDeaths === 0 ? '' : ' (must be 0)'}; of the stalled node: ${s.stalledDeclaredDead}`,
    `alive at the end: ${s.aliveEverywhere ? 'yes, everywhere' : 'NO'}; refuted in ${s.refutedIn}/${runs.length} seed(s)`
  ]
  for (const r of runs) {
    const pairs = r.falseDeathPairs.slice(0, 3).map(f => `n${f.observer}→n${f.subject} at ${Math.round(f.atMs)} ms (${f.cause})`).join(', ')
    lines.push(`  seed ${r.seed}: stalled n${r.stalled} for ${r.stallMs} ms, suspected by ${r.suspectedBy}, incarnation ${r.incarnationBefore} → ${r.incarnationAfter}, false deaths ${r.falseDeaths}${pairs === '' ? '' : `: ${pairs}`}`)
  }
  return lines
}
