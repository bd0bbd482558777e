/** The simulator's surface (DESIGN §8). */
export { Simulation, SIM_EPOCH_MS, SIM_GOSSIP_PORT, type SimEnrollOptions, type SimulationInit, type SimulationResult } from './simulation.js'
export { defaultScenario } from './scenario.js'
export { NodeClock } from './node-clock.js'
export {
  ConvergenceTracker, EventCounts, percentile, sortNumbers, summarize, trafficRate,
  type ChangeKind, type ChangeReport, type ConvergenceSummary, type Declaration, type TrafficWindow
} from './metrics.js'
export { convergencePlot, type PlotInit } from './plot.js'
export { Progress, type ProgressInit } from './progress.js'
export { empiricalLatency, exponentialLatency, uniformLatency } from './latency.js'
export { SimulationError } from './errors.js'
export {
  AllHold, DEATH_TARGET_MS, deathScenario, FAULT_DEFAULTS, FAULT_SCENARIOS, falseDeaths, overSeeds, partitionScenario,
  restartStormScenario, SCENARIOS, stallScenario, summarizeDeath, summarizePartition, summarizeRestartStorm, summarizeStall,
  type DeathInit, type DeathRun, type DeathSummary, type FalseDeath, type FaultParams, type FaultScenario, type FaultScenarioName,
  type PartitionInit, type PartitionRun, type PartitionSummary, type RestartStormInit, type RestartStormRun,
  type RestartStormSummary, type StallInit, type StallRun, type StallSummary
} from './scenarios/index.js'
