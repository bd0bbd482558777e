/**
 * The canonical binary form of an op. `writeOp` / `readOp` are exact inverses; there is one
 * encoding of each op (sorted deps and roles, minimal varints), so the id is well defined.
 *
 * Wire layout (what is sent and stored; ≤ MAX_OP_BYTES):
 *
 *   u8       kind                      1 genesis, 2 enroll, 3 remove, 4 revoke, 5 leave
 *   bytes    author                    genesis: the full 32-byte Ed25519 key; else its 8-byte key id
 *   varuint  seq                       chain kinds ≥ 1 (genesis: exactly 1); absent for leave (0)
 *   varuint  depCount                  ≤ MAX_DEPS (leave: 1 or 2), then per dep, sorted by key id, ids unique:
 *              bytes(8) keyId ‖ varuint seq (≥ 1) ‖ bytes(16) id prefix
 *   payload  by kind:
 *     genesis  bytes(6) prefix (first byte 0xfd) ‖ varstring name ‖ varuint createdAt ‖
 *              varuint listenPort ‖ varuint mtu ‖ varuint keepaliveS ‖ bytes(32) root wg key
 *     enroll   bytes(32) wg key ‖ bytes(32) sign key ‖ bytes(64) pop ‖ u8 flags ‖ [varstring name] ‖
 *              [varuint n ‖ n × varstring role] ‖ [varuint n ‖ n × varstring endpoint] ‖ [varuint expiresAt]
 *              flags: 1 admin, 2 lighthouse, 4 name, 8 other roles, 16 endpoints, 32 expiresAt
 *     remove   bytes(32) subject ‖ varuint cutoffSeq ‖ [bytes(32) cutoff hash if cutoffSeq > 0]
 *     revoke   as remove, then varstring reason
 *     leave    bytes(32) subject      (a dep names the enroll it ends; an admin's may name its own head too)
 *   bytes(64) Ed25519 signature
 *
 * Signed bytes (never sent; what the signature and the id cover):
 *
 *   "wiremesh/op/v1\0" ‖ orgId(16; zero for genesis) ‖ prev(32; zero if none) ‖
 *   varuint lamport ‖ author(32) ‖ wire bytes without the signature
 */
import { hash } from 'node:crypto'
import { OpDecodeError } from '../errors.js'
import { Key, KEY_BYTES, KEY_ID_BYTES } from '../identity/key.js'
import { SIGNATURE_BYTES } from '../identity/sign.js'
import { compareBytes } from '../util/bytes.js'
import {
  Decoder, Encoder, readBytes, readU8, readVarString, readVarUint, writeBytes, writeU8,
  writeVarString, writeVarUint, utf8Length
} from '../util/encoding.js'
import { OpEntry } from './log.js'
import {
  HASH_PREFIX_BYTES, MAX_COUNTER, MAX_DEPS, MAX_ENDPOINTS, MAX_ENDPOINT_BYTES, MAX_NAME_BYTES,
  MAX_OP_BYTES, MAX_REASON_BYTES, MAX_ROLES, MAX_ROLE_BYTES, ORG_ID_BYTES, OpKind, POP_BYTES, ROLE_ADMIN,
  ROLE_LIGHTHOUSE, type ChainRef, type Dep, type MemberRecord, type Payload, type WireOp
} from './op.js'

const F_ADMIN = 1
const F_LIGHTHOUSE = 2
const F_NAME = 4
const F_ROLES = 8
const F_ENDPOINTS = 16
const F_EXPIRES = 32

const DOMAIN = Buffer.from('wiremesh/op/v1\0')
const ZERO32 = new Uint8Array(32)
const ZERO16 = new Uint8Array(16)

/** The fields an author chooses; the codec adds nothing. */
export interface OpFields {
  kind: OpKind
  author: Key
  seq: number
  deps: Dep[]
  payload: Payload
}

function fail (message: string): never { throw new OpDecodeError(`failed to decode op: ${message}`) }

