/**
 * Real UDP sockets, on loopback only (127.0.0.1 and ::1). Every transport a test makes is
 * stopped in `afterEach`, so no socket outlives its test.
 */
import { createSocket } from 'node:dgram'
import { expect } from 'chai'
import { type Endpoint, endpointsEqual } from '../../lib/gossip/endpoint.js'
import { UdpTransport, type UdpTransportInit } from '../../lib/gossip/udp-transport.js'
import { expectCode, expectRejectCode } from '../helpers/expect-code.js'
import { requireOrSkipIf } from '../helpers/require-tool.js'

const WAIT_MS = 2000

/** Resolves with the first `n` packets a transport receives (rejects after WAIT_MS). */
function collect (t: UdpTransport, n: number): Promise<Array<{ data: Uint8Array, from: Endpoint }>> {
  const got: Array<{ data: Uint8Array, from: Endpoint }> = []
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`received ${got.length} of ${n} packets in ${WAIT_MS} ms`)) }, WAIT_MS)
    const off = t.onPacket((data, from) => {
      got.push({ data, from })
      if (got.length === n) { clearTimeout(timer); off(); resolve(got) }
    })
  })
}

/** True when a UDP socket can be bound to ::1 here (containers often lack IPv6). */
async function ipv6LoopbackAvailable (): Promise<boolean> {
  const s = createSocket('udp6')
  try {
    return await new Promise<boolean>(resolve => {
      s.once('error', () => { resolve(false) })
      s.bind(0, '::1', () => { resolve(true) })
    })
  } finally {
    await new Promise<void>(resolve => { try { s.close(() => { resolve() }) } catch { resolve() } })
  }
}

