/**
 * Random WireGuard devices and the text the real tools print for them (written here, apart
 * from the parsers under test): a `get=1` reply as wireguard-go writes it and a
 * `wg show IFACE dump` as wireguard-tools writes it; plus a text mutator for the fuzz tests.
 */
import { expect } from 'chai'
import type { DeviceState, PeerUpsert, WgPeer } from '../../lib/wireguard/backend.js'
import { canonicalCidr, formatCidr, formatEndpoint } from '../../lib/wireguard/cidr.js'
import { Key } from '../../lib/identity/key.js'
import { generateWgKeyPair, type WgKeyPair } from '../../lib/identity/wg-key.js'
import type { SeededRandom } from '../../lib/random.js'

/** A few key pairs made once: deriving a public key costs more than parsing a reply. */
const PAIRS: WgKeyPair[] = Array.from({ length: 4 }, () => generateWgKeyPair())

export interface GenDevice {
  privateKey: Uint8Array | undefined
  state: DeviceState
  /** Per peer: the preshared key bytes when it has one; handshake nsec. */
  psk: Array<Uint8Array | undefined>
  nsec: number[]
}

function randomCidr (r: SeededRandom): string {
  const v6 = r.int(3) !== 0
  const bytes = r.bytes(v6 ? 16 : 4)
  const max = v6 ? 128 : 32
  const prefix = r.int(4) === 0 ? r.int(max + 1) : max
  for (let bit = prefix; bit < max; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7))
  if (v6 && r.int(2) === 0) for (let i = 4; i < 12; i++) bytes[i] = 0 // zero runs for `::`
  return formatCidr({ family: v6 ? 6 : 4, bytes, prefix })
}

