/**
 * The fault scenarios `wiremesh sim --scenario NAME` runs (the gossip issue's acceptance
 * scenarios), each with its default size, its parameters and its figures. The `default`
 * scenario (scenario.ts) keeps its own report in cli.ts.
 */
import type { GossipConfig } from '../../gossip/config.js'
import type { Simulation } from '../simulation.js'
import { SETTLE_MS } from './common.js'
import { deathLines, deathScenario, summarizeDeath } from './death.js'
import { FLOOD_MS, hostileLines, hostileScenario, summarizeHostile } from './hostile.js'
import { PARTITION_MS, partitionLines, partitionScenario, summarizePartition } from './partition.js'
import { RESTART_DOWNTIME_MS, RESTART_FRACTION, restartStormLines, restartStormScenario, summarizeRestartStorm } from './restart-storm.js'
import { STALL_AFTER_MS, STALL_MS, stallLines, stallScenario, summarizeStall } from './stall.js'

export { AllHold, falseDeaths, overSeeds, SETTLE_MS, type FalseDeath, type RunStats } from './common.js'
export { DEATH_TARGET_MS, deathScenario, summarizeDeath, type DeathInit, type DeathRun, type DeathSummary } from './death.js'
export { stallScenario, summarizeStall, type StallInit, type StallRun, type StallSummary } from './stall.js'
export { partitionScenario, summarizePartition, type PartitionInit, type PartitionRun, type PartitionSummary } from './partition.js'
export { restartStormScenario, summarizeRestartStorm, type RestartStormInit, type RestartStormRun, type RestartStormSummary } from './restart-storm.js'
export { craftedOps, type CraftedOps, FLOOD_MS, HOSTILE_ROUNDS_TARGET, hostileScenario, summarizeHostile, type HostileInit, type HostileRun, type HostileSummary } from './hostile.js'

export const FAULT_SCENARIOS = ['death', 'stall', 'partition', 'restart-storm', 'hostile'] as const
export type FaultScenarioName = typeof FAULT_SCENARIOS[number]

/** Every parameter a fault scenario may take (each uses its own). */
export interface FaultParams {
  settleMs: number
  stallMs: number
  partitionMs: number
  downtimeMs: number
  restartFraction: number
  floodMs: number
}

export const FAULT_DEFAULTS: FaultParams = {
  settleMs: SETTLE_MS,
  stallMs: STALL_MS,
  partitionMs: PARTITION_MS,
  downtimeMs: RESTART_DOWNTIME_MS,
  restartFraction: RESTART_FRACTION,
  floodMs: FLOOD_MS
}

export interface FaultScenario {
  name: FaultScenarioName
  /** `--nodes` when not given: the size the issue accepts it at. */
  defaultNodes: number
  /** The parameters it reads, as they go into the JSON report. */
  params: (p: FaultParams) => Record<string, number>
  /** One seed's virtual ms as typically run (for progress; a run that waits longer stays at 99% meanwhile). */
  plannedMs: (p: FaultParams, cfg: GossipConfig, nodes: number) => number
  /** One seed, on a Simulation not yet started. */
  run: (sim: Simulation, p: FaultParams) => Promise<unknown>
  /** Pools the runs: the figures, with `ok` when every target is met. */
  summarize: (runs: unknown[]) => { ok: boolean } & Record<string, unknown>
  /** The human-readable table. */
  lines: (summary: unknown, runs: unknown[]) => string[]
}

function define<R, S extends { ok: boolean }> (s: {
  name: FaultScenarioName
  defaultNodes: number
  params: (p: FaultParams) => Record<string, number>
  plannedMs: (p: FaultParams, cfg: GossipConfig, nodes: number) => number
  run: (sim: Simulation, p: FaultParams) => Promise<R>
  summarize: (runs: R[]) => S
  lines: (summary: S, runs: R[]) => string[]
}): FaultScenario {
  return s as unknown as FaultScenario
}

export const SCENARIOS: Record<FaultScenarioName, FaultScenario> = {
  death: define({
    name: 'death',
    defaultNodes: 1000,
    params: p => ({ settleMs: p.settleMs }),
    // Settle, ~15 s until everyone declared it, the 10 s tail.
    plannedMs: p => p.settleMs + 15_000 + 10_000,
    run: async (sim, p) => await deathScenario(sim, { settleMs: p.settleMs }),
    summarize: summarizeDeath,
    lines: deathLines
  }),
  stall: define({
    name: 'stall',
    defaultNodes: 100,
    params: p => ({ settleMs: p.settleMs, stallMs: p.stallMs, afterMs: STALL_AFTER_MS }),
    plannedMs: p => p.settleMs + p.stallMs + STALL_AFTER_MS,
    run: async (sim, p) => await stallScenario(sim, { settleMs: p.settleMs, stallMs: p.stallMs }),
    summarize: summarizeStall,
    lines: stallLines
  }),
  partition: define({
    name: 'partition',
    defaultNodes: 100,
    params: p => ({ settleMs: p.settleMs, partitionMs: p.partitionMs }),
    // Settle, the grant (well under a second), the split, ~10 s to agree.
    plannedMs: p => p.settleMs + 1000 + p.partitionMs + 10_000,
    run: async (sim, p) => await partitionScenario(sim, { settleMs: p.settleMs, partitionMs: p.partitionMs }),
    summarize: summarizePartition,
    lines: partitionLines
  }),
  'restart-storm': define({
    name: 'restart-storm',
    defaultNodes: 1000,
    params: p => ({ settleMs: p.settleMs, downtimeMs: p.downtimeMs, restartFraction: p.restartFraction }),
    // Settle, the downtime, ~10 s until alive everywhere.
    plannedMs: p => p.settleMs + p.downtimeMs + 10_000,
    run: async (sim, p) => await restartStormScenario(sim, { settleMs: p.settleMs, downtimeMs: p.downtimeMs, fraction: p.restartFraction }),
    summarize: summarizeRestartStorm,
    lines: restartStormLines
  }),
  hostile: define({
    name: 'hostile',
    defaultNodes: 1000,
    params: p => ({ settleMs: p.settleMs, floodMs: p.floodMs }),
    // Settle, the flood, then V heals: typically within seconds, at most 2 anti-entropy periods.
    plannedMs: p => p.settleMs + p.floodMs + 10_000,
    run: async (sim, p) => await hostileScenario(sim, { settleMs: p.settleMs, floodMs: p.floodMs }),
    summarize: summarizeHostile,
    lines: hostileLines
  })
}
