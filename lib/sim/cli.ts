/**
 * `wiremesh sim`: runs a scenario on each seed and reports the pooled figures. The default
 * scenario (scenario.ts: one tracked enrolment and one tracked revocation) reports
 * convergence; `--scenario death | stall | partition | restart-storm | hostile` (scenarios/) run the
 * gossip issue's acceptance scenarios, each with its own figures and targets.
 *
 * With `--json`, stdout is exactly one JSON object; for the same arguments it is the same
 * bytes on every run except `wallSeconds`, the only wall-clock figure (and the last key).
 * Progress goes to stderr. Exit code 0 when every tracked change reached every live node
 * (default) or every figure met its target (the others), 1 when not, 2 for a usage error.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { GOSSIP_PRESETS, type GossipPresetName, resolveGossipConfig } from '../gossip/config.js'
import { type ChangeReport, summarize } from './metrics.js'
import { convergencePlot } from './plot.js'
import { Progress } from './progress.js'
import { defaultScenario } from './scenario.js'
import { FAULT_DEFAULTS, FAULT_SCENARIOS, type FaultParams, type FaultScenarioName, SCENARIOS } from './scenarios/index.js'
import { Simulation, type SimulationResult } from './simulation.js'

export const SIM_USAGE = `usage: wiremesh sim [options]
  --scenario NAME    default (default), ${FAULT_SCENARIOS.join(', ')}: see below
  --nodes N          nodes in the org at the start, root included (default 100;
                     death, restart-storm and hostile: 1000)
  --loss P           packet loss probability in [0, 1] (default 0)
  --latency-ms A,B   one-way latency, uniform in [A, B] ms (default 1,50)
  --seed S           first seed (default 1)
  --seeds K          run K seeds: S, S+1, … (default 1)
  --preset NAME      gossip preset: ${Object.keys(GOSSIP_PRESETS).join(', ')} (default lan)
  --sealer KIND      real (default) or null (no cryptography, same sizes)
  --json             print one JSON object instead of a summary
  --svg FILE         write the convergence plot (of the tracked changes) to FILE
  --runs-file FILE   append each finished seed to FILE as one JSON line; seeds already in
                     FILE (same arguments) are loaded, not re-run, so an interrupted long
                     run resumes where it stopped and reports the same bytes (default: none)
  --duration-ms D    default: virtual time per seed (default 60000)
  --settle-ms T      the others: virtual time before the fault (default ${FAULT_DEFAULTS.settleMs})
  --stall-ms T       stall: how long the node is frozen (default ${FAULT_DEFAULTS.stallMs})
  --partition-ms T   partition: how long the split lasts (default ${FAULT_DEFAULTS.partitionMs}, 10 virtual minutes)
  --downtime-ms T    restart-storm: how long the restarted nodes are down (default ${FAULT_DEFAULTS.downtimeMs})
  --fraction F       restart-storm: share of the nodes restarted (default ${FAULT_DEFAULTS.restartFraction})
  --flood-ms T       hostile: how long the member floods crafted ops (default ${FAULT_DEFAULTS.floodMs})
Scenarios (one run per seed; exit 1 when a figure misses its target):
  default        settle, an idle window (traffic), one enrolment and one revocation, each
                 tracked to every live node: roundsP50/P99, converged, idle bytes
  death          kill one random member (not the root) after settling: deadAllMs, kill → the
                 last live node's peer:unreachable, p50/p99 over seeds (target p99 <= 10 s);
                 falseDeaths, other live nodes ever declared dead (must be 0). 1000 nodes
  stall          freeze one random member for --stall-ms, run 30 s more: falseDeaths,
                 (observer, subject) pairs of live nodes declared dead (must be 0), and
                 whether the stalled node is alive everywhere at the end. 100 nodes
  partition      the root makes an admin, then a 50/50 split (root's side, admin's side) for
                 --partition-ms, each admin enrolling 3 members and revoking 1 on its side;
                 after heal: healMs until every replica digest and member list agree
                 (target <= one anti-entropy period, antiEntropyMs), opsLost (must be 0).
                 100 nodes by default; runs at 1000 too (~10 min)
  restart-storm  restart --fraction of the nodes at once, down --downtime-ms: aliveAgainMs
                 until every live node holds every restarted one alive at its new
                 incarnation (target <= 3 anti-entropy periods). 1000 nodes
  hostile        one member floods crafted ops at its gossip budget for --flood-ms while the
                 root enrolls 4 members and revokes 4, then the flooder; one node is cut off
                 alone meanwhile and healed at the end: honest changes to every other node in
                 rounds p50/p99 (target p99 <= 4), encodeErrors over all nodes (must be 0),
                 the cut-off node's healMs (target <= one anti-entropy period), and the
                 crafted bytes stored per node. 1000 nodes
Large runs need heap: NODE_OPTIONS=--max-old-space-size=8192 for 1,000-2,000 nodes.`

class UsageError extends Error {}

type ScenarioName = 'default' | FaultScenarioName

interface Options {
  scenario: ScenarioName
  nodes: number
  loss: number
  latencyMs: [number, number]
  seeds: number[]
  preset: GossipPresetName
  durationMs: number
  sealer: 'real' | 'null'
  json: boolean
  svg: string | undefined
  runsFile: string | undefined
  fault: FaultParams
}

/** Options that belong to one scenario (or all but default) only. */
const ONLY: Record<string, (s: ScenarioName) => boolean> = {
  'duration-ms': s => s === 'default',
  'settle-ms': s => s !== 'default',
  'stall-ms': s => s === 'stall',
  'partition-ms': s => s === 'partition',
  'downtime-ms': s => s === 'restart-storm',
  fraction: s => s === 'restart-storm',
  'flood-ms': s => s === 'hostile'
}