/** Checks the limits an author could break; throws OpDecodeError naming the field. */
export function checkFields (f: OpFields): void {
  const p = f.payload
  if (p.kind !== f.kind) fail('payload kind differs from op kind')
  if (f.kind === OpKind.leave ? f.seq !== 0 : (f.seq < 1 || f.seq > MAX_COUNTER || !Number.isInteger(f.seq))) fail(`seq ${f.seq} out of range`)
  if (f.kind === OpKind.genesis && f.seq !== 1) fail('genesis must have seq 1')
  if (f.deps.length > MAX_DEPS) fail(`${f.deps.length} deps, limit ${MAX_DEPS}`)
  if (f.kind === OpKind.leave && (f.deps.length < 1 || f.deps.length > 2)) fail('a leave names the enroll it ends (and at most its own head)')
  for (let i = 0; i < f.deps.length; i++) {
    const d = f.deps[i]
    if (d.keyId.length !== KEY_ID_BYTES || d.hash.length < HASH_PREFIX_BYTES || d.seq < 1 || d.seq > MAX_COUNTER) fail(`dep ${i} malformed`)
    if (i > 0 && compareBytes(f.deps[i - 1].keyId, d.keyId) >= 0) fail('deps not sorted by key id or not unique')
  }
  if (p.kind === 2) checkRecord(p.record)
  if (p.kind === 1) {
    const g = p.genesis
    if (g.prefix.length !== 6 || g.prefix[0] !== 0xfd) fail('genesis prefix must be 6 bytes starting 0xfd')
    if (utf8Length(g.name) > MAX_NAME_BYTES) fail(`org name longer than ${MAX_NAME_BYTES} bytes`)
    if (!(g.params.listenPort >= 1 && g.params.listenPort <= 65535)) fail('listenPort out of range')
    if (!(g.params.mtu >= 1280 && g.params.mtu <= 9000)) fail('mtu out of range')
    if (!(g.params.keepaliveS >= 0 && g.params.keepaliveS <= 65535)) fail('keepaliveS out of range')
  }
  if (p.kind === 3 || p.kind === 4) checkCutoff(p.kind === 3 ? p.remove.cutoff : p.revoke.cutoff)
  if (p.kind === 4 && utf8Length(p.revoke.reason) > MAX_REASON_BYTES) fail(`reason longer than ${MAX_REASON_BYTES} bytes`)
}

function checkCutoff (c: ChainRef): void {
  if (!Number.isInteger(c.seq) || c.seq < 0 || c.seq > MAX_COUNTER) fail(`cutoff seq ${c.seq} out of range`)
  if (c.seq > 0 && c.hash.length !== 32) fail('cutoff hash must be 32 bytes')
}

function checkRecord (r: MemberRecord): void {
  if (r.pop.length !== POP_BYTES) fail(`pop must be ${POP_BYTES} bytes`)
  if (r.name !== undefined && utf8Length(r.name) > MAX_NAME_BYTES) fail(`name longer than ${MAX_NAME_BYTES} bytes`)
  if (r.roles.length > MAX_ROLES) fail(`${r.roles.length} roles, limit ${MAX_ROLES}`)
  for (let i = 0; i < r.roles.length; i++) {
    const role = r.roles[i]
    if (role.length === 0 || utf8Length(role) > MAX_ROLE_BYTES) fail(`role ${i} empty or longer than ${MAX_ROLE_BYTES} bytes`)
    if (i > 0 && !(r.roles[i - 1] < role)) fail('roles not sorted or not unique')
  }
  const eps = r.staticEndpoints
  if (eps !== undefined) {
    if (eps.length === 0 || eps.length > MAX_ENDPOINTS) fail(`staticEndpoints must hold 1 to ${MAX_ENDPOINTS} entries`)
    for (const e of eps) if (e.length === 0 || utf8Length(e) > MAX_ENDPOINT_BYTES) fail(`endpoint empty or longer than ${MAX_ENDPOINT_BYTES} bytes`)
  }
  if (r.expiresAt !== undefined && !(Number.isInteger(r.expiresAt) && r.expiresAt >= 0 && r.expiresAt <= MAX_COUNTER)) fail('expiresAt out of range')
}

