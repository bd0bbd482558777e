import { hkdfSync } from 'node:crypto'
import { expect } from 'chai'
import { ManualClock, type Clock } from '../../lib/clock.js'
import { generateIdentity, type NodeIdentity } from '../../lib/identity/identity.js'
import { Key, keyIdMapKey } from '../../lib/identity/key.js'
import { SeededRandom } from '../../lib/random.js'
import { compareBytes } from '../../lib/util/bytes.js'
import { Encoder } from '../../lib/util/encoding.js'
import { appendMac1, mac1Key } from '../../lib/wire/cookie.js'
import { headerLength, makeEpoch, MessageType, writeHeader } from '../../lib/wire/header.js'
import {
  PairSecretCache, isDropped, maxPayloadBytes, Sealer, TAG_BYTES, type KeyLookup, type OpenResult
} from '../../lib/wire/seal.js'
import { NullSealer } from '../../lib/wire/null-sealer.js'
import { expectCode } from '../helpers/expect-code.js'

const ORG = new Uint8Array(16).map((_, i) => i + 1)

function lookupOf (...ids: NodeIdentity[]): KeyLookup {
  const m = new Map(ids.map(i => [i.wgPublicKey.idMapKey, i.wgPublicKey]))
  return id => m.get(keyIdMapKey(id))
}

function opened (r: OpenResult): { sender: Key, type: number, payload: Uint8Array } {
  if (isDropped(r)) throw new Error(`dropped: ${r.drop}`)
  return r
}

