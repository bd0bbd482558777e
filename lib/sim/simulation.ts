/**
 * The simulator (DESIGN §8): N nodes of one org in one process, on one virtual clock, over
 * the seeded in-memory network. Same code as production; only the clock, the random
 * source, the transport (and later the WireGuard backend) are swapped.
 *
 * Building (`start()`): a root identity and N − 1 members, every key drawn from the seeded
 * random (not the system CSPRNG: the same seed must give the same keys, hence the same peer
 * choices and byte-identical results); the genesis and the N − 1 enrolls are signed once,
 * and every node's `MemoryStorage` is seeded with the very same op array, as a node that had
 * already synced. Each node also starts knowing every node's signed node state (its listen
 * endpoint): a warm start, since the op log carries no endpoints. Node i is a
 * `Mesh` at 10.a.b.c:7946, a.b.c being i + 1 in base 256. Nodes enrolled later join as a
 * real one does: the root enrolls them and issues an invite, and they JOIN through the root.
 *
 * Time: one `ManualClock`; each node sees it through a `NodeClock`, so a single node can be
 * stalled (timers held, socket buffering: `stall`) or killed. `run(ms)` fires one timer at a
 * time and, after each, lets the microtasks it started finish (one `setImmediate`, ~1.5 µs)
 * before the next, so async work (replica ingestion) completes at the virtual instant it
 * began instead of whenever the run returns. Scenario steps run between timers, at one
 * virtual instant: nothing fires while a step awaits a node.
 *
 * Randomness: a master `SeededRandom(seed)` hands out, in a fixed order, the seeds of the
 * network's stream, the key stream, the scenario stream (which nodes a step picks) and one
 * stream per node instance (a restart gets a fresh one).
 *
 * Measuring: tracked changes (`enroll`, `revoke`, `kill`) start at the step with the live
 * members as the nodes expected to observe them, and each node's first `peer:add` /
 * `peer:remove` / `peer:unreachable` for the subject is its observation (metrics.ts).
 * Besides, every `peer:unreachable` any node emits is kept (`unreachable()`: who declared
 * whom dead, when, and why), tracked or not, so a scenario can count false deaths.
 * A node is live while neither killed nor revoked.
 *
 * Admins: `enroll({ roles: ['admin'] })` makes a new admin and `grant(i, ['admin'])` makes
 * member i one, and `enroll({ via })` /
 * `revoke(i, { via })` author through that admin's own `Mesh` (its chain, its invite, the
 * joiner JOINs through it). While the network is partitioned, a joiner lands in the group
 * of the node it joins through.
 */
import { ManualClock, type TimerHandle } from '../clock.js'
import { resolve } from '../config.js'
import { InvalidConfigError } from '../errors.js'
import { type GossipConfig, type GossipInit, type GossipPresetName, GOSSIP_PRESETS, resolveGossipConfig } from '../gossip/config.js'
import { endpoint, type Endpoint, formatEndpoint } from '../gossip/endpoint.js'
import { type LatencyQuantile, MemoryNetwork, type MemoryNetworkStats, type MemoryTransport } from '../gossip/memory-transport.js'
import { NodeIdentity } from '../identity/identity.js'
import type { Key } from '../identity/key.js'
import { Ed25519Signer } from '../identity/sign.js'
import { clampPrivateKey } from '../identity/wg-key.js'
import { Admin } from '../membership/admin.js'
import { proveKeys } from '../membership/pop.js'
import { encodeSignedNodeState, signNodeState } from '../gossip/node-state.js'
import { createGenesis } from '../membership/org.js'
import { MemoryStorage } from '../mesh/memory-storage.js'
import { Mesh } from '../mesh/mesh.js'
import { Replica } from '../membership/replica.js'
import { ReplicaPool, type ReplicaPoolStats } from '../membership/replica-pool.js'
import { inlineVerifier } from '../membership/verify.js'
import { SeededRandom } from '../random.js'
import { PairSecretCache } from '../wire/seal.js'
import { SimulationError } from './errors.js'
import {
  type ChangeKind, type ChangeReport, ConvergenceTracker, type ConvergenceSummary, type Declaration, EventCounts, summarize,
  trafficRate, type TrafficWindow
} from './metrics.js'
import { NodeClock } from './node-clock.js'

