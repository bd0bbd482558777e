import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect } from 'chai'
import { testSeed } from '../helpers/seed.js'

const MAIN = fileURLToPath(new URL('../../lib/cli/main.ts', import.meta.url))

async function wiremesh (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', MAIN, ...args], { maxBuffer: 64 << 20 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number, stdout?: string, stderr?: string }
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

describe('sim/cli: wiremesh sim', function () {
  this.timeout(60_000)

  it('--json prints exactly one object, the same bytes for the same seed but wallSeconds (SEED replays)', async function () {
    const seed = testSeed()
    const dir = mkdtempSync(join(tmpdir(), 'wiremesh-sim-'))
    try {
      const args = ['sim', '--nodes', '8', '--seeds', '2', '--seed', String(Math.min(seed, 0xfffffffe)), '--duration-ms', '3000', '--json']
      const [a, b] = await Promise.all([wiremesh([...args, '--svg', join(dir, 'a.svg')]), wiremesh([...args, '--svg', join(dir, 'b.svg')])])
      if (a.code !== 0) console.log(`      replay: SEED=${seed} npm test -- --grep 'sim/cli'\n${a.stderr}`)
      expect(a.code).to.equal(0)
      expect(a.stdout.trimEnd().split('\n')).to.have.length(1)
      const ja = JSON.parse(a.stdout) as Record<string, unknown>
      for (const k of ['roundsP50', 'roundsP99', 'converged', 'idleBytesPerNodePerSec', 'wallSeconds', 'nodes', 'seeds', 'sealer']) expect(ja).to.have.property(k)
      expect(ja).to.include({ nodes: 8, sealer: 'real', converged: true, changes: 4 })
      expect(Object.keys(ja).at(-1)).to.equal('wallSeconds')
      const strip = (s: string): string => s.replace(/"wallSeconds":[0-9.e+-]+/, '')
      expect(strip(a.stdout)).to.equal(strip(b.stdout))
      expect(readFileSync(join(dir, 'a.svg'), 'utf8')).to.equal(readFileSync(join(dir, 'b.svg'), 'utf8'))
      expect(a.stderr).to.include('100%') // progress, on stderr only
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('--scenario stall --json: its figures, per-seed runs, the same bytes for the same seed (SEED replays)', async function () {
    const seed = Math.min(testSeed(), 0xfffffffe)
    const args = ['sim', '--scenario', 'stall', '--nodes', '10', '--seeds', '2', '--seed', String(seed), '--settle-ms', '2000', '--json']
    const [a, b] = await Promise.all([wiremesh(args), wiremesh(args)])
    if (a.code !== 0) console.log(`      replay: SEED=${seed} npm test -- --grep 'sim/cli'\n${a.stderr}`)
    expect(a.code).to.equal(0)
    const j = JSON.parse(a.stdout) as Record<string, unknown> & { runs: Array<Record<string, unknown>> }
    expect(j).to.include({ scenario: 'stall', nodes: 10, stallMs: 5000, falseDeaths: 0, aliveEverywhere: true, ok: true })
    expect(j.runs.map(r => r.seed)).to.deep.equal([seed, seed + 1])
    expect(Object.keys(j).at(-1)).to.equal('wallSeconds')
    const strip = (s: string): string => s.replace(/"wallSeconds":[0-9.e+-]+/, '')
    expect(strip(a.stdout)).to.equal(strip(b.stdout))
    expect(a.stderr).to.include('100%')
    // The table names the figures.
    const t = await wiremesh(['sim', '--scenario', 'stall', '--nodes', '8', '--seed', String(seed), '--settle-ms', '1000', '--stall-ms', '2000'])
    expect(t.code).to.equal(0)
    expect(t.stdout).to.include('false deaths:').and.include('targets:          met')
  })

  it('--runs-file: an interrupted run resumes from the seeds it finished and reports the same bytes (SEED replays)', async function () {
    const seed = Math.min(testSeed(), 0xfffffffd)
    const dir = mkdtempSync(join(tmpdir(), 'wiremesh-sim-'))
    try {
      const file = join(dir, 'runs.jsonl')
      const args = ['sim', '--nodes', '8', '--seeds', '3', '--seed', String(seed), '--duration-ms', '3000', '--json']
      const [whole, logged] = await Promise.all([wiremesh(args), wiremesh([...args, '--runs-file', file])])
      if (whole.code !== 0 || logged.code !== 0) console.log(`      replay: SEED=${seed} npm test -- --grep 'sim/cli'\n${whole.stderr}${logged.stderr}`)
      expect(whole.code).to.equal(0)
      expect(logged.code).to.equal(0)
      const strip = (s: string): string => s.replace(/"wallSeconds":[0-9.e+-]+/, '')
      expect(strip(logged.stdout)).to.equal(strip(whole.stdout))
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
      expect(lines.map(l => (JSON.parse(l) as { seed: number }).seed)).to.deep.equal([seed, seed + 1, seed + 2])
      // As if killed while appending the second seed's line: the first is loaded, the rest run again.
      writeFileSync(file, lines[0] + '\n' + lines[1].slice(0, 40))
      const resumed = await wiremesh([...args, '--runs-file', file])
      expect(resumed.code).to.equal(0)
      expect(resumed.stderr).to.include(`seed ${seed} (1/3): from ${file}`)
      expect(strip(resumed.stdout)).to.equal(strip(whole.stdout))
      // Runs of other arguments are not pooled with these.
      const other = await wiremesh([...args.map(a => a === '3000' ? '2000' : a), '--runs-file', file])
      expect(other.code).to.equal(2)
      expect(other.stderr).to.include('holds a run of other arguments')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('an unknown scenario, or an option of another scenario, is a usage error', async () => {
    const bad = await wiremesh(['sim', '--scenario', 'nope'])
    expect(bad.code).to.equal(2)
    expect(bad.stderr).to.include('--scenario')
    const other = await wiremesh(['sim', '--scenario', 'death', '--stall-ms', '10'])
    expect(other.code).to.equal(2)
    expect(other.stderr).to.include('--stall-ms does not apply to --scenario death')
    const help = await wiremesh(['sim', '--help'])
    expect(help.stdout).to.include('restart-storm').and.include('100 nodes by default')
  })

  it('a bad option is a usage error (exit 2) naming it', async () => {
    const r = await wiremesh(['sim', '--loss', '3'])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.include('--loss')
    expect(r.stdout).to.equal('')
  })
})
