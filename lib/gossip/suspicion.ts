/**
 * One Lifeguard suspicion timer (DESIGN §3 "Liveness"), after memberlist's `suspicion.go`.
 *
 * When a member is suspected we do not declare it dead after a fixed time. The timer starts
 * at the maximum timeout (suspicionMaxTimeoutMult × the minimum), which gives a live node that
 * only one, perhaps unhealthy, peer suspects plenty of time to hear of it and refute. Each
 * *independent* confirmation — a suspect message about the same member from a node that has
 * not confirmed yet — pulls the deadline in, until K expected confirmations bring it to the
 * minimum (config.ts `suspicionTimeoutAfterMs`):
 *
 *   timeout(C) = max(min, ⌊max − (max − min) × log(C + 1) / log(K + 1)⌋)      (min when K = 0)
 *
 * The timeout is measured from when the suspicion started, so a confirmation re-arms the
 * timer for timeout(C) − elapsed; if that is already past, `onTimeout` runs on the next
 * clock turn (scheduled with 0 ms, never synchronously inside `confirm`). The node that
 * raised the suspicion counts as already heard: it cannot confirm its own suspicion.
 *
 * The timer runs on the injected `Clock`; `cancel()` (refutation, removal, stop) releases it.
 */
import type { Clock, TimerHandle } from '../clock.js'
import type { Key } from '../identity/key.js'

export interface SuspicionInit {
  /** The node whose suspect message (or failed probe, if it is us) started this suspicion. */
  from: Key
  /** Lifeguard's K: confirmations after which the timeout reaches the minimum (`suspicionConfirmations`). */
  expected: number
  /** The total timeout, ms, after C confirmations (`suspicionTimeoutAfterMs` with N fixed at the start). */
  timeoutAfterMs: (confirmations: number) => number
  /** Runs once when the timeout elapses, unless cancelled first. */
  onTimeout: () => void
}

export class Suspicion {
  /** When the suspicion started (clock.monotonic()). */
  readonly startedMs: number
  private readonly clock: Clock
  private readonly init: SuspicionInit
  private readonly confirmed = new Set<string>()
  private n = 0
  private timer: TimerHandle | undefined
  private done = false

  constructor (clock: Clock, init: SuspicionInit) {
    this.clock = clock
    this.init = init
    this.startedMs = clock.monotonic()
    this.confirmed.add(init.from.mapKey)
    this.arm(init.timeoutAfterMs(0))
  }

  /** Independent confirmations so far (not counting the node that started it). */
  get confirmations (): number { return this.n }

  /** The total timeout, ms from the start, that is now in force. */
  get timeoutMs (): number { return this.init.timeoutAfterMs(this.n) }

  /** Whether the timer is still pending (not fired, not cancelled). */
  get pending (): boolean { return !this.done }

  /**
   * Counts a suspect message from `from`. Returns true if it was a new, independent
   * confirmation (the caller re-gossips it), false if `from` already counted, K is reached,
   * or the timer is over.
   */
  confirm (from: Key): boolean {
    if (this.done || this.n >= this.init.expected || this.confirmed.has(from.mapKey)) return false
    this.confirmed.add(from.mapKey)
    this.n++
    const elapsed = this.clock.monotonic() - this.startedMs
    this.arm(Math.max(0, this.init.timeoutAfterMs(this.n) - elapsed))
    return true
  }

  /** Stops the timer for good; `onTimeout` will not run. Idempotent. */
  cancel (): void {
    this.done = true
    if (this.timer !== undefined) this.clock.cancel(this.timer)
    this.timer = undefined
  }

  private arm (ms: number): void {
    if (this.timer !== undefined) this.clock.cancel(this.timer)
    this.timer = this.clock.schedule(() => {
      this.timer = undefined
      if (this.done) return
      this.done = true
      this.init.onTimeout()
    }, ms)
  }
}
