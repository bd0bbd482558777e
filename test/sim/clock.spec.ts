import { expect } from 'chai'
import fc from 'fast-check'
import { ManualClock, type Clock, type TimerHandle } from '../../lib/clock.js'
import { check } from '../helpers/prop.js'

/** The O(T)-per-fire ManualClock this heap replaced, verbatim: the reference semantics. */
class ScanClock implements Clock {
  private t: number
  private seq = 0
  private readonly timers = new Map<number, { at: number, seq: number, fn: () => void }>()
  constructor (startMs = 1_700_000_000_000) { this.t = startMs }
  get pending (): number { return this.timers.size }
  now (): number { return this.t }
  monotonic (): number { return this.t }
  schedule (fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq
    this.timers.set(id, { at: this.t + Math.max(0, ms), seq: id, fn })
    return { id }
  }

  cancel (handle: TimerHandle): void { this.timers.delete(handle.id as number) }
  advance (ms: number): void {
    const end = this.t + ms
    for (;;) {
      let next: { id: number, at: number, seq: number } | undefined
      for (const [id, tm] of this.timers) {
        if (tm.at <= end && (next === undefined || tm.at < next.at || (tm.at === next.at && tm.seq < next.seq))) next = { id, at: tm.at, seq: tm.seq }
      }
      if (next === undefined) break
      const tm = this.timers.get(next.id)!
      this.timers.delete(next.id)
      this.t = Math.max(this.t, tm.at)
      tm.fn()
    }
    this.t = end
  }
}

/**
 * A program over a clock: top-level steps, and for each timer what its callback does when it
 * fires (schedule children, cancel earlier timers), so nested scheduling and cancelling from
 * inside callbacks are covered too.
 */
type Step =
  | { op: 'schedule', ms: number, children: number[], cancels: number[] }
  | { op: 'cancel', which: number }
  | { op: 'advance', ms: number }

const delay = fc.oneof(
  fc.integer({ min: -3, max: 40 }),
  fc.constantFrom(0, 0, 5, 5, 10), // ties: creation order decides
  fc.double({ min: 0, max: 40, noNaN: true }),
  fc.constant(Number.NaN)
)
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('schedule' as const), ms: delay, children: fc.array(delay, { maxLength: 2 }), cancels: fc.array(fc.nat(50), { maxLength: 2 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('cancel' as const), which: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.double({ min: 0, max: 30, noNaN: true })) }) }
)

interface Trace { log: string[], pendings: number[], end: number }

/** Runs the program; every handle made (top-level or nested) is numbered in creation order. */
function run (clock: Clock & { advance: (ms: number) => void, readonly pending: number }, steps: Step[]): Trace {
  const handles: TimerHandle[] = []
  const log: string[] = []
  const pendings: number[] = []
  const t0 = clock.now()
  const add = (label: string, ms: number, children: number[], cancels: number[]): void => {
    const idx = handles.length
    handles.push(clock.schedule(() => {
      log.push(`${label}@${clock.now() - t0}`)
      for (const w of cancels) if (handles.length > 0) clock.cancel(handles[w % handles.length])
      children.forEach((c, j) => { add(`${label}.${j}`, c, [], j === 0 ? [idx] : []) })
    }, ms))
  }
  steps.forEach((s, i) => {
    if (s.op === 'schedule') add(`t${i}`, s.ms, s.children, s.cancels)
    else if (s.op === 'cancel') { if (handles.length > 0) clock.cancel(handles[s.which % handles.length]) } else clock.advance(s.ms)
    pendings.push(clock.pending)
  })
  clock.advance(1000)
  pendings.push(clock.pending)
  return { log, pendings, end: clock.now() - t0 }
}

describe('sim/clock: ManualClock as a heap', () => {
  it('fires in exactly the order, at exactly the times, of the scanning clock it replaced (property; SEED replays)', async function () {
    await check(this, fc.property(fc.array(step, { maxLength: 60 }), steps => {
      expect(run(new ManualClock(), steps)).to.deep.equal(run(new ScanClock(), steps))
    }))
  })

  it('compacts cancelled entries: a timer re-armed 10^5 times leaves one pending', () => {
    const clock = new ManualClock()
    let h = clock.schedule(() => {}, 60_000)
    for (let i = 0; i < 100_000; i++) { clock.cancel(h); h = clock.schedule(() => {}, 60_000) }
    expect(clock.pending).to.equal(1)
    expect((clock as unknown as { heap: unknown[] }).heap.length).to.be.below(200)
    clock.cancel(h)
    expect(clock.pending).to.equal(0)
  })

  it('ignores handles of another clock and double cancels', () => {
    const a = new ManualClock()
    const b = new ManualClock()
    let fired = 0
    const ha = a.schedule(() => { fired++ }, 5)
    b.schedule(() => {}, 5)
    b.cancel(ha)
    a.cancel({ id: 1 })
    a.advance(5)
    expect(fired).to.equal(1)
    a.cancel(ha)
    expect(a.pending).to.equal(0)
    expect(b.pending).to.equal(1)
  })

  it('fireNext, nextAt and runUntil step through timers one at a time', () => {
    const clock = new ManualClock(0)
    const seen: number[] = []
    for (const ms of [30, 10, 20]) clock.schedule(() => { seen.push(ms) }, ms)
    expect(clock.nextAt()).to.equal(10)
    expect(clock.fireNext(5)).to.equal(false)
    expect(clock.now()).to.equal(0)
    expect(clock.fireNext(15)).to.equal(true)
    expect(clock.now()).to.equal(10)
    expect(clock.runUntil(() => seen.length === 2, 100)).to.equal(true)
    expect(clock.now()).to.equal(20)
    expect(clock.runUntil(() => false, 100)).to.equal(false)
    expect(clock.now()).to.equal(120)
    expect(seen).to.deep.equal([10, 20, 30])
    expect(clock.fired).to.equal(3)
  })

  it('fires 10^6 events among 5,000 live timers quickly (measured)', function () {
    this.timeout(60_000)
    const clock = new ManualClock(0)
    const TIMERS = 5000
    const EVENTS = 1_000_000
    let fired = 0
    // Each timer re-arms itself with a pseudo-random period, as gossip and probe timers do.
    let x = 12345
    const rearm = (): void => {
      fired++
      x = (Math.imul(x, 1103515245) + 12345) >>> 0
      if (fired < EVENTS) clock.schedule(rearm, 1 + (x % 1000) / 10)
    }
    for (let i = 0; i < TIMERS; i++) clock.schedule(rearm, i % 100)
    const t = performance.now()
    while (fired < EVENTS && clock.fireNext(Infinity));
    const ms = performance.now() - t
    console.log(`      ${EVENTS.toLocaleString('en')} events over ${TIMERS} timers: ${ms.toFixed(0)} ms (${(ms * 1000 / EVENTS).toFixed(2)} µs per event)`)
    expect(fired).to.equal(EVENTS)
    expect(ms).to.be.below(10_000)
  })
})
