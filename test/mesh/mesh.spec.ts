/**
 * Mesh: whole nodes on the seeded memory network, a ManualClock and MemoryStorage (one test
 * on FileStorage in a temp dir). Randomised tests take SEED (test/helpers/seed.ts).
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import { ManualClock } from '../../lib/clock.js'
import { resolveGossipConfig, pushPullIntervalFor } from '../../lib/gossip/config.js'
import { formatEndpoint } from '../../lib/gossip/endpoint.js'
import { MemoryNetwork, type MemoryTransport } from '../../lib/gossip/memory-transport.js'
import { NodeIdentity } from '../../lib/identity/identity.js'
import { Ed25519Signer } from '../../lib/identity/sign.js'
import { clampPrivateKey } from '../../lib/identity/wg-key.js'
import type { Key } from '../../lib/identity/key.js'
import { StorageError } from '../../lib/errors.js'
import type { PeerRemoveReason } from '../../lib/mesh/events.js'
import { MemoryStorage } from '../../lib/mesh/memory-storage.js'
import { inlineVerifier } from '../../lib/membership/verify.js'
import { Mesh } from '../../lib/mesh/mesh.js'
import type { MeshInit } from '../../lib/mesh/config.js'
import type { SeededRandom } from '../../lib/random.js'
import { expectCode, expectRejectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'
import { useTempDir } from '../helpers/temp-dir.js'
import { enrollInit } from '../helpers/org.js'

const INVALID_CONFIG = 'WIREMESH_ERR_INVALID_CONFIG'
const INVALID_INVITE = 'WIREMESH_ERR_INVALID_INVITE'
const MESH_STATE = 'WIREMESH_ERR_MESH_STATE'
const NOT_AUTHORIZED = 'WIREMESH_ERR_NOT_AUTHORIZED'
const ABORTED = 'WIREMESH_ERR_ABORTED'
const SIM = resolveGossipConfig('sim')

function identityFrom (random: SeededRandom): NodeIdentity {
  return new NodeIdentity(clampPrivateKey(random.bytes(32)), new Ed25519Signer(random.bytes(32)))
}

interface Node { id: NodeIdentity, mesh: Mesh, storage: MemoryStorage, transport: MemoryTransport, events: Array<{ type: string, key: string, reason?: PeerRemoveReason }> }

class Env {
  readonly clock = new ManualClock()
  readonly net: MemoryNetwork
  readonly nodes: Node[] = []
  constructor (readonly random: SeededRandom) {
    this.net = new MemoryNetwork({ clock: this.clock, random }, { minLatencyMs: 1, maxLatencyMs: 20 })
  }

  /** A mesh at 10.0.0.<n>:51821 with fresh (or the given) storage, recording its peer events. */
  node (n: number, init: Partial<MeshInit> = {}, id = identityFrom(this.random), storage = new MemoryStorage()): Node {
    const transport = this.net.createTransport({ host: `10.0.0.${n}`, port: 51821 })
    const mesh = new Mesh({ identity: id, storage, transport, clock: this.clock, random: this.random, gossip: 'sim', verifier: inlineVerifier, ...init })
    const events: Node['events'] = []
    for (const type of ['peer:add', 'peer:update'] as const) mesh.addEventListener(type, e => { events.push({ type, key: e.detail.wgPublicKey.toBase64() }) })
    mesh.addEventListener('peer:remove', e => { events.push({ type: 'peer:remove', key: e.detail.peer.wgPublicKey.toBase64(), reason: e.detail.reason }) })
    const node = { id, mesh, storage, transport, events }
    this.nodes.push(node)
    return node
  }

  async start (node: Node): Promise<void> { await node.mesh.start() }

  /** Advances virtual time in steps (letting async ingestion run) until `done()`; returns the ms taken. */
  async until (done: () => boolean, maxMs: number, stepMs = 5): Promise<number> {
    const t0 = this.clock.now()
    await tick()
    while (!done()) {
      if (this.clock.now() - t0 >= maxMs) throw new Error(`not done after ${maxMs} ms of virtual time`)
      this.clock.advance(stepMs)
      await tick()
    }
    return this.clock.now() - t0
  }

  async run (ms: number, stepMs = 5): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) { this.clock.advance(stepMs); await tick() }
  }

  async teardown (): Promise<void> {
    for (const n of this.nodes) await n.mesh.stop()
    this.net.clear()
    expect(this.clock.pending, 'timers left after stop').to.equal(0)
  }
}

