/**
 * Node state (DESIGN §3 "Node state", §6 "Candidates"): a node's soft state — its endpoint
 * candidates, the pairs it announces as relayed, and opaque app metadata — signed by the
 * node's own Ed25519 key, so nobody can forge another node's endpoints. Last writer wins by
 * a monotonic `incarnation`; see `newer`.
 *
 * Size: a signed state must fit one overlay gossip packet with room to spare. With a 1,280-byte
 * MTU the overlay budget is 1,280 − 48 = 1,232 bytes for the whole packet; a packet costs at
 * most 31 header + 16 tag = 47 bytes, and the message framing around one state item ≤ 4 bytes
 * (items count 1 + item length 2 = 3 for gossip; a pullReply's page adds 1–2, so ~4, 5 at
 * worst). So a state may use ≤ 1,232 − 47 − 4 = 1,181 bytes. The fixed part at its limits:
 *
 *   32 wgPublicKey + 7 incarnation (varuint of 2^49 − 1) + 1 endpoint count
 *   + 8 × 19 endpoints (IPv6) + 2 metadata length (varuint 512) + 512 metadata (DESIGN §3)
 *   + 64 signature = 770 bytes
 *
 * leaves 1,181 − 770 = 411 for the relayed pairs: 1 count byte + 8 bytes per key id, so
 * ⌊410 / 8⌋ = 51 pairs (MAX_RELAYED_PAIRS). MAX_NODE_STATE_BYTES = 770 + 1 + 51 × 8 = 1,179:
 * 1,179 + 47 + 4 = 1,230 ≤ 1,232 (and 1,231 even with a 5-byte pullReply framing). With full
 * 32-byte keys, 64 pairs made it 2,819 bytes.
 *
 * Body layout (canonical: one encoding per state, so the signature covers exactly one form):
 *
 *   bytes(32) wgPublicKey              the node this state describes
 *   varuint   incarnation              ≤ MAX_COUNTER (2^49 − 1), minimal
 *   varuint   endpointCount            ≤ MAX_NODE_ENDPOINTS, then per endpoint, sorted by
 *                                      their bytes, unique:
 *     u8        tag                    source << 1 | family; family 0 IPv4, 1 IPv6;
 *                                      source 0 listen, 1 reflexive, 2 static, 3 wireguard
 *     bytes     address                4 bytes (IPv4) or 16 (IPv6; never IPv4-mapped)
 *     u16       port                   big-endian, in [1, 65535] (fixed: most ports need
 *                                      3 varint bytes)
 *   varuint   relayedCount             ≤ MAX_RELAYED_PAIRS, then that many 8-byte key
 *                                      ids (first KEY_ID_BYTES of the peer's wgPublicKey,
 *                                      `Key.id`, as the op codec names authors), sorted by
 *                                      bytes, unique
 *   varuint   metadataLength           ≤ MAX_APP_METADATA_BYTES, then the metadata bytes
 *
 * Signed form (what gossip sends and stores; ≤ MAX_NODE_STATE_BYTES): body ‖ bytes(64)
 * Ed25519 signature over "wiremesh/node-state/v1\0" ‖ orgId(16) ‖ body. The orgId keeps a
 * state from being replayed into another org the node belongs to; the domain string keeps
 * it from being taken for an op. There is no version byte: a new layout is a new gossip
 * message type and a "v2" domain.
 *
 * Hosts travel as address bytes, not text, to keep states small; host names and IPv6 zones
 * are refused when encoding (a zone means nothing to another host; names are resolved before
 * they become candidates). Decoded hosts come back normalised as `endpoint()` makes them.
 */
import { Key, KEY_BYTES, KEY_ID_BYTES } from '../identity/key.js'
import { SIGNATURE_BYTES, verifySignature, type Signer } from '../identity/sign.js'
import { MAX_COUNTER, ORG_ID_BYTES } from '../membership/op.js'
import { bytesEqual, compareBytes, concatBytes } from '../util/bytes.js'
import {
  Decoder, Encoder, readBytes, readU8, readVarBytes, readVarUint, varUintLength, writeBytes,
  writeVarBytes, writeVarUint
} from '../util/encoding.js'
import { hostFamily, normalizeHost } from './endpoint.js'
import { NodeStateDecodeError } from './errors.js'

/** Endpoint sources. ONLY APPEND TO THIS LIST: the index is the source code on the wire. */
export const ENDPOINT_SOURCES = ['listen', 'reflexive', 'static', 'wireguard'] as const
export type EndpointSource = typeof ENDPOINT_SOURCES[number]

