/**
 * Ingestion: from wire ops (any order, duplicated, forged) to accepted ops in causal order.
 *
 * 1. Resolve. For each wire op find the author's full key (by key id), the op at seq − 1 on
 *    its chain (`prev`), and every dep; derive lamport, the signed bytes and the id. Ops in
 *    the same batch resolve against each other ("tentatively"), so a chain sent in any order
 *    resolves in one pass: an op whose past is missing is parked under the first thing it
 *    needs and woken when that arrives.
 * 2. Verify every resolved op's signature in one batch (cache first; the batch verifier may
 *    use both cores).
 * 3. Commit in resolution order: an op is accepted iff its signature verifies and its prev and
 *    deps were accepted. A forged op and everything resolved on top of it are dropped.
 *
 * Parked ops (past still missing after the batch) stay in parking.ts under quotas per source
 * and per author, oldest evicted first; `needs` tells the caller which chain positions to pull
 * from that source. Step 3 also refuses what can never be valid (admissible.ts) and holds back
 * what lies too far above a cut (CUT_WINDOW, prune.ts).
 */
import type { Key } from '../identity/key.js'
import { keyIdMapKey } from '../identity/key.js'
import { sha256, sha256Key, signedBytes } from './codec.js'
import { resolveInOrder } from './ingest-fast.js'
import { ParkingLot, unheld, type Parked } from './parking.js'
import { Tentative } from './tentative.js'
import { OpEntry, resolvedOp, type LoggedOp, type OpLog } from './log.js'
import { OpKind, type Op, type WireOp } from './op.js'
import { isKnownVerified, rememberVerified, type BatchVerifier, type SignatureJob } from './verify.js'
import { inadmissible } from './admissible.js'
import { popMessage } from './pop.js'
import { bytesEqual, compareBytes, toKeyString } from '../util/bytes.js'
import { verifySignature } from '../identity/sign.js'

export interface IngestResult {
  added: LoggedOp[]
  duplicates: number
  /** Bad signature, wrong org, or built on such an op. */
  forged: number
  /** Authentic ops that can never be valid (admissible.ts, or a bad proof of possession): not stored. */
  refused: number
  /** Ops parked because their causal past is missing (all sources). */
  pending: number
  /** Parked ops dropped because a source went over its quota. */
  evicted: number
  /** Chain positions (author key id, seq) whose absence holds ops back. */
  needs: Array<{ keyId: Uint8Array, seq: number }>
}

interface Resolved { op: Op, idKey: string, signed: Uint8Array | undefined, sigOk: boolean, popOk: boolean, from?: Parked }

export const DEFAULT_PENDING_QUOTA = 4096
/**
 * Ops a chain keeps above its cutoff (a revoke, a remove, a fork; authority.ts): invalid, but
 * kept as evidence and for the admins that built on them before they knew of the cut. Ops
 * further up are dormant (held back, under the author's quota) unless a stored op needs them,
 * and a replica that stored them before the cut drops them (prune.ts).
 */
export const CUT_WINDOW = 64
const NO_LIMITS: ReadonlyMap<string, number> = new Map()

/** A proof-of-possession check for an enroll (pop.ts), as a signature job. */
function popJob (orgId: Uint8Array, op: Op): SignatureJob | undefined {
  const p = op.payload
  if (p.kind !== 2) return undefined
  return { key: p.record.signPublicKey, data: popMessage(orgId, p.record.wgPublicKey, p.record.signPublicKey), sig: p.record.pop }
}

export class Ingest {
  private readonly lot = new ParkingLot()

  constructor (
    private readonly log: OpLog,
    private readonly orgId: Uint8Array,
    private readonly verifier: BatchVerifier,
    private readonly root: { sign: Key, wg: Key },
    private readonly pendingQuota = DEFAULT_PENDING_QUOTA
  ) {}

