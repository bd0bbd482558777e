/** fast-check with the suite's seed: `SEED=… npm test -- --grep '…'` replays a failure. */
import fc from 'fast-check'
import { testSeed } from './seed.js'

export const RUNS = Number(process.env.PROP_RUNS ?? 500)

/** fc.assert with our seed; prints the replay line on failure. */
export async function check (ctx: Mocha.Context, prop: fc.IAsyncProperty<any> | fc.IProperty<any>, runs = RUNS): Promise<void> {
  const seed = testSeed()
  try {
    await fc.assert(prop as fc.IAsyncProperty<any>, { seed, numRuns: runs })
  } catch (err) {
    console.log(`      replay: SEED=${seed} npm test -- --grep '${ctx.test?.fullTitle().replace(/'/g, "'\\''") ?? ''}'`)
    throw err
  }
}

