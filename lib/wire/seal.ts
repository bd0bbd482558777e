/**
 * Packet sealing (DESIGN §3 "Sealing"): every packet is
 *
 *   header ‖ ChaCha20-Poly1305(key, nonce, payload, aad = header) ‖ tag(16) [‖ mac1(16) if JOIN]
 *
 * Keys, one per direction and epoch, so a (key, nonce) pair never repeats:
 *
 *   ikm   = X25519(own private, peer public)            (all-zero output refused: low-order key)
 *   key   = HKDF-SHA256(ikm, salt = orgId,
 *                       info = "wiremesh/gossip/v1" ‖ S.wgPublicKey ‖ R.wgPublicKey ‖ epoch, 32)
 *   nonce = 4 zero bytes ‖ u64 little-endian counter   (as WireGuard's transport data)
 *
 * S is the sender, R the receiver, `epoch` the sender's (header.ts). The sender starts a new
 * epoch at its first packet and every EPOCH_ROTATE_MS = 120 s by the injected clock, and
 * counts from 0 per peer in each epoch (per peer keeps the varuint counter short and each
 * receiver's window dense). Overhead: header (29 bytes + 1 per 7 counter bits above 127) +
 * 16-byte tag = 45–47 bytes for a typical packet; JOIN adds 24 (full key) + 16 (mac1).
 *
 * `open` never throws on input: every failure is a `DropReason`, counted in `drops`. Order of
 * checks, cheapest first: length and header (`malformed`), sender lookup (`unknown-sender`;
 * JOIN carries its key and skips the lookup), JOIN mac1 (`bad-mac1`, before any X25519), the
 * replay guard without committing (`stale-epoch`, `replay`), the key (`low-order-key`), the
 * tag (`bad-tag`); only then is the replay window moved. A JOIN's sender is authenticated as
 * the holder of that key, nothing more: membership is the caller's check.
 *
 * Caches (bounded LRU, `keyCacheSize` each): X25519 outputs per peer, and receive keys per
 * (sender, epoch). A receive key is cached only once a packet has verified, so forged
 * packets cannot evict good entries. Nothing about a JOIN's sender is kept — no replay
 * window, no cached secret, and a cookie sent back is sealed without caching either — so a
 * flood of JOINs from fresh keys cannot evict members' state. Send keys live for the current
 * epoch only, and at most `keyCacheSize` peers' (a new epoch starts when they fill up).
 *
 * Epochs move forward: each new one's clock part is max(now, previous + 1), whatever started
 * it (rotation, a full send-state table) and however the clock stepped, since receivers drop
 * an epoch older than the newest they saw from us as `stale-epoch`. Its lifetime is measured
 * from the clock reading at its start, and a clock step back starts a new one at once, so a
 * step back neither stretches an epoch past the receivers' 180 s limit nor rotates it at
 * every packet.
 *
 * `NullSealer` (null-sealer.ts) has the same interface and sizes without the crypto, for
 * large simulations only.
 */
import { createCipheriv, createDecipheriv, createHmac, type KeyObject } from 'node:crypto'
import type { Clock } from '../clock.js'
import { InvalidConfigError } from '../errors.js'
import type { NodeIdentity } from '../identity/identity.js'
import { Key, KEY_BYTES } from '../identity/key.js'
import { x25519, x25519PrivateKeyObject } from '../identity/wg-key.js'
import type { Random } from '../random.js'
import { toKeyString } from '../util/bytes.js'
import { Encoder } from '../util/encoding.js'
import { appendMac1, mac1Key, MAC_BYTES, verifyMac1 } from './cookie.js'
import { SealError } from './errors.js'
import {
  EPOCH_BYTES, headerLength, makeEpoch, MAX_PACKET_BYTES, MessageType, MIN_HEADER_BYTES, packetDecoder, readHeader,
  writeHeader, type PacketHeader
} from './header.js'
import { LruCache } from './lru.js'
import { EPOCH_MAX_AGE_MS, ReplayGuard } from './replay.js'

