/**
 * Binary encoder and decoder in the style of lib0's `encoding`: symmetric `writeX(enc, x)` /
 * `readX(dec)` pairs, unsigned LEB128 varints, and a decoder that never reads past its end.
 *
 * A decoder fails by calling the `fail` function it was made with, so each codec throws its
 * own typed error (`OpDecodeError`, `SyncDecodeError`, …) with the byte offset in the message.
 */

export class Encoder {
  buf: Uint8Array
  pos = 0
  constructor (initialBytes = 256) { this.buf = new Uint8Array(initialBytes) }

  ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  /** The bytes written so far (a copy, safe to keep). */
  finish (): Uint8Array { return this.buf.slice(0, this.pos) }
  /** The bytes written so far (a view that the next write may overwrite). */
  view (): Uint8Array { return this.buf.subarray(0, this.pos) }
  reset (): void { this.pos = 0 }
}

export function writeU8 (enc: Encoder, v: number): void {
  enc.ensure(1)
  enc.buf[enc.pos++] = v
}

/** Unsigned LEB128, for integers in [0, 2^53). */
export function writeVarUint (enc: Encoder, v: number): void {
  enc.ensure(8)
  while (v > 0x7f) {
    enc.buf[enc.pos++] = (v & 0x7f) | 0x80
    v = Math.floor(v / 128)
  }
  enc.buf[enc.pos++] = v
}

export function writeBytes (enc: Encoder, b: Uint8Array): void {
  enc.ensure(b.length)
  enc.buf.set(b, enc.pos)
  enc.pos += b.length
}

/** Varint length, then the bytes. */
export function writeVarBytes (enc: Encoder, b: Uint8Array): void {
  writeVarUint(enc, b.length)
  writeBytes(enc, b)
}

const utf8 = new TextEncoder()
// ignoreBOM: a leading U+FEFF is content, not a byte-order mark to strip (else two byte
// strings would decode to one value and an op would have two encodings).
const utf8d = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export function writeVarString (enc: Encoder, s: string): void {
  writeVarBytes(enc, utf8.encode(s))
}

export function varUintLength (v: number): number {
  let n = 1
  while (v > 0x7f) { v = Math.floor(v / 128); n++ }
  return n
}

export type Fail = (message: string) => never

export class Decoder {
  pos: number
  constructor (readonly buf: Uint8Array, readonly fail: Fail, start = 0, readonly end = buf.length) { this.pos = start }
  get remaining (): number { return this.end - this.pos }
}

export function readU8 (dec: Decoder): number {
  if (dec.pos >= dec.end) dec.fail(`truncated at byte ${dec.pos}`)
  return dec.buf[dec.pos++]
}

/** Reads an unsigned LEB128 of at most `maxBytes` bytes (≤ 8, so values stay below 2^53). */
export function readVarUint (dec: Decoder, maxBytes = 8): number {
  let v = 0
  let mul = 1
  for (let i = 0; i < maxBytes; i++) {
    if (dec.pos >= dec.end) dec.fail(`truncated at byte ${dec.pos}`)
    const b = dec.buf[dec.pos++]
    v += (b & 0x7f) * mul
    if (b < 0x80) {
      if (b === 0 && i > 0) dec.fail(`non-minimal varint at byte ${dec.pos - 1}`)
      return v
    }
    mul *= 128
  }
  return dec.fail(`varint longer than ${maxBytes} bytes at byte ${dec.pos}`)
}

/** `n` bytes as a view into the input (no copy). */
export function readBytes (dec: Decoder, n: number): Uint8Array {
  if (n > dec.end - dec.pos) dec.fail(`truncated at byte ${dec.pos}: need ${n} bytes, have ${dec.end - dec.pos}`)
  const out = dec.buf.subarray(dec.pos, dec.pos + n)
  dec.pos += n
  return out
}

export function readVarBytes (dec: Decoder, max: number): Uint8Array {
  const at = dec.pos
  const n = readVarUint(dec, 4)
  if (n > max) dec.fail(`field at byte ${at} is ${n} bytes, limit ${max}`)
  return readBytes(dec, n)
}

export function readVarString (dec: Decoder, maxBytes: number): string {
  const at = dec.pos
  const b = readVarBytes(dec, maxBytes)
  try {
    return utf8d.decode(b)
  } catch {
    return dec.fail(`invalid utf-8 at byte ${at}`)
  }
}

export function utf8Length (s: string): number { return utf8.encode(s).length }
