import { expect } from 'chai'
import fc from 'fast-check'
import { MessageDecodeError } from '../../lib/gossip/errors.js'
import {
  decodeMessage, encodeMessage, HEADS_HASH_BYTES, itemCost, MAX_BUCKET_COUNT, MAX_MESSAGE_ITEMS, MAX_PAGE, MAX_SEQ,
  MIN_ENROLL_BYTES, paginate, STATE_BUCKETS, STATE_HASH_BYTES, type GossipMessage, type Items, type LeftOut, type MessageOf
} from '../../lib/gossip/messages.js'
import { MAX_NODE_STATE_BYTES } from '../../lib/gossip/node-state.js'
import { MAX_OP_BYTES } from '../../lib/membership/op.js'
import type { Random } from '../../lib/random.js'
import { compareBytes, concatBytes, toHex } from '../../lib/util/bytes.js'
import { COOKIE_BYTES } from '../../lib/wire/cookie.js'
import { MAX_MESSAGE_TYPE, MessageType } from '../../lib/wire/header.js'
import { maxPayloadBytes } from '../../lib/wire/seal.js'
import { expectCode } from '../helpers/expect-code.js'
import { check } from '../helpers/prop.js'
import { withSeed } from '../helpers/seed.js'

const CODE = 'WIREMESH_ERR_MESSAGE_DECODE'
const FUZZ_CASES_PER_TYPE = 100_000
const TYPES = Object.values(MessageType)
const NO_ITEMS = (): Items => ({ ops: [], states: [] })

const bytes = (n: number, fill = 0xab): Uint8Array => new Uint8Array(n).fill(fill)
const enroll = (n = MIN_ENROLL_BYTES): Uint8Array => { const b = bytes(n, 7); b[0] = 2; return b }

function encode<T extends MessageType> (type: T, msg: MessageOf<T>, budget = maxPayloadBytes(type)): Uint8Array {
  const { payload, leftOut } = encodeMessage(type, msg, budget)
  expect(leftOut).to.deep.equal({ ops: [], states: [], claims: [] })
  return payload
}

/** `msg` without the items `leftOut` names. */
function without<M extends GossipMessage> (msg: M, leftOut: LeftOut): M {
  if (!('ops' in msg)) return msg
  return { ...msg, ops: msg.ops.filter((_, i) => !leftOut.ops.includes(i)), states: msg.states.filter((_, i) => !leftOut.states.includes(i)) }
}

// ---- fast-check arbitraries, one per type ----

const u8 = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n })
const seqArb = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: MAX_SEQ }), fc.constant(MAX_SEQ))
const itemsArb = fc.record({
  ops: fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 6 }),
  states: fc.array(fc.uint8Array({ minLength: 1, maxLength: 400 }), { maxLength: 4 })
})
const enrollArb = fc.uint8Array({ minLength: MIN_ENROLL_BYTES, maxLength: MAX_OP_BYTES }).map(b => { b[0] = 2; return b })
const bucketArb = fc.oneof(
  fc.constant(0).map(count => ({ count, hash: new Uint8Array(STATE_HASH_BYTES) })),
  fc.record({ count: fc.integer({ min: 1, max: MAX_BUCKET_COUNT }), hash: u8(STATE_HASH_BYTES) })
)
const digestBytesArb = fc.uint8Array({ maxLength: 400 })