export const TAG_BYTES = 16
export const KEY_BYTES_AEAD = 32
export const NONCE_BYTES = 12
export const EPOCH_ROTATE_MS = 120_000
export const DEFAULT_KEY_CACHE_SIZE = 16_384
/** orgId: the first 16 bytes of the genesis op's hash (the HKDF salt). */
export const ORG_ID_BYTES = 16
// No counter limit is checked: 2^53 packets to one peer in one 120 s epoch is out of reach,
// and the 64-bit nonce space is larger still.
const INFO_LABEL = Buffer.from('wiremesh/gossip/v1')

export type DropReason = 'malformed' | 'unknown-sender' | 'bad-mac1' | 'bad-tag' | 'replay' | 'stale-epoch' | 'low-order-key'
export const DROP_REASONS: readonly DropReason[] = ['malformed', 'unknown-sender', 'bad-mac1', 'bad-tag', 'replay', 'stale-epoch', 'low-order-key']

export interface Opened { sender: Key, type: MessageType, payload: Uint8Array, epoch: Uint8Array, counter: number }
export interface Dropped { drop: DropReason }
export type OpenResult = Opened | Dropped

/** Resolves a sender's 8-byte key id to a current member's key (undefined: unknown or revoked). */
export type KeyLookup = (keyId: Uint8Array) => Key | undefined

/** What the gossip layer needs from a sealer; `Sealer` and `NullSealer` both provide it. */
export interface PacketSealer {
  readonly localKey: Key
  /** Throws `SealError` if the payload is over budget or the peer key is low-order. */
  seal (peer: Key, type: MessageType, payload: Uint8Array): Uint8Array
  /** Never throws on bad input. */
  open (packet: Uint8Array, lookup: KeyLookup): OpenResult
  readonly drops: Record<DropReason, number>
  /** Forgets what is kept for a removed or revoked peer (optional: a null sealer keeps nothing worth forgetting). */
  forget? (peer: Key): void
}

/** The largest payload `seal` takes for a type (at a 3-byte counter, < 2^21 packets). */
export function maxPayloadBytes (type: MessageType): number {
  return MAX_PACKET_BYTES - (MIN_HEADER_BYTES + 2 + (type === MessageType.join ? KEY_BYTES - 8 + MAC_BYTES : 0)) - TAG_BYTES
}

export interface SealerComponents { identity: NodeIdentity, orgId: Uint8Array, clock: Clock, random: Random }
export interface SealerInit {
  /** Epoch lifetime. Default 120 s (DESIGN §3); receivers refuse epochs older than 180 s + skew. */
  epochRotateMs?: number
  /** Tolerated clock difference between nodes. Default 30 s. */
  maxSkewMs?: number
  /** Entries in each key cache. Default 16,384. */
  keyCacheSize?: number
  /** Senders in the replay guard. Default 65,536. */
  maxSenders?: number
  /**
   * X25519 results shared between the sealers of one process (a simulator's thousands of
   * nodes): X25519(a, B) = X25519(b, A), so one computation serves both ends of a pair.
   * Default none. Never give one to production nodes: it is a table of secrets.
   */
  pairSecrets?: PairSecretCache
}

/** See `SealerInit.pairSecrets`. Bounded (LRU); keyed by the unordered pair of public keys. */
export class PairSecretCache {
  private readonly cache: LruCache<Uint8Array>
  constructor (maxEntries = 1_048_576) { this.cache = new LruCache(maxEntries) }
  get size (): number { return this.cache.size }
  get (a: Key, b: Key): Uint8Array | undefined { return this.cache.get(pairKey(a, b)) }
  set (a: Key, b: Key, secret: Uint8Array): void { this.cache.set(pairKey(a, b), secret) }
}

function pairKey (a: Key, b: Key): string { return a.mapKey < b.mapKey ? a.mapKey + b.mapKey : b.mapKey + a.mapKey }

interface SendState { key: Uint8Array, counter: number }

const HKDF_BLOCK_1 = Buffer.from([1])

