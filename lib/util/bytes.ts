/** Small byte helpers shared by every module. */
import { timingSafeEqual } from 'node:crypto'

export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Constant-time comparison for secrets and keys. */
export function constantTimeEqual (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Lexicographic order, for deterministic encodings and tie-breaks. */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.length - b.length
}

export function toBase64 (b: Uint8Array): string { return Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64') }
export function toHex (b: Uint8Array): string { return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex') }
/** A compact string map key for raw bytes (one char per byte). */
export function toKeyString (b: Uint8Array): string { return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1') }

export function concatBytes (...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}
