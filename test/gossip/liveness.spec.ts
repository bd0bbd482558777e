import { expect } from 'chai'
import { ManualClock } from '../../lib/clock.js'
import {
  healthScaledMs, resolveGossipConfig, suspicionMaxTimeoutMs, suspicionTimeoutAfterMs, suspicionTimeoutMs, type GossipConfig
} from '../../lib/gossip/config.js'
import { Liveness, type LivenessBroadcast, type MemberLiveness, type PeerLivenessDetail } from '../../lib/gossip/liveness.js'
import { Key } from '../../lib/identity/key.js'
import { MAX_COUNTER } from '../../lib/membership/op.js'
import { SeededRandom, type Random } from '../../lib/random.js'
import { withSeed } from '../helpers/seed.js'

// The round-robin part alone: ring probes (every 2nd target) have their own test below.
const cfg = resolveGossipConfig('lan', { ringProbeEvery: 0 })
const fixed = new SeededRandom(5)
const keys = Array.from({ length: 12 }, () => Key.fromBytes(fixed.bytes(32)))
const [self, x, y, z, w] = keys

interface Fixture {
  clock: ManualClock
  live: Liveness
  events: Array<[string, PeerLivenessDetail]>
}

/** Ourselves plus `members` (x, y, z, w, … in that order), on a fresh clock. */
function setup (members: Key[] = [x, y, z, w], random: Random = new SeededRandom(1), config: GossipConfig = cfg): Fixture {
  const clock = new ManualClock()
  const live = new Liveness({ clock, random }, { self, config })
  const events: Array<[string, PeerLivenessDetail]> = []
  live.addEventListener('peer:reachable', e => events.push(['reachable', e.detail]))
  live.addEventListener('peer:unreachable', e => events.push(['unreachable', e.detail]))
  for (const k of members) live.addMember(k)
  return { clock, live, events }
}

/** Probes until `key` is the target (at most one pass) and fails the probe. */
function failProbeOf (live: Liveness, key: Key): LivenessBroadcast | undefined {
  for (let i = 0; i <= live.size; i++) {
    const t = live.probeTarget()
    if (t?.key.equals(key) === true) return live.onProbeFailed(key)
  }
  throw new Error('never picked as a probe target')
}

const b64 = (m: MemberLiveness | undefined): string | undefined => m?.key.toBase64()
const stateOf = (live: Liveness, k: Key): string | undefined => live.get(k)?.state

