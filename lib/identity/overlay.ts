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
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1])
  let bestAt = -1; let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) { bestAt = i; bestLen = j - i }
    i = j
  }
  const hex = groups.map(g => g.toString(16))
  if (bestAt < 0) return hex.join(':')
  return hex.slice(0, bestAt).join(':') + '::' + hex.slice(bestAt + bestLen).join(':')
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
