/**
 * The uapi and wg-cli backends against real wireguard-go, in a network namespace this file
 * makes (root; wireguard-go, wg and ip needed; skipped with the reason outside CI, failed under
 * CI=true). Everything made is removed by name or PID in `after`.
 */
import { execFileSync } from 'node:child_process'
import { expect } from 'chai'
import { Key } from '../../lib/identity/key.js'
import { generateWgKeyPair } from '../../lib/identity/wg-key.js'
import type { DeviceState, PeerUpsert, WireGuardBackend } from '../../lib/wireguard/backend.js'
import { canonicalCidr } from '../../lib/wireguard/cidr.js'
import { createUserspaceLink, type UserspaceLink } from '../../lib/wireguard/userspace-link.js'
import { UapiBackend } from '../../lib/wireguard/uapi.js'
import { WgCliBackend } from '../../lib/wireguard/wg-cli.js'
import { parseDump } from '../../lib/wireguard/wg-dump.js'
import { expectRejectCode } from '../helpers/expect-code.js'
import { requireOrSkip, requireRootOrSkip } from '../helpers/require-tool.js'
import { withSeed } from '../helpers/seed.js'
import { randomPeers } from './gen.js'
import { createNetns, deleteNetns, uniqueTag } from './netns.js'

const WG = 'WIREMESH_ERR_WIREGUARD'
const N = 1000

/** What `read()` must show for these upserts (fresh peers): one comparable line per peer, sorted. */
function expected (upserts: PeerUpsert[]): string[] {
  return upserts.map(u => [u.publicKey.toBase64(), u.presharedKey !== undefined, u.endpoint === undefined ? '-' : `${u.endpoint.host}|${u.endpoint.port}`, [...u.allowedIps!].sort().join(','), u.persistentKeepaliveS].join(' ')).sort()
}

function shown (s: DeviceState): string[] {
  return s.peers.map(p => [p.publicKey.toBase64(), p.hasPresharedKey, p.endpoint === undefined ? '-' : `${p.endpoint.host}|${p.endpoint.port}`, [...p.allowedIps].sort().join(','), p.persistentKeepaliveS].join(' ')).sort()
}

/** `wg show IFACE allowed-ips` parsed by hand: an independent view (key → sorted prefixes). */
function wgAllowedIps (ns: string, iface: string): string[] {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'wg', 'show', iface, 'allowed-ips'], { encoding: 'utf8', maxBuffer: 64 << 20 })
  return out.trim().split('\n').filter(l => l !== '').map(l => {
    const [k, ips] = l.split('\t')
    return `${k} ${ips === '(none)' ? '' : ips.split(' ').map(canonicalCidr).sort().join(',')}`
  }).sort()
}

