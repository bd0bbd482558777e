import { expect } from 'chai'
import fc from 'fast-check'
import { Encoder } from '../../lib/util/encoding.js'
import {
  EPOCH_BYTES, epochMs, headerLength, makeEpoch, MAX_MESSAGE_TYPE, MAX_PACKET_BYTES, MessageType,
  MIN_HEADER_BYTES, packetDecoder, readHeader, writeHeader, type PacketHeader
} from '../../lib/wire/header.js'
import { expectCode } from '../helpers/expect-code.js'
import { check } from '../helpers/prop.js'

const DECODE = 'WIREMESH_ERR_WIRE_DECODE'
const ENCODE = 'WIREMESH_ERR_WIRE_ENCODE'

function encode (h: PacketHeader): Uint8Array {
  const enc = new Encoder(16)
  writeHeader(enc, h)
  return enc.finish()
}

const header = (over: Partial<PacketHeader> = {}): PacketHeader => ({
  type: MessageType.ping, sender: new Uint8Array(8).fill(9), epoch: makeEpoch(1_700_000_000_123, new Uint8Array(8).fill(5)), counter: 0, ...over
})

describe('wire header', () => {
  it('lays out magic, version, type, key id, epoch and a 1-byte counter in 29 bytes', () => {
    const b = encode(header())
    expect(b.length).to.equal(MIN_HEADER_BYTES).and.equal(29)
    expect([...b.subarray(0, 4)]).to.deep.equal([0x77, 0x6d, 1, MessageType.ping])
    expect(headerLength(MessageType.ping, 0)).to.equal(29)
    expect(headerLength(MessageType.ping, 200)).to.equal(30)
    expect(headerLength(MessageType.join, 0)).to.equal(53)
  })

  it('round-trips any header (fast-check)', async function () {
    const types = Object.values(MessageType)
    await check(this, fc.property(
      fc.constantFrom(...types), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.maxSafeNat(), fc.uint8Array({ maxLength: 40 }),
      (type, key, epoch, counter, tail) => {
        const h = { type, sender: type === MessageType.join ? key : key.subarray(0, 8), epoch, counter }
        const b = encode(h)
        expect(b.length).to.equal(headerLength(type, counter))
        const packet = new Uint8Array([...b, ...tail])
        const dec = packetDecoder(packet)
        const got = readHeader(dec)
        expect(dec.pos).to.equal(b.length)
        expect(got.type).to.equal(type)
        expect([...got.sender]).to.deep.equal([...h.sender])
        expect([...got.epoch]).to.deep.equal([...epoch])
        expect(got.counter).to.equal(counter)
      }))
  })

  it('epoch: big-endian ms then random bytes', () => {
    for (const ms of [0, 1, 2 ** 32 - 1, 2 ** 32, 1_700_000_000_123, Number.MAX_SAFE_INTEGER]) {
      const e = makeEpoch(ms, new Uint8Array(8).fill(0xaa))
      expect(e.length).to.equal(EPOCH_BYTES)
      expect(epochMs(e)).to.equal(ms)
      expect(Buffer.from(e.subarray(0, 8)).readBigUInt64BE(0)).to.equal(BigInt(ms))
    }
  })

  it('refuses hostile input with WireDecodeError only', () => {
    const good = encode(header())
    const bad: Uint8Array[] = [
      new Uint8Array(0), good.subarray(0, 28), good.subarray(0, 3),
      Uint8Array.from([0x00, ...good.subarray(1)]), Uint8Array.from([0x77, 0x00, ...good.subarray(2)]),
      Uint8Array.from([0x77, 0x6d, 2, ...good.subarray(3)]),
      Uint8Array.from([0x77, 0x6d, 1, 0, ...good.subarray(4)]),
      Uint8Array.from([0x77, 0x6d, 1, MAX_MESSAGE_TYPE + 1, ...good.subarray(4)]),
      Uint8Array.from([...good.subarray(0, 28), 0x80, 0x00]), // non-minimal counter
      Uint8Array.from([...good.subarray(0, 28), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // > 8 bytes
      Uint8Array.from([...good.subarray(0, 28), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), // ≥ 2^53
      Uint8Array.from([0x77, 0x6d, 1, MessageType.join, ...new Uint8Array(40)]) // JOIN cut in its epoch
    ]
    for (const b of bad) expectCode(() => readHeader(packetDecoder(b)), DECODE)
    expectCode(() => packetDecoder(new Uint8Array(MAX_PACKET_BYTES + 1)), DECODE)
  })

  it('refuses to write a header that breaks the layout', () => {
    expectCode(() => encode(header({ sender: new Uint8Array(32) })), ENCODE)
    expectCode(() => encode(header({ type: MessageType.join })), ENCODE)
    expectCode(() => encode(header({ epoch: new Uint8Array(8) })), ENCODE)
    expectCode(() => encode(header({ counter: -1 })), ENCODE)
    expectCode(() => encode(header({ counter: 2 ** 53 })), ENCODE)
    expectCode(() => encode(header({ type: 0 as MessageType })), ENCODE)
  })
})
