import { expect } from 'chai'
import {
  GOSSIP_PRESETS, GOSSIP_RANGES, type GossipConfig, type GossipInit, healthScaledMs, LAN, LOCAL, packetBudgetBytes,
  pushPullIntervalFor, resolveGossipConfig, retransmitLimit, SIM, suspicionConfirmations, suspicionMaxTimeoutMs,
  suspicionTimeoutAfterMs, suspicionTimeoutMs, WAN
} from '../../lib/gossip/config.js'
import { expectCode } from '../helpers/expect-code.js'

const INVALID = 'WIREMESH_ERR_INVALID_CONFIG'
const FIELDS = Object.keys(GOSSIP_RANGES) as Array<keyof GossipConfig>
const NS = [1, 10, 100, 1000, 10_000]

/** Keeps the probeTimeoutMs ≤ probeIntervalMs rule satisfied while one of them is pushed to a bound. */
function withPartner (field: keyof GossipConfig, v: number): GossipInit {
  if (field === 'probeTimeoutMs') return { probeTimeoutMs: v, probeIntervalMs: GOSSIP_RANGES.probeIntervalMs.max }
  if (field === 'probeIntervalMs') return { probeIntervalMs: v, probeTimeoutMs: GOSSIP_RANGES.probeTimeoutMs.min }
  return { [field]: v }
}

