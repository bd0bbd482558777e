/**
 * Hostile op streams: what one member (or one admin) that turns hostile can send, one
 * generator per attack shape of issue 11, for the `bench hostile` resource bounds, for tests
 * and for the simulator's hostile scenario.
 *
 *   shape            attacker          what it sends (finding of issue 11)
 *   key-chain        any member        K fresh keys introduced by enrolls on its own chain, each
 *                                      key signing one op that names the previous key's op (1:
 *                                      a copy of the causal past per op made this K²/2)
 *   signkey-squat    any member        enrolls whose signing key has an admin's 8-byte key id
 *                                      and a proof of possession it cannot make (3)
 *   wgkey-squat      any member        enrolls whose wg key has a member's key id, root first (4)
 *   many-chains      any member        K fresh keys as above, each signing one op of its own:
 *                                      many chains of one op each (5: the digest outgrew a packet)
 *   fork             an admin          two branches from its head, each extended at length (6)
 *   leave-flood      any member        leaves of arbitrary subjects, and leaves of its own naming
 *                                      every enroll it can (8)
 *   revoked-writes   a revoked member  its chain extended past its revocation (7)
 *   admin-key-chain  an admin          grants admin to K fresh keys, each of which signs one op
 *                                      naming the previous one's: VALID ops, all stored; what
 *                                      a replica holds per stored op at large K (1, by an admin)
 *
 * Every op is well formed and correctly signed: the point is what a replica does with ops it
 * cannot refuse as forged. A shape is an endless stream; `hostileOps` cuts it at a byte budget.
 * The stream is a function of the attacker's replica (read once, at the start), its key and
 * the seed: fresh keys come from a `SeededRandom`, and Ed25519 signing is deterministic.
 *
 * The first op on the attacker's own chain is `authorOp`'s (prev and deps from its replica, as
 * an honest author would make them); every later op is built by `craft`, the one place that
 * picks prev and deps by hand (ops naming each other across chains, branches the library would
 * refuse to author), and `record`, the one place that makes or fakes a proof of possession.
 * Consumers send `op.wire`; the other fields are the author's bookkeeping.
 */
import { InvalidConfigError, NotAuthorizedError } from '../errors.js'
import { Key } from '../identity/key.js'
import { Ed25519Signer, SIGNATURE_BYTES, type Signer } from '../identity/sign.js'
import { authorOp, signOp } from '../membership/author.js'
import { checkFields } from '../membership/codec.js'
import { OpKind, ROLE_ADMIN, type MemberRecord, type Op, type Payload } from '../membership/op.js'
import { proveKeys } from '../membership/pop.js'
import type { Replica } from '../membership/replica.js'
import { SeededRandom, type Random } from '../random.js'
import { compareBytes } from '../util/bytes.js'

/** ONLY APPEND TO THIS LIST: benchmark rows and simulator runs are keyed by these names. */
export const ATTACK_SHAPES = ['key-chain', 'signkey-squat', 'wgkey-squat', 'many-chains', 'fork', 'leave-flood', 'revoked-writes', 'admin-key-chain'] as const
export type AttackShape = typeof ATTACK_SHAPES[number]

/** Shapes whose attacker must hold a valid admin grant in its replica. */
export const ADMIN_SHAPES: ReadonlySet<AttackShape> = new Set(['fork', 'admin-key-chain'])

/** Shapes whose ops are meant to be valid (the others' can never be). */
export const VALID_SHAPES: ReadonlySet<AttackShape> = new Set(['admin-key-chain'])

export interface Attacker {
  /** The attacker's copy of the org, synced: read for its chain head, admins, members and enrolls; never written. */
  replica: Replica
  /** The attacker's signing key: a member's, an admin's for `ADMIN_SHAPES`, a revoked one's for `revoked-writes`. */
  signer: Signer
  /** Seeds the fresh keys and every choice (default 1). */
  seed?: number
}

/** An op as later ops name it (prev or dep): a logged op or one made here. */
type Ref = Pick<Op, 'author' | 'seq' | 'id' | 'lamport'>

/**
 * The ops of `shape` by `attacker`, in sending order, while their wire bytes total at most
 * `budgetBytes` (Infinity: endless; `leave-flood` ends once it has named every pair it can).
 * Throws NotAuthorizedError for an admin shape whose attacker is not an admin.
 */
