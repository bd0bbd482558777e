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
import { overlayAddressBytes } from '../identity/overlay.js'
import type { Key } from '../identity/key.js'
import { toKeyString } from '../util/bytes.js'
import { byLamportId, type AuthorityResult } from './authority.js'
import type { LoggedOp, OpLog } from './log.js'
import type { MemberRecord } from './op.js'

export interface ViewEntry {
  /** The live enroll whose record is the member's. */
  enroll: LoggedOp
  record: MemberRecord
  /** Set when the subject holds a valid admin grant. */
  rank: number | undefined
}

export interface ComputedView {
  /** Members by wg key map key, expiry not yet applied. */
  live: Map<string, ViewEntry>
  /** wg and signing keys that can never be members again. */
  revokedKeys: Set<string>
  /** Subjects that were members once and are now out, with why. */
  gone: Map<string, { subject: Key, reason: 'removed' | 'revoked' | 'left' }>
}

export function computeView (log: OpLog, auth: AuthorityResult, orgPrefix: Uint8Array, orgId: Uint8Array, addrCache: Map<string, string>): ComputedView {
  const revokedKeys = new Set<string>()
  for (const so of auth.bySubject.values()) {
    if (!so.revoked) continue
    revokedKeys.add(so.subject.mapKey)
    for (const e of so.enrolls) if (e.payload.kind === 2) revokedKeys.add(e.payload.record.signPublicKey.mapKey)
  }
  const live = new Map<string, ViewEntry>()
  const gone: ComputedView['gone'] = new Map()
  const addrOwner = new Map<string, LoggedOp>()
  for (const [s, so] of auth.bySubject) {
    if (so.enrolls.length === 0) continue
    // Overlay addresses are unique: the earliest valid enroll of an address keeps it.
    let addr = addrCache.get(s)
    if (addr === undefined) {
      addr = toKeyString(overlayAddressBytes(orgPrefix, orgId, so.subject))
      addrCache.set(s, addr)
    }
    const first = so.enrolls.length === 1 ? so.enrolls[0] : [...so.enrolls].sort(byLamportId)[0]
    const prior = addrOwner.get(addr)
    if (prior !== undefined) {
      if (byLamportId(prior, first) < 0) { for (const e of so.enrolls) e.valid = false; continue }
      const loser = prior.payload.kind === 2 ? prior.payload.record.wgPublicKey.mapKey : ''
      live.delete(loser)
      for (const e of auth.bySubject.get(loser)?.enrolls ?? []) e.valid = false
    }
    addrOwner.set(addr, first)

    if (revokedKeys.has(s)) { gone.set(s, { subject: so.subject, reason: 'revoked' }); continue }
    let best: LoggedOp | undefined
    for (const e of so.enrolls) {
      if (e.payload.kind !== 2 || revokedKeys.has(e.payload.record.signPublicKey.mapKey)) continue
      if (so.removals.some(r => log.inPast(e, r))) continue
      if (so.enrolls.length > 1 && so.enrolls.some(e2 => e2 !== e && log.inPast(e, e2))) continue
      if (best === undefined || byLamportId(best, e) < 0) best = e
    }
    if (best === undefined || best.payload.kind !== 2) {
      const left = so.removals.some(r => r.payload.kind === 5)
      gone.set(s, { subject: so.subject, reason: left ? 'left' : 'removed' })
      continue
    }
    live.set(s, { enroll: best, record: best.payload.record, rank: auth.rankOfSubject.get(s) })
  }
  return { live, revokedKeys, gone }
}
