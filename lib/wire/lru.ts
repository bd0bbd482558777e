/**
 * A bounded map that forgets the least recently used entry first (a `Map` keeps insertion
 * order, so a hit re-inserts its key at the end). Bounds every cache fed by the network.
 */
export class LruCache<V> {
  private readonly map = new Map<string, V>()
  constructor (readonly maxEntries: number) {}

  get size (): number { return this.map.size }

  get (key: string): V | undefined {
    const v = this.map.get(key)
    if (v !== undefined) { this.map.delete(key); this.map.set(key, v) }
    return v
  }

  set (key: string, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value as string)
  }

  delete (key: string): void { this.map.delete(key) }

  /** Deletes every entry whose key matches (a linear scan: for rare events like a revocation). */
  deleteWhere (match: (key: string) => boolean): void {
    for (const k of [...this.map.keys()]) if (match(k)) this.map.delete(k)
  }

  clear (): void { this.map.clear() }
}