const tick = async (): Promise<void> => { await new Promise<void>(resolve => setImmediate(resolve)) }
const b64 = (k: Key): string => k.toBase64()
const fingerprint = (n: Node): string => n.mesh.replica.viewFingerprint()
const digestHex = (n: Node): string => Buffer.from(n.mesh.replica.digest()).toString('hex')
const agree = (nodes: Node[]): boolean => nodes.every(n => n.mesh.isStarted() && fingerprint(n) === fingerprint(nodes[0]) && digestHex(n) === digestHex(nodes[0]))
const count = (n: Node, type: string, key: Key): number => n.events.filter(e => e.type === type && e.key === b64(key)).length

/** The root of a new org at 10.0.0.1, started. */
async function rootOf (env: Env): Promise<Node> {
  const root = env.node(1, { org: { name: 'acme' } })
  await env.start(root)
  return root
}

/** Enrolls a fresh identity on `admin` and starts it at 10.0.0.<n> from the invite, joining through `via`. */
async function joiner (env: Env, admin: Node, n: number, via: Node, name = `n${n}`): Promise<Node> {
  const id = identityFrom(env.random)
  await admin.mesh.enroll(enrollInit(id, admin.mesh, { name }))
  const token = await admin.mesh.invite(id.wgPublicKey, { bootstrap: [{ wgPublicKey: via.id.wgPublicKey, endpoint: formatEndpoint(via.transport.localEndpoint()) }] })
  const node = env.node(n, { invite: token }, id)
  await env.start(node)
  return node
}

