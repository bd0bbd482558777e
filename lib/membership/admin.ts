/**
 * `Admin`: the actions an admin (or the root) takes on membership, each one signed op added
 * to the local replica and returned for gossip. Every action is checked against the current
 * view first, so an action the rules would make invalid fails here with a typed error instead
 * of producing an op that every replica ignores.
 */
import { NotAuthorizedError, InvalidOpError } from '../errors.js'
import type { Key } from '../identity/key.js'
import type { Signer } from '../identity/sign.js'
import { authorOp } from './author.js'
import { verifyPop } from './pop.js'
import { compareBytes } from '../util/bytes.js'
import type { LoggedOp } from './log.js'
import { HASH_PREFIX_BYTES, ROLE_ADMIN, type ChainRef, type Dep, type MemberRecord, type Op, type Payload } from './op.js'
import type { Replica } from './replica.js'

export interface EnrollInit {
  wgPublicKey: Key
  signPublicKey: Key
  /**
   * The joiner's proof that it holds `signPublicKey` (pop.ts `proveKeys`), part of the public
   * identity it hands over. Checked here: an enroll without a valid one is invalid everywhere.
   */
  pop: Uint8Array
  name?: string
  roles?: string[]
  staticEndpoints?: string[]
  /** Unix ms; not allowed on admins. */
  expiresAt?: number
}

export interface RevokeInit {
  reason?: string
  /** Last op of the subject's chain that stays valid (default: its head here). */
  cutoff?: ChainRef
}

export class Admin {
  constructor (readonly replica: Replica, readonly signer: Signer) {}

  /** This admin's rank, or a NotAuthorizedError if it is not a valid admin (any more). */
  rank (): number {
    const { auth, revokedKeys } = this.replica.authorityForAuthoring()
    const me = this.signer.publicKey.mapKey
    const rank = auth.rankOfSign.get(me)
    if (rank === undefined) throw new NotAuthorizedError('this identity is not an admin of the org')
    if (rank === 0) return rank
    if (revokedKeys.has(me)) throw new NotAuthorizedError('this admin was revoked: its key may not author again')
    // Where its authority ends (a revoke, a remove, its own leave, a demotion: authority.ts),
    // whether or not it has authored yet: the next op must lie below that.
    const chain = this.replica.log.chainOf(this.signer.publicKey)
    const cut = auth.cutSign.get(me) ?? (chain === undefined ? undefined : auth.cutoff.get(chain))
    if (cut !== undefined && cut < (chain?.maxSeq ?? 0) + 1) throw new NotAuthorizedError('this admin was removed, revoked, left or lost the admin role: its key may not author again')
    return rank
  }

  /** Enrolls a member, or updates a member's record (the new enroll supersedes the old). */
  enroll (init: EnrollInit): Op {
    const mine = this.rank()
    const roles = [...new Set(init.roles ?? [])].sort()
    if (roles.includes(ROLE_ADMIN) && init.expiresAt !== undefined) throw new InvalidOpError('an admin grant may not carry expiresAt')
    this.checkSubject(init.wgPublicKey, mine)
    const { revokedKeys } = this.replica.authorityForAuthoring()
    if (revokedKeys.has(init.signPublicKey.mapKey)) throw new NotAuthorizedError('signing key was revoked: re-admission needs new keys')
    if (init.signPublicKey.equals(this.replica.genesis.author)) throw new NotAuthorizedError('the root\'s signing key is never a subject\'s key')
    const derived = this.replica.authorityForAuthoring().derived
    const owner = derived.subjectOfSign(init.signPublicKey.mapKey)
    if (owner !== undefined && owner !== init.wgPublicKey.mapKey) throw new NotAuthorizedError('this signing key already belongs to another member')
    for (const k of [init.wgPublicKey, init.signPublicKey]) {
      const holder = derived.subjectOfKeyId(k.idMapKey)
      if (holder !== undefined && holder !== init.wgPublicKey.mapKey) throw new NotAuthorizedError(`key ${k.toBase64()} has the key id of another member's key: ids must be unique, make new keys`)
    }
    if (!verifyPop(this.replica.orgId, init.wgPublicKey, init.signPublicKey, init.pop)) {
      throw new InvalidOpError('proof of possession does not verify: the joiner must sign it with its own signing key, for this org and this wg key')
    }
    const record: MemberRecord = { wgPublicKey: init.wgPublicKey, signPublicKey: init.signPublicKey, roles, pop: init.pop }
    if (init.name !== undefined) record.name = init.name
    if (init.staticEndpoints !== undefined) record.staticEndpoints = init.staticEndpoints
    if (init.expiresAt !== undefined) record.expiresAt = init.expiresAt
    return this.author({ kind: 2, record })
  }

