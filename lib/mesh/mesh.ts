/**
 * `Mesh`: one node of an org, as a Node program embeds it (DESIGN §4). It composes the
 * identity, the membership replica and its storage, the gossip engine over a transport, and
 * optionally a WireGuard backend kept in step by a `Reconciler`, and reports what changes as
 * typed events.
 *
 *   const mesh = new Mesh({ stateDir: '/var/lib/wiremesh', invite: token })
 *   mesh.addEventListener('peer:add', e => console.log(e.detail.name, e.detail.overlayAddress))
 *   await mesh.start()
 *
 * Lifecycle. The constructor only checks its input (config.ts): no file, socket or timer.
 * `start()` opens the storage, loads or creates the identity, builds the replica (boot.ts),
 * starts the transport if it is not started, then the gossiper, and JOINs through the
 * invite's bootstrap members and `bootstrap`. `stop()` undoes it all: every timer, listener
 * and socket it made, and closes the storage once its writes are done. Both are idempotent,
 * and a stopped mesh can be started again (it reloads from its storage). With `storage`,
 * `transport`, `clock` and `random` injected, neither touches the disk or a real timer.
 *
 * Persistence. Every op the replica accepts is appended to storage (not fsynced: the next
 * sync append or close makes it durable). An op this node authors (admin actions, leave) is
 * appended with `sync` before the replica takes it, and so before the gossiper can send it
 * (authoring.ts); actions run one at a time, in call order. A restarted admin waits until
 * its JOIN has synced before it authors (DESIGN §4: it fetches its own chain head first), so
 * pass a `signal` with a timeout when peers may be down.
 *
 * WireGuard. With `backend` (config.ts), `start()` also starts a `Reconciler` on it: its
 * wanted peers are the other members of the view (never a revoked key), each with its /128,
 * the endpoints of its node state on the org's WireGuard port, and the org's keepalive; every
 * peer:add/update/remove asks it for a (debounced) pass, and it resyncs periodically. Its
 * repeated failures are `error` events (a `ReconcileError` whose cause is the backend's
 * `WireGuardError`), its state is `status().wireguard`. `stop()` stops it and closes the
 * backend if the mesh created it from a spec. The interface itself is the caller's to create.
 *
 * Events: see events.ts. Listeners run in order and must not block.
 */
import { join as joinPath } from 'node:path'
import { createHash } from 'node:crypto'
import { systemClock } from '../clock.js'
import { AbortError, MeshStateError, NotAuthorizedError, throwIfAborted } from '../errors.js'
import { TypedEventTarget } from '../events.js'
import { type Endpoint, formatEndpoint } from '../gossip/endpoint.js'
import { Gossiper } from '../gossip/gossiper.js'
import type { PeerLivenessDetail } from '../gossip/liveness.js'
import type { NodeState } from '../gossip/node-state.js'
import type { AbortOptions, Transport } from '../gossip/transport.js'
import { UdpTransport } from '../gossip/udp-transport.js'
import type { NodeIdentity } from '../identity/identity.js'
import { loadOrCreateIdentity } from '../identity/identity-file.js'
import type { Key } from '../identity/key.js'
import { Admin, type EnrollInit, leave } from '../membership/admin.js'
import { createInvite } from '../membership/invite.js'
import type { LoggedOp } from '../membership/log.js'
import type { Op } from '../membership/op.js'
import { DEFAULT_MAX_CLOCK_SKEW_MS, type Replica } from '../membership/replica.js'
import { systemRandom } from '../random.js'
import { toKeyString } from '../util/bytes.js'
import { NullSealer } from '../wire/null-sealer.js'
import type { WireGuardBackend } from '../wireguard/backend.js'
import { peerSpecOf, type PeerSpec } from '../wireguard/desired.js'
import { MemoryBackend } from '../wireguard/memory.js'
import { Reconciler, type ReconcilerInit } from '../wireguard/reconciler.js'
import { UapiBackend } from '../wireguard/uapi.js'
import { WgCliBackend } from '../wireguard/wg-cli.js'
import { type PacketSealer, Sealer } from '../wire/seal.js'
import { authorDetached } from './authoring.js'
import { boot, checkCanCreate } from './boot.js'
import { type BackendSpec, IDENTITY_FILE, isUnspecified, type MeshConfig, type MeshInit, parseMetadata, resolveMeshInit } from './config.js'
import type { MeshEvents, PeerInfo, SyncDetail } from './events.js'
import { FileStorage } from './file-storage.js'
import { PeerTracker, toPeerInfo } from './peer-tracker.js'
import type { MeshStorage } from './storage.js'
import { type MeshStatus, statusOf } from './status.js'

