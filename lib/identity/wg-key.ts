/**
 * WireGuard (X25519) keys from `node:crypto`, in the exact form `wg genkey` / `wg pubkey`
 * print: 32 bytes, base64, the private key clamped (RFC 7748 §5) as `wg genkey` does.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, diffieHellman } from 'node:crypto'
import { InvalidKeyError } from '../errors.js'
import { Key } from './key.js'

export interface WgKeyPair { privateKey: Uint8Array, publicKey: Key }

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex')

/** Clamps a scalar in place, as `wg genkey` does. */
export function clampPrivateKey (k: Uint8Array): Uint8Array {
  k[0] &= 248
  k[31] = (k[31] & 127) | 64
  return k
}

export function generateWgKeyPair (): WgKeyPair {
  const { privateKey } = generateKeyPairSync('x25519')
  const d = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(16)
  return wgKeyPairFromPrivate(clampPrivateKey(new Uint8Array(d)))
}

/** The public key for a private key, as `wg pubkey` derives it. */
export function wgKeyPairFromPrivate (priv: Uint8Array): WgKeyPair {
  if (priv.length !== 32) throw new InvalidKeyError(`x25519 private key must be 32 bytes, got ${priv.length}`)
  const ko = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, priv]), format: 'der', type: 'pkcs8' })
  const pub = createPublicKey(ko).export({ format: 'der', type: 'spki' }).subarray(12)
  return { privateKey: priv, publicKey: Key.fromBytes(new Uint8Array(pub)) }
}

/** X25519(own private, peer public); throws on an all-zero result (a low-order peer key). */
export function x25519 (priv: Uint8Array, peer: Key): Uint8Array {
  const shared = diffieHellman({
    privateKey: createPrivateKey({ key: Buffer.concat([PKCS8_X25519, priv]), format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: Buffer.concat([SPKI_X25519, peer.bytes]), format: 'der', type: 'spki' })
  })
  if (shared.every(b => b === 0)) throw new InvalidKeyError('x25519 produced an all-zero shared secret')
  return new Uint8Array(shared)
}
