/**
 * IP prefixes and endpoints in the one text form every backend reads and writes.
 *
 * Why canonical text: the reconciler compares the allowed IPs it wants with the ones a backend
 * read back, as strings. The kernel gives bytes (netlink), wireguard-go gives Go's text
 * (UAPI), `wg show` gives glibc's `inet_ntop` text (`::ffff:1.2.3.4`); all three go through
 * `formatCidr`, so equal prefixes are equal strings whichever backend read them.
 *
 * Forms:
 *   IPv4   dotted quad, decimal, no leading zeros (`010.1.1.1` is refused: glibc's
 *          `inet_pton` refuses it too, while older `inet_aton` reads it as octal)
 *   IPv6   RFC 4291 text on input (`::`, a trailing dotted quad, any case); RFC 5952 on
 *          output (lowercase, no leading zeros, the longest run of two or more zero groups
 *          as `::`, the first one on a tie) — `formatIpv6` from identity/overlay.ts
 *   CIDR   `ADDR/PREFIX`, the prefix decimal without leading zeros. Host bits must be zero:
 *          WireGuard would mask `10.1.2.3/8` to `10.0.0.0/8` silently, and a reconciler
 *          that wrote the first would read the second and rewrite it forever.
 *   endpoint `1.2.3.4:51820`, `[fd00::1]:51820`; IP literals only (UAPI takes no names).
 *          A link-local IPv6 endpoint may carry a zone (`[fe80::1%eth0]:51820`), as the
 *          kernel and wireguard-go report one; it is kept verbatim.
 *
 * Every malformed input is an `InvalidConfigError`; the device parsers (uapi-codec.ts,
 * wg-cli.ts) turn it into a `WireGuardProtocolError` with the line number.
 */
import { InvalidConfigError } from '../errors.js'
import { formatIpv6 } from '../identity/overlay.js'
import type { WgEndpoint } from './backend.js'

export type IpFamily = 4 | 6

export interface IpAddress {
  family: IpFamily
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array
}

export interface Cidr extends IpAddress {
  /** 0–32 for IPv4, 0–128 for IPv6. */
  prefix: number
}

/** Longer input is refused before any parsing (the longest IPv6 CIDR text is 49 characters). */
export const MAX_CIDR_TEXT = 64
/** `[` + 45 (IPv6 with dotted quad) + `%` + 15 (IFNAMSIZ − 1) + `]:65535`. */
export const MAX_ENDPOINT_TEXT = 72
/** Zone ids as interface names: Linux's IFNAMSIZ is 16 with the NUL. */
const ZONE_RE = /^[A-Za-z0-9_.-]{1,15}$/
const DEC_RE = /^(0|[1-9][0-9]{0,4})$/
const HEX_GROUP_RE = /^[0-9A-Fa-f]{1,4}$/

function invalid (what: string, text: string): InvalidConfigError {
  return new InvalidConfigError(`invalid ${what}: ${JSON.stringify(text.length > MAX_ENDPOINT_TEXT ? text.slice(0, MAX_ENDPOINT_TEXT) + '…' : text)}`)
}

/** A decimal in [0, max] without leading zeros, or -1. */
function decimal (s: string, max: number): number {
  if (!DEC_RE.test(s)) return -1
  const n = Number(s)
  return n <= max ? n : -1
}

/** Four octets into `out` at `at`; false when `s` is not a dotted quad. */
function parseIpv4Into (s: string, out: Uint8Array, at: number): boolean {
  const parts = s.split('.')
  if (parts.length !== 4) return false
  for (let i = 0; i < 4; i++) {
    const n = decimal(parts[i], 255)
    if (n < 0 || parts[i].length > 3) return false
    out[at + i] = n
  }
  return true
}

function parseIpv6 (s: string): Uint8Array | undefined {
  const out = new Uint8Array(16)
  const halves = s.split('::')
  if (halves.length > 2) return undefined
  const side = (t: string): string[] => t === '' ? [] : t.split(':')
  const head = side(halves[0])
  const tail = halves.length === 2 ? side(halves[1]) : []
  // A trailing dotted quad is the last two groups.
  const all = halves.length === 2 ? tail : head
  let quad: string | undefined
  if (all.length > 0 && all[all.length - 1].includes('.')) quad = all.pop()
  const groups = head.length + tail.length + (quad !== undefined ? 2 : 0)
  if (halves.length === 2 ? groups > 7 : groups !== 8) return undefined
  const put = (list: string[], at: number): boolean => {
    for (let i = 0; i < list.length; i++) {
      if (!HEX_GROUP_RE.test(list[i])) return false
      const g = parseInt(list[i], 16)
      out[at + 2 * i] = g >> 8
      out[at + 2 * i + 1] = g & 0xff
    }
    return true
  }
  if (!put(head, 0)) return undefined
  const tailAt = 16 - 2 * tail.length - (quad !== undefined ? 4 : 0)
  if (halves.length === 2 && !put(tail, tailAt)) return undefined
  if (quad !== undefined && !parseIpv4Into(quad, out, 12)) return undefined
  return out
}