describe('gossip/config', () => {
  it('every preset resolves to itself, by object and by name', () => {
    for (const [name, preset] of Object.entries(GOSSIP_PRESETS)) {
      expect(resolveGossipConfig(preset), name).to.deep.equal(preset)
      expect(resolveGossipConfig(name as keyof typeof GOSSIP_PRESETS), name).to.deep.equal(preset)
      expect(Object.keys(preset).sort(), name).to.deep.equal([...FIELDS].sort())
    }
    expect(resolveGossipConfig()).to.deep.equal(LAN)
  })

  it('LAN carries memberlist\'s LAN defaults (TESTING.md) and the design\'s limits', () => {
    expect(LAN).to.include({
      gossipIntervalMs: 200, fanout: 3, retransmitMult: 4, probeIntervalMs: 1000, suspicionMult: 4,
      pushPullIntervalMs: 30_000, maxPacketBytes: 1400, epochRotateMs: 120_000
    })
    expect(WAN).to.include({ gossipIntervalMs: 500, fanout: 4, probeIntervalMs: 5000, probeTimeoutMs: 3000, suspicionMult: 6, pushPullIntervalMs: 60_000 })
    expect(LOCAL).to.include({ gossipIntervalMs: 100, retransmitMult: 2, probeTimeoutMs: 200, indirectChecks: 1, suspicionMult: 3, pushPullIntervalMs: 15_000 })
    expect({ ...SIM, joinRateLimitPerSec: 0 }).to.deep.equal({ ...LAN, joinRateLimitPerSec: 0 })
  })

  it('overrides apply, undefined keeps the preset, and presets are never mutated', () => {
    const cfg = resolveGossipConfig(WAN, { fanout: 6, gossipIntervalMs: undefined, maxPacketBytes: 1232 })
    expect(cfg).to.deep.equal({ ...WAN, fanout: 6, maxPacketBytes: 1232 })
    expect(WAN.fanout).to.equal(4)
    expect(Object.isFrozen(LAN) && Object.isFrozen(cfg)).to.equal(true)
    expect(() => { (LAN as { fanout: number }).fanout = 9 }).to.throw(TypeError)
  })

  it('accepts each field at both ends of its range', () => {
    for (const f of FIELDS) {
      const { min, max } = GOSSIP_RANGES[f]
      expect(resolveGossipConfig(LAN, withPartner(f, min))[f], f).to.equal(min)
      expect(resolveGossipConfig(LAN, withPartner(f, max))[f], f).to.equal(max)
    }
  })

  it('refuses each field below, above, fractional or NaN with InvalidConfigError', () => {
    for (const f of FIELDS) {
      const { min, max } = GOSSIP_RANGES[f]
      for (const v of [min - 1, max + 1, min + 0.5, Number.NaN]) {
        expectCode(() => resolveGossipConfig(LAN, withPartner(f, v)), INVALID)
      }
    }
  })

  it('refuses a probe timeout longer than the probe interval, an unknown preset and a bad custom preset', () => {
    expectCode(() => resolveGossipConfig(LAN, { probeTimeoutMs: 1001 }), INVALID)
    expect(resolveGossipConfig(LAN, { probeTimeoutMs: 1000 }).probeTimeoutMs).to.equal(1000)
    expectCode(() => resolveGossipConfig('mars' as 'lan'), INVALID)
    expectCode(() => resolveGossipConfig({ ...LAN, fanout: 0 }), INVALID)
    expectCode(() => resolveGossipConfig(LAN, { epochRotateMs: 180_000 }), INVALID)
  })

  it('retransmitLimit = retransmitMult × ⌈log10(N+1)⌉', () => {
    expect(NS.map(n => retransmitLimit(LAN, n))).to.deep.equal([4, 8, 12, 16, 20])
    expect(NS.map(n => retransmitLimit(LOCAL, n))).to.deep.equal([2, 4, 6, 8, 10])
    expect([0, 9, 99, 999].map(n => retransmitLimit(LAN, n))).to.deep.equal([0, 4, 8, 12])
  })

  it('suspicionTimeoutMs = suspicionMult × probeIntervalMs + ⌈log_fanout N⌉ × gossipIntervalMs (not memberlist\'s log10 scaling)', () => {
    expect(NS.map(n => suspicionTimeoutMs(LAN, n))).to.deep.equal([4000, 4600, 5000, 5400, 5800])
    expect(NS.map(n => suspicionTimeoutMs(WAN, n))).to.deep.equal([30_000, 31_000, 32_000, 32_500, 33_500])
    expect(suspicionTimeoutMs(LAN, 0)).to.equal(4000)
    expect(suspicionTimeoutMs(LAN, 2)).to.equal(4200)
    expect(suspicionTimeoutMs(LAN, 50)).to.equal(4800) // 4 × 1000 + ⌈log3 50⌉ = 4 hops × 200
    expect(suspicionTimeoutMs({ ...LAN, fanout: 1 }, 5)).to.equal(4800) // a chain: N − 1 hops
    expect(NS.map(n => suspicionMaxTimeoutMs(LAN, n))).to.deep.equal([24_000, 27_600, 30_000, 32_400, 34_800])
  })

  it('Lifeguard: the suspicion timeout shrinks from max to min over K = suspicionMult − 2 confirmations', () => {
    expect(suspicionConfirmations(LAN, 100)).to.equal(2)
    expect(suspicionConfirmations(LAN, 3)).to.equal(0) // N − 2 < K: nobody to confirm
    expect(suspicionConfirmations(LAN, 4)).to.equal(2)
    expect([0, 1, 2, 5].map(c => suspicionTimeoutAfterMs(LAN, 100, c))).to.deep.equal([30_000, 14_226, 5000, 5000])
    expect(suspicionTimeoutAfterMs(LAN, 3, 0)).to.equal(4200)
    expect(suspicionTimeoutAfterMs({ ...LAN, suspicionMaxTimeoutMult: 1 }, 100, 0)).to.equal(5000)
  })

  it('pushPullIntervalFor = pushPullIntervalMs × (⌈log2(N/32)⌉ + 1) above 32 nodes', () => {
    expect(NS.map(n => pushPullIntervalFor(LAN, n))).to.deep.equal([30_000, 30_000, 90_000, 180_000, 300_000])
    expect([32, 33, 64, 65, 128, 129].map(n => pushPullIntervalFor(LAN, n))).to.deep.equal([30_000, 60_000, 60_000, 90_000, 90_000, 120_000])
    expect(pushPullIntervalFor(WAN, 1000)).to.equal(360_000)
  })

  it('health scaling and the packet budget', () => {
    expect([0, 3, 7, 100, -1].map(h => healthScaledMs(LAN, 1000, h))).to.deep.equal([1000, 4000, 8000, 8000, 1000])
    expect(healthScaledMs({ ...LAN, awarenessMaxMultiplier: 1 }, 500, 5)).to.equal(500)
    expect(packetBudgetBytes(LAN)).to.equal(1400)
    expect([1420, 1280, 1500].map(mtu => packetBudgetBytes(LAN, mtu))).to.deep.equal([1372, 1232, 1400])
  })
})
