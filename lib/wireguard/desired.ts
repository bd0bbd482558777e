/**
 * The peers a node should have, as plain data (DESIGN §5 "Reconciler"): `PeerSpec` is what
 * the reconciler turns into WireGuard peers, and `peerSpecOf` makes one from a member as the
 * mesh sees it (its record from the view, its endpoints from its signed node state).
 *
 * From a member to a peer:
 * - public key: the member's WireGuard key;
 * - allowed IPs: exactly the member's overlay /128 (routes and relays add more later, §6);
 * - endpoint candidates, best first: the node state's `listen` endpoints, then `reflexive`,
 *   then `static`, then the record's `staticEndpoints` (which may be host names: the
 *   reconciler resolves them, the backends take IP literals only), each with the org's
 *   WireGuard port, then `wireguard` ones (an endpoint WireGuard itself learned) with their own
 *   port.
 *
 * Why the org port: node states and records advertise where a member's gossip socket is (that
 * is how the gossiper reaches it); every member's WireGuard listens on the org's
 * `listenPort` (OrgParams, default 51820) at the same hosts. A `wireguard`-sourced endpoint
 * is already a WireGuard address and keeps its port.
 */
import { hostFamily, parseEndpoint } from '../gossip/endpoint.js'
import type { Key } from '../identity/key.js'
import type { PeerInfo } from '../mesh/events.js'
import { canonicalCidr } from './cidr.js'

/** A host (IP literal or name) and a UDP port. */
export interface EndpointCandidate {
  readonly host: string
  readonly port: number
}

export interface PeerSpec {
  readonly publicKey: Key
  /** Canonical or not: the reconciler canonicalises (`fd00::1/128`). Each prefix has one owner. */
  readonly allowedIps: readonly string[]
  /** Best first; the first that is an IP literal or resolves is written. Empty: the endpoint is left as it is. */
  readonly endpoints: readonly EndpointCandidate[]
  /** Overrides the reconciler's `keepaliveS` for this peer (seconds, 0 off). */
  readonly persistentKeepaliveS?: number
}

/** Node-state endpoint sources, in the order their endpoints are tried. */
const SOURCE_ORDER: Record<string, number> = { listen: 0, reflexive: 1, static: 2, wireguard: 3 }

/** The peer that member `info` should be (see the top of the file). */
export function peerSpecOf (info: PeerInfo, wireguardPort: number): PeerSpec {
  const endpoints: EndpointCandidate[] = []
  const seen = new Set<string>()
  const add = (host: string, port: number): void => {
    const k = `${host}|${port}`
    if (seen.has(k)) return
    seen.add(k)
    endpoints.push({ host, port })
  }
  const states = [...info.endpoints].sort((a, b) => (SOURCE_ORDER[a.source] ?? 9) - (SOURCE_ORDER[b.source] ?? 9))
  for (const e of states) if (e.source !== 'wireguard') add(e.host, wireguardPort)
  for (const text of info.staticEndpoints ?? []) {
    try {
      add(parseEndpoint(text).host, wireguardPort)
    } catch {
      // A malformed static endpoint in a signed record is the admin's mistake: skip it.
    }
  }
  for (const e of states) if (e.source === 'wireguard') add(e.host, e.port)
  return { publicKey: info.wgPublicKey, allowedIps: [canonicalCidr(`${info.overlayAddress}/128`)], endpoints }
}

/** True when `host` is an IP literal (no resolution needed). */
export function isIpLiteral (host: string): boolean {
  const pct = host.indexOf('%')
  return hostFamily(pct < 0 ? host : host.slice(0, pct)) !== 0
}
