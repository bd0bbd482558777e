/**
 * Payload codecs of every gossip message type (DESIGN §3). The packet header (header.ts)
 * carries the type; these bytes are what `seal` encrypts after it. Idle traffic is almost
 * all ping/ack, so those are the smallest: a ping with no news is 9 payload bytes (seq < 128),
 * a 54-byte packet once sealed (29 header + 9 + 16 tag).
 *
 * Shared pieces:
 *
 *   seq       varuint ≤ MAX_SEQ (2^32 − 1, callers wrap), minimal
 *   hash8     bytes(8): HEADS_HASH_BYTES / STATE_HASH_BYTES
 *   items     varuint count (≤ MAX_MESSAGE_ITEMS) ‖ count × item
 *   item      varuint (length << 2 | kind) ‖ bytes(length)
 *               kind 0 op (wire bytes, 1 … MAX_OP_BYTES), kind 1 signed node state
 *               (1 … MAX_NODE_STATE_BYTES), kind 2 liveness claim (claim.ts, 1 …
 *               MAX_CLAIM_BYTES); ops come first, then states, then claims (one encoding
 *               per message). Folding the kind into the length costs no byte for most
 *               items: every op and state header is 2 bytes either way, a claim's 1.
 *   trailer   the piggyback section of ping and ack: absent when there is nothing to carry,
 *             else `items` with count ≥ 1 (so an idle ping pays nothing for it)
 *             (pingReq and nack carry none: they are rare and go to a third party)
 *
 * Per type (the number is the header's `MessageType`):
 *
 *   1 join       varbytes enroll op (MIN_ENROLL_BYTES … MAX_OP_BYTES, first byte the enroll
 *                kind) ‖ [bytes(16) cookie]    the cookie is there iff 16 bytes follow
 *   2 cookie     bytes(16) cookie               (16 < the smallest join payload, 142: no
 *                                               amplification, DESIGN §3 "JOIN")
 *   3 ping       seq ‖ hash8 headsHash ‖ [trailer]
 *   4 pingReq    seq ‖ bytes(8) target key id
 *   5 ack        seq ‖ hash8 headsHash ‖ [trailer]
 *   6 nack       seq
 *   7 gossip     items
 *   8 digest     varbytes opsDigest (≤ MAX_OPS_DIGEST_BYTES; the op store's format, the
 *                native one in membership/stores/native.ts, made to fit `opsDigestRoom`) ‖
 *                STATE_BUCKETS × (varuint count ‖ [hash8 if count > 0])
 *   9 pull       varbytes opsDigest ‖ u16 big-endian bucket mask (bit b set: bucket b
 *                differs) ‖ varuint page (≤ MAX_PAGE)
 *  10 pullReply  varuint (page << 1 | more) ‖ items
 *
 * An empty state bucket has no hash on the wire and reads back as eight zero bytes (the xor
 * of nothing), so every summary has one encoding.
 *
 * Framing only: items are length-checked here and decoded and verified by ingestion, so one
 * bad op or state is dropped there without spoiling its neighbours.
 *
 * Budget (`encodeMessage`'s `budgetBytes`, clamped to `maxPayloadBytes(type)`): fixed fields
 * that do not fit throw; items are taken in order (ops, then states) while they fit, and an
 * item that does not fit is skipped, never truncated — a smaller one after it may still go
 * (as the broadcast queue does). Skipped items are reported by index in `leftOut`.
 * `paginate` splits a pull reply into pages without reordering (a diff is in causal order):
 * a page ends at the first item that does not fit; an item too big for an empty page is
 * left out and reported.
 *
 * Hostile input: `decodeMessage` throws only `MessageDecodeError`, never reads past the end,
 * refuses payloads over `maxPayloadBytes(type)` and trailing bytes, and checks every claimed
 * count against the bytes present before looping. Decoded byte fields are copies.
 */
import { KEY_BYTES, KEY_ID_BYTES } from '../identity/key.js'
import { SIGNATURE_BYTES } from '../identity/sign.js'
import { MAX_OP_BYTES, OpKind } from '../membership/op.js'
import {
  Decoder, Encoder, readBytes, readU8, readVarBytes, readVarUint, varUintLength, writeBytes,
  writeU8, writeVarBytes, writeVarUint
} from '../util/encoding.js'
import { COOKIE_BYTES } from '../wire/cookie.js'
import { MAX_PACKET_BYTES, MessageType } from '../wire/header.js'
import { maxPayloadBytes } from '../wire/seal.js'
import { MessageDecodeError } from './errors.js'
import { MAX_CLAIM_BYTES } from './claim.js'
import { MAX_NODE_STATE_BYTES } from './node-state.js'

