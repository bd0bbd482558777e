/**
 * The broadcast queue behind dissemination (DESIGN §3 "Dissemination"): new ops and
 * node-state updates wait here and are piggybacked on outgoing packets, each a bounded
 * number of times. Behaviour follows memberlist's `TransmitLimitedQueue` (`queue.go`):
 *
 * - Limit. Each item is sent at most
 *       retransmitLimit(n) = retransmitMult × ⌈log10(n + 1)⌉
 *   times (one packet to one peer is one send; a gossip round to `fanout` peers is
 *   `fanout` sends, overshooting the limit by at most fanout − 1 on its last round), n
 *   being the cluster size at the moment of `take()` (so a growing cluster keeps
 *   an item alive longer). With mult 4: n = 1…9 → 4, 10…99 → 8, 100…999 → 12. That many
 *   rounds of random fan-out reach every node with high probability (epidemic spreading
 *   needs O(log n) rounds). An item is sent at least once even when the limit is 0 (n = 0),
 *   as in memberlist, where the check is `transmits + 1 >= limit` after sending.
 * - Order. `take()` walks tiers of equal transmit count, fewest first: fresh news goes out
 *   before news most peers have already heard. Within a tier the newest item goes first.
 *   DEVIATION: memberlist takes the largest item of a tier first (a bin-packing heuristic);
 *   we prefer recency, so a burst of small ops is not starved by one big node state, and the
 *   order does not depend on encoding sizes.
 * - Budget. Each taken item costs `overheadPerItem + bytes.length` of the packet budget. An
 *   item that does not fit in what is left is skipped, not waited for: smaller items behind
 *   it still go. Items taken in one call are moved to their next tier only after the walk,
 *   so none is taken twice for the same packet.
 * - Supersession. An item with a `key` (a node's state: the key names the node) replaces any
 *   queued item with the same key, whatever its transmit count; the newcomer starts at 0
 *   transmits. Deciding which state is newer (incarnation) is the caller's job: the queue
 *   trusts that whatever is enqueued later is newer. Items without a key (ops) are never
 *   superseded. As memberlist's `NamedBroadcast`, without the slow `Invalidates()` scan.
 * - Cap. At most `maxItems` are queued; past it the queue evicts the oldest item of the
 *   most-transmitted tier (the one most peers already have), as memberlist's `Prune` does
 *   but on every enqueue rather than when the caller remembers to. Evictions are counted;
 *   anti-entropy (push-pull) repairs what eviction loses.
 *
 * An item bigger than every budget offered stays queued until superseded, evicted or
 * `reset()`; callers page anything larger than a packet (DESIGN §3 "Limits").
 *
 * Deterministic: no clock, no randomness; the same calls give the same packets.
 * Cost: `enqueue` is O(1) amortised (O(tier) when it supersedes or evicts), `take` is
 * O(items looked at + tier sizes of what it moves).
 */
import { resolve } from '../config.js'

export interface BroadcastQueueInit {
  /**
   * Multiplier of the retransmit limit, `mult × ⌈log10(n + 1)⌉` sends per item. Higher
   * spreads more reliably under loss, at proportionally more bytes per item. Default 4
   * (memberlist's `DefaultLANConfig`).
   */
  retransmitMult?: number
  /**
   * The most items queued at once; beyond it the oldest most-transmitted is evicted. Bounds
   * memory under a flood of updates. Default 4096.
   */
  maxItems?: number
}

const SPEC = {
  retransmitMult: { default: 4, min: 1, max: 32, integer: true },
  maxItems: { default: 4096, min: 1, max: 1_000_000, integer: true }
}

/** An item as queued: its bytes go on the wire as they are. */
export interface BroadcastItem {
  /** Supersession key: a later item with the same key replaces this one. Ops have none. */
  key?: string
  /** The encoded message. Held by reference: do not mutate it once enqueued. */
  bytes: Uint8Array
  /** How many times it has been taken so far (as returned by `take()`: including that take). */
  transmits: number
}

