/**
 * `wiremesh sim`: runs the default scenario (scenario.ts: one tracked enrolment and one
 * tracked revocation) on each seed and reports the pooled figures.
 *
 * With `--json`, stdout is exactly one JSON object; for the same arguments it is the same
 * bytes on every run except `wallSeconds`, the only wall-clock figure (and the last key).
 * Progress goes to stderr. Exit code 0 when every tracked change reached every live node,
 * 1 when one did not, 2 for a usage error.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { GOSSIP_PRESETS, type GossipPresetName } from '../gossip/config.js'
import { type ChangeReport, summarize } from './metrics.js'
import { convergencePlot } from './plot.js'
import { Progress } from './progress.js'
import { defaultScenario } from './scenario.js'
import { Simulation, type SimulationResult } from './simulation.js'

export const SIM_USAGE = `usage: wiremesh sim [options]
  --nodes N          nodes in the org at the start, root included (default 100)
  --loss P           packet loss probability in [0, 1] (default 0)
  --latency-ms A,B   one-way latency, uniform in [A, B] ms (default 1,50)
  --seed S           first seed (default 1)
  --seeds K          run K seeds: S, S+1, … (default 1)
  --preset NAME      gossip preset: ${Object.keys(GOSSIP_PRESETS).join(', ')} (default lan)
  --duration-ms D    virtual time per seed (default 60000)
  --sealer KIND      real (default) or null (no cryptography, same sizes)
  --json             print one JSON object instead of a summary
  --svg FILE         write the convergence plot to FILE
Large runs need heap: NODE_OPTIONS=--max-old-space-size=8192 for ~2,000 nodes.`

class UsageError extends Error {}

interface Options {
  nodes: number
  loss: number
  latencyMs: [number, number]
  seeds: number[]
  preset: GossipPresetName
  durationMs: number
  sealer: 'real' | 'null'
  json: boolean
  svg: string | undefined
}

function parse (args: string[]): Options {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      nodes: { type: 'string', default: '100' },
      loss: { type: 'string', default: '0' },
      'latency-ms': { type: 'string', default: '1,50' },
      seed: { type: 'string', default: '1' },
      seeds: { type: 'string', default: '1' },
      preset: { type: 'string', default: 'lan' },
      'duration-ms': { type: 'string', default: '60000' },
      sealer: { type: 'string', default: 'real' },
      json: { type: 'boolean', default: false },
      svg: { type: 'string' }
    }
  })
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`)
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
  const first = int('seed', values.seed, 0, 0xffffffff)
  const k = int('seeds', values.seeds, 1, 100_000)
  if (first + k - 1 > 0xffffffff) throw new UsageError('--seed + --seeds runs past 2^32 − 1')
  return {
    nodes: int('nodes', values.nodes, 2, 1 << 24),
    loss,
    latencyMs: [lat[0], lat[1]],
    seeds: Array.from({ length: k }, (_, i) => first + i),
    preset: values.preset as GossipPresetName,
    durationMs: int('duration-ms', values['duration-ms'], 60, 86_400_000),
    sealer: values.sealer,
    json: values.json,
    svg: values.svg
  }
}

/** Runs the command; returns the exit code. */
export async function simCommand (args: string[]): Promise<number> {
  let o: Options
  try {
    o = parse(args)
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof TypeError)) throw err
    console.error(`wiremesh sim: ${err.message}\n${SIM_USAGE}`)
    return 2
  }
  const wallStart = performance.now()
  const progress = new Progress({ total: o.seeds.length * o.durationMs, label: `sim ${o.nodes} nodes` })
  const runs: SimulationResult[] = []
  const changes: ChangeReport[] = []
  let gossipIntervalMs = 0
  for (const [k, seed] of o.seeds.entries()) {
    const note = `seed ${seed} (${k + 1}/${o.seeds.length})`
    progress.update(k * o.durationMs, `${note}: starting`)
    const sim = new Simulation({
      nodes: o.nodes, seed, lossRate: o.loss, latencyMs: o.latencyMs, preset: o.preset, sealer: o.sealer,
      onProgress: ms => { progress.update(k * o.durationMs + ms, note) }
    })
    await defaultScenario(sim, o.durationMs)
    runs.push(sim.result())
    changes.push(...sim.changes())
    gossipIntervalMs = sim.gossipIntervalMs
    await sim.stop()
  }
  progress.finish()
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
    if (o.svg !== undefined) console.log(`plot:             ${o.svg}`)
    console.log(`wall time:        ${report.wallSeconds} s`)
  }
  return summary.converged ? 0 : 1
}
