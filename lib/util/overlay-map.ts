/**
 * A Map over a shared, frozen base map: reads fall through to the base, writes and deletes
 * stay in this map's own overlay. Thousands of simulated nodes start from the very same
 * table (every member's node state, every peer they report); each then pays only for what
 * it changes. It behaves exactly as a `Map` that started as a copy of the base, iteration
 * order included (a key keeps its place when set again, and goes last when deleted and set
 * again), which the property test in test/util/overlay-map.spec.ts checks against a `Map`.
 *
 * The base must never change afterwards: nothing here would notice.
 */
export class OverlayMap<K, V> implements Map<K, V> {
  /** Entries set since the base: base keys' new values and keys the base lacks. */
  private readonly own = new Map<K, V>()
  /** Base keys deleted since (some of them set again: those are in `own`, in its order). */
  private readonly hidden = new Set<K>()
  private n: number

  constructor (private readonly base: ReadonlyMap<K, V> = new Map()) {
    this.n = base.size
  }

  get size (): number { return this.n }

  /** Nothing set or deleted since the base. */
  get pristine (): boolean { return this.own.size === 0 && this.hidden.size === 0 }

  get [Symbol.toStringTag] (): string { return 'OverlayMap' }

  has (k: K): boolean {
    return this.own.has(k) || (this.base.has(k) && !this.hidden.has(k))
  }

  get (k: K): V | undefined {
    const own = this.own
    const v = own.get(k)
    if (v !== undefined || (own.size > 0 && own.has(k))) return v
    return this.hidden.size > 0 && this.hidden.has(k) ? undefined : this.base.get(k)
  }

  set (k: K, v: V): this {
    if (!this.has(k)) this.n++
    this.own.set(k, v)
    return this
  }

  delete (k: K): boolean {
    if (!this.has(k)) return false
    this.own.delete(k)
    if (this.base.has(k)) this.hidden.add(k)
    this.n--
    return true
  }

  clear (): void {
    this.own.clear()
    for (const k of this.base.keys()) this.hidden.add(k)
    this.n = 0
  }

  * entries (): MapIterator<[K, V]> {
    const { base, own, hidden } = this
    for (const [k, v] of base) {
      if (hidden.has(k)) continue
      yield [k, own.has(k) ? own.get(k) as V : v]
    }
    for (const [k, v] of own) {
      // A base key set again in place was yielded at its base position.
      if (base.has(k) && !hidden.has(k)) continue
      yield [k, v]
    }
  }

  * keys (): MapIterator<K> { for (const [k] of this.entries()) yield k }

  * values (): MapIterator<V> { for (const [, v] of this.entries()) yield v }

  [Symbol.iterator] (): MapIterator<[K, V]> { return this.entries() }

  forEach (fn: (value: V, key: K, map: Map<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this)
  }
}