export type { MeshStatus } from './status.js'

export interface InviteOptions extends AbortOptions {
  /** The members the joiner JOINs through. Default: this node, at its first advertised endpoint. */
  bootstrap?: Array<{ wgPublicKey: Key, endpoint: string }>
}

type Listener = Parameters<EventTarget['addEventListener']>[1]
type AddOptions = Parameters<EventTarget['addEventListener']>[2]

/** What one `start()` made; `stop()` takes it apart. */
interface Running {
  readonly identity: NodeIdentity
  readonly storage: MeshStorage
  readonly transport: Transport
  readonly startedTransport: boolean
  readonly replica: Replica
  readonly sealer: PacketSealer
  readonly gossiper: Gossiper
  readonly peers: PeerTracker
  /** With a backend: the device and its reconciler; `ownBackend` when the mesh created it. */
  readonly wg: { backend: WireGuardBackend, reconciler: Reconciler, ownBackend: boolean } | undefined
  /** Resolves when this node may author: at once, or once its JOIN synced. */
  readonly ready: Deferred
  readonly cleanup: Array<() => void>
}

export class Mesh extends TypedEventTarget<MeshEvents> {
  private readonly cfg: MeshConfig
  private run: Running | undefined
  private starting: Promise<void> | undefined
  private stopping: Promise<void> | undefined
  /** Authoring actions, one at a time. */
  private authoring: Promise<unknown> = Promise.resolve()
  /** Set when an authored op may or may not be on disk: no more authoring until the next start reloads the storage. */
  private poisoned: unknown
  /** Ids (`idKey`) of ops stored before the replica took them; the ops:added persister skips them. */
  private readonly ahead = new Set<string>()

  /** Event types a listener was ever added for: the others are not even built (a simulator runs thousands of meshes, few observed). */
  private readonly heard = new Set<string>()
  /** Background failures (each also an 'error' event). */
  private errors = 0

  /** Checks `init` (every field, see `MeshInit`); throws `InvalidConfigError` / `InvalidInviteError`, having made nothing. */
  constructor (init: MeshInit) {
    super()
    this.cfg = resolveMeshInit(init)
  }

  /** The WireGuard backend in use: the one given, or the one made from a spec while started. */
  get backend (): WireGuardBackend | undefined {
    const b = this.run?.wg?.backend ?? this.cfg.backend
    return b === undefined || isSpec(b) ? undefined : b
  }

  /** The reconciler driving the backend (started, with a backend only). */
  get reconciler (): Reconciler | undefined { return this.run?.wg?.reconciler }

  override addEventListener<K extends keyof MeshEvents & string> (type: K, listener: ((evt: MeshEvents[K]) => void) | null, options?: AddOptions): void
  override addEventListener (type: string, listener: Listener, options?: AddOptions): void
  override addEventListener (type: string, listener: any, options?: AddOptions): void {
    this.heard.add(type)
    super.addEventListener(type, listener, options)
  }

  override emit<K extends keyof MeshEvents & string> (type: K, detail: MeshEvents[K]['detail']): boolean {
    return this.heard.has(type) ? super.emit(type, detail) : false
  }

  isStarted (): boolean { return this.run !== undefined }

  /** Starts the node (see the top of the file). Idempotent; an abort rejects with `AbortError` and leaves it stopped. */
  async start (options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    if (this.stopping !== undefined) await this.stopping
    if (this.run !== undefined) return
    this.starting ??= this.open(options.signal).finally(() => { this.starting = undefined })
    await this.starting
  }

  /** Stops the node and releases everything `start()` made. Idempotent. */
  async stop (): Promise<void> {
    if (this.starting !== undefined) await this.starting.catch(() => {})
    if (this.stopping !== undefined) { await this.stopping; return }
    const run = this.run
    if (run === undefined) return
    this.run = undefined
    this.stopping = this.close(run).finally(() => { this.stopping = undefined })
    await this.stopping
  }

