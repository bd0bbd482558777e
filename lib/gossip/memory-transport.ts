/**
 * An in-memory network for tests and the simulator (DESIGN §8), beside the interface it
 * fakes (as memberlist's `MockNetwork`): `MemoryTransport`s attached to one `MemoryNetwork`
 * exchange packets with
 *
 * - latency: each packet independently, uniform in [minLatencyMs, maxLatencyMs];
 * - loss: each packet independently lost with probability `lossProbability`;
 * - partitions: every endpoint is in one named group (initially the same one, `''`); a
 *   packet between different groups is dropped. It is checked when the packet is sent AND
 *   when it would arrive, so a partition also cuts packets already in flight, and a packet
 *   sent across a partition does not slip through because it was healed meanwhile.
 *
 * Deterministic: all randomness comes from the injected `Random` and all delivery from the
 * injected `Clock`'s timers, so with a `SeededRandom` and a `ManualClock` the same seed and
 * the same calls give the same deliveries in the same order. Each send draws exactly two
 * numbers (loss, then latency) whatever the outcome, so changing the loss rate does not
 * shift the latencies of the other packets.
 *
 * Delivery goes through `clock.schedule` even at zero latency, so a packet never arrives
 * from inside `send()` (contract rule 3). The network has no bandwidth limit, no
 * reordering beyond what the latency spread gives, and no duplication.
 */
import type { Clock, TimerHandle } from '../clock.js'
import { resolve } from '../config.js'
import { InvalidConfigError, throwIfAborted } from '../errors.js'
import type { Random } from '../random.js'
import { type Endpoint, endpoint, formatEndpoint, normalizeHost } from './endpoint.js'
import { PacketTooLargeError, TransportNotStartedError, TransportStartError } from './errors.js'
import {
  type AbortOptions, DEFAULT_MAX_PACKET_BYTES, MAX_UDP_PAYLOAD_BYTES, type PacketHandler,
  type Transport, TransportCounters, type TransportStats
} from './transport.js'

export interface MemoryNetworkInit {
  /** Fastest one-way delivery. Default 1 ms. */
  minLatencyMs?: number
  /** Slowest one-way delivery; must be ≥ minLatencyMs. Default 50 ms. */
  maxLatencyMs?: number
  /** Chance in [0, 1] that a packet is lost. Default 0. */
  lossProbability?: number
  /** The `maxPacketBytes` of every transport on this network. Default 1400. */
  maxPacketBytes?: number
}

const SPEC = {
  minLatencyMs: { default: 1, min: 0, max: 3_600_000 },
  maxLatencyMs: { default: 50, min: 0, max: 3_600_000 },
  lossProbability: { default: 0, min: 0, max: 1 },
  maxPacketBytes: { default: DEFAULT_MAX_PACKET_BYTES, min: 1, max: MAX_UDP_PAYLOAD_BYTES, integer: true }
}

/** What happened to the packets sent on the network, as a whole. */
export interface MemoryNetworkStats {
  sent: number
  delivered: number
  /** Lost to `lossProbability`. */
  lost: number
  /** Dropped because sender and receiver were in different partition groups. */
  partitioned: number
  /** Arrived where no transport was started. */
  undeliverable: number
  /** Sent, not yet delivered or dropped. */
  inFlight: number
}

export interface MemoryTransportInit {
  /** The address this transport appears at. Default `10.0.0.1`. */
  host?: string
  /** 0 (the default) picks a free port from 49152 up, as an ephemeral bind does. */
  port?: number
}

interface InFlight { timer: TimerHandle, from: string, to: string }

const FIRST_EPHEMERAL_PORT = 49152
const DEFAULT_GROUP = ''

export class MemoryNetwork {
  private readonly clock: Clock
  private readonly random: Random
  private minLatencyMs: number
  private maxLatencyMs: number
  private lossProbability: number
  readonly maxPacketBytes: number
  /** Started transports by `formatEndpoint(localEndpoint)`. */
  private readonly bound = new Map<string, MemoryTransport>()
  private readonly groups = new Map<string, string>()
  private readonly inFlight = new Set<InFlight>()
  private nextPort = FIRST_EPHEMERAL_PORT
  private readonly s = { sent: 0, delivered: 0, lost: 0, partitioned: 0, undeliverable: 0 }

  constructor (components: { clock: Clock, random: Random }, init: MemoryNetworkInit = {}) {
    this.clock = components.clock
    this.random = components.random
    const cfg = resolve(SPEC, init)
    this.maxPacketBytes = cfg.maxPacketBytes
    this.minLatencyMs = cfg.minLatencyMs
    this.maxLatencyMs = cfg.maxLatencyMs
    this.lossProbability = cfg.lossProbability
    this.setLatency(cfg.minLatencyMs, cfg.maxLatencyMs) // checks max ≥ min
  }

  /** A new, stopped transport on this network. */
  createTransport (init: MemoryTransportInit = {}): MemoryTransport {
    return new MemoryTransport(this, init)
  }

  /** Changes the latency range for packets sent from now on. */
  setLatency (minMs: number, maxMs: number): void {
    const cfg = resolve(SPEC, { minLatencyMs: minMs, maxLatencyMs: maxMs })
    if (cfg.maxLatencyMs < cfg.minLatencyMs) throw new InvalidConfigError(`maxLatencyMs must be >= minLatencyMs (${cfg.minLatencyMs}), got ${cfg.maxLatencyMs}`)
    this.minLatencyMs = cfg.minLatencyMs
    this.maxLatencyMs = cfg.maxLatencyMs
  }

  /** Changes the loss probability for packets sent from now on. */
  setLoss (probability: number): void {
    this.lossProbability = resolve(SPEC, { lossProbability: probability }).lossProbability
  }