describe('wireguard backends against wireguard-go (root)', function () {
  this.timeout(60_000)
  let ns: string | undefined
  const links: UserspaceLink[] = []
  const backends: WireGuardBackend[] = []

  before(function () {
    requireRootOrSkip(this, 'creates network namespaces and TUN devices')
    for (const t of ['wireguard-go', 'wg', 'ip']) requireOrSkip(this, t, 'drives a real userspace WireGuard')
    ns = createNetns()
  })

  after(async () => {
    for (const b of backends) await b.close()
    for (const l of links) await l.destroy()
    if (ns !== undefined) deleteNetns(ns)
  })

  async function link (listenPort = 0): Promise<UserspaceLink> {
    const l = await createUserspaceLink(`wmu${uniqueTag()}`, { netns: ns, privateKey: generateWgKeyPair().privateKey, listenPort })
    links.push(l)
    return l
  }

  for (const kind of ['uapi', 'wg-cli'] as const) {
    it(`${kind}: applies ${N} peers, reads them back identical, removes ${N / 2}, and wg show agrees`, async function () {
      await withSeed(this, async r => {
        const l = await link()
        const b = kind === 'uapi' ? l.backend() : new WgCliBackend(l.iface, { netns: ns })
        backends.push(b)
        const peers = randomPeers(r, N)
        await b.apply({ upserts: peers })
        const s = await b.read()
        expect(s.peers).to.have.length(N)
        expect(shown(s)).to.deep.equal(expected(peers))
        // The other backend and wg itself see the same device.
        const other = kind === 'uapi' ? new WgCliBackend(l.iface, { netns: ns }) : l.backend()
        backends.push(other)
        expect(shown(await other.read())).to.deep.equal(expected(peers))
        const byKey = peers.map(p => `${p.publicKey.toBase64()} ${[...p.allowedIps!].sort().join(',')}`).sort()
        expect(wgAllowedIps(ns!, l.iface)).to.deep.equal(byKey)

        const removed = peers.filter((_, i) => i % 2 === 1)
        const kept = peers.filter((_, i) => i % 2 === 0)
        await b.apply({ removals: removed.map(p => p.publicKey) })
        expect(shown(await b.read())).to.deep.equal(expected(kept))
        const dump = parseDump(execFileSync('ip', ['netns', 'exec', ns!, 'wg', 'show', l.iface, 'dump'], { encoding: 'utf8', maxBuffer: 64 << 20 }))
        expect(shown(dump)).to.deep.equal(expected(kept))
        expect(wgAllowedIps(ns!, l.iface)).to.deep.equal(kept.map(p => `${p.publicKey.toBase64()} ${[...p.allowedIps!].sort().join(',')}`).sort())
      })
    })

    it(`${kind}: adds allowed IPs without replacing, moves a prefix between peers, replaces a set, replaces all peers`, async function () {
      const l = await link()
      const b = kind === 'uapi' ? l.backend() : new WgCliBackend(l.iface, { netns: ns })
      backends.push(b)
      const [a, c, d] = [1, 2, 3].map(() => generateWgKeyPair().publicKey)
      await b.apply({ upserts: [{ publicKey: a, allowedIps: ['fd00::1/128', '10.0.0.0/8'], persistentKeepaliveS: 25 }, { publicKey: c, allowedIps: ['fd00::2/128'] }] })
      await b.apply({ upserts: [{ publicKey: a, allowedIps: ['fd00::3/128'] }, { publicKey: c, allowedIps: ['10.0.0.0/8'] }] })
      let s = await b.read()
      const ips = (k: Key): string[] => [...s.peers.find(p => p.publicKey.equals(k))!.allowedIps].sort()
      expect(ips(a)).to.deep.equal(['fd00::1/128', 'fd00::3/128'])
      expect(ips(c)).to.deep.equal(['10.0.0.0/8', 'fd00::2/128'])
      expect(s.peers.find(p => p.publicKey.equals(a))!.persistentKeepaliveS).to.equal(25)
      await b.apply({ upserts: [{ publicKey: a, allowedIps: ['fd00::9/128'], replaceAllowedIps: true }] })
      s = await b.read()
      expect(ips(a)).to.deep.equal(['fd00::9/128'])
      await b.apply({ replacePeers: true, upserts: [{ publicKey: c, allowedIps: ['fd00::2/128'] }, { publicKey: d }] })
      s = await b.read()
      expect(s.peers.map(p => p.publicKey.toBase64()).sort()).to.deep.equal([c, d].map(k => k.toBase64()).sort())
      expect(ips(c)).to.deep.equal(['fd00::2/128'])
      await b.apply({ upserts: [{ publicKey: d, presharedKey: new Uint8Array(32).fill(7) }] })
      expect((await b.read()).peers.find(p => p.publicKey.equals(d))!.hasPresharedKey).to.equal(true)
      await b.apply({ upserts: [{ publicKey: d, presharedKey: null }] })
      expect((await b.read()).peers.find(p => p.publicKey.equals(d))!.hasPresharedKey).to.equal(false)
    })

    it(`${kind}: a refused request is a WireGuardError with the errno, and the backend works afterwards`, async function () {
      const taken = await link()
      const l = await link()
      const b = kind === 'uapi' ? l.backend() : new WgCliBackend(l.iface, { netns: ns })
      backends.push(b)
      const tb = taken.backend()
      backends.push(tb)
      const port = (await tb.read()).listenPort
      expect(port).to.be.above(0)
      const err = await expectRejectCode(b.apply({ listenPort: port }), WG) as unknown as { errno?: number, backend: string }
      expect(err.backend).to.equal(kind)
      expect(err.errno).to.equal(98) // EADDRINUSE
      const k = generateWgKeyPair().publicKey
      await b.apply({ upserts: [{ publicKey: k }] })
      expect((await b.read()).peers.map(p => p.publicKey.toBase64())).to.deep.equal([k.toBase64()])
    })
  }

  it('uapi: a missing socket is a WireGuardError from connect', async () => {
    const b = new UapiBackend('wmnosuch0', { socketDir: '/var/run/wireguard' })
    const err = await expectRejectCode(b.read(), WG) as unknown as { op: string }
    expect(err.op).to.equal('connect')
    await b.close()
  })

  it('userspace link: wireguard-go missing is a typed error; teardown removes the process, socket and link', async function () {
    const err = await expectRejectCode(createUserspaceLink(`wmu${uniqueTag()}`, { netns: ns, wireguardGoPath: '/nonexistent/wireguard-go' }), WG) as unknown as { op: string }
    expect(err.op).to.equal('create')
    const l = await createUserspaceLink(`wmu${uniqueTag()}`, { netns: ns, address: 'fd12:3456:789a::1', routes: ['fd99::/64'], mtu: 1280 })
    links.push(l)
    const addr = execFileSync('ip', ['-n', ns!, '-6', 'addr', 'show', 'dev', l.iface], { encoding: 'utf8' })
    expect(addr).to.include('fd12:3456:789a::1/48')
    const routes = execFileSync('ip', ['-n', ns!, '-6', 'route', 'show', 'dev', l.iface], { encoding: 'utf8' })
    expect(routes).to.match(/^fd12:3456:789a::\/48 /m)
    expect(routes).to.match(/^fd99::\/64 /m)
    expect(execFileSync('ip', ['-n', ns!, 'link', 'show', 'dev', l.iface], { encoding: 'utf8' })).to.match(/mtu 1280 .*state (UNKNOWN|UP)/)
    const pid = l.pid
    await l.destroy()
    expect(() => process.kill(pid, 0)).to.throw()
    expect(() => execFileSync('ip', ['-n', ns!, 'link', 'show', 'dev', l.iface], { stdio: 'pipe' })).to.throw()
    await l.destroy() // idempotent
  })
})
