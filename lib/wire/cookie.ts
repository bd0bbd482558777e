/**
 * JOIN protection (DESIGN §3 "JOIN"), after WireGuard's mac1 / cookie reply.
 *
 * mac1: the last MAC_BYTES = 16 bytes of a JOIN packet,
 *
 *   mac1 = HMAC-SHA256(key = SHA-256("wiremesh/mac1/v1" ‖ receiver wgPublicKey), packet without mac1)[0 … 16]
 *
 * It proves only that the sender knows the receiver's public key (from an invite), and lets
 * the receiver drop a scan or a stray packet before spending an X25519 on it. Deviation:
 * WireGuard uses keyed BLAKE2s, which `node:crypto` lacks; truncated HMAC-SHA256 gives the
 * same 128-bit MAC with what Node has.
 *
 * Cookie: the first reply to a JOIN is a stateless cookie bound to the source address,
 *
 *   cookie = HMAC-SHA256(secret, "wiremesh/cookie/v1" ‖ u8 len ‖ address (utf-8) ‖ u16 port BE)[0 … 16]
 *
 * where `secret` is 32 random bytes replaced every COOKIE_ROTATE_MS = 120 s by the clock
 * (periods are ⌊now / 120 s⌋). A cookie verifies under the current or the previous secret, so
 * it lives 120–240 s. The reply (a sealed COOKIE packet: 29 + 16 + 16 = 61 bytes) is smaller than any JOIN
 * (85 bytes of header, tag and mac1 before the enroll op), so a spoofed source gets nothing
 * amplified; sync starts only after a JOIN echoing a valid cookie. Nothing is stored per
 * source.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { Clock } from '../clock.js'
import type { Key } from '../identity/key.js'
import type { Random } from '../random.js'

export const MAC_BYTES = 16
export const COOKIE_BYTES = 16
export const COOKIE_ROTATE_MS = 120_000
const MAC1_LABEL = Buffer.from('wiremesh/mac1/v1')
const COOKIE_LABEL = Buffer.from('wiremesh/cookie/v1')

/** The mac1 key of a receiver: SHA-256("wiremesh/mac1/v1" ‖ its wgPublicKey). */
export function mac1Key (receiver: Key): Uint8Array {
  return new Uint8Array(createHash('sha256').update(MAC1_LABEL).update(receiver.bytes).digest())
}

/** HMAC-SHA256(mac1Key, bytes) truncated to 16 bytes. */
export function computeMac1 (key: Uint8Array, bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(bytes).digest().subarray(0, MAC_BYTES))
}

/** `packet ‖ mac1(packet)`, a new array. */
export function appendMac1 (key: Uint8Array, packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(packet.length + MAC_BYTES)
  out.set(packet)
  out.set(computeMac1(key, packet), packet.length)
  return out
}

/** Whether the last 16 bytes of `packet` are the mac1 of the rest (constant-time compare). */
export function verifyMac1 (key: Uint8Array, packet: Uint8Array): boolean {
  if (packet.length < MAC_BYTES) return false
  const body = packet.subarray(0, packet.length - MAC_BYTES)
  return timingSafeEqual(computeMac1(key, body), packet.subarray(packet.length - MAC_BYTES))
}

export interface CookieComponents { clock: Clock, random: Random }
export interface CookieInit {
  /** How often the secret is replaced; a cookie lives one to two periods. Default 120 s. */
  rotateMs?: number
}

/** Makes and checks cookies for one listening node. */
export class CookieIssuer {
  readonly rotateMs: number
  private readonly clock: Clock
  private readonly random: Random
  private period = Number.NaN
  private current: Uint8Array = new Uint8Array(0)
  private previous: Uint8Array | undefined

  constructor (components: CookieComponents, init: CookieInit = {}) {
    this.clock = components.clock
    this.random = components.random
    this.rotateMs = init.rotateMs ?? COOKIE_ROTATE_MS
  }

  /** The cookie for a source address (an IP literal) and UDP port, under the current secret. */
  makeCookie (address: string, port: number): Uint8Array {
    this.rotate()
    return cookieMac(this.current, address, port)
  }

  /** Whether `cookie` was made for this address and port within the last one to two periods. */
  verifyCookie (cookie: Uint8Array, address: string, port: number): boolean {
    this.rotate()
    if (cookie.length !== COOKIE_BYTES) return false
    if (timingSafeEqual(cookieMac(this.current, address, port), cookie)) return true
    return this.previous !== undefined && timingSafeEqual(cookieMac(this.previous, address, port), cookie)
  }

  private rotate (): void {
    const period = Math.floor(this.clock.now() / this.rotateMs)
    if (period === this.period) return
    this.previous = period === this.period + 1 ? this.current : undefined
    this.current = this.random.bytes(32)
    this.period = period
  }
}

/** `issuer.verifyCookie(cookie, address, port)`. */
export function verifyCookie (issuer: CookieIssuer, cookie: Uint8Array, address: string, port: number): boolean {
  return issuer.verifyCookie(cookie, address, port)
}

function cookieMac (secret: Uint8Array, address: string, port: number): Uint8Array {
  const addr = Buffer.from(address, 'utf8')
  const tail = Buffer.from([addr.length & 0xff, (port >>> 8) & 0xff, port & 0xff])
  const h = createHmac('sha256', secret).update(COOKIE_LABEL).update(tail.subarray(0, 1)).update(addr).update(tail.subarray(1))
  return new Uint8Array(h.digest().subarray(0, COOKIE_BYTES))
}
