/**
 * `MemoryBackend`: a WireGuard device in the process, with the semantics of the real ones, so
 * that reconciler tests written against it hold against wireguard-go and the kernel.
 *
 * What it copies from them (wireguard-go `device/uapi.go`, kernel `netlink.c`):
 * - one batch applies in the order the UAPI request is written: private key, listen port,
 *   fwmark, `replace_peers`, removals, then upserts;
 * - `replacePeers` removes EVERY peer first, then the upserts create theirs afresh: a peer
 *   that is kept loses its handshake, counters and any field the upsert leaves out (this is
 *   what `replace_peers=true` and `WGDEVICE_F_REPLACE_PEERS` do; the contract's "remove every
 *   peer not in upserts" holds, the kept peers are nonetheless re-created);
 * - removing a peer that does not exist is no error; an upsert creates a missing peer;
 * - an allowed IP added to one peer that another holds (the exact same prefix) MOVES to the
 *   new peer, with no gap, as the allowed-IPs trie's insert does;
 * - `replaceAllowedIps` clears the peer's set before adding the listed ones;
 * - a peer with the device's own public key is ignored; setting a private key whose public
 *   key is a peer's removes that peer;
 * - peers and allowed IPs are listed in insertion order (the kernel's order; wireguard-go
 *   lists peers in Go map order, which no caller may rely on).
 *
 * Test hooks (what happens to a real device behind the reconciler's back): `removePeer` and
 * `addPeer` by hand (`wg set … remove`), `setEndpoint` (WireGuard roamed to an endpoint it
 * learned from an authenticated packet), `setStats` (handshake, rx/tx), and
 * `failNextApply({ errno, afterUpserts })`, which applies that many upserts of the next batch
 * and then fails with `errno`, as a UAPI `set` that stopped at a bad line does. `applied`
 * holds every batch applied (checked and canonical), `reads` counts reads.
 */
import { type AbortOptions } from '../gossip/transport.js'
import { throwIfAborted, WireGuardError } from '../errors.js'
import { Key } from '../identity/key.js'
import { wgKeyPairFromPrivate } from '../identity/wg-key.js'
import type { DeviceChange, DeviceState, PeerUpsert, WgEndpoint, WgPeer, WireGuardBackend } from './backend.js'
import { checkChange } from './change.js'

interface PeerRec {
  publicKey: Key
  presharedKey: Uint8Array | undefined
  endpoint: WgEndpoint | undefined
  allowedIps: string[]
  persistentKeepaliveS: number
  lastHandshakeMs: number
  rxBytes: number
  txBytes: number
}

export interface MemoryBackendInit {
  /** The interface name it reports. Default `wm0`. */
  iface?: string
}

export interface FailNext {
  /** The errno the failure carries. Default 22 (EINVAL). */
  errno?: number
  /** Upserts of the batch applied before the failure. Default 0 (settings and removals are applied). */
  afterUpserts?: number
}

export class MemoryBackend implements WireGuardBackend {
  readonly kind = 'memory' as const
  readonly iface: string
  /** Every batch applied, checked and canonical, oldest first. */
  readonly applied: DeviceChange[] = []
  /** How many times `read()` was called. */
  reads = 0
  private privateKey: Uint8Array | undefined
  private publicKey: Key | undefined
  private listenPort = 0
  private fwmark = 0
  private readonly peers = new Map<string, PeerRec>()
  /** Allowed IP (canonical text) → the map key of the peer holding it. */
  private readonly owners = new Map<string, string>()
  private failNext: FailNext | undefined
  private closed = false

  constructor (init: MemoryBackendInit = {}) {
    this.iface = init.iface ?? 'wm0'
  }

  async read (options: AbortOptions = {}): Promise<DeviceState> {
    throwIfAborted(options.signal)
    this.checkOpen('read')
    this.reads++
    return {
      publicKey: this.publicKey,
      listenPort: this.listenPort,
      fwmark: this.fwmark,
      peers: [...this.peers.values()].map(p => this.view(p))
    }
  }

  async apply (change: DeviceChange, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    this.checkOpen('apply')
    const c = checkChange(change)
    const fail = this.failNext
    this.failNext = undefined
    this.applied.push(c)
    if (c.privateKey !== undefined) this.setPrivateKey(c.privateKey)
    if (c.listenPort !== undefined) this.listenPort = c.listenPort
    if (c.fwmark !== undefined) this.fwmark = c.fwmark
    if (c.replacePeers === true) for (const p of [...this.peers.values()]) this.removePeer(p.publicKey)
    for (const k of c.removals ?? []) this.removePeer(k)
    const upserts = c.upserts ?? []
    for (let i = 0; i < upserts.length; i++) {
      if (fail !== undefined && i >= (fail.afterUpserts ?? 0)) break
      this.upsert(upserts[i])
    }
    if (fail !== undefined) {
      const errno = fail.errno ?? 22
      throw new WireGuardError(`memory device ${this.iface}: injected failure, errno ${errno}`, { backend: 'memory', op: 'apply', errno })
    }
  }

