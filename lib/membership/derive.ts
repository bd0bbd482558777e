/**
 * Derived state: authority (authority.ts) and the member view (view.ts) of a replica's op set,
 * kept up to date as ops are committed, without re-deriving everything each time.
 *
 * The rules are a function of the whole op set, and one op can change the validity of many
 * (a revocation, a grant, a fork). But almost every op is one an admin adds on top of what it
 * knows: an enroll of a non-admin or a remove of one. Such an op changes no rank, grant,
 * cutoff or revoked key; it changes its own validity and its subject's place in the view,
 * nothing else. `update(ops)` applies a batch of those directly:
 *
 *   - its chain already has a rank, no cutoff and no fork (else: cutoffs and ranks may move);
 *   - an enroll grants no admin role, and its signing key is unclaimed or its subject's own
 *     and authors no chain (else: the first-claim race and cutoffs are the full pass's call);
 *     or it grants admin to a new subject whose key has no ranked chain, claim or rank yet (`grant`):
 *     then only that key's rank moves, and a new chain takes its rank with its first op;
 *     its subject is not revoked (else: revoked keys grow);
 *   - a remove's or revoke's subject is not an admin and no signing key it was enrolled with
 *     authors a chain (else: cutoffs move, and the enrolls that chain made may fall). A
 *     revoke then also adds the subject's keys to the revoked keys, which only its own
 *     enrolls carry: a signing key belongs to the first subject that claimed it;
 *   - a subject's overlay address is not held by another subject (else: who keeps it is
 *     decided in (lamport, id) order across subjects).
 *
 * Validity per op follows the same checks as the full pass in authority.ts, in the same
 * order. Anything else, or anything it is unsure of, re-derives everything with the full pass:
 * `update` always ends in the state the full pass gives for the same op set.
 */
import { slotHashBytes, slotHashString } from '../util/slot-hash.js'
import type { Key } from '../identity/key.js'
import { OverlayHasher } from '../identity/overlay.js'
import { addRemoval, evaluateAuthorityState, NO_REMOVALS, type AuthorityResult, type Root, type SubjectOps } from './authority.js'
import type { LoggedOp, OpLog } from './log.js'
import { ROLE_ADMIN } from './op.js'
import { cutLimits } from './prune.js'
import { keyStringAt } from '../util/bytes.js'
import { computeViewState, firstEnroll, settleSubject, type AddressIndex, type ComputedView } from './view.js'

export class Derived {
  auth!: AuthorityResult
  view!: ComputedView
  /** Bumped by every full pass: a change of everything. */
  fullPasses = 0
  private signOwner!: Map<string, string>
  private idOwner!: Map<string, string>
  private grants!: Map<string, LoggedOp[]>
  /** The overlay addresses of the current view (see `AddressTable`). */
  addresses!: AddressTable
  readonly hasher: OverlayHasher
  /** Subjects whose view entry may have changed since the last `takeChanged()` (repeats allowed). */
  private changed: string[] = []

  constructor (private readonly log: OpLog, private readonly root: Root, prefix: Uint8Array, orgId: Uint8Array) {
    this.hasher = new OverlayHasher(prefix, orgId)
    this.full()
  }

  private limits: { passes: number, limits: ReadonlyMap<string, number> } | undefined
  private cutsCheckedAt = -1

  /**
   * `cutLimits` of the current authority. Cuts move only in full passes (an op that could move
   * one is never applied incrementally), so this is recomputed once per full pass, not per ingest.
   */
  cutLimits (): ReadonlyMap<string, number> {
    if (this.limits?.passes !== this.fullPasses) this.limits = { passes: this.fullPasses, limits: cutLimits(this.auth) }
    return this.limits.limits
  }

  /** Whether cuts may have moved since the last call (a full pass since): time to look above them again. */
  cutsMoved (): boolean {
    const moved = this.cutsCheckedAt !== this.fullPasses
    this.cutsCheckedAt = this.fullPasses
    return moved
  }

  /** The subject (wg map key) whose valid enroll claimed a signing key first. */
  subjectOfSign (signMapKey: string): string | undefined { return this.signOwner.get(signMapKey) }

  /** The subject (wg map key) whose valid enroll holds a key (wg or signing) with this key id. */
  subjectOfKeyId (idMapKey: string): string | undefined { return this.idOwner.get(idMapKey) }

  /** A signing key's valid admin grants. */
  grantsOf (signMapKey: string): readonly LoggedOp[] { return this.grants.get(signMapKey) ?? [] }

  /** The hash part of a subject's overlay address (see `OverlayHasher`). */
  addressOf (subject: Key): string { return this.hasher.hashKey(subject) }

  /** Re-derives everything from the op set. */
  full (): void {
    const a = evaluateAuthorityState(this.log, this.root)
    const addresses = new AddressTable(this.hasher)
    const view = computeViewState(this.log, a.auth, addresses)
    this.auth = a.auth
    this.signOwner = a.signOwner
    this.idOwner = a.idOwner
    this.grants = a.grants
    this.view = view
    this.addresses = addresses
    this.fullPasses++
    this.changed = []
  }

