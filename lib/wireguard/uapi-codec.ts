/**
 * The WireGuard cross-platform userspace API (https://www.wireguard.com/xplatform/), as
 * wireguard-go and boringtun speak it on /var/run/wireguard/IFACE.sock: `key=value` lines,
 * a request ended by a blank line, every reply ended by `errno=N` and a blank line.
 *
 *   get=1\n\n                         →  private_key=HEX\n listen_port=N\n fwmark=N\n
 *                                         public_key=HEX\n   (starts a peer)
 *                                         preshared_key=HEX\n protocol_version=1\n endpoint=IP:PORT\n
 *                                         last_handshake_time_sec=N\n last_handshake_time_nsec=N\n
 *                                         tx_bytes=N\n rx_bytes=N\n persistent_keepalive_interval=N\n
 *                                         allowed_ip=CIDR\n …
 *                                         errno=0\n\n
 *   set=1\n private_key=HEX\n … \n     →  errno=N\n\n
 *
 * The parser is exact: every line is checked, a known key with a bad value, a device key after
 * the first peer, a peer key before any `public_key`, a key twice in one section, a peer
 * twice, a missing or misplaced `errno`, anything after the final blank line — each is a
 * `WireGuardProtocolError` with `at` the 1-based line number; nothing else is ever thrown.
 * Unknown keys are ignored (newer implementations add some). An all-zero `preshared_key` is
 * "none" (wireguard-go prints it for every peer). Hex is 64 digits, either case.
 *
 * wireguard-go writes errno as a negative number (`errno=-22`); `errno` here is its absolute
 * value, the POSIX number (22 = EINVAL), as the kernel's netlink errors are reported.
 */
import { InvalidConfigError, WireGuardProtocolError } from '../errors.js'
import { Key } from '../identity/key.js'
import { wgKeyPairFromPrivate } from '../identity/wg-key.js'
import { toHex } from '../util/bytes.js'
import type { DeviceChange, DeviceState, WgEndpoint, WgPeer } from './backend.js'
import { canonicalCidr, formatEndpoint, parseEndpoint } from './cidr.js'

/** A reply line longer than this is malformed (the longest known line is ~80 characters). */
export const MAX_UAPI_LINE_CHARS = 4096
/** The only protocol version there is. */
export const UAPI_PROTOCOL_VERSION = 1

export interface GetReply {
  /** 0 on success, else the POSIX errno (absolute value of what the device sent). */
  errno: number
  /** The device as listed before `errno` (empty when the device sent only an errno). */
  device: DeviceState
}

const HEX64_RE = /^[0-9a-fA-F]{64}$/
const KEY_RE = /^[a-z0-9_]+$/
const UINT_RE = /^(0|[1-9][0-9]*)$/
const INT_RE = /^-?(0|[1-9][0-9]*)$/
const ZERO_HEX = '0'.repeat(64)

const DEVICE_KEYS = new Set(['private_key', 'listen_port', 'fwmark'])
const PEER_KEYS = new Set([
  'preshared_key', 'protocol_version', 'endpoint', 'last_handshake_time_sec', 'last_handshake_time_nsec',
  'rx_bytes', 'tx_bytes', 'persistent_keepalive_interval'
])

/**
 * Texts already checked, to their parsed value: a resync reads the same keys, prefixes and
 * endpoints every time, and checking them again was most of a 1,000-peer parse. Bounded:
 * cleared when full.
 */
const MAX_MEMO = 1 << 16
const keyMemo = new Map<string, Key>()
const cidrMemo = new Map<string, string>()
const endpointMemo = new Map<string, WgEndpoint>()
function memo<V> (m: Map<string, V>, k: string, make: () => V): V {
  let v = m.get(k)
  if (v === undefined) {
    v = make()
    if (m.size >= MAX_MEMO) m.clear()
    m.set(k, v)
  }
  return v
}

/** The last private key seen and its public key: `read()` every resync sees the same one. */
let lastPrivateHex = ''
let lastPublicKey: Key | undefined

function publicFromPrivateHex (hex: string): Key | undefined {
  const h = hex.toLowerCase()
  if (h === ZERO_HEX) return undefined
  if (h !== lastPrivateHex) {
    lastPublicKey = wgKeyPairFromPrivate(new Uint8Array(Buffer.from(h, 'hex'))).publicKey
    lastPrivateHex = h
  }
  return lastPublicKey
}

