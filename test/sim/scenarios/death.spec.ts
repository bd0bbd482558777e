/**
 * The death scenario at small N: every live node declares the killed member unreachable,
 * nobody else is declared dead, and a seed replays byte for byte. The 10 s target is for
 * p99 over seeds (`summarizeDeath`, the CLI); one seed is only held to what the suspicion
 * timer guarantees with no confirmation at all: its maximum, plus a few probe periods for the
 * first failed probe (at 24 nodes a few seeds in a hundred take 10–15 s: the victim's ring
 * predecessor is the only node that probes it often, and its repeated failures are not
 * independent confirmations).
 */
import { expect } from 'chai'
import { resolveGossipConfig, suspicionTimeoutAfterMs } from '../../../lib/gossip/config.js'
import { DEATH_TARGET_MS, deathScenario, type DeathRun, Simulation, summarizeDeath } from '../../../lib/sim/index.js'
import { withSeed } from '../../helpers/seed.js'

async function once (seed: number): Promise<DeathRun> {
  const sim = new Simulation({ nodes: 24, seed })
  const run = await deathScenario(sim, { settleMs: 3000, tailMs: 3000 })
  await sim.stop()
  expect(sim.clock.pending, 'timers left after stop()').to.equal(0)
  return run
}

describe('sim/scenarios/death', function () {
  this.timeout(60_000)

  it('every live node declares the victim unreachable, in bounded time, no false death (SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const run = await once(seed)
      expect(run.victim).to.be.within(1, 23)
      expect(run).to.include({ expected: 23, declared: 23, falseDeaths: 0 })
      expect(run.never).to.deep.equal([])
      const cfg = resolveGossipConfig('lan')
      expect(run.deadAllMs).to.be.a('number').and.at.most(suspicionTimeoutAfterMs(cfg, 24, 0) + 5 * cfg.probeIntervalMs)
      expect(run.firstMs).to.be.at.most(run.deadAllMs!)
      expect(run.bySuspicionTimeout).to.be.at.least(1) // someone's own suspicion ran out first
      expect(run.slowest[0].delayMs).to.equal(run.deadAllMs)
      const summary = summarizeDeath([run])
      expect(summary).to.include({ declaredAll: true, falseDeaths: 0, deadAllMsP99: run.deadAllMs, ok: run.deadAllMs! <= DEATH_TARGET_MS })
      expect(JSON.stringify(await once(seed))).to.equal(JSON.stringify(run))
    })
  })
})
