/** The simulator's surface (DESIGN §8). */
export { Simulation, SIM_EPOCH_MS, SIM_GOSSIP_PORT, type SimulationInit, type SimulationResult } from './simulation.js'
export { defaultScenario } from './scenario.js'
export { NodeClock } from './node-clock.js'
export {
  ConvergenceTracker, EventCounts, percentile, sortNumbers, summarize, trafficRate,
  type ChangeKind, type ChangeReport, type ConvergenceSummary, type TrafficWindow
} from './metrics.js'
export { convergencePlot, type PlotInit } from './plot.js'
export { Progress, type ProgressInit } from './progress.js'
export { empiricalLatency, exponentialLatency, uniformLatency } from './latency.js'
export { SimulationError } from './errors.js'
