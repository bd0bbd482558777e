/**
 * Reconciler on the memory backend and a ManualClock: the diff is minimal, learned endpoints
 * and foreign peers are left alone, drift is repaired by the periodic resync, failures are
 * retried, split and reported; then a Mesh with a backend, on the seeded memory network,
 * following the view (revocation included).
 */
import { expect } from 'chai'
import { ManualClock } from '../../lib/clock.js'
import { WireGuardError } from '../../lib/errors.js'
import { formatEndpoint as formatGossipEndpoint } from '../../lib/gossip/endpoint.js'
import { MemoryNetwork } from '../../lib/gossip/memory-transport.js'
import { NodeIdentity } from '../../lib/identity/identity.js'
import { Key } from '../../lib/identity/key.js'
import { Ed25519Signer } from '../../lib/identity/sign.js'
import { clampPrivateKey } from '../../lib/identity/wg-key.js'
import { inlineVerifier } from '../../lib/membership/verify.js'
import { MemoryStorage } from '../../lib/mesh/memory-storage.js'
import { Mesh } from '../../lib/mesh/mesh.js'
import type { SeededRandom } from '../../lib/random.js'
import type { AbortOptions } from '../../lib/gossip/transport.js'
import type { DeviceChange, DeviceState, PeerUpsert, WgPeer, WireGuardBackend } from '../../lib/wireguard/backend.js'
import type { PeerSpec } from '../../lib/wireguard/desired.js'
import { MemoryBackend } from '../../lib/wireguard/memory.js'
import { Reconciler, type ReconcilerInit, resolveReconcilerInit } from '../../lib/wireguard/reconciler.js'
import { expectCode, expectRejectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'
import { enrollInit } from '../helpers/org.js'

const INVALID_CONFIG = 'WIREMESH_ERR_INVALID_CONFIG'
const RECONCILE = 'WIREMESH_ERR_RECONCILE'
const PREFIX = 'fd12:3456:789a::/48'

const key = (n: number): Key => Key.fromBytes(new Uint8Array(32).fill(n))
const ip = (n: number): string => `fd12:3456:789a::${n.toString(16)}/128`
const spec = (n: number, host = `192.0.2.${n}`, port = 51820): PeerSpec => ({ publicKey: key(n), allowedIps: [ip(n)], endpoints: [{ host, port }] })
/** Upserts with their keys as base64, to compare. */
const shown = (us: PeerUpsert[] | undefined): object[] => (us ?? []).map(u => ({ ...u, publicKey: u.publicKey.toBase64() }))
const tick = async (): Promise<void> => { await new Promise<void>(resolve => setImmediate(resolve)) }

/** A memory device that can also refuse every batch naming a poisoned key, and logs each batch's size. */
class Flaky implements WireGuardBackend {
  readonly kind = 'memory' as const
  readonly iface = 'wmf0'
  readonly dev = new MemoryBackend({ iface: 'wmf0' })
  readonly poison = new Set<string>()
  /** Every apply call: its peer entries and whether it failed. */
  readonly calls: Array<{ size: number, failed: boolean, at: number }> = []
  failReads = 0
  constructor (readonly clock: ManualClock) {}

  async read (o?: AbortOptions): Promise<DeviceState> {
    if (this.failReads > 0) { this.failReads--; throw new WireGuardError('read refused', { backend: 'memory', op: 'read', errno: 5 }) }
    return await this.dev.read(o)
  }

  async apply (c: DeviceChange, o?: AbortOptions): Promise<void> {
    const size = (c.upserts?.length ?? 0) + (c.removals?.length ?? 0)
    const bad = [...(c.upserts ?? []).map(u => u.publicKey), ...(c.removals ?? [])].some(k => this.poison.has(k.mapKey))
    this.calls.push({ size, failed: bad, at: this.clock.now() })
    if (bad) throw new WireGuardError('set refused', { backend: 'memory', op: 'apply', errno: 22 })
    await this.dev.apply(c, o)
  }

  async close (): Promise<void> { await this.dev.close() }
}

class Rig {
  readonly clock = new ManualClock()
  wanted: PeerSpec[] = []
  readonly backend: WireGuardBackend
  readonly r: Reconciler
  readonly errors: Error[] = []
  constructor (init: ReconcilerInit = {}, opts: { flaky?: boolean, resolveHost?: (h: string) => Promise<string[]> } = {}) {
    this.backend = opts.flaky === true ? new Flaky(this.clock) : new MemoryBackend()
    const resolveHost = opts.resolveHost
    this.r = new Reconciler({ backend: this.backend, clock: this.clock, desired: () => this.wanted, ...(resolveHost === undefined ? {} : { resolveHost }) }, { managedPrefixes: [PREFIX], ...init })
    this.r.addEventListener('error', e => { this.errors.push(e.detail.error) })
  }

  get mem (): MemoryBackend { return this.backend instanceof Flaky ? this.backend.dev : this.backend as MemoryBackend }

  get flaky (): Flaky { return this.backend as Flaky }

  /** Moves the clock in steps, letting each pass's promises run. */
  async run (ms: number, stepMs = 10): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) { this.clock.advance(stepMs); await tick(); await this.r.idle() }
  }

  async peers (): Promise<Map<string, WgPeer>> {
    return new Map((await this.mem.read()).peers.map(p => [p.publicKey.toBase64(), p]))
  }
}

