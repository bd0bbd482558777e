/**
 * Issue 11's property tests: random hostile histories (hostile-history.ts: forks at any seq,
 * key introductions on either branch, crafted key-id collisions for signing and wg keys,
 * rotations, leaves and demotions of admins, revocations racing re-grants), each fed to
 * ORDERS replicas in different delivery orders. Every replica must end with identical stored
 * ops, digest and view, and anti-entropy between any two replicas holding different subsets
 * must end with both equal. Seeded: the replay line a failure prints replays it.
 */
import { expect } from 'chai'
import fc from 'fast-check'
import { Replica } from '../../lib/membership/replica.js'
import { SeededRandom } from '../../lib/random.js'
import { deliverShuffled, expectSameState, replicaState, wire } from '../helpers/hostile.js'
import { check, RUNS } from '../helpers/prop.js'
import { hostileHistory, rotationKeys } from './hostile-history.js'
import { makePool, type Pool } from './scenario.js'
import type { Ed25519Signer } from '../../lib/identity/sign.js'

const ORDERS = 20
const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 })

describe('membership under hostile histories (properties)', function () {
  this.timeout(1_200_000)
  let pool: Pool
  let spare: Ed25519Signer[]
  before(async () => { pool = await makePool(11); spare = rotationKeys() })

  it(`stored ops, digest and view are the same in ${ORDERS} delivery orders`, async function () {
    await check(this, fc.asyncProperty(seedArb, seedArb, async (hSeed, oSeed) => {
      const h = await hostileHistory(pool, spare, new SeededRandom(hSeed), 24)
      const now = pool.clock.now()
      let first: ReturnType<typeof replicaState> | undefined
      for (let o = 0; o < ORDERS; o++) {
        const r = new Replica(pool.genesis, { clock: pool.clock })
        await deliverShuffled(r, h.ops, new SeededRandom(oSeed + o))
        const st = replicaState(r, now)
        if (first === undefined) first = st
        else expectSameState(first, st, `order ${o} of history ${hSeed} (steps: ${h.steps.join('; ')})`)
      }
    }), RUNS)
  })

  it('anti-entropy between replicas holding different subsets ends, both equal', async function () {
    await check(this, fc.asyncProperty(seedArb, seedArb, async (hSeed, oSeed) => {
      const h = await hostileHistory(pool, spare, new SeededRandom(hSeed), 24)
      const random = new SeededRandom(oSeed)
      const a = new Replica(pool.genesis, { clock: pool.clock })
      const b = new Replica(pool.genesis, { clock: pool.clock })
      for (const op of h.ops) {
        const x = random.next()
        if (x < 0.45) await a.ingest([wire(op)])
        else if (x < 0.9) await b.ingest([wire(op)])
        else { await a.ingest([wire(op)]); await b.ingest([wire(op)]) }
      }
      let rounds = 0
      while (!Buffer.from(a.digest()).equals(Buffer.from(b.digest()))) {
        expect(++rounds, `anti-entropy did not end in 10 rounds (steps: ${h.steps.join('; ')})`).to.be.below(10)
        await b.merge(a.diff(b.digest()))
        await a.merge(b.diff(a.digest()))
      }
      // Ended: one more round moves nothing.
      const sa = a.size; const sb = b.size
      await b.merge(a.diff(b.digest()))
      await a.merge(b.diff(a.digest()))
      expect([a.size, b.size]).to.deep.equal([sa, sb])
      expectSameState(replicaState(a, pool.clock.now()), replicaState(b, pool.clock.now()), `history ${hSeed}`)
    }), RUNS)
  })
})
