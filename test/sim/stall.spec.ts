import { expect } from 'chai'
import { ManualClock } from '../../lib/clock.js'
import { formatEndpoint } from '../../lib/gossip/endpoint.js'
import { MemoryNetwork } from '../../lib/gossip/memory-transport.js'
import { SeededRandom } from '../../lib/random.js'
import { NodeClock } from '../../lib/sim/node-clock.js'
import { exponentialLatency, uniformLatency, empiricalLatency } from '../../lib/sim/latency.js'
import { expectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

describe('sim/stall: a frozen node', () => {
  it('NodeClock.hold keeps the timers that fall due and release runs them at once, in due order', () => {
    const base = new ManualClock(0)
    const node = new NodeClock(base)
    const other = new NodeClock(base)
    const log: string[] = []
    const at = (what: string) => () => { log.push(`${what}@${base.now()}`) }
    node.schedule(at('a10'), 10)
    node.schedule(at('b30'), 30)
    const c20 = node.schedule(at('c20'), 20)
    node.schedule(at('d90'), 90)
    other.schedule(at('other15'), 15)
    node.hold()
    base.advance(25)
    node.cancel(c20) // cancelled while held: never runs
    base.advance(25) // t = 50
    expect(log).to.deep.equal(['other15@15'])
    expect(node.pending).to.equal(3)
    node.release()
    expect(log).to.have.length(1) // release hands them to the clock; nothing runs inside it
    base.advance(0)
    expect(log).to.deep.equal(['other15@15', 'a10@50', 'b30@50'])
    base.advance(50)
    expect(log.at(-1)).to.equal('d90@90')
    expect(node.pending).to.equal(0)
    expect(base.pending).to.equal(0)
  })

  it('NodeClock.kill cancels every timer of the node for good, and only its own', () => {
    const base = new ManualClock(0)
    const node = new NodeClock(base)
    const other = new NodeClock(base)
    let fired = 0
    node.schedule(() => { fired++ }, 5)
    node.hold()
    base.advance(10)
    node.schedule(() => { fired++ }, 5)
    other.schedule(() => { fired += 100 }, 5)
    node.kill()
    node.schedule(() => { fired++ }, 1)
    node.release()
    base.advance(20)
    expect(fired).to.equal(100)
    expect(node.pending).to.equal(0)
    expect(base.pending).to.equal(0)
  })

  it('a paused transport buffers inbound packets and delivers them after resume, in arrival order (SEED replays)', async function () {
    await withSeed(this, async (random) => {
      const clock = new ManualClock(0)
      const net = new MemoryNetwork({ clock, random }, { minLatencyMs: 1, maxLatencyMs: 20 })
      const [a, b, c] = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map(host => net.createTransport({ host, port: 7946 }))
      for (const t of [a, b, c]) await t.start()
      const got: Array<{ data: string, atMs: number, from: string }> = []
      b.onPacket((p, from) => { got.push({ data: text(p), atMs: clock.now(), from: formatEndpoint(from) }) })
      const arrivals: string[] = []
      // What the network hands b, in arrival order, whatever b does with it.
      const receive = b.receive.bind(b)
      b.receive = (p, from) => { arrivals.push(text(p)); receive(p, from) }

      b.pause()
      expect(b.isPaused()).to.equal(true)
      for (let i = 0; i < 20; i++) (i % 2 === 0 ? a : c).send(b.localEndpoint(), bytes(`p${i}`))
      clock.advance(100)
      expect(got).to.have.length(0)
      expect(b.buffered).to.equal(20)
      b.send(a.localEndpoint(), bytes('sent while paused')) // sending is unaffected
      b.resume()
      expect(got).to.have.length(0) // never from inside resume()
      const arrived = arrivals.slice()
      clock.advance(0)
      expect(arrived).to.have.length(20)
      expect(got.map(g => g.data)).to.deep.equal(arrived)
      expect(got.every(g => g.atMs === 100)).to.equal(true)
      expect(b.stats()).to.include({ packetsReceived: 20, packetsDropped: 0 })
      a.send(b.localEndpoint(), bytes('after'))
      clock.advance(50)
      expect(got.at(-1)?.data).to.equal('after')
      net.clear()
    })
  })

  it('a pause buffer holds maxBufferedBytes; what overflows is dropped and counted', async () => {
    const clock = new ManualClock(0)
    const net = new MemoryNetwork({ clock, random: new SeededRandom(1) })
    const a = net.createTransport({ host: '10.0.0.1', port: 1 })
    const b = net.createTransport({ host: '10.0.0.2', port: 1 })
    await a.start(); await b.start()
    const got: string[] = []
    b.onPacket(p => { got.push(text(p)) })
    b.pause({ maxBufferedBytes: 25 })
    for (let i = 0; i < 5; i++) a.send(b.localEndpoint(), bytes(`ten-bytes${i}`))
    clock.advance(100)
    expect(b.buffered).to.equal(2)
    b.resume()
    clock.advance(0)
    expect(got).to.have.length(2)
    expect(b.stats().packetsDropped).to.equal(3)
    // Stopping a paused transport discards its buffer.
    b.pause()
    a.send(b.localEndpoint(), bytes('lost'))
    clock.advance(100)
    await b.stop()
    expect(b.stats().packetsDropped).to.equal(4)
    expect(clock.pending).to.equal(0)
  })

  it('a killed transport sends nothing and receives nothing, in flight or buffered', async () => {
    const clock = new ManualClock(0)
    const net = new MemoryNetwork({ clock, random: new SeededRandom(2) }, { minLatencyMs: 10, maxLatencyMs: 10 })
    const a = net.createTransport({ host: '10.0.0.1', port: 1 })
    const b = net.createTransport({ host: '10.0.0.2', port: 1 })
    await a.start(); await b.start()
    const got: string[] = []
    a.onPacket(p => { got.push(`a:${text(p)}`) })
    b.onPacket(p => { got.push(`b:${text(p)}`) })
    b.send(a.localEndpoint(), bytes('on the wire before'))
    a.send(b.localEndpoint(), bytes('in flight'))
    b.pause()
    clock.advance(10) // 'in flight' is now in b's buffer
    a.send(b.localEndpoint(), bytes('in flight too'))
    b.kill()
    b.send(a.localEndpoint(), bytes('after death'))
    b.resume()
    clock.advance(100)
    expect(got).to.deep.equal(['a:on the wire before'])
    expect(net.stats()).to.include({ undeliverable: 1 })
    expect(b.stats()).to.include({ packetsSent: 1, packetsDropped: 2 }) // the buffered one, the send after death
    expect(b.isKilled()).to.equal(true)
    expect(clock.pending).to.equal(0)
  })

  it('latency from a quantile function: uniform, exponential tail, empirical; bad parameters refused', async () => {
    expect(uniformLatency(1, 50)(0)).to.equal(1)
    expect(uniformLatency(1, 50)(0.5)).to.equal(25.5)
    const exp = exponentialLatency({ minMs: 5, meanMs: 25, maxMs: 200 })
    expect(exp(0)).to.equal(5)
    expect(exp(1 - Math.exp(-1))).to.be.closeTo(25, 1e-9)
    expect(exp(0.999999999)).to.equal(200)
    expect(empiricalLatency([30, 10, 20])(0.5)).to.equal(20)
    expectCode(() => uniformLatency(10, 1), 'WIREMESH_ERR_INVALID_CONFIG')
    expectCode(() => empiricalLatency([]), 'WIREMESH_ERR_INVALID_CONFIG')

    const clock = new ManualClock(0)
    expectCode(() => new MemoryNetwork({ clock, random: new SeededRandom(1) }, { latency: exp, maxLatencyMs: 9 }), 'WIREMESH_ERR_INVALID_CONFIG')
    const net = new MemoryNetwork({ clock, random: new SeededRandom(1) }, { latency: () => 42 })
    const a = net.createTransport({ host: '10.0.0.1', port: 1 })
    const b = net.createTransport({ host: '10.0.0.2', port: 1 })
    await a.start(); await b.start()
    const at: number[] = []
    b.onPacket(() => { at.push(clock.now()) })
    a.send(b.localEndpoint(), bytes('x'))
    net.setLatencyModel(() => Number.NaN) // taken as 0
    a.send(b.localEndpoint(), bytes('y'))
    clock.advance(100)
    expect(at).to.deep.equal([0, 42])
  })
})