describe('wire seal', function () {
  this.timeout(60_000)
  let a: NodeIdentity
  let b: NodeIdentity
  let c: NodeIdentity
  let clock: ManualClock
  let A: Sealer
  let B: Sealer
  const payload = new Uint8Array(200).map((_, i) => i * 3)

  before(async () => {
    a = await generateIdentity()
    b = await generateIdentity()
    c = await generateIdentity()
  })

  beforeEach(() => {
    clock = new ManualClock()
    A = new Sealer({ identity: a, orgId: ORG, clock, random: new SeededRandom(1) })
    B = new Sealer({ identity: b, orgId: ORG, clock, random: new SeededRandom(2) })
  })

  it('round-trips both directions; overhead is header + 16-byte tag', () => {
    const p = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    expect(p.length).to.equal(payload.length + 29 + TAG_BYTES)
    const r = opened(B.open(p, lookupOf(a)))
    expect(r.sender.equals(a.wgPublicKey)).to.equal(true)
    expect(r.type).to.equal(MessageType.gossip)
    expect([...r.payload]).to.deep.equal([...payload])
    const q = B.seal(a.wgPublicKey, MessageType.ack, new Uint8Array(0))
    const s = opened(A.open(q, lookupOf(b)))
    expect(s.sender.equals(b.wgPublicKey)).to.equal(true)
    expect(s.payload.length).to.equal(0)
    for (let i = 0; i < 300; i++) opened(B.open(A.seal(b.wgPublicKey, MessageType.ping, payload), lookupOf(a)))
    expect(A.seal(b.wgPublicKey, MessageType.ping, payload).length).to.equal(payload.length + headerLength(MessageType.ping, 301) + TAG_BYTES)
  })

  it('uses one key per direction: a packet cannot be reflected to its sender', () => {
    const p = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    expect(A.open(p, lookupOf(a)).valueOf()).to.deep.equal({ drop: 'bad-tag' })
  })

  it('refuses a packet sealed to another receiver, or in another org', () => {
    const C = new Sealer({ identity: c, orgId: ORG, clock, random: new SeededRandom(3) })
    expect(C.open(A.seal(b.wgPublicKey, MessageType.gossip, payload), lookupOf(a))).to.deep.equal({ drop: 'bad-tag' })
    const otherOrg = new Sealer({ identity: b, orgId: new Uint8Array(16), clock, random: new SeededRandom(4) })
    expect(otherOrg.open(A.seal(b.wgPublicKey, MessageType.gossip, payload), lookupOf(a))).to.deep.equal({ drop: 'bad-tag' })
  })

  it('drops a tampered byte anywhere, with the reason of the part it hit', () => {
    const base = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    const allowed = (i: number): string[] => {
      if (i < 3) return ['malformed'] // magic, version
      if (i === 3) return ['malformed', 'bad-tag'] // type: unknown, or another type (AAD differs)
      if (i < 12) return ['unknown-sender'] // key id
      if (i < 20) return ['stale-epoch', 'bad-tag'] // epoch clock: far off, or a key that differs
      if (i < 28) return ['bad-tag'] // epoch random half: another key
      if (i === 28) return ['malformed', 'bad-tag'] // counter: a continuation bit makes it longer
      return ['bad-tag'] // ciphertext and tag
    }
    for (let i = 0; i < base.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const p = base.slice()
        p[i] ^= mask
        const r = B.open(p, lookupOf(a))
        expect(isDropped(r), `byte ${i} ^ ${mask} accepted`).to.equal(true)
        expect(allowed(i), `byte ${i} ^ ${mask}`).to.include((r as { drop: string }).drop)
      }
    }
    // Truncated or extended packets.
    for (let n = 0; n < base.length; n++) expect(isDropped(B.open(base.subarray(0, n), lookupOf(a))), `truncated to ${n}`).to.equal(true)
    expect(B.open(Uint8Array.from([...base, 0]), lookupOf(a))).to.deep.equal({ drop: 'bad-tag' })
    opened(B.open(base, lookupOf(a)))
  })

  it('drops a replayed packet', () => {
    const p = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    opened(B.open(p, lookupOf(a)))
    expect(B.open(p, lookupOf(a))).to.deep.equal({ drop: 'replay' })
    expect(B.drops.replay).to.equal(1)
  })

  it('accepts reordering inside the window, drops an old counter outside it', () => {
    const first = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    const mid = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    let last = mid
    for (let i = 0; i < 3000; i++) last = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    const recent = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    opened(B.open(last, lookupOf(a)))
    expect(B.open(first, lookupOf(a))).to.deep.equal({ drop: 'replay' })
    expect(B.open(mid, lookupOf(a))).to.deep.equal({ drop: 'replay' })
    opened(B.open(recent, lookupOf(a)))
  })

  it('starts a new epoch every 120 s; the receiver then refuses the old one', () => {
    const e1 = A.epoch.slice()
    const old = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    const oldLate = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    opened(B.open(old, lookupOf(a)))
    clock.advance(119_999)
    expect([...A.epoch]).to.deep.equal([...e1])
    clock.advance(1)
    expect([...A.epoch]).to.not.deep.equal([...e1])
    const fresh = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    const r = opened(B.open(fresh, lookupOf(a))) as unknown as { counter: number }
    expect(r.counter, 'counter restarts at 0').to.equal(0)
    expect(B.open(oldLate, lookupOf(a))).to.deep.equal({ drop: 'stale-epoch' })
  })

  it('refuses an epoch older than 180 s + skew even from a sender it never saw', () => {
    const p = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    clock.advance(210_001)
    expect(B.open(p, lookupOf(a))).to.deep.equal({ drop: 'stale-epoch' })
  })

  it('refuses a restarted sender whose clock is behind its last epoch', () => {
    opened(B.open(A.seal(b.wgPublicKey, MessageType.gossip, payload), lookupOf(a)))
    const back = new ManualClock(1_700_000_000_000 - 500_000)
    const A2 = new Sealer({ identity: a, orgId: ORG, clock: back, random: new SeededRandom(5) })
    // A restarted node whose clock is behind: its epochs are older, so they are refused.
    expect(B.open(A2.seal(b.wgPublicKey, MessageType.gossip, payload), lookupOf(a))).to.deep.equal({ drop: 'stale-epoch' })
  })

  it('epochs move forward across a full send-state table after a clock step back (#11)', async () => {
    const d = await generateIdentity()
    // A's clock alone steps back; the receivers' clocks stay put.
    let offsetMs = 0
    const stepped: Clock = { now: () => clock.now() + offsetMs, monotonic: () => clock.monotonic() + offsetMs, schedule: (fn, ms) => clock.schedule(fn, ms), cancel: h => clock.cancel(h) }
    const A2 = new Sealer({ identity: a, orgId: ORG, clock: stepped, random: new SeededRandom(9) }, { keyCacheSize: 2 })
    opened(B.open(A2.seal(b.wgPublicKey, MessageType.gossip, payload), lookupOf(a)))
    offsetMs = -10_000 // less than the 120 s rotation, well within the receivers' skew
    opened(B.open(A2.seal(b.wgPublicKey, MessageType.gossip, payload), lookupOf(a)))
    const before = A2.epoch.slice()
    A2.seal(c.wgPublicKey, MessageType.gossip, payload)
    A2.seal(d.wgPublicKey, MessageType.gossip, payload) // the table (2) is full: a new epoch
    const r = B.open(A2.seal(b.wgPublicKey, MessageType.gossip, payload), lookupOf(a))
    expect(isDropped(r) ? r.drop : 'ok').to.equal('ok')
    expect(B.drops['stale-epoch']).to.equal(0)
    const e3 = A2.epoch.slice()
    expect(compareBytes(e3, before), 'the overflow epoch is later than the last one').to.be.above(0)
    // Each further overflow moves forward too, even within one millisecond.
    let last = e3
    for (let i = 0; i < 5; i++) {
      A2.seal(c.wgPublicKey, MessageType.gossip, payload)
      A2.seal(d.wgPublicKey, MessageType.gossip, payload)
      const p = A2.seal(b.wgPublicKey, MessageType.gossip, payload)
      expect(compareBytes(A2.epoch, last)).to.be.above(0)
      last = A2.epoch.slice()
      opened(B.open(p, lookupOf(a)))
    }
  })

  it('after a clock step back longer than an epoch, rotates once, not at every packet', () => {
    let offsetMs = 0
    const stepped: Clock = { now: () => clock.now() + offsetMs, monotonic: () => clock.monotonic() + offsetMs, schedule: (fn, ms) => clock.schedule(fn, ms), cancel: h => clock.cancel(h) }
    const A2 = new Sealer({ identity: a, orgId: ORG, clock: stepped, random: new SeededRandom(9) })
    const e1 = A2.epoch.slice()
    offsetMs = -200_000
    const p1 = opened(B.open(A2.seal(b.wgPublicKey, MessageType.gossip, payload), lookupOf(a))) as unknown as { epoch: Uint8Array, counter: number }
    const p2 = opened(B.open(A2.seal(b.wgPublicKey, MessageType.gossip, payload), lookupOf(a))) as unknown as { epoch: Uint8Array, counter: number }
    expect(compareBytes(p1.epoch, e1)).to.be.above(0)
    expect([...p2.epoch]).to.deep.equal([...p1.epoch])
    expect([p1.counter, p2.counter]).to.deep.equal([0, 1])
    // The epoch still ends 120 s later by the sender's clock.
    clock.advance(120_000)
    expect(compareBytes(A2.epoch, p1.epoch)).to.be.above(0)
  })

  it('forget: drops receive state for a revoked peer, never reuses a send nonce', () => {
    const p1 = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    opened(B.open(p1, lookupOf(a)))
    B.forget(a.wgPublicKey)
    expect(B.replay.size).to.equal(0)
    expect(B.open(A.seal(b.wgPublicKey, MessageType.gossip, payload), () => undefined)).to.deep.equal({ drop: 'unknown-sender' })
    A.forget(b.wgPublicKey)
    const r = opened(B.open(A.seal(b.wgPublicKey, MessageType.gossip, payload), lookupOf(a))) as unknown as { counter: number }
    expect(r.counter, 'the send counter did not restart').to.equal(2)
  })

  it('drops packets from unknown (or revoked) senders', () => {
    const p = A.seal(b.wgPublicKey, MessageType.gossip, payload)
    expect(B.open(p, lookupOf(c))).to.deep.equal({ drop: 'unknown-sender' })
    expect(B.open(p, () => undefined)).to.deep.equal({ drop: 'unknown-sender' })
    expect(B.drops['unknown-sender']).to.equal(2)
  })

  it('JOIN: carries the full key, needs no lookup, is checked by mac1 first', () => {
    const j = A.seal(b.wgPublicKey, MessageType.join, payload)
    expect(j.length).to.equal(payload.length + 53 + TAG_BYTES + 16)
    const bad = j.slice()
    bad[bad.length - 1] ^= 1
    expect(B.open(bad, () => undefined)).to.deep.equal({ drop: 'bad-mac1' })
    const r = opened(B.open(j, () => undefined))
    expect(r.sender.equals(a.wgPublicKey)).to.equal(true)
    expect(r.type).to.equal(MessageType.join)
    // Another receiver fails it at mac1, before any X25519.
    const C = new Sealer({ identity: c, orgId: ORG, clock, random: new SeededRandom(3) })
    expect(C.open(j, () => undefined)).to.deep.equal({ drop: 'bad-mac1' })
    // The cookie reply goes back sealed to the joiner's full key.
    opened(A.open(B.seal(a.wgPublicKey, MessageType.cookie, new Uint8Array(16)), lookupOf(b)))
  })

  it('drops a low-order sender key, and refuses to seal to one', () => {
    const zero = new Uint8Array(32)
    const enc = new Encoder()
    writeHeader(enc, { type: MessageType.join, sender: zero, epoch: makeEpoch(clock.now(), new Uint8Array(8)), counter: 0 })
    const body = Uint8Array.from([...enc.finish(), ...new Uint8Array(40)])
    const join = appendMac1(mac1Key(b.wgPublicKey), body)
    expect(B.open(join, () => undefined)).to.deep.equal({ drop: 'low-order-key' })
    // A member whose registered key is low-order (not possible through enroll, but checked).
    const enc2 = new Encoder()
    writeHeader(enc2, { type: MessageType.ping, sender: zero.subarray(0, 8), epoch: makeEpoch(clock.now(), new Uint8Array(8)), counter: 0 })
    const ping = Uint8Array.from([...enc2.finish(), ...new Uint8Array(40)])
    expect(B.open(ping, () => Key.fromBytes(zero))).to.deep.equal({ drop: 'low-order-key' })
    expectCode(() => A.seal(Key.fromBytes(zero), MessageType.ping, payload), 'WIREMESH_ERR_SEAL')
  })

  it('refuses to seal a payload over the 1400-byte packet budget', () => {
    const max = maxPayloadBytes(MessageType.gossip)
    expect(A.seal(b.wgPublicKey, MessageType.gossip, new Uint8Array(max)).length).to.be.at.most(1400)
    expectCode(() => A.seal(b.wgPublicKey, MessageType.gossip, new Uint8Array(max + 1)), 'WIREMESH_ERR_SEAL')
    const maxJoin = maxPayloadBytes(MessageType.join)
    expect(A.seal(b.wgPublicKey, MessageType.join, new Uint8Array(maxJoin)).length).to.be.at.most(1400)
  })

  it('refuses a bad orgId or epoch length', () => {
    expectCode(() => new Sealer({ identity: a, orgId: new Uint8Array(8), clock, random: new SeededRandom(1) }), 'WIREMESH_ERR_INVALID_CONFIG')
    expectCode(() => new Sealer({ identity: a, orgId: ORG, clock, random: new SeededRandom(1) }, { epochRotateMs: 200_000 }), 'WIREMESH_ERR_INVALID_CONFIG')
  })

  it('NullSealer (simulation only): same sizes, no crypto', () => {
    const NA = new NullSealer(a.wgPublicKey, { clock, random: new SeededRandom(1) })
    const NB = new NullSealer(b.wgPublicKey, { clock, random: new SeededRandom(2) })
    const p = NA.seal(b.wgPublicKey, MessageType.gossip, payload)
    expect(p.length).to.equal(A.seal(b.wgPublicKey, MessageType.gossip, payload).length)
    const r = opened(NB.open(p, lookupOf(a)))
    expect([...r.payload]).to.deep.equal([...payload])
    expect(NB.open(p, () => undefined)).to.deep.equal({ drop: 'unknown-sender' })
    expect(NB.open(p.subarray(0, 10), lookupOf(a))).to.deep.equal({ drop: 'malformed' })
    const j = NA.seal(b.wgPublicKey, MessageType.join, payload)
    expect(j.length).to.equal(A.seal(b.wgPublicKey, MessageType.join, payload).length)
    expect(opened(NB.open(j, () => undefined)).sender.equals(a.wgPublicKey)).to.equal(true)
  })

  it('derives each key by RFC 5869 HKDF-SHA256 (the two-HMAC form gives hkdfSync\'s bytes)', () => {
    const random = new SeededRandom(7)
    for (let i = 0; i < 200; i++) {
      const ikm = random.bytes(32)
      const epoch = random.bytes(16)
      const info = Buffer.concat([Buffer.from('wiremesh/gossip/v1'), a.wgPublicKey.bytes, b.wgPublicKey.bytes, epoch])
      const want = new Uint8Array(hkdfSync('sha256', ikm, ORG, info, 32))
      const got = (A as unknown as { deriveKey: (i: Uint8Array, f: Key, t: Key, e: Uint8Array) => Uint8Array }).deriveKey(ikm, a.wgPublicKey, b.wgPublicKey, epoch)
      expect([...got]).to.deep.equal([...want])
    }
  })

  it('pairSecrets: one X25519 serves both ends of a pair, and packets still open', () => {
    const pairs = new PairSecretCache()
    const A2 = new Sealer({ identity: a, orgId: ORG, clock, random: new SeededRandom(3) }, { pairSecrets: pairs })
    const B2 = new Sealer({ identity: b, orgId: ORG, clock, random: new SeededRandom(4) }, { pairSecrets: pairs })
    const p = A2.seal(b.wgPublicKey, MessageType.gossip, payload)
    expect(pairs.size).to.equal(1)
    expect([...opened(B2.open(p, lookupOf(a))).payload]).to.deep.equal([...payload])
    expect(pairs.size).to.equal(1) // B reused A's result
    expect([...opened(A2.open(B2.seal(a.wgPublicKey, MessageType.ack, payload), lookupOf(b))).payload]).to.deep.equal([...payload])
    // An unverified JOIN (from a sealer outside the table) never enters it.
    const C2 = new Sealer({ identity: c, orgId: ORG, clock, random: new SeededRandom(5) })
    const joined = C2.seal(b.wgPublicKey, MessageType.join, payload)
    const body = joined.slice(0, joined.length - 16)
    body[body.length - 1] ^= 1 // in the tag; mac1 recomputed, so only the tag check fails
    expect(B2.open(appendMac1(mac1Key(b.wgPublicKey), body), () => undefined)).to.deep.equal({ drop: 'bad-tag' })
    expect(pairs.size).to.equal(1)
  })

  it('measures seal + open of a 200-byte packet', () => {
    const n = 20_000
    const lookup = lookupOf(a)
    for (let i = 0; i < 2000; i++) B.open(A.seal(b.wgPublicKey, MessageType.gossip, payload), lookup)
    const t0 = performance.now()
    let size = 0
    for (let i = 0; i < n; i++) {
      const p = A.seal(b.wgPublicKey, MessageType.gossip, payload)
      size = p.length
      if (isDropped(B.open(p, lookup))) throw new Error('dropped')
    }
    const us = (performance.now() - t0) * 1000 / n
    console.log(`      seal+open: ${us.toFixed(1)} µs per 200-byte packet; overhead ${size - payload.length} bytes (counter ≥ 16384)`)
    expect(us).to.be.below(1000)
  })
})
