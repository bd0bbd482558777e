/**
 * The cleartext header of every gossip packet (DESIGN §3 "Sealing"). It is the AAD of the
 * ChaCha20-Poly1305 seal, so every bit of it is authenticated.
 *
 *   offset  bytes  field
 *   0       2      magic 0x77 0x6d ("wm")
 *   2       1      version (WIRE_VERSION = 1)
 *   3       1      type (MessageType)
 *   4       8      sender key id (first 8 bytes of its wgPublicKey)
 *                  JOIN only: the full 32-byte wgPublicKey (the receiver does not know it yet)
 *   12/36   16     epoch: u64 big-endian sender ms clock ‖ 8 random bytes
 *   28/52   1–8    counter: unsigned LEB128, minimal, < 2^53
 *
 * Non-JOIN headers are 29 bytes plus 1 per 7 bits of counter above 127. The counter is a
 * varuint rather than WireGuard's fixed 8 bytes because it restarts at 0 every epoch (120 s)
 * and the sealer counts per peer: a peer sent ≤ 127 packets in an epoch costs 1 byte, ≤ 16,383
 * costs 2, so an idle node saves 6–7 bytes a packet. The nonce is still the full 64-bit
 * counter (seal.ts). Big-endian ms first makes epochs compare as bytes in time order.
 *
 * Hostile input: `readHeader` throws only `WireDecodeError` (via the decoder's `fail`) and
 * never reads past the end; packets over `MAX_PACKET_BYTES` are refused before parsing.
 */
import { KEY_BYTES, KEY_ID_BYTES } from '../identity/key.js'
import { Decoder, Encoder, readBytes, readU8, readVarUint, writeBytes, writeU8, writeVarUint } from '../util/encoding.js'
import { WireDecodeError, WireEncodeError } from './errors.js'

/**
 * Message types. ONLY APPEND TO THIS LIST: the number is byte 3 of every packet, and a node
 * drops (as malformed) any type it does not know.
 */
export const MessageType = {
  /** joiner → lighthouse: enroll op (+ echoed cookie); the only type from unknown senders. */
  join: 1,
  /** lighthouse → joiner: a stateless cookie to echo in the next JOIN (cookie.ts). */
  cookie: 2,
  ping: 3,
  pingReq: 4,
  ack: 5,
  nack: 6,
  /** piggybacked broadcasts: ops and node states. */
  gossip: 7,
  /** anti-entropy digest. */
  digest: 8,
  pull: 9,
  pullReply: 10
} as const
export type MessageType = typeof MessageType[keyof typeof MessageType]
/** The highest type this build knows. */
export const MAX_MESSAGE_TYPE = 10

export const MAGIC_0 = 0x77
export const MAGIC_1 = 0x6d
export const WIRE_VERSION = 1
export const EPOCH_BYTES = 16
/** Bytes of the clock part of the epoch. */
export const EPOCH_MS_BYTES = 8
export const MAX_COUNTER_BYTES = 8
/** The whole UDP payload on the underlay (DESIGN §3 "Limits"; overlay: MTU − 48). */
export const MAX_PACKET_BYTES = 1400
/** magic ‖ version ‖ type ‖ key id ‖ epoch ‖ 1-byte counter. */
export const MIN_HEADER_BYTES = 2 + 1 + 1 + KEY_ID_BYTES + EPOCH_BYTES + 1
/** A JOIN header with an 8-byte counter. */
export const MAX_HEADER_BYTES = 2 + 1 + 1 + KEY_BYTES + EPOCH_BYTES + MAX_COUNTER_BYTES

export interface PacketHeader {
  type: MessageType
  /** 8-byte key id, or for JOIN the 32-byte wgPublicKey. A view into the packet when read. */
  sender: Uint8Array
  /** 16 bytes. A view into the packet when read. */
  epoch: Uint8Array
  counter: number
}

/** Bytes of the sender field for this type. */
export function senderBytes (type: MessageType): number {
  return type === MessageType.join ? KEY_BYTES : KEY_ID_BYTES
}