  private async open (signal: AbortSignal | undefined): Promise<void> {
    const cfg = this.cfg
    const clock = cfg.clock ?? systemClock
    const random = cfg.random ?? systemRandom
    const where = cfg.stateDir === undefined ? 'the mesh storage' : `state dir ${cfg.stateDir}`
    const storage = cfg.storage ?? new FileStorage(cfg.stateDir!)
    const undo: Array<() => unknown> = [async () => await storage.close()]
    try {
      const stored = await storage.load({ signal })
      checkCanCreate(stored, cfg, where)
      const identity = cfg.identity ?? await loadOrCreateIdentity(joinPath(cfg.stateDir!, IDENTITY_FILE))
      throwIfAborted(signal)
      const maxClockSkewMs = DEFAULT_MAX_CLOCK_SKEW_MS
      const booted = await boot(stored, cfg, {
        storage, identity, clock, random, where,
        replicaInit: { clock, store: cfg.store, pendingQuota: cfg.gossip.pendingQuota, maxClockSkewMs, ...(cfg.verifier === undefined ? {} : { verifier: cfg.verifier }), ...(cfg.replicaPool === undefined ? {} : { pool: cfg.replicaPool }) }
      }, signal)
      const replica = booted.replica
      // The storage was just read back: whatever an earlier failed append left is known now.
      this.poisoned = undefined
      this.ahead.clear()
      const sealer: PacketSealer = cfg.sealer === 'null'
        ? new NullSealer(identity.wgPublicKey, { clock, random })
        : new Sealer({ identity, orgId: replica.orgId, clock, random }, { epochRotateMs: cfg.gossip.epochRotateMs, maxSkewMs: cfg.gossip.maxClockSkewMs, ...(cfg.pairSecrets === undefined ? {} : { pairSecrets: cfg.pairSecrets }) })
      const transport = cfg.transport ?? new UdpTransport({ host: cfg.listen!.host, port: cfg.listen!.port, maxPacketBytes: cfg.gossip.maxPacketBytes })
      const startedTransport = !transport.isStarted()
      if (startedTransport) {
        await transport.start({ signal })
        undo.push(async () => await transport.stop())
      }
      throwIfAborted(signal)
      const gossiper = new Gossiper({ identity, replica, transport, sealer, clock, random }, cfg.gossip, {
        incarnation: booted.incarnation,
        ...(cfg.advertise === undefined ? {} : { endpoints: [...cfg.advertise] }),
        appMetadata: cfg.appMetadata,
        knownStates: cfg.nodeStates
      })
      const self = identity.wgPublicKey
      let wg: Running['wg']
      if (cfg.backend !== undefined) {
        const spec = cfg.backend
        const backend = isSpec(spec) ? await createBackend(spec) : spec
        if (isSpec(spec)) undo.push(async () => await backend.close())
        const desired = (): PeerSpec[] => {
          const port = replica.org.params.listenPort
          const out: PeerSpec[] = []
          for (const m of replica.members()) {
            if (m.wgPublicKey.equals(self) || replica.isRevoked(m.wgPublicKey)) continue
            out.push(peerSpecOf(toPeerInfo(m, gossiper.nodeState(m.wgPublicKey)), port))
          }
          return out
        }
        const given = cfg.wireguardInit
        const init: ReconcilerInit = {
          ...given,
          keepaliveS: given.keepaliveS ?? replica.org.params.keepaliveS,
          managedPrefixes: given.managedPrefixes ?? [replica.prefixCidr]
        }
        wg = { backend, reconciler: new Reconciler({ backend, clock, desired }, init), ownBackend: isSpec(spec) }
      }
      const changed = (): void => { wg?.reconciler.changed() }
      const peers = new PeerTracker({
        replica, clock, self, maxClockSkewMs,
        stateOf: k => gossiper.nodeState(k),
        sharedStates: () => gossiper.sharedStates,
        emitAdd: p => { changed(); this.emit('peer:add', p) },
        emitUpdate: p => { changed(); this.emit('peer:update', p) },
        emitRemove: (peer, reason) => { changed(); this.emit('peer:remove', { peer, reason }) }
      })
      const run: Running = {
        identity, storage, transport, startedTransport, replica, sealer, gossiper, peers, wg,
        ready: deferred(), cleanup: []
      }
      undo.push(() => { this.detach(run) })
      this.wire(run)
      this.run = run
      peers.resync()
      gossiper.start()
      if (wg !== undefined) {
        undo.push(async () => await wg.reconciler.stop())
        wg.reconciler.start()
      }
      this.joinIfNeeded(run)
    } catch (err) {
      this.run = undefined
      for (const u of undo.reverse()) await Promise.resolve(u()).catch(() => {})
      throw err
    }
  }

