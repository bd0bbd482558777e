/**
 * What a `Mesh` tells the program that embeds it (DESIGN §4): the peers it should have, as
 * they come and go, whether their daemons answer, and when the op log moved.
 *
 * Every event is a `CustomEvent<Detail>` on the mesh (`mesh.addEventListener('peer:add', e =>
 * e.detail.wgPublicKey)`). Listeners run synchronously, in the order they were added, inside
 * the gossip receive path or timer that caused them, and must not block or throw: queue slow
 * work (a WireGuard reconfiguration, a database write) and return.
 *
 * Peer events are computed from the member view, never from liveness: a member whose daemon
 * is down is still a peer (`peer:unreachable`), and only a signed op (or expiry) removes it.
 * They are about other members only; this node never sees itself added or removed.
 */
import type { Key } from '../identity/key.js'
import type { LivenessState } from '../gossip/liveness.js'
import type { NodeEndpoint } from '../gossip/node-state.js'

/** A member as the program sees it: its record from the view, its endpoints from its signed node state. */
export interface PeerInfo {
  readonly wgPublicKey: Key
  readonly signPublicKey: Key
  readonly name?: string
  /** The member's /128 in the org prefix, as text. */
  readonly overlayAddress: string
  /** Sorted; `admin`, `lighthouse`, or the org's own. */
  readonly roles: readonly string[]
  /** The admin rank (root 0); absent for non-admins. */
  readonly rank?: number
  /** `host:port` endpoints an admin put in the member's record (lighthouses). */
  readonly staticEndpoints?: readonly string[]
  /** Unix ms after which the member leaves the view (plus the replica's clock skew allowance). */
  readonly expiresAt?: number
  /** What the member's own signed node state advertises; empty until one is heard. */
  readonly endpoints: readonly NodeEndpoint[]
  /** The opaque app metadata of its node state (≤ 512 bytes; empty until one is heard). */
  readonly appMetadata: Uint8Array
}

/**
 * Why a member left the view: an admin removed it (or its enroll stopped being valid, e.g.
 * its enrolling admin was cut off), an admin revoked its keys (for good), it left on its
 * own, or its `expiresAt` passed.
 */
export type PeerRemoveReason = 'removed' | 'revoked' | 'left' | 'expired'

export interface PeerRemoveDetail {
  /** The member as it was last seen. */
  readonly peer: PeerInfo
  readonly reason: PeerRemoveReason
}

export interface PeerLivenessEventDetail {
  readonly wgPublicKey: Key
  readonly state: LivenessState
  readonly incarnation: number
  /** `'claim'`: another node said so; `'suspicion-timeout'`: our own suspicion ran out. */
  readonly cause: 'claim' | 'suspicion-timeout'
}

export interface SyncDetail {
  /** Ops accepted by this batch. */
  readonly added: number
  /** Ops in the log now (genesis included). */
  readonly ops: number
  /** Ops held back for a missing causal past. */
  readonly pending: number
  /**
   * Hex of the first 8 bytes of SHA-256 over the op store's digest: two nodes with the same
   * value hold the same ops. Computed when first read.
   */
  readonly heads: string
}

export interface MeshEvents {
  /** A member entered the view (or was already in it when `start()` ran). */
  'peer:add': CustomEvent<PeerInfo>
  /** A member's record (name, roles, rank, static endpoints, expiry) or node state (endpoints, app metadata) changed. */
  'peer:update': CustomEvent<PeerInfo>
  /** A member left the view. */
  'peer:remove': CustomEvent<PeerRemoveDetail>
  /** SWIM: a member declared dead answers again. */
  'peer:reachable': CustomEvent<PeerLivenessEventDetail>
  /** SWIM: a member was declared dead. Its membership is untouched. */
  'peer:unreachable': CustomEvent<PeerLivenessEventDetail>
  /** The op log grew: the view may have changed. */
  'sync': CustomEvent<SyncDetail>
  /** This node's JOIN was answered and it holds the org's ops (`via`: the member that answered). */
  'joined': CustomEvent<{ via: Key }>
  /**
   * A background task failed: storing received ops or saving the incarnation (`StorageError`
   * with its path, usually), or the WireGuard reconciler failed `errorAfterFailures` passes in
   * a row (`ReconcileError`, code WIREMESH_ERR_RECONCILE, whose `cause` is the backend's
   * `WireGuardError`; it keeps retrying). The mesh keeps running.
   */
  'error': CustomEvent<{ error: Error }>
}
