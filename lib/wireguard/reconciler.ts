/**
 * `Reconciler`: keeps a WireGuard device's peers equal to the peers the mesh wants (DESIGN §5).
 *
 * One pass: `backend.read()` → the wanted peers (`desired()`, endpoints resolved to IP
 * literals) → the minimal diff → one `apply` (or several, once split: below). An unchanged
 * device costs one read and sends nothing.
 *
 * The diff, per peer:
 * - missing on the device: added with its allowed IPs, endpoint and keepalive;
 * - allowed IPs: missing ones are added (a plain add; the device moves an exact prefix from its
 *   old owner with no gap); extra ones make it `replaceAllowedIps` with the wanted set. Adds
 *   ("moves") go before replacements ("shrinks") in the batch, so a prefix moving from A to B is
 *   never owned by neither. Every prefix has one owner in the wanted set: a second claim is
 *   dropped (first peer in `desired()` order wins) and counted in `status().conflicts`;
 * - keepalive: written when it differs (`keepaliveS`, default 25, or the spec's own);
 * - endpoint: see "Endpoints";
 * - on the device and not wanted: removed if it is one of ours (see "Ownership").
 *
 * A spec that cannot become a peer (an allowed IP that is not CIDR text, a keepalive outside
 * [0, 65535], no `Key`) is skipped and counted in `status().invalidSpecs`, and a device peer
 * with its key is left as it is: one bad spec must not fail the pass for every peer (as the
 * first `InvalidConfigError` would), nor tear down a working peer while its spec is bad.
 *
 * Ownership. Without `exclusive`, a device peer that is not wanted is removed only when it is
 * ours: this reconciler wrote it (it remembers every peer it upserted, for its lifetime), or it
 * has at least one allowed IP and all of them lie inside `managedPrefixes` (the Mesh passes the
 * org /48, so a peer left by an earlier run, or added by hand inside the org's prefix, counts as
 * the mesh's). Any other peer is foreign and left untouched (counted in `status().foreign`).
 * With `exclusive: true` every peer that is not wanted is removed. A wanted /128 held by a
 * foreign peer is still added to its member: the org's addresses belong to the mesh.
 *
 * Endpoints. The reconciler records the endpoint it last wrote for each peer. When `read()`
 * shows another one, WireGuard learned it from an authenticated packet (roaming) and it is left
 * alone, from the pass that first saw it (`roamSeenAt`, restarted whenever the learned endpoint
 * changes again), until the wanted endpoint itself changes later than that — the gossiped one
 * is then the newer and is written; a tie (both seen by one pass) keeps the learned one. A peer found on
 * the device with an endpoint this reconciler never wrote (a restart) keeps it when its last
 * handshake is under 180 s old (REJECT_AFTER_TIME: the path works), else gets the wanted one.
 * With no candidate the endpoint is left as it is (WireGuard cannot clear one).
 *
 * Names. A host name is resolved at most once per `resyncIntervalMs` (a lookup gives up after
 * `nameLookupTimeoutMs`, and the addresses it had before are used). A name with several
 * addresses is often answered in rotating order (round-robin DNS): the address wanted for a
 * peer stays the one wanted at the last pass while the name still resolves to it, else it is
 * the first in the resolver's order. Otherwise each lookup would look like a new wanted
 * endpoint, rewriting the endpoint every resync and overriding a learned one.
 *
 * Scheduling. `changed()` (the Mesh calls it on peer:add/update/remove) debounces a burst into
 * one pass after `debounceMs`; a change during a pass runs one more pass after it. A periodic
 * pass every `resyncIntervalMs` repairs drift (a peer removed or added by hand). While the
 * device fails, changes wait for the retry instead of hammering it.
 *
 * Failure. A read or apply that throws fails the pass; the next one is after
 * `retryBaseMs × 2^(failures − 1)`, capped at `retryMaxMs`, and re-reads and re-diffs (a failed
 * apply may be partly applied, backend.ts). A batch that fails twice is split in half (and a
 * half that fails twice, again), one `apply` per part, the parts after a failed one still sent,
 * so a single bad peer ends up alone; a clean pass joins them again. A pass that applied some
 * parts counts as the first failure of a new run. Every `errorAfterFailures` consecutive
 * failures an `error` event carries a `ReconcileError` whose `cause` is the last error (a
 * `WireGuardError` from the backend); it keeps retrying at the capped backoff.
 *
 * Time comes from the injected clock only, so a test on a ManualClock is deterministic.
 */