export class Sealer implements PacketSealer {
  readonly localKey: Key
  readonly drops: Record<DropReason, number> = emptyDrops()
  readonly replay: ReplayGuard
  private readonly priv: KeyObject
  private readonly orgId: Uint8Array
  private readonly clock: Clock
  private readonly random: Random
  private readonly rotateMs: number
  private readonly ownMac1Key: Uint8Array
  private readonly shared: LruCache<Uint8Array>
  private readonly pairSecrets: PairSecretCache | undefined
  private readonly recvKeys: LruCache<Uint8Array>
  private readonly sendStates = new Map<string, SendState>()
  private readonly maxSendStates: number
  private epochValue: Uint8Array | undefined
  /** The clock reading when the current epoch began: its lifetime counts from here. */
  private epochStartedAt = 0
  /** The clock part of the newest epoch made; the next one is strictly later. */
  private lastEpochMs = -Infinity
  private readonly enc = new Encoder(128)

  constructor (components: SealerComponents, init: SealerInit = {}) {
    if (components.orgId.length !== ORG_ID_BYTES) throw new InvalidConfigError(`orgId must be ${ORG_ID_BYTES} bytes, got ${components.orgId.length}`)
    const rotateMs = init.epochRotateMs ?? EPOCH_ROTATE_MS
    // Receivers refuse epochs older than 180 s (+ skew): a longer epoch would cut itself off.
    if (!(rotateMs >= 1000 && rotateMs <= EPOCH_MAX_AGE_MS)) throw new InvalidConfigError(`epochRotateMs must be in [1000, ${EPOCH_MAX_AGE_MS}], got ${rotateMs}`)
    this.priv = x25519PrivateKeyObject(components.identity.wgPrivateKey())
    this.localKey = components.identity.wgPublicKey
    this.orgId = components.orgId.slice()
    this.clock = components.clock
    this.random = components.random
    this.rotateMs = rotateMs
    this.ownMac1Key = mac1Key(this.localKey)
    const cache = init.keyCacheSize ?? DEFAULT_KEY_CACHE_SIZE
    this.shared = new LruCache(cache)
    this.maxSendStates = cache
    this.pairSecrets = init.pairSecrets
    this.recvKeys = new LruCache(cache)
    this.replay = new ReplayGuard({ maxSkewMs: init.maxSkewMs, maxSenders: init.maxSenders })
  }

  /** The current send epoch (16 bytes; a new one at the first seal and every 120 s). */
  get epoch (): Uint8Array { return this.currentEpoch() }

  seal (peer: Key, type: MessageType, payload: Uint8Array): Uint8Array {
    if (payload.length > maxPayloadBytes(type)) throw new SealError(`payload is ${payload.length} bytes, limit ${maxPayloadBytes(type)} for type ${type}`)
    let epoch = this.currentEpoch()
    let st = this.sendStates.get(peer.mapKey)
    if (st === undefined) {
      // A cookie goes to a key that is not a member (yet): its secret is not cached, so a
      // JOIN flood cannot evict members' entries. Send states are bounded by starting a new
      // epoch (fresh keys, counters from 0) when they fill up, never by forgetting a counter.
      if (this.sendStates.size >= this.maxSendStates) epoch = this.newEpoch(this.clock.now())
      st = { key: this.deriveKey(this.sharedSecret(peer, type !== MessageType.cookie, true), this.localKey, peer, epoch), counter: 0 }
      this.sendStates.set(peer.mapKey, st)
    }
    const size = headerLength(type, st.counter) + payload.length + TAG_BYTES + (type === MessageType.join ? MAC_BYTES : 0)
    if (size > MAX_PACKET_BYTES) throw new SealError(`packet would be ${size} bytes, limit ${MAX_PACKET_BYTES}`)
    const counter = st.counter++
    const h: PacketHeader = { type, sender: type === MessageType.join ? this.localKey.bytes : this.localKey.id, epoch, counter }
    this.enc.reset()
    writeHeader(this.enc, h)
    const header = this.enc.view()
    const cipher = createCipheriv('chacha20-poly1305', st.key, nonceOf(counter), { authTagLength: TAG_BYTES })
    cipher.setAAD(header, { plaintextLength: payload.length })
    const ct = cipher.update(payload)
    cipher.final()
    const out = new Uint8Array(header.length + ct.length + TAG_BYTES)
    out.set(header)
    out.set(ct, header.length)
    out.set(cipher.getAuthTag(), header.length + ct.length)
    return type === MessageType.join ? appendMac1(mac1Key(peer), out) : out
  }