function parse (args: string[]): Options {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      scenario: { type: 'string', default: 'default' },
      nodes: { type: 'string' },
      loss: { type: 'string', default: '0' },
      'latency-ms': { type: 'string', default: '1,50' },
      seed: { type: 'string', default: '1' },
      seeds: { type: 'string', default: '1' },
      preset: { type: 'string', default: 'lan' },
      'duration-ms': { type: 'string' },
      sealer: { type: 'string', default: 'real' },
      json: { type: 'boolean', default: false },
      svg: { type: 'string' },
      'runs-file': { type: 'string' },
      'settle-ms': { type: 'string' },
      'stall-ms': { type: 'string' },
      'partition-ms': { type: 'string' },
      'downtime-ms': { type: 'string' },
      fraction: { type: 'string' },
      'flood-ms': { type: 'string' }
    }
  })
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`)
  const scenario = values.scenario as ScenarioName
  if (scenario !== 'default' && !(FAULT_SCENARIOS as readonly string[]).includes(scenario)) {
    throw new UsageError(`--scenario must be one of default, ${FAULT_SCENARIOS.join(', ')}, got ${values.scenario}`)
  }
  for (const [name, applies] of Object.entries(ONLY)) {
    if ((values as Record<string, unknown>)[name] !== undefined && !applies(scenario)) throw new UsageError(`--${name} does not apply to --scenario ${scenario}`)
  }
  const int = (name: string, v: string, min: number, max: number): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got ${v}`)
    return n
  }
  const loss = Number(values.loss)
  if (!(loss >= 0 && loss <= 1)) throw new UsageError(`--loss must be in [0, 1], got ${values.loss}`)
  const lat = values['latency-ms'].split(',').map(Number)
  if (lat.length !== 2 || !lat.every(x => x >= 0 && Number.isFinite(x)) || lat[1] < lat[0]) throw new UsageError(`--latency-ms must be MIN,MAX with 0 <= MIN <= MAX, got ${values['latency-ms']}`)
  if (!(values.preset in GOSSIP_PRESETS)) throw new UsageError(`--preset must be one of ${Object.keys(GOSSIP_PRESETS).join(', ')}, got ${values.preset}`)
  if (values.sealer !== 'real' && values.sealer !== 'null') throw new UsageError(`--sealer must be real or null, got ${values.sealer}`)
  const fraction = Number(values.fraction ?? FAULT_DEFAULTS.restartFraction)
  if (!(fraction > 0 && fraction <= 1)) throw new UsageError(`--fraction must be in (0, 1], got ${values.fraction}`)
  const ms = (name: string, v: string | undefined, fallback: number, min: number): number => v === undefined ? fallback : int(name, v, min, 86_400_000)
  const first = int('seed', values.seed, 0, 0xffffffff)
  const k = int('seeds', values.seeds, 1, 100_000)
  if (first + k - 1 > 0xffffffff) throw new UsageError('--seed + --seeds runs past 2^32 − 1')
  const defaultNodes = scenario === 'default' ? 100 : SCENARIOS[scenario].defaultNodes
  return {
    scenario,
    nodes: values.nodes === undefined ? defaultNodes : int('nodes', values.nodes, scenario === 'partition' ? 6 : scenario === 'hostile' ? 8 : scenario === 'default' ? 2 : 3, 1 << 24),
    loss,
    latencyMs: [lat[0], lat[1]],
    seeds: Array.from({ length: k }, (_, i) => first + i),
    preset: values.preset as GossipPresetName,
    durationMs: int('duration-ms', values['duration-ms'] ?? '60000', 60, 86_400_000),
    sealer: values.sealer,
    json: values.json,
    svg: values.svg,
    runsFile: values['runs-file'],
    fault: {
      settleMs: ms('settle-ms', values['settle-ms'], FAULT_DEFAULTS.settleMs, 0),
      stallMs: ms('stall-ms', values['stall-ms'], FAULT_DEFAULTS.stallMs, 0),
      partitionMs: ms('partition-ms', values['partition-ms'], FAULT_DEFAULTS.partitionMs, 1000),
      downtimeMs: ms('downtime-ms', values['downtime-ms'], FAULT_DEFAULTS.downtimeMs, 0),
      restartFraction: fraction,
      floodMs: ms('flood-ms', values['flood-ms'], FAULT_DEFAULTS.floodMs, 1000)
    }
  }
}

