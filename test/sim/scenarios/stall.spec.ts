/**
 * The stall scenario at small N: a member frozen for 5 s is suspected, refutes, and is never
 * declared dead by anyone; one frozen far longer than the suspicion timeout is (so the count
 * is not vacuous).
 */
import { expect } from 'chai'
import { Simulation, stallScenario, summarizeStall } from '../../../lib/sim/index.js'
import { withSeed } from '../../helpers/seed.js'

describe('sim/scenarios/stall', function () {
  this.timeout(60_000)

  it('a 5 s stall: falseDeaths 0 and the node alive everywhere at the end (SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const sim = new Simulation({ nodes: 20, seed })
      const run = await stallScenario(sim, { settleMs: 3000, stallMs: 5000, afterMs: 10_000 })
      await sim.stop()
      expect(run).to.include({ falseDeaths: 0, stalledDeclaredDead: 0, aliveEverywhere: true })
      expect(run.falseDeathPairs).to.deep.equal([])
      expect(run.stalled).to.be.within(1, 19)
      expect(summarizeStall([run])).to.include({ falseDeaths: 0, aliveEverywhere: true, ok: true })
    })
  })

  it('a 40 s stall is declared dead, and counted as false deaths (SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const sim = new Simulation({ nodes: 12, seed })
      const run = await stallScenario(sim, { settleMs: 2000, stallMs: 40_000, afterMs: 10_000 })
      await sim.stop()
      expect(run.stalledDeclaredDead).to.be.at.least(1)
      expect(run.falseDeaths).to.be.at.least(run.stalledDeclaredDead)
      expect(run.falseDeathPairs.every(f => f.subject === run.stalled)).to.equal(true)
      expect(run.incarnationAfter).to.be.above(run.incarnationBefore) // it refuted once thawed
      expect(summarizeStall([run]).ok).to.equal(false)
    })
  })
})
