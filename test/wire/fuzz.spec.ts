import { expect } from 'chai'
import { ManualClock } from '../../lib/clock.js'
import { generateIdentity, type NodeIdentity } from '../../lib/identity/identity.js'
import { keyIdMapKey } from '../../lib/identity/key.js'
import { SeededRandom, type Random } from '../../lib/random.js'
import { bytesEqual } from '../../lib/util/bytes.js'
import { MessageType } from '../../lib/wire/header.js'
import { NullSealer } from '../../lib/wire/null-sealer.js'
import { DROP_REASONS, isDropped, Sealer, type KeyLookup, type PacketSealer } from '../../lib/wire/seal.js'
import { withSeed } from '../helpers/seed.js'

const ORG = new Uint8Array(16).fill(3)
const TYPES = Object.values(MessageType)

/** A hostile packet: random bytes, or a valid packet mutated, cut, extended or spliced. */
function hostile (random: Random, valid: Uint8Array[]): Uint8Array {
  const base = valid[random.int(valid.length)]
  const p = mutate(random, base)
  // Two xors on one byte can cancel out: never hand back an original.
  if (valid.some(v => bytesEqual(v, p))) p[p.length - 1] ^= 1
  return p
}

function mutate (random: Random, base: Uint8Array): Uint8Array {
  switch (random.int(6)) {
    case 0: return random.bytes(random.int(1500))
    case 1: { // valid header prefix, random rest
      const p = random.bytes(base.length)
      p.set(base.subarray(0, random.int(base.length)))
      return p
    }
    case 2: return base.slice(0, random.int(base.length))
    case 3: return Uint8Array.from([...base, ...random.bytes(1 + random.int(20))])
    default: { // 1–4 byte mutations, each a nonzero xor
      const p = base.slice()
      for (let k = 1 + random.int(4); k > 0; k--) p[random.int(p.length)] ^= 1 + random.int(255)
      return p
    }
  }
}

describe('wire fuzz', function () {
  this.timeout(120_000)
  let a: NodeIdentity
  let b: NodeIdentity

  before(async () => {
    a = await generateIdentity()
    b = await generateIdentity()
  })

  for (const kind of ['Sealer', 'NullSealer'] as const) {
    it(`${kind}.open never throws on 100,000 random and mutated packets (seeded)`, async function () {
      await withSeed(this, (random) => {
        const clock = new ManualClock()
        const make = (id: NodeIdentity, seed: number): PacketSealer => kind === 'Sealer'
          ? new Sealer({ identity: id, orgId: ORG, clock, random: new SeededRandom(seed) })
          : new NullSealer(id.wgPublicKey, { clock, random: new SeededRandom(seed) })
        const A = make(a, 1)
        const B = make(b, 2)
        const members = new Map([[a.wgPublicKey.idMapKey, a.wgPublicKey]])
        const lookup: KeyLookup = id => members.get(keyIdMapKey(id))
        const valid: Uint8Array[] = []
        for (let i = 0; i < 64; i++) valid.push(A.seal(b.wgPublicKey, TYPES[random.int(TYPES.length)], random.bytes(random.int(300))))
        const counts = new Map<string, number>()
        const n = 100_000
        for (let i = 0; i < n; i++) {
          const p = hostile(random, valid)
          let r
          try {
            r = B.open(p, lookup)
          } catch (err) {
            throw new Error(`open threw on packet ${i} (${Buffer.from(p).toString('hex')}): ${String(err)}`)
          }
          const reason = isDropped(r) ? r.drop : 'accepted'
          counts.set(reason, (counts.get(reason) ?? 0) + 1)
          if (kind === 'Sealer') expect(reason, `packet ${i} (${Buffer.from(p).toString('hex')})`).to.not.equal('accepted')
          else expect([...DROP_REASONS, 'accepted']).to.include(reason)
        }
        if (kind === 'Sealer') {
          expect(Object.values(B.drops).reduce((x, y) => x + y, 0)).to.equal(n)
          // The originals still open afterwards: nothing forged moved a window or an epoch.
          for (const p of valid) expect(isDropped(B.open(p, lookup))).to.equal(false)
        }
        console.log(`      ${kind}: ${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}`)
      })
    })
  }
})
