/**
 * Lifeguard local health awareness (DESIGN §3 "Liveness"), after memberlist's `awareness.go`.
 *
 * A node that is itself overloaded or behind a lossy link misses acks from healthy peers and
 * would wrongly suspect them. Lifeguard keeps a local health score, 0 (healthy) … max − 1,
 * raised by evidence that *we* are the problem and lowered by evidence that we are fine:
 *
 *   +1 per missing ack/nack when a probe fails (each nack we expected and did not get from a
 *      peer we asked to probe indirectly says our own path is bad; +1 if no nacks were due)
 *   +1 when we have to refute a suspicion about ourselves (others could not hear us)
 *   −1 when a probe succeeds
 *
 * Probe interval and timeout are multiplied by (score + 1) (`scale`, the same formula as
 * `healthScaledMs` in config.ts), so an unhealthy node slows down and waits longer before it
 * accuses anyone. A max of 1 pins the score at 0, which turns awareness off.
 */
export class Awareness {
  private current = 0

  /** `maxMultiplier` is the config's awarenessMaxMultiplier: the score stays in [0, maxMultiplier − 1]. */
  constructor (readonly maxMultiplier: number) {
    if (!Number.isInteger(maxMultiplier) || maxMultiplier < 1) throw new RangeError(`awareness max multiplier must be a positive integer, got ${maxMultiplier}`)
  }

  /** The health score: 0 is healthy, maxMultiplier − 1 the worst. */
  get score (): number { return this.current }

  /** Adds `delta` (may be negative), clamped to [0, maxMultiplier − 1]; returns the new score. */
  applyDelta (delta: number): number {
    this.current = Math.min(Math.max(0, this.current + Math.trunc(delta)), this.maxMultiplier - 1)
    return this.current
  }

  /** `ms` × (score + 1): a probe interval or timeout stretched by how unhealthy we are. */
  scale (ms: number): number {
    return ms * (this.current + 1)
  }
}
