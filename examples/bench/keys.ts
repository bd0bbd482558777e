/**
 * Deterministic member identities for the benchmarks, from a seeded RNG (not for real keys).
 *
 * Each member needs a WireGuard public key (derived with `lib/identity/wg-key.ts`) and an
 * Ed25519 signing public key (derived through `Ed25519Signer`). Both go through OpenSSL's
 * raw-key import, ~40 µs a key here, so 10,100 members take under a second.
 */
import type { Key } from '../../lib/identity/key.js'
import { Ed25519Signer } from '../../lib/identity/sign.js'
import { clampPrivateKey, wgKeyPairFromPrivate } from '../../lib/identity/wg-key.js'
import { SeededRandom } from '../../lib/random.js'

export interface BenchMember {
  wg: Key
  sign: Key
  /** The member's own signing key: it makes its proof of possession (pop.ts) before the admin enrolls it. */
  signer: Ed25519Signer
  name: string
}

export function benchRoot (seed: number): { wg: Key, signer: Ed25519Signer } {
  const random = new SeededRandom(seed ^ 0x5eed)
  return { wg: wgKeyPairFromPrivate(clampPrivateKey(random.bytes(32))).publicKey, signer: new Ed25519Signer(random.bytes(32)) }
}

export function benchMembers (n: number, seed: number, onProgress?: (done: number) => void): BenchMember[] {
  const random = new SeededRandom(seed)
  const out: BenchMember[] = []
  for (let i = 0; i < n; i++) {
    const wg = wgKeyPairFromPrivate(clampPrivateKey(random.bytes(32))).publicKey
    const signer = new Ed25519Signer(random.bytes(32))
    out.push({ wg, sign: signer.publicKey, signer, name: `node-${String(i).padStart(5, '0')}` })
    if (onProgress !== undefined && (i + 1) % 2000 === 0) onProgress(i + 1)
  }
  return out
}