// Limits. Every decoder enforces them; `writeNodeState` refuses a state that breaks them.
export const MAX_NODE_ENDPOINTS = 8
/** The largest count that keeps MAX_NODE_STATE_BYTES within one overlay packet (see the top). */
export const MAX_RELAYED_PAIRS = 51
export const MAX_APP_METADATA_BYTES = 512
const MAX_ENDPOINT_BYTES = 1 + 16 + 2
/** The largest signed node state: every list and the metadata at its limit (1179 bytes). */
export const MAX_NODE_STATE_BYTES = KEY_BYTES + varUintLength(MAX_COUNTER) +
  varUintLength(MAX_NODE_ENDPOINTS) + MAX_NODE_ENDPOINTS * MAX_ENDPOINT_BYTES +
  varUintLength(MAX_RELAYED_PAIRS) + MAX_RELAYED_PAIRS * KEY_ID_BYTES +
  varUintLength(MAX_APP_METADATA_BYTES) + MAX_APP_METADATA_BYTES + SIGNATURE_BYTES

const DOMAIN = Buffer.from('wiremesh/node-state/v1\0')

export interface NodeEndpoint {
  readonly host: string
  readonly port: number
  readonly source: EndpointSource
}

export interface NodeState {
  readonly wgPublicKey: Key
  readonly incarnation: number
  /** Returned sorted by their encoding (source, family, address, port). */
  readonly endpoints: readonly NodeEndpoint[]
  /**
   * Peers this node reaches only via a lighthouse (§6 "Relay"), as 8-byte key ids (`Key.id`
   * of the peer's wgPublicKey), not Keys: full keys made a loaded state too big for a packet.
   * Input order is free; returned sorted and unique, as fresh copies. A reader maps an id
   * back to a peer through its roster, as it does for op authors.
   */
  readonly relayedPairs: readonly Uint8Array[]
  readonly appMetadata: Uint8Array
}

/**
 * A state with its canonical body and signature. `bytes` is authoritative: make these only
 * with `signNodeState` or `decodeSignedNodeState`, which keep `state` equal to it.
 */
export interface SignedNodeState {
  readonly state: NodeState
  readonly bytes: Uint8Array
  readonly signature: Uint8Array
}

function fail (message: string): never { throw new NodeStateDecodeError(`failed to decode node state: ${message}`) }
function encodeFail (message: string, cause?: unknown): never {
  throw new NodeStateDecodeError(`failed to encode node state: ${message}`, { cause })
}

/** Writes the canonical body; throws NodeStateDecodeError naming the field a limit breaks. */
export function writeNodeState (enc: Encoder, s: NodeState): void {
  if (!(s.wgPublicKey instanceof Key)) encodeFail('wgPublicKey is not a Key')
  const inc = s.incarnation
  if (!Number.isInteger(inc) || inc < 0 || inc > MAX_COUNTER) encodeFail(`incarnation ${String(inc)} out of range [0, ${MAX_COUNTER}]`)
  if (s.endpoints.length > MAX_NODE_ENDPOINTS) encodeFail(`${s.endpoints.length} endpoints, limit ${MAX_NODE_ENDPOINTS}`)
  if (s.relayedPairs.length > MAX_RELAYED_PAIRS) encodeFail(`${s.relayedPairs.length} relayed pairs, limit ${MAX_RELAYED_PAIRS}`)
  if (!(s.appMetadata instanceof Uint8Array)) encodeFail('appMetadata is not a Uint8Array')
  if (s.appMetadata.length > MAX_APP_METADATA_BYTES) encodeFail(`appMetadata is ${s.appMetadata.length} bytes, limit ${MAX_APP_METADATA_BYTES}`)
  const eps = s.endpoints.map(endpointBytes).sort(compareBytes)
  for (const p of s.relayedPairs) {
    if (!(p instanceof Uint8Array) || p.length !== KEY_ID_BYTES) encodeFail(`relayed pair is not a ${KEY_ID_BYTES}-byte key id`)
  }
  const pairs = [...s.relayedPairs].sort(compareBytes)
  for (let i = 1; i < eps.length; i++) if (compareBytes(eps[i - 1], eps[i]) === 0) encodeFail('duplicate endpoint')
  for (let i = 1; i < pairs.length; i++) if (compareBytes(pairs[i - 1], pairs[i]) === 0) encodeFail('duplicate relayed pair')
  writeBytes(enc, s.wgPublicKey.bytes)
  writeVarUint(enc, inc)
  writeVarUint(enc, eps.length)
  for (const e of eps) writeBytes(enc, e)
  writeVarUint(enc, pairs.length)
  for (const p of pairs) writeBytes(enc, p)
  writeVarBytes(enc, s.appMetadata)
}