export const HEADS_HASH_BYTES = 8
export const STATE_HASH_BYTES = 8
/** Node states are summarised in this many buckets, so a digest does not grow with N. */
export const STATE_BUCKETS = 16
/** SWIM sequence numbers wrap here (memberlist's are uint32 too). */
export const MAX_SEQ = 2 ** 32 - 1
/** Items in one message; 127 keeps the count at one byte (a full packet holds ~14 ops). */
export const MAX_MESSAGE_ITEMS = 127
/** Pages of one pull reply (4096 × ~1.3 KB ≈ 5 MB per transfer). */
export const MAX_PAGE = 4095
/** Nodes counted in one state bucket (a 4-byte varuint). */
export const MAX_BUCKET_COUNT = 2 ** 28 - 1
/**
 * A store digest never takes more than a packet. The native store makes its digests to the
 * room `opsDigestRoom` leaves (DESIGN §2.1 "Digests always fit"); a store that cannot (yjs,
 * automerge: their digests grow with the op set) fails to encode and is counted.
 */
export const MAX_OPS_DIGEST_BYTES = MAX_PACKET_BYTES
/** The smallest enroll op: kind, key id, seq, dep count, two keys, flags, signature. */
export const MIN_ENROLL_BYTES = 1 + KEY_ID_BYTES + 1 + 1 + 2 * KEY_BYTES + 1 + SIGNATURE_BYTES

const KIND_OP = 0
const KIND_STATE = 1
const KIND_CLAIM = 2
const KINDS = 3
const ITEM_LIMITS = [MAX_OP_BYTES, MAX_NODE_STATE_BYTES, MAX_CLAIM_BYTES]
const ITEM_KIND_NAMES = ['op', 'state', 'claim']
type ItemKind = 0 | 1 | 2

/**
 * Ops (wire bytes), signed node states and liveness claims, as gossip, ping, ack and
 * pullReply carry them. `claims` is optional when encoding and present after decoding only
 * when the message had some.
 */
export interface Items { ops: Uint8Array[], states: Uint8Array[], claims?: Uint8Array[] }
export interface StateBucket { count: number, hash: Uint8Array }

export interface JoinMessage { type: typeof MessageType.join, enroll: Uint8Array, cookie?: Uint8Array }
export interface CookieMessage { type: typeof MessageType.cookie, cookie: Uint8Array }
export interface PingMessage extends Items { type: typeof MessageType.ping, seq: number, headsHash: Uint8Array }
export interface PingReqMessage { type: typeof MessageType.pingReq, seq: number, target: Uint8Array }
export interface AckMessage extends Items { type: typeof MessageType.ack, seq: number, headsHash: Uint8Array }
export interface NackMessage { type: typeof MessageType.nack, seq: number }
export interface GossipItemsMessage extends Items { type: typeof MessageType.gossip }
export interface DigestMessage { type: typeof MessageType.digest, opsDigest: Uint8Array, statesSummary: StateBucket[] }
/** `buckets`: the differing state buckets, ascending and unique. */
export interface PullMessage { type: typeof MessageType.pull, opsDigest: Uint8Array, buckets: number[], page: number }
export interface PullReplyMessage extends Items { type: typeof MessageType.pullReply, page: number, more: boolean }

export type GossipMessage = JoinMessage | CookieMessage | PingMessage | PingReqMessage | AckMessage | NackMessage |
GossipItemsMessage | DigestMessage | PullMessage | PullReplyMessage
export type MessageOf<T extends MessageType> = Extract<GossipMessage, { type: T }>

/** Indices into a message's `ops`, `states` and `claims` of the items that did not fit. */
export interface LeftOut { ops: number[], states: number[], claims: number[] }
export interface EncodedMessage { payload: Uint8Array, leftOut: LeftOut }

const NAMES: Record<number, string> = {
  1: 'join', 2: 'cookie', 3: 'ping', 4: 'pingReq', 5: 'ack', 6: 'nack', 7: 'gossip', 8: 'digest', 9: 'pull', 10: 'pullReply'
}

