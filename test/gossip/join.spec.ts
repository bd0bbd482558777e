/**
 * JOIN admission (DESIGN §2.1 "JOIN"): a JOIN carries only ops that can be valid, and a joiner
 * revoked in our view is refused — its op reaches neither the log nor anyone's gossip.
 */
import { expect } from 'chai'
import { Gossiper } from '../../lib/gossip/gossiper.js'
import type { MemoryTransport } from '../../lib/gossip/memory-transport.js'
import type { NodeIdentity } from '../../lib/identity/identity.js'
import type { Key } from '../../lib/identity/key.js'
import { Admin } from '../../lib/membership/admin.js'
import { proveKeys } from '../../lib/membership/pop.js'
import type { Op } from '../../lib/membership/op.js'
import { Replica } from '../../lib/membership/replica.js'
import { inlineVerifier } from '../../lib/membership/verify.js'
import type { SeededRandom } from '../../lib/random.js'
import { Sealer } from '../../lib/wire/seal.js'
import { cfg, cluster, type Cluster, identityFrom, lists, run, teardown, until, type Node } from '../helpers/gossip-cluster.js'
import { withSeed } from '../helpers/seed.js'

/** An identity's public halves with its proof of possession, as an enroll takes them. */
function keysOf (c: Cluster, id: NodeIdentity): { wgPublicKey: Key, signPublicKey: Key, pop: Uint8Array } {
  return { wgPublicKey: id.wgPublicKey, signPublicKey: id.signPublicKey, pop: proveKeys(id.signer, c.nodes[0].replica.orgId, id.wgPublicKey) }
}

interface Joiner { gossiper: Gossiper, transport: MemoryTransport, joined: () => boolean }

/** A gossiper for `id` on a new address that JOINs `via` with `opWire`. */
async function startJoin (c: Cluster, random: SeededRandom, id: NodeIdentity, replica: Replica, host: string, via: Node, opWire: Uint8Array): Promise<Joiner> {
  const transport = c.net.createTransport({ host, port: 7946 })
  await transport.start()
  const sealer = new Sealer({ identity: id, orgId: replica.orgId, clock: c.clock, random })
  const gossiper = new Gossiper({ identity: id, replica, transport, sealer, clock: c.clock, random }, cfg)
  let joined = false
  gossiper.addEventListener('joined', () => { joined = true })
  gossiper.join([{ wgPublicKey: via.id.wgPublicKey, endpoint: via.endpoint }], opWire)
  gossiper.start()
  return { gossiper, transport, joined: () => joined }
}

async function stopJoin (j: Joiner): Promise<void> {
  j.gossiper.stop()
  await j.transport.stop()
}

/**
 * A 4-node cluster where node 3 (the thief) got an admin grant, then, cut off from the
 * others, signed an enroll of a fresh key (`accomplice`) while the root revoked or removed
 * it: `forged` is that enroll, never valid (above the cutoff), held by the thief alone.
 */
async function cutOffAdmin (random: SeededRandom, how: 'revoke' | 'remove' = 'revoke'): Promise<{ c: Cluster, thief: Node, accomplice: NodeIdentity, forged: Op }> {
  const c = await cluster(random, 4)
  const thief = c.nodes[3]
  c.admin.enroll({ ...keysOf(c, thief.id), name: 'n3', roles: ['admin'] })
  await until(c, () => c.nodes.every(n => n.replica.rankOf(thief.id.signPublicKey) === 1), 2_000, 1)
  thief.gossiper.stop()
  const accomplice = identityFrom(random)
  const forged = new Admin(thief.replica, thief.id.signer).enroll({ ...keysOf(c, accomplice), name: 'accomplice' })
  const others = c.nodes.slice(0, 3)
  if (how === 'revoke') {
    c.admin.revoke(thief.id.wgPublicKey, { reason: 'stolen laptop' })
    await until(c, () => others.every(n => n.replica.isRevoked(thief.id.wgPublicKey) && n.replica.isRevoked(thief.id.signPublicKey)), 2_000, 1)
  } else {
    c.admin.remove(thief.id.wgPublicKey)
    await until(c, () => others.every(n => !lists(n, thief.id.wgPublicKey)), 2_000, 1)
  }
  for (const n of others) expect(n.replica.log.has(forged.id), 'only the thief holds its forged op').to.equal(false)
  return { c, thief, accomplice, forged }
}

