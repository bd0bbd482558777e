import { expect } from 'chai'
import fc from 'fast-check'
import { ConvergenceTracker, EventCounts, percentile, sortNumbers, summarize, trafficRate } from '../../lib/sim/metrics.js'
import { check } from '../helpers/prop.js'

describe('sim/metrics', () => {
  it('percentile: nearest rank on sorted arrays, exact values', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(hundred, 50)).to.equal(50)
    expect(percentile(hundred, 99)).to.equal(99)
    expect(percentile(hundred, 57)).to.equal(57) // 57·100/100 must not round up to rank 58
    expect(percentile(hundred, 100)).to.equal(100)
    expect(percentile(hundred, 0)).to.equal(1)
    expect(percentile([7], 99)).to.equal(7)
    expect(percentile([1, 2, 3], 50)).to.equal(2)
    expect(percentile([1, 2], 50)).to.equal(1)
    expect(percentile([1, 2, 3, 4], 75)).to.equal(3)
    expect(percentile([], 50)).to.equal(undefined)
    expect(percentile([1, Infinity], 99)).to.equal(Infinity)
    expect(() => percentile([1], 101)).to.throw(RangeError)
    expect(sortNumbers([10, 9, 100, 1])).to.deep.equal([1, 9, 10, 100])
  })

  it('percentile: at least p% at or below it, fewer than p% strictly below (property; SEED replays)', async function () {
    await check(this, fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 0, max: 100 }), (values, p) => {
      const sorted = sortNumbers(values)
      const v = percentile(sorted, p)!
      expect(sorted).to.include(v)
      const n = sorted.length
      expect(sorted.filter(x => x <= v).length * 100).to.be.at.least(p * n)
      expect(sorted.filter(x => x < v).length * 100).to.be.below(Math.max(1, p * n))
    }))
  })

  it('tracks first observations by live expected nodes; the subject and untracked changes do not count', () => {
    const t = new ConvergenceTracker()
    t.start('enroll', 9, 1000, [0, 1, 2, 3, 9])
    t.observe('enroll', 9, 9, 1000) // its own: not expected
    t.observe('enroll', 9, 0, 1000)
    t.observe('enroll', 9, 1, 1100)
    t.observe('enroll', 9, 1, 1050) // a second observation: the first counts
    t.observe('revoke', 9, 2, 1200) // another kind: untracked
    t.observe('enroll', 4, 2, 1200) // another subject
    t.observe('enroll', 9, 7, 1100) // not expected (joined later)
    let live = (n: number): boolean => n !== 3
    expect(t.allReached(live)).to.equal(false)
    t.observe('enroll', 9, 2, 1300)
    expect(t.allReached(live)).to.equal(true) // node 3 is dead: it no longer counts
    const [r] = t.report(live, 200)
    expect(r).to.deep.equal({
      kind: 'enroll', subject: 9, startedAtMs: 1000, expected: 3, reached: 3, converged: true,
      timeToAllMs: 300, roundsToAll: 1.5, delaysMs: [0, 100, 300]
    })
    live = () => true
    const [all] = t.report(live, 200)
    expect(all).to.include({ expected: 4, reached: 3, converged: false, timeToAllMs: null, roundsToAll: null })
  })

  it('summarize pools changes: p50/p99 of time to all, a change that never converged counts as never', () => {
    const mk = (ms: number | null): Parameters<typeof summarize>[0][number] => ({
      kind: 'enroll', subject: 1, startedAtMs: 0, expected: 2, reached: ms === null ? 1 : 2, converged: ms !== null, timeToAllMs: ms, roundsToAll: ms === null ? null : ms / 200, delaysMs: []
    })
    const ok = summarize([100, 300, 200, 400].map(mk), 200)
    expect(ok).to.deep.equal({ changes: 4, converged: true, roundsP50: 1, roundsP99: 2, timeP50Ms: 200, timeP99Ms: 400 })
    const bad = summarize([mk(100), mk(null)], 200)
    expect(bad).to.deep.equal({ changes: 2, converged: false, roundsP50: 0.5, roundsP99: null, timeP50Ms: 100, timeP99Ms: null })
    expect(summarize([], 200)).to.include({ changes: 0, converged: true, roundsP50: null })
  })

  it('traffic per node per second, and event counts with sorted names', () => {
    expect(trafficRate(8000, 100, 4, 2000)).to.deep.equal({ windowMs: 2000, nodes: 4, bytes: 8000, packets: 100, bytesPerNodePerSec: 1000, packetsPerNodePerSec: 12.5 })
    expect(trafficRate(1, 1, 0, 0).bytesPerNodePerSec).to.equal(0)
    const e = new EventCounts()
    e.add('sync'); e.add('peer:add', 3); e.add('sync')
    expect(JSON.stringify(e)).to.equal('{"peer:add":3,"sync":2}')
    expect(e.get('nothing')).to.equal(0)
  })
})