describe('gossip/liveness', () => {
  // With ourselves and 4 members, N = 5: min 4 000 + 2 hops × 200 = 4 400 ms, max 26 400 ms, K = 2.
  const N = 5
  const min = suspicionTimeoutMs(cfg, N)
  const max = suspicionMaxTimeoutMs(cfg, N)

  describe('probe order', () => {
    it('covers every live member exactly once per pass, never self or the dead', async function () {
      await withSeed(this, random => {
        const members = keys.slice(1)
        const { live } = setup(members, random)
        live.addMember(self) // refused: we never probe ourselves
        const names = (ks: Key[]): string[] => ks.map(k => k.toBase64()).sort()
        const passes: string[][] = []
        for (let p = 0; p < 4; p++) passes.push(Array.from({ length: members.length }, () => b64(live.probeTarget())!))
        for (const pass of passes) expect([...pass].sort()).to.deep.equal(names(members))
        expect(new Set(passes.map(p => p.join())).size, 'reshuffled each pass').to.be.greaterThan(1)

        // Four whole passes have been taken, so the next call starts a new one.
        live.onDead(x, 0)
        live.onDead(y, 0)
        const alive = names(members.slice(2))
        for (let p = 0; p < 3; p++) {
          const pass = Array.from({ length: alive.length }, () => b64(live.probeTarget())!)
          expect([...pass].sort()).to.deep.equal(alive)
        }
      })
    })

    it('starts each pass after a reshuffle, so a full pass is a permutation', async function () {
      await withSeed(this, random => {
        const members = keys.slice(1, 9)
        const { live } = setup(members, random)
        live.onDead(members[0], 0)
        // Dead members are skipped inside the pass: 7 live members, 7 probes per pass.
        for (let p = 0; p < 5; p++) {
          const pass = Array.from({ length: 7 }, () => b64(live.probeTarget())!)
          expect([...pass].sort()).to.deep.equal(members.slice(1).map(k => k.toBase64()).sort())
        }
      })
    })

    it('is deterministic: the same seed gives the same targets', () => {
      const run = (seed: number): string[] => {
        const { live } = setup(keys.slice(1), new SeededRandom(seed))
        return Array.from({ length: 50 }, () => b64(live.probeTarget())!)
      }
      expect(run(42)).to.deep.equal(run(42))
      expect(run(42)).to.not.deep.equal(run(43))
    })

    it('probes a member added mid-pass in that pass, and never a removed one', () => {
      const { live } = setup([x, y, z])
      live.probeTarget()
      live.addMember(w)
      const rest = [live.probeTarget(), live.probeTarget(), live.probeTarget()].map(b64)
      expect(rest).to.include(w.toBase64())
      expect(live.removeMember(y)).to.equal(true)
      expect(live.removeMember(y)).to.equal(false)
      for (let i = 0; i < 12; i++) expect(b64(live.probeTarget())).to.not.equal(y.toBase64())
    })

    it('has no target when nobody is alive', () => {
      const { live } = setup([x])
      expect(setup([]).live.probeTarget()).to.equal(undefined)
      live.onDead(x, 0)
      expect(live.probeTarget()).to.equal(undefined)
    })
  })

  describe('ring probes', () => {
    for (const shared of [false, true]) {
      it(`every ringProbeEvery-th target is our ring successor (next in wg key order, not dead); the rest still cover every member${shared ? ' (ring from useRing)' : ''}`, async function () {
        await withSeed(this, random => {
          const ringCfg = resolveGossipConfig('lan', { ringProbeEvery: 2 })
          const members = keys.slice(1)
          const { live } = setup(members, random, ringCfg)
          // wg key order is the base64 text's, as Replica.members() and `wg show` list keys.
          const sorted = [...members].sort((a, b) => (a.toBase64() < b.toBase64() ? -1 : 1))
          // As the engine passes it: the member index's list, ourselves included.
          if (shared) live.useRing([...members, self].sort((a, b) => (a.toBase64() < b.toBase64() ? -1 : 1)))
          const after = (k: Key): Key => sorted.find(m => m.toBase64() > k.toBase64()) ?? sorted[0]
          const targets = Array.from({ length: 4 * members.length }, () => live.probeTarget()!.key)
          for (let i = 1; i < targets.length; i += 2) expect(targets[i].toBase64(), `probe ${i}`).to.equal(after(self).toBase64())
          const others = targets.filter((_, i) => i % 2 === 0).slice(0, members.length).map(k => k.toBase64()).sort()
          expect(others).to.deep.equal(members.map(k => k.toBase64()).sort())
          // The successor dies: the next one in key order takes its place.
          const succ = after(self)
          live.onDead(succ, 0, x.equals(succ) ? y : x)
          const next = Array.from({ length: 4 }, () => live.probeTarget()!.key).filter((_, i) => i % 2 === 1)
          for (const k of next) expect(k.toBase64()).to.equal(after(succ).toBase64())
        })
      })
    }
  })

  describe('suspicion', () => {
    it('a missed probe makes a suspect, dead after the max timeout', () => {
      const { clock, live, events } = setup()
      const t0 = clock.now()
      expect(failProbeOf(live, x)).to.deep.equal({ type: 'suspect', key: x, incarnation: 0, from: self })
      expect(live.get(x)).to.deep.include({ state: 'suspect', incarnation: 0, stateChangeMs: t0 })
      expect(max).to.equal(26_400)
      clock.advance(max - 1)
      expect(stateOf(live, x)).to.equal('suspect')
      expect(events).to.deep.equal([])
      clock.advance(1)
      expect(stateOf(live, x)).to.equal('dead')
      expect(events.map(([n, m]) => [n, m.key.toBase64(), m.state, m.cause])).to.deep.equal([['unreachable', x.toBase64(), 'dead', 'suspicion-timeout']])
      expect(live.get(x)!.stateChangeMs).to.equal(t0 + max)
      expect(clock.pending).to.equal(0)
    })

    for (const k of [1, 2, 3]) {
      it(`${k} confirmation(s) from other nodes shorten the timeout to suspicionTimeoutAfterMs(N, ${k})`, () => {
        const { clock, live } = setup()
        const t0 = clock.now()
        failProbeOf(live, x)
        clock.advance(1000)
        const confirmers = [y, z, w]
        const news = confirmers.slice(0, k).map(from => live.onSuspect(x, 0, from))
        // K = 2: a third confirmation is not news and changes nothing.
        expect(news.map(b => b !== undefined)).to.deep.equal([true, true, false].slice(0, k))
        expect(live.onSuspect(x, 0, y), 'the same node twice').to.equal(undefined)
        expect(live.onSuspect(x, 0, self), 'our own failed probe started it').to.equal(undefined)
        const due = suspicionTimeoutAfterMs(cfg, N, k)
        expect(due).to.equal(k === 1 ? 12_519 : min)
        clock.advance(t0 + due - 1 - clock.now())
        expect(stateOf(live, x)).to.equal('suspect')
        clock.advance(1)
        expect(stateOf(live, x)).to.equal('dead')
      })
    }

    it('adopts a suspicion raised by another node; our failed probe then confirms it', () => {
      const { clock, live } = setup()
      expect(live.onSuspect(x, 0, y)).to.deep.equal({ type: 'suspect', key: x, incarnation: 0, from: y })
      expect(failProbeOf(live, x)).to.deep.equal({ type: 'suspect', key: x, incarnation: 0, from: self })
      clock.advance(suspicionTimeoutAfterMs(cfg, N, 1))
      expect(stateOf(live, x)).to.equal('dead')
    })

    it('a dead message kills at once; a stale one is ignored', () => {
      const { clock, live, events } = setup()
      live.onAlive(x, 3)
      expect(live.onDead(x, 2, y)).to.equal(undefined)
      failProbeOf(live, x)
      expect(live.onDead(x, 3, y)).to.deep.equal({ type: 'dead', key: x, incarnation: 3, from: y })
      expect(live.onDead(x, 4, z), 'already dead').to.equal(undefined)
      expect(events.map(([n, m]) => [n, m.cause, m.incarnation])).to.deep.equal([['unreachable', 'claim', 3]])
      expect(clock.pending).to.equal(0)
    })

    it('ignores claims about members the view does not have', () => {
      const stranger = keys[11]
      const { clock, live } = setup()
      expect(live.onSuspect(stranger, 9, y)).to.equal(undefined)
      expect(live.onDead(stranger, 9)).to.equal(undefined)
      expect(live.onAlive(stranger, 9)).to.equal(undefined)
      expect(live.onAnyPacket(stranger)).to.equal(false)
      expect(live.onProbeFailed(stranger)).to.equal(undefined)
      expect(live.get(stranger)).to.equal(undefined)
      expect(clock.pending).to.equal(0)
    })

    it('ignores incarnations outside [0, MAX_COUNTER]', () => {
      const { clock, live } = setup()
      for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_COUNTER + 1]) {
        expect(live.onSuspect(x, bad, y), String(bad)).to.equal(undefined)
        expect(live.onDead(x, bad, y), String(bad)).to.equal(undefined)
        expect(live.onAlive(x, bad), String(bad)).to.equal(undefined)
        expect(live.onSuspect(self, bad, y), String(bad)).to.equal(undefined)
      }
      expect(live.get(x)).to.deep.include({ state: 'alive', incarnation: 0 })
      expect(live.onSuspect(self, MAX_COUNTER, y), 'cannot be refuted').to.equal(undefined)
      expect(live.incarnation).to.equal(0)
      expect(clock.pending).to.equal(0)
      expect(() => new Liveness({ clock, random: new SeededRandom(1) }, { self, config: cfg, incarnation: -1 })).to.throw(RangeError)
    })
  })

  describe('refutation', () => {
    it('a suspicion or death about ourselves bumps our incarnation and asks to broadcast alive', () => {
      const { live } = setup()
      expect(live.incarnation).to.equal(0)
      expect(live.onSuspect(self, 0, x)).to.deep.equal({ type: 'alive', key: self, incarnation: 1, from: self })
      expect(live.health, 'refuting raises the health score').to.equal(1)
      expect(live.onDead(self, 5, y)).to.deep.equal({ type: 'alive', key: self, incarnation: 6, from: self })
      expect(live.onSuspect(self, 5, z), 'older than ours: stale').to.equal(undefined)
      expect(live.onAlive(self, 6), 'our own alive coming back').to.equal(undefined)
      expect(live.onAlive(self, 9)).to.deep.equal({ type: 'alive', key: self, incarnation: 10, from: self })
      expect(live.get(self)).to.equal(undefined)
    })

    it('an alive with a higher incarnation clears a suspicion; equal or lower is ignored', () => {
      const { clock, live, events } = setup()
      live.onSuspect(x, 3, y)
      expect(live.onAlive(x, 3), 'equal').to.equal(undefined)
      expect(live.onAlive(x, 2), 'lower').to.equal(undefined)
      expect(stateOf(live, x)).to.equal('suspect')
      expect(live.onSuspect(x, 2, z), 'a suspicion older than what we hold').to.equal(undefined)
      clock.advance(1000)
      expect(live.onAlive(x, 4)).to.deep.equal({ type: 'alive', key: x, incarnation: 4, from: x })
      expect(live.get(x)).to.deep.include({ state: 'alive', incarnation: 4, stateChangeMs: clock.now() })
      expect(clock.pending).to.equal(0)
      clock.advance(10 * max)
      expect(stateOf(live, x)).to.equal('alive')
      expect(live.onSuspect(x, 3, z), 'the refuted suspicion, late').to.equal(undefined)
      expect(events).to.deep.equal([])
    })

    it('a dead member comes back with a higher incarnation', () => {
      const { live, events } = setup()
      live.onDead(x, 1)
      expect(live.onAlive(x, 1)).to.equal(undefined)
      expect(stateOf(live, x)).to.equal('dead')
      live.onAlive(x, 2)
      expect(stateOf(live, x)).to.equal('alive')
      expect(events.map(([n, m]) => [n, m.incarnation])).to.deep.equal([['unreachable', 1], ['reachable', 2]])
    })
  })

  describe('acks and packets', () => {
    it('an ack or any packet in the current period answers the probe', () => {
      const { live } = setup()
      let t = live.probeTarget()!
      expect(live.onAck(t.key)).to.equal(true)
      expect(live.onProbeFailed(t.key), 'already acked').to.equal(undefined)
      t = live.probeTarget()!
      const other = [x, y, z, w].find(k => !k.equals(t.key))!
      expect(live.onAnyPacket(other), 'not the target').to.equal(false)
      expect(live.onAnyPacket(t.key)).to.equal(true)
      expect(live.onAnyPacket(t.key), 'once per period').to.equal(false)
      expect(live.onProbeFailed(t.key)).to.equal(undefined)
      expect(live.onProbeFailed(other), 'not the target').to.equal(undefined)
      expect(live.members().every(m => m.state === 'alive')).to.equal(true)
    })

    it('a member that keeps sending packets is never declared dead; a silent one is', () => {
      const { clock, live, events } = setup()
      // The probe loop, as the engine runs it; x talks every 250 ms, z and w answer probes, y is silent.
      for (let period = 0; period < 200; period++) {
        const t = live.probeTarget()
        for (let q = 0; q < 4; q++) { clock.advance(250); live.onAnyPacket(x) }
        if (t === undefined) continue
        if (t.key.equals(z) || t.key.equals(w)) live.onAck(t.key)
        else live.onProbeFailed(t.key)
      }
      expect(live.members().map(m => m.state)).to.deep.equal(['alive', 'dead', 'alive', 'alive']) // x, y, z, w
      expect(events.map(([n, m]) => [n, m.key.toBase64()])).to.deep.equal([['unreachable', y.toBase64()]])
    })

    it('a suspect that keeps talking to us outlives its suspicion until it refutes', () => {
      const { clock, live } = setup()
      live.onSuspect(x, 0, y)
      live.onSuspect(x, 0, z) // K reached: 4 000 ms from now
      live.onSuspect(w, 0, y)
      live.onSuspect(w, 0, z)
      for (let i = 0; i < 20; i++) { clock.advance(max / 4); live.onAnyPacket(x) }
      expect(stateOf(live, x)).to.equal('suspect')
      expect(stateOf(live, w)).to.equal('dead')
      live.onAlive(x, 1)
      expect(stateOf(live, x)).to.equal('alive')
      expect(clock.pending).to.equal(0)
    })
  })

  describe('awareness', () => {
    it('scales the probe timeout and interval by health', () => {
      const { live } = setup()
      expect([live.probeTimeoutMs(), live.probeIntervalMs()]).to.deep.equal([500, 1000])
      // A failed probe: 3 peers asked to probe indirectly, 1 nack back → +2.
      let t = live.probeTarget()!
      live.onProbeFailed(t.key, { expected: 3, received: 1 })
      expect(live.health).to.equal(2)
      expect(live.probeTimeoutMs()).to.equal(healthScaledMs(cfg, cfg.probeTimeoutMs, 2)).and.to.equal(1500)
      expect(live.probeIntervalMs()).to.equal(3000)
      // Every nack back: the peers hear the target's silence too, so we are not to blame.
      t = live.probeTarget()!
      live.onProbeFailed(t.key, { expected: 3, received: 3 })
      expect(live.health).to.equal(2)
      // No indirect probes: +1. A success: −1.
      t = live.probeTarget()!
      live.onProbeFailed(t.key)
      expect(live.health).to.equal(3)
      t = live.probeTarget()!
      live.onAck(t.key)
      expect(live.health).to.equal(2)
    })

    it('caps at awarenessMaxMultiplier − 1', () => {
      const { live } = setup()
      for (let i = 0; i < 10; i++) live.onSuspect(self, live.incarnation, x)
      expect(live.health).to.equal(cfg.awarenessMaxMultiplier - 1)
      expect(live.probeTimeoutMs()).to.equal(cfg.probeTimeoutMs * cfg.awarenessMaxMultiplier)
      const off = setup([x], new SeededRandom(1), resolveGossipConfig('lan', { awarenessMaxMultiplier: 1 })).live
      off.onSuspect(self, 0, x)
      expect(off.probeTimeoutMs()).to.equal(cfg.probeTimeoutMs)
    })
  })

  describe('stop', () => {
    it('cancels every timer: advancing afterwards fires nothing', () => {
      const { clock, live, events } = setup()
      failProbeOf(live, x)
      live.onSuspect(y, 0, z)
      live.onSuspect(z, 0, w)
      expect(clock.pending).to.equal(3)
      live.stop()
      live.stop()
      expect(clock.pending).to.equal(0)
      clock.advance(100 * max)
      expect(events).to.deep.equal([])
      // Claims are still judged, but no new timer is started.
      live.onSuspect(w, 0, x)
      expect(stateOf(live, w)).to.equal('suspect')
      expect(clock.pending).to.equal(0)
    })

    it('removing a member cancels its suspicion timer', () => {
      const { clock, live, events } = setup()
      live.onSuspect(x, 0, y)
      expect(clock.pending).to.equal(1)
      live.removeMember(x)
      expect(clock.pending).to.equal(0)
      clock.advance(max)
      expect(events).to.deep.equal([])
    })
  })

  it('a cluster with lost acks detects a dead node and keeps the live ones alive (seeded, converges)', async function () {
    await withSeed(this, random => {
      const clock = new ManualClock()
      const n = 8
      const ks = keys.slice(0, n)
      const nodes = ks.map(k => new Liveness({ clock, random: new SeededRandom(random.int(2 ** 32)) }, { self: k, config: cfg }))
      nodes.forEach(node => ks.forEach(k => node.addMember(k)))
      const down = 1 + random.int(n - 1)
      const up = (i: number): boolean => i !== down
      const queue: LivenessBroadcast[] = []
      nodes.forEach(node => node.addEventListener('peer:unreachable', e => e.detail.cause === 'suspicion-timeout' && queue.push({ type: 'dead', key: e.detail.key, incarnation: e.detail.incarnation, from: ks[nodes.indexOf(node)] })))
      const deliver = (b: LivenessBroadcast): void => {
        nodes.forEach((node, j) => {
          if (!up(j)) return
          const out = b.type === 'alive' ? node.onAlive(b.key, b.incarnation) : b.type === 'suspect' ? node.onSuspect(b.key, b.incarnation, b.from) : node.onDead(b.key, b.incarnation, b.from)
          if (out !== undefined) queue.push(out)
        })
      }
      const drain = (): void => { for (let b = queue.shift(); b !== undefined; b = queue.shift()) deliver(b) }
      for (let round = 0; round < 120; round++) {
        nodes.forEach((node, i) => {
          if (!up(i)) return
          const t = node.probeTarget()
          if (t === undefined) return
          const j = ks.findIndex(k => k.equals(t.key))
          const lost = round < 80 && random.next() < 0.15 // then 40 clean rounds to settle
          if (up(j) && !lost) {
            // Buddy system: a suspect target hears of it on the ping and refutes.
            if (t.state === 'suspect') { const r = nodes[j].onSuspect(t.key, t.incarnation, ks[i]); if (r !== undefined) queue.push(r) }
            node.onAck(t.key)
          } else {
            const b = node.onProbeFailed(t.key)
            if (b !== undefined) queue.push(b)
          }
        })
        drain()
        clock.advance(cfg.probeIntervalMs)
        drain()
      }
      expect(nodes.some((node, i) => up(i) && node.incarnation > 0), 'lost acks caused suspicions that were refuted').to.equal(true)
      nodes.forEach((node, i) => {
        if (!up(i)) return
        for (const m of node.members()) {
          const j = ks.findIndex(k => k.equals(m.key))
          expect(m.state, `node ${i} on node ${j}`).to.equal(up(j) ? 'alive' : 'dead')
        }
      })
    })
  })
})

