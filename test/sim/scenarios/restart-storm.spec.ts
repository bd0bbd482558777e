/**
 * The restart-storm scenario at small N: 30 % of the nodes restart at once and every live
 * node holds each of them alive at its new incarnation well within 3 anti-entropy periods.
 */
import { expect } from 'chai'
import { RESTART_TARGET_PERIODS } from '../../../lib/sim/scenarios/restart-storm.js'
import { restartStormScenario, Simulation, summarizeRestartStorm } from '../../../lib/sim/index.js'
import { withSeed } from '../../helpers/seed.js'

describe('sim/scenarios/restart-storm', function () {
  this.timeout(60_000)

  it('aliveAgainMs <= 3 anti-entropy periods, no false death (SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const sim = new Simulation({ nodes: 20, seed })
      const run = await restartStormScenario(sim, { settleMs: 2000, fraction: 0.3, downtimeMs: 2000 })
      await sim.stop()
      expect(sim.clock.pending).to.equal(0)
      expect(run).to.include({ restarted: 6, downtimeMs: 2000, falseDeaths: 0 })
      expect(run.backAtMs - run.stoppedAtMs).to.equal(2000)
      expect(run.aliveAgainMs).to.be.a('number').and.at.most(RESTART_TARGET_PERIODS * run.antiEntropyMs)
      expect(run.pending).to.deep.equal([])
      expect(run.events.restart).to.equal(6)
      expect(run.trafficDown.nodes).to.equal(14)
      expect(run.trafficBack.bytes).to.be.above(0)
      expect(summarizeRestartStorm([run])).to.include({ ok: true, falseDeaths: 0 })
    })
  })
})