  /** Commits `op` if it can ever be valid (admissible.ts); its past is in the log. */
  private commitIfAdmissible (op: Op, res: { added: LoggedOp[], refused: number }, commit: (op: Op) => LoggedOp, verifiedNow: boolean): boolean {
    if (inadmissible(this.log, this.root, op) !== undefined) { res.refused++; return false }
    // Remembered only once stored, its proof checked too (a cache hit skips both next time).
    if (verifiedNow) rememberVerified(op instanceof OpEntry ? op.idKey : toKeyString(op.id), op.sig)
    res.added.push(commit(op))
    return true
  }

  get pending (): number { return this.lot.count }

  /**
   * `limits`: the last valid seq of each cut chain (by author map key), as the replica's
   * derived state had it when the batch began; chain ops more than CUT_WINDOW above it go dormant.
   */
  async ingest (wireOps: Iterable<WireOp>, source = 'local', commit: (op: Op) => LoggedOp, limits: ReadonlyMap<string, number> = NO_LIMITS): Promise<IngestResult> {
    if (this.lot.size > 0) return await this.ingestGeneral(wireOps, source, commit, limits, false)
    // Fast path (ingest-fast.ts) while nothing is parked: in-order prefixes, each verified in
    // one batch and committed whole if every signature holds; the rest goes the general way.
    const input = Array.isArray(wireOps) ? wireOps as WireOp[] : [...wireOps]
    const fast = { added: [] as LoggedOp[], refused: 0 }
    let duplicates = 0
    let i = 0
    while (i < input.length && this.lot.size === 0) {
      const p = resolveInOrder(this.log, this.orgId, input, i)
      if (p.covered === 0) break
      // Above a cut chain's window: the general path holds it back.
      if (limits.size > 0 && p.ops.some(op => aboveWindow(op, limits))) break
      // Signatures the cache does not vouch for, and the proofs of possession with them (an
      // op in the cache was committed here, its proof checked then).
      const jobs = [...p.jobs]
      for (const j of p.jobOf) { const pj = popJob(this.orgId, p.ops[j]); if (pj !== undefined) jobs.push(pj) }
      const ok = jobs.length > 0 ? await this.verifier.verifyBatch(jobs) : []
      // A forgery or a bad proof in there: the general path sorts it out.
      if (!ok.every(x => x)) break
      const verifiedNow = new Set(p.jobOf.map(j => p.ops[j]))
      for (const op of p.ops) {
        // Built on an op refused just before (same prefix): it can never go in either.
        if ((op.prevKey !== undefined && this.log.getKey(op.prevKey) === undefined) || op.deps.some(d => this.log.findDep(d) === undefined)) { fast.refused++; continue }
        this.commitIfAdmissible(op, fast, commit, verifiedNow.has(op))
      }
      duplicates += p.duplicates
      i += p.covered
    }
    if (i === input.length) return { added: fast.added, duplicates, forged: 0, refused: fast.refused, pending: this.lot.count, evicted: 0, needs: [] }
    const res = await this.ingestGeneral(i === 0 ? input : input.slice(i), source, commit, limits, false)
    if (fast.added.length > 0) res.added = [...fast.added, ...res.added]
    res.duplicates += duplicates
    res.refused += fast.refused
    return res
  }

