/**
 * A persistent (immutable) map from small non-negative integers to values: an 8-ary trie with
 * path copying. `set` and `merge` return new maps that share every untouched node with their
 * inputs, so N maps each one entry apart cost O(N log n) nodes in all, not O(N × n) entries.
 *
 * Used for an op's causal past (membership/log.ts): each op's map of other chains' heads is
 * its prev's or a dep's with a few entries changed. With a copy per op, a member that chained
 * K keys made every replica hold K²/2 entries (issue 11, finding 1).
 *
 * Layout: a node is an array of BRANCH slots; at depth 0 (leaves) slots hold values, above
 * them child nodes. A map of depth d holds keys < BRANCH^(d+1).
 */
const BITS = 3
const BRANCH = 1 << BITS
const MASK = BRANCH - 1

type Slot<V> = V | Node<V> | undefined
interface Node<V> { readonly slots: ReadonlyArray<Slot<V>> }

export class IntTrie<V> {
  static empty<V> (): IntTrie<V> { return EMPTY as IntTrie<V> }

  private constructor (private readonly root: Node<V> | undefined, private readonly depth: number) {}

  get (key: number): V | undefined {
    if (this.root === undefined || key >= BRANCH ** (this.depth + 1)) return undefined
    let n: Node<V> | undefined = this.root
    for (let d = this.depth; d > 0 && n !== undefined; d--) n = n.slots[(key >>> (d * BITS)) & MASK] as Node<V> | undefined
    return n === undefined ? undefined : n.slots[key & MASK] as V | undefined
  }

  /** A map with `key` set to `value`. */
  set (key: number, value: V): IntTrie<V> {
    let root = this.root
    let depth = this.depth
    while (key >= BRANCH ** (depth + 1)) { root = root === undefined ? undefined : { slots: [root, ...new Array(BRANCH - 1).fill(undefined)] }; depth++ }
    return new IntTrie(setIn(root, depth, key, value), depth)
  }

  /**
   * A map with every key of both; where both hold a key, `combine(mine, theirs, key)`.
   * Subtrees the two share are not visited.
   */
  merge (other: IntTrie<V>, combine: (a: V, b: V, key: number) => V): IntTrie<V> {
    if (other === this || other.root === undefined) return this
    if (this.root === undefined) return other
    let a: IntTrie<V> = this
    let b = other
    // Bring both to one depth.
    while (a.depth < b.depth) a = a.deeper()
    while (b.depth < a.depth) b = b.deeper()
    const root = mergeIn(a.root, b.root, a.depth, 0, combine)
    return root === a.root ? a : root === b.root ? b : new IntTrie(root, a.depth)
  }

  * entries (): IterableIterator<[number, V]> {
    if (this.root !== undefined) yield * entriesIn(this.root, this.depth, 0)
  }

  private deeper (): IntTrie<V> {
    return new IntTrie(this.root === undefined ? undefined : { slots: [this.root, ...new Array(BRANCH - 1).fill(undefined)] }, this.depth + 1)
  }
}

const EMPTY = new (IntTrie as unknown as new (r: undefined, d: number) => IntTrie<unknown>)(undefined, 0)

function setIn<V> (n: Node<V> | undefined, depth: number, key: number, value: V): Node<V> {
  const slots = n === undefined ? new Array<Slot<V>>(BRANCH).fill(undefined) : [...n.slots]
  const i = (key >>> (depth * BITS)) & MASK
  slots[i] = depth === 0 ? value : setIn(slots[i] as Node<V> | undefined, depth - 1, key, value)
  return { slots }
}

function mergeIn<V> (a: Node<V> | undefined, b: Node<V> | undefined, depth: number, prefix: number, combine: (a: V, b: V, key: number) => V): Node<V> | undefined {
  if (a === b || b === undefined) return a
  if (a === undefined) return b
  let slots: Array<Slot<V>> | undefined
  for (let i = 0; i < BRANCH; i++) {
    const x = a.slots[i]
    const y = b.slots[i]
    let z: Slot<V>
    if (depth === 0) z = x === undefined ? y : y === undefined || x === y ? x : combine(x as V, y as V, prefix * BRANCH + i)
    else z = mergeIn(x as Node<V> | undefined, y as Node<V> | undefined, depth - 1, prefix * BRANCH + i, combine)
    if (z !== x) { slots ??= [...a.slots]; slots[i] = z }
  }
  if (slots === undefined) return a
  // All of b's: share b's node.
  if (slots.every((s, i) => s === b.slots[i])) return b
  return { slots }
}

function * entriesIn<V> (n: Node<V>, depth: number, prefix: number): IterableIterator<[number, V]> {
  for (let i = 0; i < BRANCH; i++) {
    const s = n.slots[i]
    if (s === undefined) continue
    if (depth === 0) yield [prefix * BRANCH + i, s as V]
    else yield * entriesIn(s as Node<V>, depth - 1, prefix * BRANCH + i)
  }
}