  /**
   * Splits the network: each named group's endpoints can reach only each other. Endpoints
   * not listed stay in (or go back to) the default group, which is a group like the others.
   * Replaces any earlier partition.
   */
  partition (groups: Record<string, Array<Endpoint | string>>): void {
    this.groups.clear()
    for (const [name, members] of Object.entries(groups)) {
      for (const m of members) this.groups.set(key(m), name)
    }
  }

  /** Puts every endpoint back into one group. */
  heal (): void { this.groups.clear() }

  /** The partition group of `e` (`''` is the default group). */
  groupOf (e: Endpoint | string): string { return this.groups.get(key(e)) ?? DEFAULT_GROUP }

  stats (): MemoryNetworkStats { return { ...this.s, inFlight: this.inFlight.size } }

  /** @internal Called by `MemoryTransport.start()`. */
  bind (t: MemoryTransport, host: string, port: number): Endpoint {
    if (port === 0) {
      // Wraps round the ephemeral range, skipping ports in use, as a kernel does.
      for (let tries = 0; tries <= 65535 - FIRST_EPHEMERAL_PORT; tries++) {
        const p = this.nextPort
        this.nextPort = p === 65535 ? FIRST_EPHEMERAL_PORT : p + 1
        if (!this.bound.has(formatEndpoint({ host, port: p }))) { port = p; break }
      }
      if (port === 0) throw new TransportStartError(`no free ephemeral port on ${host}`)
    }
    const local = endpoint(host, port)
    const k = formatEndpoint(local)
    const other = this.bound.get(k)
    if (other !== undefined && other !== t) throw new TransportStartError(`address in use: ${k}`)
    this.bound.set(k, t)
    return local
  }

  /** @internal Called by `MemoryTransport.stop()`; what is in flight to it arrives undeliverable. */
  unbind (t: MemoryTransport, local: Endpoint): void {
    const k = formatEndpoint(local)
    if (this.bound.get(k) === t) this.bound.delete(k)
  }

  /** @internal Called by `MemoryTransport.send()` with a packet it has already copied. */
  transmit (from: Endpoint, to: Endpoint, packet: Uint8Array): void {
    this.s.sent++
    const lossDraw = this.random.next()
    const latencyMs = this.minLatencyMs + this.random.next() * (this.maxLatencyMs - this.minLatencyMs)
    const fromKey = formatEndpoint(from)
    const toKey = formatEndpoint(to)
    if (lossDraw < this.lossProbability) { this.s.lost++; return }
    if (this.groupOf(fromKey) !== this.groupOf(toKey)) { this.s.partitioned++; return }
    const flight: InFlight = { timer: { id: undefined }, from: fromKey, to: toKey }
    flight.timer = this.clock.schedule(() => {
      this.inFlight.delete(flight)
      if (this.groupOf(fromKey) !== this.groupOf(toKey)) { this.s.partitioned++; return }
      const dest = this.bound.get(toKey)
      if (dest === undefined) { this.s.undeliverable++; return }
      this.s.delivered++
      dest.receive(packet, from)
    }, latencyMs)
    this.inFlight.add(flight)
  }

  /**
   * Cancels every packet in flight (their timers too), counting them undeliverable. For
   * tearing a simulation down without leaving timers on a real clock.
   */
  clear (): void {
    for (const f of this.inFlight) this.clock.cancel(f.timer)
    this.s.undeliverable += this.inFlight.size
    this.inFlight.clear()
  }
}

function key (e: Endpoint | string): string {
  return typeof e === 'string' ? e : formatEndpoint(e)
}

/** One endpoint on a `MemoryNetwork`; see `Transport` for the contract it keeps. */
export class MemoryTransport implements Transport {
  readonly maxPacketBytes: number
  private readonly network: MemoryNetwork
  private readonly host: string
  private readonly port: number
  private local: Endpoint | undefined
  private readonly counters = new TransportCounters()

  constructor (network: MemoryNetwork, init: MemoryTransportInit = {}) {
    this.network = network
    this.maxPacketBytes = network.maxPacketBytes
    this.host = normalizeHost(init.host ?? '10.0.0.1')
    this.port = resolve({ port: { default: 0, min: 0, max: 65535, integer: true } }, { port: init.port }).port
  }

  async start (options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    if (this.local !== undefined) return
    this.local = this.network.bind(this, this.host, this.port)
  }

  async stop (): Promise<void> {
    if (this.local === undefined) return
    this.network.unbind(this, this.local)
    this.local = undefined
  }

  isStarted (): boolean { return this.local !== undefined }

  send (to: Endpoint, packet: Uint8Array): void {
    if (packet.length > this.maxPacketBytes) {
      throw new PacketTooLargeError(`packet of ${packet.length} bytes exceeds maxPacketBytes ${this.maxPacketBytes}`)
    }
    const dest = endpoint(to.host, to.port)
    if (this.local === undefined) { this.counters.s.packetsDropped++; return }
    this.counters.s.packetsSent++
    this.counters.s.bytesSent += packet.length
    this.network.transmit(this.local, dest, packet.slice())
  }

  onPacket (handler: PacketHandler): () => void { return this.counters.add(handler) }

  localEndpoint (): Endpoint {
    if (this.local === undefined) throw new TransportNotStartedError('memory transport is not started')
    return this.local
  }

  stats (): TransportStats { return this.counters.snapshot() }

  /** @internal Called by the network when a packet arrives. */
  receive (packet: Uint8Array, from: Endpoint): void {
    if (this.local === undefined) { this.counters.s.packetsDropped++; return }
    this.counters.deliver(packet, from)
  }
}