export interface SimulationInit {
  /** Nodes at the start, the root included. */
  nodes: number
  /** Everything random follows from it (an unsigned 32-bit integer). */
  seed: number
  /** Chance that a packet is lost. Default 0. */
  lossRate?: number
  /** One-way latency, uniform in [min, max] ms. Default [1, 50]. */
  latencyMs?: readonly [number, number]
  /** Latency from any distribution instead (lib/sim/latency.ts); replaces latencyMs. */
  latency?: LatencyQuantile
  /** Gossip preset. Default 'lan'. */
  preset?: GossipPresetName
  /** Overrides on top of the preset. */
  gossip?: GossipInit
  /** 'null' skips the cryptography (same packet sizes; for very large runs). Default 'real'. */
  sealer?: 'real' | 'null'
  /**
   * Whether nodes share the op-set state they have in common (lib/membership/replica-pool.ts):
   * the same results, a fraction of the memory. Default true.
   */
  shareReplicas?: boolean
  /** Called during `run` (every few thousand timers and at its end) with the virtual ms since the start. */
  onProgress?: (virtualMs: number) => void
}

const SPEC = {
  nodes: { default: 1, min: 1, max: 1 << 24, integer: true },
  seed: { default: 0, min: 0, max: 0xffffffff, integer: true },
  lossRate: { default: 0, min: 0, max: 1 }
}

/** The clock's start: a fixed instant, so results do not depend on when they ran. */
export const SIM_EPOCH_MS = 1_700_000_000_000
/** The gossip port every simulated node binds (memberlist's default). */
export const SIM_GOSSIP_PORT = 7946
/** Timers between progress reports. */
const PROGRESS_EVERY = 8192

export interface SimulationResult {
  seed: number
  nodes: number
  /** Nodes neither killed nor revoked at the end. */
  liveNodes: number
  sealer: 'real' | 'null'
  preset: GossipPresetName
  lossRate: number
  latencyMs: readonly [number, number] | 'custom'
  gossipIntervalMs: number
  virtualMs: number
  summary: ConvergenceSummary
  changes: Array<Omit<ChangeReport, 'delaysMs'>>
  /** The last `measureIdle` window, or null. */
  idle: TrafficWindow | null
  /** Everything every node sent over the whole run (sealing included). */
  traffic: TrafficWindow
  events: Record<string, number>
  timersFired: number
  network: MemoryNetworkStats
}

/** Options of `Simulation.enroll`. */
export interface SimEnrollOptions {
  /** The admin that enrolls and invites the node, which then JOINs through it. Default 0 (the root). */
  via?: number
  /** The new member's roles, e.g. ['admin']. Default none. */
  roles?: string[]
}

interface Slot {
  index: number
  identity: NodeIdentity
  key: Key
  endpoint: Endpoint
  storage: MemoryStorage
  /** A joiner's invite, given again on restarts as a real node's config would. */
  invite: string | undefined
  clock: NodeClock
  transport: MemoryTransport
  mesh: Mesh
  killed: boolean
  revoked: boolean
  stall: { untilMs: number, timer: TimerHandle } | undefined
  /** Whether this instance may author: at once without an invite, else once its JOIN synced. */
  joined: boolean
  /** Sent through transports of earlier incarnations (before restarts). */
  retired: { bytes: number, packets: number }
}


type SlotBase = Omit<Slot, 'clock' | 'transport' | 'mesh' | 'joined'>

export class Simulation {
  readonly clock: ManualClock
  readonly network: MemoryNetwork
  readonly gossipIntervalMs: number
  /** The gossip configuration every node runs (preset and overrides resolved). */
  readonly gossipConfig: GossipConfig
  private readonly init: Required<Pick<SimulationInit, 'nodes' | 'seed' | 'lossRate' | 'preset' | 'sealer'>> & SimulationInit
  private readonly master: SeededRandom
  /** One X25519 per pair of nodes for the whole run (both ends compute the same secret). */
  private readonly pairSecrets = new PairSecretCache()
  /** One copy of the op-set state the nodes have in common (replica-pool.ts); off with `shareReplicas: false`. */
  private readonly replicaPool: ReplicaPool | undefined
  private readonly keys: SeededRandom
  private readonly scenario: SeededRandom
  private readonly t0: number
  private readonly slots: Slot[] = []
  private readonly byKey = new Map<string, number>()
  private readonly tracker = new ConvergenceTracker()
  private readonly events = new EventCounts()
  /** The initial op log and node states, shared by every initial node's storage and init. */
  private genesis: Uint8Array | undefined
  private ops: Uint8Array[] = []
  private nodeStates: Uint8Array[] = []
  private readonly declarations: Declaration[] = []
  /** The current partition, as node indices per group (joiners are added to their sponsor's). */
  private groups: number[][] | undefined
  private idle: TrafficWindow | null = null
  private started = false