  /**
   * Forgets the receive keys and replay state kept for a peer: call it when the peer is
   * removed or revoked (its packets are dropped anyway once `lookup` stops returning it).
   * The send key and counter stay until the epoch ends: restarting a counter under the same
   * key would repeat a nonce.
   */
  forget (peer: Key): void {
    this.shared.delete(peer.mapKey)
    this.recvKeys.deleteWhere(k => k.startsWith(peer.mapKey))
    this.replay.forget(peer.mapKey)
  }

  open (packet: Uint8Array, lookup: KeyLookup): OpenResult {
    try {
      return this.openOrDrop(packet, lookup)
    } catch {
      // Unreachable by design (every check returns a reason); a last guard for the receive loop.
      return this.drop('malformed')
    }
  }

  private openOrDrop (packet: Uint8Array, lookup: KeyLookup): OpenResult {
    if (!(packet instanceof Uint8Array) || packet.length < MIN_HEADER_BYTES + TAG_BYTES || packet.length > MAX_PACKET_BYTES) return this.drop('malformed')
    let h: PacketHeader
    const dec = packetDecoder(packet)
    try {
      h = readHeader(dec)
    } catch {
      return this.drop('malformed')
    }
    const isJoin = h.type === MessageType.join
    const end = packet.length - (isJoin ? MAC_BYTES : 0)
    if (end - dec.pos < TAG_BYTES) return this.drop('malformed')
    let sender: Key | undefined
    if (isJoin) {
      sender = Key.fromBytesAt(packet, 4)
    } else {
      sender = lookup(h.sender)
      if (sender === undefined) return this.drop('unknown-sender')
    }
    if (isJoin && !verifyMac1(this.ownMac1Key, packet)) return this.drop('bad-mac1')
    const now = this.clock.now()
    // A JOIN skips the replay guard: replaying one gets a stateless cookie or re-offers an
    // enroll the receiver holds already, and tracking JOIN senders would let a flood of fresh
    // keys evict members' replay windows.
    const verdict = isJoin ? 'ok' : this.replay.check(sender.mapKey, h.epoch, h.counter, now)
    if (verdict !== 'ok') return this.drop(verdict)

    const cacheKey = sender.mapKey + toKeyString(h.epoch)
    let key = this.recvKeys.get(cacheKey)
    let fresh = false
    if (key === undefined) {
      let ikm: Uint8Array
      try {
        ikm = this.sharedSecret(sender, !isJoin, false)
      } catch {
        // The key is 32 bytes, so the one way X25519 fails is a low-order point: `x25519`
        // throws InvalidKeyError on an all-zero output, and OpenSSL itself may refuse first
        // (ERR_OSSL_FAILED_DURING_DERIVATION).
        return this.drop('low-order-key')
      }
      fresh = true
      key = this.deriveKey(ikm, sender, this.localKey, h.epoch)
    }
    const payload = decrypt(key, h.counter, packet.subarray(0, dec.pos), packet.subarray(dec.pos, end - TAG_BYTES), packet.subarray(end - TAG_BYTES, end))
    if (payload === undefined) return this.drop('bad-tag')
    if (!isJoin) {
      const committed = this.replay.commit(sender.mapKey, h.epoch, h.counter, now)
      if (committed !== 'ok') return this.drop(committed)
      // Receive keys are cached once a packet verified; a JOIN sender's never are (see above).
      if (fresh) this.recvKeys.set(cacheKey, key)
    }
    return { sender, type: h.type, payload, epoch: h.epoch.slice(), counter: h.counter }
  }