  /** Removes a member; it may be enrolled again later. Removing an admin also cuts its chain. */
  remove (subject: Key): Op {
    const mine = this.rank()
    this.checkSubject(subject, mine)
    return this.author({ kind: 3, remove: { subject, cutoff: this.headOf(subject) } })
  }

  /** Revokes a member's keys for good: they never become members again. */
  revoke (subject: Key, init: RevokeInit = {}): Op {
    const mine = this.rank()
    this.checkSubject(subject, mine)
    return this.author({ kind: 4, revoke: { subject, cutoff: init.cutoff ?? this.headOf(subject), reason: init.reason ?? '' } })
  }

  private checkSubject (subject: Key, mine: number): void {
    const { auth, revokedKeys } = this.replica.authorityForAuthoring()
    if (subject.equals(this.replica.org.rootWgPublicKey)) throw new NotAuthorizedError('the root is never the subject of an admin op')
    if (revokedKeys.has(subject.mapKey)) throw new NotAuthorizedError(`key ${subject.toBase64()} was revoked: re-admission needs new keys`)
    const theirs = auth.rankOfSubject.get(subject.mapKey)
    if (theirs !== undefined && theirs <= mine) throw new NotAuthorizedError(`subject is an admin of rank ${theirs}; this admin (rank ${mine}) outranks only ranks above its own`)
  }

  /** The subject's chain head here (what a remove or revoke pins by default). */
  private headOf (subject: Key): ChainRef {
    let best: ChainRef = { seq: 0, hash: new Uint8Array(32) }
    const so = this.replica.authorityForAuthoring().auth.bySubject.get(subject.mapKey)
    for (const e of so?.enrolls ?? []) {
      if (e.payload.kind !== 2) continue
      const chain = this.replica.log.chainOf(e.payload.record.signPublicKey)
      if (chain === undefined) continue
      const head = chain.at(chain.maxSeq)[0]
      if (head !== undefined && head.seq > best.seq) best = { seq: head.seq, hash: head.id }
    }
    return best
  }

  private author (payload: Payload): Op {
    const ranked = this.replica.authorityForAuthoring().auth.rankOfChain
    const op = authorOp(this.replica.log, this.signer, this.replica.orgId, payload, c => ranked.has(c))
    this.replica.addLocal(op)
    return op
  }
}

/**
 * A member leaving of its own accord, signed with its own key. The leave names the enroll it
 * ends (and, for an admin, its own chain's head, where its authority then ends): one leave
 * per enroll, so a member cannot mint leaves without limit (DESIGN §2.1).
 */
export function leave (replica: Replica, signer: Signer, wgPublicKey: Key): Op {
  if (wgPublicKey.equals(replica.org.rootWgPublicKey)) throw new NotAuthorizedError('the root cannot leave its org')
  const m = replica.member(wgPublicKey)
  const enroll = replica.liveEnroll(wgPublicKey)
  if (m === undefined || enroll === undefined || !m.signPublicKey.equals(signer.publicKey)) throw new NotAuthorizedError('only a current member can leave, with its own signing key')
  const deps: Dep[] = [refTo(enroll)]
  const own = replica.log.chainOf(signer.publicKey)
  if (own !== undefined && own !== enroll.chain) {
    const head = own.at(own.maxSeq)[0]
    if (head !== undefined) deps.push(refTo(head))
  }
  deps.sort((a, b) => compareBytes(a.keyId, b.keyId))
  const op = authorOp(replica.log, signer, replica.orgId, { kind: 5, leave: { subject: wgPublicKey } }, undefined, deps)
  replica.addLocal(op)
  return op
}

function refTo (op: LoggedOp): Dep {
  return { keyId: op.author.id, seq: op.seq, hash: op.id.subarray(0, HASH_PREFIX_BYTES) }
}