describe('wireguard/reconciler', () => {
  it('adds the wanted peers in one apply, and an unchanged resync sends nothing', async () => {
    const rig = new Rig()
    rig.wanted = [spec(1), spec(2), spec(3)]
    rig.r.start()
    await rig.run(10)
    expect(rig.mem.applied).to.have.length(1)
    expect(rig.mem.applied[0].upserts).to.have.length(3)
    const p = (await rig.peers()).get(key(2).toBase64())!
    expect([p.allowedIps, p.endpoint, p.persistentKeepaliveS]).to.deep.equal([[ip(2)], { host: '192.0.2.2', port: 51820 }, 25])
    const reads = rig.mem.reads
    await rig.run(30_000, 100)
    // Three periodic passes (10 s apart), each one read and no write.
    expect(rig.mem.reads - reads).to.be.within(3, 4)
    expect(rig.mem.applied).to.have.length(1)
    expect(rig.r.status()).to.include({ applies: 1, failures: 0, managed: 3, foreign: 0 })
    await rig.r.stop()
    expect(rig.clock.pending).to.equal(0)
  })

  it('debounces a burst of changes into one apply, and a change during a pass into one more', async () => {
    const rig = new Rig({ debounceMs: 50 })
    rig.r.start()
    await rig.run(10)
    expect(rig.mem.applied).to.have.length(0) // nothing wanted, nothing sent
    for (let i = 1; i <= 20; i++) { rig.wanted = [...rig.wanted, spec(i)]; rig.r.changed(); rig.clock.advance(2) }
    await rig.run(100)
    expect(rig.mem.applied).to.have.length(1)
    expect(rig.mem.applied[0].upserts).to.have.length(20)
    // A change while a pass is in flight is not lost.
    const pass = rig.r.sync()
    rig.wanted = [...rig.wanted, spec(21)]
    rig.r.changed()
    await pass
    await rig.run(100)
    expect((await rig.peers()).has(key(21).toBase64())).to.equal(true)
    await rig.r.stop()
  })

  it('writes only what differs: a new endpoint, a keepalive, an added prefix, a shrink with replace; moves before shrinks', async () => {
    const rig = new Rig({ keepaliveS: 0 })
    rig.wanted = [spec(1), spec(2)]
    rig.r.start()
    await rig.run(10)
    expect((await rig.peers()).get(key(1).toBase64())!.persistentKeepaliveS).to.equal(0)
    // Peer 1 moves to a new gossiped endpoint; peer 2 gains a prefix; nothing else changes.
    rig.wanted = [spec(1, '198.51.100.1'), { ...spec(2), allowedIps: [ip(2), '10.2.0.0/16'] }]
    expect(await rig.r.sync()).to.equal(true)
    const last = rig.mem.applied.at(-1)!
    expect(last.removals).to.deep.equal([])
    expect(shown(last.upserts)).to.deep.equal(shown([
      { publicKey: key(1), endpoint: { host: '198.51.100.1', port: 51820 } },
      { publicKey: key(2), allowedIps: ['10.2.0.0/16'] }
    ]))
    // 10.2.0.0/16 moves from peer 2 to peer 1, and peer 2 shrinks: the add goes first.
    rig.wanted = [{ ...spec(1, '198.51.100.1'), allowedIps: [ip(1), '10.2.0.0/16'] }, spec(2)]
    await rig.r.sync()
    expect(shown(rig.mem.applied.at(-1)!.upserts)).to.deep.equal(shown([
      { publicKey: key(1), allowedIps: ['10.2.0.0/16'] },
      { publicKey: key(2), allowedIps: [ip(2)], replaceAllowedIps: true }
    ]))
    expect((await rig.peers()).get(key(1).toBase64())!.allowedIps).to.deep.equal([ip(1), '10.2.0.0/16'])
    // A prefix claimed twice stays with the first claimant.
    rig.wanted = [{ ...spec(1, '198.51.100.1'), allowedIps: [ip(1), '10.2.0.0/16'] }, { ...spec(2), allowedIps: [ip(2), '10.2.0.0/16'] }]
    await rig.r.sync()
    expect(rig.r.status().conflicts).to.equal(1)
    expect((await rig.peers()).get(key(2).toBase64())!.allowedIps).to.deep.equal([ip(2)])
    await rig.r.stop()
  })

  it('leaves an endpoint WireGuard learned until the gossiped one changes after it', async () => {
    const rig = new Rig()
    rig.wanted = [spec(1), spec(2)]
    rig.r.start()
    await rig.run(10)
    const n = rig.mem.applied.length
    // Roaming: WireGuard took a new source address from an authenticated packet.
    rig.mem.setEndpoint(key(1), { host: '203.0.113.9', port: 40000 })
    await rig.run(10_000, 100)
    expect((await rig.peers()).get(key(1).toBase64())!.endpoint).to.deep.equal({ host: '203.0.113.9', port: 40000 })
    expect(rig.mem.applied).to.have.length(n)
    expect(rig.r.status().learnedEndpoints).to.equal(1)
    // The member then publishes a new endpoint: that is newer than the roam, and written.
    rig.clock.advance(1000)
    rig.wanted = [spec(1, '198.51.100.7'), spec(2)]
    rig.r.changed()
    await rig.run(100)
    expect((await rig.peers()).get(key(1).toBase64())!.endpoint).to.deep.equal({ host: '198.51.100.7', port: 51820 })
    expect(rig.r.status().learnedEndpoints).to.equal(0)
    await rig.r.stop()
  })

  it('a second roam restarts the learned endpoint\'s time: a wanted change seen in the same pass does not overwrite it', async () => {
    const rig = new Rig()
    rig.wanted = [spec(1)]
    rig.r.start()
    await rig.run(10)
    rig.mem.setEndpoint(key(1), { host: '203.0.113.9', port: 40000 })
    await rig.run(10_000, 100)
    expect(rig.r.status().learnedEndpoints).to.equal(1)
    const n = rig.mem.applied.length
    // WireGuard roams again, and the gossiped endpoint changes, both seen by the next pass: a tie keeps the learned one.
    rig.clock.advance(1000)
    rig.mem.setEndpoint(key(1), { host: '203.0.113.10', port: 40001 })
    rig.wanted = [spec(1, '198.51.100.7')]
    rig.r.changed()
    await rig.run(100)
    expect((await rig.peers()).get(key(1).toBase64())!.endpoint).to.deep.equal({ host: '203.0.113.10', port: 40001 })
    expect(rig.mem.applied).to.have.length(n)
    expect(rig.r.status().learnedEndpoints).to.equal(1)
    // A wanted change after that roam is newer, and written.
    rig.clock.advance(1000)
    rig.wanted = [spec(1, '198.51.100.8')]
    rig.r.changed()
    await rig.run(100)
    expect((await rig.peers()).get(key(1).toBase64())!.endpoint).to.deep.equal({ host: '198.51.100.8', port: 51820 })
    await rig.r.stop()
  })

  it('keeps an endpoint it never wrote when the handshake is fresh (a restart), replaces it when stale', async () => {
    const rig = new Rig()
    rig.mem.addPeer({ publicKey: key(1), allowedIps: [ip(1)], endpoint: { host: '203.0.113.1', port: 1111 }, persistentKeepaliveS: 25 })
    rig.mem.setStats(key(1), { lastHandshakeMs: rig.clock.now() - 30_000 })
    rig.mem.addPeer({ publicKey: key(2), allowedIps: [ip(2)], endpoint: { host: '203.0.113.2', port: 2222 }, persistentKeepaliveS: 25 })
    rig.mem.setStats(key(2), { lastHandshakeMs: rig.clock.now() - 200_000 })
    rig.wanted = [spec(1), spec(2)]
    rig.r.start()
    await rig.run(10)
    const ps = await rig.peers()
    expect(ps.get(key(1).toBase64())!.endpoint).to.deep.equal({ host: '203.0.113.1', port: 1111 })
    expect(ps.get(key(2).toBase64())!.endpoint).to.deep.equal({ host: '192.0.2.2', port: 51820 })
    expect(shown(rig.mem.applied[0].upserts)).to.deep.equal(shown([{ publicKey: key(2), endpoint: { host: '192.0.2.2', port: 51820 } }]))
    await rig.r.stop()
  })

  it('skips and counts a spec with a malformed allowed IP or keepalive; the other peers still reconcile, its device peer is left as it is', async () => {
    const rig = new Rig()
    rig.wanted = [spec(1), spec(2)]
    rig.r.start()
    await rig.run(10)
    rig.wanted = [spec(1), { ...spec(2), allowedIps: [ip(2), 'fd00::1/129'] }, spec(3), { ...spec(4), persistentKeepaliveS: -1 }, { ...spec(5), allowedIps: [ip(1), 'nope'] }]
    expect(await rig.r.sync()).to.equal(true)
    const ps = await rig.peers()
    expect([...ps.keys()].sort()).to.deep.equal([1, 2, 3].map(n => key(n).toBase64()).sort())
    expect(ps.get(key(2).toBase64())!.allowedIps).to.deep.equal([ip(2)])
    // The bad spec claimed no prefix: no conflict with peer 1.
    expect(rig.r.status()).to.include({ invalidSpecs: 3, conflicts: 0, failures: 0 })
    rig.wanted = [spec(1), spec(3)]
    await rig.r.sync()
    expect(rig.r.status().invalidSpecs).to.equal(0)
    expect((await rig.peers()).has(key(2).toBase64())).to.equal(false)
    await rig.r.stop()
  })

  it('restores a peer removed by hand within one resync interval, with nothing else sent', async () => {
    const rig = new Rig({ resyncIntervalMs: 2000 })
    rig.wanted = [spec(1), spec(2), spec(3)]
    rig.r.start()
    await rig.run(10)
    rig.mem.removePeer(key(2))
    await rig.run(2000, 50)
    const p = (await rig.peers()).get(key(2).toBase64())
    expect(p?.allowedIps).to.deep.equal([ip(2)])
    expect(rig.mem.applied).to.have.length(2)
    expect(rig.mem.applied[1].upserts!.map(u => u.publicKey.toBase64())).to.deep.equal([key(2).toBase64()])
    await rig.r.stop()
  })

  it('leaves a foreign peer alone unless exclusive; removes its own and the org prefix\'s', async () => {
    for (const exclusive of [false, true]) {
      const rig = new Rig({ exclusive })
      rig.wanted = [spec(1), spec(2)]
      rig.r.start()
      await rig.run(10)
      // By hand: a VPN peer outside the org, and a stale one inside the org /48.
      rig.mem.addPeer({ publicKey: key(50), allowedIps: ['10.9.0.0/24'], endpoint: { host: '192.0.2.50', port: 51820 } })
      rig.mem.addPeer({ publicKey: key(51), allowedIps: [ip(51)] })
      rig.mem.addPeer({ publicKey: key(52) })
      // Peer 2 leaves the view.
      rig.wanted = [spec(1)]
      rig.r.changed()
      await rig.run(100)
      const keys = [...(await rig.peers()).keys()].sort()
      const expected = exclusive ? [key(1)] : [key(1), key(50), key(52)]
      expect(keys, `exclusive ${exclusive}`).to.deep.equal(expected.map(k => k.toBase64()).sort())
      expect(rig.r.status().foreign).to.equal(exclusive ? 0 : 2)
      await rig.r.stop()
    }
  })

  it('retries a partly applied batch after a backoff, re-reading and sending only what is left', async () => {
    const rig = new Rig({ retryBaseMs: 500 })
    rig.wanted = [spec(1), spec(2), spec(3)]
    rig.mem.failNextApply({ errno: 5, afterUpserts: 1 })
    rig.r.start()
    await rig.run(10)
    expect(rig.r.status()).to.deep.include({ failures: 1 })
    expect(rig.r.status().lastError).to.include({ code: 'WIREMESH_ERR_WIREGUARD', errno: 5 })
    expect((await rig.peers()).size).to.equal(1)
    await rig.run(480)
    expect(rig.mem.applied).to.have.length(1) // not before the backoff
    await rig.run(30)
    expect(rig.mem.applied).to.have.length(2)
    expect(rig.mem.applied[1].upserts!.map(u => u.publicKey.toBase64())).to.deep.equal([key(2), key(3)].map(k => k.toBase64()))
    expect((await rig.peers()).size).to.equal(3)
    expect(rig.r.status().failures).to.equal(0)
    expect(rig.r.status().lastApply).to.include({ upserts: 2, removals: 0, batches: 1 })
    expect(rig.errors).to.have.length(0)
    await rig.r.stop()
  })

  it('splits a batch that fails twice until the bad peer is alone, reports an error event, and keeps retrying at the cap', async () => {
    const rig = new Rig({ retryBaseMs: 100, retryMaxMs: 1000, errorAfterFailures: 3 }, { flaky: true })
    const flaky = rig.flaky
    rig.wanted = [1, 2, 3, 4, 5, 6, 7, 8].map(n => spec(n))
    flaky.poison.add(key(3).mapKey)
    rig.r.start()
    await rig.run(20_000)
    const sizes = flaky.calls.map(c => `${c.size}${c.failed ? 'x' : ''}`)
    // 8 twice; halves of 4 (the good one applied), the bad 4 again; halves of 2, the bad 2
    // again; then the bad peer alone, the good one beside it applied, and the bad one forever.
    expect(sizes.slice(0, 10)).to.deep.equal(['8x', '8x', '4x', '4', '4x', '2', '2x', '2x', '1x', '1'])
    expect(new Set(sizes.slice(10))).to.deep.equal(new Set(['1x']))
    expect([...(await rig.peers()).keys()].sort()).to.deep.equal([1, 2, 4, 5, 6, 7, 8].map(n => key(n).toBase64()).sort())
    expect(rig.errors.length).to.be.at.least(2)
    const err = rig.errors[0]
    expect((err as { code?: string }).code).to.equal(RECONCILE)
    expect(err.cause).to.be.instanceOf(WireGuardError)
    expect((err.cause as WireGuardError).errno).to.equal(22)
    expect(rig.r.status().batchLimit).to.equal(1)
    // The backoff is capped: the last retries are retryMaxMs apart.
    const at = flaky.calls.map(c => c.at)
    expect(at.at(-1)! - at.at(-2)!).to.equal(1000)
    // The device recovers: the next retry applies the last peer and the batches are whole again.
    flaky.poison.clear()
    await rig.run(1100)
    expect(await rig.peers()).to.have.property('size', 8)
    expect(rig.r.status()).to.deep.include({ failures: 0, batchLimit: undefined })
    await rig.r.stop()
    expect(rig.clock.pending).to.equal(0)
  })

  it('a failing read is retried with backoff and counted like a failed apply', async () => {
    const rig = new Rig({ retryBaseMs: 100, errorAfterFailures: 4 }, { flaky: true })
    rig.flaky.failReads = 4
    rig.wanted = [spec(1)]
    rig.r.start()
    await rig.run(3000)
    expect(rig.errors).to.have.length(1)
    expect((rig.errors[0] as { failures?: number }).failures).to.equal(4)
    expect(await rig.peers()).to.have.property('size', 1)
    await rig.r.stop()
  })

  it('resolves host names itself and passes only IP literals to the backend; an unresolvable name falls to the next candidate', async () => {
    const asked: string[] = []
    const rig = new Rig({}, {
      resolveHost: async h => {
        asked.push(h)
        if (h === 'gone.example') throw new Error('ENOTFOUND')
        return ['2001:db8::5']
      }
    })
    rig.wanted = [{ publicKey: key(1), allowedIps: [ip(1)], endpoints: [{ host: 'gone.example', port: 1 }, { host: 'lh.example', port: 51820 }] }]
    rig.r.start()
    await rig.run(10)
    expect((await rig.peers()).get(key(1).toBase64())!.endpoint).to.deep.equal({ host: '2001:db8::5', port: 51820 })
    expect(asked.sort()).to.deep.equal(['gone.example', 'lh.example'])
    await rig.r.stop()
  })

  it('stop() does not wait for a name lookup that never answers', async () => {
    const rig = new Rig({}, { resolveHost: async () => await new Promise<string[]>(() => {}) })
    rig.wanted = [{ publicKey: key(1), allowedIps: [ip(1)], endpoints: [{ host: 'hang.example', port: 51820 }] }]
    rig.r.start()
    rig.clock.advance(10)
    await tick()
    const stopped = await Promise.race([rig.r.stop().then(() => true), new Promise<boolean>(resolve => setTimeout(() => resolve(false), 500))])
    expect(stopped, 'stop() returned').to.equal(true)
    expect(rig.clock.pending).to.equal(0)
  })

  it('a name whose addresses come back in rotating order keeps its endpoint: no rewrite, a learned one stays', async () => {
    const addrs = ['2001:db8::1', '2001:db8::2', '2001:db8::3']
    let calls = 0
    const rig = new Rig({ resyncIntervalMs: 1000 }, { resolveHost: async () => { const n = calls++ % 3; return [...addrs.slice(n), ...addrs.slice(0, n)] } })
    rig.wanted = [{ publicKey: key(1), allowedIps: [ip(1)], endpoints: [{ host: 'rr.example', port: 51820 }] }]
    rig.r.start()
    await rig.run(10)
    const first = (await rig.peers()).get(key(1).toBase64())!.endpoint
    expect(addrs).to.include(first?.host)
    await rig.run(5000, 100)
    expect(calls, 'looked up again each resync').to.be.at.least(4)
    expect(rig.mem.applied, 'no endpoint rewritten').to.have.length(1)
    // WireGuard roams; the rotation is not a newer wanted endpoint, so the learned one stays.
    rig.mem.setEndpoint(key(1), { host: '203.0.113.9', port: 40000 })
    await rig.run(5000, 100)
    expect((await rig.peers()).get(key(1).toBase64())!.endpoint).to.deep.equal({ host: '203.0.113.9', port: 40000 })
    expect(rig.mem.applied).to.have.length(1)
    expect(rig.r.status().learnedEndpoints).to.equal(1)
    await rig.r.stop()
  })

  it('a name lookup that never answers gives up after nameLookupTimeoutMs, and the next candidate is used', async () => {
    const rig = new Rig({ nameLookupTimeoutMs: 1000 }, { resolveHost: async () => await new Promise<string[]>(() => {}) })
    rig.wanted = [{ publicKey: key(1), allowedIps: [ip(1)], endpoints: [{ host: 'hang.example', port: 51820 }, { host: '192.0.2.9', port: 51820 }] }]
    rig.r.start()
    rig.clock.advance(0) // the first pass, at 0: its lookup starts
    await tick()
    rig.clock.advance(999)
    await tick()
    expect(rig.mem.applied).to.have.length(0)
    rig.clock.advance(1)
    await tick()
    await rig.r.idle()
    expect((await rig.peers()).get(key(1).toBase64())!.endpoint).to.deep.equal({ host: '192.0.2.9', port: 51820 })
    expect(rig.r.status().failures).to.equal(0)
    await rig.r.stop()
    expect(rig.clock.pending).to.equal(0)
  })

  it('checks every knob against its range', () => {
    expect(resolveReconcilerInit()).to.deep.include({ keepaliveS: 25, resyncIntervalMs: 10_000, debounceMs: 50, retryBaseMs: 500, retryMaxMs: 30_000, errorAfterFailures: 3, nameLookupTimeoutMs: 5_000, exclusive: false })
    expect(resolveReconcilerInit({ keepaliveS: 0 }).keepaliveS).to.equal(0)
    for (const bad of [{ keepaliveS: -1 }, { keepaliveS: 65536 }, { keepaliveS: 2.5 }, { resyncIntervalMs: 99 }, { debounceMs: 60_001 },
      { retryBaseMs: 0 }, { retryBaseMs: 1000, retryMaxMs: 999 }, { errorAfterFailures: 0 }, { nameLookupTimeoutMs: 0 }, { nameLookupTimeoutMs: 600_001 }, { exclusive: 'yes' }, { managedPrefixes: ['fd00::1/48'] }, { resync: 1 }]) {
      expectCode(() => resolveReconcilerInit(bad as ReconcilerInit), INVALID_CONFIG)
    }
  })
})