  /** Brings the state up to date with `ops`, committed in this order since the last update. */
  update (ops: readonly LoggedOp[]): void {
    if (!this.increment(ops)) this.full()
  }

  /** Subjects whose entry may have changed since the last call, maybe repeated (meaningless across a full pass). */
  takeChanged (): string[] {
    const c = this.changed
    this.changed = []
    return c
  }

  /** False, with the state half updated, if some op is not plain: then a full pass follows. */
  private increment (ops: readonly LoggedOp[]): boolean {
    // Subjects in op order; one touched twice is settled twice, which is harmless.
    const touched: string[] = []
    for (const op of ops) if (!this.apply(op, touched)) return false
    for (const s of touched) if (!this.settle(s)) return false
    for (const s of touched) this.changed.push(s)
    return true
  }

  /** Validity of one plain op, as the full pass would find it; false if unsure. */
  private apply (op: LoggedOp, touched: string[]): boolean {
    const { auth, root } = this
    const x = op.chain
    if (x === undefined || x.forkSeq !== Infinity || auth.cutoff.has(x)) return false
    let r = auth.rankOfChain.get(x)
    if (r === undefined) {
      // A new admin's first op: the full pass ranks its chain at its key's rank, which the
      // key got from its grant (lowest level first); unless something already cuts the key.
      r = auth.rankOfSign.get(x.author.mapKey)
      if (r === undefined || auth.cutSign.has(x.author.mapKey)) return false
      auth.rankOfChain.set(x, r)
    }
    const kind = op.payload.kind
    if (kind === 2 && op.payload.record.roles.includes(ROLE_ADMIN)) return this.grant(op, r, touched)
    if (kind !== 3 && kind !== 4 && kind !== 2) return false
    op.valid = false
    if (x !== root.chain) {
      const gs = this.grants.get(x.author.mapKey)
      if (gs === undefined || !gs.some(g => this.log.inPast(g, op))) return true
    }
    const p = op.payload
    const rootWg = root.wgPublicKey.mapKey
    if (p.kind === 2) {
      const rec = p.record
      const s = rec.wgPublicKey.mapKey
      const sk = rec.signPublicKey.mapKey
      if (s === rootWg || sk === root.chain.author.mapKey) return true
      const sr = auth.rankOfSubject.get(s)
      if (sr !== undefined && sr <= r) return true
      // A record update of an admin without the role: its authority ends (full pass).
      if (sr !== undefined) return false
      const owner = this.signOwner.get(sk)
      if (owner !== undefined && owner !== s) return false
      const wo = this.idOwner.get(rec.wgPublicKey.idMapKey)
      if (wo !== undefined && wo !== s) return false
      const io = this.idOwner.get(rec.signPublicKey.idMapKey)
      if (io !== undefined && io !== s) return false
      if (this.log.chainOf(rec.signPublicKey) !== undefined) return false
      let so = auth.bySubject.get(s)
      if (so?.revoked === true) return false
      op.valid = true
      this.signOwner.set(sk, s)
      this.idOwner.set(rec.wgPublicKey.idMapKey, s)
      this.idOwner.set(rec.signPublicKey.idMapKey, s)
      if (so === undefined) { so = { subject: rec.wgPublicKey, enrolls: [op], removals: NO_REMOVALS, revoked: false }; auth.bySubject.set(s, so) } else so.enrolls.push(op)
      touched.push(s)
      return true
    }
    if (p.kind !== 3 && p.kind !== 4) return false
    const subject = p.kind === 3 ? p.remove.subject : p.revoke.subject
    const s = subject.mapKey
    if (s === rootWg) return true
    const sr = auth.rankOfSubject.get(s)
    if (sr !== undefined) return sr <= r
    let so: SubjectOps | undefined = auth.bySubject.get(s)
    if (so !== undefined && !this.confined(so)) return false
    op.valid = true
    if (so === undefined) { so = { subject, enrolls: [], removals: NO_REMOVALS, revoked: false }; auth.bySubject.set(s, so) }
    addRemoval(so, op)
    if (p.kind === 4) {
      so.revoked = true
      const revoked = this.view.revokedKeys
      revoked.add(s)
      for (const e of so.enrolls) if (e.payload.kind === 2) revoked.add(e.payload.record.signPublicKey.mapKey)
    }
    touched.push(s)
    return true
  }

