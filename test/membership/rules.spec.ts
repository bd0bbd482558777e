/**
 * The validity rules under adversity, by property over every store: revocation always wins
 * (against concurrent re-enrolls and record updates, in every interleaving), forged ops never
 * change the view, an equivocating admin cannot split replicas, and a revoked admin's
 * concurrent enrolls are invalid while its earlier ones stay.
 */
import { expect } from 'chai'
import fc from 'fast-check'
import { decodeOp } from '../../lib/membership/codec.js'
import { Admin } from '../../lib/membership/admin.js'
import { createGenesis } from '../../lib/membership/org.js'
import { Replica } from '../../lib/membership/replica.js'
import type { Op, WireOp } from '../../lib/membership/op.js'
import { SeededRandom } from '../../lib/random.js'
import { ALL_STORES } from '../helpers/stores.js'
import { check } from '../helpers/prop.js'
import { enrollInit, popOf } from '../helpers/org.js'
import { makePool, shuffle, type Pool } from './scenario.js'

const wire = (ops: Op[]): WireOp[] => ops.map(o => decodeOp(o.wire))
const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 })

async function sync (from: Replica, to: Replica): Promise<void> { await to.merge(from.diff(to.digest())) }

describe('membership rules', function () {
  this.timeout(600_000)
  let pool: Pool
  before(async () => { pool = await makePool(11) })

  /** Root and admin A (rank 1) each hold a replica; member S is enrolled; both synced. */
  async function base (): Promise<{ root: Admin, a: Admin, rr: Replica, ra: Replica }> {
    const rr = new Replica(pool.genesis, { clock: pool.clock })
    const root = new Admin(rr, pool.root.signer)
    const A = pool.admins[0]; const S = pool.members[0]
    root.enroll(enrollInit(A, pool, { roles: ['admin'] }))
    root.enroll(enrollInit(S, pool, { name: 's' }))
    const ra = new Replica(pool.genesis, { clock: pool.clock })
    await sync(rr, ra)
    return { root, a: new Admin(ra, A.signer), rr, ra }
  }

  for (const store of ALL_STORES) {
    describe(`${store} store`, () => {
      it('a revoked key never reappears, whatever races the revoke', async function () {
        await check(this, fc.asyncProperty(seedArb, fc.integer({ min: 1, max: 3 }), async (seed, nRaces) => {
          const random = new SeededRandom(seed)
          const { root, a, rr, ra } = await base()
          const S = pool.members[0]
          const revoke = root.revoke(S.wg, { reason: 'stolen laptop' })
          // Concurrently, A re-enrolls S and updates its endpoint and roles.
          const races: Op[] = []
          for (let i = 0; i < nRaces; i++) {
            races.push(a.enroll(enrollInit(S, pool, { roles: random.next() < 0.5 ? ['lighthouse'] : [], staticEndpoints: [`198.51.100.${i + 1}:51820`] })))
          }
          const all = shuffle(random, wire([...rr.log.all(), ...ra.log.all()].filter(o => o.kind !== 1)))
          const r = new Replica(pool.genesis, { store, clock: pool.clock })
          let revoked = false
          for (const op of all) {
            await r.ingest([op])
            if (r.log.has(revoke.id)) revoked = true
            if (revoked) expect(r.member(S.wg), 'revoked key is a member again').to.equal(undefined)
          }
          expect(r.isRevoked(S.wg)).to.equal(true)
          expect(r.isRevoked(S.signer.publicKey)).to.equal(true)
          expect(races.every(op => r.log.has(op.id))).to.equal(true)
          // And an admin cannot bring it back afterwards.
          expect(() => new Admin(r, pool.root.signer).enroll(enrollInit(S, pool))).to.throw().with.property('code', 'WIREMESH_ERR_NOT_AUTHORIZED')
        }), 500)
      })

      it('forged ops never change the view', async function () {
        const other = createGenesis({ rootWgPublicKey: pool.root.wg, rootSigner: pool.root.signer, name: 'other', random: new SeededRandom(99), clock: pool.clock })
        await check(this, fc.asyncProperty(seedArb, async (seed) => {
          const random = new SeededRandom(seed)
          const { root, a, rr, ra } = await base()
          root.enroll(enrollInit(pool.members[1], pool))
          a.enroll(enrollInit(pool.members[2], pool))
          await sync(ra, rr)
          const genuine = wire([...rr.log.all()])
          const forged: Uint8Array[] = []
          const victim = genuine[1 + random.int(genuine.length - 1)]
          // bad signature
          const badSig = victim.wire.slice(); badSig[badSig.length - 1 - random.int(64)] ^= 1 << random.int(8); forged.push(badSig)
          // tampered payload (a byte of the body)
          const tampered = victim.wire.slice(); tampered[1 + random.int(victim.body.length - 1)] ^= 1 << random.int(8); forged.push(tampered)
          // replayed from another org: the same root key signs an enroll there
          const ro = new Replica(other, { clock: pool.clock })
          forged.push(new Admin(ro, pool.root.signer).enroll(enrollInit(pool.members[3], ro)).wire)
          // a non-admin member authors an enroll (its key is known to the org)
          const nonAdmin = new Admin(rr, pool.members[1].signer)
          const log2 = new Replica(pool.genesis, { clock: pool.clock })
          await sync(rr, log2)
          const { authorOp } = await import('../../lib/membership/author.js')
          const m4 = pool.members[4]
          const byNonAdmin = authorOp(log2.log, nonAdmin.signer, rr.orgId, { kind: 2, record: { wgPublicKey: m4.wg, signPublicKey: m4.signer.publicKey, roles: ['admin'], pop: popOf(m4, rr) } })
          forged.push(byNonAdmin.wire)
          const decoded: WireOp[] = []
          for (const f of forged) { try { decoded.push(decodeOp(f)) } catch { /* tampering can break the encoding: fine */ } }
          const r = new Replica(pool.genesis, { store, clock: pool.clock })
          const res = await r.ingest(shuffle(random, [...genuine, ...decoded]))
          expect(r.viewFingerprint(), JSON.stringify({ size: r.size, want: rr.size, missing: [...rr.log.byId.values()].filter(o => !r.log.has(o.id)).map(o => [o.kind, o.seq, o.deps.length, Buffer.from(o.id).toString('hex').slice(0, 6)]), res: { ...res, added: res.added.length } })).to.equal(rr.viewFingerprint())
          expect(r.member(pool.members[3].wg)).to.equal(undefined)
          expect(r.member(pool.members[4].wg)).to.equal(undefined)
          // Authentic but by a member never granted admin: not even stored (admissible.ts).
          expect(r.log.has(byNonAdmin.id), 'a non-admin\'s op is not stored').to.equal(false)
        }), 500)
      })

      it('an equivocating admin cannot make two replicas diverge', async function () {
        await check(this, fc.asyncProperty(seedArb, async (seed) => {
          const random = new SeededRandom(seed)
          const { rr, ra } = await base()
          // A's key on two replicas that do not talk: both author seq-1 ops.
          const twin = new Replica(pool.genesis, { clock: pool.clock })
          await sync(ra, twin)
          const a1 = new Admin(ra, pool.admins[0].signer)
          const a2 = new Admin(twin, pool.admins[0].signer)
          const n = 1 + random.int(3)
          for (let i = 0; i < n; i++) {
            const m1 = pool.members[1 + random.int(5)]
            const m2 = pool.members[1 + random.int(5)]
            a1.enroll(enrollInit(m1, pool, { name: `x${i}` }))
            a2.enroll(enrollInit(m2, pool, { name: `y${i}` }))
          }
          // X sees one branch, Y the other; then they sync both ways.
          const x = new Replica(pool.genesis, { store, clock: pool.clock })
          const y = new Replica(pool.genesis, { store, clock: pool.clock })
          await x.ingest(shuffle(random, wire([...ra.log.all()])))
          await y.ingest(shuffle(random, wire([...twin.log.all(), ...rr.log.all()])))
          for (let round = 0; round < 6; round++) { await sync(x, y); await sync(y, x) }
          expect(x.viewFingerprint()).to.equal(y.viewFingerprint())
          expect(Buffer.from(x.digest()).equals(Buffer.from(y.digest()))).to.equal(true)
          const chain = x.log.chainOf(pool.admins[0].signer.publicKey)!
          expect(chain.forkSeq).to.be.finite
          expect(x.authority.equivocators).to.include(chain)
          expect(x.authority.cutoff.get(chain)).to.equal(chain.forkSeq - 1)
        }), 500)
      })

      it('a revoked admin\'s concurrent enrolls are invalid while its earlier ones stay', async function () {
        await check(this, fc.asyncProperty(seedArb, async (seed) => {
          const random = new SeededRandom(seed)
          const { root, a, rr, ra } = await base()
          const early = pool.members[1]; const late = pool.members[2]
          a.enroll(enrollInit(early, pool))
          await sync(ra, rr)
          root.revoke(pool.admins[0].wg, { reason: 'compromised' })
          a.enroll(enrollInit(late, pool))
          const r = new Replica(pool.genesis, { store, clock: pool.clock })
          await r.ingest(shuffle(random, wire([...rr.log.all(), ...ra.log.all()])))
          expect(r.member(early.wg), 'earlier enroll stays').to.not.equal(undefined)
          expect(r.member(late.wg), 'concurrent enroll is invalid').to.equal(undefined)
          expect(r.member(pool.admins[0].wg)).to.equal(undefined)
        }), 500)
      })
    })
  }
})