/** Parses a `get=1` reply (the text up to and including its final blank line). */
export function parseGetReply (text: string): GetReply {
  let line = 0
  const fail = (msg: string, cause?: unknown): never => {
    throw new WireGuardProtocolError(`uapi get reply, line ${line}: ${msg}`, { at: line, cause })
  }
  const uint = (v: string, max: number): number => {
    if (v.length > 20 || !UINT_RE.test(v)) fail(`expected an unsigned integer, got ${JSON.stringify(v.slice(0, 40))}`)
    const n = Number(v)
    if (n > max) fail(`${v} is above ${max}`)
    return n
  }
  if (typeof text !== 'string') fail('not text')
  const lines = text.split('\n')
  // A complete reply ends `errno=N\n\n`: the split leaves two empty strings at the end.
  if (lines.length < 3 || lines[lines.length - 1] !== '' || lines[lines.length - 2] !== '') {
    line = lines.length
    fail('reply does not end with a blank line')
  }
  const state: DeviceState = { publicKey: undefined, listenPort: 0, fwmark: 0, peers: [] }
  const deviceSeen = new Set<string>()
  let peerSeen = new Set<string>()
  const peerKeys = new Set<string>()
  let peer: WgPeer | undefined
  let hsSec = 0; let hsNsec = 0
  const endPeer = (): void => {
    if (peer === undefined) return
    peer.lastHandshakeMs = hsSec * 1000 + Math.floor(hsNsec / 1e6)
    state.peers.push(peer)
  }
  let errno: number | undefined
  const last = lines.length - 2 // index of the final empty line
  for (let i = 0; i < last; i++) {
    line = i + 1
    const l = lines[i]
    if (errno !== undefined) fail('line after errno')
    if (l.length > MAX_UAPI_LINE_CHARS) fail(`line longer than ${MAX_UAPI_LINE_CHARS} characters`)
    const eq = l.indexOf('=')
    if (eq <= 0) fail(l === '' ? 'blank line before errno' : 'expected key=value')
    const key = l.slice(0, eq)
    const v = l.slice(eq + 1)
    if (!KEY_RE.test(key)) fail(`bad key ${JSON.stringify(key.slice(0, 40))}`)
    if (key === 'errno') {
      if (v.length > 11 || !INT_RE.test(v)) fail(`bad errno ${JSON.stringify(v.slice(0, 40))}`)
      errno = Math.abs(Number(v))
      continue
    }
    if (key === 'public_key') {
      const pk = keyMemo.get(v) ?? (HEX64_RE.test(v) ? memo(keyMemo, v, () => Key.fromBytes(new Uint8Array(Buffer.from(v, 'hex')))) : fail('public_key must be 64 hex digits'))
      endPeer()
      if (peerKeys.has(pk.mapKey)) fail('peer listed twice')
      peerKeys.add(pk.mapKey)
      peer = { publicKey: pk, hasPresharedKey: false, endpoint: undefined, allowedIps: [], persistentKeepaliveS: 0, lastHandshakeMs: 0, rxBytes: 0, txBytes: 0 }
      peerSeen = new Set()
      hsSec = 0; hsNsec = 0
      continue
    }
    if (DEVICE_KEYS.has(key)) {
      if (peer !== undefined) fail(`device key ${key} after the first peer`)
      if (deviceSeen.has(key)) fail(`${key} twice`)
      deviceSeen.add(key)
      if (key === 'private_key') {
        if (!HEX64_RE.test(v)) fail('private_key must be 64 hex digits')
        try {
          state.publicKey = publicFromPrivateHex(v)
        } catch (err) {
          fail('private_key is not a usable x25519 key', err)
        }
      } else if (key === 'listen_port') state.listenPort = uint(v, 65535)
      else state.fwmark = uint(v, 0xffffffff)
      continue
    }
    if (key === 'allowed_ip') {
      const p = peer ?? fail('allowed_ip before any public_key')
      let cidr = ''
      try {
        cidr = memo(cidrMemo, v, () => canonicalCidr(v))
      } catch (err) {
        fail(`bad allowed_ip ${JSON.stringify(v.slice(0, 60))}`, err)
      }
      if (p.allowedIps.includes(cidr)) fail(`allowed_ip ${cidr} twice`)
      p.allowedIps.push(cidr)
      continue
    }
    if (!PEER_KEYS.has(key)) continue // unknown: ignored, as the protocol asks
    const p = peer ?? fail(`peer key ${key} before any public_key`)
    if (peerSeen.has(key)) fail(`${key} twice for one peer`)
    peerSeen.add(key)
    switch (key) {
      case 'preshared_key':
        if (!HEX64_RE.test(v)) fail('preshared_key must be 64 hex digits')
        p.hasPresharedKey = v !== ZERO_HEX
        break
      case 'protocol_version':
        if (uint(v, 0xffffffff) !== UAPI_PROTOCOL_VERSION) fail(`unsupported protocol_version ${v}`)
        break
      case 'endpoint':
        try {
          p.endpoint = { ...memo(endpointMemo, v, () => parseEndpoint(v)) }
        } catch (err) {
          fail(`bad endpoint ${JSON.stringify(v.slice(0, 60))}`, err)
        }
        break
      // Seconds since the epoch: ms stay exact below 2^53 / 1000 s (year 287,000).
      case 'last_handshake_time_sec': hsSec = uint(v, Math.floor(Number.MAX_SAFE_INTEGER / 1000) - 1); break
      case 'last_handshake_time_nsec': hsNsec = uint(v, 999_999_999); break
      case 'rx_bytes': p.rxBytes = uint(v, Number.MAX_SAFE_INTEGER); break
      case 'tx_bytes': p.txBytes = uint(v, Number.MAX_SAFE_INTEGER); break
      case 'persistent_keepalive_interval': p.persistentKeepaliveS = uint(v, 65535); break
    }
  }
  line = last + 1
  if (errno === undefined) fail('no errno line')
  endPeer()
  return { errno: errno!, device: state }
}