const arbs: { [T in MessageType]: fc.Arbitrary<MessageOf<T>> } = {
  [MessageType.join]: fc.record({ enroll: enrollArb, cookie: fc.option(u8(COOKIE_BYTES), { nil: undefined }) })
    .map(({ enroll, cookie }) => cookie === undefined ? { type: MessageType.join, enroll } : { type: MessageType.join, enroll, cookie }),
  [MessageType.cookie]: u8(COOKIE_BYTES).map(cookie => ({ type: MessageType.cookie, cookie })),
  [MessageType.ping]: fc.record({ seq: seqArb, headsHash: u8(HEADS_HASH_BYTES), items: itemsArb }).map(({ seq, headsHash, items }) => ({ type: MessageType.ping, seq, headsHash, ...items })),
  [MessageType.pingReq]: fc.record({ seq: seqArb, target: u8(8) }).map(m => ({ type: MessageType.pingReq, ...m })),
  [MessageType.ack]: fc.record({ seq: seqArb, headsHash: u8(HEADS_HASH_BYTES), items: itemsArb }).map(({ seq, headsHash, items }) => ({ type: MessageType.ack, seq, headsHash, ...items })),
  [MessageType.nack]: seqArb.map(seq => ({ type: MessageType.nack, seq })),
  [MessageType.gossip]: itemsArb.map(items => ({ type: MessageType.gossip, ...items })),
  [MessageType.digest]: fc.record({ opsDigest: digestBytesArb, statesSummary: fc.array(bucketArb, { minLength: STATE_BUCKETS, maxLength: STATE_BUCKETS }) })
    .map(m => ({ type: MessageType.digest, ...m })),
  [MessageType.pull]: fc.record({ opsDigest: digestBytesArb, buckets: fc.uniqueArray(fc.integer({ min: 0, max: STATE_BUCKETS - 1 })).map(b => b.sort((x, y) => x - y)), page: fc.integer({ min: 0, max: MAX_PAGE }) })
    .map(m => ({ type: MessageType.pull, ...m })),
  [MessageType.pullReply]: fc.record({ page: fc.integer({ min: 0, max: MAX_PAGE }), more: fc.boolean(), items: itemsArb })
    .map(({ page, more, items }) => ({ type: MessageType.pullReply, page, more, ...items }))
}

// ---- seeded random messages for the fuzz corpus ----

function randomItems (r: Random): Items {
  const list = (n: number, max: number): Uint8Array[] => Array.from({ length: r.int(n) }, () => r.bytes(1 + r.int(max)))
  return { ops: list(5, 250), states: list(3, 300) }
}

function randomMessage (r: Random, type: MessageType): GossipMessage {
  const seq = r.int(2) === 0 ? r.int(200) : r.int(MAX_SEQ + 1)
  switch (type) {
    case MessageType.join: { const e = enroll(MIN_ENROLL_BYTES + r.int(300)); return r.int(2) === 0 ? { type, enroll: e } : { type, enroll: e, cookie: r.bytes(COOKIE_BYTES) } }
    case MessageType.cookie: return { type, cookie: r.bytes(COOKIE_BYTES) }
    case MessageType.ping: case MessageType.ack: return { type, seq, headsHash: r.bytes(HEADS_HASH_BYTES), ...(r.int(3) === 0 ? NO_ITEMS() : randomItems(r)) }
    case MessageType.pingReq: return { type, seq, target: r.bytes(8) }
    case MessageType.nack: return { type, seq }
    case MessageType.gossip: return { type, ...randomItems(r) }
    case MessageType.digest: return {
      type,
      opsDigest: r.bytes(r.int(200)),
      statesSummary: Array.from({ length: STATE_BUCKETS }, () => r.int(3) === 0 ? { count: 0, hash: new Uint8Array(STATE_HASH_BYTES) } : { count: 1 + r.int(5000), hash: r.bytes(STATE_HASH_BYTES) })
    }
    case MessageType.pull: return { type, opsDigest: r.bytes(r.int(200)), buckets: Array.from({ length: STATE_BUCKETS }, (_, i) => i).filter(() => r.int(3) === 0), page: r.int(MAX_PAGE + 1) }
    default: return { type: MessageType.pullReply, page: r.int(MAX_PAGE + 1), more: r.int(2) === 0, ...randomItems(r) }
  }
}

