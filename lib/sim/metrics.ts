/**
 * What a simulation measures, kept apart from how it runs:
 *
 * - Convergence of tracked changes. A change (an enrolment, a revocation, a death) starts at
 *   a virtual time with the set of nodes expected to observe it (the nodes live then, less
 *   its subject). Each node's first observation is recorded. When reported, the change
 *   counts only nodes still live: it has reached all when each of them observed it, after
 *   `timeToAllMs` = max(observation − start), or `roundsToAll` = timeToAllMs /
 *   gossipIntervalMs (fractional: a round is one gossip interval of virtual time).
 * - Percentiles: one function, nearest-rank on a sorted array, so every reported figure is
 *   a value that was observed (no interpolation), and pooling seeds is a concatenation.
 * - Idle cost: bytes and packets sent (sealing included, as the transports count them) per
 *   node per second over a window with no changes.
 * - Event counts by name, reported with sorted keys so the JSON is stable.
 */

export type ChangeKind = 'enroll' | 'revoke' | 'death'

/** One `peer:unreachable`: `observer` declared `subject` dead at `atMs` (virtual ms since the start). */
export interface Declaration {
  observer: number
  subject: number
  atMs: number
  /** 'suspicion-timeout': the observer's own suspicion ran out; 'claim': it heard someone's dead claim. */
  cause: 'claim' | 'suspicion-timeout'
}

/**
 * The p-th percentile (p in [0, 100]) of an ascending array, by nearest rank: the smallest
 * value with at least p% of the values at or below it, sorted[⌈p·n/100⌉ − 1] (sorted[0] for
 * p = 0). Undefined for an empty array. The array must be sorted (`sortNumbers`).
 */
