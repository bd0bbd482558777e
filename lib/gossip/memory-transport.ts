/**
 * An in-memory network for tests and the simulator (DESIGN §8), beside the interface it
 * fakes (as memberlist's `MockNetwork`): `MemoryTransport`s attached to one `MemoryNetwork`
 * exchange packets with
 *
 * - latency: each packet independently, uniform in [minLatencyMs, maxLatencyMs], or drawn
 *   from any distribution given as its quantile function (`latency`, see lib/sim/latency.ts);
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
 *
 * Faults of one endpoint, for the simulator (DESIGN §8):
 * - `pause()` / `resume()` on a transport: a frozen process with its socket still bound.
 *   Packets that arrive meanwhile wait in a receive buffer of `maxBufferedBytes` (Linux's
 *   `net.core.rmem_default`, 212,992 bytes, unless told otherwise; what overflows is
 *   dropped, as the kernel does) and are handed over after `resume()`, one clock task each,
 *   in arrival order.
 * - `kill()`: a host that vanished. Nothing it sends leaves (counted in its
 *   `packetsDropped`); nothing reaches it, in flight or buffered (counted `undeliverable`).
 *   It keeps its address, so no one else binds it. Packets it sent before are already on the
 *   wire and still arrive. Permanent: a restarted node gets a new transport.
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

/**
 * A one-way latency distribution as its quantile function: `u` uniform in [0, 1) → ms. Any
 * distribution can be sampled from one draw this way, so each send still draws exactly two
 * numbers. A result that is negative or not a number is taken as 0.
 */
export type LatencyQuantile = (u: number) => number

export interface MemoryNetworkInit {
  /** Fastest one-way delivery. Default 1 ms. */
  minLatencyMs?: number
  /** Slowest one-way delivery; must be ≥ minLatencyMs. Default 50 ms. */
  maxLatencyMs?: number
  /** Chance in [0, 1] that a packet is lost. Default 0. */
  lossProbability?: number
  /** Latency from this distribution instead of uniform in [minLatencyMs, maxLatencyMs] (give one or the other). */
  latency?: LatencyQuantile
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

export interface PauseOptions {
  /** Receive buffer while paused; what does not fit is dropped. Default 212,992 (Linux's rmem_default). */
  maxBufferedBytes?: number
}

/** Linux's `net.core.rmem_default`: what a frozen process's UDP socket holds before dropping. */
export const DEFAULT_PAUSE_BUFFER_BYTES = 212_992

const FIRST_EPHEMERAL_PORT = 49152
const DEFAULT_GROUP = ''

export class MemoryNetwork {
  private readonly clock: Clock
  private readonly random: Random
  private minLatencyMs: number
  private maxLatencyMs: number
  private lossProbability: number
  /** Undefined: uniform in [minLatencyMs, maxLatencyMs]. */
  private latencyQuantile: LatencyQuantile | undefined
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
    if (init.latency !== undefined) {
      if (init.minLatencyMs !== undefined || init.maxLatencyMs !== undefined) throw new InvalidConfigError('give latency or minLatencyMs/maxLatencyMs, not both')
      this.setLatencyModel(init.latency)
    }
  }

