/**
 * The gossip engine's liveness, node-state and JOIN paths, on the seeded memory network.
 * (Op dissemination is in gossiper.spec.ts.)
 */
import { expect } from 'chai'
import { resolveGossipConfig } from '../../lib/gossip/config.js'
import { encodeClaim } from '../../lib/gossip/claim.js'
import { encodeSignedNodeState, signNodeState } from '../../lib/gossip/node-state.js'
import { MAX_COUNTER } from '../../lib/membership/op.js'
import { Gossiper } from '../../lib/gossip/gossiper.js'
import { encodeMessage } from '../../lib/gossip/messages.js'
import { inlineVerifier } from '../../lib/membership/verify.js'
import { Replica } from '../../lib/membership/replica.js'
import { MessageType } from '../../lib/wire/header.js'
import { Sealer } from '../../lib/wire/seal.js'
import { cfg, cluster, identityFrom, run, teardown, until, type Node } from '../helpers/gossip-cluster.js'
import { withSeed } from '../helpers/seed.js'
import { enrollInit } from '../helpers/org.js'

const stateOf = (n: Node, of: Node): string | undefined => n.gossiper.liveness.get(of.id.wgPublicKey)?.state

describe('gossip/engine', () => {
  it('declares a killed node dead on every other node, and each says so once', async function () {
    this.timeout(60_000)
    await withSeed(this, async (random) => {
      const c = await cluster(random, 8)
      await run(c, 3_000, 20)
      const victim = c.nodes[3]
      const others = c.nodes.filter(n => n !== victim)
      for (const n of others) expect(stateOf(n, victim)).to.equal('alive')
      const events = others.map(() => 0)
      others.forEach((n, i) => n.gossiper.addEventListener('peer:unreachable', e => { if (e.detail.key.equals(victim.id.wgPublicKey)) events[i]++ }))
      victim.gossiper.stop()
      victim.transport.kill()
      const ms = await until(c, () => others.every(n => stateOf(n, victim) === 'dead'), 60_000, 20)
      console.log(`      dead everywhere ${ms} ms after the kill (8 nodes, sim preset)`)
      expect(events).to.deep.equal(others.map(() => 1))
      // Nobody else was taken down with it.
      for (const a of others) for (const b of others) if (a !== b) expect(stateOf(a, b)).to.equal('alive')
      await teardown(c)
    })
  })

  it('refutes a false suspicion: the accused raises its incarnation and every node holds it alive', async function () {
    this.timeout(30_000)
    await withSeed(this, async (random) => {
      const c = await cluster(random, 8)
      await run(c, 1_000, 20)
      const [, accuser, accused, witness] = c.nodes
      const before = accused.gossiper.incarnation
      const claim = encodeClaim({ type: 'suspect', subject: accused.id.wgPublicKey.id.slice(), incarnation: before, from: accuser.id.wgPublicKey.id.slice() })
      const payload = encodeMessage(MessageType.gossip, { type: MessageType.gossip, ops: [], states: [], claims: [claim] }, 1000).payload
      accuser.transport.send(witness.endpoint, accuser.sealer.seal(witness.id.wgPublicKey, MessageType.gossip, payload))
      await until(c, () => accused.gossiper.incarnation > before, 5_000, 5)
      await until(c, () => c.nodes.every(n => n === accused || (n.gossiper.liveness.get(accused.id.wgPublicKey)?.incarnation === accused.gossiper.incarnation && stateOf(n, accused) === 'alive')), 5_000, 5)
      expect(accused.gossiper.stats().refutations).to.equal(1)
      await teardown(c)
    })
  })

  it('spreads node states: a metadata change reaches every node, signed and verified', async function () {
    await withSeed(this, async (random) => {
      const c = await cluster(random, 8)
      const src = c.nodes[2]
      src.gossiper.setAppMetadata(new TextEncoder().encode('role=db'))
      const ms = await until(c, () => c.nodes.every(n => new TextDecoder().decode(n.gossiper.nodeState(src.id.wgPublicKey)?.appMetadata ?? new Uint8Array()) === 'role=db'), 2_000, 1)
      console.log(`      the new state reached every node in ${ms} ms of virtual time`)
      for (const n of c.nodes) expect(n.gossiper.nodeState(src.id.wgPublicKey)?.endpoints).to.deep.equal([{ host: src.endpoint.host, port: src.endpoint.port, source: 'listen' }])
      await teardown(c)
    })
  })

  it('repairs a missed node state by the bucketed digest exchange', async function () {
    this.timeout(30_000)
    await withSeed(this, async (random) => {
      const c = await cluster(random, 8)
      const lagger = c.nodes[5]
      const src = c.nodes[2]
      // Every node holds every node's state first, so the only difference later is the new one.
      const same = (): boolean => c.nodes.every(n => JSON.stringify(n.gossiper.states.summary()) === JSON.stringify(c.nodes[0].gossiper.states.summary()) && n.gossiper.states.size === c.nodes.length)
      await until(c, same, 60_000, 20)
      c.net.partition({ alone: [lagger.endpoint] })
      src.gossiper.setAppMetadata(new Uint8Array([1, 2, 3]))
      await until(c, () => c.nodes.every(n => n === lagger || n.gossiper.nodeState(src.id.wgPublicKey)?.appMetadata.length === 3) && c.nodes.every(n => n.gossiper.stats().queued === 0), 30_000, 20)
      expect(lagger.gossiper.nodeState(src.id.wgPublicKey)?.appMetadata.length).to.equal(0)
      c.net.heal()
      lagger.gossiper.pushPull()
      await until(c, () => lagger.gossiper.nodeState(src.id.wgPublicKey)?.appMetadata.length === 3, 1_000, 5)
      expect(lagger.gossiper.states.summary()).to.deep.equal(c.nodes[0].gossiper.states.summary())
      await teardown(c)
    })
  })

  it('admits a joiner through a non-root member: cookie, JOIN with the cookie, then a full sync', async function () {
    await withSeed(this, async (random) => {
      const c = await cluster(random, 5)
      const joinerId = identityFrom(random)
      c.admin.enroll(enrollInit(joinerId, c.nodes[0].replica, { name: 'joiner' }))
      await until(c, () => c.nodes.every(n => n.replica.member(joinerId.wgPublicKey) !== undefined), 2_000, 1)
      // The joiner holds only the genesis: everything else must come through the JOIN.
      const replica = new Replica(c.nodes[0].replica.genesis, { clock: c.clock, verifier: inlineVerifier })
      const transport = c.net.createTransport({ host: '10.0.1.1', port: 7946 })
      await transport.start()
      const sealer = new Sealer({ identity: joinerId, orgId: replica.orgId, clock: c.clock, random })
      const joiner = new Gossiper({ identity: joinerId, replica, transport, sealer, clock: c.clock, random }, cfg)
      let joinedVia: string | undefined
      joiner.addEventListener('joined', e => { joinedVia = e.detail.via.toBase64() })
      const via = c.nodes[3]
      joiner.join([{ wgPublicKey: via.id.wgPublicKey, endpoint: via.endpoint }], c.nodes[0].replica.liveEnroll(joinerId.wgPublicKey)!.wire)
      joiner.start()
      // Joined once the reply's last page is in: its pages travel apart (1–50 ms each), so the
      // ops may all be here while a later page (states) is still on its way.
      await until(c, () => Buffer.compare(replica.digest(), c.nodes[0].replica.digest()) === 0 && joinedVia !== undefined, 3_000, 1)
      expect(joinedVia).to.equal(via.id.wgPublicKey.toBase64())
      expect(via.gossiper.stats().sent.cookie).to.equal(1)
      expect(joiner.stats().sent.join).to.be.at.least(2)
      // Its state spreads from there: every member learns where it is.
      await until(c, () => c.nodes.every(n => n.gossiper.endpointOf(joinerId.wgPublicKey)?.host === '10.0.1.1'), 3_000, 5)
      joiner.stop()
      await transport.stop()
      await teardown(c)
    })
  })

  it('a restarted root (no enroll to send) rejoins by digest, not JOIN, even from a new address', async function () {
    await withSeed(this, async (random) => {
      const c = await cluster(random, 4)
      const old = c.nodes[0]
      old.gossiper.stop()
      await old.transport.stop()
      // The same identity and replica on a new port: nobody knows where it is now.
      const transport = c.net.createTransport({ host: '10.0.3.3', port: 7000 })
      await transport.start()
      const sealer = new Sealer({ identity: old.id, orgId: old.replica.orgId, clock: c.clock, random })
      const again = new Gossiper({ identity: old.id, replica: old.replica, transport, sealer, clock: c.clock, random }, cfg, { incarnation: old.gossiper.incarnation + 1 })
      let joined = false
      again.addEventListener('joined', () => { joined = true })
      again.join([{ wgPublicKey: c.nodes[2].id.wgPublicKey, endpoint: c.nodes[2].endpoint }], old.replica.genesis.wire)
      again.start()
      await until(c, () => joined, 3_000, 1)
      expect(again.stats().sent.join).to.equal(0)
      expect(again.stats().sent.digest).to.be.at.least(1)
      await until(c, () => c.nodes.every(n => n === old || n.gossiper.endpointOf(old.id.wgPublicKey)?.host === '10.0.3.3'), 5_000, 5)
      again.stop()
      await transport.stop()
      await teardown(c)
    })
  })

  it('ignores an unsigned state of ours and claims above any signed incarnation: one packet cannot exhaust an incarnation', async function () {
    await withSeed(this, async (random) => {
      const c = await cluster(random, 4)
      await run(c, 1_000, 20)
      const [, liar, victim] = c.nodes
      const before = victim.gossiper.incarnation
      // A "state of the victim" at a huge incarnation, signed by the liar: not the victim's key.
      const forged = encodeSignedNodeState(signNodeState({ wgPublicKey: victim.id.wgPublicKey, incarnation: MAX_COUNTER - 1, endpoints: [], relayedPairs: [], appMetadata: new Uint8Array(0) }, liar.id.signer, victim.replica.orgId))
      const claim = encodeClaim({ type: 'dead', subject: victim.id.wgPublicKey.id.slice(), incarnation: MAX_COUNTER, from: liar.id.wgPublicKey.id.slice() })
      const payload = encodeMessage(MessageType.gossip, { type: MessageType.gossip, ops: [], states: [forged], claims: [claim] }, 1300).payload
      for (const n of c.nodes) if (n !== liar) liar.transport.send(n.endpoint, liar.sealer.seal(n.id.wgPublicKey, MessageType.gossip, payload))
      await run(c, 500, 5)
      expect(victim.gossiper.incarnation).to.equal(before)
      expect(victim.gossiper.stats().badStates).to.equal(1)
      for (const n of c.nodes) if (n !== liar && n !== victim) expect(n.gossiper.liveness.get(victim.id.wgPublicKey)?.state).to.equal('alive')
      await teardown(c)
    })
  })

  it('syncs a lagger missing more than one reply window (64 pages) by pulling again at once', async function () {
    this.timeout(60_000)
    await withSeed(this, async (random) => {
      const c = await cluster(random, 3)
      const lagger = c.nodes[2]
      c.net.partition({ alone: [lagger.endpoint] })
      for (let i = 0; i < 800; i++) { const k = identityFrom(random); c.admin.enroll(enrollInit(k, c.nodes[0].replica)) }
      await until(c, () => Buffer.compare(c.nodes[1].replica.digest(), c.nodes[0].replica.digest()) === 0, 30_000, 20)
      c.net.heal()
      lagger.gossiper.pushPull()
      const ms = await until(c, () => Buffer.compare(lagger.replica.digest(), c.nodes[0].replica.digest()) === 0, 5_000, 5)
      console.log(`      ${c.nodes[0].replica.size} ops reached the lagger in ${ms} ms of virtual time`)
      expect(lagger.gossiper.stats().received.pullReply).to.be.above(64)
      await teardown(c)
    })
  })

  it('answers a pull that comes within REPLY_INTERVAL_MS of a reply once the interval is over, instead of dropping it', async function () {
    await withSeed(this, async (random) => {
      // Probes and anti-entropy off: only the two pulls below ask for anything.
      const quiet = resolveGossipConfig('sim', { probeIntervalMs: 600_000, pushPullIntervalMs: 86_400_000 })
      const c = await cluster(random, 2, { minLatencyMs: 20, maxLatencyMs: 20 }, quiet)
      const [root, lagger] = c.nodes
      c.net.partition({ alone: [lagger.endpoint] })
      for (let i = 0; i < 20; i++) { const k = identityFrom(random); c.admin.enroll(enrollInit(k, c.nodes[0].replica)) }
      await run(c, 1000)
      c.net.heal()
      const before = root.gossiper.stats().sent.pullReply
      // Two pulls 10 ms apart on a 20 ms link: the second reaches the root 10 ms after its
      // reply to the first, and carries the same digest (nothing had arrived when it left).
      const pull = (): void => { (lagger.gossiper as unknown as { pullFrom: (k: unknown, continuing: boolean) => void }).pullFrom(root.id.wgPublicKey, true) }
      pull()
      await run(c, 10, 1)
      pull()
      await run(c, 200, 1)
      const pages = root.gossiper.stats().sent.pullReply - before
      expect(pages, 'both pulls answered with the same pages').to.be.above(0)
      expect(pages % 2).to.equal(0)
      expect(Buffer.compare(lagger.replica.digest(), root.replica.digest())).to.equal(0)
      await teardown(c)
    })
  })

  it('rate-limits JOINs per source prefix and answers none without mac1', async function () {
    await withSeed(this, async (random) => {
      const c = await cluster(random, 2)
      const target = c.nodes[1]
      const flooder = identityFrom(random)
      const t = c.net.createTransport({ host: '10.0.2.7', port: 4000 })
      await t.start()
      const sealer = new Sealer({ identity: flooder, orgId: target.replica.orgId, clock: c.clock, random })
      const enroll = c.nodes[0].replica.liveEnroll(target.id.wgPublicKey)!.wire
      const join = encodeMessage(MessageType.join, { type: MessageType.join, enroll }, 1300).payload
      for (let i = 0; i < 100; i++) t.send(target.endpoint, sealer.seal(target.id.wgPublicKey, MessageType.join, join))
      // A JOIN sealed for someone else fails mac1 before any X25519.
      t.send(target.endpoint, sealer.seal(c.nodes[0].id.wgPublicKey, MessageType.join, join))
      await run(c, 200, 5)
      const s = target.gossiper.stats()
      expect(s.sent.cookie).to.equal(cfg.joinRateLimitPerSec >= 100 ? 100 : cfg.joinRateLimitPerSec)
      expect(s.drops['join-rate']).to.equal(100 - s.sent.cookie)
      expect(s.drops['bad-mac1']).to.equal(1)
      // Limited before the sealer looked at them, and nothing about the JOIN sender was kept.
      expect(target.sealer.drops['bad-mac1']).to.equal(1)
      expect(target.sealer.replay.size).to.be.at.most(c.nodes.length - 1) // members only
      await t.stop()
      await teardown(c)
    })
  })
})
