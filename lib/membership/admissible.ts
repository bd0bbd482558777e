/**
 * Admissibility: whether an op could ever be valid, judged on the op and its causal past alone
 * (DESIGN §2.1 "Validity is monotone", "Bounded per member", "A function of the op set").
 *
 * A replica stores and forwards only admissible ops. Because the test reads nothing but the op
 * and its (content-addressed, hence fixed) causal past, whether an op is stored does not depend
 * on what else arrived or in which order: replicas that received the same ops store the same
 * ops. And every valid op is admissible, so nothing valid is ever refused:
 *
 *   - an admin op by X (not the root) is valid only if its causal past holds a valid admin
 *     grant for X; admissible needs a stored one (a grant with X as signing key, the admin
 *     role, no expiresAt). A member that was never an admin can therefore get no chain op of
 *     its own stored at all: no chain of keys it introduces, no squatting enroll, no digest
 *     entry (findings 1, 3, 5, 8 of issue 11);
 *   - an enroll carries a proof of possession (pop.ts), checked with the signature;
 *   - ops that name the root as subject, enroll its keys, or grant admin with an expiry are
 *     never valid;
 *   - a leave names, among its (one or two) deps, a stored enroll of its subject carrying the
 *     leave's author as signing key; a second dep must be on the author's own chain. So a
 *     member can sign one leave per enroll of its own (an admin one per own head too), and
 *     none about anybody else.
 *
 * What is admissible can still be invalid in the whole set (cut off by a revoke, outranked,
 * a fork): such ops are admin-signed, and what an admin can sign is the admin's to answer for.
 */
import type { Key } from '../identity/key.js'
import type { LoggedOp, OpLog } from './log.js'
import { OpKind, ROLE_ADMIN, type Op } from './op.js'

/** Why `op` can never be valid, or undefined if it can be. Its prev and deps must be in the log. */
export function inadmissible (log: OpLog, root: { sign: Key, wg: Key }, op: Op): string | undefined {
  const p = op.payload
  const author = op.author.mapKey
  if (p.kind === 2) {
    const r = p.record
    if (r.wgPublicKey.mapKey === root.wg.mapKey || r.signPublicKey.mapKey === root.sign.mapKey) return 'enrolls a key of the root'
    if (r.expiresAt !== undefined && r.roles.includes(ROLE_ADMIN)) return 'admin grant with an expiry'
  }
  if (p.kind === 3 && p.remove.subject.mapKey === root.wg.mapKey) return 'removes the root'
  if (p.kind === 4 && p.revoke.subject.mapKey === root.wg.mapKey) return 'revokes the root'
  if (op.kind === OpKind.leave) return leaveProblem(log, root, op)
  if (op.kind === OpKind.genesis || author === root.sign.mapKey) return undefined
  const grants = log.grantsFor(op.author)
  if (grants.length === 0) return 'author never granted admin'
  const past: LoggedOp[] = []
  if (op.prev !== undefined) {
    const prev = log.get(op.prev)
    if (prev !== undefined) past.push(prev)
  }
  for (const d of op.deps) {
    const dop = log.findDep(d)
    if (dop !== undefined) past.push(dop)
  }
  for (const g of grants) for (const x of past) if (log.inPast(g, x)) return undefined
  return 'no admin grant for its author in its causal past'
}

function leaveProblem (log: OpLog, root: { sign: Key, wg: Key }, op: Op): string | undefined {
  if (op.payload.kind !== 5) return 'not a leave'
  const subject = op.payload.leave.subject.mapKey
  if (subject === root.wg.mapKey) return 'the root cannot leave'
  let ends = 0
  for (const d of op.deps) {
    const dop = log.findDep(d)
    if (dop === undefined) return 'dep missing'
    const p = dop.payload
    if (p.kind === 2 && p.record.wgPublicKey.mapKey === subject && p.record.signPublicKey.mapKey === op.author.mapKey) ends++
    else if (dop.author.mapKey !== op.author.mapKey) return 'a leave names only its enroll and its author\'s own head'
  }
  return ends === 1 ? undefined : 'a leave names exactly one enroll of its subject signed for its author'
}
