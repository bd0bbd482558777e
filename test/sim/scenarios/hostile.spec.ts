/**
 * The hostile scenario at small N (issue 11's acceptance, `wiremesh sim --scenario hostile`
 * at 1,000 nodes): while one member floods crafted ops at its gossip budget, honest
 * enrolments and revocations reach every node within 4 rounds at p99, no node fails to encode
 * a message, and the node cut off during the flood heals within one anti-entropy period.
 */
import { expect } from 'chai'
import { pushPullIntervalFor, resolveGossipConfig } from '../../../lib/gossip/config.js'
import { HOSTILE_ROUNDS_TARGET, hostileScenario, type HostileRun, summarizeHostile } from '../../../lib/sim/scenarios/hostile.js'
import { Simulation } from '../../../lib/sim/simulation.js'
import { withSeed } from '../../helpers/seed.js'

const NODES = 30

// A 30 s flood spaces the changes 3 s apart (floodMs / 10). Closer, a revocation can come
// before a young joiner is reachable by gossip (the others learn its endpoint from its node
// state, which spreads after its JOIN): slow there with no flood at all. At 2 s apart,
// SEED=1598275127 took 8.2 rounds to reach a joiner 2 s old (and did so on the commit that
// added this test); at 3 s, 13 seeds tried, that one included, gave p99 0.7-2.3 rounds.

async function once (seed: number): Promise<HostileRun> {
  const sim = new Simulation({ nodes: NODES, seed, lossRate: 0.05 })
  const run = await hostileScenario(sim, { settleMs: 2000, floodMs: 30_000 })
  await sim.stop()
  expect(sim.clock.pending, 'timers left after stop()').to.equal(0)
  return run
}

describe('sim/scenarios/hostile', function () {
  this.timeout(60_000)

  it('honest changes in <= 4 rounds, no encode error, the cut-off node heals within one anti-entropy period (SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const run = await once(seed)
      // The flood happened, and was one payload per gossip interval at most.
      expect(run.craftedOps).to.be.above(0)
      expect(run.craftedBytes).to.be.at.most((run.floodMs / run.gossipIntervalMs + 1) * 1400)
      expect(run.attacker).to.not.equal(run.victim)
      // 4 enrolments, 4 revocations, then the attacker's.
      expect(run.changes.map(c => c.kind)).to.deep.equal(['enroll', 'revoke', 'enroll', 'revoke', 'enroll', 'revoke', 'enroll', 'revoke', 'revoke'])
      expect(run.changes.at(-1)!.subject).to.equal(run.attacker)
      expect(run.rounds.roundsP99, 'rounds p99').to.be.a('number').and.at.most(HOSTILE_ROUNDS_TARGET)
      expect(run.encodeErrors, 'encodeErrors').to.equal(0)
      expect(run.antiEntropyMs).to.equal(pushPullIntervalFor(resolveGossipConfig('lan'), NODES + 4 - 5))
      expect(run.healMs, 'healMs').to.be.a('number').and.at.most(run.antiEntropyMs)
      expect(run.replay).to.equal(`wiremesh sim --scenario hostile --nodes ${NODES} --loss 0.05 --latency-ms 1,50 --preset lan --sealer real --settle-ms 2000 --flood-ms 30000 --seed ${seed}`)
      expect(summarizeHostile([run]).ok).to.equal(true)
      expect(JSON.stringify(await once(seed))).to.equal(JSON.stringify(run))
    })
  })
})
