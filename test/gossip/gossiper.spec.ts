import { expect } from 'chai'
import { pushPullIntervalFor, resolveGossipConfig } from '../../lib/gossip/config.js'
import { encodeMessage } from '../../lib/gossip/messages.js'
import { MessageType } from '../../lib/wire/header.js'
import { withSeed } from '../helpers/seed.js'
import { enrollInit, popOf } from '../helpers/org.js'
import { cfg, cluster, identityFrom, lists, run, teardown, until } from '../helpers/gossip-cluster.js'

describe('gossip/gossiper', () => {
  it('spreads a new enroll to every node within a few gossip intervals', async function () {
    await withSeed(this, async (random) => {
      const c = await cluster(random, 8)
      const joiner = identityFrom(random)
      c.admin.enroll(enrollInit(joiner, c.nodes[0].replica, { name: 'joiner' }))
      const ms = await until(c, () => c.nodes.every(n => lists(n, joiner.wgPublicKey)), 5 * cfg.gossipIntervalMs, 1)
      console.log(`      converged in ${ms} ms of virtual time (gossipIntervalMs ${cfg.gossipIntervalMs}, latency 1–50 ms)`)
      // Convergence check: every replica holds the same ops.
      for (const n of c.nodes) expect(n.replica.digest()).to.deep.equal(c.nodes[0].replica.digest())
      expect(c.nodes.slice(1).some(n => n.gossiper.stats().opsFromGossip > 0)).to.equal(true)
      await teardown(c)
    })
  })

  it('spreads a revocation, after which every node drops the revoked node\'s packets', async function () {
    await withSeed(this, async (random) => {
      const c = await cluster(random, 8)
      const victim = c.nodes[7]
      const others = c.nodes.slice(0, 7)
      c.admin.revoke(victim.id.wgPublicKey, { reason: 'test' })
      await until(c, () => others.every(n => !lists(n, victim.id.wgPublicKey) && n.replica.isRevoked(victim.id.wgPublicKey)), 5 * cfg.gossipIntervalMs, 1)
      victim.gossiper.stop()
      await run(c, 100) // whatever the victim had in flight lands first
      const before = others.map(n => n.gossiper.stats().drops['unknown-sender'])
      const payload = encodeMessage(MessageType.gossip, { type: MessageType.gossip, ops: [], states: [] }, 1000).payload
      for (const n of others) victim.transport.send(n.endpoint, victim.sealer.seal(n.id.wgPublicKey, MessageType.gossip, payload))
      await run(c, 100)
      others.forEach((n, i) => expect(n.gossiper.stats().drops['unknown-sender'], `node ${i}`).to.be.greaterThan(before[i]))
      for (const n of others) expect(n.replica.digest()).to.deep.equal(c.nodes[0].replica.digest())
      await teardown(c)
    })
  })

  it('brings a node that missed the broadcast up to date by pulls alone (heads hash on SWIM pings), with 10% loss', async function () {
    this.timeout(30_000)
    await withSeed(this, async (random) => {
      // Anti-entropy far off, so the repair can only come from the heads hash on pings and
      // acks (a digest exchange that happens to fire first would repair it too: engine.spec).
      const c = await cluster(random, 8, {}, resolveGossipConfig('sim', { pushPullIntervalMs: 86_400_000 }))
      const lagger = c.nodes[5]
      const rest = c.nodes.filter(n => n !== lagger)
      const joiner = identityFrom(random)
      c.net.partition({ alone: [lagger.endpoint] })
      c.admin.enroll(enrollInit(joiner, c.nodes[0].replica))
      // Gossip is done when every queue has drained: from then on only anti-entropy can help.
      await until(c, () => rest.every(n => lists(n, joiner.wgPublicKey)) && c.nodes.every(n => n.gossiper.stats().queued === 0), 20 * cfg.gossipIntervalMs)
      expect(lists(lagger, joiner.wgPublicKey)).to.equal(false)
      c.net.heal()
      c.net.setLoss(0.1)
      const ms = await until(c, () => lists(lagger, joiner.wgPublicKey), 60 * cfg.probeIntervalMs, 20)
      console.log(`      pulls repaired the lagger in ${ms} ms of virtual time (probeIntervalMs ${cfg.probeIntervalMs})`)
      expect(lagger.gossiper.stats().opsFromPull).to.be.greaterThan(0)
      expect(lagger.gossiper.stats().opsFromGossip).to.equal(0)
      // The first ping or ack across the healed link shows differing heads: a pull follows at
      // once, long before the next anti-entropy round (DESIGN §3).
      expect(lagger.gossiper.stats().gapPulls + c.nodes.reduce((a, n) => a + n.gossiper.stats().gapPulls, 0)).to.be.greaterThan(0)
      for (const n of c.nodes) expect(n.replica.digest()).to.deep.equal(c.nodes[0].replica.digest())
      await teardown(c)
    })
  })

  it('pulls a missing causal past from the sender at once, without waiting for anti-entropy', async function () {
    await withSeed(this, async (random) => {
      const c = await cluster(random, 8)
      const lagger = c.nodes[5]
      const rest = c.nodes.filter(n => n !== lagger)
      const first = identityFrom(random)
      const second = identityFrom(random)
      c.net.partition({ alone: [lagger.endpoint] })
      c.admin.enroll(enrollInit(first, c.nodes[0].replica))
      await until(c, () => rest.every(n => lists(n, first.wgPublicKey)) && c.nodes.every(n => n.gossiper.stats().queued === 0), 20 * cfg.gossipIntervalMs)
      c.net.heal()
      // The root's next op follows `first` on its chain: the lagger cannot place it alone.
      c.admin.enroll(enrollInit(second, c.nodes[0].replica))
      const ms = await until(c, () => lists(lagger, first.wgPublicKey) && lists(lagger, second.wgPublicKey), 5 * cfg.gossipIntervalMs, 1)
      console.log(`      the lagger filled its gap in ${ms} ms of virtual time`)
      expect(lagger.gossiper.stats().gapPulls).to.be.greaterThan(0)
      await until(c, () => c.nodes.every(n => lists(n, second.wgPublicKey)), 5 * cfg.gossipIntervalMs, 1)
      for (const n of c.nodes) expect(n.replica.digest()).to.deep.equal(c.nodes[0].replica.digest())
      await teardown(c)
    })
  })

  it('counts and drops hostile packets without throwing', async function () {
    await withSeed(this, async (random) => {
      const c = await cluster(random, 3)
      const target = c.nodes[1]
      const garbage = random.bytes(100)
      garbage[0] = 0 // not the magic: malformed whatever the seed
      c.nodes[0].transport.send(target.endpoint, garbage)
      c.nodes[0].transport.send(target.endpoint, c.nodes[0].sealer.seal(target.id.wgPublicKey, MessageType.gossip, new Uint8Array([5, 1]))) // sealed, bad payload
      await run(c, 100)
      const s = target.gossiper.stats()
      expect(s.drops.malformed).to.equal(1)
      expect(s.drops['bad-message']).to.equal(1)
      expect(target.transport.stats().handlerErrors).to.equal(0)
      await teardown(c)
    })
  })

  it('stop() is idempotent and leaves no timers: nothing is sent afterwards', async function () {
    await withSeed(this, async (random) => {
      const c = await cluster(random, 8)
      for (const n of c.nodes) n.gossiper.start() // idempotent
      const joiner = identityFrom(random)
      c.admin.enroll(enrollInit(joiner, c.nodes[0].replica))
      await run(c, 50)
      for (const n of c.nodes) { n.gossiper.stop(); n.gossiper.stop() }
      c.net.clear()
      expect(c.clock.pending).to.equal(0)
      const sent = c.nodes.map(n => n.transport.stats().packetsSent)
      // Two draws, as before the proof of possession: the same seeded keys (the second one's signing key is enrolled).
      const w = identityFrom(random)
      const k = identityFrom(random)
      c.admin.enroll({ wgPublicKey: w.wgPublicKey, signPublicKey: k.signPublicKey, pop: popOf(k, c.nodes[0].replica, w.wgPublicKey) })
      await run(c, 2 * pushPullIntervalFor(cfg, 8), 100)
      expect(c.nodes.map(n => n.transport.stats().packetsSent)).to.deep.equal(sent)
      expect(c.clock.pending).to.equal(0)
      for (const n of c.nodes) expect(n.gossiper.isStarted()).to.equal(false)
      await teardown(c)
    })
  })
})
