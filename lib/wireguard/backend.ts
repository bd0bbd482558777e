/**
 * The WireGuard backend contract (DESIGN §5): one device, read whole, changed in batches.
 *
 * Four implementations share it: `memory` (in-process), `uapi` (the text protocol of
 * wireguard-go and boringtun on /var/run/wireguard/IFACE.sock), `netlink` (kernel WireGuard
 * over generic netlink) and `wg-cli` (the `wg` tool). The reconciler (reconciler.ts) is their
 * only caller in the library: it diffs the desired peers against `read()` and sends the
 * difference as one `DeviceChange`.
 *
 * Values. Keys are `Key`s (32 bytes). Allowed IPs are canonical CIDR text as `formatCidr`
 * (cidr.ts) prints it — `fd12:3456:789a::1/128`, `10.0.0.0/8` — so two backends reading
 * the same device give equal strings. Endpoints are IP literals with a port (UAPI takes no
 * names): resolving a name is the reconciler's job. Times are epoch milliseconds.
 *
 * Atomicity. No backend promises that a failed `apply` changed nothing: UAPI keeps the
 * lines before an error, netlink splits large sets into several messages. After a
 * `WireGuardError` the caller reads the device again and re-diffs.
 */
import type { AbortOptions } from '../gossip/transport.js'
import type { Key } from '../identity/key.js'

export type BackendKind = 'memory' | 'uapi' | 'netlink' | 'wg-cli'

/** An IP literal (no brackets) and a UDP port. */
export interface WgEndpoint {
  host: string
  port: number
}

/** A peer as the device reports it. */
export interface WgPeer {
  publicKey: Key
  /** Set when the peer has a preshared key (the key itself is never read back). */
  hasPresharedKey: boolean
  endpoint: WgEndpoint | undefined
  /** Canonical CIDR text, in the order the device lists them. */
  allowedIps: string[]
  /** Seconds; 0 is off. */
  persistentKeepaliveS: number
  /** Epoch ms of the last handshake; 0 when there was none. */
  lastHandshakeMs: number
  rxBytes: number
  txBytes: number
}

/** The whole device as `read()` sees it. */
export interface DeviceState {
  /** Undefined when no private key is set. */
  publicKey: Key | undefined
  listenPort: number
  /** 0 when unset. */
  fwmark: number
  peers: WgPeer[]
}

/** Add a peer or change one. Fields left undefined are left as they are on an existing peer. */
export interface PeerUpsert {
  publicKey: Key
  endpoint?: WgEndpoint
  /** Canonical CIDR text. */
  allowedIps?: string[]
  /** With `allowedIps`: replace the peer's set instead of adding to it. Default false. */
  replaceAllowedIps?: boolean
  /** Seconds, 0 to turn off. */
  persistentKeepaliveS?: number
  /** 32 bytes, or null to clear. */
  presharedKey?: Uint8Array | null
}

/** One batch: device settings, peers to upsert, peers to remove (removals go first). */
export interface DeviceChange {
  /** 32 bytes (clamped X25519 private key). */
  privateKey?: Uint8Array
  listenPort?: number
  fwmark?: number
  /** Remove every peer not in `upserts`. Default false. */
  replacePeers?: boolean
  upserts?: PeerUpsert[]
  removals?: Key[]
}

export interface WireGuardBackend {
  readonly kind: BackendKind
  /** The interface it drives. */
  readonly iface: string
  /** Reads the whole device. Throws `WireGuardError` (with `errno` where the device gave one). */
  read (options?: AbortOptions): Promise<DeviceState>
  /** Applies one batch. Throws `WireGuardError`; the device may be partly changed then (see the top). */
  apply (change: DeviceChange, options?: AbortOptions): Promise<void>
  /** Releases sockets and child processes it holds; the device itself stays. Idempotent. */
  close (): Promise<void>
}