export function randomDevice (r: SeededRandom, maxPeers = 3): GenDevice {
  const pair = r.int(5) === 0 ? undefined : PAIRS[r.int(PAIRS.length)]
  const peers: WgPeer[] = []
  const psk: Array<Uint8Array | undefined> = []
  const nsec: number[] = []
  const used = new Set<string>()
  for (let i = r.int(maxPeers + 1); i > 0; i--) {
    const publicKey = Key.fromBytes(r.bytes(32))
    const ips = new Set<string>()
    for (let j = r.int(4); j > 0; j--) { const c = randomCidr(r); if (!used.has(c)) { used.add(c); ips.add(c) } }
    const v6 = r.int(2) === 0
    const endpoint = r.int(4) === 0
      ? undefined
      : { host: v6 ? formatCidr({ family: 6, bytes: r.bytes(16), prefix: 128 }).slice(0, -4) : [0, 0, 0, 0].map(() => r.int(256)).join('.'), port: r.int(65536) }
    const hs = r.int(3) === 0 ? 0 : 1_600_000_000 + r.int(200_000_000)
    const ns = hs === 0 ? 0 : r.int(1_000_000_000)
    const k = psk.length
    psk.push(r.int(3) === 0 ? r.bytes(32) : undefined)
    nsec.push(ns)
    peers.push({
      publicKey,
      hasPresharedKey: psk[k] !== undefined,
      endpoint,
      allowedIps: [...ips],
      persistentKeepaliveS: r.int(2) === 0 ? 0 : 1 + r.int(65535),
      lastHandshakeMs: hs * 1000 + Math.floor(ns / 1e6),
      rxBytes: r.int(2) === 0 ? 0 : r.int(2 ** 31) * 1000,
      txBytes: r.int(2) === 0 ? 0 : r.int(2 ** 31)
    })
  }
  return {
    privateKey: pair?.privateKey,
    state: { publicKey: pair?.publicKey, listenPort: r.int(65536), fwmark: r.int(3) === 0 ? r.int(2 ** 32) : 0, peers },
    psk,
    nsec
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** As wireguard-go 0.0.20220316 `IpcGetOperation` writes it. */
export function getReplyText (d: GenDevice, errno = 0): string {
  const out: string[] = []
  if (d.privateKey !== undefined) out.push(`private_key=${hex(d.privateKey)}`)
  if (d.state.listenPort !== 0) out.push(`listen_port=${d.state.listenPort}`)
  if (d.state.fwmark !== 0) out.push(`fwmark=${d.state.fwmark}`)
  d.state.peers.forEach((p, i) => {
    out.push(`public_key=${hex(p.publicKey.bytes)}`)
    out.push(`preshared_key=${d.psk[i] === undefined ? '0'.repeat(64) : hex(d.psk[i]!)}`)
    out.push('protocol_version=1')
    if (p.endpoint !== undefined) out.push(`endpoint=${formatEndpoint(p.endpoint)}`)
    out.push(`last_handshake_time_sec=${Math.floor(p.lastHandshakeMs / 1000)}`)
    out.push(`last_handshake_time_nsec=${d.nsec[i]}`)
    out.push(`tx_bytes=${p.txBytes}`, `rx_bytes=${p.rxBytes}`)
    out.push(`persistent_keepalive_interval=${p.persistentKeepaliveS}`)
    for (const ip of p.allowedIps) out.push(`allowed_ip=${ip}`)
  })
  out.push(`errno=${errno === 0 ? 0 : -errno}`, '', '')
  return out.join('\n')
}

/** As wireguard-tools `show.c` `dump_print` writes it (handshake in whole seconds). */
export function dumpText (d: GenDevice): string {
  const b64 = (b: Uint8Array | undefined): string => b === undefined ? '(none)' : Buffer.from(b).toString('base64')
  const out = [[b64(d.privateKey), d.state.publicKey?.toBase64() ?? '(none)', d.state.listenPort, d.state.fwmark === 0 ? 'off' : `0x${d.state.fwmark.toString(16)}`].join('\t')]
  d.state.peers.forEach((p, i) => {
    out.push([
      p.publicKey.toBase64(), b64(d.psk[i]), p.endpoint === undefined ? '(none)' : formatEndpoint(p.endpoint),
      p.allowedIps.length === 0 ? '(none)' : p.allowedIps.join(','), Math.floor(p.lastHandshakeMs / 1000),
      p.rxBytes, p.txBytes, p.persistentKeepaliveS === 0 ? 'off' : p.persistentKeepaliveS
    ].join('\t'))
  })
  return out.join('\n') + '\n'
}

const ALPHABET = '\n\n\t\t==::[]//..,,0123456789abcdefABCDEF-xyz_ %()+=\r\u00e9'
const TOKENS = ['', '0', '-1', '65536', '4294967296', '99999999999999999999999', 'true', '(none)', 'off', '0x0', '0xfffffffff',
  '::', '1.2.3.4', '[::1]:1', '10.0.0.1/8', 'fd00::/129', '0'.repeat(64), 'f'.repeat(63), 'errno=0', 'public_key', 'allowed_ip=', '\n\n']

/** 1–4 edits: a character inserted, deleted or changed, a line dropped, doubled or swapped, a cut, a token. */
export function mutate (r: SeededRandom, text: string): string {
  let s = text
  for (let k = 1 + r.int(4); k > 0; k--) {
    const at = r.int(s.length + 1)
    switch (r.int(8)) {
      case 0: s = s.slice(0, at) + ALPHABET[r.int(ALPHABET.length)] + s.slice(at); break
      case 1: s = s.slice(0, at) + s.slice(at + 1 + r.int(3)); break
      case 2: s = s.slice(0, at) + ALPHABET[r.int(ALPHABET.length)] + s.slice(at + 1); break
      case 3: s = s.slice(0, at); break
      case 4: s = s.slice(0, at) + TOKENS[r.int(TOKENS.length)] + s.slice(at + r.int(8)); break
      default: {
        const lines = s.split('\n')
        const i = r.int(lines.length); const j = r.int(lines.length)
        const op = r.int(3)
        if (op === 0) lines.splice(i, 1)
        else if (op === 1) lines.splice(i, 0, lines[j])
        else [lines[i], lines[j]] = [lines[j], lines[i]]
        s = lines.join('\n')
      }
    }
  }
  return s
}

/** What any successful parse must satisfy, whatever the input was. */
export function expectWellFormed (s: DeviceState): void {
  expect(s.publicKey === undefined || s.publicKey instanceof Key).to.equal(true)
  expect(Number.isInteger(s.listenPort) && s.listenPort >= 0 && s.listenPort <= 65535).to.equal(true)
  expect(Number.isInteger(s.fwmark) && s.fwmark >= 0 && s.fwmark <= 0xffffffff).to.equal(true)
  const keys = new Set<string>()
  for (const p of s.peers) {
    expect(p.publicKey).to.be.instanceOf(Key)
    expect(keys.has(p.publicKey.mapKey)).to.equal(false)
    keys.add(p.publicKey.mapKey)
    for (const ip of p.allowedIps) expect(canonicalCidr(ip)).to.equal(ip)
    expect(new Set(p.allowedIps).size).to.equal(p.allowedIps.length)
    if (p.endpoint !== undefined) expect(formatEndpoint(p.endpoint)).to.be.a('string')
    for (const n of [p.persistentKeepaliveS, p.lastHandshakeMs, p.rxBytes, p.txBytes]) expect(Number.isSafeInteger(n) && n >= 0).to.equal(true)
    expect(p.persistentKeepaliveS).to.be.at.most(65535)
    expect(typeof p.hasPresharedKey).to.equal('boolean')
  }
}

/** N peers with a /128 each, an IPv4 /32 on every third, endpoints v4 and v6, keepalive 25, a PSK on some. */
export function randomPeers (r: SeededRandom, n: number): PeerUpsert[] {
  const out: PeerUpsert[] = []
  for (let i = 0; i < n; i++) {
    const v6 = new Uint8Array(16)
    v6.set([0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a])
    v6.set(r.bytes(10), 6)
    const allowedIps = [formatCidr({ family: 6, bytes: v6, prefix: 128 })]
    if (i % 3 === 0) allowedIps.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`)
    out.push({
      publicKey: Key.fromBytes(r.bytes(32)),
      allowedIps,
      endpoint: i % 2 === 0 ? { host: `192.0.2.${1 + (i % 250)}`, port: 1024 + i } : { host: `2001:db8::${(i + 1).toString(16)}`, port: 51820 },
      persistentKeepaliveS: 25,
      presharedKey: i % 10 === 0 ? r.bytes(32) : undefined
    })
  }
  return out
}

