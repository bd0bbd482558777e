import { expect } from 'chai'
import { AllHold, overSeeds } from '../../../lib/sim/index.js'

describe('sim/scenarios/common', () => {
  it('AllHold is true only after one unbroken pass in one call, and resumes at the item that failed', () => {
    const ok = [true, true, false, true]
    const asked: number[] = []
    const all = new AllHold(ok.length, i => { asked.push(i); return ok[i] })
    expect(all.check()).to.equal(false)
    expect(asked).to.deep.equal([0, 1, 2])
    asked.length = 0
    expect(all.check()).to.equal(false)
    expect(asked).to.deep.equal([2]) // O(1) while it still fails
    ok[2] = true
    ok[0] = false
    asked.length = 0
    expect(all.check()).to.equal(false)
    expect(asked).to.deep.equal([2, 3, 0]) // wraps round; item 0 held before but not now
    expect(all.failing(5)).to.deep.equal([0])
    ok[0] = true
    expect(all.check()).to.equal(true)
    expect(new AllHold(0, () => false).check()).to.equal(true)
  })

  it('overSeeds: nearest-rank p50/p99 and max; a seed that never got there makes them null', () => {
    expect(overSeeds([3, 1, 2])).to.deep.equal({ p50: 2, p99: 3, max: 3 })
    expect(overSeeds([1, null])).to.deep.equal({ p50: 1, p99: null, max: null })
  })
})
