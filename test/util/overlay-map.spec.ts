/** OverlayMap must be indistinguishable from a Map that started as a copy of its base. Seeded (prop.ts). */
import { expect } from 'chai'
import fc from 'fast-check'
import { OverlayMap } from '../../lib/util/overlay-map.js'
import { check } from '../helpers/prop.js'

type Step = { op: 'set', k: number, v: number } | { op: 'delete', k: number } | { op: 'clear' }

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), k: fc.integer({ min: 0, max: 12 }), v: fc.integer() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('delete' as const), k: fc.integer({ min: 0, max: 12 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) }
)

describe('OverlayMap', () => {
  it('behaves as a Map copied from its base: values, size, has and iteration order after any steps', async function () {
    await check(this, fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 12 }), fc.integer())), fc.array(step, { maxLength: 40 }), (baseEntries, steps) => {
      const base = new Map(baseEntries)
      const o = new OverlayMap(base)
      const m = new Map(base)
      const frozen = [...base]
      for (const s of steps) {
        if (s.op === 'set') { expect(o.set(s.k, s.v)).to.equal(o); m.set(s.k, s.v) } else if (s.op === 'delete') expect(o.delete(s.k)).to.equal(m.delete(s.k))
        else { o.clear(); m.clear() }
        expect(o.size).to.equal(m.size)
        expect([...o]).to.deep.equal([...m])
        if (o.pristine) expect([...o], 'pristine: the base itself').to.deep.equal(frozen)
      }
      for (let k = 0; k <= 12; k++) {
        expect(o.has(k)).to.equal(m.has(k))
        expect(o.get(k)).to.equal(m.get(k))
      }
      expect([...o.keys()]).to.deep.equal([...m.keys()])
      expect([...o.values()]).to.deep.equal([...m.values()])
      const seen: Array<[number, number]> = []
      o.forEach((v, k) => { seen.push([k, v]) })
      expect(seen).to.deep.equal([...m])
      expect([...base], 'the base is never written').to.deep.equal(frozen)
    }))
  })

  it('keeps an undefined value set over a base value', () => {
    const o = new OverlayMap<string, number | undefined>(new Map([['a', 1]]))
    o.set('a', undefined)
    expect(o.has('a')).to.equal(true)
    expect(o.get('a')).to.equal(undefined)
    expect([...o]).to.deep.equal([['a', undefined]])
  })
})
