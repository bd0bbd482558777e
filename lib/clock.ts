/**
 * Time, injected. Core code never calls `Date.now()` or `setTimeout` itself: it is handed a
 * `Clock`, which is what lets the simulator run thousands of nodes on virtual time.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (wall time; virtual in the simulator). */
  now(): number
  /** Monotonic milliseconds, for measuring intervals. */
  monotonic(): number
  /** Runs `fn` after `ms`; returns a handle for `cancel`. (Named apart from the global timers so a direct call stands out.) */
  schedule(fn: () => void, ms: number): TimerHandle
  cancel(handle: TimerHandle): void
}

export interface TimerHandle { readonly id: unknown }

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  schedule (fn, ms) {
    const t = setTimeout(fn, ms)
    t.unref?.()
    return { id: t }
  },
  cancel (handle) { clearTimeout(handle.id as NodeJS.Timeout) }
}

/**
 * A clock that only moves when told to. Timers fire in order of due time, then of
 * creation, when `advance()` (or `fireNext`, `runUntil`) passes them.
 *
 * A binary min-heap on (due time, creation seq), so scheduling and firing cost O(log T) with
 * T timers pending: a simulation of a thousand nodes keeps ~5,000 timers and fires ~10^6.
 * The handle is the heap entry itself; `cancel` is O(1) and lazy (the entry is marked and
 * skipped when it reaches the top), and the heap is rebuilt without the cancelled entries
 * once they outnumber the live ones, so a node that keeps re-arming a long timeout does not
 * grow it without bound. A timer whose due time is NaN never fires (as before: NaN compares
 * false with every deadline); it waits outside the heap until cancelled.
 */
export class ManualClock implements Clock {
  private t: number
  private seq = 0
  private readonly heap: ManualTimer[] = []
  /** Entries in the heap that were cancelled but not yet popped. */
  private dead = 0
  private readonly never = new Set<ManualTimer>()
  private firedCount = 0

  constructor (startMs = 1_700_000_000_000) { this.t = startMs }

  /** Timers scheduled and neither fired nor cancelled: 0 after a clean `stop()`. */
  get pending (): number { return this.heap.length - this.dead + this.never.size }

  /** Timers fired since this clock was made (a simulation's event count). */
  get fired (): number { return this.firedCount }

  now (): number { return this.t }
  monotonic (): number { return this.t }

  schedule (fn: () => void, ms: number): TimerHandle {
    const timer = new ManualTimer(this, this.t + Math.max(0, ms), ++this.seq, fn)
    if (Number.isNaN(timer.at)) this.never.add(timer)
    else this.push(timer)
    return timer
  }

  cancel (handle: TimerHandle): void {
    if (!(handle instanceof ManualTimer) || handle.clock !== this || handle.fn === undefined) return
    handle.fn = undefined
    if (this.never.delete(handle)) return
    this.dead++
    if (this.dead > 64 && this.dead > this.heap.length >>> 1) this.compact()
  }

  /** Due time of the next timer, or undefined when none is pending (NaN timers aside). */
  nextAt (): number | undefined {
    this.dropDeadTop()
    return this.heap.length === 0 ? undefined : this.heap[0].at
  }

  /**
   * Fires the next timer if it is due at or before `limit`, moving time to its due time
   * (never backwards); returns whether one fired. Time does not move when none did.
   */
  fireNext (limit: number): boolean {
    this.dropDeadTop()
    const top = this.heap[0]
    if (top === undefined || !(top.at <= limit)) return false
    this.pop()
    const fn = top.fn!
    top.fn = undefined
    if (top.at > this.t) this.t = top.at
    this.firedCount++
    fn()
    return true
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance (ms: number): void {
    const end = this.t + ms
    while (this.fireNext(end));
    this.t = end
  }

  /**
   * Fires timers in order until `done()` holds (checked first, then after each timer) or the
   * next timer would pass `maxMs` from now. Returns whether `done()` held; time stays at the
   * timer that made it hold, else it ends `maxMs` on.
   */
  runUntil (done: () => boolean, maxMs: number): boolean {
    const end = this.t + maxMs
    if (done()) return true
    while (this.fireNext(end)) if (done()) return true
    this.t = end
    return false
  }

  private dropDeadTop (): void {
    const h = this.heap
    while (h.length > 0 && h[0].fn === undefined) { this.pop(); this.dead-- }
  }

  private push (timer: ManualTimer): void {
    const h = this.heap
    let i = h.length
    h.push(timer)
    while (i > 0) {
      const parent = (i - 1) >>> 1
      const p = h[parent]
      if (!before(timer, p)) break
      h[i] = p
      i = parent
    }
    h[i] = timer
  }

  /** Removes the top entry. */
  private pop (): void {
    const h = this.heap
    const last = h.pop()!
    if (h.length === 0) return
    siftDown(h, 0, last)
  }

  /** Rebuilds the heap from its live entries: O(T). */
  private compact (): void {
    const h = this.heap
    let n = 0
    for (const timer of h) if (timer.fn !== undefined) h[n++] = timer
    h.length = n
    for (let i = (n >>> 1) - 1; i >= 0; i--) siftDown(h, i, h[i])
    this.dead = 0
  }
}

/** A pending timer of a `ManualClock`, and its handle. */
class ManualTimer implements TimerHandle {
  constructor (
    readonly clock: ManualClock,
    readonly at: number,
    /** Creation order; also the handle's id. */
    readonly id: number,
    /** Undefined once fired or cancelled. */
    public fn: (() => void) | undefined
  ) {}
}

function before (a: ManualTimer, b: ManualTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.id < b.id)
}

/** Places `x` at `i` and moves it down to its place. */
function siftDown (h: ManualTimer[], i: number, x: ManualTimer): void {
  const n = h.length
  for (;;) {
    let child = 2 * i + 1
    if (child >= n) break
    const right = child + 1
    if (right < n && before(h[right], h[child])) child = right
    if (!before(h[child], x)) break
    h[i] = h[child]
    i = child
  }
  h[i] = x
}