  async close (): Promise<void> { this.closed = true }

  // --- test hooks -------------------------------------------------------------------------

  /** Removes a peer as `wg set IFACE peer K remove` would. True if it existed. */
  removePeer (key: Key): boolean {
    const p = this.peers.get(key.mapKey)
    if (p === undefined) return false
    for (const ip of p.allowedIps) this.owners.delete(ip)
    this.peers.delete(key.mapKey)
    return true
  }

  /** Adds or changes a peer behind the caller's back, as `wg set` by hand would. */
  addPeer (upsert: PeerUpsert): void {
    const c = checkChange({ upserts: [upsert] })
    this.upsert(c.upserts![0])
  }

  /** The endpoint WireGuard learned from an authenticated packet (roaming). */
  setEndpoint (key: Key, endpoint: WgEndpoint | undefined): void {
    this.peer(key).endpoint = endpoint === undefined ? undefined : { ...endpoint }
  }

  setStats (key: Key, stats: { lastHandshakeMs?: number, rxBytes?: number, txBytes?: number }): void {
    const p = this.peer(key)
    if (stats.lastHandshakeMs !== undefined) p.lastHandshakeMs = stats.lastHandshakeMs
    if (stats.rxBytes !== undefined) p.rxBytes = stats.rxBytes
    if (stats.txBytes !== undefined) p.txBytes = stats.txBytes
  }

  /** The next `apply` applies part of its batch and throws a `WireGuardError` with `errno`. */
  failNextApply (fail: FailNext = {}): void { this.failNext = fail }

  // --- internals --------------------------------------------------------------------------

  private checkOpen (op: string): void {
    if (this.closed) throw new WireGuardError(`memory device ${this.iface} is closed`, { backend: 'memory', op })
  }

  private peer (key: Key): PeerRec {
    const p = this.peers.get(key.mapKey)
    if (p === undefined) throw new WireGuardError(`memory device ${this.iface} has no peer ${key.toBase64()}`, { backend: 'memory', op: 'hook', errno: 2 })
    return p
  }

  private setPrivateKey (priv: Uint8Array): void {
    if (priv.every(b => b === 0)) {
      this.privateKey = undefined
      this.publicKey = undefined
      return
    }
    this.privateKey = Uint8Array.from(priv)
    this.publicKey = wgKeyPairFromPrivate(this.privateKey).publicKey
    this.removePeer(this.publicKey)
  }

  private upsert (u: PeerUpsert): void {
    if (this.publicKey?.equals(u.publicKey) === true) return
    let p = this.peers.get(u.publicKey.mapKey)
    if (p === undefined) {
      p = { publicKey: u.publicKey, presharedKey: undefined, endpoint: undefined, allowedIps: [], persistentKeepaliveS: 0, lastHandshakeMs: 0, rxBytes: 0, txBytes: 0 }
      this.peers.set(u.publicKey.mapKey, p)
    }
    if (u.presharedKey !== undefined) p.presharedKey = u.presharedKey === null || u.presharedKey.every(b => b === 0) ? undefined : Uint8Array.from(u.presharedKey)
    if (u.endpoint !== undefined) p.endpoint = { ...u.endpoint }
    if (u.persistentKeepaliveS !== undefined) p.persistentKeepaliveS = u.persistentKeepaliveS
    if (u.replaceAllowedIps === true) {
      for (const ip of p.allowedIps) this.owners.delete(ip)
      p.allowedIps = []
    }
    for (const ip of u.allowedIps ?? []) {
      const owner = this.owners.get(ip)
      if (owner === p.publicKey.mapKey) continue
      if (owner !== undefined) {
        const old = this.peers.get(owner)!
        old.allowedIps = old.allowedIps.filter(x => x !== ip)
      }
      this.owners.set(ip, p.publicKey.mapKey)
      p.allowedIps.push(ip)
    }
  }

  private view (p: PeerRec): WgPeer {
    return {
      publicKey: p.publicKey,
      hasPresharedKey: p.presharedKey !== undefined,
      endpoint: p.endpoint === undefined ? undefined : { ...p.endpoint },
      allowedIps: [...p.allowedIps],
      persistentKeepaliveS: p.persistentKeepaliveS,
      lastHandshakeMs: p.lastHandshakeMs,
      rxBytes: p.rxBytes,
      txBytes: p.txBytes
    }
  }
}
