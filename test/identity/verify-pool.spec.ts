import { expect } from 'chai'
import { Ed25519Signer, verifySignature } from '../../lib/identity/sign.js'
import { VerifyPool } from '../../lib/identity/verify-pool.js'
import type { SignatureJob } from '../../lib/membership/verify.js'
import { withSeed } from '../helpers/seed.js'
import type { SeededRandom } from '../../lib/random.js'

/** n jobs over a few keys; some signatures bent, some cut short, some data altered. */
function jobs (random: SeededRandom, n: number): SignatureJob[] {
  const signers = Array.from({ length: 5 }, () => new Ed25519Signer(random.bytes(32)))
  const out: SignatureJob[] = []
  for (let i = 0; i < n; i++) {
    const s = signers[random.int(signers.length)]
    const data = random.bytes(1 + random.int(300))
    let sig = s.sign(data)
    const x = random.next()
    if (x < 0.1) {
      sig = sig.slice()
      sig[random.int(64)] ^= 1 << random.int(8)
    } else if (x < 0.15) {
      sig = sig.subarray(0, random.int(64))
    } else if (x < 0.2) {
      data[random.int(data.length)] ^= 1
    }
    out.push({ key: s.publicKey, data, sig })
  }
  return out
}

describe('VerifyPool', function () {
  this.timeout(30_000)
  let pool: VerifyPool
  beforeEach(() => { pool = new VerifyPool({ workers: 1, minBatch: 8 }) })
  afterEach(async () => { await pool.close() })

  it('gives the same answers as verifying inline, in job order, for any batch size', async function () {
    await withSeed(this, async (random) => {
      for (const n of [0, 1, 7, 8, 33, 150, 600]) {
        const js = jobs(random, n)
        expect(await pool.verifyBatch(js), `batch of ${n}`).to.deep.equal(js.map(j => verifySignature(j.key, j.data, j.sig)))
      }
    })
  })

  it('keeps concurrent batches apart', async function () {
    await withSeed(this, async (random) => {
      const batches = [jobs(random, 200), jobs(random, 90), jobs(random, 300)]
      const got = await Promise.all(batches.map(async b => await pool.verifyBatch(b)))
      got.forEach((g, i) => expect(g).to.deep.equal(batches[i].map(j => verifySignature(j.key, j.data, j.sig))))
    })
  })

  it('verifies inline once closed, and closing twice is fine', async function () {
    await withSeed(this, async (random) => {
      const js = jobs(random, 100)
      await pool.verifyBatch(js)
      await pool.close()
      await pool.close()
      expect(await pool.verifyBatch(js)).to.deep.equal(js.map(j => verifySignature(j.key, j.data, j.sig)))
    })
  })
})
