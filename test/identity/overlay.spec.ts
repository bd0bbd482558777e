import { createHash } from 'node:crypto'
import { isIPv6 } from 'node:net'
import { expect } from 'chai'
import {
  formatIpv6, formatPrefix, overlayAddress, overlayAddressBytes, randomUlaPrefix
} from '../../lib/identity/overlay.js'
import { Key } from '../../lib/identity/key.js'
import { generateWgKeyPair } from '../../lib/identity/wg-key.js'
import { expectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'

const PREFIX = Uint8Array.from([0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a])
const ORG = new Uint8Array(16).map((_, i) => i + 1)

/** Node's WHATWG URL parser as the reference RFC 5952 serialiser. */
function nodeCanonical (addr: string): string {
  return new URL(`http://[${addr}]/`).hostname.slice(1, -1)
}

/** Every group written out in full: the form the reference parses without guessing. */
function expanded (b: Uint8Array): string {
  const g: string[] = []
  for (let i = 0; i < 16; i += 2) g.push(((b[i] << 8) | b[i + 1]).toString(16).padStart(4, '0'))
  return g.join(':')
}

function groups (...gs: number[]): Uint8Array {
  const b = new Uint8Array(16)
  gs.forEach((g, i) => { b[2 * i] = g >> 8; b[2 * i + 1] = g & 0xff })
  return b
}

describe('overlay addresses', () => {
  it('is the org prefix then the first 80 bits of the domain-separated hash', () => {
    const key = generateWgKeyPair().publicKey
    const b = overlayAddressBytes(PREFIX, ORG, key)
    expect(b.length).to.equal(16)
    expect(b.subarray(0, 6)).to.deep.equal(PREFIX)
    const h = createHash('sha256').update('wiremesh/addr/v1').update(ORG).update(key.bytes).digest()
    expect(Buffer.from(b.subarray(6))).to.deep.equal(h.subarray(0, 10))
  })

  it('is deterministic and lies inside the org /48', () => {
    const key = Key.fromBase64(Buffer.alloc(32, 7).toString('base64'))
    const a = overlayAddress(PREFIX, ORG, key)
    expect(overlayAddress(PREFIX, ORG, Key.fromBytes(key.bytes.slice()))).to.equal(a)
    expect(isIPv6(a)).to.equal(true)
    expect(a.startsWith('fd12:3456:789a:')).to.equal(true)
  })

  it('differs between keys and between orgs', () => {
    const k1 = generateWgKeyPair().publicKey
    const k2 = generateWgKeyPair().publicKey
    const org2 = ORG.slice(); org2[0] ^= 1
    const a = overlayAddress(PREFIX, ORG, k1)
    expect(overlayAddress(PREFIX, ORG, k2)).not.to.equal(a)
    expect(overlayAddress(PREFIX, org2, k1)).not.to.equal(a)
  })

  it('rejects a prefix that is not 6 bytes', () => {
    const key = generateWgKeyPair().publicKey
    for (const n of [0, 5, 7, 16]) expectCode(() => overlayAddressBytes(new Uint8Array(n), ORG, key), 'WIREMESH_ERR_INVALID_CONFIG')
  })

  it('formats the /48 as CIDR', () => {
    expect(formatPrefix(PREFIX)).to.equal('fd12:3456:789a::/48')
  })

  it('makes RFC 4193 prefixes from the random source it is given', () => {
    const p = randomUlaPrefix(n => new Uint8Array(n).fill(0xab))
    expect(p).to.deep.equal(Uint8Array.from([0xfd, 0xab, 0xab, 0xab, 0xab, 0xab]))
  })
})

describe('formatIpv6', () => {
  const cases: Array<[Uint8Array, string]> = [
    [groups(), '::'],
    [groups(0, 0, 0, 0, 0, 0, 0, 1), '::1'],
    [groups(1), '1::'],
    [groups(1, 0, 2, 3, 4, 5, 6, 7), '1:0:2:3:4:5:6:7'],
    [groups(1, 0, 0, 2, 3, 0, 0, 4), '1::2:3:0:0:4'],
    [groups(1, 0, 0, 2, 0, 0, 0, 3), '1:0:0:2::3'],
    [groups(0xabcd, 0, 0, 0, 0, 0, 0, 1), 'abcd::1'],
    [groups(0xfd12, 0x3456, 0x789a, 0x0bcd, 0, 0, 0, 0x00f0), 'fd12:3456:789a:bcd::f0'],
    [groups(0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']
  ]
  for (const [b, want] of cases) {
    it(`formats ${expanded(b)} as ${want}, as node does`, () => {
      expect(formatIpv6(b)).to.equal(want)
      expect(nodeCanonical(expanded(b))).to.equal(want)
    })
  }

  it('agrees with node on random addresses rich in zero groups', async function () {
    await withSeed(this, (random) => {
      for (let n = 0; n < 5000; n++) {
        const b = new Uint8Array(16)
        for (let g = 0; g < 8; g++) {
          // Half the groups zero, some with a single non-zero nibble, to exercise run choice.
          const r = random.int(4)
          const v = r < 2 ? 0 : r === 2 ? 1 << (4 * random.int(4)) : random.int(0x10000)
          b[2 * g] = v >> 8; b[2 * g + 1] = v & 0xff
        }
        const got = formatIpv6(b)
        expect(got, expanded(b)).to.equal(nodeCanonical(expanded(b)))
        expect(isIPv6(got)).to.equal(true)
      }
    })
  })
})
