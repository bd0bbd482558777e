import { expect } from 'chai'
import { Key } from '../../lib/identity/key.js'
import { generateWgKeyPair } from '../../lib/identity/wg-key.js'
import { MemoryBackend } from '../../lib/wireguard/memory.js'
import { expectRejectCode } from '../helpers/expect-code.js'

const k = (n: number): Key => Key.fromBytes(new Uint8Array(32).fill(n))
const WG = 'WIREMESH_ERR_WIREGUARD'

describe('wireguard/memory', () => {
  it('sets key, port and fwmark, and reports the public key of the private key', async () => {
    const m = new MemoryBackend({ iface: 'wmtest' })
    const pair = generateWgKeyPair()
    await m.apply({ privateKey: pair.privateKey, listenPort: 51820, fwmark: 7 })
    const s = await m.read()
    expect(s.publicKey?.equals(pair.publicKey)).to.equal(true)
    expect([s.listenPort, s.fwmark]).to.deep.equal([51820, 7])
    expect(m.iface).to.equal('wmtest')
  })

  it('upserts: creates, then changes only the fields given; allowed IPs added unless replaced', async () => {
    const m = new MemoryBackend()
    await m.apply({ upserts: [{ publicKey: k(1), endpoint: { host: '10.0.0.1', port: 1 }, allowedIps: ['fd00::1/128'], persistentKeepaliveS: 25 }] })
    await m.apply({ upserts: [{ publicKey: k(1), allowedIps: ['FD00::2/128'] }] })
    let [p] = (await m.read()).peers
    expect(p.endpoint).to.deep.equal({ host: '10.0.0.1', port: 1 })
    expect(p.persistentKeepaliveS).to.equal(25)
    expect(p.allowedIps).to.deep.equal(['fd00::1/128', 'fd00::2/128'])
    await m.apply({ upserts: [{ publicKey: k(1), allowedIps: ['fd00::3/128'], replaceAllowedIps: true, presharedKey: new Uint8Array(32).fill(9) }] })
    ;[p] = (await m.read()).peers
    expect(p.allowedIps).to.deep.equal(['fd00::3/128'])
    expect(p.hasPresharedKey).to.equal(true)
    await m.apply({ upserts: [{ publicKey: k(1), presharedKey: null }] })
    expect((await m.read()).peers[0].hasPresharedKey).to.equal(false)
  })

  it('moves an exact prefix to the peer it is added to, as the kernel trie does', async () => {
    const m = new MemoryBackend()
    await m.apply({ upserts: [{ publicKey: k(1), allowedIps: ['fd00::1/128', '10.0.0.0/8'] }, { publicKey: k(2), allowedIps: ['10.0.0.0/16'] }] })
    await m.apply({ upserts: [{ publicKey: k(2), allowedIps: ['10.0.0.0/8'] }] })
    const [a, b] = (await m.read()).peers
    expect(a.allowedIps).to.deep.equal(['fd00::1/128'])
    expect(b.allowedIps).to.deep.equal(['10.0.0.0/16', '10.0.0.0/8'])
  })

  it('removes first, ignores unknown removals, and replacePeers re-creates kept peers', async () => {
    const m = new MemoryBackend()
    await m.apply({ upserts: [{ publicKey: k(1), persistentKeepaliveS: 5 }, { publicKey: k(2) }] })
    m.setStats(k(1), { rxBytes: 10, lastHandshakeMs: 1000 })
    // Removal and upsert of the same key in one batch: removed, then created afresh.
    await m.apply({ removals: [k(2), k(9)], upserts: [{ publicKey: k(2), allowedIps: ['::/0'] }] })
    expect((await m.read()).peers.map(p => p.publicKey.equals(k(2)) ? p.allowedIps : null)).to.deep.equal([null, ['::/0']])
    await m.apply({ replacePeers: true, upserts: [{ publicKey: k(1) }, { publicKey: k(3) }] })
    const s = await m.read()
    expect(s.peers.map(p => p.publicKey.mapKey)).to.deep.equal([k(1).mapKey, k(3).mapKey])
    expect(s.peers[0]).to.deep.include({ persistentKeepaliveS: 0, rxBytes: 0, lastHandshakeMs: 0 })
  })

  it('ignores a peer with its own public key, and drops one when its key becomes the device key', async () => {
    const m = new MemoryBackend()
    const pair = generateWgKeyPair()
    await m.apply({ upserts: [{ publicKey: pair.publicKey }, { publicKey: k(1) }] })
    await m.apply({ privateKey: pair.privateKey })
    expect((await m.read()).peers).to.have.length(1)
    await m.apply({ upserts: [{ publicKey: pair.publicKey }] })
    expect((await m.read()).peers).to.have.length(1)
  })

  it('test hooks: by-hand removal, learned endpoint, counters, injected partial failure', async () => {
    const m = new MemoryBackend()
    await m.apply({ upserts: [{ publicKey: k(1), allowedIps: ['fd00::1/128'] }, { publicKey: k(2) }] })
    expect(m.removePeer(k(2))).to.equal(true)
    expect(m.removePeer(k(2))).to.equal(false)
    m.setEndpoint(k(1), { host: '192.0.2.1', port: 4 })
    m.addPeer({ publicKey: k(5), allowedIps: ['fd00::1/128'] })
    const s = await m.read()
    expect(s.peers.map(p => [p.publicKey.mapKey, p.endpoint?.port, p.allowedIps])).to.deep.equal([[k(1).mapKey, 4, []], [k(5).mapKey, undefined, ['fd00::1/128']]])
    m.failNextApply({ errno: 95, afterUpserts: 1 })
    const err = await expectRejectCode(m.apply({ removals: [k(5)], upserts: [{ publicKey: k(6) }, { publicKey: k(7) }] }), WG)
    expect((err as { errno?: number }).errno).to.equal(95)
    expect((await m.read()).peers.map(p => p.publicKey.mapKey)).to.deep.equal([k(1).mapKey, k(6).mapKey])
    await m.apply({ upserts: [{ publicKey: k(7) }] })
    expect(m.applied).to.have.length(3)
    expect(m.reads).to.equal(2)
    await m.close()
    await expectRejectCode(m.read(), WG)
  })

  it('reads are copies: changing one changes nothing on the device', async () => {
    const m = new MemoryBackend()
    await m.apply({ upserts: [{ publicKey: k(1), allowedIps: ['::/0'], endpoint: { host: '::1', port: 1 } }] })
    const s = await m.read()
    s.peers[0].allowedIps.push('x')
    s.peers[0].endpoint!.port = 2
    expect((await m.read()).peers[0]).to.deep.include({ allowedIps: ['::/0'], endpoint: { host: '::1', port: 1 } })
  })
})