function endpointBytes (e: NodeEndpoint): Uint8Array {
  const source = ENDPOINT_SOURCES.indexOf(e.source)
  if (source < 0) encodeFail(`unknown endpoint source ${JSON.stringify(e.source)}`)
  if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) encodeFail(`port ${String(e.port)} out of range [1, 65535]`)
  let host: string
  try {
    host = normalizeHost(e.host)
  } catch (err) {
    return encodeFail(`bad host ${JSON.stringify(String(e.host).slice(0, 60))}`, err)
  }
  const family = hostFamily(host)
  if (family === 0) encodeFail(`host ${JSON.stringify(host)} is a name, not an IP address`)
  if (host.includes('%')) encodeFail(`host ${JSON.stringify(host)} has a zone id`)
  const addr = family === 4 ? new Uint8Array(host.split('.').map(Number)) : ipv6Bytes(host)
  const out = new Uint8Array(1 + addr.length + 2)
  out[0] = (source << 1) | (family === 6 ? 1 : 0)
  out.set(addr, 1)
  out[out.length - 2] = e.port >> 8
  out[out.length - 1] = e.port & 0xff
  return out
}

/** The 16 bytes of a normalised IPv6 address (hex groups only, as `normalizeHost` returns). */
function ipv6Bytes (host: string): Uint8Array {
  const out = new Uint8Array(16)
  const gap = host.indexOf('::')
  const head = (gap < 0 ? host : host.slice(0, gap)).split(':').filter(g => g !== '')
  const tail = gap < 0 ? [] : host.slice(gap + 2).split(':').filter(g => g !== '')
  const put = (g: string, i: number): void => { const v = parseInt(g, 16); out[2 * i] = v >> 8; out[2 * i + 1] = v & 0xff }
  head.forEach((g, i) => put(g, i))
  tail.forEach((g, i) => put(g, 8 - tail.length + i))
  return out
}

/**
 * Reads one state body. Throws NodeStateDecodeError (and nothing else) on malformed or
 * non-canonical input. The result holds no view into `dec.buf`.
 */
export function readNodeState (dec: Decoder): NodeState {
  try {
    return readUnchecked(dec)
  } catch (err) {
    if (err instanceof NodeStateDecodeError) throw err
    throw new NodeStateDecodeError(`failed to decode node state: ${(err as Error).message}`, { cause: err })
  }
}

function readUnchecked (dec: Decoder): NodeState {
  if (KEY_BYTES > dec.remaining) dec.fail(`truncated at byte ${dec.pos}: need ${KEY_BYTES} bytes, have ${dec.remaining}`)
  const wgPublicKey = Key.fromBytesAt(dec.buf, dec.pos)
  dec.pos += KEY_BYTES
  const incarnation = readVarUint(dec, 7)
  const nEps = readVarUint(dec, 1)
  if (nEps > MAX_NODE_ENDPOINTS) dec.fail(`${nEps} endpoints, limit ${MAX_NODE_ENDPOINTS}`)
  const endpoints: NodeEndpoint[] = []
  let prev: Uint8Array | undefined
  for (let i = 0; i < nEps; i++) {
    const at = dec.pos
    const tag = readU8(dec)
    const source = ENDPOINT_SOURCES[tag >> 1]
    if (source === undefined) dec.fail(`unknown endpoint tag ${tag} at byte ${at}`)
    const v6 = (tag & 1) === 1
    const addr = readBytes(dec, v6 ? 16 : 4)
    const portBytes = readBytes(dec, 2)
    const port = (portBytes[0] << 8) | portBytes[1]
    if (port === 0) dec.fail(`port 0 at byte ${dec.pos - 2}`)
    const entry = dec.buf.subarray(at, dec.pos)
    if (prev !== undefined && compareBytes(prev, entry) >= 0) dec.fail(`endpoints not sorted or not unique at byte ${at}`)
    prev = entry
    endpoints.push(Object.freeze({ host: v6 ? ipv6Host(dec, addr, at) : addr.join('.'), port, source }))
  }
  const nPairs = readVarUint(dec, 1)
  if (nPairs > MAX_RELAYED_PAIRS) dec.fail(`${nPairs} relayed pairs, limit ${MAX_RELAYED_PAIRS}`)
  const relayedPairs: Uint8Array[] = []
  prev = undefined
  for (let i = 0; i < nPairs; i++) {
    const at = dec.pos
    const id = readBytes(dec, KEY_ID_BYTES)
    if (prev !== undefined && compareBytes(prev, id) >= 0) dec.fail(`relayed pairs not sorted or not unique at byte ${at}`)
    prev = id
    relayedPairs.push(new Uint8Array(id)) // a copy: the result holds no view into dec.buf
  }
  const appMetadata = new Uint8Array(readVarBytes(dec, MAX_APP_METADATA_BYTES)) // a copy (Buffer's slice is a view)
  Object.freeze(endpoints)
  Object.freeze(relayedPairs)
  return Object.freeze({ wgPublicKey, incarnation, endpoints, relayedPairs, appMetadata })
}

