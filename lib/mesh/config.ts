/**
 * `MeshInit`: every knob of a `Mesh`, its default, and the one check (`resolveMeshInit`) that
 * runs in the constructor, so a bad value throws a typed error before anything is created
 * (no file, no socket, no timer) and a mistyped option name is refused rather than ignored.
 *
 * Errors: `InvalidConfigError` (code WIREMESH_ERR_INVALID_CONFIG) naming the field, for
 * every option but the invite, whose problems are `InvalidInviteError`
 * (WIREMESH_ERR_INVALID_INVITE) as `readInvite` reports them.
 *
 * Where state comes from, by precedence: what the storage holds (a restart); else the
 * `invite` (join an org); else `org` (create one, this identity its root); else start fails
 * with `MeshStateError`. So the same init can be passed on every start: `org` and `invite`
 * only matter while the state is empty.
 */
import type { Clock } from '../clock.js'
import { resolve } from '../config.js'
import { InvalidConfigError, InvalidInviteError, MeshError } from '../errors.js'
import { type GossipConfig, type GossipInit, type GossipPresetName, GOSSIP_PRESETS, resolveGossipConfig } from '../gossip/config.js'
import { type Endpoint, hostFamily, normalizeHost, parseEndpoint } from '../gossip/endpoint.js'
import { MAX_APP_METADATA_BYTES, MAX_NODE_ENDPOINTS, MAX_NODE_STATE_BYTES, type NodeEndpoint } from '../gossip/node-state.js'
import type { Transport } from '../gossip/transport.js'
import { NodeIdentity } from '../identity/identity.js'
import { Key } from '../identity/key.js'
import { type Invite, readInvite } from '../membership/invite.js'
import { MAX_NAME_BYTES } from '../membership/op.js'
import { DEFAULT_ORG_PARAMS } from '../membership/org.js'
import { storeFactories } from '../membership/replica.js'
import { ReplicaPool } from '../membership/replica-pool.js'
import type { OpStoreName } from '../membership/stores/store.js'
import type { BatchVerifier } from '../membership/verify.js'
import type { Random } from '../random.js'
import { PairSecretCache } from '../wire/seal.js'
import type { MeshStorage } from './storage.js'
import type { WireGuardBackend } from '../wireguard/backend.js'
import type { NetlinkBackendInit } from '../wireguard/netlink.js'
import { type ReconcilerConfig, type ReconcilerInit, resolveReconcilerInit } from '../wireguard/reconciler.js'
import type { UapiInit } from '../wireguard/uapi.js'
import type { WgCliInit } from '../wireguard/wg-cli.js'

/**
 * The default gossip socket: every IPv4 interface, port 51821 (WireGuard's own default is
 * 51820, so the pair sits side by side in a firewall rule).
 */
export const DEFAULT_LISTEN = '0.0.0.0:51821'
/** The identity file inside `stateDir`. */
export const IDENTITY_FILE = 'identity.json'
/** Bootstrap members a node may be given (an invite carries at most 16 too). */
export const MAX_BOOTSTRAP = 16

/**
 * A WireGuard backend for the Mesh to create at `start()` and close at `stop()` (the device,
 * the interface itself, must exist: see `createUserspaceLink` / `createKernelLink`).
 */
export type BackendSpec =
  | { kind: 'memory', iface?: string }
  | ({ kind: 'uapi', iface: string } & UapiInit)
  | ({ kind: 'wg-cli', iface: string } & WgCliInit)
  | ({ kind: 'netlink', iface: string } & NetlinkBackendInit)

const BACKEND_KINDS = ['memory', 'uapi', 'wg-cli', 'netlink']

/** A new org, created when the state is empty (this identity becomes its root admin). */
export interface MeshOrgInit {
  /** Shown to operators; ≤ 64 bytes of UTF-8. */
  name: string
  /** WireGuard listen port members use (default 51820). */
  listenPort?: number
  /** Interface MTU, [1280, 9000] (default 1420, the `lan` value; use 1280 across the internet). */
  mtu?: number
  /** Persistent keepalive, seconds (default 25; 0 turns it off). */
  keepaliveS?: number
}