/** What is enqueued: transmits always start at 0. */
export type NewBroadcast = Omit<BroadcastItem, 'transmits'>

/** Counters only grow (also across `reset()`), except `queued`. */
export interface BroadcastQueueStats {
  /** Items in the queue now (= `size`). */
  queued: number
  /** Items ever enqueued. */
  enqueued: number
  /** Items replaced by a newer one with the same key. */
  superseded: number
  /** Items dropped by the `maxItems` cap before reaching their limit. */
  evicted: number
  /** Items dropped because they reached their retransmit limit. */
  completed: number
  /** Item sends handed out by `take()` (one per item per packet). */
  transmitted: number
}

interface Entry {
  key: string | undefined
  bytes: Uint8Array
  transmits: number
  /** Enqueue order; larger is newer. */
  id: number
}

/**
 * `retransmitMult × ⌈log10(n + 1)⌉` (memberlist's `retransmitLimit`). Same formula and range
 * as `retransmitLimit(cfg, n)` in `./config.ts`; this one throws on a bad `n` instead of
 * clamping, since a NaN size would silently keep every item forever.
 */
export function retransmitLimit (retransmitMult: number, n: number): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`cluster size must be a non-negative integer, got ${n}`)
  // ⌈log10(n + 1)⌉ by integer steps: no floating-point edge at the powers of ten.
  let digits = 0
  for (let p = 1; p < n + 1; p *= 10) digits++
  return retransmitMult * digits
}

export class BroadcastQueue {
  readonly retransmitMult: number
  readonly maxItems: number
  /** tiers[t]: the entries taken t times, by ascending id (oldest first). */
  private tiers: Entry[][] = []
  private readonly byKey = new Map<string, Entry>()
  private count = 0
  private nextId = 0
  private readonly counters = { enqueued: 0, superseded: 0, evicted: 0, completed: 0, transmitted: 0 }

  constructor (init: BroadcastQueueInit = {}) {
    const cfg = resolve(SPEC, init)
    this.retransmitMult = cfg.retransmitMult
    this.maxItems = cfg.maxItems
  }

  /** Items queued. */
  get size (): number {
    return this.count
  }

  /** How many times an item is sent in a cluster of `n` nodes (see the file header). */
  retransmitLimit (n: number): number {
    return retransmitLimit(this.retransmitMult, n)
  }

  /** Queues an item at 0 transmits, replacing a queued one with the same `key`. */
  enqueue (item: NewBroadcast): void {
    this.counters.enqueued++
    if (item.key !== undefined) {
      const old = this.byKey.get(item.key)
      if (old !== undefined) {
        this.remove(old)
        this.counters.superseded++
      }
    }
    const e: Entry = { key: item.key, bytes: item.bytes, transmits: 0, id: this.nextId++ }
    // The newest id: appending keeps tier 0 sorted.
    this.tierAt(0).push(e)
    if (e.key !== undefined) this.byKey.set(e.key, e)
    this.count++
    while (this.count > this.maxItems) {
      this.remove(this.evictionVictim())
      this.counters.evicted++
    }
    this.trim()
  }

  /** Drops the queued item with this key (its subject left the view); false if none was queued. */
  removeKey (key: string): boolean {
    const e = this.byKey.get(key)
    if (e === undefined) return false
    this.remove(e)
    this.trim()
    return true
  }

