/**
 * `Key`: a 32-byte public key (X25519 for WireGuard, Ed25519 for signing). Raw strings never
 * cross module boundaries as keys; compare with `equals`, which is constant-time.
 *
 * The key id is the first 8 bytes of the key: what the wire carries once the full key is known.
 */
import { InvalidKeyError } from '../errors.js'
import { fromKeyString, keyStringAt, toKeyString } from '../util/bytes.js'

export const KEY_BYTES = 32
export const KEY_ID_BYTES = 8

/**
 * The bytes of keys that have them (made from bytes, or asked for): kept aside, so that a key
 * decoded off the wire is one object with one field (10,000 members hold 20,000 keys).
 */
const rawBytes = new WeakMap<Key, Uint8Array>()

export class Key {
  /** One char per byte: the map key. */
  private readonly str: string

  private constructor (str: string, bytes: Uint8Array | undefined) {
    this.str = str
    if (bytes !== undefined) rawBytes.set(this, bytes)
  }

  /** Wraps 32 bytes (kept by reference: do not mutate them afterwards). */
  static fromBytes (bytes: Uint8Array): Key {
    if (!(bytes instanceof Uint8Array) || bytes.length !== KEY_BYTES) {
      throw new InvalidKeyError(`key must be ${KEY_BYTES} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`)
    }
    return new Key(toKeyString(bytes), bytes)
  }

  /**
   * The key in `buf[offset … offset + 32]`, copied out (for decoders: no view into `buf` is
   * kept, and the bytes are made only if asked for).
   */
  static fromBytesAt (buf: Uint8Array, offset: number): Key {
    if (!(offset >= 0 && offset + KEY_BYTES <= buf.length)) throw new InvalidKeyError(`key must be ${KEY_BYTES} bytes, got ${Math.max(0, buf.length - offset)}`)
    return new Key(keyStringAt(buf, offset, offset + KEY_BYTES), undefined)
  }

  /** Parses base64 as `wg pubkey` prints it (44 characters, one `=`). */
  static fromBase64 (s: string): Key {
    if (typeof s !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(s)) {
      throw new InvalidKeyError(`key must be 44 characters of base64, got ${JSON.stringify(String(s).slice(0, 60))}`)
    }
    return Key.fromBytes(new Uint8Array(Buffer.from(s, 'base64')))
  }

  /** The 32 bytes (do not mutate them). */
  get bytes (): Uint8Array {
    let b = rawBytes.get(this)
    if (b === undefined) { b = fromKeyString(this.str); rawBytes.set(this, b) }
    return b
  }

  /**
   * Writes the 32 bytes into `buf` at `at`, without making (and keeping) a byte array: for
   * keys used once, such as an enrolled signing key checked for its proof of possession.
   */
  writeTo (buf: Uint8Array, at: number): void {
    const s = this.str
    for (let i = 0; i < KEY_BYTES; i++) buf[at + i] = s.charCodeAt(i)
  }

  toBase64 (): string { return Buffer.from(this.str, 'latin1').toString('base64') }
  toString (): string { return this.toBase64() }
  toJSON (): string { return this.toBase64() }

  /** A compact string (one char per byte) for use as a `Map` key. */
  get mapKey (): string { return this.str }

  /** The first 8 bytes. */
  get id (): Uint8Array { return this.bytes.subarray(0, KEY_ID_BYTES) }

  /** `keyIdMapKey(this.id)`, without the view. */
  get idMapKey (): string { return this.str.slice(0, KEY_ID_BYTES) }

  /** Constant-time in the key bytes. */
  equals (other: Key | undefined | null): boolean {
    if (other == null) return false
    const a = this.str
    const b = other.str
    let diff = a.length ^ b.length
    for (let i = 0; i < KEY_BYTES; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
    return diff === 0
  }
}

/** The `Map` key of a key id (8 bytes). */
export function keyIdMapKey (id: Uint8Array): string { return toKeyString(id) }