export interface MeshInit {
  /** This node's keys. Default: `loadOrCreateIdentity(stateDir/identity.json)`; one of the two is required. */
  identity?: NodeIdentity
  /** Where the identity and the op log live. Needed unless both `identity` and `storage` are given. */
  stateDir?: string
  /** Default: `new FileStorage(stateDir)`. Give a `MemoryStorage` to keep nothing on disk (tests, simulator). */
  storage?: MeshStorage
  /**
   * The gossip socket, `host:port` with an IP literal host (`[::]:51821` for IPv6); port 0 binds
   * an ephemeral one. Default `0.0.0.0:51821` (DEFAULT_LISTEN). Not allowed with `transport`.
   */
  listen?: string
  /**
   * `host:port` endpoints (IP literals, ≤ 8) this node advertises in its signed node state and
   * puts in the invites it issues. Default: the bound address when it is a concrete one (not
   * `0.0.0.0` or `::`), else none, and `invite()` then needs an explicit `bootstrap`.
   */
  advertise?: string[]
  /** Members to JOIN through or to reach first after a restart (≤ 16), besides the invite's. Default none. */
  bootstrap?: Array<{ wgPublicKey: Key | string, endpoint: string }>
  /** A `wminv1.` token: join that org when the state is empty. Exclusive with `org`. */
  invite?: string
  /** Create this org when the state is empty. Exclusive with `invite`. */
  org?: MeshOrgInit
  /** A preset (`lan` — the default —, `wan`, `local`, `sim`) or fields over one (`{ preset: 'wan', fanout: 5 }`). */
  gossip?: GossipPresetName | (GossipInit & { preset?: GossipPresetName })
  /**
   * The WireGuard device to keep in step with the view (DESIGN §5). A `WireGuardBackend` is
   * used as given and stays the caller's to close; a `BackendSpec` (`{ kind: 'uapi', iface:
   * 'wm0' }`) is created by `start()` and closed by `stop()`. Either way `start()` runs a
   * `Reconciler` on it that follows the peer events (revoked, removed, left and expired
   * members are removed), and `stop()` stops it. The interface itself (its private key, listen
   * port, overlay address and route) is the caller's to set up, with `createUserspaceLink` or
   * `createKernelLink`: the key must be this node's WireGuard key, the port the org's
   * `listenPort`. Default none: direct mode (gossip on the underlay, no interface touched).
   * Gossip stays on the underlay with a backend too (overlay mode is a later step).
   */
  backend?: WireGuardBackend | BackendSpec
  /**
   * Reconciler knobs (`ReconcilerInit`: keepalive, resync interval, debounce, retry backoff,
   * error threshold, exclusive). Defaults as documented there, except `keepaliveS`, which
   * defaults to the org's (`OrgParams.keepaliveS`, 25 unless the org says otherwise), and
   * `managedPrefixes`, which defaults to the org /48. Only with `backend`.
   */
  wireguard?: ReconcilerInit
  /** Default: a `UdpTransport` bound to `listen`. Started by `start()` if it is not already, and then stopped by `stop()`. */
  transport?: Transport
  /** `real` (default): sealed with X25519 + ChaCha20-Poly1305. `null`: FOR LARGE SIMULATIONS ONLY, authenticates nothing. */
  sealer?: 'real' | 'null'
  /** Default `systemClock`. The simulator passes a `ManualClock`. */
  clock?: Clock
  /** Default `systemRandom`. Tests pass a `SeededRandom` so a run replays. */
  random?: Random
  /** Signed node states known at start (simulator warm start). Default none. */
  nodeStates?: Uint8Array[]
  /** Opaque bytes (≤ 512) this node publishes in its node state; change it with `setAppMetadata`. Default empty. */
  appMetadata?: Uint8Array
  /** The op store (default `native`; `yjs` and `automerge` after `import 'wiremesh/stores'`). */
  store?: OpStoreName
  /**
   * Checks op signatures. Default `sharedVerifyPool()`: small batches on the calling thread,
   * large ones (a first sync, a warm start) on every core. A single-threaded simulation passes
   * `inlineVerifier`, so no worker thread is started.
   */
  verifier?: BatchVerifier
  /**
   * X25519 results shared by every node of one process (`PairSecretCache`, lib/wire/seal.ts):
   * a simulator's nodes then compute each pair's secret once instead of once per end. Default
   * none. Never for production nodes: it is a table of secrets.
   */
  pairSecrets?: PairSecretCache
  /**
   * Op-set state shared by every node of one process (`ReplicaPool`,
   * lib/membership/replica-pool.ts): a simulator's thousands of nodes then hold one copy of
   * the ops they all have. Default none. Never for production nodes: it trusts that every
   * replica in the process is honest.
   */
  replicaPool?: ReplicaPool
}

