/**
 * The partition scenario at small N: admin changes on both sides of a split all reach every
 * node after heal, within one anti-entropy period, and the member lists agree.
 */
import { expect } from 'chai'
import { pushPullIntervalFor, resolveGossipConfig } from '../../../lib/gossip/config.js'
import { partitionScenario, Simulation, summarizePartition } from '../../../lib/sim/index.js'
import { withSeed } from '../../helpers/seed.js'

describe('sim/scenarios/partition', function () {
  this.timeout(60_000)

  it('opsLost 0 and healMs <= one anti-entropy period (SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const sim = new Simulation({ nodes: 16, seed })
      const run = await partitionScenario(sim, { settleMs: 2000, partitionMs: 30_000, enrollsPerSide: 2 })
      const views = sim.live().map(i => sim.meshOf(i).replica.viewFingerprint())
      await sim.stop()
      expect(run.admin).to.be.within(1, 15)
      expect(run.grantMs).to.be.below(5000)
      expect(run.sides).to.deep.equal([8, 8])
      expect(run.enrolled.map(e => e.length)).to.deep.equal([2, 2])
      expect(run).to.include({ opsDuringSplit: 6, opsLost: 0 })
      expect(run.antiEntropyMs).to.equal(pushPullIntervalFor(resolveGossipConfig('lan'), 16 + 4 - 2))
      expect(run.healMs).to.be.a('number').and.at.most(run.antiEntropyMs)
      expect(run.digestsAgreeMs).to.be.at.most(run.healMs!)
      expect(run.members).to.equal(run.expectedMembers)
      expect(new Set(views).size).to.equal(1)
      expect(summarizePartition([run])).to.include({ opsLost: 0, ok: true })
    })
  })
})