export function * hostileOps (shape: AttackShape, attacker: Attacker, budgetBytes: number): Generator<Op> {
  if (!(budgetBytes >= 0)) throw new InvalidConfigError(`budgetBytes must be ≥ 0, got ${budgetBytes}`)
  const make = SHAPES[shape]
  if (make === undefined) throw new InvalidConfigError(`unknown attack shape ${JSON.stringify(shape)} (${ATTACK_SHAPES.join(', ')})`)
  if (ADMIN_SHAPES.has(shape) && attacker.replica.rankOf(attacker.signer.publicKey) === undefined) {
    throw new NotAuthorizedError(`attack ${shape} needs an admin: the attacker's key holds no valid admin grant in its replica`)
  }
  const f = new Forge(attacker.replica, attacker.signer, new SeededRandom(attacker.seed ?? 1))
  let sent = 0
  for (const op of make(f)) {
    if (sent + op.wire.length > budgetBytes) return
    sent += op.wire.length
    yield op
  }
}

/** Fresh keys, records and ops for one stream. */
class Forge {
  readonly orgId: Uint8Array
  /** The attacker's own chain head, once it has sent an op on it. */
  own: Ref | undefined

  constructor (readonly replica: Replica, readonly signer: Signer, readonly random: Random) {
    this.orgId = replica.orgId
  }

  /** A fresh signing key (deterministic from the seed). */
  key (): Ed25519Signer { return new Ed25519Signer(this.random.bytes(32)) }

  /** A fresh wg key: any 32 bytes will do, nothing checks them against the curve. */
  wg (): Key { return Key.fromBytes(this.random.bytes(32)) }

  /** A key whose 8-byte key id is `target`'s and whose other bytes are random. */
  squat (target: Key): Key {
    const b = this.random.bytes(32)
    b.set(target.id)
    return Key.fromBytes(b)
  }

  /**
   * An enroll record. With the signing key's `Signer` its proof of possession is genuine (the
   * joiner's, as the invite flow hands it over); with only a public key it is 64 random bytes,
   * all an attacker can put there for a key it does not hold.
   */
  record (wgPublicKey: Key, sign: Signer | Key, roles: string[] = []): MemberRecord {
    if (sign instanceof Key) return { wgPublicKey, signPublicKey: sign, roles, pop: this.random.bytes(SIGNATURE_BYTES) }
    return { wgPublicKey, signPublicKey: sign.publicKey, roles, pop: proveKeys(sign, this.orgId, wgPublicKey) }
  }

  /** A member with fresh keys, its proof genuine. */
  freshMember (roles: string[] = []): { record: MemberRecord, signer: Ed25519Signer } {
    const signer = this.key()
    return { record: this.record(this.wg(), signer, roles), signer }
  }

  /**
   * The attacker's next op on its own chain: the first one as `authorOp` makes it on the
   * replica (prev = its head there, deps = the ranked chains that moved), later ones on top.
   */
  chainOp (payload: Payload): Op {
    let op: Op
    if (this.own === undefined) {
      const ranked = this.replica.authorityForAuthoring().auth.rankOfChain
      op = authorOp(this.replica.log, this.signer, this.orgId, payload, c => ranked.has(c))
    } else {
      op = craft(this.orgId, this.signer, payload, this.own, [])
    }
    this.own = op
    return op
  }
}

/**
 * Builds and signs an op with the prev and deps given (seq = prev's + 1, or 1 with no prev, or
 * 0 for a leave; lamport = 1 + the highest of theirs), as a receiver will resolve it.
 */
export function craft (orgId: Uint8Array, signer: Signer, payload: Payload, prev: Ref | undefined, deps: Ref[]): Op {
  const author = signer.publicKey
  const kind = payload.kind
  const seq = kind === OpKind.leave ? 0 : (prev?.seq ?? 0) + 1
  let lamport = prev?.lamport ?? 0
  for (const d of deps) if (d.lamport > lamport) lamport = d.lamport
  lamport += 1
  const sorted = [...deps].sort((a, b) => compareBytes(a.author.id, b.author.id))
  const fields = { kind, author, seq, deps: sorted.map(d => ({ keyId: d.author.id, seq: d.seq, hash: d.id })), payload }
  checkFields(fields)
  return signOp(signer, orgId, fields, prev, lamport)
}