describe('gossip/join admission', () => {
  it('refuses a revoked member\'s JOIN: its op is neither stored nor re-gossiped (issue 11 #7)', async function () {
    this.timeout(30_000)
    await withSeed(this, async (random) => {
      const { c, thief, forged } = await cutOffAdmin(random)
      const [, target, third] = c.nodes
      const sizes = c.nodes.slice(0, 3).map(n => n.replica.log.size)
      const j = await startJoin(c, random, thief.id, thief.replica, '10.0.9.9', target, forged.wire)
      await run(c, 3_000, 5)
      const s = target.gossiper.stats()
      // The JOIN came with a valid cookie, so it was the op that was refused, not the packet.
      expect(s.sent.cookie).to.be.at.least(1)
      expect(s.joinsRefused).to.be.at.least(1)
      expect(j.joined()).to.equal(false)
      expect(target.replica.log.has(forged.id), 'stored by the JOIN target').to.equal(false)
      expect(third.replica.log.has(forged.id), 're-gossiped to a third node').to.equal(false)
      expect(c.nodes.slice(0, 3).map(n => n.replica.log.size)).to.deep.equal(sizes)
      // Convergence check: the honest replicas still hold the same ops.
      for (const n of c.nodes.slice(0, 3)) expect(n.replica.digest()).to.deep.equal(c.nodes[0].replica.digest())
      await stopJoin(j)
      await teardown(c)
    })
  })

  it('refuses a JOIN whose op is not an enroll of the joiner by an unrevoked admin', async function () {
    this.timeout(30_000)
    await withSeed(this, async (random) => {
      const { c, forged } = await cutOffAdmin(random)
      const [, target, third] = c.nodes
      const sizes = c.nodes.slice(0, 3).map(n => n.replica.log.size)
      // A key nobody revoked relays the thief's op (an enroll of someone else) in its JOIN.
      const relay = identityFrom(random)
      const j = await startJoin(c, random, relay, new Replica(target.replica.genesis, { clock: c.clock, verifier: inlineVerifier }), '10.0.9.8', target, forged.wire)
      await run(c, 3_000, 5)
      expect(target.gossiper.stats().sent.cookie).to.be.at.least(1)
      expect(target.gossiper.stats().joinsRefused).to.be.at.least(1)
      expect(target.replica.log.has(forged.id)).to.equal(false)
      expect(third.replica.log.has(forged.id)).to.equal(false)
      expect(c.nodes.slice(0, 3).map(n => n.replica.log.size)).to.deep.equal(sizes)
      await stopJoin(j)
      await teardown(c)
    })
  })

  it('refuses a JOIN whose enroll was signed by an admin after its removal', async function () {
    this.timeout(30_000)
    await withSeed(this, async (random) => {
      const { c, accomplice, forged } = await cutOffAdmin(random, 'remove')
      const [, target, third] = c.nodes
      const sizes = c.nodes.slice(0, 3).map(n => n.replica.log.size)
      // The enrollee itself JOINs: right subject, unrevoked keys, but the author's authority ended.
      const j = await startJoin(c, random, accomplice, new Replica(target.replica.genesis, { clock: c.clock, verifier: inlineVerifier }), '10.0.9.5', target, forged.wire)
      await run(c, 3_000, 5)
      expect(target.gossiper.stats().sent.cookie).to.be.at.least(1)
      expect(target.gossiper.stats().joinsRefused).to.be.at.least(1)
      expect(j.joined()).to.equal(false)
      expect(target.replica.log.has(forged.id)).to.equal(false)
      expect(third.replica.log.has(forged.id)).to.equal(false)
      expect(c.nodes.slice(0, 3).map(n => n.replica.log.size)).to.deep.equal(sizes)
      await stopJoin(j)
      await teardown(c)
    })
  })

  it('still admits an honest joiner, and a member enrolled by an admin revoked since', async function () {
    this.timeout(30_000)
    await withSeed(this, async (random) => {
      const c = await cluster(random, 4)
      const [root, target, granted] = c.nodes
      // An honest joiner: enrolled by the root, it holds only the genesis and JOINs target.
      const honest = identityFrom(random)
      const enroll = c.admin.enroll({ ...keysOf(c, honest), name: 'honest' })
      const replica = new Replica(root.replica.genesis, { clock: c.clock, verifier: inlineVerifier })
      const j = await startJoin(c, random, honest, replica, '10.0.9.7', target, enroll.wire)
      await until(c, () => j.joined() && Buffer.compare(replica.digest(), root.replica.digest()) === 0, 3_000, 1)
      expect(target.gossiper.stats().joinsRefused).to.equal(0)
      await stopJoin(j)

      // A member enrolled by admin `granted`, which is revoked afterwards (the enroll, below
      // the revoke's cutoff, stays valid): after a restart its JOIN with that enroll still syncs.
      c.admin.enroll({ ...keysOf(c, granted.id), name: 'n2', roles: ['admin'] })
      await until(c, () => c.nodes.every(n => n.replica.rankOf(granted.id.signPublicKey) === 1), 2_000, 1)
      const member = identityFrom(random)
      const byGranted = new Admin(granted.replica, granted.id.signer).enroll({ ...keysOf(c, member), name: 'member' })
      await until(c, () => c.nodes.every(n => lists(n, member.wgPublicKey)), 2_000, 1)
      c.admin.revoke(granted.id.wgPublicKey, { reason: 'test' })
      await until(c, () => c.nodes.every(n => n === granted || (n.replica.isRevoked(granted.id.signPublicKey) && lists(n, member.wgPublicKey))), 2_000, 1)
      const again = new Replica(root.replica.genesis, { clock: c.clock, verifier: inlineVerifier })
      const k = await startJoin(c, random, member, again, '10.0.9.6', target, byGranted.wire)
      await until(c, () => k.joined() && Buffer.compare(again.digest(), root.replica.digest()) === 0, 3_000, 1)
      expect(target.gossiper.stats().joinsRefused).to.equal(0)
      await stopJoin(k)
      await teardown(c)
    })
  })
})