  /** Attaches the mesh to the replica's and the gossiper's events. */
  private wire (run: Running): void {
    const { replica, gossiper, peers, storage } = run
    const listen = <T extends Event>(target: EventTarget, type: string, fn: (e: T) => void): void => {
      const h = fn as (e: Event) => void
      target.addEventListener(type, h)
      run.cleanup.push(() => { target.removeEventListener(type, h) })
    }
    listen<CustomEvent<{ ops: readonly LoggedOp[] }>>(replica, 'ops:added', e => { this.opsAdded(run, e.detail.ops) })
    const liveness = (type: 'peer:reachable' | 'peer:unreachable') => (e: CustomEvent<PeerLivenessDetail>): void => {
      const d = e.detail
      this.emit(type, { wgPublicKey: d.key, state: d.state, incarnation: d.incarnation, cause: d.cause })
    }
    listen(gossiper, 'peer:reachable', liveness('peer:reachable'))
    listen(gossiper, 'peer:unreachable', liveness('peer:unreachable'))
    listen<CustomEvent<{ key: Key, state: NodeState }>>(gossiper, 'state', e => { peers.stateChanged(e.detail.key) })
    listen<CustomEvent<{ incarnation: number }>>(gossiper, 'incarnation', e => {
      storage.saveIncarnation(e.detail.incarnation).catch(err => { this.backgroundError(err) })
    })
    if (run.wg !== undefined) {
      listen<CustomEvent<{ error: Error }>>(run.wg.reconciler, 'error', e => { this.backgroundError(e.detail.error) })
    }
    listen<CustomEvent<{ via: Key }>>(gossiper, 'joined', e => {
      run.ready.resolve()
      this.emit('joined', { via: e.detail.via })
    })
  }

  /** Persists what the replica accepted (unless stored already), then diffs the view and reports. */
  private opsAdded (run: Running, ops: readonly LoggedOp[]): void {
    if (this.run !== run) return
    const wires: Uint8Array[] = []
    for (const op of ops) if (!this.ahead.delete(op.idKey)) wires.push(op.wire)
    if (wires.length > 0) run.storage.appendOps(wires).catch(err => { this.backgroundError(err) })
    run.peers.opsAdded(ops)
    if (!this.heard.has('sync')) return
    const replica = run.replica
    let heads: string | undefined
    const detail: SyncDetail = {
      added: ops.length,
      ops: replica.size,
      pending: replica.pending,
      get heads () { return (heads ??= headsHex(replica)) }
    }
    this.emit('sync', detail)
  }

  /** JOINs through the invite's bootstrap and `bootstrap` (also after a restart: it syncs the chain head before authoring). */
  private joinIfNeeded (run: Running): void {
    const self = run.identity.wgPublicKey
    const targets: Array<{ wgPublicKey: Key, endpoint: Endpoint }> = []
    for (const t of this.cfg.joinTargets) if (!t.wgPublicKey.equals(self)) targets.push(t)
    const enroll = this.cfg.invite?.enroll.wire ?? run.replica.liveEnroll(self)?.wire ??
      (self.equals(run.replica.org.rootWgPublicKey) ? run.replica.genesis.wire : undefined)
    if (targets.length === 0 || enroll === undefined) {
      for (const t of targets) run.gossiper.setEndpoint(t.wgPublicKey, t.endpoint)
      run.ready.resolve()
      return
    }
    run.gossiper.join(targets, enroll)
  }

  /** Stops the timers and listeners of `run` (synchronous: no event fires after it). */
  private detach (run: Running): void {
    run.peers.stop()
    run.gossiper.stop()
    for (const off of run.cleanup.splice(0)) off()
    run.ready.reject(new MeshStateError('the mesh was stopped'))
  }

  private async close (run: Running): Promise<void> {
    this.detach(run)
    await this.authoring
    let failure: unknown
    if (run.wg !== undefined) {
      await run.wg.reconciler.stop()
      if (run.wg.ownBackend) await run.wg.backend.close().catch(err => { failure = err })
    }
    await run.storage.close().catch(err => { failure ??= err })
    if (run.startedTransport) await run.transport.stop().catch(err => { failure ??= err })
    if (failure !== undefined) throw failure
  }

