import { expect } from 'chai'
import { WireGuardProtocolError } from '../../lib/errors.js'
import { Key } from '../../lib/identity/key.js'
import { generateWgKeyPair } from '../../lib/identity/wg-key.js'
import { checkChange } from '../../lib/wireguard/change.js'
import { encodeSetRequest, parseGetReply, parseSetReply } from '../../lib/wireguard/uapi-codec.js'
import { expectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'
import { expectWellFormed, getReplyText, mutate, randomDevice } from './gen.js'

const PROTO = 'WIREMESH_ERR_WIREGUARD_PROTOCOL'
const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 100_000)
const H = (c: string): string => c.repeat(64)

/** The reply wireguard-go 0.0.20220316 gave for a device with two peers (captured on this machine). */
const CAPTURED = [
  'private_key=6825f896c9a4f97e2d11d6d19ca6287d9808f18f18fc1e707b22dbb6c7c1e361',
  'listen_port=51999',
  'public_key=8790bb3b0769eba871c423b18402e5d95ed8a6410721262beacfe5b87d043e6b',
  'preshared_key=0000000000000000000000000000000000000000000000000000000000000000',
  'protocol_version=1',
  'endpoint=[fe80::1]:5',
  'last_handshake_time_sec=0',
  'last_handshake_time_nsec=0',
  'tx_bytes=0',
  'rx_bytes=0',
  'persistent_keepalive_interval=25',
  'allowed_ip=10.0.0.0/24',
  'allowed_ip=fd00::1/128',
  'public_key=d163c2afa8cbf8b277ad7532a38b0037fb1dfd9156f10ac0218be579df4e551d',
  'preshared_key=7ffdfccbba81596cda68035476f7845d3da157624b6b3766564469abf653d4b9',
  'protocol_version=1',
  'endpoint=1.2.3.4:9',
  'last_handshake_time_sec=1700000000',
  'last_handshake_time_nsec=123456789',
  'tx_bytes=7',
  'rx_bytes=8',
  'persistent_keepalive_interval=0',
  'errno=0', '', ''
].join('\n')

