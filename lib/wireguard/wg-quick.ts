/**
 * The desired state as a wg-quick(8) config: what an operator can inspect, keep, or load with
 * `wg-quick up FILE` on a host wiremesh does not run on.
 *
 *   [Interface]
 *   PrivateKey = …          (only when given: the export may be shared without it)
 *   ListenPort = 51820
 *   FwMark = 0x10
 *   Address = fd12:3456:789a::1/48
 *   MTU = 1420
 *
 *   [Peer]
 *   PublicKey = …
 *   PresharedKey = …
 *   AllowedIPs = fd12:3456:789a::2/128, 10.0.0.0/8
 *   Endpoint = [2001:db8::1]:51820
 *   PersistentKeepalive = 25
 *
 * `Address`, `MTU` (and wg-quick's DNS, Table, hooks) are wg-quick's own; `wgQuickStrip` drops
 * them as `wg-quick strip` does, which leaves what `wg setconf` takes. Values are checked as
 * `checkChange` checks a batch, so a written file always loads.
 */
import { InvalidConfigError } from '../errors.js'
import type { Key } from '../identity/key.js'
import { toBase64 } from '../util/bytes.js'
import type { WgEndpoint } from './backend.js'
import { checkChange } from './change.js'
import { formatEndpoint, formatIp, parseIp } from './cidr.js'

export interface WgQuickPeer {
  publicKey: Key
  /** Undefined or null writes no line. */
  presharedKey?: Uint8Array | null
  allowedIps?: string[]
  endpoint?: WgEndpoint
  /** Seconds; 0 or undefined writes no line. */
  persistentKeepaliveS?: number
}

export interface WgQuickConfig {
  privateKey?: Uint8Array
  listenPort?: number
  fwmark?: number
  /** Interface addresses with their prefix length, e.g. `fd12:3456:789a::1/48` (host bits allowed: it is an address). */
  addresses?: string[]
  mtu?: number
  peers: WgQuickPeer[]
}

/** wg-quick's own `[Interface]` keys, which `wg setconf` refuses. */
const WG_QUICK_ONLY = new Set(['address', 'dns', 'mtu', 'table', 'preup', 'postup', 'predown', 'postdown', 'saveconfig'])

function interfaceAddress (text: string): string {
  const slash = text.indexOf('/')
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash))
  const max = ip.family === 4 ? 32 : 128
  const p = slash < 0 ? max : Number(text.slice(slash + 1))
  if (slash >= 0 && !/^(0|[1-9][0-9]{0,2})$/.test(text.slice(slash + 1))) throw new InvalidConfigError(`invalid interface address ${JSON.stringify(text)}`)
  if (p > max) throw new InvalidConfigError(`interface address prefix must be in [0, ${max}], got ${p}`)
  return `${formatIp(ip)}/${p}`
}

export function toWgQuickConfig (cfg: WgQuickConfig): string {
  const c = checkChange({
    privateKey: cfg.privateKey,
    listenPort: cfg.listenPort,
    fwmark: cfg.fwmark,
    upserts: cfg.peers.map(p => ({ publicKey: p.publicKey, presharedKey: p.presharedKey ?? undefined, allowedIps: p.allowedIps, endpoint: p.endpoint, persistentKeepaliveS: p.persistentKeepaliveS }))
  })
  if (cfg.mtu !== undefined && (!Number.isInteger(cfg.mtu) || cfg.mtu < 1280 || cfg.mtu > 65535)) throw new InvalidConfigError(`mtu must be an integer in [1280, 65535], got ${String(cfg.mtu)}`)
  const out = ['[Interface]']
  if (c.privateKey !== undefined) out.push(`PrivateKey = ${toBase64(c.privateKey)}`)
  if (c.listenPort !== undefined) out.push(`ListenPort = ${c.listenPort}`)
  if (c.fwmark !== undefined && c.fwmark !== 0) out.push(`FwMark = 0x${c.fwmark.toString(16)}`)
  if (cfg.addresses !== undefined && cfg.addresses.length > 0) out.push(`Address = ${cfg.addresses.map(interfaceAddress).join(', ')}`)
  if (cfg.mtu !== undefined) out.push(`MTU = ${cfg.mtu}`)
  for (const p of c.upserts ?? []) {
    out.push('', '[Peer]', `PublicKey = ${p.publicKey.toBase64()}`)
    if (p.presharedKey != null) out.push(`PresharedKey = ${toBase64(p.presharedKey)}`)
    if (p.allowedIps !== undefined && p.allowedIps.length > 0) out.push(`AllowedIPs = ${p.allowedIps.join(', ')}`)
    if (p.endpoint !== undefined) out.push(`Endpoint = ${formatEndpoint(p.endpoint)}`)
    if (p.persistentKeepaliveS !== undefined && p.persistentKeepaliveS !== 0) out.push(`PersistentKeepalive = ${p.persistentKeepaliveS}`)
  }
  return out.join('\n') + '\n'
}

/** What `wg-quick strip` prints: the config without wg-quick's own keys, ready for `wg setconf`. */
export function wgQuickStrip (text: string): string {
  let inInterface = false
  return text.split('\n').filter(line => {
    const t = line.replace(/#.*/, '').trim()
    if (/^\[.*\]$/.test(t)) inInterface = t.toLowerCase() === '[interface]'
    const key = t.slice(0, t.indexOf('=')).trim().toLowerCase()
    return !(inInterface && t.includes('=') && WG_QUICK_ONLY.has(key))
  }).join('\n')
}