/** An IPv4 or IPv6 literal (no brackets, no zone, no prefix). */
export function parseIp (text: string): IpAddress {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_CIDR_TEXT) throw invalid('ip address', String(text))
  if (text.includes(':')) {
    const b = parseIpv6(text)
    if (b === undefined) throw invalid('ipv6 address', text)
    return { family: 6, bytes: b }
  }
  const b = new Uint8Array(4)
  if (!parseIpv4Into(text, b, 0)) throw invalid('ipv4 address', text)
  return { family: 4, bytes: b }
}

/** Canonical text of an address: dotted quad, or RFC 5952 IPv6. */
export function formatIp (addr: IpAddress): string {
  const { family, bytes } = addr
  if (family === 4 && bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`
  if (family === 6 && bytes.length === 16) return formatIpv6(bytes)
  throw new InvalidConfigError(`ip address of family ${String(family)} must be ${family === 4 ? 4 : 16} bytes, got ${bytes?.length}`)
}

/** True when every bit after `prefix` is zero. */
function hostBitsZero (bytes: Uint8Array, prefix: number): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i))
    const mask = keep === 8 ? 0xff : (0xff << (8 - keep)) & 0xff
    if ((bytes[i] & ~mask & 0xff) !== 0) return false
  }
  return true
}

/** `ADDR/PREFIX`; throws `InvalidConfigError` when malformed or when host bits are set. */
export function parseCidr (text: string): Cidr {
  if (typeof text !== 'string' || text.length > MAX_CIDR_TEXT) throw invalid('cidr', String(text))
  const slash = text.indexOf('/')
  if (slash < 0) throw invalid('cidr (no /prefix)', text)
  const addr = parseIp(text.slice(0, slash))
  const prefix = decimal(text.slice(slash + 1), addr.family === 4 ? 32 : 128)
  if (prefix < 0) throw invalid(`cidr prefix (must be 0–${addr.family === 4 ? 32 : 128})`, text)
  if (!hostBitsZero(addr.bytes, prefix)) throw invalid('cidr (host bits set after the prefix)', text)
  return { family: addr.family, bytes: addr.bytes, prefix }
}

/** Canonical text of a prefix; throws when the prefix is out of range or host bits are set. */
export function formatCidr (cidr: Cidr): string {
  const max = cidr.family === 4 ? 32 : 128
  if (!Number.isInteger(cidr.prefix) || cidr.prefix < 0 || cidr.prefix > max) throw new InvalidConfigError(`cidr prefix must be an integer in [0, ${max}], got ${String(cidr.prefix)}`)
  const ip = formatIp(cidr)
  if (!hostBitsZero(cidr.bytes, cidr.prefix)) throw new InvalidConfigError(`invalid cidr (host bits set after the prefix): ${ip}/${cidr.prefix}`)
  return `${ip}/${cidr.prefix}`
}

/** `parseCidr` then `formatCidr`: `FD00:0::1/128` → `fd00::1/128`. */
export function canonicalCidr (text: string): string {
  return formatCidr(parseCidr(text))
}

/** `host:port` or `[v6]:port` (IP literals only); the host comes back canonical. */
export function parseEndpoint (text: string): WgEndpoint {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_ENDPOINT_TEXT) throw invalid('endpoint', String(text))
  let host: string
  let portText: string
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0 || text[close + 1] !== ':') throw invalid('endpoint (expected [ipv6]:port)', text)
    host = text.slice(1, close)
    portText = text.slice(close + 2)
    let zone: string | undefined
    const pct = host.indexOf('%')
    if (pct >= 0) {
      zone = host.slice(pct + 1)
      host = host.slice(0, pct)
      if (!ZONE_RE.test(zone)) throw invalid('endpoint zone', text)
    }
    const b = host.includes(':') ? parseIpv6(host) : undefined
    if (b === undefined) throw invalid('endpoint ipv6 address', text)
    host = formatIpv6(b) + (zone !== undefined ? `%${zone}` : '')
  } else {
    const colon = text.lastIndexOf(':')
    if (colon < 0 || text.indexOf(':') !== colon) throw invalid('endpoint (expected ipv4:port or [ipv6]:port)', text)
    const b = new Uint8Array(4)
    if (!parseIpv4Into(text.slice(0, colon), b, 0)) throw invalid('endpoint ipv4 address', text)
    host = formatIp({ family: 4, bytes: b })
    portText = text.slice(colon + 1)
  }
  const port = decimal(portText, 65535)
  if (port < 0) throw invalid('endpoint port (must be 0–65535)', text)
  return { host, port }
}

/** `1.2.3.4:51820` or `[fd00::1]:51820`; the host is checked and written canonically. */
export function formatEndpoint (ep: WgEndpoint): string {
  if (!Number.isInteger(ep.port) || ep.port < 0 || ep.port > 65535) throw new InvalidConfigError(`endpoint port must be an integer in [0, 65535], got ${String(ep.port)}`)
  const host = typeof ep.host === 'string' ? ep.host : ''
  const text = host.includes(':') ? `[${host}]:${ep.port}` : `${host}:${ep.port}`
  const canon = parseEndpoint(text)
  return canon.host.includes(':') ? `[${canon.host}]:${canon.port}` : `${canon.host}:${canon.port}`
}

/** The canonical form of an endpoint (the host rewritten as `formatIp` prints it). */
export function canonicalEndpoint (ep: WgEndpoint): WgEndpoint {
  return parseEndpoint(formatEndpoint(ep))
}