/** `MeshInit` checked, parsed and with every default filled in. */
export interface MeshConfig {
  readonly identity: NodeIdentity | undefined
  readonly stateDir: string | undefined
  readonly storage: MeshStorage | undefined
  /** Port 0 means ephemeral. Undefined when a transport was given. */
  readonly listen: Endpoint | undefined
  readonly advertise: readonly NodeEndpoint[] | undefined
  readonly bootstrap: ReadonlyArray<{ wgPublicKey: Key, endpoint: Endpoint }>
  readonly invite: Invite | undefined
  /** Whom to JOIN through: the invite's bootstrap members, then `bootstrap`. */
  readonly joinTargets: ReadonlyArray<{ wgPublicKey: Key, endpoint: Endpoint }>
  readonly org: Required<MeshOrgInit> | undefined
  readonly gossip: GossipConfig
  readonly backend: WireGuardBackend | BackendSpec | undefined
  /** Checked; `wireguardInit` is what was given (the org fills `keepaliveS` and `managedPrefixes` at start). */
  readonly wireguard: ReconcilerConfig | undefined
  readonly wireguardInit: ReconcilerInit
  readonly transport: Transport | undefined
  readonly sealer: 'real' | 'null'
  readonly clock: Clock | undefined
  readonly random: Random | undefined
  readonly nodeStates: readonly Uint8Array[]
  readonly appMetadata: Uint8Array
  readonly store: OpStoreName
  readonly verifier: BatchVerifier | undefined
  readonly pairSecrets: PairSecretCache | undefined
  readonly replicaPool: ReplicaPool | undefined
}

const KNOWN: ReadonlySet<string> = new Set([
  'identity', 'stateDir', 'storage', 'listen', 'advertise', 'bootstrap', 'invite', 'org', 'gossip', 'backend', 'wireguard',
  'transport', 'sealer', 'clock', 'random', 'nodeStates', 'appMetadata', 'store', 'verifier', 'pairSecrets', 'replicaPool'
])

const ORG_SPEC = {
  listenPort: { default: DEFAULT_ORG_PARAMS.listenPort, min: 1, max: 65535, integer: true },
  mtu: { default: DEFAULT_ORG_PARAMS.mtu, min: 1280, max: 9000, integer: true },
  keepaliveS: { default: DEFAULT_ORG_PARAMS.keepaliveS, min: 0, max: 65535, integer: true }
}

function bad (message: string, cause?: unknown): never {
  throw new InvalidConfigError(message, cause === undefined ? undefined : { cause })
}

