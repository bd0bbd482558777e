/**
 * Members in wg key order, as `Replica.members()` lists them: by the key's base64 text
 * (`wg pubkey` form), compared without making that text.
 *
 * `base64Order` maps the first 8 base64 digits (48 bits) of a key to a number ordered as the
 * text is; keys tying on it compare by the text itself. A full sort packs that order and the
 * index into one float and sorts a Float64Array with no comparator; a few changes are placed
 * into a sorted list by binary search.
 */
import type { ViewEntry } from './view.js'

/** Orders keys (map keys) as their base64 text does: by `base64Order`, then by the text on a tie. */
export function byWgKey (oa: number, a: string, ob: number, b: string): number {
  if (oa !== ob) return oa - ob
  const x = Buffer.from(a, 'latin1').toString('base64')
  const y = Buffer.from(b, 'latin1').toString('base64')
  return x < y ? -1 : x > y ? 1 : 0
}

/** The first index in `entries` (sorted by wg key) whose key is not before map key `s`. */
export function lowerBound (entries: ViewEntry[], s: string): number {
  const os = base64Order(s)
  let lo = 0
  let hi = entries.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    const k = entries[mid].record.wgPublicKey.mapKey
    if (byWgKey(base64Order(k), k, os, s) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Sorts entries by wg key in place. Each entry's order and index are packed into one number,
 * `order` rounded down to its top (53 − b) bits then the b index bits, so a plain numeric sort
 * of a Float64Array (no comparator) does the work; runs that tie on the rounded order are then
 * put right with the full comparison.
 */
export function sortByWgKey (entries: ViewEntry[]): ViewEntry[] {
  const n = entries.length
  if (n < 2) return entries
  const bits = Math.max(1, Math.ceil(Math.log2(n)))
  const scale = 2 ** bits
  const drop = 2 ** Math.max(0, bits - 5)
  const packed = new Float64Array(n)
  for (let i = 0; i < n; i++) packed[i] = Math.floor(base64Order(entries[i].record.wgPublicKey.mapKey) / drop) * scale + i
  packed.sort()
  const copy = entries.slice()
  for (let i = 0; i < n; i++) entries[i] = copy[packed[i] % scale]
  // Ties on the rounded order (rare: keys alike in their first ~39 bits at 10,000 entries)
  // came out in index order: put them right.
  for (let i = 1; i < n; i++) {
    if (Math.floor(packed[i] / scale) !== Math.floor(packed[i - 1] / scale)) continue
    let j = i - 1
    while (j > 0 && Math.floor(packed[j - 1] / scale) === Math.floor(packed[i] / scale)) j--
    let k = i
    while (k + 1 < n && Math.floor(packed[k + 1] / scale) === Math.floor(packed[i] / scale)) k++
    const run = entries.slice(j, k + 1).sort((a, b) => byWgKey(base64Order(a.record.wgPublicKey.mapKey), a.record.wgPublicKey.mapKey, base64Order(b.record.wgPublicKey.mapKey), b.record.wgPublicKey.mapKey))
    for (let m = 0; m < run.length; m++) entries[j + m] = run[m]
    i = k
  }
  return entries
}

/**
 * The first 8 base64 digits of a key (48 bits) as a number ordered as the base64 text is
 * (ASCII: + / 0–9 A–Z a–z), so sorting by it sorts by `toBase64()` up to ties, which compare
 * the text itself.
 */
export function base64Order (s: string): number {
  const b0 = s.charCodeAt(0); const b1 = s.charCodeAt(1); const b2 = s.charCodeAt(2)
  const b3 = s.charCodeAt(3); const b4 = s.charCodeAt(4); const b5 = s.charCodeAt(5)
  const hi = r64(b0 >> 2) * 262144 + r64(((b0 & 3) << 4) | (b1 >> 4)) * 4096 + r64(((b1 & 15) << 2) | (b2 >> 6)) * 64 + r64(b2 & 63)
  const lo = r64(b3 >> 2) * 262144 + r64(((b3 & 3) << 4) | (b4 >> 4)) * 4096 + r64(((b4 & 15) << 2) | (b5 >> 6)) * 64 + r64(b5 & 63)
  return hi * 16777216 + lo
}

/** A base64 digit's rank in ASCII order of its character. */
function r64 (d: number): number { return d < 52 ? d + 12 : d < 62 ? d - 50 : d - 62 }

/**
 * The sorted `old` with the entries of the `changed` subjects (map keys, maybe repeated)
 * taken out and their current entries in `live` (if any) put in place.
 */
export function placeChanged (old: ViewEntry[], changed: string[], live: ReadonlyMap<string, ViewEntry>): ViewEntry[] {
  // Few changes: binary-search where each changed subject was and where its entry goes,
  // then copy the rest across in one pass, comparing nothing.
  const drop: number[] = []
  const insert: Array<{ at: number, e: ViewEntry }> = []
  for (const s of new Set(changed)) {
    const at = lowerBound(old, s)
    if (at < old.length && old[at].record.wgPublicKey.mapKey === s) drop.push(at)
    const e = live.get(s)
    if (e !== undefined) insert.push({ at, e })
  }
  drop.sort((a, b) => a - b)
  insert.sort((a, b) => a.at - b.at || byWgKey(base64Order(a.e.record.wgPublicKey.mapKey), a.e.record.wgPublicKey.mapKey, base64Order(b.e.record.wgPublicKey.mapKey), b.e.record.wgPublicKey.mapKey))
  const entries: ViewEntry[] = []
  let x = 0
  let j = 0
  for (let i = 0; i < old.length; i++) {
    while (j < insert.length && insert[j].at === i) entries.push(insert[j++].e)
    if (x < drop.length && drop[x] === i) { x++; continue }
    entries.push(old[i])
  }
  while (j < insert.length) entries.push(insert[j++].e)
  return entries
}
