/**
 * The parser of `wg show IFACE dump` (wireguard-tools `show.c`, `dump_print`): tab-separated,
 * one line per object, every line ended by `\n`.
 *
 *   line 1   private-key  public-key  listen-port  fwmark
 *   peers    public-key  preshared-key  endpoint  allowed-ips  latest-handshake  rx  tx  keepalive
 *
 * Keys are base64 (44 characters) or `(none)`; fwmark is `off` or `0x…` (lowercase hex, as
 * `printf("0x%x")`); endpoint `(none)`, `a.b.c.d:port` or `[v6]:port`; allowed-ips `(none)`
 * or a comma list; latest-handshake whole seconds since the epoch (0 = never); keepalive
 * `off` or seconds.
 *
 * Exact like the UAPI parser (uapi-codec.ts): a wrong field count, a bad value, a peer twice,
 * a missing final newline — each a `WireGuardProtocolError` with `at` the 1-based line;
 * nothing else is thrown.
 */
import { WireGuardProtocolError } from '../errors.js'
import { Key } from '../identity/key.js'
import type { DeviceState, WgPeer } from './backend.js'
import { canonicalCidr, parseEndpoint } from './cidr.js'

const B64_KEY_RE = /^[A-Za-z0-9+/]{43}=$/
const UINT_RE = /^(0|[1-9][0-9]*)$/
const HEX_RE = /^0x[0-9a-f]{1,8}$/
const NONE = '(none)'
/** A dump line longer than this is malformed (a peer with ~10,000 allowed IPs is 500 KB). */
export const MAX_DUMP_LINE_CHARS = 1 << 20

export function parseDump (text: string): DeviceState {
  let line = 0
  const fail = (msg: string, cause?: unknown): never => {
    throw new WireGuardProtocolError(`wg show dump, line ${line}: ${msg}`, { at: line, cause })
  }
  const uint = (v: string, max: number, what: string): number => {
    if (v.length > 20 || !UINT_RE.test(v)) fail(`${what}: expected an unsigned integer, got ${JSON.stringify(v.slice(0, 40))}`)
    const n = Number(v)
    if (n > max) fail(`${what}: ${v} is above ${max}`)
    return n
  }
  const key = (v: string, what: string): Key => {
    if (!B64_KEY_RE.test(v)) fail(`${what}: expected a base64 key, got ${JSON.stringify(v.slice(0, 60))}`)
    const k = Key.fromBase64(v)
    // Base64 whose last character carries bits beyond the 32 bytes does not round-trip.
    if (k.toBase64() !== v) fail(`${what}: non-canonical base64`)
    return k
  }
  if (typeof text !== 'string') fail('not text')
  const lines = text.split('\n')
  if (lines.length < 2 || lines[lines.length - 1] !== '') {
    line = lines.length
    fail('output does not end with a newline')
  }
  const n = lines.length - 1
  line = 1
  const head = lines[0].split('\t')
  if (lines[0].length > MAX_DUMP_LINE_CHARS || head.length !== 4) fail(`interface line needs 4 tab-separated fields, got ${head.length}`)
  const state: DeviceState = { publicKey: undefined, listenPort: 0, fwmark: 0, peers: [] }
  if (head[0] !== NONE) key(head[0], 'private key')
  if (head[1] !== NONE) state.publicKey = key(head[1], 'public key')
  else if (head[0] !== NONE) fail('private key without a public key')
  state.listenPort = uint(head[2], 65535, 'listen port')
  if (head[3] !== 'off') {
    if (!HEX_RE.test(head[3])) fail(`fwmark: expected off or 0x…, got ${JSON.stringify(head[3].slice(0, 40))}`)
    state.fwmark = parseInt(head[3].slice(2), 16)
    if (state.fwmark === 0) fail('fwmark 0x0 is printed as off')
  }
  const seen = new Set<string>()
  for (let i = 1; i < n; i++) {
    line = i + 1
    const l = lines[i]
    if (l.length > MAX_DUMP_LINE_CHARS) fail(`line longer than ${MAX_DUMP_LINE_CHARS} characters`)
    const f = l.split('\t')
    if (f.length !== 8) fail(`peer line needs 8 tab-separated fields, got ${f.length}`)
    const peer: WgPeer = {
      publicKey: key(f[0], 'peer public key'),
      hasPresharedKey: false,
      endpoint: undefined,
      allowedIps: [],
      persistentKeepaliveS: 0,
      lastHandshakeMs: 0,
      rxBytes: 0,
      txBytes: 0
    }
    if (seen.has(peer.publicKey.mapKey)) fail('peer listed twice')
    seen.add(peer.publicKey.mapKey)
    if (f[1] !== NONE) { key(f[1], 'preshared key'); peer.hasPresharedKey = true }
    if (f[2] !== NONE) {
      try {
        peer.endpoint = parseEndpoint(f[2])
      } catch (err) {
        fail(`bad endpoint ${JSON.stringify(f[2].slice(0, 60))}`, err)
      }
    }
    if (f[3] !== NONE) {
      for (const c of f[3].split(',')) {
        let cidr = ''
        try {
          cidr = canonicalCidr(c)
        } catch (err) {
          fail(`bad allowed ip ${JSON.stringify(c.slice(0, 60))}`, err)
        }
        if (peer.allowedIps.includes(cidr)) fail(`allowed ip ${cidr} twice`)
        peer.allowedIps.push(cidr)
      }
    }
    peer.lastHandshakeMs = uint(f[4], Math.floor(Number.MAX_SAFE_INTEGER / 1000), 'latest handshake') * 1000
    peer.rxBytes = uint(f[5], Number.MAX_SAFE_INTEGER, 'rx bytes')
    peer.txBytes = uint(f[6], Number.MAX_SAFE_INTEGER, 'tx bytes')
    if (f[7] !== 'off') {
      peer.persistentKeepaliveS = uint(f[7], 65535, 'persistent keepalive')
      if (peer.persistentKeepaliveS === 0) fail('persistent keepalive 0 is printed as off')
    }
    state.peers.push(peer)
  }
  return state
}
