import { expect } from 'chai'
import { ManualClock } from '../../lib/clock.js'
import { generateWgKeyPair } from '../../lib/identity/wg-key.js'
import { SeededRandom } from '../../lib/random.js'
import {
  appendMac1, computeMac1, COOKIE_BYTES, CookieIssuer, mac1Key, MAC_BYTES, verifyCookie, verifyMac1
} from '../../lib/wire/cookie.js'

describe('wire cookie', () => {
  it('mac1 is keyed by the receiver key and covers every byte before it', () => {
    const r1 = generateWgKeyPair().publicKey
    const r2 = generateWgKeyPair().publicKey
    const body = new Uint8Array(120).map((_, i) => i)
    const p = appendMac1(mac1Key(r1), body)
    expect(p.length).to.equal(body.length + MAC_BYTES)
    expect([...p.subarray(body.length)]).to.deep.equal([...computeMac1(mac1Key(r1), body)])
    expect(verifyMac1(mac1Key(r1), p)).to.equal(true)
    expect(verifyMac1(mac1Key(r2), p)).to.equal(false)
    for (let i = 0; i < p.length; i++) {
      const q = p.slice()
      q[i] ^= 0x40
      expect(verifyMac1(mac1Key(r1), q), `byte ${i}`).to.equal(false)
    }
    expect(verifyMac1(mac1Key(r1), new Uint8Array(3))).to.equal(false)
  })

  it('round-trips a cookie for the same address and port only', () => {
    const clock = new ManualClock()
    const issuer = new CookieIssuer({ clock, random: new SeededRandom(7) })
    const c = issuer.makeCookie('192.0.2.10', 51820)
    expect(c.length).to.equal(COOKIE_BYTES)
    expect(issuer.verifyCookie(c, '192.0.2.10', 51820)).to.equal(true)
    expect(verifyCookie(issuer, c, '192.0.2.10', 51820)).to.equal(true)
    expect(issuer.verifyCookie(c, '192.0.2.11', 51820)).to.equal(false)
    expect(issuer.verifyCookie(c, '192.0.2.10', 51821)).to.equal(false)
    expect(issuer.verifyCookie(c.subarray(0, 15), '192.0.2.10', 51820)).to.equal(false)
    const other = new CookieIssuer({ clock, random: new SeededRandom(8) })
    expect(other.verifyCookie(c, '192.0.2.10', 51820), 'another node').to.equal(false)
    const forged = c.slice()
    forged[0] ^= 1
    expect(issuer.verifyCookie(forged, '192.0.2.10', 51820)).to.equal(false)
  })

  it('expires: valid through the next secret rotation, refused after the one after', () => {
    const clock = new ManualClock(1_700_000_080_000) // 40 s into a 120 s period
    const issuer = new CookieIssuer({ clock, random: new SeededRandom(9) })
    const c = issuer.makeCookie('2001:db8::1', 443)
    clock.advance(79_999)
    expect(issuer.verifyCookie(c, '2001:db8::1', 443), 'same period').to.equal(true)
    clock.advance(1)
    expect(issuer.verifyCookie(c, '2001:db8::1', 443), 'next period').to.equal(true)
    clock.advance(120_000)
    expect(issuer.verifyCookie(c, '2001:db8::1', 443), 'two periods on').to.equal(false)
    // A long silence skips periods: the old secret is not kept as "previous".
    const c2 = issuer.makeCookie('2001:db8::1', 443)
    clock.advance(600_000)
    expect(issuer.verifyCookie(c2, '2001:db8::1', 443)).to.equal(false)
  })
})