import { lookup } from 'node:dns/promises'
import type { Clock, TimerHandle } from '../clock.js'
import { resolve } from '../config.js'
import { AbortError, InvalidConfigError, MeshError, orAbort, WireGuardError } from '../errors.js'
import { TypedEventTarget } from '../events.js'
import type { AbortOptions } from '../gossip/transport.js'
import { Key } from '../identity/key.js'
import type { DeviceChange, DeviceState, PeerUpsert, WgEndpoint, WgPeer, WireGuardBackend } from './backend.js'
import { MAX_KEEPALIVE_S } from './change.js'
import { canonicalCidr, canonicalEndpoint, formatEndpoint, parseCidr, type Cidr } from './cidr.js'
import { isIpLiteral, type PeerSpec } from './desired.js'

/** WireGuard's REJECT_AFTER_TIME: a session older than this carries no traffic. */
export const REJECT_AFTER_TIME_MS = 180_000

export interface ReconcilerInit {
  /** Persistent keepalive written on every peer, seconds; 0 turns it off. Default 25 (NAT mappings outlive it). Range [0, 65535]. */
  keepaliveS?: number
  /** Periodic resync: how often a pass runs with no change, ms. Default 10,000 (drift repaired within 10 s; one read each). Range [100, 86,400,000]. */
  resyncIntervalMs?: number
  /** How long a change waits for more before its pass, ms. Default 50 (a burst of peer events becomes one apply). Range [0, 60,000]. */
  debounceMs?: number
  /** First retry after a failed pass, ms; doubled per further failure. Default 500. Range [1, 600,000]. */
  retryBaseMs?: number
  /** The longest wait between retries, ms. Default 30,000. Range [1, 3,600,000], at least `retryBaseMs`. */
  retryMaxMs?: number
  /** Consecutive failed passes per `error` event. Default 3 (~3.5 s of failing at the default backoff). Range [1, 1000]. */
  errorAfterFailures?: number
  /** Remove every device peer that is not wanted, foreign ones included. Default false. */
  exclusive?: boolean
  /** Prefixes whose peers are ours even if this reconciler did not write them (see the top). Default none; the Mesh passes the org /48. */
  managedPrefixes?: readonly string[]
  /**
   * How long one host-name lookup may take, ms; then it counts as failed (the name's earlier
   * addresses, or the next candidate, are used). Default 5,000 (a resolver answers in
   * milliseconds or has lost its server; the pass waits for its lookups). Range [1, 600,000].
   */
  nameLookupTimeoutMs?: number
}

const SPEC = {
  keepaliveS: { default: 25, min: 0, max: MAX_KEEPALIVE_S, integer: true },
  resyncIntervalMs: { default: 10_000, min: 100, max: 86_400_000, integer: true },
  debounceMs: { default: 50, min: 0, max: 60_000, integer: true },
  retryBaseMs: { default: 500, min: 1, max: 600_000, integer: true },
  retryMaxMs: { default: 30_000, min: 1, max: 3_600_000, integer: true },
  errorAfterFailures: { default: 3, min: 1, max: 1000, integer: true },
  nameLookupTimeoutMs: { default: 5_000, min: 1, max: 600_000, integer: true }
}

const KNOWN_INIT = new Set([...Object.keys(SPEC), 'exclusive', 'managedPrefixes'])

export type ReconcilerConfig = ReturnType<typeof resolve<typeof SPEC>> & { exclusive: boolean, managedPrefixes: readonly string[] }

