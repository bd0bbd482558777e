import { expect } from 'chai'
import { ManualClock } from '../../lib/clock.js'
import { type Endpoint, formatEndpoint } from '../../lib/gossip/endpoint.js'
import { MemoryNetwork, type MemoryNetworkInit, type MemoryTransport } from '../../lib/gossip/memory-transport.js'
import { SeededRandom } from '../../lib/random.js'
import { expectCode, expectRejectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'

interface Received { atMs: number, to: string, from: string, data: string }

/** A network of `n` started transports at 10.0.0.1…n:7946, each logging what it receives. */
async function mesh (clock: ManualClock, random: SeededRandom, n: number, init: MemoryNetworkInit = {}): Promise<{ net: MemoryNetwork, ts: MemoryTransport[], log: Received[] }> {
  const net = new MemoryNetwork({ clock, random }, init)
  const log: Received[] = []
  const ts: MemoryTransport[] = []
  for (let i = 1; i <= n; i++) {
    const t = net.createTransport({ host: `10.0.0.${i}`, port: 7946 })
    await t.start()
    const to = formatEndpoint(t.localEndpoint())
    t.onPacket((p, from) => { log.push({ atMs: clock.now(), to, from: formatEndpoint(from), data: new TextDecoder().decode(p) }) })
    ts.push(t)
  }
  return { net, ts, log }
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('gossip/memory-transport', () => {
  it('delivers every packet within [minLatencyMs, maxLatencyMs], spread over the range', async function () {
    await withSeed(this, async (random) => {
      const clock = new ManualClock()
      const t0 = clock.now()
      const { ts: [a, b], log } = await mesh(clock, random, 2, { minLatencyMs: 5, maxLatencyMs: 20 })
      for (let i = 0; i < 300; i++) a.send(b.localEndpoint(), bytes(`p${i}`))
      clock.advance(4.999)
      expect(log).to.have.length(0)
      clock.advance(20)
      expect(log).to.have.length(300)
      const lat = log.map(r => r.atMs - t0)
      expect(Math.min(...lat)).to.be.at.least(5).and.below(6)
      expect(Math.max(...lat)).to.be.at.most(20).and.above(19)
      expect(a.stats()).to.include({ packetsSent: 300, packetsDropped: 0 })
      expect(b.stats()).to.include({ packetsReceived: 300, bytesReceived: log.reduce((n, r) => n + r.data.length, 0) })
    })
  })

  it('loses roughly lossProbability of the packets (seeded; SEED replays)', async function () {
    await withSeed(this, async (random) => {
      const clock = new ManualClock()
      const { net, ts: [a, b], log } = await mesh(clock, random, 2, { lossProbability: 0.3 })
      const n = 4000
      for (let i = 0; i < n; i++) a.send(b.localEndpoint(), bytes('x'))
      clock.advance(100)
      // Binomial: sd = √(n·p·(1−p)) ≈ 29 packets; ±6 sd is 175.
      expect(log.length).to.be.within(n * 0.7 - 175, n * 0.7 + 175)
      expect(net.stats()).to.deep.equal({ sent: n, delivered: log.length, lost: n - log.length, partitioned: 0, undeliverable: 0, inFlight: 0 })
      net.setLoss(0)
      a.send(b.localEndpoint(), bytes('y'))
      clock.advance(100)
      expect(log.at(-1)?.data).to.equal('y')
      expectCode(() => { net.setLoss(1.5) }, 'WIREMESH_ERR_INVALID_CONFIG')
    })
  })

  it('drops packets between partition groups, also those in flight, until healed', async function () {
    await withSeed(this, async (random) => {
      const clock = new ManualClock()
      const { net, ts: [a, b, c], log } = await mesh(clock, random, 3)
      const [ea, eb, ec] = [a, b, c].map(t => t.localEndpoint())
      net.partition({ left: [ea], right: [eb, formatEndpoint(ec)] })
      expect(net.groupOf(ea)).to.equal('left')
      a.send(eb, bytes('a>b'))
      b.send(ea, bytes('b>a'))
      b.send(ec, bytes('b>c'))
      clock.advance(100)
      expect(log.map(r => r.data)).to.deep.equal(['b>c'])
      expect(net.stats().partitioned).to.equal(2)

      net.heal()
      a.send(eb, bytes('a>b healed'))
      clock.advance(100)
      expect(log.map(r => r.data)).to.deep.equal(['b>c', 'a>b healed'])

      // Cut while in flight: the packet does not arrive.
      a.send(ec, bytes('a>c cut'))
      net.partition({ island: [ec] })
      clock.advance(100)
      expect(log).to.have.length(2)
      // The unlisted endpoints share the default group.
      a.send(eb, bytes('a>b default group'))
      clock.advance(100)
      expect(log.at(-1)?.data).to.equal('a>b default group')
      // Convergence: once healed, everyone reaches everyone.
      net.heal()
      for (const s of [a, b, c]) for (const d of [a, b, c]) if (s !== d) s.send(d.localEndpoint(), bytes('all'))
      clock.advance(100)
      expect(log.filter(r => r.data === 'all')).to.have.length(6)
    })
  })

  it('delivers identically for the same seed, in the same order', async function () {
    await withSeed(this, async (_random, seed) => {
      const run = async (s: number): Promise<Received[]> => {
        const clock = new ManualClock()
        const random = new SeededRandom(s)
        const { ts, log } = await mesh(clock, random, 5, { lossProbability: 0.2, minLatencyMs: 1, maxLatencyMs: 30 })
        for (let round = 0; round < 20; round++) {
          for (const [i, t] of ts.entries()) t.send(ts[(i + 1 + round) % ts.length].localEndpoint(), bytes(`${i}/${round}`))
          clock.advance(7)
        }
        clock.advance(100)
        return log
      }
      const first = await run(seed)
      expect(first.length).to.be.above(40)
      expect(await run(seed)).to.deep.equal(first)
      expect(await run((seed + 1) >>> 0)).to.not.deep.equal(first)
    })
  })

  it('delivers nothing after stop(), never from inside send(), and counts what it drops', async function () {
    await withSeed(this, async (random) => {
      const clock = new ManualClock()
      const { net, ts: [a, b], log } = await mesh(clock, random, 2, { minLatencyMs: 0, maxLatencyMs: 0 })
      const eb = b.localEndpoint()
      a.send(eb, bytes('zero latency'))
      expect(log).to.have.length(0)
      clock.advance(0)
      expect(log).to.have.length(1)

      a.send(eb, bytes('in flight'))
      await b.stop()
      await b.stop()
      clock.advance(10)
      expect(log).to.have.length(1)
      expect(net.stats().undeliverable).to.equal(1)
      expect(b.isStarted()).to.equal(false)
      expectCode(() => b.localEndpoint(), 'WIREMESH_ERR_TRANSPORT_NOT_STARTED')
      b.send({ host: '10.0.0.1', port: 7946 }, bytes('from a stopped transport'))
      expect(b.stats().packetsDropped).to.equal(1)
      clock.advance(10)
      expect(log).to.have.length(1)

      // Restart: same port free again, and packets flow.
      await b.start()
      a.send(eb, bytes('again'))
      clock.advance(1)
      expect(log.at(-1)?.data).to.equal('again')
    })
  })

  it('keeps the contract: idempotent start, bind conflicts, size limit, bad input, handler errors', async () => {
    const clock = new ManualClock()
    const net = new MemoryNetwork({ clock, random: new SeededRandom(1) }, { maxPacketBytes: 100 })
    const a = net.createTransport({ host: '10.0.0.1' })
    await Promise.all([a.start(), a.start()])
    const ea = a.localEndpoint()
    expect(ea.port).to.be.at.least(49152)
    const clash = net.createTransport({ host: '10.0.0.1', port: ea.port })
    await expectRejectCode(clash.start(), 'WIREMESH_ERR_TRANSPORT_START')
    expect(clash.isStarted()).to.equal(false)
    const ac = new AbortController()
    ac.abort()
    await expectRejectCode(net.createTransport().start({ signal: ac.signal }), 'WIREMESH_ERR_ABORTED')

    expectCode(() => { a.send(ea, new Uint8Array(101)) }, 'WIREMESH_ERR_PACKET_TOO_LARGE')
    expectCode(() => { a.send({ host: 'not a host', port: 1 }, new Uint8Array(1)) }, 'WIREMESH_ERR_INVALID_ENDPOINT')
    expectCode(() => { a.send({ host: '10.0.0.9', port: 0 }, new Uint8Array(1)) }, 'WIREMESH_ERR_INVALID_ENDPOINT')

    // The caller may reuse its buffer; a throwing handler is counted, the next still runs.
    const got: number[] = []
    a.onPacket(() => { throw new Error('hostile') })
    const off = a.onPacket(p => { got.push(p[0]) })
    const buf = new Uint8Array([7])
    a.send(ea, buf)
    buf[0] = 8
    clock.advance(100)
    expect(got).to.deep.equal([7])
    expect(a.stats().handlerErrors).to.equal(1)
    off()
    a.send(ea, buf)
    clock.advance(100)
    expect(got).to.deep.equal([7])

    expect(() => new MemoryNetwork({ clock, random: new SeededRandom(1) }, { minLatencyMs: 10, maxLatencyMs: 5 })).to.throw().with.property('code', 'WIREMESH_ERR_INVALID_CONFIG')
    await a.stop()
    expect(net.stats().inFlight).to.equal(0)
  })

  it('clear() cancels what is in flight', async () => {
    const clock = new ManualClock()
    const net = new MemoryNetwork({ clock, random: new SeededRandom(2) })
    const a = net.createTransport({ host: '10.0.0.1', port: 1 })
    await a.start()
    const seen: Endpoint[] = []
    a.onPacket((_p, from) => { seen.push(from) })
    a.send(a.localEndpoint(), new Uint8Array(1))
    net.clear()
    clock.advance(100)
    expect(seen).to.have.length(0)
    expect(net.stats()).to.include({ inFlight: 0, undeliverable: 1 })
  })
})
