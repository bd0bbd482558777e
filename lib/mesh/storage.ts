/**
 * Persistence for a node (DESIGN §4 "State dir"): the contract a `Mesh` keeps its state
 * through, and the argument checks both implementations share. `FileStorage`
 * (file-storage.ts) is the state dir on disk; `MemoryStorage` (memory-storage.ts) is the
 * same contract in memory, for the simulator and tests.
 *
 * A store is closed until `load()` finds a saved state or `init()` creates one; only then
 * do `appendOps` and `saveIncarnation` work (a `StorageError` otherwise). Opening first is
 * what lets the file store repair a torn tail before it appends after it. Calls are
 * serialised in call order, all of them, not only appends. An abort rejects a call that has
 * not started yet (`AbortError`) and it then does nothing; a call that has started
 * completes, since half an append is worse than a late one.
 *
 * What survives a crash: everything `init` and `saveIncarnation` resolved, every op an
 * `appendOps` with `sync` resolved, and every op before such a call. Ops appended without
 * `sync` are written (a killed process keeps them; the kernel has them) but may be lost to
 * a power cut until a later `sync` append or `close()`. Never a file that fails to load.
 */
import { InvalidOpError, StorageError } from '../errors.js'
import { MAX_OP_BYTES } from '../membership/op.js'

export interface StoredState {
  /** The org's genesis op, wire bytes (Replica.fromGenesis takes them). */
  genesis: Uint8Array
  /**
   * Every other op this node holds, wire bytes (decodeOp takes them), in the order appended.
   * Read-only to the caller: `MemoryStorage` hands out the very array (and byte arrays) it
   * was seeded with, which a simulator may share between thousands of nodes.
   */
  ops: Uint8Array[]
  /** The node's SWIM/node-state incarnation, last saved (0 if never). */
  incarnation: number
  /**
   * Set by a `load` that cut a torn tail off the op log (a crash interrupted a write), for
   * the caller to log: where the cut was, how many bytes went, and what was wrong there.
   * The ops in those bytes were never acknowledged as durable.
   */
  repairedTail?: { offset: number, bytes: number, reason: string }
}

export interface MeshStorage {
  /**
   * The saved state, or undefined when nothing was ever saved (a fresh state dir). Repairs a
   * torn tail; never fails on a file a crash could have left. A file that is corrupt in a way
   * no crash explains → StorageError (code WIREMESH_ERR_STORAGE) with the path and byte
   * offset. Opens the store for appends when it returns a state.
   */
  load(options?: { signal?: AbortSignal }): Promise<StoredState | undefined>
  /**
   * Creates the store for an org (writes the genesis) and opens it. Idempotent for the same
   * genesis (then it opens the existing store as `load` would, keeping its ops); fails with
   * StorageError if one exists already for another genesis.
   */
  init(genesis: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>
  /**
   * Appends ops; resolves once written, and fsynced when `sync` (ops this node authored are
   * fsynced before they are sent). Calls are serialised in call order. An op of 0 or more
   * than MAX_OP_BYTES bytes is refused (InvalidOpError) and nothing of the call is written.
   * An abort before the write starts rejects with AbortError and writes nothing; once
   * started, the write completes. `appendOps([], { sync: true })` makes earlier non-sync
   * appends durable.
   */
  appendOps(ops: readonly Uint8Array[], options?: { sync?: boolean, signal?: AbortSignal }): Promise<void>
  /** Saves the incarnation (a non-negative safe integer) atomically (write-then-rename); resolves once durable. */
  saveIncarnation(n: number, options?: { signal?: AbortSignal }): Promise<void>
  /**
   * Waits for the calls already made, makes every appended op durable and releases the
   * store's files. Idempotent; `load` or `init` opens the store again.
   */
  close(): Promise<void>
}

/** Refuses an op no loader would accept back: empty, or larger than MAX_OP_BYTES. */
export function checkOps (ops: readonly Uint8Array[]): void {
  for (let i = 0; i < ops.length; i++) checkOp(ops[i], `op ${i}`)
}

export function checkOp (op: Uint8Array, what: string): void {
  if (!(op instanceof Uint8Array)) throw new InvalidOpError(`${what} is not a Uint8Array`)
  if (op.length === 0) throw new InvalidOpError(`${what} is empty`)
  if (op.length > MAX_OP_BYTES) throw new InvalidOpError(`${what} is ${op.length} bytes, limit ${MAX_OP_BYTES}`)
}

export function checkIncarnation (n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new StorageError(`cannot save incarnation ${String(n)}: not a non-negative safe integer`)
}
