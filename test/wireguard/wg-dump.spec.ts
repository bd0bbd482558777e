import { expect } from 'chai'
import { WireGuardProtocolError } from '../../lib/errors.js'
import { parseDump } from '../../lib/wireguard/wg-dump.js'
import { errnoFromStderr } from '../../lib/wireguard/wg-cli.js'
import { expectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'
import { dumpText, expectWellFormed, mutate, randomDevice } from './gen.js'

const PROTO = 'WIREMESH_ERR_WIREGUARD_PROTOCOL'
const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 100_000)

/** `wg show wmxt0 dump` from wireguard-tools 1.0.20210914 against wireguard-go (captured on this machine). */
const CAPTURED = [
  'aCX4lsmk+X4tEdbRnKYofZgI8Y8Y/B5weyLbtsfB42E=\tpCpzUFVnLSg7d4A51EbkU1dOUOjAfdYTSHfABBATWGg=\t34463\t0x10',
  'h5C7Owdp66hxxCOxhALl2V7YpkEHISYr6s/luH0EPms=\t(none)\t[fe80::1]:5\t10.0.0.0/24,fd00::1/128\t0\t0\t0\t25',
  '0WPCr6jL+LJ3rXUyo4sAN/sd/ZFW8QrAIYvled9OVR0=\tf/38y7qBWWzaaANUdveEXT2hV2JLazdmVkRpq/ZT1Lk=\t1.2.3.4:9\t(none)\t1700000000\t5\t6\toff',
  ''
].join('\n')

describe('wireguard/wg-dump', () => {
  it('parses a captured dump', () => {
    const s = parseDump(CAPTURED)
    expect(s.publicKey?.toBase64()).to.equal('pCpzUFVnLSg7d4A51EbkU1dOUOjAfdYTSHfABBATWGg=')
    expect(s.listenPort).to.equal(34463)
    expect(s.fwmark).to.equal(0x10)
    expect(s.peers.map(p => p.publicKey.toBase64())).to.deep.equal(['h5C7Owdp66hxxCOxhALl2V7YpkEHISYr6s/luH0EPms=', '0WPCr6jL+LJ3rXUyo4sAN/sd/ZFW8QrAIYvled9OVR0='])
    expect(s.peers[0]).to.deep.include({ hasPresharedKey: false, endpoint: { host: 'fe80::1', port: 5 }, allowedIps: ['10.0.0.0/24', 'fd00::1/128'], persistentKeepaliveS: 25, lastHandshakeMs: 0 })
    expect(s.peers[1]).to.deep.include({ hasPresharedKey: true, endpoint: { host: '1.2.3.4', port: 9 }, allowedIps: [], persistentKeepaliveS: 0, lastHandshakeMs: 1_700_000_000_000, rxBytes: 5, txBytes: 6 })
    expect(parseDump('(none)\t(none)\t0\toff\n')).to.deep.equal({ publicKey: undefined, listenPort: 0, fwmark: 0, peers: [] })
  })

  it('refuses each kind of malformed dump with the line number', () => {
    const head = '(none)\t(none)\t0\toff'
    const peer = (f: Partial<Record<number, string>>): string => {
      const d = ['h5C7Owdp66hxxCOxhALl2V7YpkEHISYr6s/luH0EPms=', '(none)', '(none)', '(none)', '0', '0', '0', 'off']
      for (const [i, v] of Object.entries(f)) d[Number(i)] = v!
      return d.join('\t')
    }
    const cases: Array<[string, number]> = [
      ['', 1],
      [head, 1],
      [`${head}\t\n`, 1],
      ['(none)\t(none)\t65536\toff\n', 1],
      ['(none)\t(none)\t0\t0x0\n', 1],
      ['(none)\t(none)\t0\t16\n', 1],
      ['(none)\t(none)\t0\t0x100000000\n', 1],
      ['h5C7Owdp66hxxCOxhALl2V7YpkEHISYr6s/luH0EPms=\t(none)\t0\toff\n', 1],
      ['(none)\th5C7Owdp66hxxCOxhALl2V7YpkEHISYr6s/luH0EPmt=\t0\toff\n', 1],
      [`${head}\n${peer({})}`, 2],
      [`${head}\n${peer({})}\n\n`, 3],
      [`${head}\n${peer({})}\n${peer({})}\n`, 3],
      [`${head}\n${peer({ 0: 'x' })}\n`, 2],
      [`${head}\n${peer({ 2: 'host:1' })}\n`, 2],
      [`${head}\n${peer({ 3: '10.0.0.0/8,' })}\n`, 2],
      [`${head}\n${peer({ 3: '10.0.0.1/8' })}\n`, 2],
      [`${head}\n${peer({ 3: '::/0,::/0' })}\n`, 2],
      [`${head}\n${peer({ 4: '-1' })}\n`, 2],
      [`${head}\n${peer({ 7: '0' })}\n`, 2],
      [`${head}\n${peer({ 7: '65536' })}\n`, 2],
      [`${head}\n${peer({})}\textra\n`, 2]
    ]
    for (const [text, at] of cases) {
      const err = expectCode(() => parseDump(text), PROTO) as WireGuardProtocolError
      expect(err.at, JSON.stringify(text)).to.equal(at)
    }
  })

  it('reads back random devices exactly as wg prints them (handshakes in whole seconds)', async function () {
    await withSeed(this, r => {
      for (let i = 0; i < 2000; i++) {
        const d = randomDevice(r)
        const want = { ...d.state, peers: d.state.peers.map(p => ({ ...p, lastHandshakeMs: Math.floor(p.lastHandshakeMs / 1000) * 1000 })) }
        expect(parseDump(dumpText(d))).to.deep.equal(want)
      }
    })
  })

  it(`takes ${FUZZ_RUNS.toLocaleString('en-US')} random and mutated dumps with nothing but WireGuardProtocolError or a well-formed device`, async function () {
    this.timeout(300_000)
    await withSeed(this, r => {
      let refused = 0
      for (let i = 0; i < FUZZ_RUNS; i++) {
        const text = i % 10 === 0
          ? Array.from({ length: r.int(200) }, () => 'A+/=\t\n0x19f.:[](none),off'[r.int(26)]).join('')
          : mutate(r, dumpText(randomDevice(r, 2)))
        try {
          expectWellFormed(parseDump(text))
        } catch (err) {
          if (!(err instanceof WireGuardProtocolError)) {
            console.log(`      input: ${JSON.stringify(text)}`)
            throw err
          }
          expect(err.at).to.be.a('number')
          refused++
        }
      }
      expect(refused).to.be.above(FUZZ_RUNS / 4)
      expect(refused).to.be.below(FUZZ_RUNS)
    })
  })

  it('reads the errno from the end of wg\'s stderr', () => {
    expect(errnoFromStderr('Unable to modify interface: Invalid argument\n')).to.equal(22)
    expect(errnoFromStderr('Unable to modify interface: Protocol not supported\n')).to.equal(93)
    expect(errnoFromStderr('Unable to access interface: No such device\n')).to.equal(19)
    expect(errnoFromStderr('Invalid endpoint: host\n')).to.equal(undefined)
  })
})
