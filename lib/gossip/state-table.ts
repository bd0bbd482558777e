/**
 * The node states this node holds (DESIGN §3 "Node state"): at most one signed state per
 * current member, the newest by `newer()`, and the bucketed summary anti-entropy compares.
 *
 * Admission. A state is taken only if it decodes, names a current member, is signed by that
 * member's Ed25519 key for this org, and supersedes what is held. Signatures are checked once
 * per distinct state process-wide (`verifiedStates`, keyed by SHA-256 of body ‖ signature
 * and the signing key; only successes are kept): a state is pure data, so its verdict never changes, and in the
 * simulator a thousand nodes receive the same state. Bad states are counted, never thrown.
 *
 * Summary. Members fall into STATE_BUCKETS = 16 buckets by the low 4 bits of their key's
 * first byte. A bucket is summarised as (count, xor of the first 8 bytes of each held state's
 * SHA-256), so a digest carries 16 × ≤ 9 bytes whatever N is, and two nodes holding the same
 * states in a bucket have the same summary. A mismatching bucket is pulled whole (≈ N/16
 * states): at N = 1,000 that is ~62 states, a few pages, only when something differs.
 */
import { createHash } from 'node:crypto'
import type { Key } from '../identity/key.js'
import { bytesEqual, toKeyString } from '../util/bytes.js'
import { LruCache } from '../wire/lru.js'
import { OverlayMap } from '../util/overlay-map.js'
import { STATE_BUCKETS, STATE_HASH_BYTES, type StateBucket } from './messages.js'
import { decodeSignedNodeState, encodeSignedNodeState, newer, verifyNodeState, type NodeState, type SignedNodeState } from './node-state.js'

/** Verdicts of state signatures, process-wide (pure: the same bytes and key always verify the same). */
const verifiedStates = new LruCache<boolean>(262_144)
/**
 * Decoded states by the very array they came from, process-wide and weak: a simulator hands
 * the same arrays to thousands of nodes, which then decode, hash and verify each state once
 * in all. Arrays from the network are fresh copies, so they never hit (and are collected).
 */
const heldByArray = new WeakMap<Uint8Array, HeldState>()
/** The signing key (map key) each shared HeldState was verified against. */
const verifiedHeld = new WeakMap<HeldState, string>()

export interface HeldState {
  readonly signed: SignedNodeState
  /** body ‖ signature, as gossiped. */
  readonly wire: Uint8Array
  /** SHA-256(wire). */
  readonly digest: Uint8Array
  /** Its first STATE_HASH_BYTES, what bucket summaries xor. */
  readonly hash: Uint8Array
}

function hold (signed: SignedNodeState, wire: Uint8Array): HeldState {
  const digest = new Uint8Array(createHash('sha256').update(wire).digest())
  return Object.freeze({ signed, wire, digest, hash: digest.subarray(0, STATE_HASH_BYTES) })
}

export type OfferResult =
  | { accepted: true, held: HeldState, previous: HeldState | undefined }
  | { accepted: false, reason: 'malformed' | 'not-member' | 'bad-signature' | 'stale' }

export interface StateTableComponents {
  orgId: Uint8Array
  /** The Ed25519 key of the current member with this WireGuard key, or undefined. */
  signKeyOf: (wgKey: Key) => Key | undefined
}

/** A frozen table content (`StateTable.share`). */
export interface StateTableBase {
  readonly held: ReadonlyMap<string, HeldState>
  readonly buckets: readonly StateBucket[]
  readonly rejected: Readonly<StateTable['rejected']>
}

export function stateBucket (wgKey: Key): number { return wgKey.bytes[0] & (STATE_BUCKETS - 1) }

export class StateTable {
  private readonly orgId: Uint8Array
  private readonly signKeyOf: (wgKey: Key) => Key | undefined
  /** Over a shared base once `share` or `startFrom` ran (an empty one before). */
  private held = new OverlayMap<string, HeldState>()
  private base: StateTableBase | undefined
  private readonly buckets: StateBucket[] = Array.from({ length: STATE_BUCKETS }, () => ({ count: 0, hash: new Uint8Array(STATE_HASH_BYTES) }))
  readonly rejected = { malformed: 0, 'not-member': 0, 'bad-signature': 0, stale: 0 }

  /** The org, in the memo keys: a process may hold nodes of several orgs with the same keys. */
  private readonly orgKey: string

  constructor (components: StateTableComponents) {
    this.orgId = components.orgId
    this.orgKey = toKeyString(components.orgId)
    this.signKeyOf = components.signKeyOf
  }

  get size (): number { return this.held.size }

  /**
   * Freezes what the table holds into a base for tables that would start alike (`startFrom`),
   * and carries on over it. Thousands of simulated nodes warm-start from the same states: they
   * then hold one table between them, each paying only for what it changes.
   */
  share (): StateTableBase {
    const base: StateTableBase = { held: new Map(this.held), buckets: this.summary(), rejected: { ...this.rejected } }
    this.held = new OverlayMap(base.held)
    this.base = base
    return base
  }

  /** The base this table was shared from or started from, while nothing changed since. */
  get unchangedBase (): StateTableBase | undefined { return this.held.pristine ? this.base : undefined }