  constructor (init: SimulationInit) {
    const cfg = resolve(SPEC, init)
    const preset = init.preset ?? 'lan'
    if (GOSSIP_PRESETS[preset] === undefined) throw new InvalidConfigError(`unknown gossip preset ${String(preset)}`)
    this.gossipConfig = resolveGossipConfig(preset, init.gossip)
    this.gossipIntervalMs = this.gossipConfig.gossipIntervalMs
    this.init = { ...init, ...cfg, preset, sealer: init.sealer ?? 'real' }
    this.replicaPool = init.shareReplicas === false ? undefined : new ReplicaPool()
    this.clock = new ManualClock(SIM_EPOCH_MS)
    this.t0 = this.clock.now()
    this.master = new SeededRandom(cfg.seed)
    const next = (): SeededRandom => new SeededRandom(this.master.int(2 ** 32))
    const netRandom = next()
    this.keys = next()
    this.scenario = next()
    const [minLatencyMs, maxLatencyMs] = init.latencyMs ?? [1, 50]
    this.network = new MemoryNetwork({ clock: this.clock, random: netRandom }, init.latency !== undefined
      ? { latency: init.latency, lossProbability: cfg.lossRate }
      : { minLatencyMs, maxLatencyMs, lossProbability: cfg.lossRate })
  }

  /** Virtual ms since the start. */
  get elapsedMs (): number { return this.clock.now() - this.t0 }

  /** Nodes made so far (killed and revoked ones included); indices run 0 … size − 1. */
  get size (): number { return this.slots.length }