/** Checks a `ReconcilerInit`; throws `InvalidConfigError` naming the field. */
export function resolveReconcilerInit (init: ReconcilerInit = {}): ReconcilerConfig {
  if (typeof init !== 'object' || init === null) throw new InvalidConfigError('reconciler init must be an object')
  for (const k of Object.keys(init)) if (!KNOWN_INIT.has(k)) throw new InvalidConfigError(`unknown reconciler option ${JSON.stringify(k)}`)
  const cfg = resolve(SPEC, init)
  if (cfg.retryMaxMs < cfg.retryBaseMs) throw new InvalidConfigError(`retryMaxMs (${cfg.retryMaxMs}) must be at least retryBaseMs (${cfg.retryBaseMs})`)
  if (init.exclusive !== undefined && typeof init.exclusive !== 'boolean') throw new InvalidConfigError('exclusive must be a boolean')
  if (init.managedPrefixes !== undefined && !Array.isArray(init.managedPrefixes)) throw new InvalidConfigError('managedPrefixes must be an array of CIDR strings')
  const managedPrefixes = (init.managedPrefixes ?? []).map(p => {
    try {
      return canonicalCidr(p)
    } catch (err) {
      throw new InvalidConfigError(`managedPrefixes: ${(err as Error).message}`, { cause: err })
    }
  })
  return { ...cfg, exclusive: init.exclusive ?? false, managedPrefixes }
}

/** Repeated failure to bring the device to the wanted peers; `cause` is the last error. */
export class ReconcileError extends MeshError {
  override name = 'ReconcileError'
  override code = 'WIREMESH_ERR_RECONCILE'
  /** Consecutive failed passes so far. */
  readonly failures: number
  constructor (message: string, options: { cause: unknown, failures: number }) {
    super(message, { cause: options.cause })
    this.failures = options.failures
  }
}

export interface ApplyDetail {
  readonly upserts: number
  readonly removals: number
  /** `apply` calls it took (1 unless split). */
  readonly batches: number
  readonly at: number
}

export interface ReconcilerEvents {
  /** A pass changed the device. */
  'applied': CustomEvent<ApplyDetail>
  /** Every `errorAfterFailures` consecutive failed passes. */
  'error': CustomEvent<{ error: ReconcileError }>
}

export interface ReconcilerStatus {
  running: boolean
  /** Passes completed (each one read, and an apply when something differed). */
  passes: number
  /** Passes that changed the device. */
  applies: number
  lastPassAt: number | undefined
  lastApply: ApplyDetail | undefined
  /** Consecutive failed passes; 0 when the last pass succeeded. */
  failures: number
  /** Peer entries per `apply` while split; undefined when batches are whole. */
  batchLimit: number | undefined
  lastError: { message: string, code: string | undefined, errno: number | undefined, at: number } | undefined
  /** Peers it keeps on the device: the wanted ones, as of the last pass. */
  managed: number
  /** Device peers left alone as foreign, as of the last pass. */
  foreign: number
  /** Peers whose endpoint WireGuard learned and that are kept. */
  learnedEndpoints: number
  /** Allowed IPs claimed by two wanted peers at the last pass (the later claim dropped). */
  conflicts: number
  /** Peer specs skipped at the last pass as malformed (see the top); their device peers are left alone. */
  invalidSpecs: number
}

export interface ReconcilerComponents {
  backend: WireGuardBackend
  clock: Clock
  /** The peers wanted now, read at every pass. */
  desired: () => Iterable<PeerSpec>
  /** Host name → IP literals. Default: the system resolver (`dns.lookup`, every family, in its order). Given up on after `nameLookupTimeoutMs`. */
  resolveHost?: (host: string, options: AbortOptions) => Promise<string[]>
}

/** What the reconciler remembers of one peer. */
interface Track {
  /** The endpoint text it last wrote. */
  written: string | undefined
  /** The wanted endpoint at the last pass (and its text), and when it took that value. */
  wanted: string | undefined
  wantedEp: WgEndpoint | undefined
  wantedAt: number
  /** When a read first showed the learned endpoint `roamed` (an endpoint other than `written`). */
  roamSeenAt: number | undefined
  roamed: string | undefined
}

interface Want {
  key: Key
  allowedIps: string[]
  endpoint: WgEndpoint | undefined
  keepaliveS: number
}

type Entry = { kind: 'remove', key: Key } | { kind: 'upsert', upsert: PeerUpsert }

const defaultResolve = async (host: string): Promise<string[]> => (await lookup(host, { all: true, verbatim: true })).map(a => a.address)

