/** IntTrie: a persistent int-keyed map; checked against a Map by seeded random operations. */
import { expect } from 'chai'
import { IntTrie } from '../../lib/util/int-trie.js'
import { withSeed } from '../helpers/seed.js'

describe('IntTrie', () => {
  it('gets, sets and merges as a copied Map would, and never changes a map it was made from', async function () {
    await withSeed(this, random => {
      const versions: Array<{ t: IntTrie<number>, m: Map<number, number> }> = [{ t: IntTrie.empty(), m: new Map() }]
      for (let step = 0; step < 3000; step++) {
        const from = versions[random.int(versions.length)]
        if (random.next() < 0.7) {
          const k = random.int(random.next() < 0.5 ? 20 : 5000)
          const v = random.int(1000)
          versions.push({ t: from.t.set(k, v), m: new Map(from.m).set(k, v) })
        } else {
          const other = versions[random.int(versions.length)]
          const m = new Map(from.m)
          for (const [k, v] of other.m) m.set(k, m.has(k) && m.get(k) !== v ? Math.max(m.get(k)!, v) : v)
          versions.push({ t: from.t.merge(other.t, (a, b) => Math.max(a, b)), m })
        }
      }
      for (const { t, m } of versions) {
        expect(new Map(t.entries())).to.deep.equal(m)
        for (const [k, v] of m) expect(t.get(k)).to.equal(v)
        expect(t.get(999_999)).to.equal(undefined)
      }
    })
  })

  it('shares what it does not change: a merge with itself or with a subset is the same map', () => {
    let a = IntTrie.empty<string>()
    for (let i = 0; i < 100; i++) a = a.set(i, `v${i}`)
    const b = a.set(7, 'changed')
    expect(a.merge(a, () => 'x')).to.equal(a)
    expect(a.merge(IntTrie.empty(), () => 'x')).to.equal(a)
    expect(IntTrie.empty<string>().merge(a, () => 'x')).to.equal(a)
    expect(b.merge(a, x => x).get(7)).to.equal('changed')
    expect(a.get(7)).to.equal('v7')
  })
})
