import { expect } from 'chai'
import { makeEpoch } from '../../lib/wire/header.js'
import { DEFAULT_MAX_SKEW_MS, EPOCH_MAX_AGE_MS, ReplayGuard, ReplayWindow, WINDOW_SIZE } from '../../lib/wire/replay.js'
import { withSeed } from '../helpers/seed.js'

const NOW = 1_700_000_000_000
const ep = (ms: number, r = 1): Uint8Array => makeEpoch(ms, new Uint8Array(8).fill(r))

describe('wire replay window', () => {
  it('accepts each counter once, in any order within the window', () => {
    const w = new ReplayWindow()
    for (const c of [5, 3, 4, 0, 100, 50]) expect(w.accept(c), `first ${c}`).to.equal(true)
    for (const c of [5, 3, 4, 0, 100, 50]) expect(w.accept(c), `again ${c}`).to.equal(false)
    expect(w.accept(1)).to.equal(true)
  })

  it('refuses counters that fell out of the window, keeps the ones inside', () => {
    const w = new ReplayWindow()
    expect(w.accept(10_000)).to.equal(true)
    expect(w.check(10_000 - WINDOW_SIZE)).to.equal(false)
    expect(w.accept(10_000 - WINDOW_SIZE + 1)).to.equal(true)
    expect(w.accept(10_000 - WINDOW_SIZE + 1)).to.equal(false)
    expect(w.accept(0)).to.equal(false)
  })

  it('matches a set-based model on random traffic (seeded)', async function () {
    await withSeed(this, (random) => {
      const w = new ReplayWindow()
      const seen = new Set<number>()
      let top = -1
      for (let i = 0; i < 50_000; i++) {
        const c = random.next() < 0.1 ? random.int(1_000_000) : Math.max(0, top + random.int(200) - 150)
        const want = !seen.has(c) && (c > top || top - c < WINDOW_SIZE)
        expect(w.accept(c), `counter ${c} (top ${top}) at step ${i}`).to.equal(want)
        if (want) { seen.add(c); top = Math.max(top, c) }
      }
    })
  })
})

describe('wire replay guard', () => {
  it('refuses replays and epochs older than the newest seen from the sender', () => {
    const g = new ReplayGuard()
    expect(g.commit('a', ep(NOW), 0, NOW)).to.equal('ok')
    expect(g.check('a', ep(NOW), 0, NOW)).to.equal('replay')
    expect(g.commit('a', ep(NOW + 1000), 0, NOW)).to.equal('ok')
    expect(g.check('a', ep(NOW), 1, NOW)).to.equal('stale-epoch')
    expect(g.check('a', ep(NOW + 1000, 0), 1, NOW)).to.equal('stale-epoch')
    expect(g.check('b', ep(NOW), 0, NOW), 'other senders are apart').to.equal('ok')
  })

  it('refuses epochs older than 180 s + skew, or further ahead than the skew, by the clock', () => {
    const g = new ReplayGuard()
    expect(g.check('a', ep(NOW - EPOCH_MAX_AGE_MS - DEFAULT_MAX_SKEW_MS), 0, NOW)).to.equal('ok')
    expect(g.check('a', ep(NOW - EPOCH_MAX_AGE_MS - DEFAULT_MAX_SKEW_MS - 1), 0, NOW)).to.equal('stale-epoch')
    expect(g.check('a', ep(NOW + DEFAULT_MAX_SKEW_MS), 0, NOW)).to.equal('ok')
    expect(g.check('a', ep(NOW + DEFAULT_MAX_SKEW_MS + 1), 0, NOW)).to.equal('stale-epoch')
  })

  it('stays within maxSenders, forgetting clock-stale senders first', () => {
    const g = new ReplayGuard({ maxSenders: 3 })
    g.commit('old', ep(NOW - 100_000), 0, NOW - 100_000)
    g.commit('b', ep(NOW), 0, NOW)
    g.commit('c', ep(NOW), 0, NOW)
    const later = NOW + 150_000
    g.commit('d', ep(later), 0, later)
    expect(g.size).to.equal(3)
    expect(g.check('b', ep(NOW), 0, later), 'b kept').to.equal('replay')
    g.commit('e', ep(later), 0, later)
    expect(g.size).to.equal(3)
  })
})