function encodeFail (type: number, message: string): never {
  throw new MessageDecodeError(`failed to encode ${NAMES[type] ?? `type ${String(type)}`}: ${message}`)
}

/**
 * Encodes `msg` in at most `budgetBytes` (clamped to `maxPayloadBytes(type)`). Throws
 * MessageDecodeError if a field breaks the layout or the fixed fields alone do not fit.
 */
export function encodeMessage<T extends MessageType> (type: T, msg: MessageOf<T>, budgetBytes: number): EncodedMessage {
  if (NAMES[type] === undefined) encodeFail(type, 'unknown message type')
  const m = msg as GossipMessage
  if (m.type !== type) encodeFail(type, `message is of type ${String(m.type)}`)
  if (!Number.isInteger(budgetBytes) || budgetBytes < 0) encodeFail(type, `budget ${String(budgetBytes)} is not a byte count`)
  const budget = Math.min(budgetBytes, maxPayloadBytes(type))
  const fail = (message: string): never => encodeFail(type, message)
  const enc = new Encoder(64)
  let leftOut: LeftOut = { ops: [], states: [], claims: [] }
  switch (m.type) {
    case MessageType.join:
      checkEnroll(m.enroll, fail)
      writeVarBytes(enc, m.enroll)
      if (m.cookie !== undefined) writeBytes(enc, fixed(m.cookie, COOKIE_BYTES, 'cookie', fail))
      break
    case MessageType.cookie: writeBytes(enc, fixed(m.cookie, COOKIE_BYTES, 'cookie', fail)); break
    case MessageType.ping:
    case MessageType.ack:
      writeSeq(enc, m.seq, fail)
      writeBytes(enc, fixed(m.headsHash, HEADS_HASH_BYTES, 'headsHash', fail))
      leftOut = writeItems(enc, m, budget, true, fail)
      break
    case MessageType.pingReq:
      writeSeq(enc, m.seq, fail)
      writeBytes(enc, fixed(m.target, KEY_ID_BYTES, 'target', fail))
      break
    case MessageType.nack: writeSeq(enc, m.seq, fail); break
    case MessageType.gossip: leftOut = writeItems(enc, m, budget, false, fail); break
    case MessageType.digest:
      writeDigest(enc, m.opsDigest, fail)
      if (!Array.isArray(m.statesSummary) || m.statesSummary.length !== STATE_BUCKETS) fail(`statesSummary must hold ${STATE_BUCKETS} buckets`)
      for (const b of m.statesSummary) {
        if (!Number.isInteger(b.count) || b.count < 0 || b.count > MAX_BUCKET_COUNT) fail(`bucket count ${String(b.count)} out of range [0, ${MAX_BUCKET_COUNT}]`)
        const h = fixed(b.hash, STATE_HASH_BYTES, 'bucket hash', fail)
        writeVarUint(enc, b.count)
        if (b.count > 0) writeBytes(enc, h)
        else if (h.some(x => x !== 0)) fail('an empty bucket must have an all-zero hash')
      }
      break
    case MessageType.pull: {
      writeDigest(enc, m.opsDigest, fail)
      let mask = 0
      for (let i = 0; i < m.buckets.length; i++) {
        const b = m.buckets[i]
        if (!Number.isInteger(b) || b < 0 || b >= STATE_BUCKETS) fail(`bucket ${String(b)} out of range [0, ${STATE_BUCKETS})`)
        if (i > 0 && !(m.buckets[i - 1] < b)) fail('buckets not ascending or not unique')
        mask |= 1 << b
      }
      writeU8(enc, mask >> 8)
      writeU8(enc, mask & 0xff)
      writePage(enc, m.page, fail)
      break
    }
    case MessageType.pullReply:
      if (typeof m.more !== 'boolean') fail('more is not a boolean')
      if (!Number.isInteger(m.page) || m.page < 0 || m.page > MAX_PAGE) fail(`page ${String(m.page)} out of range [0, ${MAX_PAGE}]`)
      writeVarUint(enc, m.page * 2 + (m.more ? 1 : 0))
      leftOut = writeItems(enc, m, budget, false, fail)
      break
    default: fail('unknown message type')
  }
  if (enc.pos > budget) fail(`${enc.pos} bytes, budget ${budget}`)
  return { payload: enc.finish(), leftOut }
}

type Fail = (message: string) => never

function fixed (b: unknown, n: number, what: string, fail: Fail): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== n) fail(`${what} must be ${n} bytes`)
  return b as Uint8Array
}

