/**
 * WireGuard (X25519) keys from `node:crypto`, in the exact form `wg genkey` / `wg pubkey`
 * print: 32 bytes, base64, the private key clamped (RFC 7748 §5) as `wg genkey` does.
 */
import { generateKeyPairSync, diffieHellman, type KeyObject } from 'node:crypto'
import { InvalidKeyError } from '../errors.js'
import { Key } from './key.js'
import { exportRawPublicKey, importPrivateKey, publicKeyObject } from './sign.js'

export interface WgKeyPair { privateKey: Uint8Array, publicKey: Key }

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex')

/** Clamps a scalar in place, as `wg genkey` does. */
export function clampPrivateKey (k: Uint8Array): Uint8Array {
  k[0] &= 248
  k[31] = (k[31] & 127) | 64
  return k
}

export function generateWgKeyPair (): WgKeyPair {
  const { privateKey } = generateKeyPairSync('x25519')
  const d = privateKey.export({ format: 'jwk' }).d
  if (typeof d !== 'string') throw new InvalidKeyError('x25519 key generation returned no private key')
  return wgKeyPairFromPrivate(clampPrivateKey(new Uint8Array(Buffer.from(d, 'base64url'))))
}

/** The public key for a private key, as `wg pubkey` derives it. */
export function wgKeyPairFromPrivate (priv: Uint8Array): WgKeyPair {
  if (priv.length !== 32) throw new InvalidKeyError(`x25519 private key must be 32 bytes, got ${priv.length}`)
  return { privateKey: priv, publicKey: Key.fromBytes(exportRawPublicKey(importPrivateKey('X25519', PKCS8_X25519, priv))) }
}

/** The `KeyObject` of a raw X25519 private key: import it once to call `x25519` often. */
export function x25519PrivateKeyObject (priv: Uint8Array): KeyObject {
  if (priv.length !== 32) throw new InvalidKeyError(`x25519 private key must be 32 bytes, got ${priv.length}`)
  return importPrivateKey('X25519', PKCS8_X25519, priv)
}

/**
 * X25519(own private, peer public); throws on an all-zero result (a low-order peer key).
 * Pass the private key as a KeyObject (`x25519PrivateKeyObject`) when calling it in a loop:
 * importing it costs more than the exchange itself.
 */
export function x25519 (priv: Uint8Array | KeyObject, peer: Key): Uint8Array {
  let shared: Buffer
  try {
    shared = diffieHellman({
      privateKey: priv instanceof Uint8Array ? x25519PrivateKeyObject(priv) : priv,
      publicKey: publicKeyObject(peer, 'X25519')
    })
  } catch (err) {
    // OpenSSL refuses a low-order peer key itself, before we see the all-zero result.
    throw new InvalidKeyError('x25519 failed: the peer key is of low order or malformed', { cause: err })
  }
  if (shared.every(b => b === 0)) throw new InvalidKeyError('x25519 produced an all-zero shared secret')
  return new Uint8Array(shared)
}
