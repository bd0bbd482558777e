/**
 * Signature verification, done once per op and remembered process-wide.
 *
 * The cache maps an op id (SHA-256 of the signed bytes) to the signature that verified for
 * it (see the table below); a hit needs the same signature too, so a copy of a genuine op with a mangled signature
 * is never taken for verified. Failures are not cached: a forged op costs its sender a verify
 * each time, which rate limits above this layer bound.
 */
import { toKeyString } from '../util/bytes.js'
import type { Key } from '../identity/key.js'
import { slotHashBytes, slotHashString } from '../util/slot-hash.js'
import { verifySignature } from '../identity/sign.js'

export interface SignatureJob {
  key: Key
  /** The signed bytes (owned by the job). */
  data: Uint8Array
  sig: Uint8Array
}

/** Verifies a batch; may spread it over worker threads. Results are in job order. */
export interface BatchVerifier {
  verifyBatch (jobs: SignatureJob[]): Promise<boolean[]>
}

const MAX_CACHE = 1_000_000
const ID_BYTES = 32
const SIG_BYTES = 64
const ENTRY_BYTES = ID_BYTES + SIG_BYTES

/**
 * The cache is an open-addressing hash table over typed arrays: no object per entry, nothing
 * for the garbage collector to trace. `entries` holds id ‖ signature back to back (96 bytes
 * each); `slots` maps a hash of the id to entry index + 1 (0: empty), linear probing, at most
 * half full. Ids are SHA-256 outputs an author can grind: slots come from `slotHashString`
 * (a keyed hash of the first 16 bytes), so colliding ids cannot be prepared offline.
 */
let entries = new Uint8Array(1024 * ENTRY_BYTES)
let count = 0
let slots = new Int32Array(2048)
function slotOf (idKey: string, mask: number): number {
  return slotHashString(idKey, 16) & mask
}

/** The entry index of an id, or −1. */
function find (idKey: string): number {
  if (idKey.length !== ID_BYTES) return -1
  const mask = slots.length - 1
  for (let i = slotOf(idKey, mask); ; i = (i + 1) & mask) {
    const e = slots[i]
    if (e === 0) return -1
    const at = (e - 1) * ENTRY_BYTES
    let same = true
    for (let j = 0; j < ID_BYTES; j++) if (entries[at + j] !== idKey.charCodeAt(j)) { same = false; break }
    if (same) return e - 1
  }
}

function insertSlot (idKey: string, entry: number): void {
  const mask = slots.length - 1
  let i = slotOf(idKey, mask)
  while (slots[i] !== 0) i = (i + 1) & mask
  slots[i] = entry + 1
}

/** True if this op id was verified before with exactly this signature. */
export function isKnownVerified (idKey: string, sig: Uint8Array): boolean {
  return sig.length === SIG_BYTES && isKnownVerifiedAt(idKey, sig, 0)
}

/** `isKnownVerified` for the signature at `buf[at … at + 64]`. */
export function isKnownVerifiedAt (idKey: string, buf: Uint8Array, at: number): boolean {
  if (at + SIG_BYTES > buf.length) return false
  const e = find(idKey)
  if (e < 0) return false
  const o = e * ENTRY_BYTES + ID_BYTES
  for (let i = 0; i < SIG_BYTES; i++) if (entries[o + i] !== buf[at + i]) return false
  return true
}

export function rememberVerified (idKey: string, sig: Uint8Array): void {
  if (sig.length === SIG_BYTES) rememberVerifiedAt(idKey, sig, 0)
}

/** `rememberVerified` for the signature at `buf[at … at + 64]`. */
export function rememberVerifiedAt (idKey: string, buf: Uint8Array, at: number): void {
  if (idKey.length !== ID_BYTES) return
  let e = find(idKey)
  if (e < 0) {
    if (count >= MAX_CACHE) clearVerifyCache()
    if ((count + 1) * ENTRY_BYTES > entries.length) {
      const next = new Uint8Array(entries.length * 2)
      next.set(entries.subarray(0, count * ENTRY_BYTES))
      entries = next
    }
    e = count++
    const o = e * ENTRY_BYTES
    for (let j = 0; j < ID_BYTES; j++) entries[o + j] = idKey.charCodeAt(j)
    if (count * 2 > slots.length) rehash(slots.length * 2)
    else insertSlot(idKey, e)
  }
  entries.set(buf.subarray(at, at + SIG_BYTES), e * ENTRY_BYTES + ID_BYTES)
}

function rehash (size: number): void {
  slots = new Int32Array(size)
  const mask = size - 1
  for (let e = 0; e < count; e++) {
    const o = e * ENTRY_BYTES
    let i = slotHashBytes(entries, o, 16) & mask
    while (slots[i] !== 0) i = (i + 1) & mask
    slots[i] = e + 1
  }
}

/** For benchmarks: forget every verification, to measure a cold start. */
export function clearVerifyCache (): void {
  entries = new Uint8Array(1024 * ENTRY_BYTES)
  slots = new Int32Array(2048)
  count = 0
}

const MAX_FAILED = 65_536
const failed = new Set<string>()

/**
 * Signatures that failed for an id, remembered so that a forged op parked and tried again
 * (against another prev candidate, say) never costs a second verify. Bounded: cleared whole
 * when full, which only costs verifies again.
 */
export function rememberFailed (idKey: string, sig: Uint8Array): void {
  if (failed.size >= MAX_FAILED) failed.clear()
  failed.add(idKey + toKeyString(sig))
}

export function isKnownFailed (idKey: string, sig: Uint8Array): boolean {
  return failed.size > 0 && failed.has(idKey + toKeyString(sig))
}

/** Verifies on the calling thread. */
export const inlineVerifier: BatchVerifier = {
  async verifyBatch (jobs) { return jobs.map(j => verifySignature(j.key, j.data, j.sig)) }
}