  private async ingestGeneral (wireOps: Iterable<WireOp>, source: string, commit: (op: Op) => LoggedOp, limits: ReadonlyMap<string, number>, override: boolean): Promise<IngestResult> {
    const res: IngestResult = { added: [], duplicates: 0, forged: 0, refused: 0, pending: 0, evicted: 0, needs: [] }
    const t = new Tentative()
    const resolved: Resolved[] = []
    const queue: Parked[] = []
    for (const w of wireOps) queue.push({ w, source, dead: false, override })
    const newlyParked: Parked[] = []

    const attempt = (p: Parked): void => {
      p.w = unheld(p.w)
      const r = this.resolve(p.w, t)
      if (typeof r === 'string') {
        if (r === 'dup') { res.duplicates++; return }
        if (r === 'bad') { res.forged++; return }
        this.park(r, p)
        newlyParked.push(p)
        return
      }
      t.add(r.op, r.idKey)
      r.from = p
      resolved.push(r)
      // Wake whatever waited for this chain position or this key.
      const idStr = r.op.author.idMapKey
      this.wake(`s:${idStr}:${r.op.seq}`, queue)
      if (r.op.payload.kind === 2) this.wake(`k:${r.op.payload.record.signPublicKey.idMapKey}`, queue)
    }
    for (let i = 0; i < queue.length; i++) {
      const p = queue[i]
      if (p.dead) continue
      p.dead = true
      attempt(p)
    }

    // Verify in one batch what the cache does not already vouch for, proofs of possession too.
    const jobs: SignatureJob[] = []
    const jobOf: Array<[number, 'sig' | 'pop']> = []
    for (let i = 0; i < resolved.length; i++) {
      const r = resolved[i]
      if (r.signed === undefined) continue
      jobs.push({ key: r.op.author, data: r.signed, sig: r.op.sig })
      jobOf.push([i, 'sig'])
      const pj = popJob(this.orgId, r.op)
      if (pj !== undefined) { jobs.push(pj); jobOf.push([i, 'pop']) }
    }
    if (jobs.length > 0) {
      const ok = await this.verifier.verifyBatch(jobs)
      for (let j = 0; j < jobs.length; j++) {
        const [at, what] = jobOf[j]
        if (what === 'sig') resolved[at].sigOk = ok[j]
        else resolved[at].popOk = ok[j]
      }
    }

    // Commit: an op goes in iff its signature verifies, its prev and deps went in, and it can
    // ever be valid. Its past may come later in resolution order (it was resolved on a forged
    // copy of its prev that shares the genuine id), so repeat while anything goes in.
    let todo = resolved
    for (let progress = true; progress && todo.length > 0;) {
      progress = false
      const later: Resolved[] = []
      for (const r of todo) {
        const op = r.op
        if (!r.sigOk) {
          res.forged++
          // Resolved on the wrong branch of a fork whose other op has not arrived yet, or
          // against another key sharing the author's key id, maybe: it waits (under quota)
          // for another candidate, and is tried again only when one arrives.
          if (r.from !== undefined) {
            const idStr = op.author.idMapKey
            this.repark(op.seq > 1 ? `s:${idStr}:${op.seq - 1}` : `k:${idStr}`, r.from, newlyParked)
          }
          continue
        }
        // Authentic, but claiming a signing key its author does not hold: never valid.
        if (!r.popOk) { res.refused++; continue }
        const missing = this.missingPast(op)
        if (missing !== undefined) { later.push(r); continue }
        if (r.from?.override !== true && aboveWindow(op, limits)) {
          // Held back where an op that needs it can find it (`park` wakes it).
          if (r.from !== undefined) this.repark(`d:${op.author.idMapKey}:${op.seq}`, r.from, newlyParked)
          continue
        }
        if (this.commitIfAdmissible(op, res, commit, r.signed !== undefined)) progress = true
      }
      todo = later
    }
    // Verified, but built on something that did not go in (a forged op): wait for the real one.
    for (const r of todo) {
      res.forged++
      if (r.from !== undefined) this.repark(this.missingPast(r.op)!, r.from, newlyParked)
    }

    // Ops may have been woken by an op that was only tentatively resolved and then failed
    // (a fork's other branch, a forged op at the same seq), and parked again under a need that
    // the log now meets: retry those while retrying makes progress.
    // Only ops whose need gained a candidate since they were parked are tried: a forgery
    // waiting for a branch that never comes costs nothing until an op at its position does.
    const retry = new Map<string, Parked[]>()
    if (res.added.length > 0) {
      for (const [need, list] of this.lot.entries()) {
        const n = this.candidateCount(need)
        for (const p of list) {
          if (p.dead || n <= (p.seen ?? 0)) continue
          const bySource = retry.get(p.source)
          if (bySource === undefined) retry.set(p.source, [p])
          else bySource.push(p)
        }
      }
    }
    // Dormant ops that newly parked ops need: in now, whatever the window.
    const wake = this.lot.takeWake()
    if (wake.length > 0) {
      for (const src of new Set(wake.map(p => p.source))) {
        const again = await this.ingestGeneral(wake.filter(p => p.source === src).map(p => unheld(p.w)), src, commit, limits, true)
        res.added.push(...again.added)
        res.duplicates += again.duplicates
        res.forged += again.forged
        res.refused += again.refused
      }
    }
    for (const [src, list] of retry) {
      for (const p of list) this.lot.release(p)
      // Each under its own source, so its quota stays its own.
      const again = await this.ingest(list.map(p => unheld(p.w)), src, commit, limits)
      res.added.push(...again.added)
      res.duplicates += again.duplicates
      res.forged += again.forged
      res.refused += again.refused
      res.evicted += again.evicted
    }

    res.evicted += this.lot.hold(newlyParked, this.pendingQuota)
    res.pending = this.lot.count
    for (const [need, list] of this.lot.entries()) {
      if (need.startsWith('s:') && list.some(p => !p.dead && p.source === source)) {
        const colon = need.lastIndexOf(':')
        const keyId = new Uint8Array(Buffer.from(need.slice(2, colon), 'latin1'))
        const seq = Number(need.slice(colon + 1))
        if (this.log.opsAt(keyId, seq).length === 0) res.needs.push({ keyId, seq })
      }
    }
    return res
  }