function ipv6Host (dec: Decoder, a: Uint8Array, at: number): string {
  // ::ffff:0:0/96 has an IPv4 encoding; accepting both would give one state two encodings.
  let mapped = a[10] === 0xff && a[11] === 0xff
  for (let i = 0; i < 10 && mapped; i++) mapped = a[i] === 0
  if (mapped) dec.fail(`IPv4-mapped IPv6 address at byte ${at} must be sent as IPv4`)
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((a[i] << 8) | a[i + 1]).toString(16))
  return normalizeHost(groups.join(':'))
}

/** Signs `state` for `orgId`; throws NodeStateDecodeError if the state breaks a limit. */
export function signNodeState (state: NodeState, signer: Signer, orgId: Uint8Array): SignedNodeState {
  if (orgId.length !== ORG_ID_BYTES) encodeFail(`orgId must be ${ORG_ID_BYTES} bytes, got ${orgId.length}`)
  const enc = new Encoder(128)
  writeNodeState(enc, state)
  const bytes = enc.finish()
  const signature = signer.sign(concatBytes(DOMAIN, orgId, bytes))
  // Decoding our own bytes gives the canonical, frozen state (sorted lists, normalised hosts).
  return Object.freeze({ state: readNodeState(new Decoder(bytes, fail)), bytes, signature })
}

/** Whether `signed` is signed by `signKey` (the node's Ed25519 key) for `orgId`. Never throws. */
export function verifyNodeState (signed: SignedNodeState, signKey: Key, orgId: Uint8Array): boolean {
  if (orgId.length !== ORG_ID_BYTES) return false
  return verifySignature(signKey, concatBytes(DOMAIN, orgId, signed.bytes), signed.signature)
}

/** body ‖ signature: what gossip sends. */
export function encodeSignedNodeState (signed: SignedNodeState): Uint8Array {
  return concatBytes(signed.bytes, signed.signature)
}

/**
 * Decodes exactly one signed state that fills `bytes`. Hostile input throws
 * NodeStateDecodeError and nothing else. Does not verify the signature (the caller knows the
 * node's sign key: `verifyNodeState`). The result holds no view into `bytes`.
 */
export function decodeSignedNodeState (bytes: Uint8Array): SignedNodeState {
  if (!(bytes instanceof Uint8Array)) fail('input is not a Uint8Array')
  if (bytes.length > MAX_NODE_STATE_BYTES) fail(`${bytes.length} bytes, limit ${MAX_NODE_STATE_BYTES}`)
  const dec = new Decoder(bytes, fail)
  const state = readNodeState(dec)
  const body = new Uint8Array(bytes.subarray(0, dec.pos))
  const signature = new Uint8Array(readBytes(dec, SIGNATURE_BYTES))
  if (dec.pos !== bytes.length) fail(`${bytes.length - dec.pos} trailing bytes after node state`)
  return Object.freeze({ state, bytes: body, signature })
}

/**
 * Whether `a` supersedes `b` (two states of the same node): the higher incarnation wins. At
 * equal incarnation, identical bodies are the same state (false either way); different
 * bodies — the node restarted without its incarnation, or equivocates — are ordered by
 * signature bytes, then body bytes, so every node keeps the same one. A node that sees a
 * rival of its own state should re-sign with an incarnation above both.
 */
export function newer (a: SignedNodeState, b: SignedNodeState): boolean {
  if (a.state.incarnation !== b.state.incarnation) return a.state.incarnation > b.state.incarnation
  if (bytesEqual(a.bytes, b.bytes)) return false
  const c = compareBytes(a.signature, b.signature)
  return c !== 0 ? c > 0 : compareBytes(a.bytes, b.bytes) > 0
}
