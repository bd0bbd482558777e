/**
 * Authoring: turning an intent into a signed op on this node's chain.
 *
 * seq = own head + 1, prev = own head, deps = the head of every other chain that moved since
 * the author's previous op (all of them for a first op or a standalone op), lamport =
 * 1 + max(prev, deps). The op is signed over the signed bytes (codec.ts) and added locally.
 */
import { InvalidOpError, OpDecodeError } from '../errors.js'
import type { Signer } from '../identity/sign.js'
import { concatBytes, compareBytes } from '../util/bytes.js'
import { Encoder } from '../util/encoding.js'
import { checkFields, decodeOp, sha256, signedBytes, writeOpBody, type OpFields } from './codec.js'
import type { Chain, LoggedOp, OpLog } from './log.js'
import { HASH_PREFIX_BYTES, MAX_DEPS, MAX_OP_BYTES, OpKind, type Dep, type Op, type Payload } from './op.js'

/**
 * Heads of the chains other than `self` that `counts` (those of ranked admins: a chain with no
 * rank can never hold a valid op, and counting it would let any member bloat every admin's
 * deps past MAX_DEPS by signing a few chains of its own), as deps sorted by key id. The head
 * is the chain's highest valid op (on a forked chain, on the branch a revoke pinned if any):
 * the caller brings validity up to date first.
 */
export function currentDeps (log: OpLog, selfPrev: LoggedOp | undefined, selfAuthorKey: string | undefined, counts: (c: Chain) => boolean = () => true): Dep[] {
  const deps: Dep[] = []
  for (const c of log.chains) {
    if (c.author.mapKey === selfAuthorKey || !counts(c)) continue
    // Its highest valid op (the top, but on a cut or forked chain): an op never builds on
    // what its author already knows to be invalid, so a flood above a cut is nobody's past.
    let head: LoggedOp | undefined
    if (c.forkSeq === Infinity) { const top = c.at(c.maxSeq)[0]; if (top?.valid === true) head = top }
    for (let s = c.maxSeq; s >= 1 && head === undefined; s--) head = c.at(s).find(o => o.valid)
    if (head === undefined) continue
    if (selfPrev !== undefined && selfPrev.base.get(c.index) === head) continue
    deps.push({ keyId: c.author.id, seq: head.seq, hash: head.id.subarray(0, HASH_PREFIX_BYTES) })
  }
  deps.sort((a, b) => compareBytes(a.keyId, b.keyId))
  if (deps.length > MAX_DEPS) throw new InvalidOpError(`op would need ${deps.length} deps, limit ${MAX_DEPS}`)
  return deps
}

/** Builds, signs and returns an op (not yet added). `orgId` is undefined only for genesis. */
/** Ops `authorOp` signed in this process: `Replica.addLocal` trusts these without a verify. */
export const authoredHere = new WeakSet<Op>()

/** `counts` picks the chains deps may name (see `currentDeps`). */
/** `deps`, when given, replaces the computed ones (a leave names exactly the enroll it ends). */
export function authorOp (log: OpLog, signer: Signer, orgId: Uint8Array | undefined, payload: Payload, counts?: (c: Chain) => boolean, depsOverride?: Dep[]): Op {
  const kind = payload.kind
  const author = signer.publicKey
  let seq = 0
  let prev: LoggedOp | undefined
  if (kind !== OpKind.leave && kind !== OpKind.genesis) {
    const chain = log.chainOf(author)
    if (chain !== undefined) {
      if (chain.forkSeq !== Infinity) throw new InvalidOpError('this key\'s chain has forked: it must not author again')
      prev = chain.at(chain.maxSeq)[0]
    }
    seq = (prev?.seq ?? 0) + 1
  } else if (kind === OpKind.genesis) {
    seq = 1
  }
  const deps = depsOverride ?? (kind === OpKind.genesis ? [] : currentDeps(log, prev, kind === OpKind.leave ? undefined : author.mapKey, counts))
  let lamport = prev?.lamport ?? 0
  for (const d of deps) {
    const dop = log.findDep(d)
    if (dop !== undefined && dop.lamport > lamport) lamport = dop.lamport
  }
  lamport += 1
  const fields = { kind, author, seq, deps, payload }
  try {
    checkFields(fields)
    const op = signOp(signer, orgId, fields, prev, lamport)
    authoredHere.add(op)
    return op
  } catch (err) {
    if (err instanceof OpDecodeError) throw new InvalidOpError(err.message.replace('failed to decode op', 'invalid op'), { cause: err })
    throw err
  }
}

/**
 * Signs `fields` on top of `prev` with this lamport: the op exactly as a receiver will resolve
 * it. No rule is checked (that is `authorOp`'s job); throws OpDecodeError if the result is
 * over MAX_OP_BYTES. Tests and the simulator's attackers sign crafted ops with it too.
 */
export function signOp (signer: Signer, orgId: Uint8Array | undefined, fields: OpFields, prev: { id: Uint8Array } | undefined, lamport: number): Op {
  const enc = new Encoder(256)
  writeOpBody(enc, fields)
  const body = enc.finish()
  // `signedBytes` is a view into a shared buffer: hash and sign it before anything else calls it.
  const signed = signedBytes(body, orgId, prev?.id, lamport, fields.author)
  const id = sha256(signed)
  const sig = signer.sign(signed)
  const wire = concatBytes(body, sig)
  if (wire.length > MAX_OP_BYTES) throw new OpDecodeError(`failed to decode op: op is ${wire.length} bytes, limit ${MAX_OP_BYTES}`)
  return { ...decodeOp(wire), author: fields.author, prev: prev?.id, lamport, id }
}
