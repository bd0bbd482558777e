import { createHash } from 'node:crypto'
import { expect } from 'chai'
import type { ChangeReport } from '../../lib/sim/metrics.js'
import { convergencePlot } from '../../lib/sim/plot.js'
import { SeededRandom } from '../../lib/random.js'
import { withSeed } from '../helpers/seed.js'

function changes (random: SeededRandom, n: number): ChangeReport[] {
  return Array.from({ length: n }, (_, i) => {
    const delaysMs = Array.from({ length: 50 }, () => random.next() * 600).sort((a, b) => a - b)
    return {
      kind: i % 3 === 0 ? 'enroll' : i % 3 === 1 ? 'revoke' : 'death',
      subject: i,
      startedAtMs: 1000 * i,
      expected: 50,
      reached: 50,
      converged: true,
      timeToAllMs: delaysMs[49],
      roundsToAll: delaysMs[49] / 200,
      delaysMs
    }
  })
}

describe('sim/plot', () => {
  it('is deterministic: the same changes give the same bytes (lines and bands; SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      for (const n of [3, 40]) {
        const a = convergencePlot(changes(new SeededRandom(seed), n), 200, { title: 'seed <x>' })
        const b = convergencePlot(changes(new SeededRandom(seed), n), 200, { title: 'seed <x>' })
        expect(a).to.equal(b)
        expect(createHash('sha256').update(a).digest('hex')).to.equal(createHash('sha256').update(b).digest('hex'))
        expect(a.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).to.equal(true)
        expect(a.trimEnd().endsWith('</svg>')).to.equal(true)
        expect(a).to.include('seed &lt;x&gt;')
        expect(a).to.not.match(/NaN|Infinity|undefined/)
      }
    })
  })

  it('draws one staircase per change up to maxLines, then a p50/p99 band per kind', () => {
    const random = new SeededRandom(7)
    const few = convergencePlot(changes(random, 3), 200)
    expect(few.match(/<path /g)).to.have.length(3)
    expect(few).to.not.include('<polygon')
    const many = convergencePlot(changes(random, 40), 200)
    expect(many).to.not.include('<path ')
    expect(many.match(/<polygon /g)).to.have.length(3) // enroll, revoke, death
    expect(many).to.include('p99 dashed')
  })

  it('a change that never reached everyone tops out below 100%, and an empty plot is still valid', () => {
    const c: ChangeReport = { kind: 'revoke', subject: 1, startedAtMs: 0, expected: 4, reached: 2, converged: false, timeToAllMs: null, roundsToAll: null, delaysMs: [100, 200] }
    const svg = convergencePlot([c], 200)
    // Two of four nodes: the staircase ends at y = 50%.
    const plotTop = 36
    const plotHeight = 400 - 36 - 44
    expect(svg).to.include(`V${(plotTop + plotHeight / 2).toFixed(2)}"`)
    const empty = convergencePlot([], 200)
    expect(empty).to.include('</svg>')
  })
})