export class Reconciler extends TypedEventTarget<ReconcilerEvents> {
  readonly cfg: ReconcilerConfig
  private readonly c: ReconcilerComponents
  private readonly prefixes: Cidr[]
  private readonly tracks = new Map<string, Track>()
  /** Keys this reconciler upserted and has not removed. */
  private readonly mine = new Set<string>()
  private readonly names = new Map<string, { addrs: string[], at: number }>()
  private started = false
  private timer: TimerHandle | undefined
  private timerDue = Infinity
  private current: Promise<boolean> | undefined
  private abort: AbortController | undefined
  private dirty = false
  private failures = 0
  private strikes = 0
  private batchLimit = Infinity
  private readonly st = { passes: 0, applies: 0, lastPassAt: undefined as number | undefined, lastApply: undefined as ApplyDetail | undefined, lastError: undefined as ReconcilerStatus['lastError'], managed: 0, foreign: 0, learned: 0, conflicts: 0, invalid: 0 }
  /** Keys of the specs skipped as malformed at the last pass: their device peers are not touched. */
  private held = new Set<string>()

  constructor (components: ReconcilerComponents, init: ReconcilerInit = {}) {
    super()
    this.c = components
    this.cfg = resolveReconcilerInit(init)
    this.prefixes = this.cfg.managedPrefixes.map(parseCidr)
  }

  /** Runs a first pass at once and keeps the device in step from then on. Idempotent. */
  start (): void {
    if (this.started) return
    this.started = true
    this.abort = new AbortController()
    this.at(0)
  }

  /** Cancels the timers and waits for (aborts) a pass in flight. Idempotent; `start()` may follow. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.cancelTimer()
    this.abort?.abort()
    await this.current?.catch(() => {})
  }

  /** The wanted peers changed: a pass follows after `debounceMs` (or after the retry, while failing). */
  changed (): void {
    if (!this.started) return
    if (this.current !== undefined) { this.dirty = true; return }
    if (this.failures > 0) return
    this.at(this.cfg.debounceMs)
  }

  /** Runs a pass now (after the one in flight); resolves true when it succeeded. For tests and operators. */
  async sync (): Promise<boolean> {
    while (this.current !== undefined) await this.current.catch(() => {})
    if (!this.started) return false
    return await this.startPass()
  }

  /** Resolves once no pass is in flight. */
  async idle (): Promise<void> {
    while (this.current !== undefined) await this.current.catch(() => {})
  }

  status (): ReconcilerStatus {
    const s = this.st
    return {
      running: this.started,
      passes: s.passes,
      applies: s.applies,
      lastPassAt: s.lastPassAt,
      lastApply: s.lastApply,
      failures: this.failures,
      batchLimit: this.batchLimit === Infinity ? undefined : this.batchLimit,
      lastError: s.lastError,
      managed: s.managed,
      foreign: s.foreign,
      learnedEndpoints: s.learned,
      conflicts: s.conflicts,
      invalidSpecs: s.invalid
    }
  }

  // --- scheduling -------------------------------------------------------------------------

  /** Arms the pass timer `ms` from now, unless one is due sooner. */
  private at (ms: number): void {
    const due = this.c.clock.now() + ms
    if (this.timer !== undefined) {
      if (this.timerDue <= due) return
      this.c.clock.cancel(this.timer)
    }
    this.timerDue = due
    this.timer = this.c.clock.schedule(() => {
      this.timer = undefined
      this.timerDue = Infinity
      if (!this.started) return
      if (this.current !== undefined) { this.dirty = true; return }
      void this.startPass()
    }, ms)
  }

  private cancelTimer (): void {
    if (this.timer !== undefined) this.c.clock.cancel(this.timer)
    this.timer = undefined
    this.timerDue = Infinity
  }

  private async startPass (): Promise<boolean> {
    this.cancelTimer()
    this.dirty = false
    const run = (async () => {
      let ok = false
      try {
        ok = await this.pass(this.abort!.signal)
      } finally {
        this.current = undefined
        if (this.started) {
          if (!ok) this.at(Math.min(this.cfg.retryMaxMs, this.cfg.retryBaseMs * 2 ** Math.min(30, this.failures - 1)))
          else this.at(this.dirty ? this.cfg.debounceMs : this.cfg.resyncIntervalMs)
        }
      }
      return ok
    })()
    this.current = run
    return await run
  }

  // --- one pass ---------------------------------------------------------------------------