function checkEnroll (b: unknown, fail: Fail): void {
  if (!(b instanceof Uint8Array) || b.length < MIN_ENROLL_BYTES || b.length > MAX_OP_BYTES) fail(`enroll must be ${MIN_ENROLL_BYTES} to ${MAX_OP_BYTES} bytes`)
  if ((b as Uint8Array)[0] !== OpKind.enroll) fail('enroll is not an enroll op')
}

function writeSeq (enc: Encoder, seq: number, fail: Fail): void {
  if (!Number.isInteger(seq) || seq < 0 || seq > MAX_SEQ) fail(`seq ${String(seq)} out of range [0, ${MAX_SEQ}]`)
  writeVarUint(enc, seq)
}

function writePage (enc: Encoder, page: number, fail: Fail): void {
  if (!Number.isInteger(page) || page < 0 || page > MAX_PAGE) fail(`page ${String(page)} out of range [0, ${MAX_PAGE}]`)
  writeVarUint(enc, page)
}

function writeDigest (enc: Encoder, d: unknown, fail: Fail): void {
  if (!(d instanceof Uint8Array) || d.length > MAX_OPS_DIGEST_BYTES) fail(`opsDigest must be at most ${MAX_OPS_DIGEST_BYTES} bytes`)
  writeVarBytes(enc, d as Uint8Array)
}

/**
 * Bytes the ops digest may take in a `digest` payload (with `statesSummary`) or a `pull`
 * payload (any bucket mask, any page) of `budgetBytes`: the budget, clamped as `encodeMessage`
 * clamps it, less the other fields and the digest's own length prefix (1 or 2 bytes).
 */
export function opsDigestRoom (type: typeof MessageType.digest | typeof MessageType.pull, budgetBytes: number, statesSummary: readonly StateBucket[] = []): number {
  const budget = Math.min(budgetBytes, maxPayloadBytes(type))
  const rest = type === MessageType.digest
    ? statesSummary.reduce((a, b) => a + varUintLength(b.count) + (b.count > 0 ? STATE_HASH_BYTES : 0), 0)
    : 2 + varUintLength(MAX_PAGE)
  const avail = budget - rest
  const n = avail - 1 + varUintLength(avail - 1) > avail ? avail - 2 : avail - 1
  return Math.min(MAX_OPS_DIGEST_BYTES, n)
}

/** Bytes an item costs in a message: its header and its bytes. */
export function itemCost (length: number, kind: ItemKind): number {
  return varUintLength(length * 4 + kind) + length
}

function itemLists (msg: Items): Uint8Array[][] { return [msg.ops, msg.states, msg.claims ?? []] }

function leftOutList (leftOut: LeftOut, kind: number): number[] {
  return kind === KIND_OP ? leftOut.ops : kind === KIND_STATE ? leftOut.states : leftOut.claims
}

function checkItems (msg: Items, fail: Fail): void {
  if (!Array.isArray(msg.ops) || !Array.isArray(msg.states) || (msg.claims !== undefined && !Array.isArray(msg.claims))) fail('ops, states and claims must be arrays')
  const lists = itemLists(msg)
  for (let kind = 0; kind < KINDS; kind++) {
    lists[kind].forEach((b, i) => {
      if (!(b instanceof Uint8Array) || b.length < 1 || b.length > ITEM_LIMITS[kind]) fail(`${ITEM_KIND_NAMES[kind]} ${i} must be 1 to ${ITEM_LIMITS[kind]} bytes`)
    })
  }
}

/**
 * Writes as many items as fit in `budget − enc.pos`: ops, then states, each in order, one
 * that does not fit skipped. `optional`: the piggyback trailer, written only if non-empty.
 */
function writeItems (enc: Encoder, msg: Items, budget: number, optional: boolean, fail: Fail): LeftOut {
  checkItems(msg, fail)
  const leftOut: LeftOut = { ops: [], states: [], claims: [] }
  const chosen: Array<[Uint8Array, number]> = []
  let free = budget - enc.pos - 1 // the count: one byte, as MAX_MESSAGE_ITEMS < 128
  const lists = itemLists(msg)
  for (let kind = 0; kind < KINDS; kind++) {
    lists[kind].forEach((b, i) => {
      const cost = itemCost(b.length, kind as ItemKind)
      if (chosen.length < MAX_MESSAGE_ITEMS && cost <= free) {
        chosen.push([b, kind])
        free -= cost
      } else {
        leftOutList(leftOut, kind).push(i)
      }
    })
  }
  if (optional && chosen.length === 0) return leftOut
  writeVarUint(enc, chosen.length)
  for (const [b, kind] of chosen) {
    writeVarUint(enc, b.length * 4 + kind)
    writeBytes(enc, b)
  }
  return leftOut
}

