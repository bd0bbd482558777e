/**
 * The native store's digest codec and the sorted items it summarises. The byte layout and the
 * reconciliation that uses it are described at the top of native.ts; this file holds the
 * symmetric pieces: `writeDigest` / `readDigest`, `writeList` / `readList`, `fingerprint`,
 * and the budgeted `Layout` a respond is written into.
 *
 * Strings stand for bytes throughout (one char per byte, as `Key.mapKey`), so keys compare
 * with `<` in byte order and slice without copies.
 */
import { createHash } from 'node:crypto'
import { SyncDecodeError } from '../../errors.js'
import { KEY_ID_BYTES } from '../../identity/key.js'
import { keyStringAt } from '../../util/bytes.js'
import { Decoder, Encoder, readBytes, readU8, readVarUint, writeBytes, writeU8, writeVarUint } from '../../util/encoding.js'
import type { LoggedOp } from '../log.js'
import { HASH_PREFIX_BYTES } from '../op.js'

/** The digest format's version, in the high nibble of its first byte. */
export const DIGEST_VERSION = 1
/** Bytes of a range fingerprint: 128 bits, so no member can grind two item sets onto one. */
export const FP_BYTES = 16
/** A range bound: class byte ‖ 8-byte key. */
export const BOUND_BYTES = 1 + KEY_ID_BYTES
/** Tips listed per key id at most; a key id with more is listed with its `more` bit set. */
export const MAX_KEY_TIPS = 8
/** Hops one exchange may take: the largest 4-bit hop count (sparse differences need 2 to 6). */
export const MAX_HOPS = 15
/** The most a fingerprint range can cost: bound ‖ mode ‖ varuint count (≤ 4 bytes) ‖ fingerprint. */
export const FP_RANGE_BYTES = BOUND_BYTES + 1 + 4 + FP_BYTES
/** Header byte ‖ varuint range count (≤ 3 bytes). */
export const HEADER_BYTES = 4

export const CLASS_CHAIN = '\x00'
export const CLASS_STANDALONE = '\x01'
/** The lowest standalone key: where the chain tips end. */
export const STANDALONE_START = CLASS_STANDALONE + '\x00'.repeat(KEY_ID_BYTES)

export const Mode = { skip: 0, fingerprint: 1, listAsk: 2, listFinal: 3 } as const
export type Mode = typeof Mode[keyof typeof Mode]

if (HASH_PREFIX_BYTES < KEY_ID_BYTES) throw new Error('a standalone key is the first 8 bytes of its id prefix')

/**
 * One summarised thing: a chain tip (class 0, keyed by its author's key id) or a standalone op
 * (class 1, keyed by its id's first 8 bytes). Sorted by (key, seq, id).
 */
export interface Item { key: string, seq: number, idKey: string, op: LoggedOp }

export function compareItems (a: Item, b: Item): number {
  if (a.key !== b.key) return a.key < b.key ? -1 : 1
  if (a.seq !== b.seq) return a.seq - b.seq
  return a.idKey < b.idKey ? -1 : a.idKey > b.idKey ? 1 : 0
}