  private async pass (signal: AbortSignal): Promise<boolean> {
    let state: DeviceState
    let wants: Map<string, Want>
    try {
      [state, wants] = await Promise.all([this.c.backend.read({ signal }), this.wanted(signal)])
    } catch (err) {
      return this.failed(err, signal)
    }
    if (signal.aborted) return false
    const entries = this.diff(state, wants)
    const now = this.c.clock.now()
    this.st.passes++
    this.st.lastPassAt = now
    if (entries.length === 0) return this.succeeded()
    const done = { upserts: 0, removals: 0, batches: 0 }
    let lastErr: unknown
    const failedSizes: number[] = []
    const limit = this.batchLimit
    for (let i = 0; i < entries.length; i += limit) {
      const part = entries.slice(i, i + limit)
      try {
        await this.c.backend.apply(toChange(part), { signal })
      } catch (err) {
        if (signal.aborted) return false
        lastErr = err
        failedSizes.push(part.length)
        continue
      }
      done.batches++
      for (const e of part) done[e.kind === 'upsert' ? 'upserts' : 'removals']++
      this.record(part)
    }
    if (done.batches > 0) {
      const d: ApplyDetail = { ...done, at: now }
      this.st.applies++
      this.st.lastApply = d
      this.emit('applied', d)
    }
    if (failedSizes.length === 0) return this.succeeded()
    if (done.batches > 0) this.failures = 0
    if (++this.strikes >= 2) {
      const biggest = Math.max(...failedSizes)
      if (biggest > 1) { this.batchLimit = Math.ceil(biggest / 2); this.strikes = 0 }
    }
    return this.failed(lastErr, signal)
  }

  private record (part: Entry[]): void {
    for (const e of part) {
      if (e.kind === 'remove') {
        this.mine.delete(e.key.mapKey)
        this.tracks.delete(e.key.mapKey)
        continue
      }
      const u = e.upsert
      this.mine.add(u.publicKey.mapKey)
      if (u.endpoint !== undefined) {
        const t = this.tracks.get(u.publicKey.mapKey)
        if (t !== undefined) { t.written = formatEndpoint(u.endpoint); t.roamSeenAt = undefined; t.roamed = undefined }
      }
    }
  }

  private succeeded (): boolean {
    this.failures = 0
    this.strikes = 0
    this.batchLimit = Infinity
    return true
  }

  private failed (err: unknown, signal: AbortSignal): boolean {
    if (signal.aborted || err instanceof AbortError) return false
    this.failures++
    const e = err instanceof Error ? err : new Error(String(err))
    this.st.lastError = {
      message: e.message,
      code: (e as { code?: string }).code,
      errno: e instanceof WireGuardError ? e.errno : undefined,
      at: this.c.clock.now()
    }
    if (this.failures % this.cfg.errorAfterFailures === 0) {
      this.emit('error', { error: new ReconcileError(`wireguard ${this.c.backend.iface}: ${this.failures} passes failed in a row, retrying: ${e.message}`, { cause: err, failures: this.failures }) })
    }
    return false
  }

  /** The wanted peers, endpoints resolved, each prefix owned once. */
  private async wanted (signal: AbortSignal): Promise<Map<string, Want>> {
    const specs = [...this.c.desired()]
    const names = new Set<string>()
    for (const s of specs) for (const e of s.endpoints) if (!isIpLiteral(e.host)) names.add(e.host)
    await Promise.all([...names].map(async n => await this.lookupName(n, signal)))
    for (const n of this.names.keys()) if (!names.has(n)) this.names.delete(n)
    const out = new Map<string, Want>()
    const owners = new Set<string>()
    const held = new Set<string>()
    let conflicts = 0
    let invalid = 0
    for (const s of specs) {
      const ips = checkSpec(s)
      if (ips === undefined) {
        invalid++
        if (s.publicKey instanceof Key) held.add(s.publicKey.mapKey)
        continue
      }
      if (out.has(s.publicKey.mapKey)) continue
      const allowedIps: string[] = []
      for (const c of ips) {
        if (owners.has(c)) { conflicts++; continue }
        owners.add(c)
        allowedIps.push(c)
      }
      out.set(s.publicKey.mapKey, { key: s.publicKey, allowedIps, endpoint: this.pick(s), keepaliveS: s.persistentKeepaliveS ?? this.cfg.keepaliveS })
    }
    this.st.conflicts = conflicts
    this.st.invalid = invalid
    this.held = held
    return out
  }

