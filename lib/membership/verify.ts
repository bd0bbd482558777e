/**
 * Signature verification, done once per op and remembered process-wide.
 *
 * The cache maps an op id (SHA-256 of the signed bytes) to the signature that verified for
 * it; a hit needs the same signature too, so a copy of a genuine op with a mangled signature
 * is never taken for verified. Failures are not cached: a forged op costs its sender a verify
 * each time, which rate limits above this layer bound.
 */
import type { Key } from '../identity/key.js'
import { verifySignature } from '../identity/sign.js'
import { toKeyString } from '../util/bytes.js'

export interface SignatureJob {
  key: Key
  /** The signed bytes (owned by the job). */
  data: Uint8Array
  sig: Uint8Array
}

/** Verifies a batch; may spread it over worker threads. Results are in job order. */
export interface BatchVerifier {
  verifyBatch (jobs: SignatureJob[]): Promise<boolean[]>
}

const MAX_CACHE = 1_000_000
const verified = new Map<string, string>()

/** True if this op id was verified before with exactly this signature. */
export function isKnownVerified (idKey: string, sig: Uint8Array): boolean {
  return verified.get(idKey) === toKeyString(sig)
}

export function rememberVerified (idKey: string, sig: Uint8Array): void {
  if (verified.size >= MAX_CACHE) verified.clear()
  verified.set(idKey, toKeyString(sig))
}

/** For benchmarks: forget every verification, to measure a cold start. */
export function clearVerifyCache (): void { verified.clear() }

/** Verifies on the calling thread. */
export const inlineVerifier: BatchVerifier = {
  async verifyBatch (jobs) { return jobs.map(j => verifySignature(j.key, j.data, j.sig)) }
}