/** The first index in `items` (sorted) whose key is ≥ `key`. */
export function lowerBound (items: readonly Item[], key: string): number {
  let lo = 0
  let hi = items.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (items[mid].key < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

function varChars (v: number): string {
  let s = ''
  while (v > 0x7f) { s += String.fromCharCode((v & 0x7f) | 0x80); v = Math.floor(v / 128) }
  return s + String.fromCharCode(v)
}

/** First FP_BYTES of SHA-256(domain ‖ varuint count ‖ per item: key ‖ varuint seq ‖ id). */
export function fingerprint (items: readonly Item[], i: number, j: number): Uint8Array {
  const h = createHash('sha256').update('wiremesh/digest/v1\0' + varChars(j - i), 'latin1')
  let chunk = ''
  for (let k = i; k < j; k++) {
    const it = items[k]
    chunk += it.key + varChars(it.seq) + it.idKey
    if (chunk.length > 8192) { h.update(chunk, 'latin1'); chunk = '' }
  }
  return new Uint8Array(h.update(chunk, 'latin1').digest().subarray(0, FP_BYTES))
}

/** Which of a range's items a list carries: all, or only those the remote list named. */
export interface ListFilter { keys: ReadonlySet<string>, standalone: ReadonlySet<string> }

/** Writes the list of `items[i … j)` (see native.ts), restricted to `only` if given. */
export function writeList (enc: Encoder, items: readonly Item[], i: number, j: number, only?: ListFilter): void {
  const s = Math.max(i, Math.min(j, lowerBound(items, STANDALONE_START)))
  const groups: Array<[number, number]> = []
  for (let k = i; k < s;) {
    let e = k + 1
    while (e < s && items[e].key === items[k].key) e++
    if (only === undefined || only.keys.has(items[k].key.slice(1))) groups.push([k, e])
    k = e
  }
  writeVarUint(enc, groups.length)
  for (const [a, b] of groups) {
    writeChars(enc, items[a].key, 1, BOUND_BYTES)
    const n = Math.min(b - a, MAX_KEY_TIPS)
    writeVarUint(enc, n * 2 + (b - a > n ? 1 : 0))
    // The highest tips when there are too many: they carry the most of the chain.
    for (let k = b - n; k < b; k++) {
      writeVarUint(enc, items[k].seq)
      writeChars(enc, items[k].idKey, 0, HASH_PREFIX_BYTES)
    }
  }
  let standalone = 0
  for (let k = s; k < j; k++) if (only === undefined || only.standalone.has(items[k].idKey.slice(0, HASH_PREFIX_BYTES))) standalone++
  writeVarUint(enc, standalone)
  for (let k = s; k < j; k++) {
    const prefix = items[k].idKey.slice(0, HASH_PREFIX_BYTES)
    if (only === undefined || only.standalone.has(prefix)) writeChars(enc, prefix, 0, HASH_PREFIX_BYTES)
  }
}

function writeChars (enc: Encoder, s: string, from: number, to: number): void {
  enc.ensure(to - from)
  for (let k = from; k < to; k++) enc.buf[enc.pos++] = s.charCodeAt(k)
}

export interface RemoteTip { seq: number, hash: string }
export interface RemoteGroup { tips: RemoteTip[], more: boolean }
export interface RemoteList {
  /** By key id (8 chars). */
  groups: Map<string, RemoteGroup>
  /** Standalone id prefixes (HASH_PREFIX_BYTES chars). */
  standalone: Set<string>
  /** The list's bytes, for comparing with ours. */
  raw: Uint8Array
}

export interface RemoteRange {
  /** Lower bound ('' for the lowest), upper bound (undefined for the highest). */
  lo: string
  hi: string | undefined
  mode: Mode
  count: number
  fp: Uint8Array | undefined
  list: RemoteList | undefined
}

export interface RemoteDigest { hop: number, ranges: RemoteRange[] }

function fail (message: string): never { throw new SyncDecodeError(`failed to decode native digest: ${message}`) }

const inRange = (key: string, lo: string, hi: string | undefined): boolean => key >= lo && (hi === undefined || key < hi)

function readList (dec: Decoder, lo: string, hi: string | undefined): RemoteList {
  const start = dec.pos
  const groups = new Map<string, RemoteGroup>()
  const g = readVarUint(dec, 4)
  if (g * (KEY_ID_BYTES + 1) > dec.remaining) fail(`${g} key ids claimed in ${dec.remaining} bytes at byte ${start}`)
  let lastKey = ''
  for (let k = 0; k < g; k++) {
    const at = dec.pos
    readBytes(dec, KEY_ID_BYTES)
    const keyId = keyStringAt(dec.buf, at, dec.pos)
    const key = CLASS_CHAIN + keyId
    if (key <= lastKey) fail(`key ids not ascending at byte ${at}`)
    if (!inRange(key, lo, hi)) fail(`key id at byte ${at} outside its range`)
    lastKey = key
    const v = readVarUint(dec, 1)
    const n = v >> 1
    if (n < 1 || n > MAX_KEY_TIPS) fail(`${n} tips for one key id at byte ${at}, limit 1 to ${MAX_KEY_TIPS}`)
    const tips: RemoteTip[] = []
    for (let t = 0; t < n; t++) {
      const seq = readVarUint(dec, 7)
      if (seq < 1) fail(`tip seq 0 at byte ${dec.pos - 1}`)
      readBytes(dec, HASH_PREFIX_BYTES)
      const hash = keyStringAt(dec.buf, dec.pos - HASH_PREFIX_BYTES, dec.pos)
      tips.push({ seq, hash })
    }
    groups.set(keyId, { tips, more: (v & 1) === 1 })
  }
  const at = dec.pos
  const s = readVarUint(dec, 4)
  if (s * HASH_PREFIX_BYTES > dec.remaining) fail(`${s} standalone ops claimed in ${dec.remaining} bytes at byte ${at}`)
  const standalone = new Set<string>()
  let last = ''
  for (let k = 0; k < s; k++) {
    const pAt = dec.pos
    readBytes(dec, HASH_PREFIX_BYTES)
    const p = keyStringAt(dec.buf, pAt, dec.pos)
    if (p < last) fail(`standalone ops not ascending at byte ${pAt}`)
    if (!inRange(CLASS_STANDALONE + p.slice(0, KEY_ID_BYTES), lo, hi)) fail(`standalone op at byte ${pAt} outside its range`)
    standalone.add(p)
    last = p
  }
  return { groups, standalone, raw: dec.buf.subarray(start, dec.pos) }
}

/** Parses a digest; anything else throws SyncDecodeError. */
export function readDigest (digest: Uint8Array): RemoteDigest {
  const dec = new Decoder(digest, fail)
  const head = readU8(dec)
  if (head >> 4 !== DIGEST_VERSION) fail(`version ${head >> 4}, expected ${DIGEST_VERSION}`)
  const hop = head & 15
  const r = readVarUint(dec, 3)
  if (r < 1 || r > dec.remaining) fail(`${r} ranges in ${dec.remaining} bytes`)
  const ranges: RemoteRange[] = []
  let lo = ''
  for (let k = 0; k < r; k++) {
    let hi: string | undefined
    if (k < r - 1) {
      const at = dec.pos
      readBytes(dec, BOUND_BYTES)
      hi = keyStringAt(dec.buf, at, dec.pos)
      if (hi.charCodeAt(0) > 1) fail(`unknown class ${hi.charCodeAt(0)} at byte ${at}`)
      if (hi <= lo) fail(`bounds not ascending at byte ${at}`)
    }
    const at = dec.pos
    const mode = readU8(dec)
    const range: RemoteRange = { lo, hi, mode: Mode.skip, count: 0, fp: undefined, list: undefined }
    if (mode === Mode.fingerprint) {
      range.count = readVarUint(dec, 4)
      if (range.count > 0) range.fp = readBytes(dec, FP_BYTES)
    } else if (mode === Mode.listAsk || mode === Mode.listFinal) {
      range.list = readList(dec, lo, hi)
    } else if (mode !== Mode.skip) {
      fail(`unknown range mode ${mode} at byte ${at}`)
    }
    range.mode = mode as Mode
    ranges.push(range)
    lo = hi ?? lo
  }
  if (dec.pos !== digest.length) fail(`${digest.length - dec.pos} trailing bytes`)
  return { hop, ranges }
}

/** One range of a digest we write: its upper bound (undefined: the highest) and mode and body. */
export interface Entry { hi: string | undefined, mode: Mode, body: Uint8Array | undefined }

/** Bytes an entry adds to a digest when it is not the last one. */
export function entryBytes (e: Entry): number { return BOUND_BYTES + 1 + (e.body?.length ?? 0) }

export function writeDigest (hop: number, entries: readonly Entry[]): Uint8Array {
  const enc = new Encoder(64)
  writeU8(enc, (DIGEST_VERSION << 4) | hop)
  writeVarUint(enc, entries.length)
  entries.forEach((e, k) => {
    if (k < entries.length - 1) writeChars(enc, e.hi!, 0, BOUND_BYTES)
    writeU8(enc, e.mode)
    if (e.body !== undefined) writeBytes(enc, e.body)
  })
  return enc.finish()
}

export function fingerprintBody (items: readonly Item[], i: number, j: number): Uint8Array {
  const enc = new Encoder(24)
  writeVarUint(enc, j - i)
  if (j > i) writeBytes(enc, fingerprint(items, i, j))
  return enc.finish()
}

export function listBody (items: readonly Item[], i: number, j: number, only?: ListFilter): Uint8Array {
  const enc = new Encoder(64)
  writeList(enc, items, i, j, only)
  return enc.finish()
}

export function skip (hi: string | undefined): Entry { return { hi, mode: Mode.skip, body: undefined } }

/**
 * The entries of a respond, within a budget that always keeps room for one folded fingerprint
 * range at the end (FP_RANGE_BYTES). Adjacent skips are one entry. Every entry is counted with
 * its bound, which the last one does not write.
 */
export class Layout {
  readonly entries: Entry[] = []
  private used = HEADER_BYTES
  constructor (private readonly budget: number) {}

  /** Bytes free for entries before the folded range's reserve. */
  room (): number { return this.budget - this.used - FP_RANGE_BYTES }

  skip (hi: string | undefined): boolean {
    const last = this.entries[this.entries.length - 1]
    if (last?.mode === Mode.skip) { last.hi = hi; return true }
    return this.push([skip(hi)])
  }

  push (es: Entry[]): boolean {
    const cost = es.reduce((a, e) => a + entryBytes(e), 0)
    if (cost > this.room()) return false
    this.entries.push(...es)
    this.used += cost
    return true
  }

  /** The last entry, from the end of the previous one to the end of the key space (fits: reserved). */
  last (e: Entry): void {
    const prev = this.entries[this.entries.length - 1]
    if (prev?.mode === Mode.skip && e.mode === Mode.skip) prev.hi = undefined
    else this.entries.push(e)
  }

  isEmpty (): boolean { return this.entries.every(e => e.mode === Mode.skip) }
}