function fail (message: string): never { throw new WireDecodeError(`failed to decode packet header: ${message}`) }

export function writeHeader (enc: Encoder, h: PacketHeader): void {
  if (!Number.isInteger(h.type) || h.type < 1 || h.type > MAX_MESSAGE_TYPE) throw new WireEncodeError(`unknown message type ${h.type}`)
  if (h.sender.length !== senderBytes(h.type)) throw new WireEncodeError(`sender must be ${senderBytes(h.type)} bytes for type ${h.type}, got ${h.sender.length}`)
  if (h.epoch.length !== EPOCH_BYTES) throw new WireEncodeError(`epoch must be ${EPOCH_BYTES} bytes, got ${h.epoch.length}`)
  if (!Number.isSafeInteger(h.counter) || h.counter < 0) throw new WireEncodeError(`counter ${h.counter} out of range`)
  writeU8(enc, MAGIC_0)
  writeU8(enc, MAGIC_1)
  writeU8(enc, WIRE_VERSION)
  writeU8(enc, h.type)
  writeBytes(enc, h.sender)
  writeBytes(enc, h.epoch)
  writeVarUint(enc, h.counter)
}

/** A decoder over a packet whose failures throw `WireDecodeError`. */
export function packetDecoder (packet: Uint8Array): Decoder {
  if (packet.length > MAX_PACKET_BYTES) fail(`packet is ${packet.length} bytes, limit ${MAX_PACKET_BYTES}`)
  return new Decoder(packet, fail)
}

/** Reads a header; `dec.pos` is then the end of the header (the AAD is `buf[0 … pos]`). */
export function readHeader (dec: Decoder): PacketHeader {
  if (dec.end - dec.pos > MAX_PACKET_BYTES) dec.fail(`packet is ${dec.end - dec.pos} bytes, limit ${MAX_PACKET_BYTES}`)
  if (readU8(dec) !== MAGIC_0 || readU8(dec) !== MAGIC_1) dec.fail('bad magic')
  const version = readU8(dec)
  if (version !== WIRE_VERSION) dec.fail(`unsupported version ${version}`)
  const type = readU8(dec)
  if (type < 1 || type > MAX_MESSAGE_TYPE) dec.fail(`unknown message type ${type} at byte ${dec.pos - 1}`)
  const sender = readBytes(dec, senderBytes(type as MessageType))
  const epoch = readBytes(dec, EPOCH_BYTES)
  const at = dec.pos
  const counter = readVarUint(dec, MAX_COUNTER_BYTES)
  if (counter > Number.MAX_SAFE_INTEGER) dec.fail(`counter at byte ${at} exceeds 2^53 - 1`)
  return { type: type as MessageType, sender, epoch, counter }
}

/** The byte length `writeHeader` gives. */
export function headerLength (type: MessageType, counter: number): number {
  let n = 1
  while (counter > 0x7f) { counter = Math.floor(counter / 128); n++ }
  return 4 + senderBytes(type) + EPOCH_BYTES + n
}

/** The sender's clock (ms) at which an epoch began. */
export function epochMs (epoch: Uint8Array): number {
  return ((epoch[0] << 24 >>> 0) + (epoch[1] << 16) + (epoch[2] << 8) + epoch[3]) * 2 ** 32 +
    ((epoch[4] << 24 >>> 0) + (epoch[5] << 16) + (epoch[6] << 8) + epoch[7])
}

/** A fresh epoch: `ms` big-endian ‖ the 8 given random bytes. */
export function makeEpoch (ms: number, random8: Uint8Array): Uint8Array {
  const e = new Uint8Array(EPOCH_BYTES)
  const hi = Math.floor(ms / 2 ** 32)
  const lo = ms >>> 0
  e[0] = hi >>> 24; e[1] = hi >>> 16; e[2] = hi >>> 8; e[3] = hi
  e[4] = lo >>> 24; e[5] = lo >>> 16; e[6] = lo >>> 8; e[7] = lo
  e.set(random8.subarray(0, EPOCH_BYTES - EPOCH_MS_BYTES), EPOCH_MS_BYTES)
  return e
}
