import { expect } from 'chai'
import type { WireGuardError } from '../../lib/errors.js'
import { Key } from '../../lib/identity/key.js'
import { SeededRandom } from '../../lib/random.js'
import type { PeerUpsert } from '../../lib/wireguard/backend.js'
import { encodeSetDevice, GENL_ID_CTRL, NLM_F_ACK, NLM_F_REQUEST, parseMessages } from '../../lib/wireguard/netlink-codec.js'
import { NetlinkBackend, type NetlinkBackendInit, openPackageSocket } from '../../lib/wireguard/netlink.js'
import { expectCode, expectRejectCode } from '../helpers/expect-code.js'
import { FakeKernel, FAKE_FAMILY_ID } from './netlink-fake-kernel.js'

function peers (n: number, seed = 1): PeerUpsert[] {
  const random = new SeededRandom(seed)
  return Array.from({ length: n }, (_, i) => ({
    publicKey: Key.fromBytes(random.bytes(32)),
    allowedIps: [`fd00:1::${(i + 1).toString(16)}/128`, `10.1.${i >> 8}.${i & 255}/32`],
    endpoint: i % 2 === 0 ? { host: `192.0.2.${1 + (i % 250)}`, port: 51820 + i } : { host: `2001:db8::${(i + 1).toString(16)}`, port: 51820 },
    persistentKeepaliveS: i % 3 === 0 ? 0 : 25
  }))
}