const enroll = (record: MemberRecord): Payload => ({ kind: 2, record })

/**
 * Fresh keys introduced on the attacker's chain, each signing one seq-1 op (an enroll of its
 * own record). `linked`: each names the previous key's op, so every op's causal past holds
 * every earlier key's chain.
 */
function * freshKeys (f: Forge, linked: boolean): Generator<Op> {
  let last: Op | undefined
  for (;;) {
    const k = f.key()
    const rec = f.record(f.wg(), k)
    yield f.chainOp(enroll(rec))
    const op = craft(f.orgId, k, enroll(rec), undefined, linked && last !== undefined ? [last] : [])
    last = op
    yield op
  }
}

function * signkeySquat (f: Forge): Generator<Op> {
  const admins = f.replica.members().filter(m => m.rank !== undefined).map(m => m.signPublicKey)
  for (let i = 0; ; i++) yield f.chainOp(enroll(f.record(f.wg(), f.squat(admins[i % admins.length]))))
}

function * wgkeySquat (f: Forge): Generator<Op> {
  const root = f.replica.org.rootWgPublicKey
  const victims = [root, ...f.replica.members().map(m => m.wgPublicKey).filter(k => !k.equals(root))]
  for (let i = 0; ; i++) {
    const k = f.key()
    yield f.chainOp(enroll(f.record(f.squat(victims[i % victims.length]), k)))
  }
}

/** Two branches from the admin's head, sent alternately, each enrolling fresh members. */
function * fork (f: Forge): Generator<Op> {
  const a = f.chainOp(enroll(f.freshMember().record))
  f.own = undefined
  const b = f.chainOp(enroll(f.freshMember().record))
  const heads: Op[] = [a, b]
  yield a
  yield b
  for (let i = 0; ; i++) {
    const op = craft(f.orgId, f.signer, enroll(f.freshMember().record), heads[i & 1], [])
    heads[i & 1] = op
    yield op
  }
}

/**
 * Leaves naming one enroll each: alternately one of an arbitrary subject (the j-th subject with
 * the (j + ⌊j/n⌋)-th enroll, so n² distinct pairs) and one of its own subject naming each
 * enroll in turn (one is the enroll it ends; the others are not), while those last.
 */
function * leaveFlood (f: Forge): Generator<Op> {
  const me = f.signer.publicKey
  const members = f.replica.members()
  const own = members.find(m => m.signPublicKey.equals(me))?.wgPublicKey
  const subjects = members.filter(m => !m.signPublicKey.equals(me)).map(m => m.wgPublicKey)
  const enrolls: Ref[] = []
  for (const m of members) { const e = f.replica.liveEnroll(m.wgPublicKey); if (e !== undefined && e.seq > 0) enrolls.push(e) }
  if (subjects.length === 0 || enrolls.length === 0) return
  const n = subjects.length
  const leave = (subject: Key, dep: Ref): Op => craft(f.orgId, f.signer, { kind: 5, leave: { subject } }, undefined, [dep])
  for (let j = 0; j < n * enrolls.length; j++) {
    yield leave(subjects[j % n], enrolls[(j + Math.floor(j / n)) % enrolls.length])
    if (own !== undefined && j < enrolls.length) yield leave(own, enrolls[j])
  }
}

function * revokedWrites (f: Forge): Generator<Op> {
  for (;;) yield f.chainOp(enroll(f.freshMember().record))
}

/** Grants admin to fresh keys; each signs an enroll of a fresh member naming its grant and the previous key's op. */
function * adminKeyChain (f: Forge): Generator<Op> {
  let last: Op | undefined
  for (;;) {
    const k = f.key()
    const grant = f.chainOp(enroll(f.record(f.wg(), k, [ROLE_ADMIN])))
    yield grant
    const op = craft(f.orgId, k, enroll(f.freshMember().record), undefined, last === undefined ? [grant] : [grant, last])
    last = op
    yield op
  }
}

const SHAPES: Record<AttackShape, (f: Forge) => Iterable<Op>> = {
  'key-chain': f => freshKeys(f, true),
  'signkey-squat': signkeySquat,
  'wgkey-squat': wgkeySquat,
  'many-chains': f => freshKeys(f, false),
  fork,
  'leave-flood': leaveFlood,
  'revoked-writes': revokedWrites,
  'admin-key-chain': adminKeyChain
}