/** One finished seed: its scenario's result and its tracked changes (with delays, for the plot). */
interface SeedRun<R> {
  run: R
  changes: ChangeReport[]
}

/**
 * The arguments a seed's result depends on, the key a runs-file line must match: the
 * scenario, the network, the preset, the sealer and that scenario's own parameters.
 */
function runArgs (o: Options): Record<string, unknown> {
  const own = o.scenario === 'default' ? { durationMs: o.durationMs } : SCENARIOS[o.scenario].params(o.fault)
  return { scenario: o.scenario, nodes: o.nodes, loss: o.loss, latencyMs: o.latencyMs, preset: o.preset, sealer: o.sealer, ...own }
}

/**
 * The seeds already in the runs file, by seed. Lines are `{ args, seed, run, changes }`; a
 * line of other arguments is a usage error (mixing them would pool unlike runs), and a torn
 * last line (the process died while appending) is ignored, so that seed runs again.
 */
function loadRuns<R> (file: string, args: Record<string, unknown>): Map<number, SeedRun<R>> {
  const held = new Map<number, SeedRun<R>>()
  if (!existsSync(file)) return held
  const want = JSON.stringify(args)
  const lines = readFileSync(file, 'utf8').split('\n')
  for (const [i, line] of lines.entries()) {
    if (line === '') continue
    let entry: { args?: unknown, seed?: unknown, run?: R, changes?: ChangeReport[] }
    try {
      entry = JSON.parse(line)
    } catch {
      if (i === lines.length - 1) continue
      throw new UsageError(`--runs-file ${file}: line ${i + 1} is not JSON`)
    }
    if (JSON.stringify(entry.args) !== want) throw new UsageError(`--runs-file ${file}: line ${i + 1} holds a run of other arguments (${JSON.stringify(entry.args)}, this run: ${want})`)
    if (typeof entry.seed !== 'number' || entry.run === undefined || !Array.isArray(entry.changes)) throw new UsageError(`--runs-file ${file}: line ${i + 1} is not a seed's run`)
    held.set(entry.seed, { run: entry.run, changes: entry.changes })
  }
  return held
}

