/**
 * Proof of possession (DESIGN §2.1): an enroll's signing key comes with a signature made by
 * that key over
 *
 *   "wiremesh/pop/v1\0" ‖ orgId(16) ‖ wgPublicKey(32) ‖ signPublicKey(32)
 *
 * The joiner makes it with its own keys and hands it over with its public halves (the invite
 * flow's public identity); the admin copies it into the enroll. Without it, anyone able to get
 * an enroll signed could claim a signing key it does not hold: take another member's key, or
 * craft bytes whose key id matches an admin's. The org id binds the proof to one org, and the
 * wg key to one member record: a proof seen in one enroll cannot be replayed for another
 * subject or another org.
 *
 * The wg key is bound but not proven (an X25519 key cannot sign): what protects wg key ids
 * is the uniqueness rule in authority.ts.
 */
import type { Key } from '../identity/key.js'
import { verifySignature, type Signer } from '../identity/sign.js'
import { ORG_ID_BYTES, POP_BYTES } from './op.js'

const POP_DOMAIN = Buffer.from('wiremesh/pop/v1\0')

/** The bytes a proof of possession signs. */
export function popMessage (orgId: Uint8Array, wgPublicKey: Key, signPublicKey: Key): Uint8Array {
  if (orgId.length !== ORG_ID_BYTES) throw new RangeError(`orgId must be ${ORG_ID_BYTES} bytes`)
  // Written from the keys' strings: `key.bytes` would make and keep an array per key.
  const out = new Uint8Array(POP_DOMAIN.length + ORG_ID_BYTES + 64)
  out.set(POP_DOMAIN, 0)
  out.set(orgId, POP_DOMAIN.length)
  wgPublicKey.writeTo(out, POP_DOMAIN.length + ORG_ID_BYTES)
  signPublicKey.writeTo(out, POP_DOMAIN.length + ORG_ID_BYTES + 32)
  return out
}

/** The joiner's proof that it holds `signer`'s key, for its enroll with `wgPublicKey` in this org. */
export function proveKeys (signer: Signer, orgId: Uint8Array, wgPublicKey: Key): Uint8Array {
  return signer.sign(popMessage(orgId, wgPublicKey, signer.publicKey))
}

/** Whether `pop` proves possession of `signPublicKey` for this org and wg key. */
export function verifyPop (orgId: Uint8Array, wgPublicKey: Key, signPublicKey: Key, pop: Uint8Array): boolean {
  return pop.length === POP_BYTES && verifySignature(signPublicKey, popMessage(orgId, wgPublicKey, signPublicKey), pop)
}