/**
 * Splits a pull reply (`ops`, then `states`, each in order) into pages of at most
 * `budgetBytes` (clamped as `encodeMessage` does), without reordering. Always at least one
 * page; `more` is set on all but the last. An item too big for an empty page is left out.
 * Pages are deterministic, so a puller asking for page p of an unchanged diff gets page p.
 * Throws MessageDecodeError for a bad item or a transfer of more than MAX_PAGE + 1 pages.
 */
export function paginate (items: Items, budgetBytes: number): { pages: PullReplyMessage[], leftOut: LeftOut } {
  const fail: Fail = (message) => encodeFail(MessageType.pullReply, message)
  if (!Number.isInteger(budgetBytes) || budgetBytes < 0) fail(`budget ${String(budgetBytes)} is not a byte count`)
  checkItems(items, fail)
  const budget = Math.min(budgetBytes, maxPayloadBytes(MessageType.pullReply))
  const leftOut: LeftOut = { ops: [], states: [], claims: [] }
  const pages: PullReplyMessage[] = []
  let page: PullReplyMessage = { type: MessageType.pullReply, page: 0, more: false, ops: [], states: [] }
  // The page header is at most varuint(MAX_PAGE << 1 | 1) = 2 bytes, plus the 1-byte count.
  const capacity = budget - varUintLength(MAX_PAGE * 2 + 1) - 1
  if (capacity < 0) fail(`budget ${budget} cannot hold a page header`)
  let free = capacity
  const lists = itemLists(items)
  for (let kind = 0; kind < KINDS; kind++) {
    lists[kind].forEach((b, i) => {
      const cost = itemCost(b.length, kind as ItemKind)
      if (cost > capacity) { leftOutList(leftOut, kind).push(i); return }
      if (cost > free || page.ops.length + page.states.length + (page.claims?.length ?? 0) === MAX_MESSAGE_ITEMS) {
        if (page.page >= MAX_PAGE) fail(`more than ${MAX_PAGE + 1} pages`)
        page.more = true
        pages.push(page)
        page = { type: MessageType.pullReply, page: page.page + 1, more: false, ops: [], states: [] }
        free = capacity
      }
      if (kind === KIND_CLAIM) (page.claims ??= []).push(b)
      else (kind === KIND_OP ? page.ops : page.states).push(b)
      free -= cost
    })
  }
  pages.push(page)
  return { pages, leftOut }
}

/** Decodes the payload of a message of `type`. Hostile input throws only MessageDecodeError. */
export function decodeMessage<T extends MessageType> (type: T, payload: Uint8Array): MessageOf<T> {
  const name = NAMES[type] ?? `type ${String(type)}`
  const fail = (message: string): never => { throw new MessageDecodeError(`failed to decode ${name}: ${message}`) }
  try {
    if (NAMES[type] === undefined) fail('unknown message type')
    if (!(payload instanceof Uint8Array)) fail('payload is not a Uint8Array')
    if (payload.length > maxPayloadBytes(type)) fail(`${payload.length} bytes, limit ${maxPayloadBytes(type)}`)
    const dec = new Decoder(payload, fail)
    const msg = readBody(type, dec)
    if (dec.pos !== payload.length) fail(`${payload.length - dec.pos} trailing bytes at byte ${dec.pos}`)
    return msg as MessageOf<T>
  } catch (err) {
    if (err instanceof MessageDecodeError) throw err
    throw new MessageDecodeError(`failed to decode ${name}: ${(err as Error).message}`, { cause: err })
  }
}