describe('mesh/mesh', () => {
  it('a root creates an org; three nodes join by invite through the root; every view agrees', async function () {
    await withSeed(this, async (random) => {
      const env = new Env(random)
      const root = await rootOf(env)
      const joined: string[] = []
      const nodes = [root]
      for (let i = 2; i <= 4; i++) {
        const n = await joiner(env, root, i, root)
        n.mesh.addEventListener('joined', () => { joined.push(b64(n.id.wgPublicKey)) })
        nodes.push(n)
      }
      await env.until(() => agree(nodes) && joined.length === 3, 4 * pushPullIntervalFor(SIM, 4))
      for (const n of nodes) {
        expect(n.mesh.members().map(m => m.name ?? 'root')).to.have.members(['root', 'n2', 'n3', 'n4'])
        const s = n.mesh.status()
        expect(s.started && s.member && s.members === 4 && s.orgName === 'acme').to.equal(true)
      }
      expect(joined).to.have.length(3)
      // Each node was told about each other member exactly once.
      for (const n of nodes) for (const m of nodes) if (m !== n) expect(count(n, 'peer:add', m.id.wgPublicKey), `${n.mesh.status().started}`).to.equal(1)
      await env.teardown()
    })
  })

  it('nodes join through a non-root member', async function () {
    await withSeed(this, async (random) => {
      const env = new Env(random)
      const root = await rootOf(env)
      const a = await joiner(env, root, 2, root, 'a')
      await env.until(() => agree([root, a]), 4 * pushPullIntervalFor(SIM, 2))
      // Cut the root off from the joiners: only `a` can let them in.
      const rest: Node[] = []
      for (let i = 3; i <= 5; i++) rest.push(await joiner(env, root, i, a))
      env.net.partition({ root: [root.transport.localEndpoint()] })
      await env.until(() => agree([a, ...rest]) && rest.every(n => n.mesh.status().started && n.mesh.replica.member(n.id.wgPublicKey) !== undefined), 10 * pushPullIntervalFor(SIM, 5))
      env.net.heal()
      await env.until(() => agree([root, a, ...rest]), 4 * pushPullIntervalFor(SIM, 5))
      await env.teardown()
    })
  })

  it('fires peer:add and peer:remove once each, with the reason: removed, left, revoked, expired', async function () {
    this.timeout(30_000)
    await withSeed(this, async (random) => {
      const env = new Env(random)
      const root = await rootOf(env)
      const [x, y, z, w] = [await joiner(env, root, 2, root, 'x'), await joiner(env, root, 3, root, 'y'), await joiner(env, root, 4, root, 'z'), await joiner(env, root, 5, root, 'w')]
      const all = [root, x, y, z, w]
      await env.until(() => agree(all), 4 * pushPullIntervalFor(SIM, 5))
      // An expiring member that never starts: every node sees it come and go.
      const e = identityFrom(random)
      const expiresAt = env.clock.now() + 1_000
      await root.mesh.enroll(enrollInit(e, root.mesh, { name: 'temp', expiresAt }))

      await root.mesh.remove(x.id.wgPublicKey)
      await y.mesh.leave()
      await root.mesh.revoke(z.id.wgPublicKey, 'compromised')
      const watchers = [root, w]
      const gone = (n: Node): boolean => n.mesh.members().length === 2
      await env.until(() => watchers.every(gone), 4 * pushPullIntervalFor(SIM, 5) + 120_000, 50)
      for (const n of watchers) {
        for (const [peer, reason] of [[x, 'removed'], [y, 'left'], [z, 'revoked']] as const) {
          expect(count(n, 'peer:add', peer.id.wgPublicKey), 'add').to.equal(1)
          expect(n.events.filter(ev => ev.type === 'peer:remove' && ev.key === b64(peer.id.wgPublicKey))).to.deep.equal([{ type: 'peer:remove', key: b64(peer.id.wgPublicKey), reason }])
        }
        expect(count(n, 'peer:add', e.wgPublicKey)).to.equal(1)
        expect(n.events.filter(ev => ev.type === 'peer:remove' && ev.key === b64(e.wgPublicKey)).map(ev => ev.reason)).to.deep.equal(['expired'])
      }
      // Nothing more fires once the view is still.
      const before = w.events.length
      await env.run(5_000, 50)
      expect(w.events.length).to.equal(before)
      await env.teardown()
    })
  })

  it('spreads a revocation, after which the revoked node\'s packets are dropped', async function () {
    this.timeout(30_000)
    await withSeed(this, async (random) => {
      const env = new Env(random)
      const root = await rootOf(env)
      const nodes = [root]
      for (let i = 2; i <= 5; i++) nodes.push(await joiner(env, root, i, root))
      await env.until(() => agree(nodes), 4 * pushPullIntervalFor(SIM, 5))
      const victim = nodes[4]
      const others = nodes.slice(0, 4)
      await root.mesh.revoke(victim.id.wgPublicKey, 'test')
      await env.until(() => others.every(n => n.mesh.replica.isRevoked(victim.id.wgPublicKey)), 4 * pushPullIntervalFor(SIM, 5))
      const drops = (n: Node): number => { const s = n.mesh.status(); return s.started ? s.gossip.drops['unknown-sender'] : -1 }
      const before = others.map(drops)
      // The victim keeps gossiping (its anti-entropy digests): every one is refused now.
      await env.run(3 * pushPullIntervalFor(SIM, 5), 50)
      expect(others.map(drops).reduce((a, b) => a + b, 0)).to.be.greaterThan(before.reduce((a, b) => a + b, 0))
      for (const n of others) expect(n.mesh.members().some(m => m.wgPublicKey.equals(victim.id.wgPublicKey))).to.equal(false)
      expect(agree(others)).to.equal(true)
      await env.teardown()
    })
  })

  it('reports node states as peer:update, liveness as peer:unreachable / peer:reachable, and sync with one heads digest', async function () {
    this.timeout(30_000)
    await withSeed(this, async (random) => {
      const env = new Env(random)
      const root = await rootOf(env)
      const heads = new Map<Node, string>()
      root.mesh.addEventListener('sync', e => { heads.set(root, e.detail.heads) })
      const a = await joiner(env, root, 2, root, 'a')
      const b = await joiner(env, root, 3, root, 'b')
      a.mesh.addEventListener('sync', e => { heads.set(a, e.detail.heads) })
      const nodes = [root, a, b]
      const endpointsKnown = (): boolean => nodes.every(n => n.mesh.members().every(m => m.endpoints.length > 0))
      await env.until(() => agree(nodes) && endpointsKnown(), 4 * pushPullIntervalFor(SIM, 3))
      expect(heads.get(a)).to.equal(heads.get(root))
      // Endpoints came with node states, after the peer was added: an update.
      expect(count(root, 'peer:update', a.id.wgPublicKey)).to.be.greaterThan(0)
      expect(root.mesh.members().find(m => m.name === 'a')?.endpoints).to.deep.equal([{ host: '10.0.0.2', port: 51821, source: 'listen' }])

      const meta = new TextEncoder().encode('{"http":8080}')
      const updates = count(root, 'peer:update', b.id.wgPublicKey)
      b.mesh.setAppMetadata(meta)
      await env.until(() => root.mesh.members().find(m => m.name === 'b')?.appMetadata.length === meta.length, 5_000)
      expect(count(root, 'peer:update', b.id.wgPublicKey)).to.equal(updates + 1)

      const liveness: string[] = []
      root.mesh.addEventListener('peer:unreachable', e => { liveness.push(`down ${e.detail.wgPublicKey.toBase64()}`) })
      root.mesh.addEventListener('peer:reachable', e => { liveness.push(`up ${e.detail.wgPublicKey.toBase64()}`) })
      await b.mesh.stop()
      const dead = (): number => { const s = root.mesh.status(); return s.started ? s.liveness.dead : -1 }
      await env.until(() => dead() === 1, 60_000, 20)
      expect(liveness).to.deep.equal([`down ${b64(b.id.wgPublicKey)}`])
      // Liveness never changes membership.
      expect(root.mesh.members()).to.have.length(3)
      const again = env.node(3, { bootstrap: [{ wgPublicKey: root.id.wgPublicKey, endpoint: '10.0.0.1:51821' }] }, b.id, b.storage)
      await again.mesh.start()
      await env.until(() => dead() === 0, 60_000, 20)
      expect(liveness).to.deep.equal([`down ${b64(b.id.wgPublicKey)}`, `up ${b64(b.id.wgPublicKey)}`])
      await env.teardown()
    })
  })

  it('stores an authored op (fsync) before the gossiper can send it', async function () {
    await withSeed(this, async (random) => {
      const env = new Env(random)
      const storage = new MemoryStorage()
      let hold = false
      let release: (() => void) | undefined
      const append = storage.appendOps.bind(storage)
      storage.appendOps = async (ops, options = {}) => {
        if (options.sync === true && hold) await new Promise<void>(resolve => { release = resolve })
        await append(ops, options)
      }
      const root = env.node(1, { org: { name: 'acme' } }, identityFrom(random), storage)
      await env.start(root)
      const peer = await joiner(env, root, 2, root)
      await env.until(() => agree([root, peer]), 4 * pushPullIntervalFor(SIM, 2))
      hold = true
      const x = identityFrom(random)
      const done = root.mesh.enroll(enrollInit(x, root.mesh))
      await env.run(1_000)
      // Signed, not yet durable: not in the replica, not queued, not at the peer.
      expect(release).to.not.equal(undefined)
      expect(root.mesh.replica.member(x.wgPublicKey)).to.equal(undefined)
      expect(root.mesh.gossiper.stats().queued).to.equal(0)
      expect(peer.mesh.replica.member(x.wgPublicKey)).to.equal(undefined)
      hold = false
      release!()
      await done
      await env.until(() => peer.mesh.replica.member(x.wgPublicKey) !== undefined, 1_000)
      await env.teardown()
    })
  })

  it('an authored op that may be half-stored blocks authoring until a restart; an aborted one costs nothing', async function () {
    await withSeed(this, async (random) => {
      const env = new Env(random)
      const storage = new MemoryStorage()
      let fail = false
      const append = storage.appendOps.bind(storage)
      storage.appendOps = async (ops, options = {}) => {
        if (fail && options.sync === true) throw new StorageError('disk full (test)')
        await append(ops, options)
      }
      const root = env.node(1, { org: { name: 'acme' } }, identityFrom(random), storage)
      await env.start(root)
      const [x, y] = [identityFrom(random), identityFrom(random)]
      const enrollX = enrollInit(x, root.mesh)
      await expectRejectCode(root.mesh.enroll(enrollX, { signal: AbortSignal.abort() }), ABORTED)
      fail = true
      await expectRejectCode(root.mesh.enroll(enrollX), 'WIREMESH_ERR_STORAGE')
      fail = false
      await expectRejectCode(root.mesh.enroll(enrollInit(y, root.mesh)), MESH_STATE)
      expect(root.mesh.replica.size).to.equal(1)
      await root.mesh.stop()
      await root.mesh.start()
      await root.mesh.enroll(enrollX)
      expect(root.mesh.members()).to.have.length(2)
      await env.teardown()
    })
  })

  it('a restarted node (same storage) resumes with its ops and a higher incarnation', async function () {
    await withSeed(this, async (random) => {
      const env = new Env(random)
      const root = await rootOf(env)
      const nodes = [root, await joiner(env, root, 2, root), await joiner(env, root, 3, root)]
      await env.until(() => agree(nodes), 4 * pushPullIntervalFor(SIM, 3))
      const incarnation = (n: Node): number => { const s = n.mesh.status(); return s.started ? s.incarnation : -1 }
      for (const old of [root, nodes[1]]) {
        const digest = digestHex(old)
        const size = old.mesh.replica.size
        const inc = incarnation(old)
        await old.mesh.stop()
        expect(old.mesh.status()).to.deep.equal({ started: false })
        // A new process: a new Mesh over the same storage and identity (and no org or invite).
        const again = env.node(env.nodes.indexOf(old) + 1, {}, old.id, old.storage)
        await again.mesh.start()
        expect(again.mesh.replica.size).to.equal(size)
        expect(digestHex(again)).to.equal(digest)
        expect(incarnation(again)).to.equal(inc + 1)
        // Its restored view is reported once, at start.
        for (const m of nodes) if (m.id !== old.id) expect(count(again, 'peer:add', m.id.wgPublicKey)).to.equal(1)
      }
      // The restarted root still authors, and what it authors still spreads.
      const again = env.nodes[env.nodes.length - 2]
      const x = identityFrom(random)
      await again.mesh.enroll(enrollInit(x, again.mesh))
      await env.until(() => nodes[2].mesh.replica.member(x.wgPublicKey) !== undefined, 4 * pushPullIntervalFor(SIM, 3))
      const saved = incarnation(again)
      await env.teardown()
      expect((await again.storage.load())?.incarnation).to.equal(saved)
    })
  })

  it('refuses bad init with a typed error, having made nothing', async function () {
    await withSeed(this, async (random) => {
      const env = new Env(random)
      const id = identityFrom(random)
      const storage = new MemoryStorage()
      const transport = env.net.createTransport({ host: '10.0.0.9', port: 51821 })
      const base = { identity: id, storage, transport, clock: env.clock, random }
      const bad: Array<[unknown, string]> = [
        [{}, INVALID_CONFIG],
        [{ identity: id }, INVALID_CONFIG], // no storage, no stateDir
        [{ ...base, lisen: '0.0.0.0:1' }, INVALID_CONFIG],
        [{ ...base, listen: '0.0.0.0:1' }, INVALID_CONFIG], // with a transport
        [{ identity: id, storage, listen: 'example.com:51821' }, INVALID_CONFIG],
        [{ identity: id, storage, listen: '0.0.0.0:70000' }, INVALID_CONFIG],
        [{ ...base, gossip: { fanout: 0 } }, INVALID_CONFIG],
        [{ ...base, gossip: 'fast' }, INVALID_CONFIG],
        [{ ...base, sealer: 'none' }, INVALID_CONFIG],
        [{ ...base, appMetadata: new Uint8Array(513) }, INVALID_CONFIG],
        [{ ...base, bootstrap: [{ wgPublicKey: 'short', endpoint: '10.0.0.1:51821' }] }, INVALID_CONFIG],
        [{ ...base, bootstrap: [{ wgPublicKey: id.wgPublicKey, endpoint: '10.0.0.1' }] }, INVALID_CONFIG],
        [{ ...base, advertise: ['0.0.0.0:51821'] }, INVALID_CONFIG],
        [{ ...base, org: { name: 'x'.repeat(65) } }, INVALID_CONFIG],
        [{ ...base, org: { name: 'a', mtu: 100 } }, INVALID_CONFIG],
        [{ ...base, org: { name: 'a' }, invite: 'wminv1.AAAA' }, INVALID_CONFIG],
        [{ ...base, invite: 'wminv1.AAAA' }, INVALID_INVITE],
        [{ ...base, store: 'leveldb' }, INVALID_CONFIG],
        [{ ...base, verifier: {} }, INVALID_CONFIG]
      ]
      for (const [init, code] of bad) expectCode(() => new Mesh(init as MeshInit), code)
      expect(transport.isStarted()).to.equal(false)

      // An invite for another key.
      const root = await rootOf(env)
      const other = identityFrom(random)
      await root.mesh.enroll(enrollInit(other, root.mesh))
      const token = await root.mesh.invite(other.wgPublicKey)
      expectCode(() => new Mesh({ ...base, invite: token }), INVALID_INVITE)

      // An empty state with nothing to start from: refused at start, nothing written.
      const mesh = new Mesh(base)
      expectCode(() => mesh.members(), MESH_STATE)
      await expectRejectCode(mesh.start(), MESH_STATE)
      expect(await storage.load()).to.equal(undefined)
      expect(transport.isStarted()).to.equal(false)
      expect(mesh.isStarted()).to.equal(false)
      await expectRejectCode(mesh.start({ signal: AbortSignal.abort() }), ABORTED)

      // A stored org and an invite for another one.
      const elsewhere = new Mesh({ ...base, org: { name: 'other' } })
      await elsewhere.start()
      await elsewhere.stop()
      const intruder = identityFrom(random)
      await root.mesh.enroll(enrollInit(intruder, root.mesh))
      const foreign = await root.mesh.invite(intruder.wgPublicKey)
      const wrongOrg = new Mesh({ ...base, identity: intruder, invite: foreign })
      await expectRejectCode(wrongOrg.start(), MESH_STATE)
      expect(transport.isStarted()).to.equal(false)

      // Admin actions need an admin.
      const member = await joiner(env, root, 2, root)
      const y = identityFrom(random)
      await expectRejectCode(member.mesh.enroll(enrollInit(y, member.mesh)), NOT_AUTHORIZED)
      await expectRejectCode(member.mesh.invite(member.id.wgPublicKey), NOT_AUTHORIZED)
      await expectRejectCode(member.mesh.revoke(root.id.wgPublicKey), NOT_AUTHORIZED)
      await expectRejectCode(root.mesh.leave(), NOT_AUTHORIZED)
      await env.teardown()
    })
  })

  it('start and stop are idempotent and stop leaves no timer', async function () {
    await withSeed(this, async (random) => {
      const env = new Env(random)
      const root = env.node(1, { org: { name: 'acme' } })
      await Promise.all([root.mesh.start(), root.mesh.start()])
      await root.mesh.start()
      expect(env.clock.pending).to.be.greaterThan(0)
      await Promise.all([root.mesh.stop(), root.mesh.stop()])
      await root.mesh.stop()
      expect(root.transport.isStarted()).to.equal(false)
      env.net.clear()
      expect(env.clock.pending).to.equal(0)
      // And again, from its storage.
      await root.mesh.start()
      expect(root.mesh.status().started).to.equal(true)
      await env.teardown()
    })
  })

  describe('on FileStorage', () => {
    const dir = useTempDir()

    it('creates the identity and the org in the state dir and resumes from them', async function () {
      await withSeed(this, async (random) => {
        const env = new Env(random)
        const transport = env.net.createTransport({ host: '10.0.0.1', port: 51821 })
        const first = new Mesh({ stateDir: dir.path, org: { name: 'disk' }, transport, clock: env.clock, random })
        await first.start()
        const x = identityFrom(random)
        await first.enroll(enrollInit(x, first, { name: 'x' }))
        const key = first.identity.wgPublicKey
        const ops = first.replica.size
        await first.stop()
        expect(statSync(join(dir.path, 'identity.json')).mode & 0o777).to.equal(0o600)

        const second = new Mesh({ stateDir: dir.path, transport, clock: env.clock, random })
        await second.start()
        expect(second.identity.wgPublicKey.equals(key)).to.equal(true)
        expect(second.replica.size).to.equal(ops)
        expect(second.members().map(m => m.name ?? 'root')).to.deep.equal(second.replica.members().map(m => m.name ?? 'root'))
        expect(second.members().some(m => m.name === 'x')).to.equal(true)
        const s = second.status()
        expect(s.started && s.incarnation === 1 && s.rank === 0).to.equal(true)
        await second.stop()
        env.net.clear()
        expect(env.clock.pending).to.equal(0)
      })
    })
  })
})