/**
 * Runs `one` on a fresh simulation of each seed in order, with progress on stderr
 * (`plannedMs` of virtual time per seed). With a runs file, seeds it holds are taken from
 * it (`held`, from `loadRuns`) and each newly finished seed is appended before the next starts.
 */
async function eachSeed<R> (o: Options, held: ReadonlyMap<number, SeedRun<R>>, plannedMs: number, label: string, one: (sim: Simulation) => Promise<R>): Promise<Array<SeedRun<R>>> {
  const args = runArgs(o)
  const progress = new Progress({ total: o.seeds.length * plannedMs, label })
  const done: Array<SeedRun<R>> = []
  for (const [k, seed] of o.seeds.entries()) {
    const note = `seed ${seed} (${k + 1}/${o.seeds.length})`
    const loaded = held.get(seed)
    if (loaded !== undefined) {
      progress.update((k + 1) * plannedMs, `${note}: from ${o.runsFile ?? ''}`)
      done.push(loaded)
      continue
    }
    progress.update(k * plannedMs, `${note}: starting`)
    const sim = new Simulation({
      nodes: o.nodes, seed, lossRate: o.loss, latencyMs: o.latencyMs, preset: o.preset, sealer: o.sealer,
      onProgress: ms => { progress.update(k * plannedMs + Math.min(ms, plannedMs), note) }
    })
    const run = await one(sim)
    const entry = { run, changes: sim.changes() }
    await sim.stop()
    if (o.runsFile !== undefined) appendFileSync(o.runsFile, JSON.stringify({ args, seed, ...entry }) + '\n')
    // Through JSON either way, so a resumed run reports exactly the bytes of an unbroken one.
    done.push(o.runsFile === undefined ? entry : JSON.parse(JSON.stringify(entry)))
  }
  progress.finish()
  return done
}