/** Checks everything `MeshInit` holds; throws before anything is made. */
export function resolveMeshInit (init: MeshInit): MeshConfig {
  if (typeof init !== 'object' || init === null) bad('mesh init must be an object')
  for (const k of Object.keys(init)) if (!KNOWN.has(k)) bad(`unknown mesh option ${JSON.stringify(k)}`)
  const defined = (k: keyof MeshInit): boolean => init[k] !== undefined

  if (defined('identity') && !(init.identity instanceof NodeIdentity)) bad('identity must be a NodeIdentity')
  if (defined('stateDir') && (typeof init.stateDir !== 'string' || init.stateDir === '')) bad('stateDir must be a non-empty path')
  if (!defined('stateDir') && !defined('identity')) bad('identity or stateDir is required: the identity is loaded from (or created in) stateDir/identity.json')
  if (!defined('stateDir') && !defined('storage')) bad('storage or stateDir is required: the op log is kept in stateDir by default')
  if (defined('storage')) duck(init.storage, 'storage', ['load', 'init', 'appendOps', 'saveIncarnation', 'close'])
  if (defined('transport')) duck(init.transport, 'transport', ['start', 'stop', 'send', 'onPacket', 'localEndpoint', 'stats'])
  if (defined('clock')) duck(init.clock, 'clock', ['now', 'monotonic', 'schedule', 'cancel'])
  if (defined('random')) duck(init.random, 'random', ['next', 'int', 'bytes'])
  if (defined('verifier')) duck(init.verifier, 'verifier', ['verifyBatch'])
  if (defined('backend')) parseBackend(init.backend)
  if (defined('wireguard') && !defined('backend')) bad('wireguard options need a backend')
  const wireguard = defined('backend') ? resolveReconcilerInit(init.wireguard ?? {}) : undefined
  if (defined('pairSecrets') && !(init.pairSecrets instanceof PairSecretCache)) bad('pairSecrets must be a PairSecretCache')
  if (defined('replicaPool') && !(init.replicaPool instanceof ReplicaPool)) bad('replicaPool must be a ReplicaPool')
  if (defined('transport') && defined('listen')) bad('listen and transport are exclusive: a given transport is already bound where it is')
  if (defined('invite') && defined('org')) bad('invite and org are exclusive: a node joins an org or creates one')
  if (defined('sealer') && init.sealer !== 'real' && init.sealer !== 'null') bad(`sealer must be 'real' or 'null', got ${JSON.stringify(init.sealer)}`)
  const store = init.store ?? 'native'
  if (!storeFactories.has(store)) bad(`op store ${JSON.stringify(store)} is not loaded (yjs and automerge need import 'wiremesh/stores')`)

  const bootstrap = parseBootstrap(init.bootstrap ?? [])
  const invite = init.invite === undefined ? undefined : readInvite(init.invite, init.identity === undefined ? {} : { wgPublicKey: init.identity.wgPublicKey })
  return {
    identity: init.identity,
    stateDir: init.stateDir,
    storage: init.storage,
    listen: defined('transport') ? undefined : parseListen(init.listen ?? DEFAULT_LISTEN),
    advertise: init.advertise === undefined ? undefined : parseAdvertise(init.advertise),
    bootstrap,
    invite,
    joinTargets: [...(invite === undefined ? [] : inviteTargets(invite)), ...bootstrap],
    org: init.org === undefined ? undefined : parseOrg(init.org),
    gossip: parseGossip(init.gossip),
    backend: init.backend,
    wireguard,
    wireguardInit: { ...(init.wireguard ?? {}) },
    transport: init.transport,
    sealer: init.sealer ?? 'real',
    clock: init.clock,
    random: init.random,
    nodeStates: parseNodeStates(init.nodeStates ?? []),
    appMetadata: parseMetadata(init.appMetadata ?? new Uint8Array(0), 'appMetadata'),
    store,
    verifier: init.verifier,
    pairSecrets: init.pairSecrets,
    replicaPool: init.replicaPool
  }
}

/** A backend instance (duck-typed) or a `BackendSpec` with a known kind. */
function parseBackend (b: unknown): void {
  if (typeof b !== 'object' || b === null) bad('backend must be a WireGuardBackend or a { kind, iface } spec')
  const o = b as Record<string, unknown>
  if (typeof o.read === 'function') { duck(b, 'backend', ['read', 'apply', 'close']); return }
  if (typeof o.kind !== 'string' || !BACKEND_KINDS.includes(o.kind)) bad(`backend kind must be one of ${BACKEND_KINDS.join(', ')}, got ${JSON.stringify(o.kind)}`)
  if (o.kind !== 'memory' && (typeof o.iface !== 'string' || o.iface === '')) bad(`backend ${o.kind} needs an iface`)
}

function duck (v: unknown, what: string, methods: string[]): void {
  if (typeof v !== 'object' || v === null) bad(`${what} must be an object`)
  for (const m of methods) if (typeof (v as Record<string, unknown>)[m] !== 'function') bad(`${what} has no ${m}() method`)
}

/** `host:port` to bind: an IP literal, port in [0, 65535]. */
export function parseListen (text: string): Endpoint {
  if (typeof text !== 'string') bad(`listen must be a 'host:port' string, got ${typeof text}`)
  // parseEndpoint refuses port 0, which only binding means (ephemeral).
  const zero = /:0$/.test(text)
  let e: Endpoint
  try {
    e = parseEndpoint(zero ? text.slice(0, -1) + '1' : text)
  } catch (err) {
    return bad(`listen ${JSON.stringify(text)}: ${(err as Error).message}`, err)
  }
  if (hostFamily(e.host) === 0) bad(`listen ${JSON.stringify(text)}: the host must be an IP address to bind, not a name`)
  return { host: e.host, port: zero ? 0 : e.port }
}

function parseAdvertise (list: string[]): NodeEndpoint[] {
  if (!Array.isArray(list)) bad('advertise must be an array of host:port strings')
  if (list.length > MAX_NODE_ENDPOINTS) bad(`advertise holds at most ${MAX_NODE_ENDPOINTS} endpoints, got ${list.length}`)
  return list.map((text, i) => {
    let e: Endpoint
    try {
      e = parseEndpoint(text)
    } catch (err) {
      return bad(`advertise[${i}]: ${(err as Error).message}`, err)
    }
    if (hostFamily(e.host) === 0 || e.host.includes('%')) bad(`advertise[${i}] ${JSON.stringify(text)}: node states carry IP addresses (no names, no zones)`)
    if (isUnspecified(e.host)) bad(`advertise[${i}] ${JSON.stringify(text)}: an unspecified address cannot be reached`)
    return { host: e.host, port: e.port, source: 'listen' as const }
  })
}

