/**
 * A UDP endpoint, `{ host, port }`, and its text form:
 *
 *   192.0.2.7:7946          IPv4
 *   [2001:db8::7]:7946      IPv6, always bracketed (a bare `::1:7946` is ambiguous)
 *   [fe80::1%eth0]:7946     IPv6 with a zone
 *   lighthouse.example:7946 a host name (resolved by the transport that sends to it)
 *
 * `endpoint()` and `parseEndpoint()` return a normalised value — IPv6 compressed and
 * lowercase, an IPv4-mapped IPv6 address (`::ffff:192.0.2.7`, what a dual-stack socket
 * reports) turned back into IPv4, names lowercase — so `formatEndpoint()` is a usable map
 * key and two spellings of one address compare equal. Bad input throws
 * `InvalidEndpointError`; inbound data must be parsed through here, never trusted.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { InvalidEndpointError } from './errors.js'

export interface Endpoint {
  readonly host: string
  readonly port: number
}

/** RFC 1035 §2.3.4: a name is at most 253 characters (in text form), a label at most 63. */
const MAX_HOSTNAME_CHARS = 253
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
/** A string longer than this is not an endpoint; checked before any parsing. */
const MAX_ENDPOINT_CHARS = 300

/** IPv6 zone ids (`%eth0`) are interface names or numbers; keep them short and plain. */
const ZONE = /^[A-Za-z0-9_.-]{1,64}$/

/**
 * A validated, normalised endpoint. `port` must be in [1, 65535] (0 means "any port" only
 * when binding, which transports take as a separate option).
 */
export function endpoint (host: string, port: number): Endpoint {
  return { host: normalizeHost(host), port: checkPort(port, host) }
}

/** Parses `host:port` or `[v6]:port`. */
export function parseEndpoint (text: string): Endpoint {
  if (typeof text !== 'string') throw new InvalidEndpointError(`endpoint must be a string, got ${typeof text}`)
  if (text.length > MAX_ENDPOINT_CHARS) throw new InvalidEndpointError(`endpoint is longer than ${MAX_ENDPOINT_CHARS} characters`)
  let host: string
  let portText: string
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0) throw new InvalidEndpointError(`endpoint ${JSON.stringify(text)} has no closing bracket`)
    host = text.slice(1, close)
    if (text[close + 1] !== ':') throw new InvalidEndpointError(`endpoint ${JSON.stringify(text)} has no port after the bracketed address`)
    portText = text.slice(close + 2)
    if (!isIPv6(host)) throw new InvalidEndpointError(`endpoint ${JSON.stringify(text)}: only an IPv6 address may be bracketed`)
  } else {
    const colon = text.lastIndexOf(':')
    if (colon < 0) throw new InvalidEndpointError(`endpoint ${JSON.stringify(text)} has no port`)
    host = text.slice(0, colon)
    portText = text.slice(colon + 1)
    if (host.includes(':')) throw new InvalidEndpointError(`endpoint ${JSON.stringify(text)}: an IPv6 address must be bracketed, as [addr]:port`)
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw new InvalidEndpointError(`endpoint ${JSON.stringify(text)} has a bad port ${JSON.stringify(portText)}`)
  return endpoint(host, Number(portText))
}

/** `host:port`, or `[host]:port` for IPv6. The inverse of `parseEndpoint`. */
export function formatEndpoint (e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`
}

export function endpointsEqual (a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && a.host === b.host
}

/** 4 for an IPv4 address, 6 for IPv6, 0 for a host name. */
export function hostFamily (host: string): 0 | 4 | 6 {
  return isIPv4(host) ? 4 : isIPv6(host) ? 6 : 0
}

function checkPort (port: number, host: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidEndpointError(`port for ${JSON.stringify(host)} must be an integer in [1, 65535], got ${String(port)}`)
  }
  return port
}

/** Normalises an IPv4/IPv6 address or host name; throws `InvalidEndpointError` otherwise. */
export function normalizeHost (host: string): string {
  if (typeof host !== 'string' || host === '') throw new InvalidEndpointError('host must be a non-empty string')
  if (host.length > MAX_HOSTNAME_CHARS) throw new InvalidEndpointError(`host is longer than ${MAX_HOSTNAME_CHARS} characters`)
  if (isIPv4(host)) return host
  if (isIPv6(host)) {
    const pct = host.indexOf('%')
    const zone = pct < 0 ? '' : host.slice(pct + 1)
    if (pct >= 0 && !ZONE.test(zone)) throw new InvalidEndpointError(`host ${JSON.stringify(host)} has a bad zone id`)
    // The WHATWG URL parser compresses and lowercases (RFC 5952); it does not take zones.
    const canonical = new URL(`udp://[${pct < 0 ? host : host.slice(0, pct)}]`).hostname.slice(1, -1)
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical)
    if (mapped !== null && pct < 0) {
      const hi = parseInt(mapped[1], 16)
      const lo = parseInt(mapped[2], 16)
      return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
    }
    return pct < 0 ? canonical : `${canonical}%${zone}`
  }
  const name = host.toLowerCase().replace(/\.$/, '')
  const labels = name.split('.')
  // An all-numeric last label would be a mistyped IPv4 address (`10.0.0.256`), not a name.
  if (labels.some(l => !LABEL.test(l)) || /^[0-9]+$/.test(labels[labels.length - 1])) {
    throw new InvalidEndpointError(`host ${JSON.stringify(host)} is neither an IP address nor a valid host name`)
  }
  return name
}
