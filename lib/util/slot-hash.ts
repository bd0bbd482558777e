/**
 * Slot hashes for the open-addressing tables that keep per-op state off the JS heap (the
 * verify cache, the overlay-address table). Keys there are hashes an author can grind, so a
 * table indexed by their first bytes could be flooded with collisions prepared offline. The
 * slot is instead a keyed sum over the first 16 bytes, with per-process random multipliers:
 * inputs that collide for every key need equal words, i.e. a 2^64-work grind of a 16-byte
 * prefix (10 bytes, 2^40 × 2^40, for overlay addresses, which are only 80 bits).
 */
import { randomBytes } from 'node:crypto'

const K = Array.from({ length: 4 }, () => (randomBytes(4).readUInt32LE(0) | 1) >>> 0)

/** Slot hash of bytes `b[at … at + n]` (n ≤ 16; missing bytes count as 0). */
export function slotHashBytes (b: ArrayLike<number>, at: number, n: number): number {
  let h = 0
  for (let w = 0; w < 4 && w * 4 < n; w++) {
    let x = 0
    for (let j = 0; j < 4; j++) x = (x << 8) | (w * 4 + j < n ? b[at + w * 4 + j] : 0)
    h = (h + Math.imul(x >>> 0, K[w])) >>> 0
  }
  return (h ^ (h >>> 15)) >>> 0
}

/** The same over a string of byte-valued chars (a map key made by `toKeyString`). */
export function slotHashString (s: string, n: number): number {
  let h = 0
  for (let w = 0; w < 4 && w * 4 < n; w++) {
    let x = 0
    for (let j = 0; j < 4; j++) x = (x << 8) | (w * 4 + j < n ? s.charCodeAt(w * 4 + j) : 0)
    h = (h + Math.imul(x >>> 0, K[w])) >>> 0
  }
  return (h ^ (h >>> 15)) >>> 0
}
