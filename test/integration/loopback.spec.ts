/**
 * Separate node processes on loopback UDP (examples/cluster/), attacked from this process:
 * packets from a non-member, forged, replayed, truncated and ≥ 100,000 random ones are
 * dropped and counted while the nodes keep serving; once a revocation has spread, the
 * revoked key's packets are dropped by every node. This process is itself enrolled (so it
 * can seal real packets to replay and truncate), then revoked.
 */
import { createSocket, type Socket } from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { NodeProcess, type View } from '../../examples/cluster/rpc.js'
import { parseEndpoint, type Endpoint } from '../../lib/gossip/endpoint.js'
import { encodeMessage } from '../../lib/gossip/messages.js'
import { generateIdentity, type NodeIdentity } from '../../lib/identity/identity.js'
import { Key } from '../../lib/identity/key.js'
import { readInvite } from '../../lib/membership/invite.js'
import { proveKeys } from '../../lib/membership/pop.js'
import { SeededRandom } from '../../lib/random.js'
import { Encoder } from '../../lib/util/encoding.js'
import { makeEpoch, MessageType, writeHeader } from '../../lib/wire/header.js'
import { Sealer } from '../../lib/wire/seal.js'
import { systemClock } from '../../lib/clock.js'
import { testSeed } from '../helpers/seed.js'

const FUZZ_PACKETS = 100_000
const NODES = 3

interface Peer { proc: NodeProcess, key: Key, endpoint: Endpoint }