export function percentile (sorted: readonly number[], p: number): number | undefined {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`)
  const n = sorted.length
  if (n === 0) return undefined
  // p·n is exact for the integers and short decimals used; the epsilon keeps 57·100/100
  // style products from rounding up a rank.
  const rank = Math.ceil(p * n / 100 - 1e-9)
  return sorted[Math.min(n - 1, Math.max(0, rank - 1))]
}

/** An ascending copy (numbers, not the default string order). */
export function sortNumbers (values: Iterable<number>): number[] {
  return [...values].sort((a, b) => a - b)
}

export interface ChangeReport {
  kind: ChangeKind
  /** Whose change it is (the simulator's node index). */
  subject: number
  startedAtMs: number
  /** Nodes expected to observe it and still live. */
  expected: number
  /** Of those, how many observed it. */
  reached: number
  converged: boolean
  /** Virtual ms until the last expected node observed it; null unless converged. */
  timeToAllMs: number | null
  roundsToAll: number | null
  /** Each observing node's delay in virtual ms, ascending (for plots). */
  delaysMs: number[]
}

interface Change {
  kind: ChangeKind
  subject: number
  startedAtMs: number
  expected: Set<number>
  seen: Map<number, number>
}

export class ConvergenceTracker {
  private readonly changes: Change[] = []
  /** `${kind} ${subject}` → the latest change of that kind and subject. */
  private readonly open = new Map<string, Change>()

  /** Starts tracking; `expected` are the node indices that should observe it. */
  start (kind: ChangeKind, subject: number, atMs: number, expected: Iterable<number>): void {
    const c: Change = { kind, subject, startedAtMs: atMs, expected: new Set(expected), seen: new Map() }
    c.expected.delete(subject)
    this.changes.push(c)
    this.open.set(`${kind} ${subject}`, c)
  }

  /** Drops the latest change of this kind and subject (its step failed: nothing happened). */
  forget (kind: ChangeKind, subject: number): void {
    const c = this.open.get(`${kind} ${subject}`)
    if (c === undefined) return
    this.open.delete(`${kind} ${subject}`)
    this.changes.splice(this.changes.lastIndexOf(c), 1)
  }

  /** Node `node` observed `kind` of `subject` at `atMs`: the first time counts; untracked ones are ignored. */
  observe (kind: ChangeKind, subject: number, node: number, atMs: number): void {
    const c = this.open.get(`${kind} ${subject}`)
    if (c === undefined || !c.expected.has(node) || c.seen.has(node)) return
    c.seen.set(node, atMs - c.startedAtMs)
  }

  /** Whether every tracked change has reached every node in `live`. */
  allReached (live: (node: number) => boolean): boolean {
    for (const c of this.changes) {
      for (const n of c.expected) if (live(n) && !c.seen.has(n)) return false
    }
    return true
  }

  get size (): number { return this.changes.length }

  /** One report per change, in the order they started; `live` says which nodes still count. */
  report (live: (node: number) => boolean, gossipIntervalMs: number): ChangeReport[] {
    return this.changes.map(c => {
      const delays: number[] = []
      let expected = 0
      for (const n of c.expected) {
        if (!live(n)) continue
        expected++
        const d = c.seen.get(n)
        if (d !== undefined) delays.push(d)
      }
      delays.sort((a, b) => a - b)
      const converged = delays.length === expected
      const timeToAllMs = converged ? (delays.at(-1) ?? 0) : null
      return {
        kind: c.kind,
        subject: c.subject,
        startedAtMs: c.startedAtMs,
        expected,
        reached: delays.length,
        converged,
        timeToAllMs,
        roundsToAll: timeToAllMs === null ? null : timeToAllMs / gossipIntervalMs,
        delaysMs: delays
      }
    })
  }
}

export interface ConvergenceSummary {
  changes: number
  /** Every change reached every node still live. */
  converged: boolean
  /** Percentiles over changes of roundsToAll and timeToAllMs; a change that never reached all counts as infinitely slow, reported null. */
  roundsP50: number | null
  roundsP99: number | null
  timeP50Ms: number | null
  timeP99Ms: number | null
}

/** Pools changes (of one run or of many seeds) into the headline figures. */
export function summarize (reports: readonly ChangeReport[], gossipIntervalMs: number): ConvergenceSummary {
  const times = sortNumbers(reports.map(r => r.timeToAllMs ?? Infinity))
  const finite = (x: number | undefined): number | null => x === undefined || !Number.isFinite(x) ? null : x
  const at = (p: number): number | null => finite(percentile(times, p))
  const rounds = (x: number | null): number | null => x === null ? null : x / gossipIntervalMs
  return {
    changes: reports.length,
    converged: reports.every(r => r.converged),
    roundsP50: rounds(at(50)),
    roundsP99: rounds(at(99)),
    timeP50Ms: at(50),
    timeP99Ms: at(99)
  }
}

/** Traffic sent by the nodes over a window. */
export interface TrafficWindow {
  windowMs: number
  nodes: number
  bytes: number
  packets: number
  bytesPerNodePerSec: number
  packetsPerNodePerSec: number
  /** The same per gossip message type (sorted keys; types nobody sent are left out), when measured so. */
  byType?: Record<string, { bytesPerNodePerSec: number, packetsPerNodePerSec: number }>
}

/** Per node per second, from the totals sent by `nodes` nodes over `windowMs`. */
export function trafficRate (bytes: number, packets: number, nodes: number, windowMs: number): TrafficWindow {
  const per = nodes > 0 && windowMs > 0 ? 1000 / (nodes * windowMs) : 0
  return { windowMs, nodes, bytes, packets, bytesPerNodePerSec: bytes * per, packetsPerNodePerSec: packets * per }
}

/** Counts by name; `toJSON` sorts the names. */
export class EventCounts {
  private readonly counts = new Map<string, number>()
  add (name: string, n = 1): void { this.counts.set(name, (this.counts.get(name) ?? 0) + n) }
  get (name: string): number { return this.counts.get(name) ?? 0 }
  toJSON (): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
  }
}