/** Runs the command; returns the exit code. */
export async function simCommand (args: string[]): Promise<number> {
  let o: Options
  let held: Map<number, SeedRun<unknown>>
  try {
    o = parse(args)
    held = o.runsFile === undefined ? new Map() : loadRuns(o.runsFile, runArgs(o))
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof TypeError)) throw err
    console.error(`wiremesh sim: ${err.message}\n${SIM_USAGE}`)
    return 2
  }
  if (o.scenario !== 'default') return await faultCommand(o, o.scenario, held)
  const wallStart = performance.now()
  const gossipIntervalMs = resolveGossipConfig(o.preset).gossipIntervalMs
  const done = await eachSeed(o, held as Map<number, SeedRun<SimulationResult>>, o.durationMs, `sim ${o.nodes} nodes`, async sim => {
    await defaultScenario(sim, o.durationMs)
    return sim.result()
  })
  const runs = done.map(d => d.run)
  const changes = done.flatMap(d => d.changes)
  const summary = summarize(changes, gossipIntervalMs)
  const mean = (f: (r: SimulationResult) => number): number => runs.reduce((s, r) => s + f(r), 0) / runs.length
  const report = {
    nodes: o.nodes,
    seeds: o.seeds,
    sealer: o.sealer,
    preset: o.preset,
    lossRate: o.loss,
    latencyMs: o.latencyMs,
    durationMs: o.durationMs,
    gossipIntervalMs,
    ...summary,
    idleBytesPerNodePerSec: mean(r => r.idle?.bytesPerNodePerSec ?? 0),
    idlePacketsPerNodePerSec: mean(r => r.idle?.packetsPerNodePerSec ?? 0),
    runs,
    // The one wall-clock figure, kept last: everything above is the same bytes for the same arguments.
    wallSeconds: Number(((performance.now() - wallStart) / 1000).toFixed(3))
  }
  if (o.svg !== undefined) {
    const title = `${o.nodes} nodes, ${o.preset}, loss ${o.loss}, ${o.seeds.length} seed${o.seeds.length === 1 ? '' : 's'}`
    writeFileSync(o.svg, convergencePlot(changes, gossipIntervalMs, { title }))
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(report) + '\n')
  } else {
    const f = (x: number | null, d = 2): string => x === null ? 'never' : x.toFixed(d)
    console.log(`${o.nodes} nodes, ${o.seeds.length} seed(s), preset ${o.preset}, sealer ${o.sealer}, loss ${o.loss}, latency ${o.latencyMs.join('–')} ms`)
    console.log(`converged:        ${summary.converged ? 'yes' : 'NO'} (${summary.changes} tracked changes)`)
    console.log(`rounds to all:    p50 ${f(summary.roundsP50)}, p99 ${f(summary.roundsP99)} (round = ${gossipIntervalMs} ms)`)
    console.log(`time to all:      p50 ${f(summary.timeP50Ms, 0)} ms, p99 ${f(summary.timeP99Ms, 0)} ms`)
    console.log(`idle traffic:     ${report.idleBytesPerNodePerSec.toFixed(1)} B/s, ${report.idlePacketsPerNodePerSec.toFixed(2)} packets/s per node`)
    if (runs.length === 1 && runs[0].idle?.byType !== undefined) {
      console.log(`  by type:        ${Object.entries(runs[0].idle.byType).map(([t, v]) => `${t} ${v.bytesPerNodePerSec.toFixed(1)}`).join(', ')} (B/s)`)
    }
    if (o.svg !== undefined) console.log(`plot:             ${o.svg}`)
    console.log(`wall time:        ${report.wallSeconds} s`)
  }
  return summary.converged ? 0 : 1
}

/** A fault scenario on each seed: its figures pooled, per-seed runs, targets met or not. */
async function faultCommand (o: Options, name: FaultScenarioName, held: Map<number, SeedRun<unknown>>): Promise<number> {
  const wallStart = performance.now()
  const scenario = SCENARIOS[name]
  const cfg = resolveGossipConfig(o.preset)
  const plannedMs = scenario.plannedMs(o.fault, cfg, o.nodes)
  const done = await eachSeed(o, held, plannedMs, `sim ${name} ${o.nodes} nodes`, async sim => await scenario.run(sim, o.fault))
  const runs = done.map(d => d.run)
  const changes = done.flatMap(d => d.changes)
  const summary = scenario.summarize(runs)
  const report = {
    scenario: name,
    nodes: o.nodes,
    seeds: o.seeds,
    sealer: o.sealer,
    preset: o.preset,
    lossRate: o.loss,
    latencyMs: o.latencyMs,
    gossipIntervalMs: cfg.gossipIntervalMs,
    ...scenario.params(o.fault),
    ...summary,
    runs,
    wallSeconds: Number(((performance.now() - wallStart) / 1000).toFixed(3))
  }
  if (o.svg !== undefined) {
    const title = `${name}, ${o.nodes} nodes, ${o.preset}, loss ${o.loss}, ${o.seeds.length} seed${o.seeds.length === 1 ? '' : 's'}`
    writeFileSync(o.svg, convergencePlot(changes, cfg.gossipIntervalMs, { title }))
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(report) + '\n')
  } else {
    console.log(`${name}: ${o.nodes} nodes, ${o.seeds.length} seed(s), preset ${o.preset}, sealer ${o.sealer}, loss ${o.loss}, latency ${o.latencyMs.join('–')} ms`)
    for (const line of scenario.lines(summary, runs)) console.log(line)
    console.log(`targets:          ${summary.ok ? 'met' : 'MISSED'}`)
    if (o.svg !== undefined) console.log(`plot:             ${o.svg}`)
    console.log(`wall time:        ${report.wallSeconds} s`)
  }
  return summary.ok ? 0 : 1
}
