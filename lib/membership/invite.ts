/**
 * Invite tokens: what a new node imports to join. Public data only (DESIGN §2): the genesis,
 * the ops that make the node a member (its enroll and the admin grants behind its author, up
 * to the root) and the bootstrap lighthouses. The joiner made its own keys and handed over only
 * the public halves; an admin enrolled them and gossiped the enroll before handing this out.
 *
 * The enroll's causal past is not in the token (for a big org it is most of the op log), so
 * each op carries its derived `prev` and `lamport`: enough to check every signature and the
 * grant chain now. The replica accepts the ops once sync has brought their past.
 *
 * Layout: "wminv1." ‖ base64url(
 *   u8 version (1) ‖ varbytes genesis ‖ varuint n ‖ n × (varbytes wire ‖ u8 hasPrev ‖ [32 prev] ‖ varuint lamport) ‖
 *   varuint b ‖ b × (32 wg key ‖ varstring endpoint) ‖ 4 bytes SHA-256 checksum of everything before)
 */
import { InvalidInviteError, MeshError } from '../errors.js'
import { Key } from '../identity/key.js'
import { overlayAddress } from '../identity/overlay.js'
import { verifySignature } from '../identity/sign.js'
import { bytesEqual, toBase64 } from '../util/bytes.js'
import {
  Decoder, Encoder, readBytes, readU8, readVarBytes, readVarString, readVarUint, writeBytes, writeU8,
  writeVarBytes, writeVarString, writeVarUint
} from '../util/encoding.js'
import { decodeOp, sha256, signedBytes } from './codec.js'
import type { LoggedOp } from './log.js'
import { MAX_ENDPOINT_BYTES, MAX_OP_BYTES, ORG_ID_BYTES, ROLE_ADMIN, type MemberRecord, type Op } from './op.js'
import { resolveGenesis, type Replica } from './replica.js'

const PREFIX = 'wminv1.'
const VERSION = 1
const MAX_INVITE_OPS = 64
const MAX_BOOTSTRAP = 16

export interface Bootstrap {
  wgPublicKey: Key
  /** `host:port` of the lighthouse's underlay gossip port. */
  endpoint: string
  /** Derived from the org and the key. */
  overlayAddress: string
}

export interface Invite {
  genesis: Op
  orgId: Uint8Array
  /** Grants from the root down, then the member's enroll (last). */
  ops: Op[]
  enroll: Op
  record: MemberRecord
  bootstrap: Bootstrap[]
}

export interface CreateInviteInit {
  bootstrap?: Array<{ wgPublicKey: Key, endpoint: string }>
}

/** Makes a token for a current member (normally one this admin just enrolled). */
export function createInvite (replica: Replica, wgPublicKey: Key, init: CreateInviteInit = {}): string {
  if (replica.isRevoked(wgPublicKey)) throw new InvalidInviteError(`key ${wgPublicKey.toBase64()} was revoked: no invite can admit it`)
  const auth = replica.authority
  const enroll = replica.liveEnroll(wgPublicKey)
  if (enroll === undefined) throw new InvalidInviteError(`key ${wgPublicKey.toBase64()} is not a member: enroll it first`)
  // Walk up the grants: the author's grant, its author's grant, … to the root.
  const chainOps: LoggedOp[] = [enroll]
  let cur = enroll
  while (!cur.author.equals(replica.genesis.author)) {
    const grant = [...auth.bySubject.values()].flatMap(s => s.enrolls).find(e =>
      e.payload.kind === 2 && e.payload.record.roles.includes(ROLE_ADMIN) &&
      e.payload.record.signPublicKey.equals(cur.author) && replica.log.inPast(e, cur))
    if (grant === undefined || chainOps.length >= MAX_INVITE_OPS) throw new InvalidInviteError('the enroll\'s author holds no valid admin grant')
    chainOps.push(grant)
    cur = grant
  }
  chainOps.reverse()
  const enc = new Encoder(1024)
  writeU8(enc, VERSION)
  writeVarBytes(enc, replica.genesis.wire)
  writeVarUint(enc, chainOps.length)
  for (const op of chainOps) {
    writeVarBytes(enc, op.wire)
    writeU8(enc, op.prev === undefined ? 0 : 1)
    if (op.prev !== undefined) writeBytes(enc, op.prev)
    writeVarUint(enc, op.lamport)
  }
  const boots = init.bootstrap ?? []
  if (boots.length > MAX_BOOTSTRAP) throw new InvalidInviteError(`at most ${MAX_BOOTSTRAP} bootstrap lighthouses`)
  writeVarUint(enc, boots.length)
  for (const b of boots) { writeBytes(enc, b.wgPublicKey.bytes); writeVarString(enc, b.endpoint) }
  const body = enc.finish()
  return PREFIX + Buffer.concat([body, sha256(body).subarray(0, 4)]).toString('base64url')
}

export interface ReadInviteInit {
  /** Refuse a token for another org. */
  orgId?: Uint8Array
  /** Refuse a token that enrolls another key. */
  wgPublicKey?: Key
  /** Refuse a token whose key this replica knows to be revoked. */
  replica?: Replica
}