describe('Liveness.addMembers', () => {
  it('gives the probe order and random draws of one addMember per key, whatever was there before', async function () {
    await withSeed(this, random => {
      for (let round = 0; round < 50; round++) {
        const seed = random.int(2 ** 32)
        const pool = Array.from({ length: 1 + random.int(40) }, () => Key.fromBytes(random.bytes(32)))
        const before = pool.slice(0, random.int(pool.length))
        const later = pool.slice(before.length)
        // Duplicates, ourselves and a bad incarnation are skipped by both.
        const batch: Array<[Key, number]> = later.map(k => [k, random.int(3)])
        if (before.length > 0) batch.push([before[0], 0])
        batch.push([self, 0], [Key.fromBytes(random.bytes(32)), -1])
        const probes = random.int(before.length + 2)
        const run = (bulk: boolean): string[] => {
          const live = new Liveness({ clock: new ManualClock(), random: new SeededRandom(seed) }, { self, config: cfg })
          for (const k of before) live.addMember(k)
          const seen: string[] = []
          for (let i = 0; i < probes; i++) seen.push(live.probeTarget()?.key.toBase64() ?? '-')
          if (bulk) live.addMembers(batch)
          else for (const [k, inc] of batch) live.addMember(k, inc)
          for (let i = 0; i < 2 * pool.length + 2; i++) seen.push(live.probeTarget()?.key.toBase64() ?? '-')
          seen.push(JSON.stringify(live.members().map(m => [m.key.toBase64(), m.incarnation])))
          return seen
        }
        expect(run(true), `round ${round}`).to.deep.equal(run(false))
      }
    })
  })
})