/** Writes the wire body (everything but the signature). */
export function writeOpBody (enc: Encoder, f: OpFields): void {
  writeU8(enc, f.kind)
  writeBytes(enc, f.kind === OpKind.genesis ? f.author.bytes : f.author.id)
  if (f.kind !== OpKind.leave) writeVarUint(enc, f.seq)
  writeVarUint(enc, f.deps.length)
  for (const d of f.deps) {
    writeBytes(enc, d.keyId)
    writeVarUint(enc, d.seq)
    writeBytes(enc, d.hash.subarray(0, HASH_PREFIX_BYTES))
  }
  const p = f.payload
  switch (p.kind) {
    case 1: {
      const g = p.genesis
      writeBytes(enc, g.prefix)
      writeVarString(enc, g.name)
      writeVarUint(enc, g.createdAt)
      writeVarUint(enc, g.params.listenPort)
      writeVarUint(enc, g.params.mtu)
      writeVarUint(enc, g.params.keepaliveS)
      writeBytes(enc, g.rootWgPublicKey.bytes)
      break
    }
    case 2: writeRecord(enc, p.record); break
    case 3: writeCutoff(enc, p.remove.subject, p.remove.cutoff); break
    case 4: writeCutoff(enc, p.revoke.subject, p.revoke.cutoff); writeVarString(enc, p.revoke.reason); break
    case 5: writeBytes(enc, p.leave.subject.bytes); break
  }
}

function writeCutoff (enc: Encoder, subject: Key, c: ChainRef): void {
  writeBytes(enc, subject.bytes)
  writeVarUint(enc, c.seq)
  if (c.seq > 0) writeBytes(enc, c.hash)
}

function writeRecord (enc: Encoder, r: MemberRecord): void {
  writeBytes(enc, r.wgPublicKey.bytes)
  writeBytes(enc, r.signPublicKey.bytes)
  writeBytes(enc, r.pop)
  const other = r.roles.filter(x => x !== ROLE_ADMIN && x !== ROLE_LIGHTHOUSE)
  const flags = (r.roles.includes(ROLE_ADMIN) ? F_ADMIN : 0) | (r.roles.includes(ROLE_LIGHTHOUSE) ? F_LIGHTHOUSE : 0) |
    (r.name !== undefined ? F_NAME : 0) | (other.length > 0 ? F_ROLES : 0) |
    (r.staticEndpoints !== undefined ? F_ENDPOINTS : 0) | (r.expiresAt !== undefined ? F_EXPIRES : 0)
  writeU8(enc, flags)
  if (r.name !== undefined) writeVarString(enc, r.name)
  if (other.length > 0) { writeVarUint(enc, other.length); for (const x of other) writeVarString(enc, x) }
  if (r.staticEndpoints !== undefined) { writeVarUint(enc, r.staticEndpoints.length); for (const x of r.staticEndpoints) writeVarString(enc, x) }
  if (r.expiresAt !== undefined) writeVarUint(enc, r.expiresAt)
}

/**
 * Reads one op in wire form. Throws OpDecodeError (and nothing else) on any malformed input.
 * The returned op's byte fields are views into `dec.buf`; it is a plain object, safe to copy
 * with a spread.
 */
export function readOp (dec: Decoder): WireOp {
  const op = readDecodedOp(dec)
  return { kind: op.kind, authorId: op.authorId, author: op.author as Key | undefined, seq: op.seq, deps: op.deps, payload: op.payload, sig: op.sig, body: op.body, wire: op.wire }
}

/**
 * `readOp` for bulk decoding (sync diffs): an `OpEntry` not yet resolved (no author unless
 * genesis, empty `idKey`), holding no view at all, only `dec.buf` and its offsets there; its
 * keys hold no view either. Ingestion resolves it in place. A spread of it loses the byte
 * fields (they are getters): copy with `decodeOp(op.wire)` instead.
 */
export function readDecodedOp (dec: Decoder): OpEntry {
  const start = dec.pos
  try {
    return readOpUnchecked(dec, start)
  } catch (err) {
    if (err instanceof OpDecodeError) throw err
    throw new OpDecodeError(`failed to decode op: ${(err as Error).message}`, { cause: err })
  }
}