function corrupt (why: string, cause?: unknown): never {
  throw new InvalidInviteError(`invite token is corrupted: ${why}`, { cause })
}

/** Parses and checks a token. Throws InvalidInviteError with the reason. */
export function readInvite (token: string, init: ReadInviteInit = {}): Invite {
  if (typeof token !== 'string' || !token.startsWith(PREFIX)) corrupt(`it does not start with ${PREFIX}`)
  const text = token.slice(PREFIX.length).trim()
  // Node's decoder skips characters outside the alphabet: refuse them instead.
  if (!/^[A-Za-z0-9_-]*$/.test(text)) corrupt('it holds characters outside base64url')
  const raw = new Uint8Array(Buffer.from(text, 'base64url'))
  if (raw.length < 5) corrupt('too short')
  const body = raw.subarray(0, raw.length - 4)
  if (!bytesEqual(sha256(body).subarray(0, 4), raw.subarray(raw.length - 4))) corrupt('checksum mismatch (was it cut or altered in transit?)')
  try {
    return parse(body, init)
  } catch (err) {
    if (err instanceof InvalidInviteError) throw err
    if (err instanceof MeshError) corrupt(err.message, err)
    throw err
  }
}

function parse (body: Uint8Array, init: ReadInviteInit): Invite {
  const dec = new Decoder(body, m => corrupt(m))
  if (readU8(dec) !== VERSION) corrupt('unknown version')
  const genesis = resolveGenesis(decodeOp(readVarBytes(dec, MAX_OP_BYTES)))
  const orgId = genesis.id.slice(0, ORG_ID_BYTES)
  if (init.orgId !== undefined && !bytesEqual(init.orgId, orgId)) {
    throw new InvalidInviteError(`invite is for org ${toBase64(orgId)}, not ${toBase64(init.orgId)}`)
  }
  const n = readVarUint(dec, 2)
  if (n < 1 || n > MAX_INVITE_OPS) corrupt(`${n} ops`)
  const keys = new Map<string, Key>([[genesis.author.id.toString(), genesis.author]])
  const admins = new Set<string>([genesis.author.mapKey])
  const ops: Op[] = []
  for (let i = 0; i < n; i++) {
    const w = decodeOp(readVarBytes(dec, MAX_OP_BYTES))
    const hasPrev = readU8(dec)
    if (hasPrev > 1) corrupt(`op ${i} has a prev flag of ${hasPrev}`)
    const prev = hasPrev === 1 ? readBytes(dec, 32).slice() : undefined
    const lamport = readVarUint(dec, 7)
    const author = keys.get(w.authorId.toString())
    if (author === undefined || !admins.has(author.mapKey)) corrupt(`op ${i} is not signed by the root or an admin granted earlier in the token`)
    const signed = signedBytes(w.body, orgId, prev, lamport, author)
    if (!verifySignature(author, signed, w.sig)) corrupt(`op ${i} has a bad signature (or belongs to another org)`)
    if (w.payload.kind !== 2) corrupt(`op ${i} is not an enroll`)
    const rec = w.payload.record
    keys.set(rec.signPublicKey.id.toString(), rec.signPublicKey)
    if (rec.roles.includes(ROLE_ADMIN) && i < n - 1) admins.add(rec.signPublicKey.mapKey)
    ops.push({ ...w, author, prev, lamport, id: sha256(signed) })
  }
  const nb = readVarUint(dec, 1)
  if (nb > MAX_BOOTSTRAP) corrupt(`${nb} bootstrap entries`)
  const bootstrap: Bootstrap[] = []
  for (let i = 0; i < nb; i++) {
    const k = Key.fromBytes(readBytes(dec, 32).slice())
    const endpoint = readVarString(dec, MAX_ENDPOINT_BYTES)
    bootstrap.push({ wgPublicKey: k, endpoint, overlayAddress: overlayAddress(genesis.payload.kind === 1 ? genesis.payload.genesis.prefix : new Uint8Array(6), orgId, k) })
  }
  if (dec.pos !== body.length) corrupt('trailing bytes')
  const enroll = ops[ops.length - 1]
  const record = (enroll.payload as { kind: 2, record: MemberRecord }).record
  if (init.wgPublicKey !== undefined && !init.wgPublicKey.equals(record.wgPublicKey)) {
    throw new InvalidInviteError(`invite enrolls ${record.wgPublicKey.toBase64()}, not this node's key ${init.wgPublicKey.toBase64()}`)
  }
  if (init.replica !== undefined) {
    if (!bytesEqual(init.replica.orgId, orgId)) throw new InvalidInviteError(`invite is for org ${toBase64(orgId)}, not ${toBase64(init.replica.orgId)}`)
    if (init.replica.isRevoked(record.wgPublicKey) || init.replica.isRevoked(record.signPublicKey)) {
      throw new InvalidInviteError(`invite is for key ${record.wgPublicKey.toBase64()}, which was revoked`)
    }
  }
  return { genesis, orgId, ops, enroll, record, bootstrap }
}
