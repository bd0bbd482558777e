/**
 * A seeded cluster of gossipers on the memory network, for the engine's specs: node 0 is the
 * root and has enrolled the others; every replica starts in sync and every gossiper knows
 * every endpoint.
 */
import { expect } from 'chai'
import { ManualClock } from '../../lib/clock.js'
import { type GossipConfig, resolveGossipConfig } from '../../lib/gossip/config.js'
import type { Endpoint } from '../../lib/gossip/endpoint.js'
import { Gossiper } from '../../lib/gossip/gossiper.js'
import { MemoryNetwork, type MemoryNetworkInit, type MemoryTransport } from '../../lib/gossip/memory-transport.js'
import { NodeIdentity } from '../../lib/identity/identity.js'
import { Ed25519Signer } from '../../lib/identity/sign.js'
import { clampPrivateKey } from '../../lib/identity/wg-key.js'
import type { Key } from '../../lib/identity/key.js'
import { Admin } from '../../lib/membership/admin.js'
import { enrollInit } from './org.js'
import { createGenesis } from '../../lib/membership/org.js'
import { Replica } from '../../lib/membership/replica.js'
import { inlineVerifier } from '../../lib/membership/verify.js'
import type { SeededRandom } from '../../lib/random.js'
import { Sealer } from '../../lib/wire/seal.js'

export const cfg = resolveGossipConfig('sim')

/** An identity from the test's seeded random, so `SEED=…` replays the same keys (and so the same peer choices). */
export function identityFrom (random: SeededRandom): NodeIdentity {
  return new NodeIdentity(clampPrivateKey(random.bytes(32)), new Ed25519Signer(random.bytes(32)))
}

export interface Node { id: NodeIdentity, replica: Replica, transport: MemoryTransport, sealer: Sealer, gossiper: Gossiper, endpoint: Endpoint }
export interface Cluster { clock: ManualClock, net: MemoryNetwork, nodes: Node[], admin: Admin }

/**
 * `n` nodes at 10.0.0.1…n:7946; node 0 is the root and has enrolled the others, every replica
 * starts in sync (by digest/diff), every gossiper knows every endpoint and is started, with
 * `gossip` (default: the sim preset, `cfg`).
 */
export async function cluster (random: SeededRandom, n: number, init: MemoryNetworkInit = {}, gossip: GossipConfig = cfg): Promise<Cluster> {
  const clock = new ManualClock()
  const ids: NodeIdentity[] = []
  for (let i = 0; i < n; i++) ids.push(identityFrom(random))
  const genesis = createGenesis({ rootWgPublicKey: ids[0].wgPublicKey, rootSigner: ids[0].signer, name: 'gossip', random, clock })
  const rootReplica = new Replica(genesis, { clock, verifier: inlineVerifier })
  const admin = new Admin(rootReplica, ids[0].signer)
  for (let i = 1; i < n; i++) admin.enroll(enrollInit(ids[i], rootReplica, { name: `n${i}` }))
  const net = new MemoryNetwork({ clock, random }, { minLatencyMs: 1, maxLatencyMs: 50, ...init })
  const nodes: Node[] = []
  for (let i = 0; i < n; i++) {
    const replica = i === 0 ? rootReplica : new Replica(genesis, { clock, verifier: inlineVerifier })
    if (i > 0) await replica.merge(rootReplica.diff(replica.digest()))
    expect(replica.digest()).to.deep.equal(rootReplica.digest())
    const transport = net.createTransport({ host: `10.0.0.${i + 1}`, port: 7946 })
    await transport.start()
    const sealer = new Sealer({ identity: ids[i], orgId: replica.orgId, clock, random })
    const gossiper = new Gossiper({ identity: ids[i], replica, transport, sealer, clock, random }, gossip)
    nodes.push({ id: ids[i], replica, transport, sealer, gossiper, endpoint: transport.localEndpoint() })
  }
  for (const a of nodes) for (const b of nodes) a.gossiper.setEndpoint(b.id.wgPublicKey, b.endpoint)
  for (const a of nodes) a.gossiper.start()
  return { clock, net, nodes, admin }
}

export const tick = async (): Promise<void> => { await new Promise<void>(resolve => setImmediate(resolve)) }

/** Advances virtual time in `stepMs` steps (letting async ingestion run) until `done()`; returns the virtual ms taken. */
export async function until (c: Cluster, done: () => boolean, maxMs: number, stepMs = 5): Promise<number> {
  const t0 = c.clock.now()
  await tick()
  while (!done()) {
    if (c.clock.now() - t0 >= maxMs) throw new Error(`not converged after ${maxMs} ms of virtual time`)
    c.clock.advance(stepMs)
    await tick()
  }
  return c.clock.now() - t0
}

export async function run (c: Cluster, ms: number, stepMs = 5): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) { c.clock.advance(stepMs); await tick() }
}

export async function teardown (c: Cluster): Promise<void> {
  for (const n of c.nodes) n.gossiper.stop()
  c.net.clear()
  for (const n of c.nodes) await n.transport.stop()
}

export const lists = (n: Node, k: Key): boolean => n.replica.member(k) !== undefined