const dropsOf = (v: View): number => Object.values(v.drops).reduce((a, b) => a + b, 0)
/** A proof of possession (pop.ts) made here, for an identity of this process, as the cluster RPC carries it. */
const popBase64 = (id: NodeIdentity, orgHex: string): string => Buffer.from(proveKeys(id.signer, new Uint8Array(Buffer.from(orgHex, 'hex')), id.wgPublicKey)).toString('base64')
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('integration: loopback cluster under hostile packets', function () {
  this.timeout(180_000)
  const seed = testSeed()
  const random = new SeededRandom(seed)
  let dir: string
  let peers: Peer[] = []
  let socket: Socket
  let me: NodeIdentity
  let orgId: Uint8Array

  async function views (): Promise<View[]> { return await Promise.all(peers.map(async p => (await p.proc.call({ op: 'view' })).view!)) }

  /** Polls until every node's drop counter has stopped moving (its socket is drained). */
  async function settledViews (): Promise<View[]> {
    let last = await views()
    for (;;) {
      await sleep(300)
      const now = await views()
      if (now.every((v, i) => dropsOf(v) === dropsOf(last[i]) && v.received === last[i].received)) return now
      last = now
    }
  }

  async function send (to: Endpoint, packet: Uint8Array): Promise<void> {
    await new Promise<void>((resolve, reject) => socket.send(packet, to.port, to.host, err => { if (err != null) reject(err); else resolve() }))
  }

  async function waitFor (what: string, ok: (vs: View[]) => boolean, ms = 30_000): Promise<void> {
    const t0 = Date.now()
    while (!ok(await views())) {
      if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms (replay: SEED=${seed})`)
      await sleep(100)
    }
  }

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'wiremesh-loopback-'))
    socket = createSocket('udp4')
    await new Promise<void>(resolve => socket.bind(0, '127.0.0.1', () => resolve()))
    const procs = Array.from({ length: NODES }, (_, i) => new NodeProcess(`lb-${i}`))
    const keys = await Promise.all(procs.map(async (p, i) => await p.call({ op: 'identity', stateDir: join(dir, `n${i}`) })))
    const started = [await procs[0].call({ op: 'start', listen: '127.0.0.1:0', org: 'loopback' })]
    const orgHex = started[0].orgId!
    for (let i = 1; i < NODES; i++) {
      // The joiner proves possession of its signing key (pop.ts), the root enrolls it with that proof.
      const { pop } = await procs[i].call({ op: 'prove', orgId: orgHex })
      const { token } = await procs[0].call({ op: 'invite', wgPublicKey: keys[i].wgPublicKey!, signPublicKey: keys[i].signPublicKey!, pop: pop!, name: `lb-${i}` })
      started.push(await procs[i].call({ op: 'start', listen: '127.0.0.1:0', invite: token }))
    }
    peers = procs.map((proc, i) => ({ proc, key: Key.fromBase64(keys[i].wgPublicKey!), endpoint: parseEndpoint(started[i].endpoint!) }))
    // This process becomes a member too, so it can seal real packets.
    me = await generateIdentity()
    const { token } = await procs[0].call({ op: 'invite', wgPublicKey: me.wgPublicKey.toBase64(), signPublicKey: me.signPublicKey.toBase64(), pop: popBase64(me, orgHex), name: 'tester' })
    orgId = readInvite(token!).orgId
    await waitFor('every node lists every member', vs => vs.every(v => v.members.length === NODES + 1))
  })

  after(async function () {
    await Promise.all(peers.map(async p => await p.proc.stop()))
    socket?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('drops and counts packets from a non-member, forged, replayed and truncated ones', async function () {
    const target = peers[1]
    const before = await settledViews()
    const gossip = encodeMessage(MessageType.gossip, { type: MessageType.gossip, ops: [], states: [] }, 1000).payload
    // A non-member: a key nobody enrolled.
    const outsider = await generateIdentity()
    const outSealer = new Sealer({ identity: outsider, orgId, clock: systemClock, random })
    await send(target.endpoint, outSealer.seal(target.key, MessageType.gossip, gossip))
    // Forged: the root's key id in the header, garbage where its sealed payload should be.
    const enc = new Encoder(64)
    writeHeader(enc, { type: MessageType.gossip, sender: peers[0].key.id, epoch: makeEpoch(Date.now(), random.bytes(8)), counter: 0 })
    await send(target.endpoint, new Uint8Array([...enc.view(), ...random.bytes(40)]))
    // Replayed: one real packet from us, sent twice.
    const mine = new Sealer({ identity: me, orgId, clock: systemClock, random })
    const real = mine.seal(target.key, MessageType.gossip, gossip)
    await send(target.endpoint, real)
    await send(target.endpoint, real)
    // Truncated: real packets cut short at every length below their own.
    const whole = mine.seal(target.key, MessageType.gossip, gossip)
    for (let n = 0; n < whole.length; n++) await send(target.endpoint, whole.subarray(0, n))
    const after = await settledViews()
    const d = (r: string): number => after[1].drops[r] - before[1].drops[r]
    expect(d('unknown-sender'), 'non-member').to.be.at.least(1)
    expect(d('bad-tag'), 'forged').to.be.at.least(1)
    expect(d('replay'), 'replayed').to.equal(1)
    expect(d('malformed') + d('bad-tag'), 'truncated').to.be.at.least(whole.length)
  })

  it(`drops and counts ${FUZZ_PACKETS.toLocaleString('en')} random packets and keeps serving`, async function () {
    const before = await settledViews()
    let sent = 0
    const magic = [0x77, 0x6d, 1]
    for (let burst = 0; sent < FUZZ_PACKETS; burst++) {
      for (let i = 0; i < 200 && sent < FUZZ_PACKETS; i++, sent++) {
        const target = peers[sent % NODES]
        const p = random.bytes(random.int(1400))
        // Half look like our packets (magic, version, a type) to get past the first check.
        if (sent % 2 === 0 && p.length > 4) { p.set(magic); p[3] = 1 + random.int(10) }
        await send(target.endpoint, p)
      }
      await sleep(10) // let the receivers drain: UDP has no flow control
    }
    const after = await settledViews()
    const counted = after.reduce((a, v, i) => a + dropsOf(v) - dropsOf(before[i]), 0)
    const arrived = after.reduce((a, v, i) => a + v.packetsIn - before[i].packetsIn, 0)
    const handled = after.reduce((a, v, i) => a + v.received - before[i].received, 0)
    console.log(`      ${sent} random packets sent, ${arrived} arrived (with the nodes' own traffic), ${counted} dropped and counted (seed ${seed})`)
    // Every packet a node's socket delivered was either handled or dropped and counted...
    expect(counted + handled).to.equal(arrived)
    // ...and none of ours was handled: UDP on loopback may lose a few under load, no more.
    expect(counted).to.be.at.most(sent)
    expect(counted).to.be.at.least(Math.floor(sent * 0.95))
    // Still serving: views agree and a new member spreads.
    const extra = await generateIdentity()
    await peers[0].proc.call({ op: 'invite', wgPublicKey: extra.wgPublicKey.toBase64(), signPublicKey: extra.signPublicKey.toBase64(), pop: popBase64(extra, Buffer.from(orgId).toString('hex')), name: 'after-fuzz' })
    await waitFor('the enrolment after the fuzz reaches every node', vs => vs.every(v => v.members.includes('after-fuzz')))
  })

  it('drops a revoked key\'s packets on every node once the revocation has spread', async function () {
    const gossip = encodeMessage(MessageType.gossip, { type: MessageType.gossip, ops: [], states: [] }, 1000).payload
    const mine = new Sealer({ identity: me, orgId, clock: systemClock, random })
    // Accepted before: our packets are opened and handled.
    const pre = await settledViews()
    for (const p of peers) await send(p.endpoint, mine.seal(p.key, MessageType.gossip, gossip))
    const mid = await settledViews()
    mid.forEach((v, i) => expect(v.received, `node ${i} handled our packet`).to.be.greaterThan(pre[i].received))
    await peers[0].proc.call({ op: 'revoke', wgPublicKey: me.wgPublicKey.toBase64() })
    await waitFor('the revocation reaches every node', vs => vs.every(v => !v.members.includes('tester')))
    const before = await settledViews()
    for (const p of peers) await send(p.endpoint, mine.seal(p.key, MessageType.gossip, gossip))
    const after = await settledViews()
    after.forEach((v, i) => expect(v.drops['unknown-sender'] - before[i].drops['unknown-sender'], `node ${i}`).to.equal(1))
  })
})
