/**
 * Authority: which ops are valid, as a pure function of the whole op set (DESIGN §2).
 *
 * Evaluated in order of increasing rank, which strictly grows along admin grants, so there
 * are no cycles: everything that can make a rank-r admin's op invalid (its grant, its
 * cutoff, the rank of its subjects) was settled while evaluating ranks < r.
 *
 *   level 0     the root's chain (the genesis author)
 *   level r+1   chains whose signing key got a valid admin grant from a rank-r admin
 *
 * An admin op by X at seq s is valid iff s ≤ cutoff(X), it lies on the pinned branch if a
 * cutoff pins one, X is the root or its causal past holds a valid admin grant for X, and it
 * acts only on what X outranks. cutoff(X) is the lowest of: the pins of valid revokes and
 * admin removes of X's subject, and (without a pin) the seq below the first fork, since an
 * equivocating admin forfeits everything from the fork on. Ops of one level are taken in
 * (lamport, id) order, which decides the rare races the rules leave open (a signing key
 * claimed by two subjects goes to the first).
 */
import type { Key } from '../identity/key.js'
import { compareBytes } from '../util/bytes.js'
import type { Chain, LoggedOp, OpLog } from './log.js'
import { ROLE_ADMIN, type ChainRef } from './op.js'

export interface AuthorityResult {
  /** Rank of every chain that has one (root 0). */
  rankOfChain: Map<Chain, number>
  /** Rank of every admin subject, by wg key map key. */
  rankOfSubject: Map<string, number>
  /** Rank of every admin signing key, by its map key (root 0). */
  rankOfSign: Map<string, number>
  /** cutoff(X) for chains that have one. */
  cutoff: Map<Chain, number>
  /** Where each admin signing key's authority ends (its chain's last valid seq), whether it has authored yet or not. */
  cutSign: Map<string, number>
  /** Chains with two different ops at one seq above any pin. */
  equivocators: Chain[]
  /** Valid ops grouped by subject wg key (enrolls, removes, revokes, leaves). */
  bySubject: Map<string, SubjectOps>
}

export interface SubjectOps {
  subject: Key
  enrolls: LoggedOp[]
  /** Valid removes, revokes and leaves (shared and frozen while empty: replace, don't push). */
  removals: LoggedOp[]
  revoked: boolean
}

/** The empty `removals` every subject starts with. */
export const NO_REMOVALS: LoggedOp[] = Object.freeze([]) as unknown as LoggedOp[]

export function addRemoval (so: SubjectOps, op: LoggedOp): void {
  if (so.removals.length === 0) so.removals = [op]
  else so.removals.push(op)
}

/** What an incremental update needs besides the result (see derive.ts). */
export interface AuthorityState {
  auth: AuthorityResult
  /** Signing key → the subject whose valid enroll claimed it first. */
  signOwner: Map<string, string>
  /** Key id (wg or signing) → the subject whose valid enroll holds it (unique ids, DESIGN §2.1). */
  idOwner: Map<string, string>
  /** Signing key → its valid admin grants. */
  grants: Map<string, LoggedOp[]>
}

export interface Root { chain: Chain, wgPublicKey: Key, genesis: LoggedOp }

/** (lamport, id) order. Map keys of ids compare as the ids do (one char per byte). */
export function byLamportId (a: LoggedOp, b: LoggedOp): number {
  return a.lamport - b.lamport || (a.idKey < b.idKey ? -1 : a.idKey > b.idKey ? 1 : 0)
}

/**
 * Something that cuts a subject's authority (DESIGN §2.1 "Authority ends with the subject"):
 * a valid revoke, a valid remove of an admin, the admin's own leave, or a record update that
 * drops the admin role. It cuts every chain the subject signs with, each at its head in the
 * op's causal past (lower on the chain its `ref` names). A remove, a leave and a demotion cut
 * only the chains whose grant they saw: a later re-grant with a fresh key is not theirs.
 */
interface CutReq { subject: string, op: LoggedOp, ref: ChainRef | undefined, needsGrantInPast: boolean }

/** The limit and pin a set of cut requests put on one signing key's chain (maybe not authored yet). */
function chainLimit (log: OpLog, reqs: readonly CutReq[], signKey: string, x: Chain | undefined, grants: Map<string, LoggedOp[]>): { limit: number, pin: LoggedOp | undefined } {
  let limit = Infinity
  let pin: LoggedOp | undefined
  let conflict = false
  for (const req of reqs) {
    if (req.needsGrantInPast && grants.get(signKey)?.some(g => log.inPast(g, req.op)) !== true) continue
    let seq = 0
    let at: LoggedOp | undefined
    const refOp = req.ref !== undefined && req.ref.seq > 0 && x !== undefined ? x.at(req.ref.seq).find(o => idEquals(o.idKey, req.ref!.hash)) : undefined
    if (refOp !== undefined) {
      seq = refOp.seq
      at = refOp
    } else if (x !== undefined) {
      const h = log.headIn(req.op, x)
      if (h !== undefined) {
        if (Array.isArray(h)) { seq = Math.max(...h.map(o => o.seq)); at = undefined } else { seq = h.seq; at = h }
      }
    }
    // Two cuts at one seq pinning different branches (an admin that forked, then left on
    // each branch) pin neither, whichever was read first: the fork rule decides.
    if (seq < limit) { limit = seq; pin = at; conflict = false } else if (seq === limit && at !== pin) conflict = true
  }
  return { limit, pin: conflict ? undefined : pin }
}

