import { isIP } from 'node:net'
import { expect } from 'chai'
import {
  canonicalCidr, canonicalEndpoint, formatCidr, formatEndpoint, formatIp, parseCidr, parseEndpoint, parseIp
} from '../../lib/wireguard/cidr.js'
import { expectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'

const INVALID = 'WIREMESH_ERR_INVALID_CONFIG'

/** Node's WHATWG URL parser as the reference RFC 5952 serialiser. */
function nodeCanonical6 (addr: string): string {
  return new URL(`http://[${addr}]/`).hostname.slice(1, -1)
}

describe('wireguard/cidr', () => {
  it('parses and canonicalises IPv6 prefixes (RFC 5952)', () => {
    expect(canonicalCidr('FD12:3456:789A:0:0:0:0:1/128')).to.equal('fd12:3456:789a::1/128')
    expect(canonicalCidr('fd12:0000:0000:0001:0000:0000:0000:0000/64')).to.equal('fd12:0:0:1::/64')
    expect(canonicalCidr('::/0')).to.equal('::/0')
    expect(canonicalCidr('1:0:0:2:0:0:0:0/128')).to.equal('1:0:0:2::/128')
    expect(canonicalCidr('1:0:0:2:0:0:3:0/128')).to.equal('1::2:0:0:3:0/128')
    expect(canonicalCidr('1:2:3:4:5:6:7::/128')).to.equal('1:2:3:4:5:6:7:0/128')
    expect(canonicalCidr('::ffff:1.2.3.4/128')).to.equal('::ffff:102:304/128')
    expect(canonicalCidr('fd00::/48')).to.equal('fd00::/48')
  })

  it('parses IPv4 prefixes and gives bytes and family', () => {
    const c = parseCidr('10.1.0.0/16')
    expect(c.family).to.equal(4)
    expect([...c.bytes]).to.deep.equal([10, 1, 0, 0])
    expect(c.prefix).to.equal(16)
    expect(canonicalCidr('0.0.0.0/0')).to.equal('0.0.0.0/0')
    expect(canonicalCidr('255.255.255.255/32')).to.equal('255.255.255.255/32')
  })

  it('refuses host bits after the prefix instead of masking them as WireGuard would', () => {
    expectCode(() => parseCidr('10.1.2.3/8'), INVALID)
    expectCode(() => parseCidr('fd00::1/64'), INVALID)
    expectCode(() => parseCidr('fd00::/7'), INVALID) // fd = 1111 1101: bit 8 is set
    expect(canonicalCidr('fc00::/7')).to.equal('fc00::/7')
    expectCode(() => formatCidr({ family: 4, bytes: Uint8Array.from([10, 0, 0, 1]), prefix: 24 }), INVALID)
  })

  it('refuses malformed text with InvalidConfigError', () => {
    for (const bad of [
      '', '/', '10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/-1', '10.0.0/8', '10.0.0.0.0/8',
      '256.0.0.0/8', '01.0.0.0/8', '1.2.3.4 /32', ' 1.2.3.4/32', '1.2.3.4/32 ', '::/129', ':::/0', '1::2::3/128',
      '1:2:3:4:5:6:7:8:9/128', '1:2:3:4:5:6:7/128', '12345::/16', 'g::/16', 'fe80::1%eth0/128', '::1.2.3/128',
      '1.2.3.4::/128', '::ffff:1.2.3.4:5/128', '0x1.0.0.0/8', '1.2.3.4/3 2', 'a'.repeat(100)
    ]) expectCode(() => parseCidr(bad), INVALID)
  })

  it('formats addresses and checks their length', () => {
    expect(formatIp(parseIp('192.168.0.1'))).to.equal('192.168.0.1')
    expect(formatIp({ family: 6, bytes: new Uint8Array(16) })).to.equal('::')
    expectCode(() => formatIp({ family: 6, bytes: new Uint8Array(4) }), INVALID)
    expectCode(() => formatCidr({ family: 4, bytes: new Uint8Array(4), prefix: 33 }), INVALID)
  })

  it('agrees with node on random IPv6 text, full and compressed, upper and lower case', async function () {
    await withSeed(this, random => {
      for (let n = 0; n < 5000; n++) {
        const b = random.bytes(16)
        // Runs of zeros, so that `::` compression and its tie-break are exercised.
        for (let i = 0; i < 16; i += 2) if (random.int(3) === 0) { b[i] = 0; b[i + 1] = 0 }
        const full = []
        for (let i = 0; i < 16; i += 2) full.push(((b[i] << 8) | b[i + 1]).toString(16))
        const text = random.int(2) === 0 ? full.join(':').toUpperCase() : nodeCanonical6(full.join(':'))
        const prefix = random.int(129)
        // Mask to the prefix so the text is a valid network.
        for (let bit = prefix; bit < 128; bit++) b[bit >> 3] &= ~(0x80 >> (bit & 7))
        const masked = []
        for (let i = 0; i < 16; i += 2) masked.push(((b[i] << 8) | b[i + 1]).toString(16))
        const want = `${nodeCanonical6(masked.join(':'))}/${prefix}`
        expect(canonicalCidr(`${masked.join(':')}/${prefix}`)).to.equal(want)
        expect(formatIp(parseIp(text))).to.equal(nodeCanonical6(full.join(':')))
        expect([...parseCidr(want).bytes]).to.deep.equal([...b])
      }
    })
  })

  it('accepts exactly what node accepts as an IP literal (random mutations)', async function () {
    const alphabet = '0123456789abcdefABCDEF:.:::..x/% '
    await withSeed(this, random => {
      const seeds = ['1.2.3.4', '::', 'fd00::1', '1:2:3:4:5:6:7:8', '::ffff:10.0.0.1', '255.0.0.255', '1::8']
      for (let n = 0; n < 20000; n++) {
        let s = seeds[random.int(seeds.length)]
        for (let k = random.int(4); k >= 0; k--) {
          const at = random.int(s.length + 1)
          const op = random.int(3)
          const ch = alphabet[random.int(alphabet.length)]
          s = op === 0 ? s.slice(0, at) + ch + s.slice(at) : op === 1 ? s.slice(0, at) + s.slice(at + 1) : s.slice(0, at) + ch + s.slice(at + 1)
        }
        let ours = 0
        try {
          ours = parseIp(s).family
        } catch (err) {
          expect((err as { code?: string }).code).to.equal(INVALID)
        }
        // Node accepts zones (`%eth0`) in isIP; we do not in a prefix.
        const theirs = s.includes('%') ? 0 : isIP(s)
        expect(ours, JSON.stringify(s)).to.equal(theirs)
      }
    })
  })

  it('parses and formats endpoints, IPv6 in brackets, zone kept', () => {
    expect(parseEndpoint('10.0.0.1:51820')).to.deep.equal({ host: '10.0.0.1', port: 51820 })
    expect(parseEndpoint('[FD00:0::1]:1')).to.deep.equal({ host: 'fd00::1', port: 1 })
    expect(parseEndpoint('[fe80::1%eth0]:51820')).to.deep.equal({ host: 'fe80::1%eth0', port: 51820 })
    expect(formatEndpoint({ host: 'fd00:0:0::1', port: 443 })).to.equal('[fd00::1]:443')
    expect(formatEndpoint({ host: '192.0.2.1', port: 0 })).to.equal('192.0.2.1:0')
    expect(canonicalEndpoint({ host: 'FE80::0:1%wg0', port: 7 })).to.deep.equal({ host: 'fe80::1%wg0', port: 7 })
    for (const bad of [
      '', '10.0.0.1', '10.0.0.1:', '10.0.0.1:65536', '10.0.0.1:051820', 'fd00::1:51820', '[fd00::1]', '[fd00::1]51820',
      '[10.0.0.1]:1', 'example.com:51820', '[fe80::1%]:1', '[fe80::1%a b]:1', '[fd00::1]:1:2', '1.2.3.4:1 '
    ]) expectCode(() => parseEndpoint(bad), INVALID)
    expectCode(() => formatEndpoint({ host: 'example.com', port: 1 }), INVALID)
    expectCode(() => formatEndpoint({ host: '10.0.0.1', port: 70000 }), INVALID)
  })
})
