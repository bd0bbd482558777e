/**
 * A node's identity: the X25519 WireGuard keypair (its public key is the node's id) and the
 * Ed25519 signing key. Both are generated on the node and the private halves never leave it;
 * `identity-file.ts` stores them in the state dir with mode 0600.
 *
 * The private keys are kept out of `toJSON()` and `util.inspect()`, so logging an identity
 * by accident prints only public keys.
 */
import { constantTimeEqual, toBase64 } from '../util/bytes.js'
import type { Key } from './key.js'
import { Ed25519Signer } from './sign.js'
import { generateWgKeyPair, wgKeyPairFromPrivate } from './wg-key.js'

export class NodeIdentity {
  /** The WireGuard public key: the node's id. */
  readonly wgPublicKey: Key
  /** Signs this node's ops and conn_auth answers. */
  readonly signer: Ed25519Signer
  private readonly wgPrivate: Uint8Array

  /** `wgPrivateKey` is copied; the public key is derived from it as `wg pubkey` does. */
  constructor (wgPrivateKey: Uint8Array, signer: Ed25519Signer) {
    const pair = wgKeyPairFromPrivate(wgPrivateKey.slice())
    this.wgPrivate = pair.privateKey
    this.wgPublicKey = pair.publicKey
    this.signer = signer
  }

  /** Builds an identity from the two 32-byte private keys. */
  static fromPrivateKeys (wgPrivateKey: Uint8Array, signSeed: Uint8Array): NodeIdentity {
    return new NodeIdentity(wgPrivateKey, new Ed25519Signer(signSeed.slice()))
  }

  get signPublicKey (): Key { return this.signer.publicKey }

  /** A copy of the 32-byte WireGuard private key. */
  wgPrivateKey (): Uint8Array { return this.wgPrivate.slice() }

  /** The WireGuard private key exactly as `wg genkey` prints it (and `wg pubkey` reads it). */
  wgPrivateKeyBase64 (): string { return toBase64(this.wgPrivate) }

  /** A copy of the 32-byte Ed25519 seed. */
  signPrivateKey (): Uint8Array { return this.signer.seed.slice() }

  signPrivateKeyBase64 (): string { return toBase64(this.signer.seed) }

  /** True when both private keys are the same (constant-time). */
  equals (other: NodeIdentity): boolean {
    const wg = constantTimeEqual(this.wgPrivate, other.wgPrivate)
    const sign = constantTimeEqual(this.signer.seed, other.signer.seed)
    return wg && sign
  }

  toJSON (): { wgPublicKey: string, signPublicKey: string } {
    return { wgPublicKey: this.wgPublicKey.toBase64(), signPublicKey: this.signPublicKey.toBase64() }
  }

  [Symbol.for('nodejs.util.inspect.custom')] (): string {
    return `NodeIdentity { wgPublicKey: ${this.wgPublicKey.toBase64()}, signPublicKey: ${this.signPublicKey.toBase64()} }`
  }
}

/** A fresh identity from the system CSPRNG. */
export async function generateIdentity (): Promise<NodeIdentity> {
  const wg = generateWgKeyPair()
  const signer = await Ed25519Signer.generate()
  return new NodeIdentity(wg.privateKey, signer)
}
