/**
 * The real transport: one UDP socket (IPv4 or IPv6, by the bind address), through
 * `dgram-as-promised` for the promise-returning `bind()`, `send()` and `close()`.
 *
 * Receiving deliberately does NOT use the library's `recv()` / async iterator: `recv()`
 * listens for 'message' only while a call is pending, and libuv emits several datagrams in
 * one tick, so every packet after the first of a burst would be lost between two `recv()`
 * calls; and a socket error rejects `recv()`, which would end the loop. Instead the message
 * listener is passed to `createSocket(options, onMessage)` (a documented form of the
 * library's API), so it is attached for the socket's whole life.
 *
 * Known quirk of the library: it remembers the last asynchronous socket 'error' and rejects
 * the next `send()` with it without sending. That packet is counted in `sendErrors` and
 * `packetsDropped`, as any failed send is; gossip retransmits, so one lost packet after a
 * rare socket error costs nothing but a counter.
 *
 * See `Transport` (transport.ts) for the contract.
 */
import { DgramAsPromised, type RemoteInfo, type SocketAsPromised } from 'dgram-as-promised'
import { resolve } from '../config.js'
import { AbortError, InvalidConfigError, throwIfAborted } from '../errors.js'
import { type Endpoint, endpoint, hostFamily } from './endpoint.js'
import { PacketTooLargeError, TransportNotStartedError, TransportStartError } from './errors.js'
import {
  type AbortOptions, DEFAULT_MAX_PACKET_BYTES, MAX_UDP_PAYLOAD_BYTES, type PacketHandler,
  type Transport, TransportCounters, type TransportStats
} from './transport.js'

export interface UdpTransportInit {
  /**
   * The address to bind, an IP literal: `0.0.0.0` (the default) or `::` for all interfaces,
   * `127.0.0.1` / `::1` for loopback only, or the overlay address in overlay mode. An IPv6
   * address opens an IPv6 socket; `::` also receives IPv4 unless `ipv6Only`.
   */
  host?: string
  /** 0 (the default) binds an ephemeral port; `localEndpoint()` tells which. */
  port?: number
  /** Largest packet sent or accepted (DESIGN §3: 1400 on the underlay, MTU − 48 on the overlay). */
  maxPacketBytes?: number
  /** For an IPv6 bind: refuse IPv4-mapped traffic. Default false (dual stack on `::`). */
  ipv6Only?: boolean
}

const SPEC = {
  port: { default: 0, min: 0, max: 65535, integer: true },
  maxPacketBytes: { default: DEFAULT_MAX_PACKET_BYTES, min: 1, max: MAX_UDP_PAYLOAD_BYTES, integer: true }
}

export class UdpTransport implements Transport {
  readonly maxPacketBytes: number
  private readonly host: string
  private readonly port: number
  private readonly family: 4 | 6
  private readonly ipv6Only: boolean
  private readonly counters = new TransportCounters()
  private sap: SocketAsPromised | undefined
  private local: Endpoint | undefined
  private starting: Promise<void> | undefined
  private stopping: Promise<void> | undefined

  constructor (init: UdpTransportInit = {}) {
    const cfg = resolve(SPEC, { port: init.port, maxPacketBytes: init.maxPacketBytes })
    const host = init.host ?? '0.0.0.0'
    const family = hostFamily(host)
    if (family === 0) throw new InvalidConfigError(`host must be an IPv4 or IPv6 address to bind, got ${JSON.stringify(host)}`)
    this.host = host
    this.family = family
    this.port = cfg.port
    this.maxPacketBytes = cfg.maxPacketBytes
    this.ipv6Only = init.ipv6Only ?? false
  }

  async start (options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    if (this.stopping !== undefined) await this.stopping
    if (this.sap !== undefined) return
    if (this.starting === undefined) {
      this.starting = this.bind(options.signal).finally(() => { this.starting = undefined })
    }
    return await this.starting
  }

  private async bind (signal?: AbortSignal): Promise<void> {
    const sap: SocketAsPromised = DgramAsPromised.createSocket(
      { type: this.family === 6 ? 'udp6' : 'udp4', ipv6Only: this.ipv6Only },
      (msg, rinfo) => { this.receive(sap, msg, rinfo) }
    )
    // The library latches errors for its next call; this listener makes them visible.
    sap.socket.on('error', () => { if (this.sap === sap) this.counters.s.receiveErrors++ })
    let onAbort: (() => void) | undefined
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => { reject(new AbortError(undefined, { cause: signal?.reason })) }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    try {
      const addr = await Promise.race([sap.bind(this.port, this.host), aborted])
      this.local = endpoint(addr.address, addr.port)
      this.sap = sap
    } catch (err) {
      await closeQuietly(sap)
      if (err instanceof AbortError) throw err
      throw new TransportStartError(`failed to bind udp ${this.family === 6 ? `[${this.host}]` : this.host}:${this.port}: ${(err as Error).message}`, { cause: err })
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    }
  }

  async stop (): Promise<void> {
    if (this.starting !== undefined) await this.starting.catch(() => {})
    if (this.stopping !== undefined) return await this.stopping
    const sap = this.sap
    if (sap === undefined) return
    // Cleared first, so nothing is delivered or sent from here on (contract rule 3).
    this.sap = undefined
    this.local = undefined
    this.stopping = closeQuietly(sap).finally(() => { this.stopping = undefined })
    return await this.stopping
  }

  isStarted (): boolean { return this.sap !== undefined }

  send (to: Endpoint, packet: Uint8Array): void {
    if (packet.length > this.maxPacketBytes) {
      throw new PacketTooLargeError(`packet of ${packet.length} bytes exceeds maxPacketBytes ${this.maxPacketBytes}`)
    }
    const dest = endpoint(to.host, to.port)
    const sap = this.sap
    if (sap === undefined) { this.counters.s.packetsDropped++; return }
    const s = this.counters.s
    const length = packet.length
    // A dual-stack IPv6 socket reports IPv4 peers as 127.0.0.1 (normalised from
    // ::ffff:127.0.0.1) but can only send to the mapped form: Node gives EINVAL otherwise.
    const host = this.family === 6 && hostFamily(dest.host) === 4 ? `::ffff:${dest.host}` : dest.host
    // Buffer.from copies: the caller may reuse its buffer as soon as we return.
    sap.send(Buffer.from(packet), dest.port, host).then(
      () => { s.packetsSent++; s.bytesSent += length },
      () => { s.sendErrors++; s.packetsDropped++ }
    )
  }

  onPacket (handler: PacketHandler): () => void { return this.counters.add(handler) }

  localEndpoint (): Endpoint {
    if (this.local === undefined) throw new TransportNotStartedError('udp transport is not started')
    return this.local
  }

  stats (): TransportStats { return this.counters.snapshot() }

  private receive (sap: SocketAsPromised, msg: Buffer, rinfo: RemoteInfo): void {
    if (this.sap !== sap) return
    if (msg.length > this.maxPacketBytes) { this.counters.s.packetsDropped++; return }
    let from: Endpoint
    try {
      from = endpoint(rinfo.address, rinfo.port)
    } catch {
      this.counters.s.packetsDropped++
      return
    }
    // A plain Uint8Array copy: a Buffer's `slice()` is a view, which would surprise handlers.
    this.counters.deliver(new Uint8Array(msg), from)
  }
}

/** Closes the socket and detaches the library's listeners; a close error is not ours to throw. */
async function closeQuietly (sap: SocketAsPromised): Promise<void> {
  try {
    await sap.close()
  } catch {
    // Already closed, or never bound: either way the socket is gone.
  } finally {
    sap.destroy()
  }
}