describe('gossip/udp-transport', () => {
  const open: UdpTransport[] = []
  const make = (init: UdpTransportInit): UdpTransport => {
    const t = new UdpTransport(init)
    open.push(t)
    return t
  }
  afterEach(async () => {
    await Promise.all(open.splice(0).map(async t => { await t.stop() }))
  })

  async function exchange (host: string): Promise<void> {
    const a = make({ host })
    const b = make({ host })
    await Promise.all([a.start(), b.start()])
    const [ea, eb] = [a.localEndpoint(), b.localEndpoint()]
    expect(ea.host).to.equal(host)
    expect(ea.port).to.be.above(0)
    expect(ea.port).to.not.equal(eb.port)

    const atB = collect(b, 3)
    const atA = collect(a, 2)
    for (let i = 0; i < 3; i++) a.send(eb, new Uint8Array([1, i]))
    b.send(ea, new Uint8Array(1400).fill(9))
    b.send(ea, new Uint8Array(0))
    const [gotB, gotA] = await Promise.all([atB, atA])

    expect(gotB.map(p => Array.from(p.data)).sort()).to.deep.equal([[1, 0], [1, 1], [1, 2]])
    for (const p of gotB) expect(endpointsEqual(p.from, ea), `from ${JSON.stringify(p.from)}`).to.equal(true)
    expect(gotA.map(p => p.data.length).sort((x, y) => x - y)).to.deep.equal([0, 1400])
    expect(gotA[0].data).to.be.instanceOf(Uint8Array)
    expect(Buffer.isBuffer(gotA[0].data)).to.equal(false)
    for (const p of gotA) expect(endpointsEqual(p.from, eb)).to.equal(true)
    expect(a.stats()).to.include({ packetsSent: 3, bytesSent: 6, packetsReceived: 2, bytesReceived: 1400, packetsDropped: 0, sendErrors: 0 })
    expect(b.stats()).to.include({ packetsSent: 2, bytesSent: 1400, packetsReceived: 3, bytesReceived: 6 })
  }

  it('exchanges packets both ways over IPv4 loopback', async () => {
    await exchange('127.0.0.1')
  })

  it('exchanges packets both ways over IPv6 loopback', async function () {
    requireOrSkipIf(this, await ipv6LoopbackAvailable(), 'IPv6 loopback (::1)', 'cannot bind a UDP socket to ::1 on this machine')
    await exchange('::1')
  })

  it('on a dual-stack IPv6 socket, reports IPv4 peers as IPv4 and replies to them', async function () {
    requireOrSkipIf(this, await ipv6LoopbackAvailable(), 'IPv6 sockets', 'cannot bind a UDP socket to ::1 on this machine')
    // The IPv4-mapped loopback address: an IPv6 socket that only IPv4 loopback reaches.
    const dual = make({ host: '::ffff:127.0.0.1' })
    const v4 = make({ host: '127.0.0.1' })
    await Promise.all([dual.start(), v4.start()])
    expect(dual.localEndpoint().host).to.equal('127.0.0.1')
    const atDual = collect(dual, 1)
    const atV4 = collect(v4, 1)
    v4.send(dual.localEndpoint(), new Uint8Array([4]))
    const [req] = await atDual
    expect(req.from).to.deep.equal(v4.localEndpoint())
    dual.send(req.from, new Uint8Array([6]))
    const [reply] = await atV4
    expect(Array.from(reply.data)).to.deep.equal([6])
    expect(endpointsEqual(reply.from, dual.localEndpoint())).to.equal(true)
    expect(dual.stats().sendErrors).to.equal(0)
  })

  it('refuses an oversized send with PacketTooLargeError and drops oversized arrivals', async () => {
    const small = make({ host: '127.0.0.1', maxPacketBytes: 100 })
    const big = make({ host: '127.0.0.1', maxPacketBytes: 2000 })
    await Promise.all([small.start(), big.start()])
    expectCode(() => { small.send(big.localEndpoint(), new Uint8Array(101)) }, 'WIREMESH_ERR_PACKET_TOO_LARGE')
    expectCode(() => { make({ host: '127.0.0.1' }).send(big.localEndpoint(), new Uint8Array(1401)) }, 'WIREMESH_ERR_PACKET_TOO_LARGE')
    expect(small.stats().packetsSent).to.equal(0)

    // 150 bytes is fine for `big` to send, but over `small`'s limit: counted and dropped.
    const arrived = collect(small, 1)
    big.send(small.localEndpoint(), new Uint8Array(150))
    big.send(small.localEndpoint(), new Uint8Array(50))
    const [p] = await arrived
    expect(p.data.length).to.equal(50)
    expect(small.stats()).to.include({ packetsReceived: 1, packetsDropped: 1 })
  })

  it('stop() is idempotent, frees the port, and nothing is sent or delivered after it', async () => {
    const a = make({ host: '127.0.0.1' })
    await Promise.all([a.start(), a.start()])
    await a.start()
    const { port } = a.localEndpoint()

    // The port is taken while `a` runs.
    await expectRejectCode(make({ host: '127.0.0.1', port }).start(), 'WIREMESH_ERR_TRANSPORT_START')

    let delivered = 0
    a.onPacket(() => { delivered++ })
    await Promise.all([a.stop(), a.stop()])
    await a.stop()
    expect(a.isStarted()).to.equal(false)
    expectCode(() => a.localEndpoint(), 'WIREMESH_ERR_TRANSPORT_NOT_STARTED')
    a.send({ host: '127.0.0.1', port }, new Uint8Array(1))
    expect(a.stats().packetsDropped).to.equal(1)

    // The same port can be bound again at once.
    const again = make({ host: '127.0.0.1', port })
    await again.start()
    expect(again.localEndpoint()).to.deep.equal({ host: '127.0.0.1', port })
    const got = collect(again, 1)
    const sender = make({ host: '127.0.0.1' })
    await sender.start()
    sender.send({ host: '127.0.0.1', port }, new Uint8Array([42]))
    expect(Array.from((await got)[0].data)).to.deep.equal([42])
    expect(delivered).to.equal(0)

    // And a stopped transport starts again.
    await a.start()
    expect(a.localEndpoint().port).to.not.equal(port)
  })

  it('counts send errors instead of throwing, and validates its config and start', async () => {
    const v4 = make({ host: '127.0.0.1' })
    await v4.start()
    // An IPv4 socket cannot reach an IPv6 address: a network error, so counted, not thrown.
    v4.send({ host: '::1', port: 9 }, new Uint8Array(1))
    for (let i = 0; i < 50 && v4.stats().sendErrors === 0; i++) await new Promise(resolve => setTimeout(resolve, 10))
    expect(v4.stats()).to.include({ sendErrors: 1, packetsDropped: 1, packetsSent: 0 })
    expectCode(() => { v4.send({ host: '127.0.0.1', port: 0 }, new Uint8Array(1)) }, 'WIREMESH_ERR_INVALID_ENDPOINT')

    expectCode(() => new UdpTransport({ host: 'localhost' }), 'WIREMESH_ERR_INVALID_CONFIG')
    expectCode(() => new UdpTransport({ port: 70000 }), 'WIREMESH_ERR_INVALID_CONFIG')
    expectCode(() => new UdpTransport({ maxPacketBytes: 70000 }), 'WIREMESH_ERR_INVALID_CONFIG')

    const ac = new AbortController()
    ac.abort()
    const t = make({ host: '127.0.0.1' })
    await expectRejectCode(t.start({ signal: ac.signal }), 'WIREMESH_ERR_ABORTED')
    expect(t.isStarted()).to.equal(false)

    // Aborted while binding: the half-open socket is closed and the transport stays stopped.
    const mid = new AbortController()
    const binding = t.start({ signal: mid.signal })
    mid.abort()
    await expectRejectCode(binding, 'WIREMESH_ERR_ABORTED')
    expect(t.isStarted()).to.equal(false)
    await t.start()
    expect(t.isStarted()).to.equal(true)
  })
})