function identityFrom (random: SeededRandom): NodeIdentity {
  return new NodeIdentity(clampPrivateKey(random.bytes(32)), new Ed25519Signer(random.bytes(32)))
}

describe('wireguard/reconciler driven by a Mesh', () => {
  it('each node gets the others as peers; a revoked node is removed everywhere and cannot be enrolled again', async function () {
    await withSeed(this, async random => {
      const clock = new ManualClock()
      const net = new MemoryNetwork({ clock, random }, { minLatencyMs: 1, maxLatencyMs: 20 })
      const ids = [0, 1, 2].map(() => identityFrom(random))
      const devs = ids.map((_, i) => new MemoryBackend({ iface: `wm${i}` }))
      const meshes: Mesh[] = []
      const mk = (i: number, extra: object): Mesh => {
        const transport = net.createTransport({ host: `10.0.0.${i + 1}`, port: 51821 })
        const m = new Mesh({ identity: ids[i], storage: new MemoryStorage(), transport, clock, random, gossip: 'sim', verifier: inlineVerifier, backend: devs[i], wireguard: { resyncIntervalMs: 5000 }, ...extra })
        meshes.push(m)
        return m
      }
      const step = async (ms: number): Promise<void> => { for (let t = 0; t < ms; t += 10) { clock.advance(10); await tick() } }
      const root = mk(0, { org: { name: 'acme' } })
      await root.start()
      for (const i of [1, 2]) {
        await root.enroll(enrollInit(ids[i], root, { name: `n${i}` }))
        const token = await root.invite(ids[i].wgPublicKey, { bootstrap: [{ wgPublicKey: ids[0].wgPublicKey, endpoint: '10.0.0.1:51821' }] })
        await mk(i, { invite: token }).start()
      }
      const peersOf = async (i: number): Promise<WgPeer[]> => (await devs[i].read()).peers
      const full = async (): Promise<boolean> => (await Promise.all([0, 1, 2].map(peersOf))).every(ps => ps.length === 2 && ps.every(p => p.endpoint !== undefined))
      for (let t = 0; !(await full()); t += 100) {
        if (t > 30_000) throw new Error('peers not in place after 30 s of virtual time')
        await step(100)
      }
      for (const i of [0, 1, 2]) {
        for (const p of await peersOf(i)) {
          const j = ids.findIndex(id => id.wgPublicKey.equals(p.publicKey))
          const info = meshes[i].members().find(m => m.wgPublicKey.equals(p.publicKey))!
          expect(j).to.not.equal(i)
          expect(p.allowedIps).to.deep.equal([`${info.overlayAddress}/128`])
          // The node's gossip host on the org's WireGuard port (51820), keepalive 25.
          expect(formatGossipEndpoint(p.endpoint!)).to.equal(`10.0.0.${j + 1}:51820`)
          expect(p.persistentKeepaliveS).to.equal(25)
        }
      }
      const st = meshes[1].status()
      expect(st.started && st.wireguard).to.deep.include({ kind: 'memory', iface: 'wm1', failures: 0, managed: 2 })
      // Revoke n2: every other node drops its peer.
      await root.revoke(ids[2].wgPublicKey, 'lost laptop')
      const gone = async (): Promise<boolean> => (await Promise.all([0, 1].map(peersOf))).every(ps => ps.length === 1 && !ps.some(p => p.publicKey.equals(ids[2].wgPublicKey)))
      for (let t = 0; !(await gone()); t += 100) {
        if (t > 30_000) throw new Error('revoked peer not removed after 30 s of virtual time')
        await step(100)
      }
      await expectRejectCode(root.enroll(enrollInit(ids[2], root, { name: 'again' })), 'WIREMESH_ERR_NOT_AUTHORIZED')
      for (const m of meshes) await m.stop()
      net.clear()
      expect(clock.pending, 'timers left after stop').to.equal(0)
      // A given backend is the caller's: the mesh did not close it.
      expect((await devs[0].read()).peers).to.have.length(1)
    })
  })

  it('a backend made from a spec is closed by stop(); repeated failure is an error event on the Mesh', async function () {
    await withSeed(this, async random => {
      const clock = new ManualClock()
      const net = new MemoryNetwork({ clock, random }, { minLatencyMs: 1, maxLatencyMs: 20 })
      const transport = net.createTransport({ host: '10.0.0.1', port: 51821 })
      const mesh = new Mesh({ identity: identityFrom(random), storage: new MemoryStorage(), transport, clock, random, gossip: 'sim', verifier: inlineVerifier, org: { name: 'acme', keepaliveS: 0 }, backend: { kind: 'memory', iface: 'wmspec' }, wireguard: { retryBaseMs: 100, errorAfterFailures: 2 } })
      const errors: Error[] = []
      mesh.addEventListener('error', e => { errors.push(e.detail.error) })
      await mesh.start()
      const dev = mesh.backend as MemoryBackend
      expect(dev).to.be.instanceOf(MemoryBackend)
      expect(mesh.reconciler!.cfg.keepaliveS).to.equal(0) // the org's keepalive
      let closes = 0
      const closeDevice = dev.close.bind(dev)
      dev.close = async () => { closes++; await closeDevice() }
      await dev.close() // every later read fails: a device gone away
      for (let t = 0; t < 1000; t += 10) { clock.advance(10); await tick() }
      expect(errors.length).to.be.at.least(1)
      expect((errors[0] as { code?: string }).code).to.equal(RECONCILE)
      expect(errors[0].cause).to.be.instanceOf(WireGuardError)
      const st = mesh.status()
      expect(st.started && st.wireguard!.failures).to.be.at.least(2)
      expect(st.started && st.errors).to.equal(errors.length)
      await mesh.stop()
      expect(closes, 'close() calls: the test\'s own, then stop()\'s').to.equal(2)
      expect(mesh.backend).to.equal(undefined)
      net.clear()
      expect(clock.pending).to.equal(0)
    })
  })

  it('refuses a bad backend or wireguard option at construction', function () {
    const base = { identity: identityFrom({ bytes: (n: number) => new Uint8Array(n).fill(7) } as unknown as SeededRandom), storage: new MemoryStorage(), org: { name: 'x' } }
    expectCode(() => new Mesh({ ...base, backend: { kind: 'nope' } as never }), INVALID_CONFIG)
    expectCode(() => new Mesh({ ...base, backend: { kind: 'uapi' } as never }), INVALID_CONFIG)
    expectCode(() => new Mesh({ ...base, wireguard: { keepaliveS: 1 } }), INVALID_CONFIG)
    expectCode(() => new Mesh({ ...base, backend: new MemoryBackend(), wireguard: { resyncIntervalMs: 1 } }), INVALID_CONFIG)
  })
})