export function evaluateAuthorityState (log: OpLog, root: Root): AuthorityState {
  for (const op of log.byId.values()) op.valid = false
  const rankOfChain = new Map<Chain, number>([[root.chain, 0]])
  const rankOfSubject = new Map<string, number>([[root.wgPublicKey.mapKey, 0]])
  const rankOfSign = new Map<string, number>([[root.chain.author.mapKey, 0]])
  const signOwner = new Map<string, string>([[root.chain.author.mapKey, root.wgPublicKey.mapKey]])
  const idOwner = new Map<string, string>([[root.chain.author.idMapKey, root.wgPublicKey.mapKey], [root.wgPublicKey.idMapKey, root.wgPublicKey.mapKey]])
  const grants = new Map<string, LoggedOp[]>()
  const bySubject = new Map<string, SubjectOps>()
  const cutReqs = new Map<string, CutReq[]>()
  const cutoff = new Map<Chain, number>()
  const equivocators: Chain[] = []
  const rootWg = root.wgPublicKey.mapKey
  const rootSign = root.chain.author.mapKey
  const chainBySign = new Map<string, Chain>()
  for (const c of log.chains) chainBySign.set(c.author.mapKey, c)
  const leavesBySubject = new Map<string, LoggedOp[]>()
  for (const op of log.standalone) {
    if (op.payload.kind !== 5) continue
    const s = op.payload.leave.subject.mapKey
    const list = leavesBySubject.get(s)
    if (list === undefined) leavesBySubject.set(s, [op])
    else list.push(op)
  }
  const addCut = (req: CutReq): void => {
    const list = cutReqs.get(req.subject)
    if (list === undefined) cutReqs.set(req.subject, [req])
    else list.push(req)
  }

  const subjectOps = (k: Key): SubjectOps => {
    let s = bySubject.get(k.mapKey)
    if (s === undefined) { s = { subject: k, enrolls: [], removals: NO_REMOVALS, revoked: false }; bySubject.set(k.mapKey, s) }
    return s
  }

  let level: Chain[] = [root.chain]
  for (let r = 0; level.length > 0; r++) {
    // Settle each chain's cutoff and pinned branch from what lower ranks decided.
    const runs: LoggedOp[][] = []
    for (const x of level) {
      const subject = signOwner.get(x.author.mapKey)
      // Its own leaves: their enrolls were settled at lower ranks.
      if (subject !== undefined) for (const l of leavesBySubject.get(subject) ?? []) if (leaveEnroll(log, l) !== undefined) addCut({ subject, op: l, ref: undefined, needsGrantInPast: true })
      let { limit, pin } = subject === undefined ? { limit: Infinity, pin: undefined } : chainLimit(log, cutReqs.get(subject) ?? [], x.author.mapKey, x, grants)
      if (pin === undefined && x.forkSeq !== Infinity && x.forkSeq - 1 < limit) {
        limit = x.forkSeq - 1
        equivocators.push(x)
      }
      if (limit !== Infinity) cutoff.set(x, limit)
      const run: LoggedOp[] = []
      const top = Math.min(limit, x.maxSeq)
      // On a pinned chain, only the pinned branch counts where the chain forks: walk that
      // branch down once (below the fork, every op is on it).
      const onPin = new Set<LoggedOp>()
      if (pin !== undefined && x.forkSeq <= top) {
        for (let cur: LoggedOp | undefined = pin; cur !== undefined && cur.seq >= x.forkSeq; cur = cur.prevKey === undefined ? undefined : log.byId.get(cur.prevKey)) onPin.add(cur)
      }
      for (let s = 1; s <= top; s++) {
        const slot = x.bySeq[s]
        if (slot === undefined) continue
        if (!Array.isArray(slot)) {
          if (pin === undefined || s < x.forkSeq || onPin.has(slot)) run.push(slot)
          continue
        }
        for (const op of slot) {
          if (pin !== undefined && !onPin.has(op)) continue
          run.push(op)
        }
      }
      runs.push(run)
    }
    const ops = runs.length === 1 ? runs[0] : runs.flat().sort(byLamportId)

    const next: Chain[] = []
    for (const op of ops) {
      const x = op.chain!
      if (x !== root.chain) {
        const gs = grants.get(x.author.mapKey)
        if (gs === undefined || !gs.some(g => log.inPast(g, op))) continue
      }
      const p = op.payload
      switch (p.kind) {
        case 1:
          op.valid = op === root.genesis
          break
        case 2: {
          const rec = p.record
          const s = rec.wgPublicKey.mapKey
          const sk = rec.signPublicKey.mapKey
          if (s === rootWg || sk === rootSign) break
          const sr = rankOfSubject.get(s)
          if (sr !== undefined && sr <= r) break
          const owner = signOwner.get(sk)
          if (owner !== undefined && owner !== s) break
          // Key ids are unique: no lookup by id may ever reach a squatter.
          const wo = idOwner.get(rec.wgPublicKey.idMapKey)
          if (wo !== undefined && wo !== s) break
          const so2 = idOwner.get(rec.signPublicKey.idMapKey)
          if (so2 !== undefined && so2 !== s) break
          const admin = rec.roles.includes(ROLE_ADMIN)
          if (admin && rec.expiresAt !== undefined) break
          op.valid = true
          signOwner.set(sk, s)
          idOwner.set(rec.wgPublicKey.idMapKey, s)
          idOwner.set(rec.signPublicKey.idMapKey, s)
          subjectOps(rec.wgPublicKey).enrolls.push(op)
          if (admin) {
            let gs = grants.get(sk)
            if (gs === undefined) { gs = []; grants.set(sk, gs) }
            gs.push(op)
            if (sr === undefined || sr > r + 1) rankOfSubject.set(s, r + 1)
            if (!rankOfSign.has(sk)) rankOfSign.set(sk, r + 1)
            const c = chainBySign.get(sk)
            if (c !== undefined && !rankOfChain.has(c)) { rankOfChain.set(c, r + 1); next.push(c) }
          } else if (sr !== undefined) {
            // A record update without the admin role ends the authority it saw.
            addCut({ subject: s, op, ref: undefined, needsGrantInPast: true })
          }
          break
        }
        case 3:
        case 4: {
          const subject = p.kind === 3 ? p.remove.subject : p.revoke.subject
          const s = subject.mapKey
          if (s === rootWg) break
          const sr = rankOfSubject.get(s)
          if (sr !== undefined && sr <= r) break
          op.valid = true
          const so = subjectOps(subject)
          addRemoval(so, op)
          if (p.kind === 4) so.revoked = true
          if (p.kind === 4) addCut({ subject: s, op, ref: p.revoke.cutoff, needsGrantInPast: false })
          else addCut({ subject: s, op, ref: p.remove.cutoff, needsGrantInPast: true })
          break
        }
      }
    }
    next.sort((a, b) => compareBytes(a.author.bytes, b.author.bytes))
    level = next
  }

  // Leaves: signed by the subject's own key, naming a valid enroll of it with that key.
  for (const op of log.standalone) {
    if (op.payload.kind !== 5) continue
    const s = op.payload.leave.subject
    if (s.mapKey === rootWg) continue
    const so = bySubject.get(s.mapKey)
    if (so === undefined || leaveEnroll(log, op) === undefined) continue
    op.valid = true
    addRemoval(so, op)
  }
  // Where each admin signing key's authority ends, chain or not yet (Admin.rank asks).
  const cutSign = new Map<string, number>()
  for (const sk of grants.keys()) {
    const subject = signOwner.get(sk)
    if (subject === undefined) continue
    // Its leaves too: an admin that left before it ever authored has no chain that took them.
    const reqs = [...cutReqs.get(subject) ?? []]
    for (const l of leavesBySubject.get(subject) ?? []) if (leaveEnroll(log, l) !== undefined) reqs.push({ subject, op: l, ref: undefined, needsGrantInPast: true })
    if (reqs.length === 0) continue
    const c = chainBySign.get(sk)
    const { limit } = chainLimit(log, reqs, sk, c, grants)
    if (limit !== Infinity) cutSign.set(sk, limit)
  }
  return { auth: { rankOfChain, rankOfSubject, rankOfSign, cutoff, cutSign, equivocators, bySubject }, signOwner, idOwner, grants }
}

/**
 * The enroll a leave ends, if the leave is valid: its deps name a valid enroll of its
 * subject carrying the leave's author as signing key (DESIGN §2.1: a leave is its subject's
 * own, one per enroll; an admin's leave may also name its own chain's head).
 */
export function leaveEnroll (log: OpLog, op: LoggedOp): LoggedOp | undefined {
  if (op.payload.kind !== 5) return undefined
  const subject = op.payload.leave.subject.mapKey
  for (const d of op.deps) {
    const e = log.findDep(d)
    if (e === undefined || !e.valid || e.payload.kind !== 2) continue
    const rec = e.payload.record
    if (rec.wgPublicKey.mapKey === subject && rec.signPublicKey.mapKey === op.author.mapKey) return e
  }
  return undefined
}

/** Whether an id given as a map key equals `id` (bytes). */
function idEquals (idKey: string, id: Uint8Array): boolean {
  if (id.length !== idKey.length) return false
  for (let i = 0; i < id.length; i++) if (idKey.charCodeAt(i) !== id[i]) return false
  return true
}