describe('gossip messages', () => {
  describe('round trip', () => {
    for (const type of TYPES) {
      it(`decodes what it encodes: ${type} (property)`, async function () {
        await check(this, fc.property(arbs[type] as fc.Arbitrary<GossipMessage>, (msg) => {
          const { payload, leftOut } = encodeMessage(type, msg as MessageOf<typeof type>, maxPayloadBytes(type))
          expect(payload.length).to.be.at.most(maxPayloadBytes(type))
          expect(decodeMessage(type, payload)).to.deep.equal(without(msg, leftOut))
        }), 300)
      })
    }

    it('an encoded message re-encodes to the same bytes (one encoding per message)', async function () {
      await check(this, fc.property(fc.constantFrom(...TYPES).chain(t => (arbs[t] as fc.Arbitrary<GossipMessage>).map(m => [t, m] as const)), ([type, msg]) => {
        const first = encodeMessage(type, msg as MessageOf<typeof type>, maxPayloadBytes(type)).payload
        expect(toHex(encode(type, decodeMessage(type, first)))).to.equal(toHex(first))
      }), 300)
    })
  })

  describe('sizes', () => {
    it('an idle ping or ack is 9 payload bytes up to seq 127, 10 up to 16,383', () => {
      for (const type of [MessageType.ping, MessageType.ack] as const) {
        const m = { type, headsHash: bytes(8), ...NO_ITEMS() }
        expect(encode(type, { ...m, seq: 0 } as MessageOf<typeof type>).length).to.equal(9)
        expect(encode(type, { ...m, seq: 127 } as MessageOf<typeof type>).length).to.equal(9)
        expect(encode(type, { ...m, seq: 128 } as MessageOf<typeof type>).length).to.equal(10)
        expect(encode(type, { ...m, seq: 16_383 } as MessageOf<typeof type>).length).to.equal(10)
        expect(encode(type, { ...m, seq: MAX_SEQ } as MessageOf<typeof type>).length).to.equal(13)
      }
    })

    it('pingReq is 9 + seq bytes, nack 1–5', () => {
      expect(encode(MessageType.pingReq, { type: MessageType.pingReq, seq: 5, target: bytes(8) }).length).to.equal(9)
      expect(encode(MessageType.nack, { type: MessageType.nack, seq: 5 }).length).to.equal(1)
      expect(encode(MessageType.nack, { type: MessageType.nack, seq: MAX_SEQ }).length).to.equal(5)
    })

    it('a cookie reply is smaller than the smallest join', () => {
      const cookie = encode(MessageType.cookie, { type: MessageType.cookie, cookie: bytes(COOKIE_BYTES) })
      const join = encode(MessageType.join, { type: MessageType.join, enroll: enroll() })
      expect(cookie.length).to.equal(COOKIE_BYTES)
      expect(join.length).to.equal(MIN_ENROLL_BYTES + 2)
      expect(cookie.length).to.be.below(join.length)
      // And as sealed packets: the JOIN header carries the full key (+24) and a mac1 (+16).
      expect(cookie.length + 29 + 16).to.be.below(join.length + 29 + 24 + 16 + 16)
    })

    it('an empty-bucket digest costs one byte per bucket, a full one nine', () => {
      const empty = Array.from({ length: STATE_BUCKETS }, () => ({ count: 0, hash: new Uint8Array(8) }))
      const full = Array.from({ length: STATE_BUCKETS }, () => ({ count: 3, hash: bytes(8, 1) }))
      expect(encode(MessageType.digest, { type: MessageType.digest, opsDigest: bytes(0), statesSummary: empty }).length).to.equal(1 + STATE_BUCKETS)
      expect(encode(MessageType.digest, { type: MessageType.digest, opsDigest: bytes(0), statesSummary: full }).length).to.equal(1 + 9 * STATE_BUCKETS)
    })
  })

  describe('budget', () => {
    it('leaves out items that do not fit, keeps smaller ones after them, never truncates', () => {
      const ops = [bytes(500, 1), bytes(900, 2), bytes(100, 3)]
      const states = [bytes(300, 4), bytes(50, 5)]
      const msg: MessageOf<typeof MessageType.ping> = { type: MessageType.ping, seq: 1, headsHash: bytes(8), ops, states }
      const { payload, leftOut } = encodeMessage(MessageType.ping, msg, 700)
      expect(payload.length).to.be.at.most(700)
      expect(leftOut).to.deep.equal({ ops: [1], states: [0], claims: [] })
      const back = decodeMessage(MessageType.ping, payload)
      expect(back.ops).to.deep.equal([ops[0], ops[2]])
      expect(back.states).to.deep.equal([states[1]])
    })

    it('omits the piggyback trailer when nothing fits', () => {
      const msg: MessageOf<typeof MessageType.ack> = { type: MessageType.ack, seq: 1, headsHash: bytes(8), ops: [bytes(50)], states: [] }
      const { payload, leftOut } = encodeMessage(MessageType.ack, msg, 20)
      expect(payload.length).to.equal(9)
      expect(leftOut).to.deep.equal({ ops: [0], states: [], claims: [] })
    })

    it('never goes over the budget, and leaves out only what no longer fits (property)', async function () {
      const arb = fc.record({ type: fc.constantFrom(MessageType.ping, MessageType.ack, MessageType.gossip, MessageType.pullReply), budget: fc.integer({ min: 16, max: 1600 }), seed: fc.integer({ min: 0, max: 2 ** 31 }) })
      await check(this, fc.property(arb, itemsArb, ({ type, budget }, items) => {
        const msg = { type, seq: 7, headsHash: bytes(8), page: 0, more: false, ...items } as unknown as MessageOf<typeof type>
        const { payload, leftOut } = encodeMessage(type, msg, budget)
        const limit = Math.min(budget, maxPayloadBytes(type))
        expect(payload.length).to.be.at.most(limit)
        const back = decodeMessage(type, payload) as Items
        expect(back.ops.length + leftOut.ops.length).to.equal(items.ops.length)
        expect(back.states.length + leftOut.states.length).to.equal(items.states.length)
        // Whatever was left out would not fit in what is still free (a trailer's count byte counted).
        const trailerAbsent = (type === MessageType.ping || type === MessageType.ack) && back.ops.length + back.states.length === 0
        const free = limit - payload.length - (trailerAbsent ? 1 : 0)
        for (const i of leftOut.ops) expect(itemCost(items.ops[i].length, 0)).to.be.above(free)
        for (const i of leftOut.states) expect(itemCost(items.states[i].length, 1)).to.be.above(free)
      }), 300)
    })

    it('caps a message at MAX_MESSAGE_ITEMS items', () => {
      const ops = Array.from({ length: MAX_MESSAGE_ITEMS + 3 }, () => bytes(1))
      const { payload, leftOut } = encodeMessage(MessageType.gossip, { type: MessageType.gossip, ops, states: [] }, 1300)
      expect(decodeMessage(MessageType.gossip, payload).ops).to.have.length(MAX_MESSAGE_ITEMS)
      expect(leftOut.ops).to.deep.equal([MAX_MESSAGE_ITEMS, MAX_MESSAGE_ITEMS + 1, MAX_MESSAGE_ITEMS + 2])
    })

    it('throws when the fixed fields alone do not fit', () => {
      expectCode(() => encodeMessage(MessageType.ping, { type: MessageType.ping, seq: 1, headsHash: bytes(8), ...NO_ITEMS() }, 8), CODE)
      expectCode(() => encodeMessage(MessageType.digest, { type: MessageType.digest, opsDigest: bytes(100), statesSummary: Array.from({ length: STATE_BUCKETS }, () => ({ count: 0, hash: new Uint8Array(8) })) }, 100), CODE)
      expectCode(() => encodeMessage(MessageType.gossip, { type: MessageType.gossip, ...NO_ITEMS() }, 0), CODE)
    })

    it('clamps the budget to what seal takes for the type', () => {
      const ops = Array.from({ length: 3 }, () => bytes(MAX_OP_BYTES))
      const { payload, leftOut } = encodeMessage(MessageType.gossip, { type: MessageType.gossip, ops, states: [] }, 1_000_000)
      expect(payload.length).to.be.at.most(maxPayloadBytes(MessageType.gossip))
      expect(leftOut.ops).to.deep.equal([1, 2])
    })
  })

  describe('pull reply paging', () => {
    it('splits a large transfer into pages that each fit, in order, nothing lost', () => {
      const ops = Array.from({ length: 40 }, (_, i) => bytes(150 + i * 5, i))
      const states = Array.from({ length: 12 }, (_, i) => bytes(200 + i, 100 + i))
      const budget = 1000
      const { pages, leftOut } = paginate({ ops, states }, budget)
      expect(leftOut).to.deep.equal({ ops: [], states: [], claims: [] })
      expect(pages.length).to.be.above(10)
      pages.forEach((p, i) => {
        expect(p.page).to.equal(i)
        expect(p.more).to.equal(i < pages.length - 1)
        const { payload, leftOut: lo } = encodeMessage(MessageType.pullReply, p, budget)
        expect(lo).to.deep.equal({ ops: [], states: [], claims: [] })
        expect(payload.length).to.be.at.most(budget)
        expect(decodeMessage(MessageType.pullReply, payload)).to.deep.equal(p)
      })
      expect(pages.flatMap(p => p.ops)).to.deep.equal(ops)
      expect(pages.flatMap(p => p.states)).to.deep.equal(states)
    })

    it('keeps the order of a causal diff: a page ends at the first item that does not fit', () => {
      const ops = [bytes(400, 1), bytes(400, 2), bytes(100, 3)]
      const { pages } = paginate({ ops, states: [] }, 600)
      expect(pages.map(p => p.ops.map(o => o[0]))).to.deep.equal([[1], [2, 3]])
    })

    it('leaves out an item too big for any page, and reports it', () => {
      const ops = [bytes(100, 1), bytes(MAX_OP_BYTES, 2), bytes(100, 3)]
      const states = [bytes(MAX_NODE_STATE_BYTES, 4)]
      const { pages, leftOut } = paginate({ ops, states }, 600)
      expect(leftOut).to.deep.equal({ ops: [1], states: [0], claims: [] })
      expect(pages).to.have.length(1)
      expect(pages[0].ops.map(o => o[0])).to.deep.equal([1, 3])
      expect(pages[0].more).to.equal(false)
    })

    it('an empty diff is one empty last page', () => {
      expect(paginate(NO_ITEMS(), 1000).pages).to.deep.equal([{ type: MessageType.pullReply, page: 0, more: false, ops: [], states: [] }])
    })

    it('paging loses and reorders nothing (property)', async function () {
      await check(this, fc.property(itemsArb, fc.integer({ min: 8, max: 1400 }), (items, budget) => {
        const { pages, leftOut } = paginate(items, budget)
        for (const p of pages) {
          const { payload, leftOut: lo } = encodeMessage(MessageType.pullReply, p, budget)
          expect(lo).to.deep.equal({ ops: [], states: [], claims: [] })
          expect(payload.length).to.be.at.most(budget)
        }
        expect(pages.flatMap(p => p.ops)).to.deep.equal(items.ops.filter((_, i) => !leftOut.ops.includes(i)))
        expect(pages.flatMap(p => p.states)).to.deep.equal(items.states.filter((_, i) => !leftOut.states.includes(i)))
      }), 300)
    })
  })

  describe('encoding refuses bad fields', () => {
    const hash = bytes(8)
    const cases: Array<[string, () => unknown]> = [
      ['seq above MAX_SEQ', () => encodeMessage(MessageType.nack, { type: MessageType.nack, seq: MAX_SEQ + 1 }, 100)],
      ['negative seq', () => encodeMessage(MessageType.nack, { type: MessageType.nack, seq: -1 }, 100)],
      ['short heads hash', () => encodeMessage(MessageType.ping, { type: MessageType.ping, seq: 1, headsHash: bytes(7), ...NO_ITEMS() }, 100)],
      ['short target', () => encodeMessage(MessageType.pingReq, { type: MessageType.pingReq, seq: 1, target: bytes(32) }, 100)],
      ['type mismatch', () => encodeMessage(MessageType.ack, { type: MessageType.ping, seq: 1, headsHash: hash, ...NO_ITEMS() } as unknown as MessageOf<typeof MessageType.ack>, 100)],
      ['empty item', () => encodeMessage(MessageType.gossip, { type: MessageType.gossip, ops: [bytes(0)], states: [] }, 100)],
      ['op over MAX_OP_BYTES', () => encodeMessage(MessageType.gossip, { type: MessageType.gossip, ops: [bytes(MAX_OP_BYTES + 1)], states: [] }, 100)],
      ['enroll too short', () => encodeMessage(MessageType.join, { type: MessageType.join, enroll: enroll().subarray(0, MIN_ENROLL_BYTES - 1) }, 1300)],
      ['enroll of another kind', () => encodeMessage(MessageType.join, { type: MessageType.join, enroll: bytes(MIN_ENROLL_BYTES, 3) }, 1300)],
      ['short cookie', () => encodeMessage(MessageType.cookie, { type: MessageType.cookie, cookie: bytes(15) }, 100)],
      ['15 buckets', () => encodeMessage(MessageType.digest, { type: MessageType.digest, opsDigest: bytes(0), statesSummary: Array.from({ length: 15 }, () => ({ count: 0, hash: new Uint8Array(8) })) }, 1000)],
      ['empty bucket with a hash', () => encodeMessage(MessageType.digest, { type: MessageType.digest, opsDigest: bytes(0), statesSummary: Array.from({ length: STATE_BUCKETS }, () => ({ count: 0, hash: bytes(8, 1) })) }, 1000)],
      ['unsorted pull buckets', () => encodeMessage(MessageType.pull, { type: MessageType.pull, opsDigest: bytes(0), buckets: [3, 1], page: 0 }, 100)],
      ['pull bucket out of range', () => encodeMessage(MessageType.pull, { type: MessageType.pull, opsDigest: bytes(0), buckets: [STATE_BUCKETS], page: 0 }, 100)],
      ['page above MAX_PAGE', () => encodeMessage(MessageType.pullReply, { type: MessageType.pullReply, page: MAX_PAGE + 1, more: false, ...NO_ITEMS() }, 100)],
      ['fractional budget', () => encodeMessage(MessageType.nack, { type: MessageType.nack, seq: 1 }, 1.5)]
    ]
    for (const [name, fn] of cases) it(name, () => { expectCode(fn, CODE) })
  })

  describe('decoding refuses hostile input', () => {
    const ping = encode(MessageType.ping, { type: MessageType.ping, seq: 1, headsHash: bytes(8), ops: [bytes(3)], states: [bytes(4)] })
    const cases: Array<[string, MessageType, Uint8Array]> = [
      ['an empty piggyback trailer', MessageType.ping, concatBytes(ping.subarray(0, 9), new Uint8Array([0]))],
      ['an op after a state', MessageType.gossip, new Uint8Array([2, 3, 9, 2, 9])],
      ['a count the bytes cannot hold', MessageType.gossip, new Uint8Array([100, 2, 1])],
      ['a count over MAX_MESSAGE_ITEMS', MessageType.gossip, new Uint8Array([0x80, 0x01])],
      ['a zero-length item', MessageType.gossip, new Uint8Array([1, 0])],
      ['an op over MAX_OP_BYTES', MessageType.gossip, concatBytes(new Uint8Array([1, 0x82, 0x10]), bytes(1025))],
      ['trailing bytes', MessageType.nack, new Uint8Array([1, 0])],
      ['a non-minimal varint', MessageType.nack, new Uint8Array([0x81, 0x00])],
      ['seq above MAX_SEQ', MessageType.nack, new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x10])],
      ['a truncated heads hash', MessageType.ack, new Uint8Array([1, 2, 3])],
      ['a payload over maxPayloadBytes', MessageType.gossip, bytes(maxPayloadBytes(MessageType.gossip) + 1, 0)],
      ['a page above MAX_PAGE', MessageType.pull, new Uint8Array([0, 0, 0, 0x80, 0x20])],
      ['a cookie of 15 bytes', MessageType.cookie, bytes(15)],
      ['a join cookie of 15 bytes', MessageType.join, concatBytes(encode(MessageType.join, { type: MessageType.join, enroll: enroll() }), bytes(15))],
      ['a join with a short enroll', MessageType.join, concatBytes(new Uint8Array([10]), enroll(10))],
      ['an empty payload where fields are due', MessageType.digest, new Uint8Array(0)],
      ['an unknown type', 11 as MessageType, new Uint8Array(0)],
      ['a type of 0', 0 as MessageType, new Uint8Array(0)]
    ]
    for (const [name, type, payload] of cases) it(name, () => { expectCode(() => decodeMessage(type, payload), CODE) })

    it('refuses what is not a Uint8Array', () => {
      expectCode(() => decodeMessage(MessageType.nack, 'x' as unknown as Uint8Array), CODE)
      expectCode(() => decodeMessage(MessageType.nack, null as unknown as Uint8Array), CODE)
    })

    it('decoded byte fields are copies, not views into the payload', () => {
      const payload = ping.slice()
      const m = decodeMessage(MessageType.ping, payload)
      payload.fill(0)
      expect(m.headsHash).to.deep.equal(bytes(8))
      expect(m.ops[0]).to.deep.equal(bytes(3))
    })

    it(`decodes ${FUZZ_CASES_PER_TYPE} hostile payloads per type throwing only MessageDecodeError (seeded)`, async function () {
      this.timeout(300_000)
      await withSeed(this, (r) => {
        const corpus = new Map<MessageType, Uint8Array[]>()
        for (const t of TYPES) corpus.set(t, Array.from({ length: 16 }, () => encodeMessage(t, randomMessage(r, t) as MessageOf<typeof t>, maxPayloadBytes(t)).payload))
        const edge = [0, 1, 0x7f, 0x80, 0xff, MAX_MESSAGE_ITEMS, MAX_MESSAGE_ITEMS + 1, 2, 3]
        let accepted = 0
        let rejected = 0
        for (const type of TYPES) {
          const own = corpus.get(type)!
          for (let i = 0; i < FUZZ_CASES_PER_TYPE; i++) {
            const mode = r.int(9)
            const base = own[r.int(own.length)]
            let input: Uint8Array
            switch (mode) {
              case 0: input = base.subarray(0, r.int(base.length)); break
              case 1: { input = base.slice(); for (let k = 1 + r.int(4); k > 0 && input.length > 0; k--) input[r.int(input.length)] ^= 1 + r.int(255); break }
              case 2: { input = base.slice(); if (input.length > 0) input[r.int(Math.min(input.length, 40))] = edge[r.int(edge.length)]; break }
              case 3: { const at = r.int(base.length + 1); input = concatBytes(base.subarray(0, at), r.bytes(1 + r.int(40)), base.subarray(at)); break }
              case 4: { const at = r.int(base.length); input = concatBytes(base.subarray(0, at), base.subarray(at + 1 + r.int(40))); break }
              case 5: input = r.bytes(r.int(r.int(2) === 0 ? 24 : 1500)); break
              case 6: input = concatBytes(base.subarray(0, r.int(base.length + 1)), r.bytes(r.int(60))); break
              case 7: { const others = corpus.get(TYPES[r.int(TYPES.length)])!; input = others[r.int(others.length)]; break } // another type's payload
              default: { const other = own[r.int(own.length)]; input = concatBytes(base.subarray(0, r.int(base.length)), other.subarray(r.int(other.length))) }
            }
            let out: GossipMessage
            try {
              out = decodeMessage(type, input)
            } catch (err) {
              if (!(err instanceof MessageDecodeError) || err.code !== CODE) {
                throw new Error(`type ${type} case ${i} (mode ${mode}) threw ${String(err)} for input ${toHex(input)}`, { cause: err })
              }
              rejected++
              continue
            }
            // Whatever is accepted is canonical: it re-encodes to exactly the input, nothing left out.
            const again = encodeMessage(type, out as MessageOf<typeof type>, maxPayloadBytes(type))
            if (compareBytes(again.payload, input) !== 0 || again.leftOut.ops.length + again.leftOut.states.length > 0) {
              throw new Error(`type ${type} case ${i} (mode ${mode}) accepted a non-canonical input ${toHex(input)}`)
            }
            accepted++
          }
        }
        expect(accepted + rejected).to.equal(FUZZ_CASES_PER_TYPE * TYPES.length)
        expect(accepted).to.be.above(0)
        expect(rejected).to.be.above(FUZZ_CASES_PER_TYPE)
      })
    })
  })

  it('covers every message type the header knows', () => {
    expect(TYPES).to.have.length(MAX_MESSAGE_TYPE)
  })
})
