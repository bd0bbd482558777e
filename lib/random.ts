/**
 * Randomness, injected and seedable. Protocol code takes a `Random` so runs replay exactly;
 * key generation is the one place that uses the system CSPRNG directly (`node:crypto`).
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto'

export interface Random {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [0, n). */
  int(n: number): number
  /** `n` random bytes. */
  bytes(n: number): Uint8Array
}

/**
 * xoshiro128** seeded through splitmix32: fast, 2^128 − 1 period, and identical on every
 * platform, which is all a simulator needs. Not for keys.
 */
export class SeededRandom implements Random {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor (seed: number) {
    let x = seed >>> 0
    const split = (): number => {
      x = (x + 0x9e3779b9) >>> 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.s0 = split(); this.s1 = split(); this.s2 = split(); this.s3 = split()
  }

  private nextU32 (): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return r
  }

  next (): number { return this.nextU32() / 4294967296 }
  int (n: number): number { return Math.floor(this.next() * n) }
  bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i += 4) {
      let v = this.nextU32()
      for (let j = i; j < Math.min(n, i + 4); j++) { out[j] = v & 0xff; v >>>= 8 }
    }
    return out
  }
}

function rotl (x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0 }

/** The system CSPRNG behind the `Random` interface. */
export const systemRandom: Random = {
  next: () => cryptoRandomBytes(4).readUInt32LE(0) / 4294967296,
  int (n) { return Math.floor(this.next() * n) },
  bytes: (n) => new Uint8Array(cryptoRandomBytes(n))
}
