import { expect } from 'chai'
import fc from 'fast-check'
import { type BroadcastItem, BroadcastQueue, retransmitLimit } from '../../lib/gossip/broadcast-queue.js'
import { expectCode } from '../helpers/expect-code.js'
import { check } from '../helpers/prop.js'

/** `len` bytes spelling `tag` (padded with '.'), so a taken item is easy to name. */
function msg (tag: string, len = tag.length): Uint8Array {
  return new TextEncoder().encode(tag.padEnd(len, '.').slice(0, len))
}

const tags = (items: BroadcastItem[]): string[] => items.map(i => new TextDecoder().decode(i.bytes).replace(/\.+$/, ''))

const ALL = Number.POSITIVE_INFINITY

describe('gossip/broadcast-queue', () => {
  it('computes retransmitMult × ⌈log10(n + 1)⌉', () => {
    const q = new BroadcastQueue()
    expect(q.retransmitMult).to.equal(4)
    const cases: Array<[number, number]> = [[0, 0], [1, 4], [2, 4], [9, 4], [10, 8], [99, 8], [100, 12], [999, 12], [1000, 16], [1_000_000, 28]]
    for (const [n, limit] of cases) expect(q.retransmitLimit(n), `n = ${n}`).to.equal(limit)
    expect(new BroadcastQueue({ retransmitMult: 3 }).retransmitLimit(50)).to.equal(6)
    expect(retransmitLimit(1, 9)).to.equal(1)
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => q.retransmitLimit(bad)).to.throw(RangeError)
  })

  it('rejects a bad config with InvalidConfigError', () => {
    expectCode(() => new BroadcastQueue({ retransmitMult: 0 }), 'WIREMESH_ERR_INVALID_CONFIG')
    expectCode(() => new BroadcastQueue({ retransmitMult: 2.5 }), 'WIREMESH_ERR_INVALID_CONFIG')
    expectCode(() => new BroadcastQueue({ maxItems: 0 }), 'WIREMESH_ERR_INVALID_CONFIG')
  })

  it('sends each item retransmitLimit(n) times, then drops it', () => {
    const q = new BroadcastQueue({ retransmitMult: 2 })
    q.enqueue({ bytes: msg('op') })
    const n = 10 // limit 2 × ⌈log10 11⌉ = 4
    const counts = [1, 2, 3, 4].map(() => q.take(ALL, 0, n).map(i => i.transmits))
    expect(counts).to.deep.equal([[1], [2], [3], [4]])
    expect(q.size).to.equal(0)
    expect(q.take(ALL, 0, n)).to.deep.equal([])
    expect(q.stats()).to.deep.equal({ queued: 0, enqueued: 1, superseded: 0, evicted: 0, completed: 1, transmitted: 4 })
  })

  it('counts a packet taken for several peers as that many transmits (memberlist counts per node sent to)', () => {
    const q = new BroadcastQueue({ retransmitMult: 2 })
    q.enqueue({ bytes: msg('a') })
    q.enqueue({ bytes: msg('b') })
    const n = 10 // limit 4
    // A gossip round to 3 peers, then a ping: 'a' and 'b' both go, at 3 and then 4.
    expect(q.take(ALL, 0, n, 3).map(i => i.transmits)).to.deep.equal([3, 3])
    expect(q.take(ALL, 0, n, 1).map(i => i.transmits)).to.deep.equal([4, 4])
    expect(q.size).to.equal(0)
    expect(q.stats()).to.include({ completed: 2, transmitted: 8 })
    // The last round may overshoot by fewer than its copies; an item is never sent more rounds.
    q.enqueue({ bytes: msg('c') })
    expect(q.take(ALL, 0, n, 3).map(i => i.transmits)).to.deep.equal([3])
    expect(q.take(ALL, 0, n, 3).map(i => i.transmits)).to.deep.equal([6])
    expect(q.size).to.equal(0)
    for (const bad of [0, -1, 1.5]) expect(() => q.take(ALL, 0, n, bad)).to.throw(RangeError)
  })

  it('sends an item once when the limit is 0 (n = 0), as memberlist does', () => {
    const q = new BroadcastQueue()
    q.enqueue({ bytes: msg('a') })
    expect(tags(q.take(ALL, 0, 0))).to.deep.equal(['a'])
    expect(q.size).to.equal(0)
  })

  it('uses the cluster size of each take: a shrunk cluster retires items already sent enough', () => {
    const q = new BroadcastQueue({ retransmitMult: 1 })
    q.enqueue({ bytes: msg('a') })
    q.take(ALL, 0, 100) // limit 3
    expect(q.size).to.equal(1)
    q.take(ALL, 0, 5) // limit 1: sent twice now, ≥ 1
    expect(q.size).to.equal(0)
  })

  it('supersedes a queued item with the same key, whatever its transmit count; never an op', () => {
    const q = new BroadcastQueue()
    q.enqueue({ key: 'node-a', bytes: msg('a1') })
    q.enqueue({ bytes: msg('op1') })
    q.enqueue({ bytes: msg('op1') }) // same bytes, no key: both stay
    q.take(ALL, 0, 3) // everything at 1 transmit
    q.enqueue({ key: 'node-b', bytes: msg('b1') })
    q.enqueue({ key: 'node-a', bytes: msg('a2') })
    expect(q.size).to.equal(4)
    expect(q.items().map(i => [i.key, tags([i])[0], i.transmits])).to.deep.equal([
      ['node-a', 'a2', 0], ['node-b', 'b1', 0], [undefined, 'op1', 1], [undefined, 'op1', 1]
    ])
    q.enqueue({ key: 'node-b', bytes: msg('b2') })
    expect(tags(q.take(ALL, 0, 3))).to.deep.equal(['b2', 'a2', 'op1', 'op1'])
    expect(q.stats()).to.include({ enqueued: 6, superseded: 2, queued: 4 })
  })

  it('takes fewest-transmitted first, newest first within a tier', () => {
    const q = new BroadcastQueue()
    for (const t of ['a', 'b', 'c']) q.enqueue({ bytes: msg(t) })
    expect(tags(q.take(ALL, 0, 10))).to.deep.equal(['c', 'b', 'a'])
    q.enqueue({ bytes: msg('d') })
    // Room for two: d (0 transmits), then c (newest of the 1-transmit tier).
    expect(tags(q.take(2, 0, 10))).to.deep.equal(['d', 'c'])
    q.enqueue({ bytes: msg('e') })
    expect(q.items().map(i => `${tags([i])[0]}${i.transmits}`)).to.deep.equal(['e0', 'd1', 'b1', 'a1', 'c2'])
    expect(tags(q.take(ALL, 0, 10))).to.deep.equal(['e', 'd', 'b', 'a', 'c'])
  })

  it('fills the byte budget counting the per-item overhead, skipping items that do not fit', () => {
    const q = new BroadcastQueue()
    q.enqueue({ bytes: msg('small1', 10) })
    q.enqueue({ bytes: msg('small2', 10) })
    q.enqueue({ bytes: msg('big', 200) })
    q.enqueue({ bytes: msg('mid', 40) })
    // Budget 100, overhead 3: mid (43), big (203) skipped, small2 (13), small1 (13) = 69.
    expect(tags(q.take(100, 3, 5))).to.deep.equal(['mid', 'small2', 'small1'])
    // big is skipped again; mid (43) and small2 (13) fill 56 exactly, leaving small1 out.
    expect(tags(q.take(56, 3, 5))).to.deep.equal(['mid', 'small2'])
    // The too-big item still goes once a budget allows; it is the only one at 0 transmits.
    expect(tags(q.take(203, 3, 5))).to.deep.equal(['big'])
    // Nothing fits a budget below the overhead + smallest item.
    expect(q.take(12, 3, 5)).to.deep.equal([])
    expect(q.take(0, 0, 5)).to.deep.equal([])
    expect(q.size).to.equal(4)
  })

  it('returns snapshots: counts reflect the take, later takes do not change them', () => {
    const q = new BroadcastQueue()
    q.enqueue({ key: 'k', bytes: msg('a') })
    const first = q.take(ALL, 0, 5)
    q.take(ALL, 0, 5)
    expect(first).to.deep.equal([{ key: 'k', bytes: msg('a'), transmits: 1 }])
  })

  it('rejects a negative or NaN budget', () => {
    const q = new BroadcastQueue()
    expect(() => q.take(-1, 0, 5)).to.throw(RangeError)
    expect(() => q.take(100, Number.NaN, 5)).to.throw(RangeError)
  })

  it('caps the queue at maxItems, evicting the oldest most-transmitted item first', () => {
    const q = new BroadcastQueue({ maxItems: 4 })
    for (const t of ['a', 'b', 'c']) q.enqueue({ bytes: msg(t) })
    q.take(ALL, 0, 100) // a, b, c at 1
    q.take(1, 0, 100) // c at 2
    q.enqueue({ bytes: msg('d') })
    expect(q.stats()).to.include({ queued: 4, evicted: 0 })
    q.enqueue({ bytes: msg('e') }) // 5 > 4: evict c, the only one at 2 transmits
    q.enqueue({ bytes: msg('f') }) // then the oldest at 1: a
    q.enqueue({ key: 'k', bytes: msg('g') }) // then b
    q.enqueue({ bytes: msg('h') }) // then the oldest at 0: d
    expect(q.items().map(i => tags([i])[0])).to.deep.equal(['h', 'g', 'f', 'e'])
    expect(q.stats()).to.include({ queued: 4, evicted: 4, enqueued: 8 })
    // A superseding enqueue does not grow the queue, so evicts nothing.
    q.enqueue({ key: 'k', bytes: msg('g2') })
    expect(q.stats()).to.include({ queued: 4, evicted: 4, superseded: 1 })
  })

  it('reset() empties the queue, counters keep counting', () => {
    const q = new BroadcastQueue()
    q.enqueue({ key: 'k', bytes: msg('a') })
    q.enqueue({ bytes: msg('b') })
    q.take(ALL, 0, 5)
    q.reset()
    expect(q.size).to.equal(0)
    expect(q.take(ALL, 0, 5)).to.deep.equal([])
    q.enqueue({ key: 'k', bytes: msg('c') }) // the key was forgotten: nothing superseded
    expect(q.stats()).to.deep.equal({ queued: 1, enqueued: 3, superseded: 0, evicted: 0, completed: 0, transmitted: 2 })
  })

  it('property: every item not superseded is taken exactly retransmitLimit(n) times, superseded ones at most that', async function () {
    type Step = { kind: 'enqueue', key: number | null, len: number } | { kind: 'take', budget: number, overhead: number }
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ kind: fc.constant('enqueue' as const), key: fc.option(fc.integer({ min: 0, max: 4 })), len: fc.integer({ min: 0, max: 60 }) }),
      fc.record({ kind: fc.constant('take' as const), budget: fc.integer({ min: 0, max: 300 }), overhead: fc.integer({ min: 0, max: 8 }) })
    )
    await check(this, fc.property(
      fc.array(step, { maxLength: 80 }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 6 }),
      (steps, n, mult) => {
        const q = new BroadcastQueue({ retransmitMult: mult })
        const limit = q.retransmitLimit(n)
        // Each enqueued item is a distinct Uint8Array: count its takes by identity.
        const taken = new Map<Uint8Array, number>()
        const superseded = new Set<Uint8Array>()
        const latestByKey = new Map<number, Uint8Array>()
        const record = (items: BroadcastItem[]): void => {
          for (const it of items) {
            const c = (taken.get(it.bytes) ?? 0) + 1
            expect(it.transmits).to.equal(c)
            taken.set(it.bytes, c)
          }
        }
        for (const s of steps) {
          if (s.kind === 'enqueue') {
            const bytes = new Uint8Array(s.len)
            taken.set(bytes, 0)
            if (s.key === null) {
              q.enqueue({ bytes })
            } else {
              const old = latestByKey.get(s.key)
              if (old !== undefined) superseded.add(old)
              latestByKey.set(s.key, bytes)
              q.enqueue({ key: `node-${s.key}`, bytes })
            }
          } else {
            const out = q.take(s.budget, s.overhead, n)
            const used = out.reduce((sum, it) => sum + s.overhead + it.bytes.length, 0)
            expect(used).to.be.at.most(s.budget)
            expect(new Set(out.map(it => it.bytes)).size, 'an item twice in one packet').to.equal(out.length)
            record(out)
          }
        }
        // Enough calls with a budget that fits anything drain the queue.
        for (let i = 0; i < limit && q.size > 0; i++) record(q.take(ALL, 8, n))
        expect(q.size).to.equal(0)
        for (const [bytes, c] of taken) {
          if (superseded.has(bytes)) expect(c).to.be.at.most(limit)
          else expect(c).to.equal(limit)
        }
        const st = q.stats()
        expect(st.completed + st.superseded).to.equal(taken.size)
        expect(st.evicted).to.equal(0)
      }
    ), 200)
  })
})
