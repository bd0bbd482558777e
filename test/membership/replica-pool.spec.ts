/**
 * ReplicaPool (lib/membership/replica-pool.ts): replicas sharing one pool must behave exactly
 * as replicas without one — every ingest result, view and digest the same, for any batches
 * (duplicates, reordering, forks, parked ops) — while holding one core per op set. Seeded by
 * fast-check's seed (prop.ts prints how to replay).
 */
import { expect } from 'chai'
import fc from 'fast-check'
import { decodeOp } from '../../lib/membership/codec.js'
import type { IngestResult } from '../../lib/membership/ingest.js'
import type { Op, WireOp } from '../../lib/membership/op.js'
import { Admin } from '../../lib/membership/admin.js'
import { Replica } from '../../lib/membership/replica.js'
import { ReplicaPool } from '../../lib/membership/replica-pool.js'
import { SeededRandom, type Random } from '../../lib/random.js'
import { check } from '../helpers/prop.js'
import { enrollInit } from '../helpers/org.js'
import { makePool, randomHistory, shuffle, type Pool } from './scenario.js'

const wire = (ops: Op[]): WireOp[] => ops.map(o => decodeOp(o.wire))

/** The same batches (fresh decodes each time, as from the network): random sizes, some repeated ops. */
function batches (random: Random, ops: WireOp[]): Op[][] {
  const out: Op[][] = []
  let i = 0
  while (i < ops.length) {
    const n = 1 + random.int(4)
    const b = ops.slice(i, i + n) as Op[]
    if (random.next() < 0.3) b.push(ops[random.int(ops.length)] as Op)
    out.push(b)
    i += n
  }
  // Re-sends of what was already sent: the duplicate-only batches gossip is full of.
  for (let k = 0; k < 3; k++) out.push([ops[random.int(ops.length)] as Op])
  return out
}

function summary (r: IngestResult): unknown {
  return { added: r.added.map(o => o.idKey), duplicates: r.duplicates, forged: r.forged, refused: r.refused, pending: r.pending, evicted: r.evicted }
}

async function feedAll (r: Replica, list: Op[][]): Promise<unknown[]> {
  const out: unknown[] = []
  for (const b of list) out.push(summary(await r.ingest(b.map(o => decodeOp(o.wire)), 'peer')))
  return out
}

