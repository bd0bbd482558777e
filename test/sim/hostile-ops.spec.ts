/**
 * The hostile op generators: every op well formed and correctly signed, the stream a
 * function of (replica, key, seed) cut at its byte budget, and the admin shapes refused to a
 * non-admin. Whether a replica stores what they send is the `bench hostile` test's business.
 */
import { expect } from 'chai'
import { decodeOp, sha256, signedBytes } from '../../lib/membership/codec.js'
import { proveKeys } from '../../lib/membership/pop.js'
import { Replica } from '../../lib/membership/replica.js'
import { inlineVerifier } from '../../lib/membership/verify.js'
import { verifySignature } from '../../lib/identity/sign.js'
import { ADMIN_SHAPES, ATTACK_SHAPES, hostileOps, type Attacker } from '../../lib/sim/hostile-ops.js'
import { bytesEqual } from '../../lib/util/bytes.js'
import { expectCode } from '../helpers/expect-code.js'
import { newNode, newOrg, type TestNode, type TestOrg } from '../helpers/org.js'
import { withSeed } from '../helpers/seed.js'

const BUDGET = 8 * 1024

describe('sim/hostile-ops: crafted op streams', function () {
  this.timeout(60_000)
  let org: TestOrg
  let admin: TestNode
  let member: TestNode
  let replica: Replica
  const enroll = (n: TestNode, roles: string[] = []): void => {
    org.admin.enroll({ wgPublicKey: n.wg, signPublicKey: n.signer.publicKey, pop: proveKeys(n.signer, org.replica.orgId, n.wg), roles })
  }

  beforeEach(async () => {
    org = await newOrg({ verifier: inlineVerifier })
    admin = await newNode()
    member = await newNode()
    enroll(admin, ['admin'])
    enroll(member)
    for (let i = 0; i < 10; i++) enroll(await newNode())
    replica = new Replica(org.genesis, { clock: org.clock, verifier: inlineVerifier })
    await replica.merge(org.replica.diff(replica.digest()))
  })

  const attackerFor = (shape: string, seed: number): Attacker => ({ replica, signer: ADMIN_SHAPES.has(shape as never) ? admin.signer : member.signer, seed })

  for (const shape of ATTACK_SHAPES) {
    it(`${shape}: signed ops that fit the budget, the same for the same seed`, async function () {
      await withSeed(this, (_random, seed) => {
        const ops = [...hostileOps(shape, attackerFor(shape, seed), BUDGET)]
        const again = [...hostileOps(shape, attackerFor(shape, seed), BUDGET)]
        const bytes = ops.reduce((s, op) => s + op.wire.length, 0)
        expect(bytes).to.be.at.most(BUDGET)
        expect(bytes, 'the budget is used up to one op').to.be.above(BUDGET - 1024)
        expect(again.map(op => Buffer.from(op.wire).toString('hex'))).to.deep.equal(ops.map(op => Buffer.from(op.wire).toString('hex')))
        for (const op of ops) {
          expect(decodeOp(op.wire).body).to.deep.equal(op.body)
          const signed = signedBytes(op.body, replica.orgId, op.prev, op.lamport, op.author)
          expect(bytesEqual(sha256(signed), op.id), 'id').to.equal(true)
          expect(verifySignature(op.author, signed, op.sig), 'signature').to.equal(true)
        }
      })
    })
  }

  it('admin-key-chain: a replica resolves every op as its author did, and all are valid', async function () {
    await withSeed(this, async (_random, seed) => {
      const ops = [...hostileOps('admin-key-chain', attackerFor('admin-key-chain', seed), BUDGET)]
      const victim = new Replica(org.genesis, { clock: org.clock, verifier: inlineVerifier })
      await victim.merge(org.replica.diff(victim.digest()))
      const r = await victim.ingest(ops.map(op => decodeOp(op.wire.slice())), 'attacker')
      expect(r.forged).to.equal(0)
      void victim.authority // brings `valid` up to date
      for (const op of ops) expect(victim.log.get(op.id)?.valid, 'stored and valid').to.equal(true)
    })
  })

  it('an admin shape refuses an attacker that is not an admin', () => {
    for (const shape of ADMIN_SHAPES) expectCode(() => [...hostileOps(shape, { replica, signer: member.signer }, BUDGET)], 'WIREMESH_ERR_NOT_AUTHORIZED')
  })
})
