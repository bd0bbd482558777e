/**
 * The simulator end to end, on small orgs of real `Mesh` nodes. Every test takes SEED (the
 * simulation's own seed) and prints the replay line on failure.
 */
import { expect } from 'chai'
import { defaultScenario, Simulation, type SimulationInit } from '../../lib/sim/index.js'
import { expectCode, expectRejectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'

async function scenario (init: SimulationInit, durationMs: number): Promise<{ sim: Simulation, json: string }> {
  const sim = new Simulation(init)
  await defaultScenario(sim, durationMs)
  const json = JSON.stringify(sim.result())
  await sim.stop()
  expect(sim.clock.pending, 'timers left after stop()').to.equal(0)
  return { sim, json }
}

describe('sim/simulation', function () {
  this.timeout(60_000)

  it('the default scenario converges, and the same seed gives a byte-identical result (SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const init: SimulationInit = { nodes: 12, seed, lossRate: 0.05 }
      const a = await scenario(init, 6000)
      const b = await scenario(init, 6000)
      expect(a.json).to.equal(b.json)
      const r = a.sim.result()
      expect(r.summary).to.include({ changes: 2, converged: true })
      // The revoked member no longer counts for the enrolment: 11 of the 12 who were there.
      expect(r.changes.map(c => [c.kind, c.expected, c.reached])).to.deep.equal([['enroll', 11, 11], ['revoke', 12, 12]])
      expect(r.summary.roundsP99).to.be.a('number').and.above(0)
      expect(r.idle?.bytesPerNodePerSec).to.be.above(0)
      // By type, the gossipers' counts add up to what the transports carried; idle is mostly SWIM.
      const byType = r.idle?.byType ?? {}
      const sum = Object.values(byType).reduce((x, t) => x + t.bytesPerNodePerSec, 0)
      expect(sum).to.be.closeTo(r.idle!.bytesPerNodePerSec, 1e-6)
      expect(byType.ping?.packetsPerNodePerSec).to.be.above(0.5)
      expect(byType.ack?.packetsPerNodePerSec).to.be.above(0.5)
      expect(r.events.joined).to.equal(1)
      const other = await scenario({ ...init, seed: (seed + 1) >>> 0 }, 6000)
      expect(other.json).to.not.equal(a.json)
    })
  })

  it('stall: the node runs nothing while frozen, then handles its timers and packets and catches up (SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const sim = new Simulation({ nodes: 8, seed })
      await sim.start()
      await sim.run(1000)
      const frozen = 3
      sim.stall(frozen, 2000)
      await sim.run(100)
      const joiner = await sim.enroll()
      await sim.run(1000)
      let [c] = sim.changes()
      // Everyone but the frozen node has it.
      expect(c.reached).to.equal(c.expected - 1)
      await sim.run(1000) // the stall ends at +2000 ms
      await sim.runUntilConverged(10_000)
      ;[c] = sim.changes()
      expect(c.converged).to.equal(true)
      // The frozen node saw it only once thawed: at least 1,900 ms after the enrolment.
      expect(c.delaysMs.at(-1)).to.be.at.least(1900)
      expect(sim.isLive(joiner)).to.equal(true)
      await sim.stop()
      expect(sim.clock.pending).to.equal(0)
    })
  })

  it('kill: every live node declares the dead node unreachable (tracked death; SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const sim = new Simulation({ nodes: 8, seed })
      await sim.start()
      await sim.run(2000)
      sim.kill(5)
      expect(await sim.runUntilConverged(60_000)).to.equal(true)
      const [death] = sim.changes()
      expect(death).to.include({ kind: 'death', subject: 5, expected: 7, converged: true })
      expect(() => { sim.kill(5) }).to.throw().with.property('code', 'WIREMESH_ERR_SIMULATION')
      await sim.stop()
      expect(sim.clock.pending).to.equal(0)
    })
  })

  it('partition: a revocation reaches the far side only after heal (SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const sim = new Simulation({ nodes: 10, seed })
      await sim.start()
      await sim.run(1000)
      sim.partition([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
      await sim.revoke(2)
      // The near side (root, 1, 3, 4) by gossip, or by pull once a ping shows differing heads;
      // the far side not at all, however long the split lasts.
      expect(await sim.runUntil(() => sim.changes()[0].reached === 4, 30_000)).to.equal(true)
      await sim.run(10_000)
      let [c] = sim.changes()
      expect(c.reached).to.equal(4)
      for (const far of [5, 6, 7, 8, 9]) expect(sim.meshOf(far).replica.isRevoked(sim.keyOf(2)), `node ${far}`).to.equal(false)
      sim.heal()
      expect(await sim.runUntilConverged(120_000)).to.equal(true)
      ;[c] = sim.changes()
      expect(c).to.include({ expected: 9, reached: 9, converged: true })
      await sim.stop()
    })
  })

  it('restart: restarted nodes come back from their storage and take part again (SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const sim = new Simulation({ nodes: 10, seed })
      await sim.start()
      await sim.run(1000)
      const before = sim.result().traffic.bytes
      const restarted = await sim.restart(0.3)
      expect(restarted).to.have.length(3)
      await sim.run(1000)
      // With downtime the others run on meanwhile; a restart never loses what was counted.
      expect(await sim.restart(0.2, { downtimeMs: 500 })).to.have.length(2)
      expect(sim.result().traffic.bytes).to.be.above(before)
      await sim.enroll()
      expect(await sim.runUntilConverged(60_000)).to.equal(true)
      expect(sim.result().events.restart).to.equal(5)
      await sim.stop()
      expect(sim.clock.pending).to.equal(0)
    })
  })

  it('enroll via an admin: the joiner JOINs through it, on its side of a partition; a sponsor not joined yet is refused (SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const sim = new Simulation({ nodes: 10, seed })
      await sim.start()
      await sim.run(1000)
      const admin = await sim.enroll({ roles: ['admin'] })
      await expectRejectCode(sim.enroll({ via: admin }), 'WIREMESH_ERR_SIMULATION')
      const isAdmin = (): boolean => sim.hasJoined(admin) && sim.meshOf(admin).replica.pending === 0 &&
        sim.meshOf(admin).replica.rankOf(sim.meshOf(admin).identity.signPublicKey) !== undefined
      expect(await sim.runUntil(isAdmin, 30_000)).to.equal(true)
      await sim.runUntilConverged(30_000)
      // A joiner learns the others' endpoints (node states) only at a digest exchange after its
      // JOIN synced; until then it can reach its sponsor alone.
      const knowsAll = (): boolean => [...Array(10).keys()].every(i => sim.meshOf(admin).nodeState(sim.keyOf(i)) !== undefined)
      expect(await sim.runUntil(knowsAll, 60_000)).to.equal(true)
      sim.partition([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9, admin]])
      // (A node that never had 6 could not observe its removal: revoke before the joiner comes.)
      await sim.revoke(6, { via: admin })
      const joiner = await sim.enroll({ via: admin })
      expect(sim.network.groupOf(sim.meshOf(joiner).transport.localEndpoint())).to.equal('g1')
      await sim.run(5000)
      expect(sim.hasJoined(joiner)).to.equal(true)
      const [, revoked, enrolled] = sim.changes()
      expect([revoked.kind, revoked.subject, enrolled.kind, enrolled.subject]).to.deep.equal(['revoke', 6, 'enroll', joiner])
      expect(revoked.reached).to.equal(5) // admin, 5, 7, 8, 9: its side only
      expect(enrolled.reached).to.equal(5)
      sim.heal()
      expect(await sim.runUntilConverged(120_000)).to.equal(true)
      await sim.stop()
      expect(sim.clock.pending).to.equal(0)
    })
  })

  it('grant: the root makes a member an admin, who then revokes through its own Mesh (SEED replays)', async function () {
    await withSeed(this, async (_random, seed) => {
      const sim = new Simulation({ nodes: 6, seed })
      await sim.start()
      await sim.run(500)
      await expectRejectCode(sim.revoke(2, { via: 3 }), 'WIREMESH_ERR_NOT_AUTHORIZED')
      expect(sim.changes()).to.deep.equal([]) // a step that failed tracks nothing
      expect(sim.isLive(2)).to.equal(true)
      await sim.grant(3, ['admin'])
      const sign = sim.meshOf(3).identity.signPublicKey
      expect(await sim.runUntil(() => sim.live().every(i => sim.meshOf(i).replica.rankOf(sign) !== undefined), 30_000)).to.equal(true)
      await sim.revoke(2, { via: 3 })
      expect(await sim.runUntilConverged(30_000)).to.equal(true)
      expect(sim.meshOf(0).replica.member(sim.keyOf(2))).to.equal(undefined)
      await sim.stop()
    })
  })

  it('refuses bad input with typed errors', async () => {
    expectCode(() => new Simulation({ nodes: 0, seed: 1 }), 'WIREMESH_ERR_INVALID_CONFIG')
    expectCode(() => new Simulation({ nodes: 2, seed: -1 }), 'WIREMESH_ERR_INVALID_CONFIG')
    expectCode(() => new Simulation({ nodes: 2, seed: 1, lossRate: 2 }), 'WIREMESH_ERR_INVALID_CONFIG')
    const sim = new Simulation({ nodes: 2, seed: 1 })
    await expectRejectCode(sim.run(10), 'WIREMESH_ERR_SIMULATION')
    await sim.start()
    await expectRejectCode(sim.revoke(0), 'WIREMESH_ERR_SIMULATION')
    expectCode(() => { sim.stall(7, 10) }, 'WIREMESH_ERR_SIMULATION')
    await sim.stop()
  })
})
