/**
 * Parking (ingest.ts): ops held back because part of their causal past is missing (under the
 * need key of what they wait for: `s:keyId:seq` a chain position, `k:keyId` a key) or because
 * they lie too far above a cut chain's window (`d:keyId:seq`, dormant until a parked op needs
 * that very position). Held as bytes, bounded per forwarding source (in ops) and per author
 * (in bytes, DESIGN §2.1 "Bounded per member"), the oldest evicted first.
 */
import { keyIdMapKey } from '../identity/key.js'
import { decodeOp } from './codec.js'
import type { WireOp } from './op.js'

/**
 * Ops of one author (key id) held back, parked or dormant, in wire bytes: what one member can
 * make a replica hold that is not stored. The oldest go first.
 */
export const MAX_PARKED_BYTES_PER_AUTHOR = 64 * 1024

export interface Parked {
  w: WireOp
  source: string
  dead: boolean
  /** Woken because a parked op needs it: taken even above its chain's cut window. */
  override?: boolean
  counted?: boolean
  /** Candidates (ops at the position, or keys with the id) the need had when parked. */
  seen?: number
}

export class ParkingLot {
  private readonly parked = new Map<string, Parked[]>()
  private readonly bySource = new Map<string, Parked[]>()
  private readonly byAuthor = new Map<string, { list: Parked[], bytes: number }>()
  /** Dormant ops a newly parked op needs: taken in (with `override`) at the end of the batch. */
  private toWake: Parked[] = []
  /** Live ops counted against the quotas. */
  count = 0

  /** Need keys with ops waiting (dead entries included until `hold` compacts). */
  get size (): number { return this.parked.size }

  entries (): IterableIterator<[string, Parked[]]> { return this.parked.entries() }

  /** Parks `p` under `need`, which had `seen` candidates; wakes a dormant op it needs. */
  park (need: string, p: Parked, seen: number): void {
    if (need.startsWith('s:')) {
      const dormant = this.parked.get(`d:${need.slice(2)}`)
      if (dormant !== undefined) for (const d of dormant) if (!d.dead) this.toWake.push(d)
    }
    p.dead = false
    p.seen = seen
    let list = this.parked.get(need)
    if (list === undefined) { list = []; this.parked.set(need, list) }
    list.push(p)
  }

  /** Moves what waited for `need` into `queue`, as fresh entries. */
  wake (need: string, queue: Parked[]): void {
    const list = this.parked.get(need)
    if (list === undefined) return
    this.parked.delete(need)
    for (const p of list) {
      if (p.dead) continue
      if (p.counted === true) this.count--
      const fresh: Parked = { w: p.w, source: p.source, dead: false, override: p.override }
      p.dead = true
      queue.push(fresh)
    }
  }

  /** The dormant ops a park asked for, taken out of the lot. */
  takeWake (): Parked[] {
    const wake = this.toWake.filter(p => !p.dead)
    this.toWake = []
    for (const p of wake) this.release(p)
    return wake
  }

  /** Takes `p` out of the lot (it is being retried). */
  release (p: Parked): void {
    p.dead = true
    if (p.counted === true) { this.count--; p.counted = false }
  }

  /**
   * Holds what a batch parked, as bytes, under the quotas: per source `pendingQuota` ops, per
   * author MAX_PARKED_BYTES_PER_AUTHOR. Returns how many were evicted.
   */
  hold (newlyParked: readonly Parked[], pendingQuota: number): number {
    let evicted = 0
    for (const p of newlyParked) {
      if (p.dead) continue
      let list = this.bySource.get(p.source)
      if (list === undefined) { list = []; this.bySource.set(p.source, list) }
      // Held as its own bytes alone: a view into the diff it came in would keep the whole
      // diff alive, and a decoded op costs ~2 KB of heap (decoded again when woken).
      const bytes = p.w.wire
      p.w = new HeldOp(bytes.length < bytes.buffer.byteLength ? bytes.slice() : bytes)
      list.push(p)
      p.counted = true
      this.count++
      while (list.length > pendingQuota) {
        const old = list.shift()!
        if (!old.dead) { old.dead = true; this.count--; old.counted = false; evicted++ }
      }
      // And per author, in bytes, whichever peer forwarded them.
      const a = keyIdMapKey(p.w.authorId)
      let mine = this.byAuthor.get(a)
      if (mine === undefined) { mine = { list: [], bytes: 0 }; this.byAuthor.set(a, mine) }
      mine.list.push(p)
      mine.bytes += p.w.wire.length
      while (mine.bytes > MAX_PARKED_BYTES_PER_AUTHOR && mine.list.length > 0) {
        const old = mine.list.shift()!
        mine.bytes -= old.w.wire.length
        if (!old.dead) { this.release(old); evicted++ }
      }
    }
    this.compact()
    return evicted
  }

  private compact (): void {
    for (const [k, a] of this.byAuthor) {
      const live = a.list.filter(p => !p.dead)
      if (live.length === 0) this.byAuthor.delete(k)
      else if (live.length !== a.list.length) this.byAuthor.set(k, { list: live, bytes: live.reduce((n, p) => n + p.w.wire.length, 0) })
    }
    for (const [k, list] of this.bySource) {
      const live = list.filter(p => !p.dead)
      if (live.length === 0) this.bySource.delete(k)
      else this.bySource.set(k, live)
    }
    for (const [k, list] of this.parked) {
      const live = list.filter(p => !p.dead)
      if (live.length === 0) this.parked.delete(k)
      else this.parked.set(k, live)
    }
  }
}

/**
 * A parked op as its wire bytes, decoded when something reads more than its bytes and author
 * id (resolution, after a wake): ~300 bytes held per op instead of a decoded op's ~2 KB.
 */
export class HeldOp implements WireOp {
  constructor (readonly wire: Uint8Array) {}
  private get d (): WireOp { return decodeOp(this.wire) }
  get authorId (): Uint8Array { return this.wire.subarray(1, 9) }
  get kind (): WireOp['kind'] { return this.wire[0] as WireOp['kind'] }
  get author (): WireOp['author'] { return this.d.author }
  get seq (): number { return this.d.seq }
  get deps (): WireOp['deps'] { return this.d.deps }
  get payload (): WireOp['payload'] { return this.d.payload }
  get sig (): Uint8Array { return this.wire.subarray(this.wire.length - 64) }
  get body (): Uint8Array { return this.wire.subarray(0, this.wire.length - 64) }
}

/** A held op decoded for resolution. */
export function unheld (w: WireOp): WireOp { return w instanceof HeldOp ? decodeOp(w.wire) : w }
