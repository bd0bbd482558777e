/** The probe loop's fallback pings (lib/gossip/prober.ts): direct pings again after a missed ack, alongside the indirect ones. */
import { expect } from 'chai'
import { ManualClock } from '../../lib/clock.js'
import { resolveGossipConfig } from '../../lib/gossip/config.js'
import { Liveness, type LivenessBroadcast } from '../../lib/gossip/liveness.js'
import { Prober } from '../../lib/gossip/prober.js'
import { Key } from '../../lib/identity/key.js'
import { SeededRandom } from '../../lib/random.js'

const fixed = new SeededRandom(9)
const [self, target, h1, h2, h3] = Array.from({ length: 5 }, () => Key.fromBytes(fixed.bytes(32)))

function setup (fallbackPings: number) {
  const cfg = resolveGossipConfig('lan', { ringProbeEvery: 0, fallbackPings })
  const clock = new ManualClock()
  const liveness = new Liveness({ clock, random: new SeededRandom(1) }, { self, config: cfg })
  liveness.addMember(target)
  const pings: Array<{ to: string, seq: number, at: number }> = []
  const pingReqs: Array<{ via: string, seq: number }> = []
  const claims: LivenessBroadcast[] = []
  const prober = new Prober({
    liveness,
    clock,
    random: new SeededRandom(2),
    sendPing: (to, seq) => { pings.push({ to: to.toBase64(), seq, at: clock.now() }) },
    sendPingReq: (via, seq) => { pingReqs.push({ via: via.toBase64(), seq }) },
    sendAck: () => {},
    sendNack: () => {},
    pickHelpers: k => [h1, h2, h3].slice(0, k),
    broadcast: b => { claims.push(b) }
  }, { indirectChecks: cfg.indirectChecks, fallbackPings: cfg.fallbackPings })
  prober.start()
  /** Runs until the first ping to the target went out; returns its time. */
  const firstPing = (): number => {
    for (let i = 0; i < 2000 && pings.length === 0; i++) clock.advance(1)
    expect(pings.length, 'a first ping').to.equal(1)
    return pings[0].at
  }
  return { cfg, clock, prober, pings, pingReqs, claims, firstPing }
}

describe('gossip/prober fallback pings', () => {
  it('pings the target again at the probe timeout and halfway through the rest, with the same seq, then suspects it', () => {
    const { cfg, clock, prober, pings, pingReqs, claims, firstPing } = setup(2)
    const t0 = firstPing()
    clock.advance(cfg.probeIntervalMs - 1)
    const retries = pings.slice(1).filter(p => p.to === target.toBase64())
    expect(retries.map(p => p.at - t0)).to.deep.equal([cfg.probeTimeoutMs, cfg.probeTimeoutMs + (cfg.probeIntervalMs - cfg.probeTimeoutMs) / 2])
    expect(retries.every(p => p.seq === pings[0].seq)).to.equal(true)
    expect(pingReqs).to.have.length(3)
    expect(prober.stats.fallbackPings).to.equal(2)
    clock.advance(1) // the next tick ends the period
    expect(claims.map(c => c.type)).to.deep.equal(['suspect'])
  })

  it('an ack to a fallback ping closes the period: no suspicion, and no later retry', () => {
    const { cfg, clock, prober, pings, claims, firstPing } = setup(2)
    firstPing()
    clock.advance(cfg.probeTimeoutMs)
    expect(pings).to.have.length(2) // the first retry went out with the indirect probes
    prober.onAck(target, pings[1].seq)
    clock.advance(cfg.probeIntervalMs - cfg.probeTimeoutMs - 1)
    expect(prober.stats.fallbackPings, 'the second retry is skipped').to.equal(1)
    clock.advance(1) // the next tick ends the period
    expect(claims).to.deep.equal([])
  })

  it('sends none with fallbackPings 0', () => {
    const { cfg, clock, prober, pings, claims, firstPing } = setup(0)
    firstPing()
    clock.advance(cfg.probeIntervalMs)
    expect(pings.filter(p => p.to === target.toBase64())).to.have.length(2) // the first probe, and the next period's
    expect(prober.stats.fallbackPings).to.equal(0)
    expect(claims.map(c => c.type)).to.deep.equal(['suspect'])
  })

  it('stop() cancels a pending retry', () => {
    const { cfg, clock, prober, pings, firstPing } = setup(2)
    firstPing()
    clock.advance(cfg.probeTimeoutMs)
    const sent = pings.length
    prober.stop()
    clock.advance(cfg.probeIntervalMs * 3)
    expect(pings.length).to.equal(sent)
  })
})
