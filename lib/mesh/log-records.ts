/**
 * The record framing of a state dir's op files (`ops.log`: a run of records; `genesis.bin`:
 * exactly one), see file-storage.ts:
 *
 *   offset  bytes  field
 *   0       4      n, the op's length: u32 big-endian, 1 ≤ n ≤ MAX_OP_BYTES
 *   4       4      crc32 (zlib's, IEEE) of the 4 length bytes then the n op bytes: u32 big-endian
 *   8       n      the op's wire bytes
 *
 * The crc covers the length as well, so a flipped length bit fails the check instead of
 * misframing everything after it. An op is never empty, so n = 0 marks zeros, not a record.
 *
 * Scanning tells a torn tail (what a crash can leave: cut it off) from corruption (what no
 * crash explains: refuse to load). A killed process leaves a prefix of its last write: a
 * header cut short, or a record running past the end of the file. A power cut can also leave
 * the file longer than the data written into it, the rest reading as zeros (XFS, ext4 with
 * delayed allocation). So a bad record is a torn tail when it runs to or past the end of the
 * file, or when only zero bytes follow it; a bad record followed by any other byte, an
 * impossible length (> MAX_OP_BYTES), or a zero length with non-zero bytes after it is
 * corruption.
 *
 * Not covered, deliberately: a filesystem that persists the pages of one unsynced write out
 * of order across a power cut (a hole of zeros, then good records) reads as corruption. The
 * alternative, treating the first bad record as the end of the log (as SQLite's WAL does),
 * would silently drop every op after a flipped bit in the middle; here a person is told.
 */
import { crc32 } from 'node:zlib'
import { MAX_OP_BYTES } from '../membership/op.js'

export const RECORD_HEADER_BYTES = 8

/** The bytes of one or more records, ready for one `write`. Ops are assumed checked (`checkOps`). */
export function encodeRecords (ops: readonly Uint8Array[]): Buffer {
  let total = 0
  for (const op of ops) total += RECORD_HEADER_BYTES + op.length
  const out = Buffer.allocUnsafe(total)
  let at = 0
  for (const op of ops) {
    out.writeUInt32BE(op.length, at)
    out.set(op, at + RECORD_HEADER_BYTES)
    out.writeUInt32BE(recordCrc(out.subarray(at, at + 4), op), at + 4)
    at += RECORD_HEADER_BYTES + op.length
  }
  return out
}

function recordCrc (lengthBytes: Uint8Array, op: Uint8Array): number {
  return crc32(op, crc32(lengthBytes))
}

export interface ScanResult {
  /** The ops of the valid prefix, as views into the scanned buffer (not copies). */
  ops: Uint8Array[]
  /** Where the valid prefix ends: the file's length once a torn tail is cut off. */
  validBytes: number
  /** Why the tail from `validBytes` on is torn, when there is one. */
  torn?: string
}

/** A record that no crash explains, at `offset`. */
export class RecordCorruption extends Error {
  constructor (readonly offset: number, readonly reason: string) { super(`${reason} at byte ${offset}`) }
}

/** Splits `buf` into ops; throws `RecordCorruption` (see the header for what counts). */
export function scanRecords (buf: Uint8Array): ScanResult {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const ops: Uint8Array[] = []
  let at = 0
  const torn = (reason: string): ScanResult => ({ ops, validBytes: at, torn: reason })
  while (at < buf.length) {
    if (buf.length - at < RECORD_HEADER_BYTES) return torn(`record header cut short (${buf.length - at} of ${RECORD_HEADER_BYTES} bytes)`)
    const n = view.getUint32(at)
    if (n === 0) {
      if (allZero(buf, at)) return torn('zero bytes')
      throw new RecordCorruption(at, 'record of length 0')
    }
    if (n > MAX_OP_BYTES) throw new RecordCorruption(at, `record of ${n} bytes, limit ${MAX_OP_BYTES}`)
    const end = at + RECORD_HEADER_BYTES + n
    if (end > buf.length) return torn(`record of ${n} bytes cut short (${buf.length - at - RECORD_HEADER_BYTES} present)`)
    const op = buf.subarray(at + RECORD_HEADER_BYTES, end)
    if (recordCrc(buf.subarray(at, at + 4), op) !== view.getUint32(at + 4)) {
      if (allZero(buf, end)) return torn(`record of ${n} bytes failing its checksum`)
      throw new RecordCorruption(at, `record of ${n} bytes failing its checksum, with more data after it`)
    }
    ops.push(op)
    at = end
  }
  return { ops, validBytes: at }
}

function allZero (buf: Uint8Array, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false
  return true
}
