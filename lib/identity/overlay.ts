/**
 * Overlay addresses: `prefix/48 ‖ first 80 bits of SHA-256("wiremesh/addr/v1" ‖ orgId ‖ wgPublicKey)`
 * as a /128. Every node derives every address itself, so there is no allocator to agree on.
 */
import { hash } from 'node:crypto'
import { InvalidConfigError } from '../errors.js'
import type { Key } from './key.js'

const ADDR_DOMAIN = Buffer.from('wiremesh/addr/v1')

/** 16 bytes of the node's overlay address. `prefix` is the org's 6-byte /48. */
export function overlayAddressBytes (prefix: Uint8Array, orgId: Uint8Array, wgPublicKey: Key): Uint8Array {
  if (prefix.length !== 6) throw new InvalidConfigError(`org prefix must be 6 bytes, got ${prefix.length}`)
  const h = hash('sha256', Buffer.concat([ADDR_DOMAIN, orgId, wgPublicKey.bytes]), 'buffer')
  const out = new Uint8Array(16)
  out.set(prefix, 0)
  out.set(h.subarray(0, 10), 6)
  return out
}

/** An IPv6 address in its canonical text form (RFC 5952: lowercase, longest zero run as `::`). */
export function formatIpv6 (b: Uint8Array): string {
  const groups = new Array<number>(8)
  for (let i = 0; i < 8; i++) groups[i] = (b[2 * i] << 8) | b[2 * i + 1]
  return formatGroups(groups)
}

function formatGroups (groups: number[]): string {
  let bestAt = -1; let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) { bestAt = i; bestLen = j - i }
    i = j
  }
  // Joined from parts, not concatenated: one flat string rather than a rope of pieces.
  const parts: string[] = []
  const end = bestAt < 0 ? 8 : bestAt
  for (let i = 0; i < end; i++) parts.push(hex16(groups[i]))
  if (bestAt >= 0) {
    if (bestAt === 0) parts.push('')
    parts.push('')
    if (bestAt + bestLen === 8) parts.push('')
    for (let i = bestAt + bestLen; i < 8; i++) parts.push(hex16(groups[i]))
  }
  return parts.join(':')
}

/** Hex of every byte, without and with a leading zero. */
const HEX1 = Array.from({ length: 256 }, (_, i) => i.toString(16))
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

function hex16 (g: number): string { return g > 0xff ? HEX1[g >> 8] + HEX2[g & 0xff] : HEX1[g] }

/**
 * Addresses in one org, fast: `hashKey(key)` is the 80-bit hash part of the key's address as a
 * string (one char per byte; the prefix is the same for every member, so it is what tells two
 * addresses apart), and `format(hashKey)` the address text. No allocation beyond the strings.
 */
export class OverlayHasher {
  private readonly scratch: Uint8Array
  private readonly keyAt: number

  constructor (readonly prefix: Uint8Array, orgId: Uint8Array) {
    if (prefix.length !== 6) throw new InvalidConfigError(`org prefix must be 6 bytes, got ${prefix.length}`)
    this.keyAt = ADDR_DOMAIN.length + orgId.length
    this.scratch = new Uint8Array(this.keyAt + 32)
    this.scratch.set(ADDR_DOMAIN, 0)
    this.scratch.set(orgId, ADDR_DOMAIN.length)
  }

  hashKey (wgPublicKey: Key): string {
    const k = wgPublicKey.mapKey
    for (let i = 0; i < 32; i++) this.scratch[this.keyAt + i] = k.charCodeAt(i)
    return hash('sha256', this.scratch, 'binary').slice(0, 10)
  }

  format (hashKey: string): string {
    const p = this.prefix
    const groups = [(p[0] << 8) | p[1], (p[2] << 8) | p[3], (p[4] << 8) | p[5], 0, 0, 0, 0, 0]
    for (let i = 0; i < 5; i++) groups[3 + i] = (hashKey.charCodeAt(2 * i) << 8) | hashKey.charCodeAt(2 * i + 1)
    return formatGroups(groups)
  }
}

export function overlayAddress (prefix: Uint8Array, orgId: Uint8Array, wgPublicKey: Key): string {
  return formatIpv6(overlayAddressBytes(prefix, orgId, wgPublicKey))
}

/** The org's /48 in CIDR form, e.g. `fd12:3456:789a::/48`. */
export function formatPrefix (prefix: Uint8Array): string {
  const b = new Uint8Array(16)
  b.set(prefix)
  return `${formatIpv6(b)}/48`
}

/** A random RFC 4193 prefix: `fd` then 40 random bits. */
export function randomUlaPrefix (random: (n: number) => Uint8Array): Uint8Array {
  const p = new Uint8Array(6)
  p[0] = 0xfd
  p.set(random(5), 1)
  return p
}
