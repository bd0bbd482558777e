/**
 * FOR LARGE SIMULATIONS ONLY: a `PacketSealer` without cryptography.
 *
 * Same layout and sizes as `Sealer` (seal.ts): header ‖ payload in clear ‖ 16 zero bytes
 * where the tag would be [‖ 16 zero bytes where mac1 would be, for JOIN], so bandwidth
 * figures match a real run while thousands of nodes skip X25519 and ChaCha20-Poly1305. It
 * authenticates nothing and keeps no replay window: anyone can forge any sender. Never use it
 * on a real network.
 */
import type { Clock } from '../clock.js'
import { Key } from '../identity/key.js'
import type { Random } from '../random.js'
import { Encoder } from '../util/encoding.js'
import { MAC_BYTES } from './cookie.js'
import { SealError } from './errors.js'
import {
  EPOCH_BYTES, headerLength, makeEpoch, MAX_PACKET_BYTES, MessageType, MIN_HEADER_BYTES, packetDecoder, readHeader,
  writeHeader, type PacketHeader
} from './header.js'
import {
  emptyDrops, maxPayloadBytes, TAG_BYTES, type DropReason, type Dropped, type KeyLookup, type OpenResult,
  type PacketSealer
} from './seal.js'

export class NullSealer implements PacketSealer {
  readonly drops: Record<DropReason, number> = emptyDrops()
  private readonly counters = new Map<string, number>()
  private readonly epochValue: Uint8Array
  private readonly enc = new Encoder(128)

  constructor (readonly localKey: Key, components: { clock: Clock, random: Random }) {
    this.epochValue = makeEpoch(components.clock.now(), components.random.bytes(EPOCH_BYTES / 2))
  }

  seal (peer: Key, type: MessageType, payload: Uint8Array): Uint8Array {
    if (payload.length > maxPayloadBytes(type)) throw new SealError(`payload is ${payload.length} bytes, limit ${maxPayloadBytes(type)} for type ${type}`)
    const counter = this.counters.get(peer.mapKey) ?? 0
    const size = headerLength(type, counter) + payload.length + TAG_BYTES + (type === MessageType.join ? MAC_BYTES : 0)
    if (size > MAX_PACKET_BYTES) throw new SealError(`packet would be ${size} bytes, limit ${MAX_PACKET_BYTES}`)
    this.counters.set(peer.mapKey, counter + 1)
    this.enc.reset()
    writeHeader(this.enc, { type, sender: type === MessageType.join ? this.localKey.bytes : this.localKey.id, epoch: this.epochValue, counter })
    const header = this.enc.view()
    const out = new Uint8Array(header.length + payload.length + TAG_BYTES + (type === MessageType.join ? MAC_BYTES : 0))
    out.set(header)
    out.set(payload, header.length)
    return out
  }

  open (packet: Uint8Array, lookup: KeyLookup): OpenResult {
    if (!(packet instanceof Uint8Array) || packet.length < MIN_HEADER_BYTES + TAG_BYTES || packet.length > MAX_PACKET_BYTES) return this.drop('malformed')
    const dec = packetDecoder(packet)
    let h: PacketHeader
    try {
      h = readHeader(dec)
    } catch {
      return this.drop('malformed')
    }
    const end = packet.length - TAG_BYTES - (h.type === MessageType.join ? MAC_BYTES : 0)
    if (end < dec.pos) return this.drop('malformed')
    const sender = h.type === MessageType.join ? Key.fromBytesAt(packet, 4) : lookup(h.sender)
    if (sender === undefined) return this.drop('unknown-sender')
    return { sender, type: h.type, payload: packet.slice(dec.pos, end), epoch: h.epoch.slice(), counter: h.counter }
  }

  private drop (reason: DropReason): Dropped {
    this.drops[reason]++
    return { drop: reason }
  }
}