describe('wireguard/uapi-codec', () => {
  it('parses a captured wireguard-go reply', () => {
    const { errno, device } = parseGetReply(CAPTURED)
    expect(errno).to.equal(0)
    // `wg show` printed this public key for that private key.
    expect(device.publicKey?.toBase64()).to.equal('pCpzUFVnLSg7d4A51EbkU1dOUOjAfdYTSHfABBATWGg=')
    expect(device.listenPort).to.equal(51999)
    expect(device.fwmark).to.equal(0)
    expect(device.peers).to.have.length(2)
    const [a, b] = device.peers
    expect(a.publicKey.toBase64()).to.equal('h5C7Owdp66hxxCOxhALl2V7YpkEHISYr6s/luH0EPms=')
    expect(a.hasPresharedKey).to.equal(false)
    expect(a.endpoint).to.deep.equal({ host: 'fe80::1', port: 5 })
    expect(a.allowedIps).to.deep.equal(['10.0.0.0/24', 'fd00::1/128'])
    expect(a.persistentKeepaliveS).to.equal(25)
    expect(a.lastHandshakeMs).to.equal(0)
    expect(b.hasPresharedKey).to.equal(true)
    expect(b.endpoint).to.deep.equal({ host: '1.2.3.4', port: 9 })
    expect(b.lastHandshakeMs).to.equal(1_700_000_000_123)
    expect([b.txBytes, b.rxBytes]).to.deep.equal([7, 8])
    expect(b.allowedIps).to.deep.equal([])
  })

  it('gives the errno as a positive number, and an empty device', () => {
    expect(parseGetReply('errno=-22\n\n').errno).to.equal(22)
    expect(parseGetReply('errno=0\n\n').device).to.deep.equal({ publicKey: undefined, listenPort: 0, fwmark: 0, peers: [] })
    expect(parseSetReply('errno=0\n\n')).to.equal(0)
    expect(parseSetReply('errno=-95\n\n')).to.equal(95)
  })

  it('ignores unknown keys wherever they are', () => {
    const r = parseGetReply(`new_thing=1\nlisten_port=1\npublic_key=${H('a')}\nfuture_key=x=y\nallowed_ip=::/0\nerrno=0\n\n`)
    expect(r.device.listenPort).to.equal(1)
    expect(r.device.peers[0].allowedIps).to.deep.equal(['::/0'])
  })

  it('canonicalises allowed IPs and endpoints from the device', () => {
    const r = parseGetReply(`public_key=${H('A')}\nendpoint=[FD00:0::1]:7\nallowed_ip=FD00:0:0::/48\nerrno=0\n\n`)
    expect(r.device.peers[0].allowedIps).to.deep.equal(['fd00::/48'])
    expect(r.device.peers[0].endpoint).to.deep.equal({ host: 'fd00::1', port: 7 })
  })

  it('refuses each kind of malformed reply with the line number', () => {
    const cases: Array<[string, number]> = [
      ['', 1],
      ['errno=0\n', 2],
      ['errno=0', 1],
      ['errno=0\n\nx', 3],
      ['\n\n', 1],
      ['listen_port=1\n\n', 2],
      ['listen_port=1\n\nerrno=0\n\n', 2],
      ['errno=0\nlisten_port=1\n\n', 2],
      ['listen_port=65536\nerrno=0\n\n', 1],
      ['listen_port=01\nerrno=0\n\n', 1],
      ['listen_port=-1\nerrno=0\n\n', 1],
      ['listen_port=1\nlisten_port=2\nerrno=0\n\n', 2],
      ['fwmark=4294967296\nerrno=0\n\n', 1],
      ['private_key=abc\nerrno=0\n\n', 1],
      [`public_key=${H('g')}\nerrno=0\n\n`, 1],
      [`public_key=${H('a')}a\nerrno=0\n\n`, 1],
      ['endpoint=1.2.3.4:5\nerrno=0\n\n', 1],
      ['allowed_ip=::/0\nerrno=0\n\n', 1],
      [`public_key=${H('a')}\nlisten_port=1\nerrno=0\n\n`, 2],
      [`public_key=${H('a')}\nendpoint=host.example:1\nerrno=0\n\n`, 2],
      [`public_key=${H('a')}\nendpoint=1.2.3.4:1\nendpoint=1.2.3.4:2\nerrno=0\n\n`, 3],
      [`public_key=${H('a')}\nallowed_ip=10.0.0.1/8\nerrno=0\n\n`, 2],
      [`public_key=${H('a')}\nallowed_ip=::/0\nallowed_ip=::/0\nerrno=0\n\n`, 3],
      [`public_key=${H('a')}\npublic_key=${H('a')}\nerrno=0\n\n`, 2],
      [`public_key=${H('a')}\nprotocol_version=2\nerrno=0\n\n`, 2],
      [`public_key=${H('a')}\nlast_handshake_time_nsec=1000000000\nerrno=0\n\n`, 2],
      [`public_key=${H('a')}\npersistent_keepalive_interval=65536\nerrno=0\n\n`, 2],
      [`public_key=${H('a')}\nrx_bytes=9007199254740992\nerrno=0\n\n`, 2],
      [`public_key=${H('a')}\npreshared_key=${H('0')}0\nerrno=0\n\n`, 2],
      ['=1\nerrno=0\n\n', 1],
      ['Listen_port=1\nerrno=0\n\n', 1],
      ['noequals\nerrno=0\n\n', 1],
      ['errno=x\n\n', 1],
      ['errno=0\nerrno=0\n\n', 2]
    ]
    for (const [text, at] of cases) {
      const err = expectCode(() => parseGetReply(text), PROTO) as WireGuardProtocolError
      expect(err.at, JSON.stringify(text)).to.equal(at)
    }
    for (const bad of ['', 'errno=0\n', 'errno=0\n\n\n', 'errno=00\n\n', 'listen_port=1\nerrno=0\n\n']) expectCode(() => parseSetReply(bad), PROTO)
  })

  it('reads back random devices exactly as wireguard-go prints them', async function () {
    await withSeed(this, r => {
      for (let i = 0; i < 2000; i++) {
        const d = randomDevice(r)
        expect(parseGetReply(getReplyText(d)).device).to.deep.equal(d.state)
      }
    })
  })

  it(`takes ${FUZZ_RUNS.toLocaleString('en-US')} random and mutated replies with nothing but WireGuardProtocolError or a well-formed device`, async function () {
    this.timeout(300_000)
    await withSeed(this, r => {
      let refused = 0
      for (let i = 0; i < FUZZ_RUNS; i++) {
        // One in ten is noise from the reply alphabet; the rest are mutated real replies.
        const text = i % 10 === 0
          ? Array.from({ length: r.int(200) }, () => 'a_=\n0129fx.:/[]-'[r.int(16)]).join('')
          : mutate(r, getReplyText(randomDevice(r, 2), r.int(8) === 0 ? 22 : 0))
        try {
          expectWellFormed(parseGetReply(text).device)
        } catch (err) {
          if (!(err instanceof WireGuardProtocolError)) {
            console.log(`      input: ${JSON.stringify(text)}`)
            throw err
          }
          expect(err.at).to.be.a('number')
          refused++
        }
      }
      // The mutator must produce both outcomes, or the test proves nothing.
      expect(refused).to.be.above(FUZZ_RUNS / 4)
      expect(refused).to.be.below(FUZZ_RUNS)
    })
  })

  it('serialises one set=1 in device order: settings, replace_peers, removals, upserts', () => {
    const a = Key.fromBytes(new Uint8Array(32).fill(0xaa))
    const b = Key.fromBytes(new Uint8Array(32).fill(0xbb))
    const priv = generateWgKeyPair().privateKey
    const text = encodeSetRequest(checkChange({
      privateKey: priv,
      listenPort: 51820,
      fwmark: 0,
      replacePeers: true,
      removals: [a],
      upserts: [
        { publicKey: b, endpoint: { host: 'FD00::1', port: 1 }, allowedIps: ['fd00:0::/64', '10.0.0.0/8'], replaceAllowedIps: true, persistentKeepaliveS: 25, presharedKey: null },
        { publicKey: a }
      ]
    }))
    expect(text).to.equal([
      'set=1', `private_key=${Buffer.from(priv).toString('hex')}`, 'listen_port=51820', 'fwmark=0', 'replace_peers=true',
      `public_key=${H('a')}`, 'remove=true',
      `public_key=${H('b')}`, `preshared_key=${H('0')}`, 'endpoint=[fd00::1]:1', 'persistent_keepalive_interval=25',
      'replace_allowed_ips=true', 'allowed_ip=fd00::/64', 'allowed_ip=10.0.0.0/8',
      `public_key=${H('a')}`, '', ''
    ].join('\n'))
    expect(encodeSetRequest(checkChange({}))).to.equal('set=1\n\n')
  })

  it('refuses a change it cannot write before writing anything', () => {
    const a = Key.fromBytes(new Uint8Array(32).fill(1))
    const INVALID = 'WIREMESH_ERR_INVALID_CONFIG'
    expectCode(() => checkChange({ listenPort: 65536 }), INVALID)
    expectCode(() => checkChange({ fwmark: -1 }), INVALID)
    expectCode(() => checkChange({ privateKey: new Uint8Array(31) }), INVALID)
    expectCode(() => checkChange({ upserts: [{ publicKey: a }, { publicKey: a }] }), INVALID)
    expectCode(() => checkChange({ upserts: [{ publicKey: a, allowedIps: ['10.0.0.1/8'] }] }), INVALID)
    expectCode(() => checkChange({ upserts: [{ publicKey: a, allowedIps: ['10.0.0.0/8\nremove=true'] }] }), INVALID)
    expectCode(() => checkChange({ upserts: [{ publicKey: a, endpoint: { host: 'example.com', port: 1 } }] }), INVALID)
    expectCode(() => checkChange({ upserts: [{ publicKey: a, persistentKeepaliveS: 70000 }] }), INVALID)
    expectCode(() => checkChange({ upserts: [{ publicKey: a, presharedKey: new Uint8Array(3) }] }), INVALID)
    expectCode(() => checkChange({ upserts: [{ publicKey: a, replaceAllowedIps: true }] }), INVALID)
  })
})
