/**
 * `MemoryStorage`: the `MeshStorage` contract in memory, for the simulator and tests (the
 * test double shipped beside the interface it fakes). Same rules as `FileStorage`: closed
 * until `load` finds a state or `init` creates one, the same refusals, calls in call order
 * (each does its work before its first await, so call order is the order of effect).
 *
 * No copies: `new MemoryStorage(initial)` keeps `initial.ops` and every byte array by
 * reference and never writes to them; appends go to a list of the store's own. So a
 * simulator can seed thousands of nodes from one shared op list, and `load()` on a store
 * that has appended nothing returns that very list (read-only to the caller). Ops appended
 * are kept by reference too: ops are immutable, do not change their bytes afterwards.
 *
 * `crash()` models a power cut where `FileStorage` would lose what it had not fsynced: the
 * ops appended without `sync` since the last sync append (or `close`) vanish, and the store
 * is closed as a restarted process would find it. A killed process (SIGKILL) loses nothing
 * written, which is the store as it is: just `load()` again.
 */
import { StorageError, throwIfAborted } from '../errors.js'
import { bytesEqual } from '../util/bytes.js'
import { checkIncarnation, checkOp, checkOps, type MeshStorage, type StoredState } from './storage.js'

export class MemoryStorage implements MeshStorage {
  private genesis: Uint8Array | undefined
  /** The seeded ops: shared, never written to. */
  private readonly base: Uint8Array[]
  /** Ops appended here, after `base`. */
  private readonly own: Uint8Array[] = []
  /** `own[0, durable)` survive `crash()`. */
  private durable = 0
  private incarnation: number
  private open = false

  /** An empty store, or one as if `initial` had been saved (kept by reference, see the header). */
  constructor (initial?: StoredState) {
    if (initial !== undefined) {
      checkOp(initial.genesis, 'genesis')
      checkIncarnation(initial.incarnation)
    }
    this.genesis = initial?.genesis
    this.base = initial?.ops ?? []
    this.incarnation = initial?.incarnation ?? 0
  }

  async load (options: { signal?: AbortSignal } = {}): Promise<StoredState | undefined> {
    throwIfAborted(options.signal)
    if (this.genesis === undefined) return undefined
    this.open = true
    this.durable = this.own.length // as FileStorage fsyncs the log it loaded
    // Pointers only: concat copies no bytes.
    return { genesis: this.genesis, ops: this.own.length === 0 ? this.base : this.base.concat(this.own), incarnation: this.incarnation }
  }

  async init (genesis: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    checkOp(genesis, 'genesis')
    throwIfAborted(options.signal)
    if (this.genesis !== undefined && !bytesEqual(this.genesis, genesis)) {
      this.open = false
      throw new StorageError('store already holds the state of another org (the genesis differs)')
    }
    this.genesis = genesis
    this.open = true
  }

  async appendOps (ops: readonly Uint8Array[], options: { sync?: boolean, signal?: AbortSignal } = {}): Promise<void> {
    checkOps(ops)
    throwIfAborted(options.signal)
    this.checkOpen()
    for (const op of ops) this.own.push(op)
    if (options.sync === true) this.durable = this.own.length
  }

  async saveIncarnation (n: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    checkIncarnation(n)
    throwIfAborted(options.signal)
    this.checkOpen()
    this.incarnation = n
  }

  async close (): Promise<void> {
    if (this.open) this.durable = this.own.length
    this.open = false
  }

  /** A power cut: forgets the ops not yet made durable and closes the store (see the header). */
  crash (): void {
    this.own.length = this.durable
    this.open = false
  }

  private checkOpen (): void {
    if (!this.open) throw new StorageError('memory store is not open: call load() or init() first')
  }
}