  private backgroundError (err: unknown): void {
    this.errors++
    this.emit('error', { error: err instanceof Error ? err : new Error(String(err)) })
  }

  private running (): Running {
    if (this.run === undefined) throw new MeshStateError('the mesh is not started: call start() first')
    return this.run
  }

  /** Whether the mesh is started: `start()` resolved and `stop()` has not begun. */
  get isRunning (): boolean { return this.run !== undefined }

  /** This node's identity (started only). */
  get identity (): NodeIdentity { return this.running().identity }
  /** The membership replica (started only): read it, do not add to it behind the mesh's back. */
  get replica (): Replica { return this.running().replica }
  /** The gossip engine (started only). */
  get gossiper (): Gossiper { return this.running().gossiper }
  /** The gossip transport (started only). */
  get transport (): Transport { return this.running().transport }

  /** Every member of the view, this node included, sorted by WireGuard key. */
  members (): PeerInfo[] {
    const run = this.running()
    return run.replica.members().map(m => toPeerInfo(m, run.gossiper.nodeState(m.wgPublicKey)))
  }

  /** A member's current signed node state, if one was heard. */
  nodeState (wgPublicKey: Key): NodeState | undefined { return this.running().gossiper.nodeState(wgPublicKey) }

  /** A snapshot for operators and tests; `{ started: false }` when stopped. */
  status (): MeshStatus {
    const run = this.run
    if (run === undefined) return { started: false }
    return statusOf(run, this.advertised(run), this.errors, run.wg === undefined ? undefined : { kind: run.wg.backend.kind, iface: run.wg.backend.iface, ...run.wg.reconciler.status() })
  }

  /** Replaces the app metadata this node publishes (≤ 512 bytes). */
  setAppMetadata (bytes: Uint8Array): void {
    const m = parseMetadata(bytes, 'appMetadata')
    this.running().gossiper.setAppMetadata(m)
  }

  /** Enrolls a member, or updates a member's record. Admins only (`NotAuthorizedError`). Returns the member as the view now has it. */
  async enroll (init: EnrollInit, options: AbortOptions = {}): Promise<PeerInfo | undefined> {
    await this.author(options, (view, run) => new Admin(view, run.identity.signer).enroll(init), isAdmin)
    const run = this.run
    const m = run?.replica.member(init.wgPublicKey)
    return m === undefined ? undefined : toPeerInfo(m, run!.gossiper.nodeState(m.wgPublicKey))
  }

  /** Removes a member; it may be enrolled again later. Admins only. */
  async remove (wgPublicKey: Key, options: AbortOptions = {}): Promise<void> {
    await this.author(options, (view, run) => new Admin(view, run.identity.signer).remove(wgPublicKey), isAdmin)
  }

  /** Revokes a member's keys for good. Admins only. */
  async revoke (wgPublicKey: Key, reason = '', options: AbortOptions = {}): Promise<void> {
    await this.author(options, (view, run) => new Admin(view, run.identity.signer).revoke(wgPublicKey, { reason }), isAdmin)
  }

  /** This node leaves the org (signed with its own key; the root cannot). Keep it running a while so the leave spreads. */
  async leave (options: AbortOptions = {}): Promise<void> {
    await this.author(options, (view, run) => leave(view, run.identity.signer, run.identity.wgPublicKey), run => {
      if (run.identity.wgPublicKey.equals(run.replica.org.rootWgPublicKey)) throw new NotAuthorizedError('the root cannot leave its org')
    }, false)
  }

  /**
   * An invite token for a member already enrolled (public data only). Admins only. Its
   * bootstrap is this node at its first advertised endpoint unless `options.bootstrap` says.
   */
  async invite (wgPublicKey: Key, options: InviteOptions = {}): Promise<string> {
    return await this.serially(options.signal, async () => {
      const run = this.running()
      isAdmin(run)
      const bootstrap = options.bootstrap ?? [{ wgPublicKey: run.identity.wgPublicKey, endpoint: this.advertised(run) ?? noEndpoint() }]
      return createInvite(run.replica, wgPublicKey, { bootstrap })
    })
  }

  /** Runs `fn` after every earlier authoring action. */
  private async serially<T> (signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const job = this.authoring.then(async () => {
      throwIfAborted(signal)
      return await fn()
    })
    this.authoring = job.catch(() => {})
    return await job
  }

