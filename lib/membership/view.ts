/**
 * The member view: an OR-set (ORSWOT-style) over valid enrolls (DESIGN §2).
 *
 * An enroll E of subject S is live iff it is valid, S's keys are not revoked by any valid
 * revoke, no valid remove or leave of S has E in its causal past, and no later valid enroll
 * of S has E in its causal past (superseded). S is a member iff it has a live enroll and is
 * not expired; its record is the live enroll with the greatest (lamport, id).
 *
 * Why revocation wins: a remove only cancels the enrolls it has seen, so a concurrent
 * re-enroll survives it (add wins, as in any OR-set). A revoke instead names the keys: every
 * enroll carrying the subject's WireGuard key or any signing key it was enrolled with is
 * dead, whether it came before, after or concurrently with the revoke. Re-admission needs new
 * keys, so a stolen key cannot be brought back by a racing admin or an old replica.
 */
import type { Key } from '../identity/key.js'
import { byLamportId, type AuthorityResult, type SubjectOps } from './authority.js'
import type { LoggedOp, OpLog } from './log.js'
import { ROLE_ADMIN, type MemberRecord } from './op.js'

export interface ViewEntry {
  /** The live enroll whose record is the member's. */
  enroll: LoggedOp
  record: MemberRecord
  /** Set when the subject holds a valid admin grant. */
  rank: number | undefined
  /** The member's overlay address as text, once something has formatted it. */
  address?: string
  /** Where the view's `AddressIndex` keeps the member's address, when it was computed so. */
  addrSlot?: number
}

export interface ComputedView {
  /** Members by wg key map key, expiry not yet applied. */
  live: Map<string, ViewEntry>
  /** wg and signing keys that can never be members again. */
  revokedKeys: Set<string>
  /** Subjects that were members once and are now out, with why. */
  gone: Map<string, { subject: Key, reason: 'removed' | 'revoked' | 'left' }>
}

/**
 * Overlay addresses as the uniqueness rule needs them: each subject's address gets a slot
 * (equal slots exactly for equal addresses), and each slot the earliest valid enroll holding it.
 */
export interface AddressIndex {
  /** Subject `s`'s slot, made if its address has none yet. */
  slot (s: string, so: SubjectOps): number
  owner (slot: number): LoggedOp | undefined
  setOwner (slot: number, first: LoggedOp): void
}

/** The view from scratch, keeping overlay addresses in `addresses` (which must start empty). */
export function computeViewState (log: OpLog, auth: AuthorityResult, addresses: AddressIndex): ComputedView {
  const revokedKeys = new Set<string>()
  for (const so of auth.bySubject.values()) {
    if (!so.revoked) continue
    revokedKeys.add(so.subject.mapKey)
    for (const e of so.enrolls) if (e.payload.kind === 2) revokedKeys.add(e.payload.record.signPublicKey.mapKey)
  }
  const view: ComputedView = { live: new Map(), revokedKeys, gone: new Map() }
  for (const [s, so] of auth.bySubject) {
    if (so.enrolls.length === 0) continue
    // Overlay addresses are unique: the earliest valid enroll of an address keeps it.
    const addr = addresses.slot(s, so)
    const first = firstEnroll(so)
    const prior = addresses.owner(addr)
    if (prior !== undefined) {
      if (byLamportId(prior, first) < 0) { for (const e of so.enrolls) e.valid = false; continue }
      const loser = prior.payload.kind === 2 ? prior.payload.record.wgPublicKey.mapKey : ''
      view.live.delete(loser)
      for (const e of auth.bySubject.get(loser)?.enrolls ?? []) e.valid = false
    }
    addresses.setOwner(addr, first)
    settleSubject(log, auth, view, s, so, addr)
  }
  return view
}

/** The subject's earliest valid enroll, in (lamport, id) order. */
export function firstEnroll (so: SubjectOps): LoggedOp {
  let first = so.enrolls[0]
  for (let i = 1; i < so.enrolls.length; i++) if (byLamportId(so.enrolls[i], first) < 0) first = so.enrolls[i]
  return first
}

/**
 * Sets subject `s`'s place in the view (live with its record, or gone with why) from its ops,
 * once its address is known to be its own.
 */
export function settleSubject (log: OpLog, auth: AuthorityResult, view: ComputedView, s: string, so: SubjectOps, addrSlot?: number): void {
  const { live, gone, revokedKeys } = view
  if (revokedKeys.size > 0 && revokedKeys.has(s)) { live.delete(s); gone.set(s, { subject: so.subject, reason: 'revoked' }); return }
  let best: LoggedOp | undefined
  const enrolls = so.enrolls
  if (enrolls.length === 1 && so.removals.length === 0) {
    // The common case: one enroll, nothing against it.
    const e = enrolls[0]
    if (e.payload.kind === 2 && (revokedKeys.size === 0 || !revokedKeys.has(e.payload.record.signPublicKey.mapKey))) best = e
  } else for (const e of enrolls) {
    if (e.payload.kind !== 2 || revokedKeys.has(e.payload.record.signPublicKey.mapKey)) continue
    if (so.removals.length > 0 && so.removals.some(r => log.inPast(e, r))) continue
    if (so.enrolls.length > 1 && so.enrolls.some(e2 => e2 !== e && log.inPast(e, e2))) continue
    if (best === undefined || byLamportId(best, e) < 0) best = e
  }
  if (best === undefined || best.payload.kind !== 2) {
    const left = so.removals.some(r => r.payload.kind === 5)
    live.delete(s)
    gone.set(s, { subject: so.subject, reason: left ? 'left' : 'removed' })
    return
  }
  if (gone.size > 0) gone.delete(s)
  // A rank shows only while the record holds the admin role (a demotion ends it: authority.ts).
  const rec = best.payload.record
  live.set(s, { enroll: best, record: rec, rank: rec.roles.includes(ROLE_ADMIN) ? auth.rankOfSubject.get(s) : undefined, address: undefined, addrSlot })
}