  private repark (need: string, from: Parked, newlyParked: Parked[]): void {
    const p: Parked = { w: from.w, source: from.source, dead: false, override: from.override }
    this.park(need, p)
    newlyParked.push(p)
  }

  /** The need key of the first part of an op's past the log lacks, if any. */
  private missingPast (op: Op): string | undefined {
    if (op.prev !== undefined && !this.log.has(op.prev)) return `s:${op.author.idMapKey}:${op.seq - 1}`
    for (const d of op.deps) if (this.log.findDep(d) === undefined) return `s:${keyIdMapKey(d.keyId)}:${d.seq}`
    return undefined
  }

  /** How many candidates the log holds for a need key: ops at the position, or keys with the id. */
  private candidateCount (need: string): number {
    if (need.startsWith('k:')) return this.log.keysFor(new Uint8Array(Buffer.from(need.slice(2), 'latin1'))).length
    const colon = need.lastIndexOf(':')
    return this.log.opsAt(new Uint8Array(Buffer.from(need.slice(2, colon), 'latin1')), Number(need.slice(colon + 1))).length
  }

  private park (need: string, p: Parked): void { this.lot.park(need, p, this.candidateCount(need)) }

  private wake (need: string, queue: Parked[]): void { this.lot.wake(need, queue) }

