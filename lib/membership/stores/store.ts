/**
 * `OpStore`: how a replica keeps its op set and works out what another replica lacks.
 *
 * Contract (the conformance suite in test/membership/stores.spec.ts checks it for every store):
 * - `add(op)` records an op that has passed ingestion: resolved (author, prev, lamport, id
 *   known), signature verified, causal past already added. Adding an op twice is a no-op.
 *   Ops are added in causal order; both branches of a fork are kept.
 * - `digest()` summarises the set. Replicas holding the same op set have byte-identical
 *   digests, whatever order the ops were added in.
 * - `diff(remoteDigest)` returns, in the store's own format, ops the holder of `remoteDigest`
 *   lacks. Repeated digest/diff/merge rounds between any two replicas converge to the union.
 *   A diff may carry ops the remote already has; it never needs the remote to trust it:
 *   everything in it is checked again on arrival.
 * - `unpack(diff)` returns the ops a diff carries, in wire form and in an order in which the
 *   causal past of each comes before it wherever the sender knew it. It throws
 *   `SyncDecodeError` for bytes that are not a diff of this store; individual ops that fail
 *   to decode are skipped and counted in `stats.malformed`.
 *
 * Semantics (validity, view) live above the store and never depend on which one is used.
 */
import type { Op, WireOp } from '../op.js'

export type OpStoreName = 'native' | 'yjs' | 'automerge'

export interface UnpackResult {
  ops: WireOp[]
  /** Ops in the diff that did not decode. */
  malformed: number
}

export interface OpStore {
  readonly name: OpStoreName
  add (op: Op): void
  has (id: Uint8Array): boolean
  readonly size: number
  digest (): Uint8Array
  diff (remoteDigest: Uint8Array): Uint8Array
  unpack (diff: Uint8Array): UnpackResult
}
