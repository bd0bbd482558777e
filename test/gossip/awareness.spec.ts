import { expect } from 'chai'
import { Awareness } from '../../lib/gossip/awareness.js'
import { healthScaledMs, LAN } from '../../lib/gossip/config.js'

describe('gossip/awareness', () => {
  it('starts healthy and scales by (score + 1)', () => {
    const a = new Awareness(8)
    expect(a.score).to.equal(0)
    expect(a.scale(500)).to.equal(500)
    expect(a.applyDelta(3)).to.equal(3)
    expect(a.scale(500)).to.equal(2000)
    expect(a.scale(500)).to.equal(healthScaledMs(LAN, 500, a.score))
  })

  it('clamps the score to [0, max − 1]', () => {
    const a = new Awareness(8)
    expect(a.applyDelta(-1)).to.equal(0)
    expect(a.applyDelta(100)).to.equal(7)
    expect(a.scale(1000)).to.equal(8000)
    expect(a.applyDelta(-2)).to.equal(5)
    expect(a.applyDelta(-100)).to.equal(0)
  })

  it('is off with a max of 1', () => {
    const a = new Awareness(1)
    a.applyDelta(5)
    expect(a.score).to.equal(0)
    expect(a.scale(700)).to.equal(700)
  })

  it('rejects a bad max', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new Awareness(bad)).to.throw(RangeError)
  })
})