  /** The first candidate that is a literal or resolves; for a name, the address wanted last time if it is still among its addresses (see "Names"). */
  private pick (s: PeerSpec): WgEndpoint | undefined {
    const last = this.tracks.get(s.publicKey.mapKey)?.wanted
    for (const e of s.endpoints) {
      if (isIpLiteral(e.host)) {
        try {
          return canonicalEndpoint({ host: e.host, port: e.port })
        } catch {
          continue // not a usable literal: try the next candidate
        }
      }
      let first: WgEndpoint | undefined
      for (const host of this.names.get(e.host)?.addrs ?? []) {
        let ep: WgEndpoint
        try {
          ep = canonicalEndpoint({ host, port: e.port })
        } catch {
          continue // a resolver's odd answer: try the next address
        }
        if (last !== undefined && formatEndpoint(ep) === last) return ep
        first ??= ep
      }
      if (first !== undefined) return first
    }
    return undefined
  }

  /** Resolves a name, at most once per resync interval; a failure resolves to nothing (the next candidate is used). */
  private async lookupName (name: string, signal: AbortSignal): Promise<void> {
    const now = this.c.clock.now()
    const hit = this.names.get(name)
    if (hit !== undefined && now - hit.at < this.cfg.resyncIntervalMs) return
    let addrs: string[] = []
    // The lookup's own signal: aborted by the pass's (stop()) or after nameLookupTimeoutMs.
    const lookup = new AbortController()
    const onStop = (): void => lookup.abort(signal.reason)
    signal.addEventListener('abort', onStop, { once: true })
    if (signal.aborted) onStop()
    const ms = this.cfg.nameLookupTimeoutMs
    const timer = this.c.clock.schedule(() => lookup.abort(new AbortError(`lookup of ${name} took over ${ms} ms`)), ms)
    try {
      // The system resolver takes no signal: without the race, stop() (or the timeout) would wait for getaddrinfo.
      addrs = await orAbort((this.c.resolveHost ?? defaultResolve)(name, { signal: lookup.signal }), lookup.signal)
    } catch {
      if (signal.aborted) return // stopped: not an answer to cache
      addrs = hit?.addrs ?? []
    } finally {
      this.c.clock.cancel(timer)
      signal.removeEventListener('abort', onStop)
    }
    this.names.set(name, { addrs, at: now })
  }

  /** The entries that bring `state` to `wants`: removals, then adds, then shrinks. */
  private diff (state: DeviceState, wants: Map<string, Want>): Entry[] {
    const now = this.c.clock.now()
    const removals: Entry[] = []
    const grows: Entry[] = []
    const shrinks: Entry[] = []
    const onDevice = new Map<string, WgPeer>()
    let managed = 0
    let foreign = 0
    let learned = 0
    for (const p of state.peers) {
      onDevice.set(p.publicKey.mapKey, p)
      if (wants.has(p.publicKey.mapKey) || this.held.has(p.publicKey.mapKey)) continue
      if (this.cfg.exclusive || this.isOurs(p)) removals.push({ kind: 'remove', key: p.publicKey })
      else foreign++
    }
    for (const [id, w] of wants) {
      if (state.publicKey?.equals(w.key) === true) continue
      managed++
      const d = onDevice.get(id)
      const t = this.track(id, w, now)
      if (d === undefined) {
        grows.push({ kind: 'upsert', upsert: { publicKey: w.key, allowedIps: w.allowedIps, persistentKeepaliveS: w.keepaliveS, ...(w.endpoint === undefined ? {} : { endpoint: w.endpoint }) } })
        continue
      }
      const u: { -readonly [K in keyof PeerUpsert]: PeerUpsert[K] } = { publicKey: w.key }
      const have = new Set(d.allowedIps)
      const want = new Set(w.allowedIps)
      const shrink = d.allowedIps.some(ip => !want.has(ip))
      if (shrink) {
        u.allowedIps = w.allowedIps
        u.replaceAllowedIps = true
      } else {
        const missing = w.allowedIps.filter(ip => !have.has(ip))
        if (missing.length > 0) u.allowedIps = missing
      }
      if (d.persistentKeepaliveS !== w.keepaliveS) u.persistentKeepaliveS = w.keepaliveS
      const ep = this.endpointToWrite(d, t, now)
      if (ep === 'learned') learned++
      else if (ep !== undefined) u.endpoint = ep
      if (Object.keys(u).length > 1) (shrink ? shrinks : grows).push({ kind: 'upsert', upsert: u })
    }
    for (const id of this.tracks.keys()) if (!wants.has(id) && !onDevice.has(id)) this.tracks.delete(id)
    this.st.managed = managed
    this.st.foreign = foreign
    this.st.learned = learned
    return [...removals, ...grows, ...shrinks]
  }