function readOpUnchecked (dec: Decoder, start: number): OpEntry {
  const kind = readU8(dec)
  if (kind < OpKind.genesis || kind > OpKind.leave) dec.fail(`unknown kind ${kind} at byte ${start}`)
  let author: Key | undefined
  if (kind === OpKind.genesis) author = readKey(dec)
  else readSkip(dec, KEY_ID_BYTES)
  let seq = 0
  if (kind !== OpKind.leave) {
    seq = readVarUint(dec, 7)
    if (seq < 1) dec.fail('seq must be ≥ 1')
    if (kind === OpKind.genesis && seq !== 1) dec.fail('genesis must have seq 1')
  }
  const nDeps = readVarUint(dec, 2)
  if (nDeps > MAX_DEPS) dec.fail(`${nDeps} deps, limit ${MAX_DEPS}`)
  if (kind === OpKind.leave && (nDeps < 1 || nDeps > 2)) dec.fail('a leave names the enroll it ends (and at most its own head)')
  const deps: Dep[] = nDeps === 0 ? NO_DEPS : []
  for (let i = 0; i < nDeps; i++) {
    const keyId = readBytes(dec, KEY_ID_BYTES)
    const dseq = readVarUint(dec, 7)
    if (dseq < 1) dec.fail('dep seq must be ≥ 1')
    const h = readBytes(dec, HASH_PREFIX_BYTES)
    if (i > 0 && compareBytes(deps[i - 1].keyId, keyId) >= 0) dec.fail('deps not sorted by key id or not unique')
    deps.push({ keyId, seq: dseq, hash: h })
  }
  let payload: Payload
  switch (kind) {
    case OpKind.genesis: {
      const prefix = readBytes(dec, 6)
      if (prefix[0] !== 0xfd) dec.fail('genesis prefix is not an RFC 4193 fd00::/8 prefix')
      const name = readVarString(dec, MAX_NAME_BYTES)
      const createdAt = readVarUint(dec, 7)
      const listenPort = readVarUint(dec, 3)
      const mtu = readVarUint(dec, 2)
      const keepaliveS = readVarUint(dec, 3)
      if (listenPort < 1 || listenPort > 65535) dec.fail('listenPort out of range')
      if (mtu < 1280 || mtu > 9000) dec.fail('mtu out of range')
      if (keepaliveS > 65535) dec.fail('keepaliveS out of range')
      const rootWgPublicKey = readKey(dec)
      payload = { kind, genesis: { prefix, name, createdAt, params: { listenPort, mtu, keepaliveS }, rootWgPublicKey } }
      break
    }
    case OpKind.enroll: payload = { kind, record: readRecord(dec) }; break
    case OpKind.remove: {
      const [subject, cutoff] = readCutoff(dec)
      payload = { kind, remove: { subject, cutoff } }
      break
    }
    case OpKind.revoke: {
      const [subject, cutoff] = readCutoff(dec)
      payload = { kind, revoke: { subject, cutoff, reason: readVarString(dec, MAX_REASON_BYTES) } }
      break
    }
    default: payload = { kind: 5, leave: { subject: readKey(dec) } }
  }
  readSkip(dec, SIGNATURE_BYTES)
  if (dec.pos - start > MAX_OP_BYTES) dec.fail(`op is ${dec.pos - start} bytes, limit ${MAX_OP_BYTES}`)
  // Unresolved: `author` stays undefined (but for genesis) until ingestion resolves it.
  return new OpEntry(author as Key, seq, deps, payload, dec.buf, start, dec.pos, 0, '', undefined)
}

/** A 32-byte key, copied out of the input (no view kept). */
function readKey (dec: Decoder): Key {
  if (KEY_BYTES > dec.end - dec.pos) dec.fail(`truncated at byte ${dec.pos}: need ${KEY_BYTES} bytes, have ${dec.end - dec.pos}`)
  const k = Key.fromBytesAt(dec.buf, dec.pos)
  dec.pos += KEY_BYTES
  return k
}

function readSkip (dec: Decoder, n: number): void {
  if (n > dec.end - dec.pos) dec.fail(`truncated at byte ${dec.pos}: need ${n} bytes, have ${dec.end - dec.pos}`)
  dec.pos += n
}

const NO_DEPS: Dep[] = []
Object.freeze(NO_DEPS)
const NO_ROLES: string[] = []
Object.freeze(NO_ROLES)

function readCutoff (dec: Decoder): [Key, ChainRef] {
  const subject = readKey(dec)
  const seq = readVarUint(dec, 7)
  const h = seq > 0 ? readBytes(dec, 32) : ZERO32
  return [subject, { seq, hash: h }]
}