function readBody (type: MessageType, dec: Decoder): GossipMessage {
  switch (type) {
    case MessageType.join: {
      const at = dec.pos
      const enroll = readVarBytes(dec, MAX_OP_BYTES).slice()
      if (enroll.length < MIN_ENROLL_BYTES) dec.fail(`enroll at byte ${at} is ${enroll.length} bytes, minimum ${MIN_ENROLL_BYTES}`)
      if (enroll[0] !== OpKind.enroll) dec.fail(`op at byte ${at} is not an enroll`)
      if (dec.remaining === 0) return { type, enroll }
      return { type, enroll, cookie: readBytes(dec, COOKIE_BYTES).slice() }
    }
    case MessageType.cookie: return { type, cookie: readBytes(dec, COOKIE_BYTES).slice() }
    case MessageType.ping:
    case MessageType.ack: {
      const seq = readSeq(dec)
      const headsHash = readBytes(dec, HEADS_HASH_BYTES).slice()
      const items = dec.remaining === 0 ? { ops: [], states: [] } : readItems(dec, true)
      return { type, seq, headsHash, ...items }
    }
    case MessageType.pingReq: return { type, seq: readSeq(dec), target: readBytes(dec, KEY_ID_BYTES).slice() }
    case MessageType.nack: return { type, seq: readSeq(dec) }
    case MessageType.gossip: return { type, ...readItems(dec, false) }
    case MessageType.digest: {
      const opsDigest = readVarBytes(dec, MAX_OPS_DIGEST_BYTES).slice()
      const statesSummary: StateBucket[] = []
      for (let i = 0; i < STATE_BUCKETS; i++) {
        const count = readVarUint(dec, 4)
        statesSummary.push({ count, hash: count > 0 ? readBytes(dec, STATE_HASH_BYTES).slice() : new Uint8Array(STATE_HASH_BYTES) })
      }
      return { type, opsDigest, statesSummary }
    }
    case MessageType.pull: {
      const opsDigest = readVarBytes(dec, MAX_OPS_DIGEST_BYTES).slice()
      const mask = (readU8(dec) << 8) | readU8(dec)
      const buckets: number[] = []
      for (let b = 0; b < STATE_BUCKETS; b++) if ((mask & (1 << b)) !== 0) buckets.push(b)
      return { type, opsDigest, buckets, page: readPage(dec) }
    }
    case MessageType.pullReply: {
      const at = dec.pos
      const v = readVarUint(dec, 2)
      if (v >> 1 > MAX_PAGE) dec.fail(`page ${v >> 1} at byte ${at} exceeds ${MAX_PAGE}`)
      return { type, page: v >> 1, more: (v & 1) === 1, ...readItems(dec, false) }
    }
    default: return dec.fail('unknown message type')
  }
}

function readSeq (dec: Decoder): number {
  const at = dec.pos
  const seq = readVarUint(dec, 5)
  if (seq > MAX_SEQ) dec.fail(`seq at byte ${at} exceeds ${MAX_SEQ}`)
  return seq
}

function readPage (dec: Decoder): number {
  const at = dec.pos
  const page = readVarUint(dec, 2)
  if (page > MAX_PAGE) dec.fail(`page ${page} at byte ${at} exceeds ${MAX_PAGE}`)
  return page
}

function readItems (dec: Decoder, trailer: boolean): Items {
  const at = dec.pos
  const n = readVarUint(dec, 1)
  if (trailer && n === 0) dec.fail(`empty piggyback trailer at byte ${at}`)
  if (n > MAX_MESSAGE_ITEMS) dec.fail(`${n} items at byte ${at}, limit ${MAX_MESSAGE_ITEMS}`)
  // Each item takes at least 2 bytes (header and one byte): refuse a count the bytes cannot hold.
  if (n * 2 > dec.remaining) dec.fail(`${n} items claimed in ${dec.remaining} bytes at byte ${at}`)
  const lists: Uint8Array[][] = [[], [], []]
  let last = 0
  for (let i = 0; i < n; i++) {
    const start = dec.pos
    const v = readVarUint(dec, 2)
    const kind = v & 3
    const length = Math.floor(v / 4)
    if (kind >= KINDS) dec.fail(`unknown item kind ${kind} at byte ${start}`)
    if (length < 1 || length > ITEM_LIMITS[kind]) dec.fail(`${ITEM_KIND_NAMES[kind]} at byte ${start} is ${length} bytes, limit 1 to ${ITEM_LIMITS[kind]}`)
    if (kind < last) dec.fail(`${ITEM_KIND_NAMES[kind]} after a ${ITEM_KIND_NAMES[last]} at byte ${start}`)
    last = kind
    lists[kind].push(readBytes(dec, length).slice())
  }
  const [ops, states, claims] = lists
  return claims.length > 0 ? { ops, states, claims } : { ops, states }
}