describe('wireguard/netlink backend (fake kernel socket)', () => {
  function setup (): { k: FakeKernel, b: NetlinkBackend } {
    const k = new FakeKernel()
    const b = new NetlinkBackend(k.ifname, { openSocket: async () => k.socket(), requestTimeoutMs: 500 })
    return { k, b }
  }

  it('applies 1,000 peers in several acknowledged messages with fresh sequence numbers, and reads them back', async () => {
    const { k, b } = setup()
    k.maxDumpBytes = 1500
    const ups = peers(1000)
    const priv = new SeededRandom(9).bytes(32)
    await b.apply({ privateKey: priv, listenPort: 51820, upserts: ups })
    const state = await b.read()
    expect(state.listenPort).to.equal(51820)
    expect(state.publicKey?.equals(Key.fromBytes(Uint8Array.from(priv, x => x ^ 0xff)))).to.equal(true)
    expect(state.peers.length).to.equal(1000)
    const byKey = new Map(ups.map(u => [u.publicKey.mapKey, u]))
    for (const p of state.peers) {
      const u = byKey.get(p.publicKey.mapKey)!
      expect(p.allowedIps).to.deep.equal(u.allowedIps)
      expect(p.endpoint).to.deep.equal(u.endpoint)
      expect(p.persistentKeepaliveS).to.equal(u.persistentKeepaliveS)
      expect(p.hasPresharedKey).to.equal(false)
    }
    const sets = k.requests.slice(1, -1) // after the family lookup, before the dump
    expect(sets.length).to.be.greaterThan(5)
    const seqs = k.requests.map(r => parseMessages(r)[0].seq)
    expect(new Set(seqs).size).to.equal(seqs.length)
    for (const r of k.requests) {
      const [m] = parseMessages(r)
      expect(m.flags & (NLM_F_REQUEST | NLM_F_ACK)).to.equal(NLM_F_REQUEST | NLM_F_ACK)
      expect(r.length).to.be.at.most(8192)
    }
    await b.apply({ removals: ups.slice(0, 500).map(u => u.publicKey) })
    expect((await b.read()).peers.length).to.equal(500)
    await b.close()
  })

  it('a refused message is a WireGuardError with the positive errno; the messages before it stay applied', async () => {
    const { k, b } = setup()
    await b.apply({ listenPort: 1 })
    k.failNextSet = 1 // EPERM
    const err = await expectRejectCode(b.apply({ listenPort: 2 }), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect([err.errno, err.op, err.backend]).to.deep.equal([1, 'apply', 'netlink'])
    expect((await b.read()).listenPort).to.equal(1)
    // Refused in the second of several messages: the first message's peers are there, the rest not.
    expect(encodeSetDevice(FAKE_FAMILY_ID, k.ifname, { upserts: peers(200) }).length).to.be.greaterThan(2)
    k.failNextSet = 22
    k.passSetsBeforeFailing = 1
    const split = await expectRejectCode(b.apply({ upserts: peers(200) }), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect(split.errno).to.equal(22)
    const n = (await b.read()).peers.length
    expect(n).to.be.greaterThan(0)
    expect(n).to.be.lessThan(200)
    await b.close()
  })

  it('a bad batch is an InvalidConfigError before anything is sent; a zone name becomes its interface index', async () => {
    const { k, b } = setup()
    await b.read()
    const sent = k.requests.length
    await expectRejectCode(b.apply({ upserts: [{ publicKey: peers(1)[0].publicKey, allowedIps: ['10.1.2.3/8'] }] }), 'WIREMESH_ERR_INVALID_CONFIG')
    await expectRejectCode(b.apply({ listenPort: 70000 }), 'WIREMESH_ERR_INVALID_CONFIG')
    expect(k.requests.length).to.equal(sent)
    const pk = peers(1)[0].publicKey
    await b.apply({ upserts: [{ publicKey: pk, endpoint: { host: 'fe80::1%lo', port: 51820 } }] })
    expect((await b.read()).peers[0].endpoint).to.deep.equal({ host: 'fe80::1%1', port: 51820 }) // lo is ifindex 1
    const err = await expectRejectCode(b.apply({ upserts: [{ publicKey: pk, endpoint: { host: 'fe80::1%nosuchif0', port: 1 } }] }), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect(err.errno).to.equal(19)
    await b.close()
  })

  it('dumps again when a concurrent change interrupted the dump (NLM_F_DUMP_INTR), and gives up with EINTR', async () => {
    const { k, b } = setup()
    await b.apply({ upserts: peers(5) })
    k.interruptDumps = 1
    expect((await b.read()).peers).to.have.length(5)
    k.interruptDumps = 100
    const err = await expectRejectCode(b.read(), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect([err.errno, err.op]).to.deep.equal([4, 'read'])
    await b.close()
  })

  it('reading a missing interface is ENODEV', async () => {
    const k = new FakeKernel()
    const b = new NetlinkBackend('nosuch0', { openSocket: async () => k.socket() })
    const err = await expectRejectCode(b.read(), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect([err.errno, err.op]).to.deep.equal([19, 'read'])
    await b.close()
  })

  it('looks the family id up again, once, when the kernel no longer knows the cached one (module reloaded)', async () => {
    const { k, b } = setup()
    await b.apply({ listenPort: 7 })
    expect(await b.familyId()).to.equal(FAKE_FAMILY_ID)
    const lookups = (): number => k.requests.filter(r => parseMessages(r)[0].type === GENL_ID_CTRL).length
    expect(lookups()).to.equal(1)
    k.familyId = FAKE_FAMILY_ID + 1
    expect((await b.read()).listenPort).to.equal(7)
    await b.apply({ listenPort: 8 })
    expect(lookups()).to.equal(2)
    expect(await b.familyId()).to.equal(FAKE_FAMILY_ID + 1)
    // A device that is really gone is still ENODEV after the one retry.
    k.ifname = 'other0'
    const err = await expectRejectCode(b.read(), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect(err.errno).to.equal(19)
    expect(lookups()).to.equal(3)
    await b.close()
  })

  it('drops a late reply to an older request, refuses a reply with a sequence number it never sent', async () => {
    const { k, b } = setup()
    await b.apply({ listenPort: 3 })
    const oldSeq = parseMessages(k.requests[1])[0].seq
    k.staleSeq = oldSeq
    expect((await b.read()).listenPort).to.equal(3)
    expect(b.staleReplies).to.be.greaterThan(0)
    k.staleSeq = undefined
    k.wrongSeq = (oldSeq + 0x7000_0000) >>> 0
    await expectRejectCode(b.read(), 'WIREMESH_ERR_WIREGUARD_PROTOCOL')
    await b.close()
  })

  it('times out a request with no reply, and an abort rejects with AbortError', async () => {
    const { k, b } = setup()
    await b.read()
    k.silent = true
    const err = await expectRejectCode(b.read(), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect(err.errno).to.equal(undefined)
    await expectRejectCode(b.read({ signal: AbortSignal.timeout(20) }), 'WIREMESH_ERR_ABORTED')
    await expectRejectCode(b.apply({}, { signal: AbortSignal.abort() }), 'WIREMESH_ERR_ABORTED')
    await b.close()
    await b.close() // idempotent
    await expectRejectCode(b.read(), 'WIREMESH_ERR_WIREGUARD')
  })

  it('an abort that lands while the socket opens, or while the request waits its turn, ends it at once, nothing sent', async () => {
    const k = new FakeKernel()
    const ac = new AbortController()
    const b = new NetlinkBackend(k.ifname, { openSocket: async () => { ac.abort(); return k.socket() }, requestTimeoutMs: 2000 })
    await expectRejectCode(b.read({ signal: ac.signal }), 'WIREMESH_ERR_ABORTED')
    expect(k.requests).to.have.length(0)
    await b.read()
    // Queued behind a request the kernel never answers: the abort does not wait for its turn.
    k.silent = true
    const first = expectRejectCode(b.read(), 'WIREMESH_ERR_WIREGUARD')
    const queued = new AbortController()
    const t0 = Date.now()
    const second = b.read({ signal: queued.signal })
    setTimeout(() => queued.abort(), 20)
    await expectRejectCode(second, 'WIREMESH_ERR_ABORTED')
    expect(Date.now() - t0).to.be.below(1000)
    await first
    await b.close()
  })

  it('checks its knobs and the interface name at construction: InvalidConfigError', () => {
    for (const [iface, init] of [['a/b', {}], ['x'.repeat(16), {}], ['', {}], ['a b', {}], ['wm0', { requestTimeoutMs: 0 }], ['wm0', { requestTimeoutMs: 1.5 }],
      ['wm0', { requestTimeoutMs: 600_001 }], ['wm0', { maxMessageBytes: 511 }], ['wm0', { maxMessageBytes: 65537 }], ['wm0', { openSocket: 1 }]] as const) {
      expectCode(() => new NetlinkBackend(iface, init as NetlinkBackendInit), 'WIREMESH_ERR_INVALID_CONFIG')
    }
    expect(new NetlinkBackend('wm0', { requestTimeoutMs: 1, maxMessageBytes: 512 }).iface).to.equal('wm0')
  })

  it('a netlink package whose binary fails to load is a WireGuardError that suggests wg-cli', async () => {
    const err = await expectRejectCode(openPackageSocket(async () => { throw new Error('cannot open shared object file') }), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect(err.op).to.equal('open')
    expect(err.message).to.contain('wg-cli')
    expect(err.cause).to.be.instanceOf(Error)
  })
})

describe('wireguard/netlink backend (this machine\'s kernel)', () => {
  it('opens the real socket through the netlink package; with no wireguard family (or no such device) the errno is the kernel\'s', async () => {
    // This kernel has no WireGuard module: the family lookup gets ENOENT. On a kernel with
    // one, the lookup succeeds and the dump of a missing device gets ENODEV.
    const b = new NetlinkBackend('wmnosuch0')
    const err = await expectRejectCode(b.read(), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect([2, 19]).to.include(err.errno)
    await b.close()
  })
})