function readRecord (dec: Decoder): MemberRecord {
  const wgPublicKey = readKey(dec)
  const signPublicKey = readKey(dec)
  const pop = readBytes(dec, POP_BYTES)
  const flags = readU8(dec)
  if (flags > 63) dec.fail(`unknown enroll flags ${flags}`)
  // Most members have no role: they share one frozen empty list.
  const roles: string[] = (flags & (F_ADMIN | F_LIGHTHOUSE | F_ROLES)) === 0 ? NO_ROLES : []
  if ((flags & F_ADMIN) !== 0) roles.push(ROLE_ADMIN)
  if ((flags & F_LIGHTHOUSE) !== 0) roles.push(ROLE_LIGHTHOUSE)
  // Made whole where possible: one object shape, no property added later.
  const r: MemberRecord = (flags & F_NAME) !== 0 ? { wgPublicKey, signPublicKey, roles, pop, name: readVarString(dec, MAX_NAME_BYTES) } : { wgPublicKey, signPublicKey, roles, pop }
  if ((flags & F_ROLES) !== 0) {
    const n = readVarUint(dec, 1)
    if (n < 1 || n + roles.length > MAX_ROLES) dec.fail(`role count ${n} out of range`)
    let last = ''
    for (let i = 0; i < n; i++) {
      const role = readVarString(dec, MAX_ROLE_BYTES)
      if (role.length === 0 || role === ROLE_ADMIN || role === ROLE_LIGHTHOUSE) dec.fail(`role ${JSON.stringify(role)} not allowed in the role list`)
      // One encoding per op: the list is written sorted and unique, and must be read so.
      if (i > 0 && !(last < role)) dec.fail('roles not sorted or not unique')
      last = role
      roles.push(role)
    }
    roles.sort()
    for (let i = 1; i < roles.length; i++) if (roles[i - 1] === roles[i]) dec.fail('duplicate role')
  }
  if ((flags & F_ENDPOINTS) !== 0) {
    const n = readVarUint(dec, 1)
    if (n < 1 || n > MAX_ENDPOINTS) dec.fail(`endpoint count ${n} out of range`)
    r.staticEndpoints = []
    for (let i = 0; i < n; i++) {
      const e = readVarString(dec, MAX_ENDPOINT_BYTES)
      if (e.length === 0) dec.fail('empty endpoint')
      r.staticEndpoints.push(e)
    }
  }
  if ((flags & F_EXPIRES) !== 0) r.expiresAt = readVarUint(dec, 7)
  // Records are shared by the log, the view and every Member handed out: never mutable.
  Object.freeze(r.roles)
  if (r.staticEndpoints !== undefined) Object.freeze(r.staticEndpoints)
  return r
}

/** Decodes exactly one op that fills `bytes`. */
export function decodeOp (bytes: Uint8Array): WireOp {
  const dec = new Decoder(bytes, fail)
  const op = readOp(dec)
  if (dec.pos !== bytes.length) fail(`${bytes.length - dec.pos} trailing bytes after op`)
  return op
}

const scratch = new Encoder(2048)

/**
 * The bytes the signature covers (a view into a shared scratch buffer: use before the next call).
 * `prev` is the previous op's id, as bytes or as its `toKeyString` map key.
 */
export function signedBytes (body: Uint8Array, orgId: Uint8Array | undefined, prev: Uint8Array | string | undefined, lamport: number, author: Key): Uint8Array {
  scratch.reset()
  writeBytes(scratch, DOMAIN)
  writeBytes(scratch, orgId ?? ZERO16)
  if (typeof prev === 'string') writeKeyString(scratch, prev)
  else writeBytes(scratch, prev ?? ZERO32)
  writeVarUint(scratch, lamport)
  writeKeyString(scratch, author.mapKey)
  writeBytes(scratch, body)
  return scratch.view()
}

/** Writes the bytes of a `toKeyString` string. */
function writeKeyString (enc: Encoder, s: string): void {
  enc.ensure(s.length)
  const buf = enc.buf
  let p = enc.pos
  for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i)
  enc.pos = p
}

export function sha256 (b: Uint8Array): Uint8Array {
  const h = hash('sha256', b, 'buffer')
  return new Uint8Array(h.buffer, h.byteOffset, h.length)
}

/** `toKeyString(sha256(b))`, without the bytes (half the cost: no Buffer is made). */
export function sha256Key (b: Uint8Array): string {
  return hash('sha256', b, 'binary') // 'binary' is Node's name for latin1
}

export { ORG_ID_BYTES }