  /** Builds the org and starts every node at virtual time 0. Idempotent. */
  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    const ids: NodeIdentity[] = []
    for (let i = 0; i < this.init.nodes; i++) ids.push(this.newIdentity())
    const rootId = ids[0]
    const genesis = createGenesis({ rootWgPublicKey: rootId.wgPublicKey, rootSigner: rootId.signer, name: 'sim', random: this.keys, clock: this.clock })
    // Signed once, here; every node gets these very bytes.
    const author = new Replica(genesis, { clock: this.clock, verifier: inlineVerifier })
    const admin = new Admin(author, rootId.signer)
    const ops: Uint8Array[] = []
    for (let i = 1; i < ids.length; i++) ops.push(admin.enroll({ wgPublicKey: ids[i].wgPublicKey, signPublicKey: ids[i].signPublicKey, pop: proveKeys(ids[i].signer, author.orgId, ids[i].wgPublicKey), name: nodeName(i) }).wire)
    this.genesis = genesis.wire
    this.ops = ops
    // Each node's state exactly as its Mesh will sign it on its first start (incarnation =
    // stored 0 + 1, its listen endpoint): Ed25519 is deterministic, so a node finds its own
    // state already known and nothing is news. A state any different would make all N nodes
    // gossip N new states at once, a start-up storm no running org ever sees.
    this.nodeStates = ids.map((id, i) => encodeSignedNodeState(signNodeState({
      wgPublicKey: id.wgPublicKey,
      incarnation: 1,
      endpoints: [{ ...slotEndpoint(i), source: 'listen' }],
      relayedPairs: [],
      appMetadata: new Uint8Array(0)
    }, id.signer, author.orgId)))
    for (let i = 0; i < ids.length; i++) this.addSlot(ids[i], new MemoryStorage({ genesis: this.genesis, ops: this.ops, incarnation: 0 }), undefined)
    for (const s of this.slots) await this.startMesh(s)
    await drain()
  }

  /** Stops every running node cleanly and cancels what is in flight. */
  async stop (): Promise<void> {
    for (const s of this.slots) {
      if (s.killed) continue
      this.unstall(s)
      await s.mesh.stop()
    }
    this.network.clear()
  }

  /** Runs `ms` of virtual time. */
  async run (ms: number): Promise<void> {
    this.mustBeStarted()
    if (!(ms >= 0)) throw new InvalidConfigError(`run needs ms >= 0, got ${ms}`)
    await this.runUntil(() => false, ms)
  }

  /**
   * Runs until `done()` holds (checked after each timer) or `maxMs` of virtual time passed;
   * returns whether it held.
   */
  async runUntil (done: () => boolean, maxMs: number): Promise<boolean> {
    this.mustBeStarted()
    const end = this.clock.now() + maxMs
    const clock = this.clock
    let n = 0
    if (done()) return true
    while (clock.fireNext(end)) {
      await drain()
      if (done()) { this.init.onProgress?.(this.elapsedMs); return true }
      if (++n % PROGRESS_EVERY === 0) this.init.onProgress?.(this.elapsedMs)
    }
    clock.advance(end - clock.now())
    await drain()
    this.init.onProgress?.(this.elapsedMs)
    return done()
  }

  /** Runs until every tracked change reached every live node, or `maxMs`; returns whether it did. */
  async runUntilConverged (maxMs: number): Promise<boolean> {
    return await this.runUntil(() => this.tracker.allReached(i => this.isLive(i)), maxMs)
  }

  /** Runs `ms` and records what the nodes sent meanwhile as the idle traffic. */
  async measureIdle (ms: number): Promise<TrafficWindow> {
    const nodes = this.slots.filter(s => !s.killed).length
    const before = this.sentTotals()
    const typesBefore = this.sentByType()
    await this.run(ms)
    const after = this.sentTotals()
    const typesAfter = this.sentByType()
    const byType: NonNullable<TrafficWindow['byType']> = {}
    for (const [type, a] of [...typesAfter].sort(([x], [y]) => x < y ? -1 : 1)) {
      const b = typesBefore.get(type) ?? { bytes: 0, packets: 0 }
      if (a.packets === b.packets) continue
      const r = trafficRate(a.bytes - b.bytes, a.packets - b.packets, nodes, ms)
      byType[type] = { bytesPerNodePerSec: r.bytesPerNodePerSec, packetsPerNodePerSec: r.packetsPerNodePerSec }
    }
    this.idle = { ...trafficRate(after.bytes - before.bytes, after.packets - before.packets, nodes, ms), byType }
    return this.idle
  }

  /** Bytes and packets the running gossipers sent so far, by message type. */
  private sentByType (): Map<string, { bytes: number, packets: number }> {
    const out = new Map<string, { bytes: number, packets: number }>()
    for (const s of this.slots) {
      if (s.killed || !s.mesh.isRunning) continue
      const st = s.mesh.gossiper.stats()
      for (const [type, packets] of Object.entries(st.sent)) {
        const t = out.get(type) ?? { bytes: 0, packets: 0 }
        t.packets += packets
        t.bytes += st.sentBytesByType[type as keyof typeof st.sent]
        out.set(type, t)
      }
    }
    return out
  }

  /**
   * An admin (default the root) enrolls a new node and invites it; the node starts from the
   * invite and JOINs through that admin (tracked: every live node should see it). Returns
   * its index.
   */
  async enroll (options: SimEnrollOptions = {}): Promise<number> {
    const sponsor = this.authoringSlot(options.via ?? 0)
    const identity = this.newIdentity()
    const index = this.slots.length
    this.tracker.start('enroll', index, this.elapsedMs, this.liveIndices())
    this.byKey.set(identity.wgPublicKey.mapKey, index)
    try {
      await sponsor.mesh.enroll({ wgPublicKey: identity.wgPublicKey, signPublicKey: identity.signPublicKey, pop: proveKeys(identity.signer, sponsor.mesh.replica.orgId, identity.wgPublicKey), name: nodeName(index), roles: options.roles ?? [] })
    } catch (err) {
      this.tracker.forget('enroll', index)
      this.byKey.delete(identity.wgPublicKey.mapKey)
      throw err
    }
    const invite = await sponsor.mesh.invite(identity.wgPublicKey, { bootstrap: [{ wgPublicKey: sponsor.key, endpoint: formatEndpoint(sponsor.endpoint) }] })
    const s = this.addSlot(identity, new MemoryStorage(), invite)
    if (this.groups !== undefined) {
      const g = this.groups.find(g => g.includes(sponsor.index))
      if (g !== undefined) { g.push(index); this.applyPartition() }
    }
    await this.startMesh(s)
    return index
  }

  /**
   * An admin (`via`, default the root) grants member `index` these roles (e.g. ['admin']):
   * it enrolls it again, same keys and name, and the new record supersedes the old. Not
   * tracked (a record update is no peer:add); wait on the replicas for it.
   */
  async grant (index: number, roles: string[], options: { via?: number } = {}): Promise<void> {
    const s = this.liveSlot(index)
    if (s.revoked) throw new SimulationError(`node ${index} was revoked`)
    const admin = this.authoringSlot(options.via ?? 0)
    await admin.mesh.enroll({ wgPublicKey: s.key, signPublicKey: s.identity.signPublicKey, pop: proveKeys(s.identity.signer, admin.mesh.replica.orgId, s.key), name: nodeName(index), roles })
  }

  /** An admin (`via`, default the root) revokes node `index` (tracked). */
  async revoke (index: number, options: { via?: number } = {}): Promise<void> {
    const s = this.slotAt(index)
    if (index === 0) throw new SimulationError('the root cannot be revoked')
    if (s.revoked) throw new SimulationError(`node ${index} is already revoked`)
    const admin = this.authoringSlot(options.via ?? 0)
    this.tracker.start('revoke', index, this.elapsedMs, this.liveIndices())
    try {
      await admin.mesh.revoke(s.key, 'simulated revocation')
    } catch (err) {
      this.tracker.forget('revoke', index)
      throw err
    }
    s.revoked = true
  }

  /** Node `index` vanishes, as on SIGKILL: its timers are cancelled and its socket goes dead (tracked). */
  kill (index: number): void {
    const s = this.liveSlot(index)
    if (!s.revoked) this.tracker.start('death', index, this.elapsedMs, this.liveIndices())
    this.unstall(s)
    s.killed = true
    s.clock.kill()
    s.transport.kill()
  }

  /**
   * Freezes node `index` for `ms`: its timers and inbound packets wait and run when the
   * stall ends (timers first). A second stall extends the first if it ends later.
   */
  stall (index: number, ms: number): void {
    const s = this.liveSlot(index)
    if (!(ms >= 0)) throw new InvalidConfigError(`stall needs ms >= 0, got ${ms}`)
    const untilMs = this.clock.now() + ms
    if (s.stall !== undefined) {
      if (s.stall.untilMs >= untilMs) return
      this.clock.cancel(s.stall.timer)
    }
    s.clock.hold()
    s.transport.pause()
    s.stall = { untilMs, timer: this.clock.schedule(() => { this.unstall(s) }, ms) }
  }

  /**
   * Splits the network: each group (of node indices) reaches only itself; unlisted nodes
   * form one more group. A node enrolled meanwhile joins its sponsor's group.
   */
  partition (groups: ReadonlyArray<readonly number[]>): void {
    for (const g of groups) for (const i of g) this.slotAt(i)
    this.groups = groups.map(g => [...g])
    this.applyPartition()
  }

  heal (): void {
    this.groups = undefined
    this.network.heal()
  }

  /**
   * Restarts round(fraction × live nodes) live nodes picked by the seeded scenario stream:
   * each stops cleanly and a new instance starts on its storage, on a fresh socket at the
   * same address. With `downtimeMs`, the others run on for that long in between. Returns
   * the indices restarted.
   */
  async restart (fraction: number, options: { downtimeMs?: number } = {}): Promise<number[]> {
    if (!(fraction >= 0 && fraction <= 1)) throw new InvalidConfigError(`restart fraction must be in [0, 1], got ${fraction}`)
    const live = this.liveIndices()
    const k = Math.round(fraction * live.length)
    for (let i = 0; i < k; i++) {
      const j = i + this.scenario.int(live.length - i)
      const t = live[i]; live[i] = live[j]; live[j] = t
    }
    const chosen = live.slice(0, k).sort((a, b) => a - b)
    for (const i of chosen) {
      const s = this.slots[i]
      this.unstall(s)
      await s.mesh.stop()
      s.clock.kill()
    }
    if ((options.downtimeMs ?? 0) > 0) await this.run(options.downtimeMs!)
    for (const i of chosen) {
      const s = this.slots[i]
      // What the old socket sent still counts.
      const st = s.transport.stats()
      s.retired.bytes += st.bytesSent
      s.retired.packets += st.packetsSent
      Object.assign(s, this.instance(s), { joined: s.invite === undefined })
      await this.startMesh(s)
    }
    this.events.add('restart', chosen.length)
    return chosen
  }

  /** A node index picked by the seeded scenario stream among live nodes other than the root and `except`. */
  pickMember (except: readonly number[] = []): number {
    const pool = this.liveIndices().filter(i => i !== 0 && !except.includes(i))
    if (pool.length === 0) throw new SimulationError('no live member to pick')
    return pool[this.scenario.int(pool.length)]
  }

  /** A copy of `indices` in an order drawn from the seeded scenario stream (Fisher–Yates). */
  shuffled (indices: readonly number[]): number[] {
    const out = [...indices]
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.scenario.int(i + 1)
      const t = out[i]; out[i] = out[j]; out[j] = t
    }
    return out
  }

  isLive (index: number): boolean {
    const s = this.slots[index]
    return s !== undefined && !s.killed && !s.revoked
  }

  /** The live nodes' indices, ascending. */
  live (): number[] { return this.liveIndices() }

  /** Whether node `index` may author: it needed no JOIN, or its JOIN synced. */
  hasJoined (index: number): boolean { return this.slotAt(index).joined }

  /** Node `index`'s WireGuard key. */
  keyOf (index: number): Key { return this.slotAt(index).key }

  /** Node `index` for a key, if it is one of ours. */
  indexOf (key: Key): number | undefined { return this.byKey.get(key.mapKey) }

  /** What the replica pool saved so far (undefined with `shareReplicas: false`). */
  poolStats (): ReplicaPoolStats | undefined { return this.replicaPool === undefined ? undefined : { ...this.replicaPool.stats } }

  /** Node `index`'s current `Mesh` (read it; act through the Simulation). Not for a killed node. */
  meshOf (index: number): Mesh { return this.liveSlot(index).mesh }

  /** Every `peer:unreachable` so far, in the order emitted: who declared whom dead, when, why. */
  unreachable (): readonly Declaration[] { return this.declarations }

  /** Every tracked change so far, with each observer's delay (for plots and pooling seeds). */
  changes (): ChangeReport[] {
    return this.tracker.report(i => this.isLive(i), this.gossipIntervalMs)
  }

  result (): SimulationResult {
    const changes = this.changes()
    const sent = this.sentTotals()
    const running = this.slots.filter(s => !s.killed).length
    return {
      seed: this.init.seed,
      nodes: this.init.nodes,
      liveNodes: this.liveIndices().length,
      sealer: this.init.sealer,
      preset: this.init.preset,
      lossRate: this.init.lossRate,
      latencyMs: this.init.latency !== undefined ? 'custom' : (this.init.latencyMs ?? [1, 50]),
      gossipIntervalMs: this.gossipIntervalMs,
      virtualMs: this.elapsedMs,
      summary: summarize(changes, this.gossipIntervalMs),
      changes: changes.map(({ delaysMs: _, ...c }) => c),
      idle: this.idle,
      traffic: trafficRate(sent.bytes, sent.packets, running, this.elapsedMs),
      events: this.events.toJSON(),
      timersFired: this.clock.fired,
      network: this.network.stats()
    }
  }

  private newIdentity (): NodeIdentity {
    return new NodeIdentity(clampPrivateKey(this.keys.bytes(32)), new Ed25519Signer(this.keys.bytes(32)))
  }

  private addSlot (identity: NodeIdentity, storage: MemoryStorage, invite: string | undefined): Slot {
    const index = this.slots.length
    const base: SlotBase = {
      index,
      identity,
      key: identity.wgPublicKey,
      endpoint: slotEndpoint(index),
      storage,
      invite,
      killed: false,
      revoked: false,
      stall: undefined,
      retired: { bytes: 0, packets: 0 }
    }
    const s: Slot = { ...base, ...this.instance(base), joined: invite === undefined }
    this.slots.push(s)
    this.byKey.set(s.key.mapKey, index)
    return s
  }

  /** A new `Mesh` for slot `s` (at the start, and after each restart): its own clock view, socket and random stream. */
  private instance (s: SlotBase): Pick<Slot, 'clock' | 'transport' | 'mesh'> {
    const clock = new NodeClock(this.clock)
    const transport = this.network.createTransport({ host: s.endpoint.host, port: s.endpoint.port })
    const { preset, gossip } = this.init
    const mesh = new Mesh({
      identity: s.identity,
      storage: s.storage,
      transport,
      clock,
      random: new SeededRandom(this.master.int(2 ** 32)),
      gossip: gossip === undefined ? preset : { preset, ...gossip },
      sealer: this.init.sealer,
      verifier: inlineVerifier,
      pairSecrets: this.pairSecrets,
      ...(this.replicaPool === undefined ? {} : { replicaPool: this.replicaPool }),
      nodeStates: this.nodeStates,
      ...(s.invite === undefined ? {} : { invite: s.invite })
    })
    return { clock, transport, mesh }
  }

  /**
   * Starts slot `s`'s mesh, then listens. Listening only after `start()` skips the
   * `peer:add` a mesh emits at start for every member already in its view (N per node, so
   * N² PeerInfo objects the mesh would otherwise build for nobody): they are never tracked
   * changes, since a change's observers are nodes already running when it starts.
   */
  private async startMesh (s: Slot): Promise<void> {
    const mesh = s.mesh
    await mesh.start()
    const at = s.index
    mesh.addEventListener('peer:add', e => { this.observe(at, 'peer:add', 'enroll', e.detail.wgPublicKey) })
    mesh.addEventListener('peer:remove', e => { this.observe(at, 'peer:remove', 'revoke', e.detail.peer.wgPublicKey) })
    mesh.addEventListener('peer:unreachable', e => {
      const subject = this.byKey.get(e.detail.wgPublicKey.mapKey)
      if (subject !== undefined) this.declarations.push({ observer: at, subject, atMs: this.elapsedMs, cause: e.detail.cause })
      this.observe(at, 'peer:unreachable', 'death', e.detail.wgPublicKey)
    })
    mesh.addEventListener('peer:reachable', () => { this.events.add('peer:reachable') })
    mesh.addEventListener('joined', () => {
      if (s.mesh === mesh) s.joined = true
      this.events.add('joined')
    })
    mesh.addEventListener('error', () => { this.events.add('error') })
  }

  private observe (node: number, event: string, kind: ChangeKind, subject: Key): void {
    this.events.add(event)
    const of = this.byKey.get(subject.mapKey)
    if (of !== undefined) this.tracker.observe(kind, of, node, this.elapsedMs)
  }

  private applyPartition (): void {
    const groups = this.groups ?? []
    this.network.partition(Object.fromEntries(groups.map((g, k) => [`g${k}`, g.map(i => this.slots[i].endpoint)])))
  }

  /** A node that can author now: live, and joined (a step awaiting an unjoined mesh would wait on timers that never fire). */
  private authoringSlot (index: number): Slot {
    const s = this.liveSlot(index)
    if (s.revoked) throw new SimulationError(`node ${index} was revoked`)
    if (!s.joined) throw new SimulationError(`node ${index} has not joined yet: run until hasJoined(${index})`)
    return s
  }

  private unstall (s: Slot): void {
    if (s.stall === undefined) return
    this.clock.cancel(s.stall.timer)
    s.stall = undefined
    // Timers first, then the socket: the order a resumed event loop handles them in.
    s.clock.release()
    s.transport.resume()
  }

  /** Bytes and packets every node sent so far (sealing included; earlier incarnations' sockets too). */
  sentTotals (): { bytes: number, packets: number } {
    let bytes = 0
    let packets = 0
    for (const s of this.slots) {
      const st = s.transport.stats()
      bytes += s.retired.bytes + st.bytesSent
      packets += s.retired.packets + st.packetsSent
    }
    return { bytes, packets }
  }

  private liveIndices (): number[] {
    const out: number[] = []
    for (const s of this.slots) if (!s.killed && !s.revoked) out.push(s.index)
    return out
  }

  private slotAt (index: number): Slot {
    const s = this.slots[index]
    if (s === undefined) throw new SimulationError(`no node ${index} (nodes 0 … ${this.slots.length - 1})`)
    return s
  }

  private liveSlot (index: number): Slot {
    const s = this.slotAt(index)
    if (s.killed) throw new SimulationError(`node ${index} was killed`)
    return s
  }

  private mustBeStarted (): void {
    if (!this.started) throw new SimulationError('call start() first')
  }
}

function nodeName (i: number): string { return i === 0 ? 'root' : `n${i}` }

/** Node i's gossip socket: 10.a.b.c:7946 with a.b.c = i + 1 in base 256. */
function slotEndpoint (i: number): Endpoint {
  const n = i + 1
  return endpoint(`10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`, SIM_GOSSIP_PORT)
}

/** Lets every microtask queued so far (and those they queue) run. */
async function drain (): Promise<void> {
  await new Promise<void>(resolve => { setImmediate(resolve) })
}