  /**
   * The items to piggyback on one packet of `budgetBytes`, each costing `overheadPerItem +
   * bytes.length`: fewest-transmitted first, newest first within a tier, skipping what
   * does not fit. Their transmit counts go up by `copies`, the peers the packet goes to (as
   * memberlist counts one transmit per node sent to); those reaching `retransmitLimit(n)`
   * leave the queue. Returns snapshots (with the new count), in the order chosen.
   */
  take (budgetBytes: number, overheadPerItem: number, n: number, copies = 1): BroadcastItem[] {
    if (!(budgetBytes >= 0) || !(overheadPerItem >= 0)) {
      throw new RangeError(`budget and overhead must be non-negative, got ${budgetBytes} and ${overheadPerItem}`)
    }
    if (!Number.isInteger(copies) || copies < 1) throw new RangeError(`copies must be a positive integer, got ${copies}`)
    const limit = Math.max(1, this.retransmitLimit(n))
    const out: BroadcastItem[] = []
    const moved: Entry[] = []
    let free = budgetBytes
    for (let t = 0; t < this.tiers.length && free >= overheadPerItem; t++) {
      const tier = this.tiers[t]
      for (let i = tier.length - 1; i >= 0 && free >= overheadPerItem; i--) {
        const e = tier[i]
        const cost = overheadPerItem + e.bytes.length
        if (cost > free) continue
        free -= cost
        tier.splice(i, 1)
        e.transmits += copies
        this.counters.transmitted += copies
        out.push(snapshot(e))
        if (e.transmits >= limit) {
          this.forget(e)
          this.counters.completed++
        } else {
          moved.push(e)
        }
      }
    }
    for (const e of moved) insertById(this.tierAt(e.transmits), e)
    this.trim()
    return out
  }

  /** The queued items in the order `take()` would consider them (for tests and debugging). */
  items (): BroadcastItem[] {
    const out: BroadcastItem[] = []
    for (const tier of this.tiers) {
      for (let i = tier.length - 1; i >= 0; i--) out.push(snapshot(tier[i]))
    }
    return out
  }

  /** Empties the queue. Counters keep counting. */
  reset (): void {
    this.tiers = []
    this.byKey.clear()
    this.count = 0
  }

  stats (): BroadcastQueueStats {
    return { queued: this.count, ...this.counters }
  }

  private tierAt (t: number): Entry[] {
    while (this.tiers.length <= t) this.tiers.push([])
    return this.tiers[t]
  }

  /** The oldest entry of the highest non-empty tier. Only called on a non-empty queue. */
  private evictionVictim (): Entry {
    for (let t = this.tiers.length - 1; t >= 0; t--) {
      if (this.tiers[t].length > 0) return this.tiers[t][0]
    }
    throw new Error('unreachable: eviction from an empty broadcast queue')
  }

  /** Takes a queued entry out of its tier and forgets it. */
  private remove (e: Entry): void {
    const tier = this.tiers[e.transmits]
    tier.splice(indexById(tier, e.id), 1)
    this.forget(e)
  }

  /** Forgets an entry already out of its tier. */
  private forget (e: Entry): void {
    if (e.key !== undefined && this.byKey.get(e.key) === e) this.byKey.delete(e.key)
    this.count--
  }

  /** Drops empty top tiers, so the walks stay as short as the highest transmit count. */
  private trim (): void {
    while (this.tiers.length > 0 && this.tiers[this.tiers.length - 1].length === 0) this.tiers.pop()
  }
}

function snapshot (e: Entry): BroadcastItem {
  return e.key === undefined ? { bytes: e.bytes, transmits: e.transmits } : { key: e.key, bytes: e.bytes, transmits: e.transmits }
}

/** The first index whose id is ≥ `id` in a tier sorted by ascending id. */
function lowerBound (tier: Entry[], id: number): number {
  let lo = 0
  let hi = tier.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (tier[mid].id < id) lo = mid + 1
    else hi = mid
  }
  return lo
}

function indexById (tier: Entry[], id: number): number {
  const i = lowerBound(tier, id)
  if (tier[i]?.id !== id) throw new Error(`unreachable: broadcast entry ${id} is not in its tier`)
  return i
}

function insertById (tier: Entry[], e: Entry): void {
  tier.splice(lowerBound(tier, e.id), 0, e)
}