  /** Signs an op (checks as the action does), stores it fsynced, and only then lets the replica (and so gossip) have it. */
  private async author (options: AbortOptions, act: (view: Replica, run: Running) => unknown, precheck: (run: Running) => unknown, chained = true): Promise<Op> {
    const signal = options.signal
    return await this.serially(signal, async () => {
      const run = this.running()
      if (this.poisoned !== undefined) {
        throw new MeshStateError('an op this node authored could not be stored; restart the mesh before authoring again', { cause: this.poisoned })
      }
      // Refuse what is refused anyway before waiting for the JOIN to sync.
      precheck(run)
      // A chain op waits until its author's own chain head is synced; a leave has no chain.
      if (chained) await abortable(run.ready.promise, signal)
      if (this.run !== run) throw new MeshStateError('the mesh was stopped')
      const op = authorDetached(run.replica, view => act(view, run))
      const id = toKeyString(op.id)
      this.ahead.add(id)
      try {
        await run.storage.appendOps([op.wire], { sync: true, signal })
      } catch (err) {
        this.ahead.delete(id)
        // An abort before the write started wrote nothing; anything else may have left it on disk.
        if (!(err instanceof AbortError)) this.poisoned = err
        throw err
      }
      // While it was being stored, an op of ours at the same seq may have arrived (our own
      // chain, from a backup's earlier life, still syncing in): adding ours would equivocate
      // and every node would cut our chain. Refuse, and author nothing more until a restart.
      const taken = op.seq > 0 && (run.replica.log.chainOf(op.author)?.at(op.seq).length ?? 0) > 0
      if (taken) {
        this.poisoned = new MeshStateError(`seq ${op.seq} of this admin's chain arrived from a peer while the op signed for it was being stored`)
        throw this.poisoned
      }
      // Stopped meanwhile: the op is stored, and goes out after the next start.
      if (this.run === run) run.replica.addLocal(op)
      return op
    })
  }

  /** The endpoint invites name this node by: the first advertised one, or the bound address when concrete. */
  private advertised (run: Running): string | undefined {
    const a = this.cfg.advertise?.[0]
    if (a !== undefined) return formatEndpoint(a)
    const local = run.transport.localEndpoint()
    return isUnspecified(local.host) ? undefined : formatEndpoint(local)
  }
}

function isSpec (b: WireGuardBackend | BackendSpec): b is BackendSpec {
  return typeof (b as { read?: unknown }).read !== 'function'
}

/** The backend a spec names; netlink is imported only when asked for (it loads a native binding). */
async function createBackend (spec: BackendSpec): Promise<WireGuardBackend> {
  switch (spec.kind) {
    case 'memory': return new MemoryBackend(spec.iface === undefined ? {} : { iface: spec.iface })
    case 'uapi': { const { kind: _k, iface, ...init } = spec; return new UapiBackend(iface, init) }
    case 'wg-cli': { const { kind: _k, iface, ...init } = spec; return new WgCliBackend(iface, init) }
    case 'netlink': {
      const { kind: _k, iface, ...init } = spec
      const { NetlinkBackend } = await import('../wireguard/netlink.js')
      return new NetlinkBackend(iface, init)
    }
  }
}

/** Throws `NotAuthorizedError` unless this node is a valid admin now. */
function isAdmin (run: Running): void { new Admin(run.replica, run.identity.signer).rank() }

function noEndpoint (): never {
  throw new MeshStateError('this node has no endpoint to put in an invite (it listens on a wildcard address): set advertise, or pass bootstrap')
}

function headsHex (replica: Replica): string {
  return createHash('sha256').update(replica.digest()).digest().subarray(0, 8).toString('hex')
}

interface Deferred { promise: Promise<void>, resolve: () => void, reject: (err: Error) => void }

function deferred (): Deferred {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  promise.catch(() => {})
  return { promise, resolve, reject }
}

/** `p`, or an `AbortError` as soon as `signal` fires. */
async function abortable<T> (p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return await p
  throwIfAborted(signal)
  let off = (): void => {}
  const aborted = new Promise<never>((_resolve, reject) => {
    const h = (): void => { reject(new AbortError(undefined, { cause: signal.reason })) }
    signal.addEventListener('abort', h, { once: true })
    off = () => { signal.removeEventListener('abort', h) }
  })
  try {
    return await Promise.race([p, aborted])
  } finally {
    off()
  }
}