  /** Starts an empty table as `base` was when shared (states, summary, rejection counts). */
  startFrom (base: StateTableBase): void {
    if (this.held.size !== 0) throw new RangeError('startFrom needs an empty state table')
    this.held = new OverlayMap(base.held)
    this.base = base
    for (let b = 0; b < STATE_BUCKETS; b++) {
      this.buckets[b].count = base.buckets[b].count
      this.buckets[b].hash.set(base.buckets[b].hash)
    }
    for (const k of Object.keys(this.rejected) as Array<keyof StateTable['rejected']>) this.rejected[k] += base.rejected[k]
  }

  get (wgKey: Key): HeldState | undefined { return this.held.get(wgKey.mapKey) }

  values (): IterableIterator<HeldState> { return this.held.values() }

  /** Offers a gossiped state (body ‖ signature); takes it if it is valid and newer. */
  offer (wire: Uint8Array): OfferResult {
    let held = heldByArray.get(wire)
    if (held === undefined) {
      // The very state we hold (gossip repeats every state several times): stale, and no
      // decoding or hashing spent on it. A state starts with its 32-byte WireGuard key.
      if (wire.length > 32) {
        const have = this.held.get(toKeyString(wire.subarray(0, 32)))
        if (have !== undefined && bytesEqual(have.wire, wire)) return this.reject('stale')
      }
      let signed: SignedNodeState
      try {
        signed = decodeSignedNodeState(wire)
      } catch {
        return this.reject('malformed')
      }
      const previous = this.held.get(signed.state.wgPublicKey.mapKey)
      if (previous !== undefined && !newer(signed, previous.signed)) return this.reject('stale')
      held = hold(signed, wire)
      heldByArray.set(wire, held)
    }
    return this.offerHeld(held)
  }

  /** As `offer`, for a state already decoded (our own, freshly signed). */
  offerSigned (signed: SignedNodeState, wire = encodeSignedNodeState(signed)): OfferResult {
    return this.offerHeld(hold(signed, wire))
  }

  private offerHeld (held: HeldState): OfferResult {
    const signed = held.signed
    const key = signed.state.wgPublicKey
    const signKey = this.signKeyOf(key)
    if (signKey === undefined) return this.reject('not-member')
    const previous = this.held.get(key.mapKey)
    if (previous !== undefined && !newer(signed, previous.signed)) return this.reject('stale')
    if (verifiedHeld.get(held) !== signKey.mapKey + this.orgKey) {
      const memo = toKeyString(held.digest) + signKey.mapKey + this.orgKey
      if (verifiedStates.get(memo) === undefined) {
        // Only good verdicts are remembered, so a flood of forged states cannot evict them.
        if (!verifyNodeState(signed, signKey, this.orgId)) return this.reject('bad-signature')
        verifiedStates.set(memo, true)
      }
      verifiedHeld.set(held, signKey.mapKey + this.orgKey)
    }
    if (previous !== undefined) this.unsum(key, previous)
    this.held.set(key.mapKey, held)
    this.sum(key, held)
    return { accepted: true, held, previous }
  }

  /** Drops a node's state (it left the view). */
  remove (wgKey: Key): boolean {
    const h = this.held.get(wgKey.mapKey)
    if (h === undefined) return false
    this.unsum(wgKey, h)
    this.held.delete(wgKey.mapKey)
    return true
  }

  /** The 16 bucket summaries (copies). */
  summary (): StateBucket[] { return this.buckets.map(b => ({ count: b.count, hash: b.hash.slice() })) }

  /** The buckets in which `theirs` differs from ours, ascending. */
  differing (theirs: readonly StateBucket[]): number[] {
    const out: number[] = []
    for (let b = 0; b < STATE_BUCKETS; b++) {
      const mine = this.buckets[b]
      const other = theirs[b]
      if (other === undefined || other.count !== mine.count || !sameHash(other.hash, mine.hash)) out.push(b)
    }
    return out
  }

  /** The wire states held in the given buckets. */
  inBuckets (buckets: readonly number[]): Uint8Array[] {
    const want = new Set(buckets)
    const out: Uint8Array[] = []
    for (const h of this.held.values()) if (want.has(stateBucket(h.signed.state.wgPublicKey))) out.push(h.wire)
    return out
  }

  state (wgKey: Key): NodeState | undefined { return this.held.get(wgKey.mapKey)?.signed.state }

  private reject (reason: keyof StateTable['rejected']): OfferResult {
    this.rejected[reason]++
    return { accepted: false, reason }
  }

  private sum (key: Key, h: HeldState): void {
    const b = this.buckets[stateBucket(key)]
    b.count++
    for (let i = 0; i < STATE_HASH_BYTES; i++) b.hash[i] ^= h.hash[i]
  }

  private unsum (key: Key, h: HeldState): void {
    const b = this.buckets[stateBucket(key)]
    b.count--
    for (let i = 0; i < STATE_HASH_BYTES; i++) b.hash[i] ^= h.hash[i]
  }
}

function sameHash (a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < STATE_HASH_BYTES; i++) if (a[i] !== b[i]) return false
  return a.length === b.length
}