  /**
   * An admin grant, when it is plain too: a new subject, a signing key with no judged chain,
   * claim or rank yet and no expiry. It changes ranks only for a key that has not signed anything,
   * so no other op's validity moves (issue 11: an admin granting K fresh keys made every
   * replica re-derive everything per grant, O(K²) in all).
   */
  private grant (op: LoggedOp, r: number, touched: string[]): boolean {
    const { auth, root } = this
    if (op.payload.kind !== 2) return false
    const rec = op.payload.record
    const s = rec.wgPublicKey.mapKey
    const sk = rec.signPublicKey.mapKey
    if (s === root.wgPublicKey.mapKey || sk === root.chain.author.mapKey || rec.expiresAt !== undefined) return false
    if (auth.bySubject.has(s) || auth.rankOfSubject.has(s) || auth.rankOfSign.has(sk) || this.signOwner.has(sk)) return false
    if (this.idOwner.has(rec.wgPublicKey.idMapKey) || this.idOwner.has(rec.signPublicKey.idMapKey)) return false
    // Its chain may be in the log already (committed in this batch, after the grant: the
    // grant is in its past), but none of its ops has been judged: it has no rank yet.
    const kc = this.log.chainOf(rec.signPublicKey)
    if ((kc !== undefined && auth.rankOfChain.has(kc)) || this.view.revokedKeys.has(s) || this.view.revokedKeys.has(sk)) return false
    op.valid = false
    const x = op.chain!
    if (x !== root.chain) {
      const gs = this.grants.get(x.author.mapKey)
      if (gs === undefined || !gs.some(g => this.log.inPast(g, op))) return true
    }
    op.valid = true
    this.signOwner.set(sk, s)
    this.idOwner.set(rec.wgPublicKey.idMapKey, s)
    this.idOwner.set(rec.signPublicKey.idMapKey, s)
    auth.bySubject.set(s, { subject: rec.wgPublicKey, enrolls: [op], removals: NO_REMOVALS, revoked: false })
    this.grants.set(sk, [op])
    auth.rankOfSubject.set(s, r + 1)
    auth.rankOfSign.set(sk, r + 1)
    touched.push(s)
    return true
  }

  /**
   * Whether taking subject `so` out of the view (a remove, a revoke) changes its place only:
   * none of the signing keys it was validly enrolled with authors a chain, so no cutoff moves
   * and no op it authored can fall.
   */
  confined (so: SubjectOps): boolean {
    for (const e of so.enrolls) if (e.payload.kind === 2 && this.log.chainOf(e.payload.record.signPublicKey) !== undefined) return false
    return true
  }

  /** A touched subject's place in the view; false if another subject holds its address. */
  private settle (s: string): boolean {
    const so = this.auth.bySubject.get(s)!
    if (so.enrolls.length === 0) return true
    // A subject already in the view keeps its slot; else find its address's.
    const slot = this.view.live.get(s)?.addrSlot ?? this.addresses.slot(s, so)
    const prior = this.addresses.owner(slot)
    if (prior !== undefined && (prior.payload.kind !== 2 || prior.payload.record.wgPublicKey.mapKey !== s)) return false
    this.addresses.setOwner(slot, firstEnroll(so))
    settleSubject(this.log, this.auth, this.view, s, so, slot)
    return true
  }
}

const ADDR_BYTES = 10

/**
 * The view's overlay addresses (their 80-bit hash parts), as an open-addressing hash table
 * over typed arrays: no string or map entry per member. Slot i's address is
 * `bytes[10i … 10i + 10]`, its owner `owners[i]`; `table` maps a hash of the address to
 * slot + 1 (0: empty), linear probing, at most half full. Addresses derive from keys that
 * anyone can grind, so slots come from a keyed hash (util/slot-hash.ts).
 */
export class AddressTable implements AddressIndex {
  private bytes = new Uint8Array(1024 * ADDR_BYTES)
  private readonly owners: Array<LoggedOp | undefined> = []
  private table = new Int32Array(2048)

  constructor (private readonly hasher: OverlayHasher) {}

  slot (_s: string, so: SubjectOps): number {
    const a = this.hasher.hashKey(so.subject)
    const mask = this.table.length - 1
    let i = slotHashString(a, ADDR_BYTES) & mask
    for (; ; i = (i + 1) & mask) {
      const e = this.table[i]
      if (e === 0) break
      const at = (e - 1) * ADDR_BYTES
      let same = true
      for (let j = 0; j < ADDR_BYTES; j++) if (this.bytes[at + j] !== a.charCodeAt(j)) { same = false; break }
      if (same) return e - 1
    }
    const n = this.owners.length
    if ((n + 1) * ADDR_BYTES > this.bytes.length) {
      const next = new Uint8Array(this.bytes.length * 2)
      next.set(this.bytes)
      this.bytes = next
    }
    for (let j = 0; j < ADDR_BYTES; j++) this.bytes[n * ADDR_BYTES + j] = a.charCodeAt(j)
    this.owners.push(undefined)
    this.table[i] = n + 1
    if (this.owners.length * 2 > this.table.length) this.grow()
    return n
  }

  owner (slot: number): LoggedOp | undefined { return this.owners[slot] }
  setOwner (slot: number, first: LoggedOp): void { this.owners[slot] = first }

  /** The slot's address hash part, as `OverlayHasher.hashKey` gives it. */
  hashKeyAt (slot: number): string { return keyStringAt(this.bytes, slot * ADDR_BYTES, (slot + 1) * ADDR_BYTES) }

  private grow (): void {
    const table = new Int32Array(this.table.length * 2)
    const mask = table.length - 1
    const b = this.bytes
    for (let e = 0; e < this.owners.length; e++) {
      const at = e * ADDR_BYTES
      let i = slotHashBytes(b, at, ADDR_BYTES) & mask
      while (table[i] !== 0) i = (i + 1) & mask
      table[i] = e + 1
    }
    this.table = table
  }
}

