import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { Key } from '../../lib/identity/key.js'
import { generateWgKeyPair } from '../../lib/identity/wg-key.js'
import { createUserspaceLink } from '../../lib/wireguard/userspace-link.js'
import { toWgQuickConfig, wgQuickStrip } from '../../lib/wireguard/wg-quick.js'
import { expectCode } from '../helpers/expect-code.js'
import { requireOrSkip, requireRootOrSkip } from '../helpers/require-tool.js'
import { withSeed } from '../helpers/seed.js'
import { createNetns, deleteNetns, uniqueTag } from './netns.js'
import { randomPeers } from './gen.js'

describe('wireguard/wg-quick', () => {
  const k = Key.fromBytes(new Uint8Array(32).fill(0xbb))

  it('writes [Interface] and [Peer] sections, the private key only when given', () => {
    const priv = new Uint8Array(32).fill(0x40)
    const text = toWgQuickConfig({
      privateKey: priv,
      listenPort: 51820,
      fwmark: 16,
      addresses: ['FD12:3456:789A::1/48'],
      mtu: 1420,
      peers: [{ publicKey: k, allowedIps: ['fd12:3456:789a::2/128', '10.0.0.0/8'], endpoint: { host: '2001:db8::1', port: 51820 }, persistentKeepaliveS: 25 }]
    })
    expect(text).to.equal([
      '[Interface]', `PrivateKey = ${Buffer.from(priv).toString('base64')}`, 'ListenPort = 51820', 'FwMark = 0x10',
      'Address = fd12:3456:789a::1/48', 'MTU = 1420', '',
      '[Peer]', `PublicKey = ${k.toBase64()}`, 'AllowedIPs = fd12:3456:789a::2/128, 10.0.0.0/8', 'Endpoint = [2001:db8::1]:51820', 'PersistentKeepalive = 25', ''
    ].join('\n'))
    expect(toWgQuickConfig({ peers: [] })).to.equal('[Interface]\n')
    expect(wgQuickStrip(text)).to.not.match(/Address|MTU/)
    expect(wgQuickStrip(text)).to.include('ListenPort = 51820')
    expectCode(() => toWgQuickConfig({ mtu: 100, peers: [] }), 'WIREMESH_ERR_INVALID_CONFIG')
    expectCode(() => toWgQuickConfig({ peers: [{ publicKey: k, allowedIps: ['10.0.0.1/8'] }] }), 'WIREMESH_ERR_INVALID_CONFIG')
  })

  it('round-trips through wg-quick strip and wg setconf on a real device (root)', async function () {
    this.timeout(60_000)
    requireRootOrSkip(this, 'loads the config into a wireguard-go device in a namespace')
    for (const t of ['wireguard-go', 'wg', 'wg-quick', 'ip']) requireOrSkip(this, t, 'checks the syntax against the real tools')
    await withSeed(this, async r => {
      const ns = createNetns()
      const dir = mkdtempSync(join(tmpdir(), 'wiremesh-wgq-'))
      const link = await createUserspaceLink(`wmq${uniqueTag()}`, { netns: ns })
      const b = link.backend()
      try {
        const pair = generateWgKeyPair()
        const peers = randomPeers(r, 50)
        const text = toWgQuickConfig({ privateKey: pair.privateKey, listenPort: 0, addresses: ['fd12:3456:789a::1/48'], mtu: 1420, peers })
        // wg-quick strip takes a path ending in .conf (the interface name is the basename).
        const file = join(dir, 'wmq0.conf')
        writeFileSync(file, text, { mode: 0o600 })
        const stripped = execFileSync('wg-quick', ['strip', file], { encoding: 'utf8' })
        expect(stripped.replace(/\n+$/, '')).to.equal(wgQuickStrip(text).replace(/\n+$/, ''))
        const strippedFile = join(dir, 'stripped.conf')
        writeFileSync(strippedFile, stripped, { mode: 0o600 })
        execFileSync('ip', ['netns', 'exec', ns, 'wg', 'setconf', link.iface, strippedFile], { stdio: 'pipe' })
        const s = await b.read()
        expect(s.publicKey?.equals(pair.publicKey)).to.equal(true)
        const line = (p: { publicKey: Key, allowedIps?: string[], endpoint?: { host: string, port: number }, persistentKeepaliveS?: number }): string =>
          [p.publicKey.toBase64(), [...(p.allowedIps ?? [])].sort().join(','), `${p.endpoint?.host}|${p.endpoint?.port}`, p.persistentKeepaliveS].join(' ')
        expect(s.peers.map(line).sort()).to.deep.equal(peers.map(line).sort())
        expect(s.peers.filter(p => p.hasPresharedKey).length).to.equal(peers.filter(p => p.presharedKey != null).length)
      } finally {
        await b.close()
        await link.destroy()
        rmSync(dir, { recursive: true, force: true })
        deleteNetns(ns)
      }
    })
  })
})
