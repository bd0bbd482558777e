/**
 * `Key`: a 32-byte public key (X25519 for WireGuard, Ed25519 for signing). Raw strings never
 * cross module boundaries as keys; compare with `equals`, which is constant-time.
 *
 * The key id is the first 8 bytes of the key: what the wire carries once the full key is known.
 */
import { InvalidKeyError } from '../errors.js'
import { constantTimeEqual, toBase64, toKeyString } from '../util/bytes.js'

export const KEY_BYTES = 32
export const KEY_ID_BYTES = 8

export class Key {
  readonly bytes: Uint8Array
  private b64?: string
  private str?: string

  private constructor (bytes: Uint8Array) { this.bytes = bytes }

  /** Wraps 32 bytes (kept by reference: do not mutate them afterwards). */
  static fromBytes (bytes: Uint8Array): Key {
    if (!(bytes instanceof Uint8Array) || bytes.length !== KEY_BYTES) {
      throw new InvalidKeyError(`key must be ${KEY_BYTES} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`)
    }
    return new Key(bytes)
  }

  /** Parses base64 as `wg pubkey` prints it (44 characters, one `=`). */
  static fromBase64 (s: string): Key {
    if (typeof s !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(s)) {
      throw new InvalidKeyError(`key must be 44 characters of base64, got ${JSON.stringify(String(s).slice(0, 60))}`)
    }
    return new Key(new Uint8Array(Buffer.from(s, 'base64')))
  }

  toBase64 (): string { return (this.b64 ??= toBase64(this.bytes)) }
  toString (): string { return this.toBase64() }
  toJSON (): string { return this.toBase64() }

  /** A compact string (one char per byte) for use as a `Map` key. */
  get mapKey (): string { return (this.str ??= toKeyString(this.bytes)) }

  /** The first 8 bytes. */
  get id (): Uint8Array { return this.bytes.subarray(0, KEY_ID_BYTES) }

  equals (other: Key | undefined | null): boolean {
    return other != null && constantTimeEqual(this.bytes, other.bytes)
  }
}

/** The `Map` key of a key id (8 bytes). */
export function keyIdMapKey (id: Uint8Array): string { return toKeyString(id) }