  private drop (reason: DropReason): Dropped {
    this.drops[reason]++
    return { drop: reason }
  }

  private currentEpoch (): Uint8Array {
    const now = this.clock.now()
    if (this.epochValue === undefined || now - this.epochStartedAt >= this.rotateMs || now < this.epochStartedAt) return this.newEpoch(now)
    return this.epochValue
  }

  /**
   * Starts an epoch strictly later than every earlier one of this sealer (clock part
   * max(now, previous + 1)), with fresh send keys and counters from 0.
   */
  private newEpoch (now: number): Uint8Array {
    const ms = Math.max(now, this.lastEpochMs + 1)
    this.epochValue = makeEpoch(ms, this.random.bytes(EPOCH_BYTES / 2))
    this.lastEpochMs = ms
    this.epochStartedAt = now
    this.sendStates.clear()
    return this.epochValue
  }

  /** X25519 with a peer, cached; `cache` false defers caching to the caller (unverified JOIN). */
  private sharedSecret (peer: Key, cache: boolean, forSend: boolean): Uint8Array {
    let s = this.shared.get(peer.mapKey) ?? (cache ? this.pairSecrets?.get(this.localKey, peer) : undefined)
    if (s !== undefined) return s
    try {
      s = x25519(this.priv, peer)
    } catch (err) {
      if (forSend) throw new SealError(`cannot seal to ${peer.toBase64()}: low-order key`, { cause: err })
      throw err
    }
    if (cache) {
      this.shared.set(peer.mapKey, s)
      this.pairSecrets?.set(this.localKey, peer, s)
    }
    return s
  }

  private deriveKey (ikm: Uint8Array, from: Key, to: Key, epoch: Uint8Array): Uint8Array {
    // HKDF-SHA256 (RFC 5869) with a 32-byte output is one extract and one expand block:
    // PRK = HMAC(salt, ikm), T(1) = HMAC(PRK, info ‖ 0x01). Two HMACs give the very bytes
    // hkdfSync does, in ~8 µs instead of ~20 (it builds KeyObjects per call).
    const prk = createHmac('sha256', this.orgId).update(ikm).digest()
    return new Uint8Array(createHmac('sha256', prk).update(INFO_LABEL).update(from.bytes).update(to.bytes).update(epoch).update(HKDF_BLOCK_1).digest().subarray(0, KEY_BYTES_AEAD))
  }
}

export function isDropped (r: OpenResult): r is Dropped { return 'drop' in r }

/** All drop counters at zero. */
export function emptyDrops (): Record<DropReason, number> {
  return { malformed: 0, 'unknown-sender': 0, 'bad-mac1': 0, 'bad-tag': 0, replay: 0, 'stale-epoch': 0, 'low-order-key': 0 }
}

/** 4 zero bytes ‖ u64 little-endian counter. */
function nonceOf (counter: number): Uint8Array {
  const n = new Uint8Array(NONCE_BYTES)
  const lo = counter >>> 0
  const hi = Math.floor(counter / 2 ** 32)
  n[4] = lo; n[5] = lo >>> 8; n[6] = lo >>> 16; n[7] = lo >>> 24
  n[8] = hi; n[9] = hi >>> 8; n[10] = hi >>> 16; n[11] = hi >>> 24
  return n
}

function decrypt (key: Uint8Array, counter: number, aad: Uint8Array, ct: Uint8Array, tag: Uint8Array): Uint8Array | undefined {
  try {
    const d = createDecipheriv('chacha20-poly1305', key, nonceOf(counter), { authTagLength: TAG_BYTES })
    d.setAAD(aad, { plaintextLength: ct.length })
    d.setAuthTag(tag)
    const pt = d.update(ct)
    d.final()
    return new Uint8Array(pt.buffer, pt.byteOffset, pt.length)
  } catch {
    return undefined
  }
}