/** Parses the reply to a `set=1`: exactly `errno=N\n\n`; returns the absolute errno. */
export function parseSetReply (text: string): number {
  const m = /^errno=(-?(?:0|[1-9][0-9]{0,9}))\n\n$/.exec(text)
  if (m === null) throw new WireGuardProtocolError(`uapi set reply is not errno=N: ${JSON.stringify(String(text).slice(0, 60))}`, { at: 1 })
  return Math.abs(Number(m[1]))
}

/** The `get=1` request. */
export const GET_REQUEST = 'get=1\n\n'

/**
 * One `set=1` request for the whole change, in the order the device applies it: device
 * settings, `replace_peers`, removals, upserts. The change must have passed `checkChange`
 * (change.ts): values are written as they are. `presharedKey: null` is written as 64 zeros,
 * which the protocol defines as "no preshared key".
 */
export function encodeSetRequest (change: DeviceChange): string {
  const out: string[] = ['set=1']
  if (change.privateKey !== undefined) out.push(`private_key=${toHex(change.privateKey)}`)
  if (change.listenPort !== undefined) out.push(`listen_port=${change.listenPort}`)
  if (change.fwmark !== undefined) out.push(`fwmark=${change.fwmark}`)
  if (change.replacePeers === true) out.push('replace_peers=true')
  for (const k of change.removals ?? []) out.push(`public_key=${toHex(k.bytes)}`, 'remove=true')
  for (const p of change.upserts ?? []) {
    out.push(`public_key=${toHex(p.publicKey.bytes)}`)
    if (p.presharedKey !== undefined) out.push(`preshared_key=${p.presharedKey === null ? ZERO_HEX : toHex(p.presharedKey)}`)
    if (p.endpoint !== undefined) out.push(`endpoint=${formatEndpoint(p.endpoint)}`)
    if (p.persistentKeepaliveS !== undefined) out.push(`persistent_keepalive_interval=${p.persistentKeepaliveS}`)
    if (p.replaceAllowedIps === true) out.push('replace_allowed_ips=true')
    for (const ip of p.allowedIps ?? []) {
      if (ip.includes('\n')) throw new InvalidConfigError('allowed ip contains a newline')
      out.push(`allowed_ip=${ip}`)
    }
  }
  out.push('', '')
  return out.join('\n')
}
