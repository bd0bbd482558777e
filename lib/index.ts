/**
 * wiremesh: the public surface. Everything a program that embeds wiremesh needs is exported
 * here; deep imports are not part of the API.
 */
export * from './errors.js'
export { systemClock, ManualClock, type Clock, type TimerHandle } from './clock.js'
export { SeededRandom, systemRandom, type Random } from './random.js'
export { resolve as resolveConfig, type NumberSpec } from './config.js'
export { TypedEventTarget } from './events.js'

export { Key, KEY_BYTES, KEY_ID_BYTES } from './identity/key.js'
export { Ed25519Signer, verifySignature, type Signer } from './identity/sign.js'
export { generateWgKeyPair, wgKeyPairFromPrivate, type WgKeyPair } from './identity/wg-key.js'
export { overlayAddress, overlayAddressBytes, formatIpv6, formatPrefix } from './identity/overlay.js'
export { NodeIdentity, generateIdentity } from './identity/identity.js'
export { saveIdentity, loadIdentity, loadOrCreateIdentity } from './identity/identity-file.js'

export { OpKind, ROLE_ADMIN, ROLE_LIGHTHOUSE, type Op, type WireOp, type MemberRecord, type OrgParams } from './membership/op.js'
export { readOp, decodeOp, writeOpBody } from './membership/codec.js'
export { createGenesis, DEFAULT_ORG_PARAMS, type CreateOrgInit } from './membership/org.js'
export { Replica, storeFactories, DEFAULT_MAX_CLOCK_SKEW_MS, type ReplicaInit, type ReplicaEvents, type Member, type MergeResult, REPLICA_CONFIG } from './membership/replica.js'
export { Admin, leave, type EnrollInit, type RevokeInit } from './membership/admin.js'
export { proveKeys, verifyPop } from './membership/pop.js'
export { createInvite, readInvite, type Invite, type Bootstrap, type ReadInviteInit, type CreateInviteInit } from './membership/invite.js'
export { inlineVerifier, clearVerifyCache, type BatchVerifier, type SignatureJob } from './membership/verify.js'
export { VerifyPool, sharedVerifyPool, type VerifyPoolInit } from './identity/verify-pool.js'
export type { IngestResult } from './membership/ingest.js'
export type { OpStore, OpStoreName, UnpackResult } from './membership/stores/store.js'
export { NativeOpStore } from './membership/stores/native.js'

export type { MeshStorage, StoredState } from './mesh/storage.js'
export { FileStorage } from './mesh/file-storage.js'
export { MemoryStorage } from './mesh/memory-storage.js'

export { Mesh, type InviteOptions, type MeshStatus } from './mesh/mesh.js'
export { DEFAULT_LISTEN, type MeshInit, type MeshOrgInit } from './mesh/config.js'
export type { MeshEvents, PeerInfo, PeerRemoveDetail, PeerRemoveReason, PeerLivenessEventDetail, SyncDetail } from './mesh/events.js'
export type { StartedStatus } from './mesh/status.js'
export type { BackendSpec } from './mesh/config.js'
export type { WireGuardStatus } from './mesh/status.js'

export * from './wireguard/index.js'
// netlink.ts loads its native socket binding only on first use, so exporting it costs nothing until then.
export { NetlinkBackend, type NetlinkBackendInit } from './wireguard/netlink.js'
export { createKernelLink, type KernelLink, type KernelLinkInit } from './wireguard/kernel-link.js'
export { Reconciler, ReconcileError, resolveReconcilerInit, REJECT_AFTER_TIME_MS, type ReconcilerInit, type ReconcilerConfig, type ReconcilerComponents, type ReconcilerEvents, type ReconcilerStatus, type ApplyDetail } from './wireguard/reconciler.js'
export { peerSpecOf, type PeerSpec, type EndpointCandidate } from './wireguard/desired.js'
