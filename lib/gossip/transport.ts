/**
 * The packet transport under gossip and SWIM: a deliberately narrow interface (after
 * memberlist's `Transport`), so the same protocol code runs over real UDP (`UdpTransport`)
 * and over the simulator's in-memory network (`MemoryNetwork` / `MemoryTransport`).
 *
 * Contract — every implementation keeps all of it; `test/gossip/` checks it for both:
 *
 * 1. Lifecycle. `start()` and `stop()` are idempotent: a second `start()` while started (or
 *    starting) resolves when the first does; `stop()` on a stopped transport resolves at
 *    once. `stop()` releases everything `start()` made (the socket, the port, timers).
 *    `start()` takes an `AbortSignal`; an abort rejects with `AbortError` and leaves the
 *    transport stopped. A failed start throws `TransportStartError` (with `cause`) and
 *    leaves it stopped. A stopped transport may be started again.
 * 2. Sending. `send()` is fire-and-forget, like UDP: it returns before the packet leaves and
 *    never reports delivery. It never throws for a network condition (unreachable, socket
 *    error, not started, stopping): such a packet is counted in `stats().packetsDropped`
 *    (and `sendErrors` for an error from the network stack). It does throw, synchronously,
 *    for the caller's own bugs: `PacketTooLargeError` for a packet over `maxPacketBytes`
 *    and `InvalidEndpointError` for a bad destination. The transport copies the packet
 *    before `send()` returns, so the caller may reuse its buffer.
 * 3. Receiving. Handlers added with `onPacket()` are called with each inbound packet and
 *    its source, synchronously, in the order they were added; they must not block. The
 *    packet is the handler's own (the transport keeps no reference). A packet is never
 *    delivered from inside `send()` (always from a later task or timer), and nothing is
 *    delivered after `stop()` has been called. An exception thrown by a handler is counted
 *    in `handlerErrors` and swallowed: hostile input must never stop the receive loop.
 *    Inbound packets over `maxPacketBytes`, or arriving with no handler, are counted as
 *    dropped. Receive errors are counted in `receiveErrors`, never thrown.
 * 4. Addresses. `localEndpoint()` is the bound address (with the real port when bound to
 *    port 0), and is only valid while started (`TransportNotStartedError` otherwise). The
 *    `from` endpoint is normalised as by `endpoint()` (an IPv4-mapped IPv6 source is
 *    reported as IPv4).
 * 5. Counters. `stats()` returns a snapshot; counters only grow, across restarts too.
 */
import type { Endpoint } from './endpoint.js'

export type { Endpoint } from './endpoint.js'
export { endpoint, endpointsEqual, formatEndpoint, parseEndpoint } from './endpoint.js'

/** The underlay packet budget (DESIGN §3 "Limits"): fits a 1500-byte MTU with room to spare. */
export const DEFAULT_MAX_PACKET_BYTES = 1400
/**
 * The largest UDP payload over IPv4 (65535 − 20-byte IP header − 8-byte UDP header). IPv6
 * allows 20 bytes more; one cap for both keeps a config valid whichever family it binds.
 */
export const MAX_UDP_PAYLOAD_BYTES = 65507

/** As js-libp2p's: every async call takes an optional signal. */
export interface AbortOptions { signal?: AbortSignal }

export type PacketHandler = (packet: Uint8Array, from: Endpoint) => void

export interface TransportStats {
  /** Packets handed to the network, and their payload bytes. */
  packetsSent: number
  bytesSent: number
  /** Packets delivered to the handlers, and their payload bytes. */
  packetsReceived: number
  bytesReceived: number
  /** Packets given up on here: sends while stopped or that failed, inbound ones discarded. */
  packetsDropped: number
  /** Errors from the network stack on send (each also counted in `packetsDropped`). */
  sendErrors: number
  /** Errors on the receive side (socket errors); never thrown. */
  receiveErrors: number
  /** Exceptions thrown by packet handlers, swallowed. */
  handlerErrors: number
}

export interface Transport {
  /** Binds and begins receiving. Idempotent; see the contract above. */
  start(options?: AbortOptions): Promise<void>
  /** Stops receiving and releases the socket. Idempotent. */
  stop(): Promise<void>
  isStarted(): boolean
  /** Fire-and-forget. Throws only `PacketTooLargeError` / `InvalidEndpointError`. */
  send(to: Endpoint, packet: Uint8Array): void
  /** Adds a handler for inbound packets; returns a function that removes it. */
  onPacket(handler: PacketHandler): () => void
  /** The bound address; throws `TransportNotStartedError` unless started. */
  localEndpoint(): Endpoint
  /** The largest packet `send()` accepts, and that is delivered. */
  readonly maxPacketBytes: number
  stats(): TransportStats
}

/**
 * Book-keeping shared by the implementations: the handler list and the counters, with the
 * contract's rules for calling handlers (in order, exceptions counted and swallowed).
 */
export class TransportCounters {
  private readonly handlers: PacketHandler[] = []
  readonly s: TransportStats = {
    packetsSent: 0,
    bytesSent: 0,
    packetsReceived: 0,
    bytesReceived: 0,
    packetsDropped: 0,
    sendErrors: 0,
    receiveErrors: 0,
    handlerErrors: 0
  }

  add (handler: PacketHandler): () => void {
    this.handlers.push(handler)
    return () => {
      const i = this.handlers.indexOf(handler)
      if (i >= 0) this.handlers.splice(i, 1)
    }
  }

  /** Hands an inbound packet to every handler (or counts it dropped if there is none). */
  deliver (packet: Uint8Array, from: Endpoint): void {
    if (this.handlers.length === 0) {
      this.s.packetsDropped++
      return
    }
    this.s.packetsReceived++
    this.s.bytesReceived += packet.length
    // A copy of the list: a handler may unsubscribe itself (or another) while we iterate.
    const hs = this.handlers.slice()
    for (let i = 0; i < hs.length; i++) {
      try {
        // Each handler after the first gets its own copy, so none can corrupt another's view.
        hs[i](i === 0 ? packet : packet.slice(), from)
      } catch {
        this.s.handlerErrors++
      }
    }
  }

  snapshot (): TransportStats { return { ...this.s } }
}
