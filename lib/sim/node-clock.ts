/**
 * One node's view of the simulation's shared `ManualClock`, so that one node can be frozen
 * or killed while the others run on.
 *
 * - `hold()` / `release()`: a stalled process (SIGSTOP, a GC pause, a VM migration). While
 *   held, the node's timers that fall due are not run but kept, in due order; `release()`
 *   hands them back to the shared clock at zero delay, so they all run at the moment the
 *   stall ends, in their original order, each as its own clock task. Pair it with
 *   `MemoryTransport.pause()`/`resume()` for the node's socket; release the clock first, so
 *   that expired timers run before buffered packets are read (libuv's order: timers, then
 *   I/O).
 * - `kill()`: the process is gone. Every timer is cancelled and later `schedule` calls make
 *   inert handles, so nothing the node's code set up ever runs again.
 *
 * `now()` is the shared clock: a frozen process finds, when it resumes, that time went on.
 * `pending` counts this node's own timers (held ones included), which is how a test checks
 * that a node's `stop()` released everything.
 */
import type { Clock, ManualClock, TimerHandle } from '../clock.js'

class NodeTimer implements TimerHandle {
  /** The shared clock's timer while one is scheduled for us. */
  base: TimerHandle | undefined
  constructor (readonly owner: NodeClock, readonly id: number, public fn: (() => void) | undefined) {}
}

export class NodeClock implements Clock {
  private readonly live = new Set<NodeTimer>()
  private held: NodeTimer[] | undefined
  private dead = false
  private seq = 0

  constructor (readonly base: ManualClock) {}

  now (): number { return this.base.now() }
  monotonic (): number { return this.base.monotonic() }

  /** This node's timers not yet run nor cancelled, held ones included. */
  get pending (): number { return this.live.size }

  isHeld (): boolean { return this.held !== undefined }
  isKilled (): boolean { return this.dead }

  schedule (fn: () => void, ms: number): TimerHandle {
    const t = new NodeTimer(this, ++this.seq, this.dead ? undefined : fn)
    if (this.dead) return t
    this.live.add(t)
    t.base = this.base.schedule(() => { this.fire(t) }, ms)
    return t
  }

  cancel (handle: TimerHandle): void {
    if (!(handle instanceof NodeTimer) || handle.owner !== this || handle.fn === undefined) return
    handle.fn = undefined
    if (handle.base !== undefined) this.base.cancel(handle.base)
    handle.base = undefined
    this.live.delete(handle)
    // A held timer stays in `held`, marked; release() skips it.
  }

  /** Freezes the node's timers: those that fall due are kept for `release()`. Idempotent. */
  hold (): void {
    if (this.held === undefined && !this.dead) this.held = []
  }

  /** Runs the held timers now, in due order, one shared-clock task each. Idempotent. */
  release (): void {
    const held = this.held
    if (held === undefined) return
    this.held = undefined
    for (const t of held) {
      if (t.fn !== undefined) t.base = this.base.schedule(() => { this.fire(t) }, 0)
    }
  }

  /** Cancels every timer, for good. */
  kill (): void {
    if (this.dead) return
    this.dead = true
    for (const t of this.live) {
      if (t.base !== undefined) this.base.cancel(t.base)
      t.base = undefined
      t.fn = undefined
    }
    this.live.clear()
    this.held = undefined
  }

  private fire (t: NodeTimer): void {
    t.base = undefined
    const fn = t.fn
    if (fn === undefined) return
    if (this.held !== undefined) { this.held.push(t); return }
    t.fn = undefined
    this.live.delete(t)
    fn()
  }
}
