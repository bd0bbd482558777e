/**
 * One-way latency distributions for `MemoryNetwork` (`latency` / `setLatencyModel`), each as
 * its quantile function u ∈ [0, 1) → ms: the network draws one uniform number per packet and
 * maps it, so the draw count per packet does not depend on the distribution.
 */
import type { LatencyQuantile } from '../gossip/memory-transport.js'
import { InvalidConfigError } from '../errors.js'

/** Uniform in [minMs, maxMs]: the network's default, 1–50 ms. */
export function uniformLatency (minMs: number, maxMs: number): LatencyQuantile {
  check(minMs >= 0 && maxMs >= minMs && Number.isFinite(maxMs), `uniform latency needs 0 <= minMs <= maxMs, got [${minMs}, ${maxMs}]`)
  const span = maxMs - minMs
  return u => minMs + u * span
}

/**
 * `minMs` plus an exponential tail of mean `meanMs − minMs`, cut at `maxMs`:
 * q(u) = min(maxMs, minMs − (meanMs − minMs) × ln(1 − u)). A long-tailed path (queues).
 */
export function exponentialLatency (init: { minMs: number, meanMs: number, maxMs?: number }): LatencyQuantile {
  const { minMs, meanMs } = init
  const maxMs = init.maxMs ?? Infinity
  check(minMs >= 0 && meanMs >= minMs && maxMs >= minMs && Number.isFinite(meanMs), `exponential latency needs 0 <= minMs <= meanMs <= maxMs, got ${minMs}, ${meanMs}, ${maxMs}`)
  const scale = meanMs - minMs
  return u => Math.min(maxMs, minMs - scale * Math.log1p(-u))
}

/** Resamples measured latencies (e.g. a ping trace): q(u) = sorted[⌊u × n⌋]. */
export function empiricalLatency (samplesMs: readonly number[]): LatencyQuantile {
  check(samplesMs.length > 0 && samplesMs.every(x => x >= 0 && Number.isFinite(x)), 'empirical latency needs at least one finite sample >= 0')
  const sorted = [...samplesMs].sort((a, b) => a - b)
  const n = sorted.length
  return u => sorted[Math.min(n - 1, Math.floor(u * n))]
}

function check (ok: boolean, message: string): void {
  if (!ok) throw new InvalidConfigError(message)
}
