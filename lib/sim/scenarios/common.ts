/**
 * What the fault scenarios (death, stall, partition, restart-storm) share: the instant check
 * they run after every timer, sampling, false-death counting and percentiles over seeds.
 *
 * Every scenario is `async xScenario(sim, init): Promise<XRun>` on a Simulation not yet
 * started, as `defaultScenario` is, so one seed's run is a pure function of the seed and the
 * init: the nodes it picks come from the simulation's scenario stream.
 */
import { percentile, sortNumbers } from '../metrics.js'
import type { Simulation } from '../simulation.js'

/** The virtual time every fault scenario lets the org run before the fault, ms. */
export const SETTLE_MS = 10_000

/**
 * Whether all `count` items hold at this instant, cheap enough to ask after every timer: the
 * scan resumes at the item that failed last time, so a call costs O(1) while that item still
 * fails, and says true only after one unbroken pass over every item in the same call (so
 * never because items held at different instants).
 */
export class AllHold {
  private at = 0
  constructor (private readonly count: number, private readonly holds: (item: number) => boolean) {}

  check (): boolean {
    const n = this.count
    for (let k = 0; k < n; k++) {
      const i = this.at + k < n ? this.at + k : this.at + k - n
      if (!this.holds(i)) { this.at = i; return false }
    }
    return true
  }

  /** The items that fail now (at most `max`), for a report of what was still missing. */
  failing (max: number): number[] {
    const out: number[] = []
    for (let i = 0; i < this.count && out.length < max; i++) if (!this.holds(i)) out.push(i)
    return out
  }
}

/**
 * Runs `ms` of virtual time, calling `sample()` after the first timer past each `everyMs`
 * boundary (and once at the start).
 */
export async function runSampling (sim: Simulation, ms: number, everyMs: number, sample: () => void): Promise<void> {
  let next = sim.elapsedMs
  await sim.runUntil(() => {
    if (sim.elapsedMs >= next) { sample(); next = sim.elapsedMs + everyMs }
    return false
  }, ms)
  sample()
}

/** One observer declaring one subject dead, both still live at the end: a false death. */
export interface FalseDeath {
  observer: number
  subject: number
  atMs: number
  cause: 'claim' | 'suspicion-timeout'
}

/**
 * Every distinct (observer, subject) pair in which a node live now declared another node
 * live now dead (the first such declaration of each pair), in the order they happened.
 * `exclude` are subjects whose death was real (a killed or restarted node).
 */
export function falseDeaths (sim: Simulation, exclude: readonly number[] = []): FalseDeath[] {
  const seen = new Set<string>()
  const out: FalseDeath[] = []
  for (const d of sim.unreachable()) {
    if (exclude.includes(d.subject) || !sim.isLive(d.observer) || !sim.isLive(d.subject)) continue
    const k = `${d.observer} ${d.subject}`
    if (seen.has(k)) continue
    seen.add(k)
    out.push({ observer: d.observer, subject: d.subject, atMs: d.atMs, cause: d.cause })
  }
  return out
}

/** p50 and p99 (nearest rank) of per-seed figures; a seed that never got there (null) counts as infinitely slow, reported null. */
export function overSeeds (values: ReadonlyArray<number | null>): { p50: number | null, p99: number | null, max: number | null } {
  const sorted = sortNumbers(values.map(v => v ?? Infinity))
  const finite = (x: number | undefined): number | null => x === undefined || !Number.isFinite(x) ? null : x
  return { p50: finite(percentile(sorted, 50)), p99: finite(percentile(sorted, 99)), max: finite(sorted.at(-1)) }
}

/** What every scenario run reports about the simulation itself. */
export interface RunStats {
  seed: number
  nodes: number
  liveNodes: number
  virtualMs: number
  timersFired: number
  events: Record<string, number>
  bytesPerNodePerSec: number
}

export function runStats (sim: Simulation): RunStats {
  const r = sim.result()
  return {
    seed: r.seed,
    nodes: r.nodes,
    liveNodes: r.liveNodes,
    virtualMs: r.virtualMs,
    timersFired: r.timersFired,
    events: r.events,
    bytesPerNodePerSec: r.traffic.bytesPerNodePerSec
  }
}
