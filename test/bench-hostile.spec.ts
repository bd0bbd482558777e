/**
 * `npm run -s bench -- hostile --json` at a small size: one row per attack shape with the
 * figures issue 11's acceptance names, and its bounds.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect } from 'chai'
import type { HostileRow } from '../examples/bench/hostile.js'
import { ATTACK_SHAPES } from '../lib/sim/hostile-ops.js'

const MAIN = fileURLToPath(new URL('../examples/bench/main.ts', import.meta.url))

describe('bench hostile', function () {
  this.timeout(300_000)
  let rows: HostileRow[]

  before(async () => {
    const args = ['--expose-gc', '--import', 'tsx', MAIN, 'hostile', '--members', '50', '--budget-mib', '0.1', '--runs', '1', '--honest', '200', '--json']
    const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 16 << 20 })
    rows = JSON.parse(stdout) as HostileRow[]
  })

  it('--json prints one row per attack shape with its figures', () => {
    expect(rows.map(r => r.attack)).to.deep.equal([...ATTACK_SHAPES])
    for (const r of rows) {
      for (const k of ['sentBytes', 'storedNeverValidBytes', 'heapBytesPerStoredOp', 'cpuRatioVsHonest'] as const) expect(r[k], `${r.attack} ${k}`).to.be.a('number')
      expect(r.sentBytes, r.attack).to.be.within(0.1 * 2 ** 20 - 1024, 0.1 * 2 ** 20)
      expect(r.storedNeverValidBytes, r.attack).to.be.at.most(r.sentBytes)
      expect(r.complete, r.attack).to.equal(true)
      expect(Object.keys(r.pass)).to.deep.equal(['storage', 'heap', 'cpu'])
    }
  })

  it('every shape stores at most 64 KiB never valid, and a never-valid op costs at most 2× an honest op\'s CPU', () => {
    for (const r of rows) expect({ storage: r.pass.storage, cpu: r.pass.cpu }, r.attack).to.deep.equal({ storage: true, cpu: r.attack === 'admin-key-chain' ? null : true })
  })

  it('every shape but admin-key-chain holds at most 2 KB of heap per op it makes a replica hold', () => {
    for (const r of rows) if (r.attack !== 'admin-key-chain') expect(r.pass.heap, r.attack).to.equal(true)
  })

  // The 2 KB bound is still missed for admin-key-chain (3.1-3.8 KB per stored op: half its ops
  // are admin grants, each a new ranked chain; the bench's pass.heap says FAIL, the issue note
  // reports it). What must hold is that it no longer grows with K: 19-58 KB per op and rising
  // before the causal-past trie (36af24e), quadratic in all.
  it('admin-key-chain: heap per stored op does not grow with K', async () => {
    const run = async (mib: string): Promise<HostileRow> => {
      const args = ['--expose-gc', '--import', 'tsx', MAIN, 'hostile', '--members', '50', '--budget-mib', mib, '--runs', '1', '--honest', '200', '--attacks', 'admin-key-chain', '--json']
      const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 16 << 20 })
      return (JSON.parse(stdout) as HostileRow[])[0]
    }
    const small = rows.find(r => r.attack === 'admin-key-chain')!
    const large = await run('0.4')
    expect(large.storedOps, 'four times the ops stored').to.be.above(3 * small.storedOps)
    expect((large.heapBytesPerStoredOp ?? Infinity) / (small.heapBytesPerStoredOp ?? 1), `${small.heapBytesPerStoredOp} B/op at ${small.storedOps} ops, ${large.heapBytesPerStoredOp} at ${large.storedOps}`).to.be.below(1.5)
  })
})
