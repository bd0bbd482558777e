/**
 * ReplicaPool: lets the replicas of one process share what their op sets have in common, for
 * the simulator, where thousands of nodes hold the same 10,000 ops (each a `Replica` of its
 * own: ~1.3 KB per member per node, so 130 GB at 10,000 nodes).
 *
 * A replica's state is a core (log, store, derived view, ingest state). With a pool, a core
 * is either private (one replica's, changed in place, as without a pool) or shared (in the
 * pool, never changed again but for its lazily derived caches, which are a function of the op
 * set and so the same whoever fills them). The pool keeps one shared core per op set (org,
 * store, op count, store digest), and remembers transitions: "batch B ingested into shared
 * core C gave core D and result R". A replica on a shared core that ingests a batch:
 *
 *   - seen before from this core: moves to D, returns R (no decoding, hashing or checking);
 *   - only ops the core holds already (each compared byte for byte): returns the duplicate
 *     count, as the full ingest would, and stays;
 *   - else: copies the core (O(ops), no signature checked again), ingests into the copy, and
 *     if nothing is left parked hands the copy to the pool, which gives back the op set's
 *     shared core (the copy, or an earlier one: then the result's ops are the earlier one's).
 *
 * A replica with parked ops keeps a private core until they clear. Authoring (`addLocal`)
 * copies the core first. Restoring (`Replica.restore`) the very ops array another replica
 * restored from (the simulator seeds every node's storage with one array) takes that core.
 *
 * Trust: the pool is keyed by what the store digest summarises (chain tips, standalone ops by
 * count and xor), which honest nodes cannot collide but a forger who grinds ids could (a
 * batch is known by its exact bytes). Only for a process whose replicas all run honest,
 * simulated nodes: never for replicas fed from the network.
 */
import { toKeyString } from '../util/bytes.js'
import type { Derived } from './derive.js'
import type { Ingest, IngestResult } from './ingest.js'
import { OpEntry, type LoggedOp, type OpLog } from './log.js'
import { OpKind, type WireOp } from './op.js'
import type { Root } from './authority.js'
import type { OpStore } from './stores/store.js'
import type { ViewEntry } from './view.js'
import type { MemberIndex } from './replica.js'

/** What a replica's op set determines, and its ingest state. */
export interface ReplicaCore {
  readonly log: OpLog
  readonly store: OpStore
  readonly genesis: LoggedOp
  readonly root: Root
  readonly derived: Derived
  /** The log version `derived` reflects, and the ops committed since, in order. */
  derivedVersion: number
  fresh: LoggedOp[]
  /** Live entries sorted by wg key, as of `derived.fullPasses` = `passes`. */
  sorted: { passes: number, entries: ViewEntry[] } | undefined
  /** `Replica.memberIndex()` as of log version `version`, while no member can expire. */
  index: { version: number, index: MemberIndex } | undefined
  /** The index last built for this op set's ancestor (a copied core's), the next one's `prev`. */
  lastIndex: MemberIndex | undefined
  readonly ingestor: Ingest
  /** In the pool: never changed again. */
  shared: boolean
}

export interface PoolTransition {
  core: ReplicaCore
  result: IngestResult
}

/** The pool's counters: how much the sharing saved. */
export interface ReplicaPoolStats {
  /** Batches answered from a remembered transition. */
  hits: number
  /** Batches ingested into a copy of a shared core. */
  copies: number
  /** Batches of held ops only, answered without a copy. */
  duplicates: number
  /** Shared cores made (one per distinct op set). */
  cores: number
  /** Copies thrown away because the pool already had a core for their op set. */
  dropped: number
  /** Replicas restored onto a core another replica restored. */
  restores: number
}

export class ReplicaPool {
  readonly stats: ReplicaPoolStats = { hits: 0, copies: 0, duplicates: 0, cores: 0, dropped: 0, restores: 0 }
  private readonly bySet = new Map<string, ReplicaCore>()
  private readonly genesisOf = new Map<string, ReplicaCore>()
  private readonly next = new WeakMap<ReplicaCore, Map<string, PoolTransition>>()
  private readonly restored = new WeakMap<readonly Uint8Array[], Map<string, ReplicaCore>>()

  /** The shared genesis-only core of `scope` (org and store), if a replica made one. */
  genesisCore (scope: string): ReplicaCore | undefined { return this.genesisOf.get(scope) }

  /** The shared core for `core`'s op set: `core` itself, now shared, or the one made earlier. */
  intern (scope: string, core: ReplicaCore): ReplicaCore {
    if (core.shared) return core
    const key = `${scope}/${core.log.size}/${toKeyString(core.store.digest())}`
    const have = this.bySet.get(key)
    if (have !== undefined) return have
    core.shared = true
    this.bySet.set(key, core)
    if (core.log.size === 1) this.genesisOf.set(scope, core)
    this.stats.cores++
    return core
  }

  transition (from: ReplicaCore, key: string): PoolTransition | undefined {
    const t = this.next.get(from)?.get(key)
    if (t !== undefined) this.stats.hits++
    return t
  }

  remember (from: ReplicaCore, key: string, to: ReplicaCore, result: IngestResult): void {
    let m = this.next.get(from)
    if (m === undefined) { m = new Map(); this.next.set(from, m) }
    m.set(key, { core: to, result })
  }

  /** The core a replica of `scope` restored from this very ops array, if any. */
  restoredCore (scope: string, wires: readonly Uint8Array[]): ReplicaCore | undefined {
    const c = this.restored.get(wires)?.get(scope)
    if (c !== undefined) this.stats.restores++
    return c
  }

  rememberRestore (scope: string, wires: readonly Uint8Array[], core: ReplicaCore): void {
    let m = this.restored.get(wires)
    if (m === undefined) { m = new Map(); this.restored.set(wires, m) }
    m.set(scope, core)
  }
}

/** A batch's identity for `transition`: every op's wire bytes, each after its length. */
export function batchKey (ops: readonly WireOp[]): string {
  let s = ''
  for (const w of ops) s += String.fromCharCode(w.wire.length >>> 8, w.wire.length & 255) + toKeyString(w.wire)
  return s
}

/**
 * Whether every op of the batch is a chain op the log holds with these very bytes, on an
 * unforked chain with one author for its key id, none twice: what the ingest would count as
 * duplicates, all of them, adding nothing.
 */
export function allHeld (log: OpLog, ops: readonly WireOp[]): boolean {
  const seen = new Set<LoggedOp>()
  for (const w of ops) {
    if (w.kind === OpKind.genesis || w.kind === OpKind.leave || w.seq < 1) return false
    const keys = log.keysFor(w.authorId)
    if (keys.length !== 1) return false
    const chain = log.chainOf(keys[0])
    if (chain === undefined || chain.forkSeq !== Infinity) return false
    const held = chain.bySeq[w.seq]
    if (held === undefined || Array.isArray(held) || seen.has(held)) return false
    const a = held.wire
    const b = w.wire
    if (a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
    seen.add(held)
  }
  return true
}

/** A fresh entry for a logged op (same bytes, resolution and id), for another log to own. */
export function copyEntry (op: LoggedOp): OpEntry {
  if (op instanceof OpEntry) return new OpEntry(op.author, op.seq, op.deps, op.payload, op.buf, op.start, op.end, op.lamport, op.idKey, op.prevKey)
  const wire = op.wire
  return new OpEntry(op.author, op.seq, op.deps, op.payload, wire, 0, wire.length, op.lamport, op.idKey, op.prevKey)
}
