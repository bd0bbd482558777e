import { expect } from 'chai'
import { endpoint, endpointsEqual, formatEndpoint, parseEndpoint } from '../../lib/gossip/endpoint.js'
import { expectCode } from '../helpers/expect-code.js'

const INVALID = 'WIREMESH_ERR_INVALID_ENDPOINT'

describe('gossip/endpoint', () => {
  it('parses and formats IPv4, bracketed IPv6 and host names', () => {
    expect(parseEndpoint('192.0.2.7:7946')).to.deep.equal({ host: '192.0.2.7', port: 7946 })
    expect(parseEndpoint('[2001:db8::7]:7946')).to.deep.equal({ host: '2001:db8::7', port: 7946 })
    expect(parseEndpoint('[fe80::1%eth0]:1')).to.deep.equal({ host: 'fe80::1%eth0', port: 1 })
    expect(parseEndpoint('Lighthouse.Example.:65535')).to.deep.equal({ host: 'lighthouse.example', port: 65535 })
    for (const s of ['192.0.2.7:7946', '[2001:db8::7]:7946', '[::1]:1', 'a-b.example:80', '[fe80::1%eth0]:9']) {
      expect(formatEndpoint(parseEndpoint(s))).to.equal(s)
    }
  })

  it('normalises IPv6 spellings and IPv4-mapped addresses', () => {
    expect(parseEndpoint('[2001:DB8:0:0:0:0:0:7]:1').host).to.equal('2001:db8::7')
    expect(endpoint('::ffff:127.0.0.1', 5).host).to.equal('127.0.0.1')
    expect(endpoint('::FFFF:7f00:1', 5).host).to.equal('127.0.0.1')
    expect(endpointsEqual(parseEndpoint('[0:0:0:0:0:0:0:1]:9'), endpoint('::1', 9))).to.equal(true)
    expect(endpointsEqual(endpoint('::1', 9), endpoint('::1', 10))).to.equal(false)
  })

  it('rejects malformed endpoints with InvalidEndpointError', () => {
    const bad = [
      '', '192.0.2.7', '192.0.2.7:', '192.0.2.7:0', '192.0.2.7:65536', '192.0.2.7:-1', '192.0.2.7:7e3',
      '::1:7946', '[::1]7946', '[::1', '[192.0.2.7]:1', '[::1]:', '10.0.0.256:1', 'bad_host:1',
      '-x.example:1', `${'a'.repeat(64)}.example:1`, `${'a.'.repeat(200)}b:1`, '[fe80::1%a b]:1'
    ]
    for (const s of bad) expectCode(() => parseEndpoint(s), INVALID)
    expectCode(() => endpoint('127.0.0.1', 1.5), INVALID)
    expectCode(() => endpoint('', 1), INVALID)
    expectCode(() => parseEndpoint(42 as unknown as string), INVALID)
  })
})
