/**
 * The default scenario (what `wiremesh sim` runs per seed), in fractions of its duration d:
 *
 *   [0, d/6)      settle: nodes start, first probes and anti-entropy
 *   [d/6, d/2)    idle window: traffic measured, no changes
 *   d/2           the root enrolls a new node (tracked)
 *   3d/4          the root revokes a member picked by the seed (tracked)
 *   [3d/4, d]     run on; whatever has not reached every live node by d has not converged
 */
import type { Simulation } from './simulation.js'

export async function defaultScenario (sim: Simulation, durationMs: number): Promise<void> {
  const at = (f: number): number => Math.round(durationMs * f)
  await sim.start()
  await sim.run(at(1 / 6))
  await sim.measureIdle(at(1 / 2) - at(1 / 6))
  const joiner = await sim.enroll()
  await sim.run(at(3 / 4) - at(1 / 2))
  await sim.revoke(sim.pickMember([joiner]))
  await sim.run(durationMs - at(3 / 4))
}