  /** An op, or 'dup' / 'bad', or the need key it waits for. */
  private resolve (w: WireOp, t: Tentative): Resolved | string {
    if (w.kind === OpKind.genesis) {
      // The replica was made from its genesis; another one is another org.
      const author = w.author!
      const signed = signedBytes(w.body, undefined, undefined, 1, author)
      return this.log.has(sha256(signed)) ? 'dup' : 'bad'
    }
    const idStr = keyIdMapKey(w.authorId)
    const authors = this.log.keysFor(w.authorId)
    for (const k of t.keys.get(idStr) ?? []) if (!authors.some(a => a.equals(k))) authors.push(k)
    if (authors.length === 0) return `k:${idStr}`
    let lamport = 0
    for (const d of w.deps) {
      const dop = this.log.findDep(d) ?? t.findOp(d.keyId, d.seq, d.hash)
      if (dop === undefined) return `s:${keyIdMapKey(d.keyId)}:${d.seq}`
      if (dop.lamport > lamport) lamport = dop.lamport
    }
    // Candidate (author, prev) pairs: almost always exactly one. Several when the chain forks
    // below this op or when two keys share its author's key id.
    const combos: Array<[Key, Op | undefined]> = []
    for (const author of authors) {
      if (w.kind === OpKind.leave || w.seq === 1) { combos.push([author, undefined]); continue }
      for (const p of this.log.chainOf(author)?.at(w.seq - 1) ?? []) combos.push([author, p])
      for (const p of t.at(idStr, w.seq - 1)) if (p.author.equals(author)) combos.push([author, p])
    }
    if (combos.length === 0) return `s:${idStr}:${w.seq - 1}`
    const tryPrev = (author: Key, prev: Op | undefined): Resolved | string => {
      const l = 1 + Math.max(lamport, prev?.lamport ?? 0)
      const signed = signedBytes(w.body, this.orgId, prev === undefined ? undefined : prev instanceof OpEntry ? prev.idKey : prev.id, l, author)
      const idKey = sha256Key(signed)
      // Same id: the same op only with the same signature (Ed25519 is deterministic). A
      // different one has the same body on another branch: this prev is the wrong one.
      // (Against an op only tentatively resolved in this batch, verification decides: one of
      // the two may be a forged copy with a mangled signature.)
      const logged = this.log.byId.get(idKey)
      if (logged !== undefined) return bytesEqual(logged.sig, w.sig) ? 'dup' : 'wrong-prev'
      const tentative = t.ids.get(idKey)
      if (tentative !== undefined && bytesEqual(tentative, w.sig)) return 'dup'
      const op = resolvedOp(w, author, prev, l, idKey)
      if (isKnownVerified(idKey, w.sig)) return { op, idKey, signed: undefined, sigOk: true, popOk: true }
      return { op, idKey, signed: signed.slice(), sigOk: false, popOk: true }
    }
    const waitFor = w.kind === OpKind.leave || w.seq === 1 ? `k:${idStr}` : `s:${idStr}:${w.seq - 1}`
    if (combos.length === 1) {
      const r = tryPrev(combos[0][0], combos[0][1])
      return r === 'wrong-prev' ? waitFor : r
    }
    // The signature tells which branch (and which key) this op belongs to: every candidate
    // is tried, in a fixed order (author key, then prev id), so which one wins never depends
    // on arrival order. Candidates are stored ops only: forged variants are never stored, and
    // stored keys sharing an id are infeasible with proofs of possession (pop.ts).
    combos.sort((a, b) => compareBytes(a[0].bytes, b[0].bytes) || compareIds(a[1], b[1]))
    for (const [author, prev] of combos) {
      const r = tryPrev(author, prev)
      if (typeof r === 'string') { if (r === 'dup') return r; continue }
      if (r.signed === undefined) return r
      if (verifySignature(author, r.signed, w.sig)) {
        const pj = popJob(this.orgId, r.op)
        return { ...r, signed: undefined, sigOk: true, popOk: pj === undefined || verifySignature(pj.key, pj.data, pj.sig) }
      }
    }
    // Its branch or key may not be here yet (or a candidate is itself on the wrong branch so
    // far): wait, under quota, for another candidate.
    return waitFor
  }
}

function compareIds (a: Op | undefined, b: Op | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1
  return compareBytes(a.id, b.id)
}

/** Whether a chain op lies more than CUT_WINDOW above its chain's cut (see `limits`). */
function aboveWindow (op: Op, limits: ReadonlyMap<string, number>): boolean {
  if (op.seq === 0 || limits.size === 0) return false
  const limit = limits.get(op.author.mapKey)
  return limit !== undefined && op.seq > limit + CUT_WINDOW
}