describe('ReplicaPool', function () {
  this.timeout(300_000)
  let org: Pool
  before(async () => { org = await makePool() })

  it('gives every ingest the result, view and digest a replica without a pool gets', async function () {
    await check(this, fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (hSeed, oSeed) => {
      const h = await randomHistory(org, new SeededRandom(hSeed), 16)
      const random = new SeededRandom(oSeed)
      const orders = [shuffle(random, wire(h.ops)), shuffle(random, wire(h.ops))].map(o => batches(random, o))
      const pool = new ReplicaPool()
      // a and b see the same batches; c another order.
      const plan = [orders[0], orders[0], orders[1]]
      const pooled = plan.map(() => new Replica(org.genesis, { clock: org.clock, pool }))
      const plain = plan.map(() => new Replica(org.genesis, { clock: org.clock }))
      for (let i = 0; i < plan.length; i++) {
        // `forged` counts a failed (author, prev) candidate only while the process-wide
        // verdict cache does not know it yet: warm it, so both replicas below see the same cache.
        await feedAll(new Replica(org.genesis, { clock: org.clock }), plan[i])
        const got = await feedAll(pooled[i], plan[i])
        const want = await feedAll(plain[i], plan[i])
        expect(got, `replica ${i}: results`).to.deep.equal(want)
        expect(pooled[i].viewFingerprint()).to.equal(plain[i].viewFingerprint())
        expect(Buffer.from(pooled[i].digest()).equals(Buffer.from(plain[i].digest())), `replica ${i}: digest`).to.equal(true)
        expect(pooled[i].pending).to.equal(plain[i].pending)
        expect(pooled[i].members().map(m => m.wgPublicKey.toBase64())).to.deep.equal(plain[i].members().map(m => m.wgPublicKey.toBase64()))
      }
      // Same op set, nothing parked: one core between them.
      if (pooled[0].pending === 0) expect(pooled[1].log, 'a and b share their log').to.equal(pooled[0].log)
      if (pooled[0].pending === 0 && pooled[2].pending === 0 && pooled[2].size === pooled[0].size) expect(pooled[2].log).to.equal(pooled[0].log)
    }))
  })

  it('a member index\'s step (prev, added, removed) turns the index before it into it, pooled or not', async function () {
    let steps = 0
    await check(this, fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (hSeed, oSeed) => {
      const h = await randomHistory(org, new SeededRandom(hSeed), 16)
      const random = new SeededRandom(oSeed)
      const plan = batches(random, shuffle(random, wire(h.ops)))
      const pool = new ReplicaPool()
      for (const r of [new Replica(org.genesis, { clock: org.clock, pool }), new Replica(org.genesis, { clock: org.clock, pool }), new Replica(org.genesis, { clock: org.clock })]) {
        let held = r.memberIndex()
        for (const b of plan) {
          await r.ingest(b.map(o => decodeOp(o.wire)), 'peer')
          const now = r.memberIndex()
          if (now === held) continue
          expect(now.prev?.index.prev, 'one step only: no chain of old indexes kept alive').to.equal(undefined)
          if (now.prev?.index === held) {
            steps++
            const keys = new Set(held.list.map(k => k.mapKey))
            for (const k of now.prev.removed) expect(keys.delete(k.mapKey), 'removed was there').to.equal(true)
            for (const k of now.prev.added) { expect(keys.has(k.mapKey), 'added was not').to.equal(false); keys.add(k.mapKey) }
            expect([...keys].sort()).to.deep.equal(now.list.map(k => k.mapKey).sort())
          }
          held = now
        }
      }
    }))
    expect(steps, 'steps were taken').to.be.above(0)
  })

  it('copies a shared core before authoring on it: the other sharers do not see the op', async () => {
    const pool = new ReplicaPool()
    const a = new Replica(org.genesis, { clock: org.clock, pool })
    const b = new Replica(org.genesis, { clock: org.clock, pool })
    expect(a.log).to.equal(b.log)
    const m = org.members[0]
    new Admin(a, org.root.signer).enroll(enrollInit(m, a))
    expect(a.member(m.wg)).to.not.equal(undefined)
    expect(b.member(m.wg)).to.equal(undefined)
    expect(b.size).to.equal(1)
    expect(a.log).to.not.equal(b.log)
    // b takes a's op from the network and lands on an op set of its own; c, fed the same, shares it.
    const op = [...a.log.all()].filter(o => o.seq > 0).map(o => decodeOp(o.wire))
    const c = new Replica(org.genesis, { clock: org.clock, pool })
    expect(summary(await b.ingest(op))).to.deep.equal(summary(await c.ingest(op.map(o => decodeOp(o.wire)))))
    expect(b.member(m.wg)?.overlayAddress).to.equal(a.member(m.wg)?.overlayAddress)
    expect(c.log).to.equal(b.log)
    expect(pool.stats.hits).to.equal(1)
  })

  it('restores a second replica from the same stored array onto the first one\'s core, without ops:added', async () => {
    const h = await randomHistory(org, new SeededRandom(3), 12)
    const stored = h.ops.map(o => o.wire)
    const pool = new ReplicaPool()
    const a = new Replica(org.genesis, { clock: org.clock, pool })
    await a.restore(stored, w => decodeOp(w))
    const b = new Replica(org.genesis, { clock: org.clock, pool })
    let events = 0
    b.addEventListener('ops:added', () => { events++ })
    await b.restore(stored, () => { throw new Error('decoded again') })
    const ref = new Replica(org.genesis, { clock: org.clock })
    await ref.ingest(wire(h.ops))
    if (a.pending === 0) {
      expect(b.log).to.equal(a.log)
      expect(pool.stats.restores).to.equal(1)
    }
    expect(events).to.equal(0)
    expect(b.viewFingerprint()).to.equal(ref.viewFingerprint())
    expect(b.size).to.equal(ref.size)
  })

  it('does not take a known op with altered bytes for a duplicate', async () => {
    const h = await randomHistory(org, new SeededRandom(5), 8)
    const pool = new ReplicaPool()
    const a = new Replica(org.genesis, { clock: org.clock, pool })
    const ref = new Replica(org.genesis, { clock: org.clock })
    await a.ingest(wire(h.ops))
    await ref.ingest(wire(h.ops))
    const victim = h.ops.find(o => o.seq > 0)!
    const bytes = new Uint8Array(victim.wire)
    bytes[bytes.length - 65] ^= 1 // the last body byte; the signature stays
    let altered: WireOp
    try { altered = decodeOp(bytes) } catch { return } // that byte made it undecodable: nothing to compare
    expect(summary(await a.ingest([altered]))).to.deep.equal(summary(await ref.ingest([decodeOp(bytes)])))
    expect(a.viewFingerprint()).to.equal(ref.viewFingerprint())
  })
})
