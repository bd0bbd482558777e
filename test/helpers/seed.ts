/**
 * Seeds for randomised tests. `SEED=123 npm test -- --grep '…'` replays a run; without `SEED`
 * each run picks a fresh seed. `withSeed` prints the replay line when the body fails.
 */
import { randomBytes } from 'node:crypto'
import { SeededRandom } from '../../lib/random.js'

/** `SEED` from the environment (an unsigned 32-bit integer), else a fresh random one. */
export function testSeed (): number {
  const s = process.env.SEED
  if (s !== undefined && s !== '') {
    const n = Number(s)
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`SEED must be an integer in [0, 2^32), got ${JSON.stringify(s)}`)
    return n
  }
  return randomBytes(4).readUInt32LE(0)
}

/** Runs `body` with a seeded `Random`; on failure prints how to replay exactly this test. */
export async function withSeed<T> (ctx: Mocha.Context, body: (random: SeededRandom, seed: number) => T | Promise<T>): Promise<T> {
  const seed = testSeed()
  try {
    return await body(new SeededRandom(seed), seed)
  } catch (err) {
    const title = ctx.test?.fullTitle() ?? ''
    console.log(`      replay: SEED=${seed} npm test -- --grep '${title.replace(/'/g, "'\\''")}'`)
    throw err
  }
}
