import { expect } from 'chai'
import { ManualClock } from '../../lib/clock.js'
import { resolveGossipConfig, suspicionConfirmations, suspicionMaxTimeoutMs, suspicionTimeoutAfterMs, suspicionTimeoutMs } from '../../lib/gossip/config.js'
import { Suspicion } from '../../lib/gossip/suspicion.js'
import { Key } from '../../lib/identity/key.js'
import { SeededRandom } from '../../lib/random.js'

const r = new SeededRandom(11)
const [a, b, c, d] = Array.from({ length: 4 }, () => Key.fromBytes(r.bytes(32)))
const cfg = resolveGossipConfig('lan')
const N = 10 // min 4 000, max 24 000, K = 2

function make (clock: ManualClock, from = a): { s: Suspicion, fired: number[] } {
  const fired: number[] = []
  const s = new Suspicion(clock, {
    from,
    expected: suspicionConfirmations(cfg, N),
    timeoutAfterMs: n => suspicionTimeoutAfterMs(cfg, N, n),
    onTimeout: () => fired.push(clock.monotonic())
  })
  return { s, fired }
}

describe('gossip/suspicion', () => {
  const min = suspicionTimeoutMs(cfg, N)
  const max = suspicionMaxTimeoutMs(cfg, N)

  it('fires after the max timeout when nobody confirms', () => {
    expect([min, max, suspicionConfirmations(cfg, N)]).to.deep.equal([4600, 27600, 2])
    const clock = new ManualClock()
    const t0 = clock.monotonic()
    const { s, fired } = make(clock)
    expect(s.timeoutMs).to.equal(max)
    clock.advance(max - 1)
    expect(fired).to.deep.equal([])
    clock.advance(1)
    expect(fired).to.deep.equal([t0 + max])
    expect(s.pending).to.equal(false)
    expect(clock.pending).to.equal(0)
  })

  it('shortens with each independent confirmation, measured from the start', () => {
    const clock = new ManualClock()
    const t0 = clock.monotonic()
    const { s, fired } = make(clock)
    clock.advance(1000)
    expect(s.confirm(a)).to.equal(false) // the originator is not a confirmation
    expect(s.confirm(b)).to.equal(true)
    expect(s.confirm(b)).to.equal(false) // nor is the same node twice
    const one = suspicionTimeoutAfterMs(cfg, N, 1)
    expect(one).to.equal(Math.floor(max - (max - min) * Math.log(2) / Math.log(3)))
    expect(s.timeoutMs).to.equal(one)
    clock.advance(one - 1000 - 1)
    expect(fired).to.deep.equal([])
    clock.advance(1)
    expect(fired).to.deep.equal([t0 + one])
    expect(s.confirm(c)).to.equal(false) // over
  })

  it('stops counting at K and never goes below the minimum', () => {
    const clock = new ManualClock()
    const t0 = clock.monotonic()
    const { s, fired } = make(clock)
    expect(s.confirm(b)).to.equal(true)
    expect(s.confirm(c)).to.equal(true)
    expect(s.confirm(d)).to.equal(false)
    expect(s.confirmations).to.equal(2)
    expect(s.timeoutMs).to.equal(min)
    clock.advance(max)
    expect(fired).to.deep.equal([t0 + min])
  })

  it('fires on the next clock turn when a confirmation lands past the new deadline', () => {
    const clock = new ManualClock()
    const { s, fired } = make(clock)
    clock.advance(min + 500)
    s.confirm(b)
    s.confirm(c) // the deadline is now min, already 500 ms past
    expect(fired).to.deep.equal([]) // never synchronously inside confirm
    clock.advance(0)
    expect(fired).to.have.length(1)
  })

  it('uses the minimum outright when K = 0', () => {
    const clock = new ManualClock()
    const fired: number[] = []
    const s = new Suspicion(clock, { from: a, expected: suspicionConfirmations(cfg, 3), timeoutAfterMs: n => suspicionTimeoutAfterMs(cfg, 3, n), onTimeout: () => fired.push(1) })
    expect(s.timeoutMs).to.equal(suspicionTimeoutMs(cfg, 3))
    expect(s.confirm(b)).to.equal(false)
    clock.advance(suspicionTimeoutMs(cfg, 3))
    expect(fired).to.deep.equal([1])
  })

  it('cancel() stops it for good and releases the timer', () => {
    const clock = new ManualClock()
    const { s, fired } = make(clock)
    expect(clock.pending).to.equal(1)
    s.confirm(b)
    expect(clock.pending).to.equal(1)
    s.cancel()
    s.cancel()
    expect(clock.pending).to.equal(0)
    expect(s.confirm(c)).to.equal(false)
    clock.advance(10 * max)
    expect(fired).to.deep.equal([])
  })
})
