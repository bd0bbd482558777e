/**
 * Ops: the immutable, signed facts that membership is made of (DESIGN §2).
 *
 * Admin ops (genesis, enroll, remove, revoke) form one chain per author: `seq` 1, 2, … and
 * `prev` = id of the author's op at seq − 1. `leave` is standalone (seq 0, no prev), so
 * version vectors stay O(admins). The author of every op is an Ed25519 signing key.
 *
 * What is signed but never sent (the receiver derives it): `orgId`, `prev`, `lamport`.
 * `lamport` = 1 + max(lamport(prev), lamport(each dep)); `id` = SHA-256 of the signed bytes.
 */
import type { Key } from '../identity/key.js'

/** Op kinds. ONLY APPEND TO THIS LIST: the number is the first byte of every op. */
export const OpKind = {
  genesis: 1,
  enroll: 2,
  remove: 3,
  revoke: 4,
  leave: 5
} as const
export type OpKind = typeof OpKind[keyof typeof OpKind]
export const OP_KIND_NAMES: Record<number, string> = { 1: 'genesis', 2: 'enroll', 3: 'remove', 4: 'revoke', 5: 'leave' }

// Limits. Every decoder enforces them; an author cannot create an op that breaks them.
export const MAX_OP_BYTES = 1024
export const MAX_DEPS = 64
export const MAX_NAME_BYTES = 64
export const MAX_ROLES = 8
export const MAX_ROLE_BYTES = 32
export const MAX_ENDPOINTS = 8
export const MAX_ENDPOINT_BYTES = 64
export const MAX_REASON_BYTES = 128
/** seq, lamport, timestamps: varints of at most 7 bytes (< 2^49). */
export const MAX_COUNTER = 2 ** 49 - 1
/**
 * Bytes of an op id that a dep (and a digest tip) carries: 128 bits, so no author can grind
 * two ops that one reference matches (DESIGN §2.1 "Unforgeable references"; 8 bytes took
 * ~2^33 hashes).
 */
export const HASH_PREFIX_BYTES = 16
/** A proof of possession: an Ed25519 signature by the enrolled signing key (pop.ts). */
export const POP_BYTES = 64
export const ORG_ID_BYTES = 16
export const OP_ID_BYTES = 32

export const ROLE_ADMIN = 'admin'
export const ROLE_LIGHTHOUSE = 'lighthouse'

/** A member as an enroll op describes it. */
export interface MemberRecord {
  wgPublicKey: Key
  signPublicKey: Key
  name?: string
  /** Sorted and unique; `admin` makes the enroll an admin grant. */
  roles: string[]
  /** `host:port` strings a lighthouse can be reached at. */
  staticEndpoints?: string[]
  /** Unix ms after which the member is hidden from the view (never for admins). */
  expiresAt?: number
  /**
   * Proof of possession (pop.ts): the signing key's own signature over the org, the wg key
   * and itself, made by the joiner. An enroll without a valid one is invalid (DESIGN §2.1).
   */
  pop: Uint8Array
}

export interface OrgParams {
  listenPort: number
  mtu: number
  keepaliveS: number
}

export interface GenesisPayload {
  /** 6 bytes: the org's RFC 4193 /48. */
  prefix: Uint8Array
  name: string
  createdAt: number
  params: OrgParams
  /** The root's WireGuard key; its signing key is the genesis author. */
  rootWgPublicKey: Key
}

/** A chain position, pinned by the op id there. */
export interface ChainRef {
  seq: number
  /** Full id when authored locally; on the wire the revoke carries all 32 bytes. */
  hash: Uint8Array
}

/** The op carries a reference to every other chain its author saw change. */
export interface Dep {
  keyId: Uint8Array
  seq: number
  hash: Uint8Array
}

export interface RemovePayload { subject: Key, cutoff: ChainRef }
export interface RevokePayload { subject: Key, cutoff: ChainRef, reason: string }
export interface LeavePayload { subject: Key }

export type Payload =
  | { kind: 1, genesis: GenesisPayload }
  | { kind: 2, record: MemberRecord }
  | { kind: 3, remove: RemovePayload }
  | { kind: 4, revoke: RevokePayload }
  | { kind: 5, leave: LeavePayload }

/**
 * An op as it arrives: what the wire carries. Author is known only by key id (except for
 * genesis), and prev, lamport and id are not yet derived.
 */
export interface WireOp {
  kind: OpKind
  /** 8-byte key id of the author (the first 8 bytes of `author` for genesis). */
  authorId: Uint8Array
  /** Present only for genesis, whose author cannot be looked up. */
  author?: Key
  seq: number
  deps: Dep[]
  payload: Payload
  sig: Uint8Array
  /** Wire bytes without the signature. */
  body: Uint8Array
  /** Wire bytes with the signature. */
  wire: Uint8Array
}

/** An op whose causal past is present: author, prev, lamport and id are known. */
export interface Op extends WireOp {
  author: Key
  /** Id of the author's op at seq − 1, or undefined at seq 1 and for standalone ops. */
  prev: Uint8Array | undefined
  lamport: number
  id: Uint8Array
}

export function isChainKind (kind: number): boolean {
  return kind === OpKind.genesis || kind === OpKind.enroll || kind === OpKind.remove || kind === OpKind.revoke
}

/** The subject wg key an op acts on (the new member for genesis and enroll). */
export function opSubject (op: WireOp): Key {
  const p = op.payload
  switch (p.kind) {
    case 1: return p.genesis.rootWgPublicKey
    case 2: return p.record.wgPublicKey
    case 3: return p.remove.subject
    case 4: return p.revoke.subject
    case 5: return p.leave.subject
  }
}