  /** The clock deliveries run on. */
  get clockSource (): Clock { return this.clock }

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
    this.latencyQuantile = undefined
  }

  /** Draws the latency of packets sent from now on from `quantile` (see `LatencyQuantile`). */
  setLatencyModel (quantile: LatencyQuantile): void {
    if (typeof quantile !== 'function') throw new InvalidConfigError('latency must be a quantile function (u in [0, 1) → ms)')
    this.latencyQuantile = quantile
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
    const u = this.random.next()
    const q = this.latencyQuantile
    let latencyMs = q === undefined ? this.minLatencyMs + u * (this.maxLatencyMs - this.minLatencyMs) : q(u)
    if (!(latencyMs >= 0)) latencyMs = 0
    const fromKey = formatEndpoint(from)
    const toKey = formatEndpoint(to)
    if (lossDraw < this.lossProbability) { this.s.lost++; return }
    if (this.groupOf(fromKey) !== this.groupOf(toKey)) { this.s.partitioned++; return }
    const flight: InFlight = { timer: { id: undefined }, from: fromKey, to: toKey }
    flight.timer = this.clock.schedule(() => {
      this.inFlight.delete(flight)
      if (this.groupOf(fromKey) !== this.groupOf(toKey)) { this.s.partitioned++; return }
      const dest = this.bound.get(toKey)
      if (dest === undefined || dest.isKilled()) { this.s.undeliverable++; return }
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
  private killed = false
  /** While paused: the receive buffer (arrival order) and its room. */
  private paused: { buffer: Array<{ packet: Uint8Array, from: Endpoint }>, bytes: number, maxBytes: number } | undefined
  /** Buffered packets handed back to the clock by `resume()`, not yet delivered. */
  private readonly redeliveries = new Set<TimerHandle>()

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
    this.discardHeld()
  }

  isStarted (): boolean { return this.local !== undefined }

  send (to: Endpoint, packet: Uint8Array): void {
    if (packet.length > this.maxPacketBytes) {
      throw new PacketTooLargeError(`packet of ${packet.length} bytes exceeds maxPacketBytes ${this.maxPacketBytes}`)
    }
    const dest = endpoint(to.host, to.port)
    if (this.local === undefined || this.killed) { this.counters.s.packetsDropped++; return }
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

  /**
   * Holds inbound packets (a frozen process: the socket stays bound and buffers) until
   * `resume()`. Sending is unaffected, since a frozen process sends nothing anyway. Idempotent.
   */
  pause (options: PauseOptions = {}): void {
    if (this.paused !== undefined || this.killed) return
    const maxBytes = resolve({ maxBufferedBytes: { default: DEFAULT_PAUSE_BUFFER_BYTES, min: 0, max: Number.MAX_SAFE_INTEGER, integer: true } }, options).maxBufferedBytes
    this.paused = { buffer: [], bytes: 0, maxBytes }
  }

  /**
   * Delivers what was buffered, in arrival order, each packet from its own clock task (at
   * zero delay, so after whatever the caller runs now). Idempotent.
   */
  resume (): void {
    const p = this.paused
    if (p === undefined) return
    this.paused = undefined
    const clock = this.network.clockSource
    for (const { packet, from } of p.buffer) {
      const h = clock.schedule(() => {
        this.redeliveries.delete(h)
        this.receive(packet, from)
      }, 0)
      this.redeliveries.add(h)
    }
  }

  isPaused (): boolean { return this.paused !== undefined }

  /** Packets waiting in the pause buffer. */
  get buffered (): number { return this.paused?.buffer.length ?? 0 }

  /** The host vanishes, for good: see the module header. */
  kill (): void {
    if (this.killed) return
    this.killed = true
    this.discardHeld()
  }

  isKilled (): boolean { return this.killed }

  /** @internal Called by the network when a packet arrives. */
  receive (packet: Uint8Array, from: Endpoint): void {
    if (this.local === undefined || this.killed) { this.counters.s.packetsDropped++; return }
    const p = this.paused
    if (p !== undefined) {
      if (p.bytes + packet.length > p.maxBytes) { this.counters.s.packetsDropped++; return }
      p.buffer.push({ packet, from })
      p.bytes += packet.length
      return
    }
    this.counters.deliver(packet, from)
  }

  /** Drops the pause buffer and the redeliveries not yet made, counting them. */
  private discardHeld (): void {
    const clock = this.network.clockSource
    for (const h of this.redeliveries) clock.cancel(h)
    this.counters.s.packetsDropped += this.redeliveries.size + (this.paused?.buffer.length ?? 0)
    this.redeliveries.clear()
    if (this.paused !== undefined) this.paused = { ...this.paused, buffer: [], bytes: 0 }
  }
}
