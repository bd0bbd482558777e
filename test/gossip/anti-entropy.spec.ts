/**
 * Anti-entropy with more admin chains than one packet can list (issue 11 #5): every digest
 * and pull still encodes, and a node that missed an op during a partition gets it after the
 * heal, by range-based reconciliation over several hops (membership/stores/native.ts).
 */
import { expect } from 'chai'
import { resolveGossipConfig } from '../../lib/gossip/config.js'
import { encodeMessage, MAX_BUCKET_COUNT, MAX_PAGE, opsDigestRoom, STATE_BUCKETS } from '../../lib/gossip/messages.js'
import type { Op, Payload } from '../../lib/membership/op.js'
import { proveKeys } from '../../lib/membership/pop.js'
import { DIGEST_BYTES, NativeOpStore } from '../../lib/membership/stores/native.js'
import { readDigest } from '../../lib/membership/stores/native-digest.js'
import type { NodeIdentity } from '../../lib/identity/identity.js'
import { MAX_PACKET_BYTES, MessageType } from '../../lib/wire/header.js'
import { cluster, identityFrom, teardown, until, type Cluster } from '../helpers/gossip-cluster.js'
import { craft } from '../helpers/hostile.js'
import { withSeed } from '../helpers/seed.js'

/** Admin chains: the root grants admin to a new key, which enrolls one member (DESIGN §2 "Chains"). */
const CHAINS = 200

function record (orgId: Uint8Array, id: NodeIdentity, roles: string[] = []): { wgPublicKey: NodeIdentity['wgPublicKey'], signPublicKey: NodeIdentity['signPublicKey'], pop: Uint8Array, roles: string[] } {
  return { wgPublicKey: id.wgPublicKey, signPublicKey: id.signPublicKey, pop: proveKeys(id.signer, orgId, id.wgPublicKey), roles }
}

/**
 * An enroll by a granted admin, signed by hand so that it names only its grant: through
 * `Admin` a chain's first op names every other chain, and 200 of them do not fit an op.
 */
function enrollBy (orgId: Uint8Array, admin: NodeIdentity, seq: number, prev: Op | undefined, grant: Op[], id: NodeIdentity): Op {
  const payload: Payload = { kind: 2, record: record(orgId, id) }
  return craft(orgId, admin.signer, seq, payload, prev, grant)
}

const agreed = (c: Cluster): boolean => c.nodes.every(n => Buffer.compare(n.replica.digest(), c.nodes[0].replica.digest()) === 0)

describe('gossip/anti-entropy', () => {
  it('opsDigestRoom is exactly what a digest or pull payload leaves the ops digest', async function () {
    await withSeed(this, (random) => {
      for (let i = 0; i < 2000; i++) {
        const budget = 200 + random.int(1200)
        const summary = Array.from({ length: STATE_BUCKETS }, () => {
          const count = [0, 1, 200, 20_000, MAX_BUCKET_COUNT][random.int(5)]
          return { count, hash: count === 0 ? new Uint8Array(8) : random.bytes(8) }
        })
        const room = opsDigestRoom(MessageType.digest, budget, summary)
        const digest = (n: number): Uint8Array => encodeMessage(MessageType.digest, { type: MessageType.digest, opsDigest: new Uint8Array(n), statesSummary: summary }, budget).payload
        expect(digest(room).length).to.be.at.most(budget)
        expect(() => digest(room + 1)).to.throw()
        const pullRoom = opsDigestRoom(MessageType.pull, budget)
        const pull = encodeMessage(MessageType.pull, { type: MessageType.pull, opsDigest: new Uint8Array(pullRoom), buckets: [0, 15], page: MAX_PAGE }, budget).payload
        expect(pull.length).to.be.at.most(budget)
      }
    })
  })

  for (const maxPacketBytes of [1400, 508]) {
    it(`a node that missed an op while partitioned gets it after the heal, with ${CHAINS} admin chains (too many to list) and ${maxPacketBytes}-byte packets`, async function () {
      this.timeout(120_000)
      await withSeed(this, async (random) => {
        const c = await cluster(random, 4, {}, resolveGossipConfig('sim', { maxPacketBytes }))
        const [root, , , lagger] = c.nodes
        const orgId = root.replica.orgId
        const admins = Array.from({ length: CHAINS }, () => identityFrom(random))
        const grants = admins.map(k => c.admin.enroll(record(orgId, k, ['admin'])))
        const firsts = admins.map((k, i) => enrollBy(orgId, k, 1, undefined, [grants[i]], identityFrom(random)))
        for (const op of firsts) root.replica.addLocal(op)
        expect(root.replica.log.chains.length).to.equal(CHAINS + 1)
        await until(c, () => agreed(c), 60_000, 20)
        const store = lagger.replica.store as NativeOpStore
        // Listed exactly, the heads alone would not fit a packet: the digests summarise.
        expect(store.digest().length).to.be.above(MAX_PACKET_BYTES)
        expect(readDigest(store.digest(DIGEST_BYTES)).ranges.length).to.be.above(1)

        c.net.partition({ alone: [lagger.endpoint] })
        const missed = identityFrom(random)
        root.replica.addLocal(enrollBy(orgId, admins[CHAINS >> 1], 2, firsts[CHAINS >> 1], [], missed))
        await until(c, () => c.nodes.every(n => n === lagger || n.replica.member(missed.wgPublicKey) !== undefined), 10_000, 5)
        // The broadcast queues forget it (they would give up after retransmitLimit sends): only
        // anti-entropy is left to bring it.
        for (const n of c.nodes) n.gossiper.queue.reset()
        expect(lagger.replica.member(missed.wgPublicKey)).to.equal(undefined)
        const pullsBefore = lagger.gossiper.stats().received.pull

        c.net.heal()
        // The enrolled keys are members without daemons (400 of 404): a random exchange would
        // rarely pick a live peer, so the lagger starts one with the root.
        lagger.gossiper.pushPull(root.id.wgPublicKey)
        const ms = await until(c, () => lagger.replica.member(missed.wgPublicKey) !== undefined, 5_000, 1)
        console.log(`      the missed op reached the lagger ${ms} ms of virtual time after its digest left (${lagger.gossiper.stats().received.pull - pullsBefore} pulls received, ${root.gossiper.stats().received.pull} by the root)`)
        await until(c, () => agreed(c), 30_000, 20)
        expect(lagger.gossiper.stats().received.pull, 'the exchange took more than one hop').to.be.above(pullsBefore)
        for (const n of c.nodes) expect(n.gossiper.stats().encodeErrors, 'every digest and pull encoded').to.equal(0)
        await teardown(c)
      })
    })
  }
})