  /** The peer's track, with the wanted endpoint's change time brought up to date. */
  private track (id: string, w: Want, now: number): Track {
    const text = w.endpoint === undefined ? undefined : formatEndpoint(w.endpoint)
    let t = this.tracks.get(id)
    if (t === undefined) {
      t = { written: undefined, wanted: text, wantedEp: w.endpoint, wantedAt: now, roamSeenAt: undefined, roamed: undefined }
      this.tracks.set(id, t)
    } else if (t.wanted !== text) {
      t.wanted = text
      t.wantedAt = now
    }
    t.wantedEp = w.endpoint
    return t
  }

  /** What to do with an existing peer's endpoint: write one, keep a learned one, or nothing. */
  private endpointToWrite (d: WgPeer, t: Track, now: number): WgEndpoint | 'learned' | undefined {
    if (t.wanted === undefined) return undefined
    const cur = d.endpoint === undefined ? undefined : formatEndpoint(d.endpoint)
    const want = t.wantedEp
    if (cur === t.wanted) { t.written = cur; t.roamSeenAt = undefined; t.roamed = undefined; return undefined }
    if (cur === undefined) return want
    if (t.written === undefined) {
      // Found as it is: a working path (recent handshake) is kept, as if learned.
      if (d.lastHandshakeMs > 0 && now - d.lastHandshakeMs < REJECT_AFTER_TIME_MS) return learnedOrWanted(t, cur, now)
      return want
    }
    if (cur === t.written) return want // we wrote it and the wanted one changed since
    return learnedOrWanted(t, cur, now)
  }

  private isOurs (p: WgPeer): boolean {
    if (this.mine.has(p.publicKey.mapKey)) return true
    if (p.allowedIps.length === 0 || this.prefixes.length === 0) return false
    return p.allowedIps.every(ip => {
      let c: Cidr
      try { c = parseCidr(ip) } catch { return false }
      return this.prefixes.some(o => within(c, o))
    })
  }
}

/**
 * The device shows `cur`, an endpoint WireGuard learned: kept unless the wanted one changed
 * after the pass that first saw `cur`. A new learned endpoint restarts that time (a roam
 * newer than the wanted change must not lose to it).
 */
function learnedOrWanted (t: Track, cur: string, now: number): WgEndpoint | 'learned' | undefined {
  if (t.roamed !== cur) { t.roamed = cur; t.roamSeenAt = now }
  return t.wantedAt > (t.roamSeenAt ?? now) ? t.wantedEp : 'learned'
}

/** The spec's allowed IPs in canonical form, or undefined when the spec cannot be a peer. */
function checkSpec (s: PeerSpec): string[] | undefined {
  if (!(s.publicKey instanceof Key) || !Array.isArray(s.allowedIps)) return undefined
  const k = s.persistentKeepaliveS
  if (k !== undefined && (!Number.isInteger(k) || k < 0 || k > MAX_KEEPALIVE_S)) return undefined
  try {
    return s.allowedIps.map(canonicalCidr)
  } catch {
    return undefined
  }
}


/** True when prefix `inner` lies inside `outer`. */
function within (inner: Cidr, outer: Cidr): boolean {
  if (inner.family !== outer.family || inner.prefix < outer.prefix) return false
  for (let bit = 0; bit < outer.prefix; bit += 8) {
    const n = Math.min(8, outer.prefix - bit)
    const mask = (0xff << (8 - n)) & 0xff
    if ((inner.bytes[bit >> 3] & mask) !== (outer.bytes[bit >> 3] & mask)) return false
  }
  return true
}

function toChange (part: Entry[]): DeviceChange {
  const removals: Key[] = []
  const upserts: PeerUpsert[] = []
  for (const e of part) {
    if (e.kind === 'remove') removals.push(e.key)
    else upserts.push(e.upsert)
  }
  return { removals, upserts }
}
