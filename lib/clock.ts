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
 * creation, when `advance()` passes them.
 */
export class ManualClock implements Clock {
  private t: number
  private seq = 0
  private readonly timers = new Map<number, { at: number, seq: number, fn: () => void }>()

  constructor (startMs = 1_700_000_000_000) { this.t = startMs }

  /** Timers scheduled and neither fired nor cancelled: 0 after a clean `stop()`. */
  get pending (): number { return this.timers.size }

  now (): number { return this.t }
  monotonic (): number { return this.t }
  schedule (fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq
    this.timers.set(id, { at: this.t + Math.max(0, ms), seq: id, fn })
    return { id }
  }

  cancel (handle: TimerHandle): void { this.timers.delete(handle.id as number) }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
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