export function isUnspecified (host: string): boolean {
  return normalizeHost(host) === '0.0.0.0' || normalizeHost(host) === '::'
}

function parseBootstrap (list: Array<{ wgPublicKey: Key | string, endpoint: string }>): Array<{ wgPublicKey: Key, endpoint: Endpoint }> {
  if (!Array.isArray(list)) bad('bootstrap must be an array of { wgPublicKey, endpoint }')
  if (list.length > MAX_BOOTSTRAP) bad(`bootstrap holds at most ${MAX_BOOTSTRAP} members, got ${list.length}`)
  return list.map((b, i) => {
    if (typeof b !== 'object' || b === null) bad(`bootstrap[${i}] must be { wgPublicKey, endpoint }`)
    try {
      const wgPublicKey = b.wgPublicKey instanceof Key ? b.wgPublicKey : Key.fromBase64(b.wgPublicKey)
      return { wgPublicKey, endpoint: parseEndpoint(b.endpoint) }
    } catch (err) {
      if (!(err instanceof MeshError)) throw err
      return bad(`bootstrap[${i}]: ${err.message}`, err)
    }
  })
}

/** The invite's bootstrap members, their endpoints parsed (a bad one is the token's fault). */
function inviteTargets (invite: Invite): Array<{ wgPublicKey: Key, endpoint: Endpoint }> {
  return invite.bootstrap.map((b, i) => {
    try {
      return { wgPublicKey: b.wgPublicKey, endpoint: parseEndpoint(b.endpoint) }
    } catch (err) {
      throw new InvalidInviteError(`invite bootstrap ${i}: ${(err as Error).message}`, { cause: err })
    }
  })
}

function parseOrg (org: MeshOrgInit): Required<MeshOrgInit> {
  if (typeof org !== 'object' || org === null) bad('org must be { name, listenPort?, mtu?, keepaliveS? }')
  for (const k of Object.keys(org)) if (!['name', ...Object.keys(ORG_SPEC)].includes(k)) bad(`unknown org option ${JSON.stringify(k)}`)
  if (typeof org.name !== 'string') bad('org.name must be a string')
  if (Buffer.byteLength(org.name, 'utf8') > MAX_NAME_BYTES) bad(`org.name must be at most ${MAX_NAME_BYTES} bytes of UTF-8`)
  let params
  try {
    params = resolve(ORG_SPEC, org)
  } catch (err) {
    return bad(`org.${(err as Error).message}`, err)
  }
  return { name: org.name, ...params }
}

function parseGossip (g: MeshInit['gossip']): GossipConfig {
  if (g === undefined) return resolveGossipConfig('lan')
  if (typeof g === 'string') return resolveGossipConfig(g)
  if (typeof g !== 'object' || g === null) bad('gossip must be a preset name or an object of gossip fields')
  const { preset, ...fields } = g
  if (preset !== undefined && !(preset in GOSSIP_PRESETS)) bad(`unknown gossip preset ${JSON.stringify(preset)}, expected one of ${Object.keys(GOSSIP_PRESETS).join(', ')}`)
  return resolveGossipConfig(preset ?? 'lan', fields)
}

function parseNodeStates (list: Uint8Array[]): Uint8Array[] {
  if (!Array.isArray(list)) bad('nodeStates must be an array of signed node states (Uint8Array)')
  list.forEach((s, i) => {
    if (!(s instanceof Uint8Array) || s.length === 0 || s.length > MAX_NODE_STATE_BYTES) bad(`nodeStates[${i}] must be 1–${MAX_NODE_STATE_BYTES} bytes`)
  })
  return list
}

/** App metadata: a Uint8Array of at most 512 bytes (copied). */
export function parseMetadata (m: Uint8Array, what: string): Uint8Array {
  if (!(m instanceof Uint8Array)) bad(`${what} must be a Uint8Array`)
  if (m.length > MAX_APP_METADATA_BYTES) bad(`${what} must be at most ${MAX_APP_METADATA_BYTES} bytes, got ${m.length}`)
  return m.slice()
}
