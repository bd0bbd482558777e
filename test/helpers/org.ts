/** Test fixtures: identities, an org with its root admin, and replicas of it. */
import { Ed25519Signer } from '../../lib/identity/sign.js'
import { generateWgKeyPair } from '../../lib/identity/wg-key.js'
import type { Key } from '../../lib/identity/key.js'
import { Admin, type EnrollInit } from '../../lib/membership/admin.js'
import { proveKeys } from '../../lib/membership/pop.js'
import type { Signer } from '../../lib/identity/sign.js'
import { createGenesis } from '../../lib/membership/org.js'
import { Replica, type ReplicaInit } from '../../lib/membership/replica.js'
import { ORG_ID_BYTES, type Op } from '../../lib/membership/op.js'
import { SeededRandom } from '../../lib/random.js'
import { ManualClock } from '../../lib/clock.js'

export interface TestNode { wg: Key, signer: Ed25519Signer }

export async function newNode (): Promise<TestNode> {
  return { wg: generateWgKeyPair().publicKey, signer: await Ed25519Signer.generate() }
}

/**
 * Anything that knows the org id: the id itself, a replica, a TestOrg or a Mesh (their
 * replica's), or anything holding the genesis op (a scenario Pool).
 */
export type OrgRef = Uint8Array | { orgId: Uint8Array } | { replica: { orgId: Uint8Array } } | { genesis: { id: Uint8Array } }
/** A joiner: a TestNode, a scenario Actor or a NodeIdentity. */
export type Joiner = { wg: Key, signer: Signer } | { wgPublicKey: Key, signer: Signer }

export function orgIdOf (org: OrgRef): Uint8Array {
  if (org instanceof Uint8Array) return org
  if ('orgId' in org) return org.orgId
  if ('replica' in org) return org.replica.orgId
  return org.genesis.id.slice(0, ORG_ID_BYTES)
}

const wgOf = (j: Joiner): Key => 'wg' in j ? j.wg : j.wgPublicKey

/** The joiner's proof of possession of its signing key (pop.ts), for its enroll with its own wg key in `org`. */
export function popOf (joiner: Joiner, org: OrgRef, wgPublicKey: Key = wgOf(joiner)): Uint8Array {
  return proveKeys(joiner.signer, orgIdOf(org), wgPublicKey)
}

/**
 * What an admin enrolls `joiner` with in `org`: its wg and signing keys and the proof of
 * possession it hands over, plus `extra` (name, roles, …).
 */
export function enrollInit (joiner: Joiner, org: OrgRef, extra: Partial<Omit<EnrollInit, 'wgPublicKey' | 'signPublicKey' | 'pop'>> = {}): EnrollInit {
  const wgPublicKey = wgOf(joiner)
  return { wgPublicKey, signPublicKey: joiner.signer.publicKey, pop: popOf(joiner, org, wgPublicKey), ...extra }
}

export interface TestOrg {
  root: TestNode
  genesis: Op
  replica: Replica
  admin: Admin
  clock: ManualClock
}

export async function newOrg (init: ReplicaInit = {}, seed = 1): Promise<TestOrg> {
  const root = await newNode()
  const clock = new ManualClock()
  const genesis = createGenesis({ rootWgPublicKey: root.wg, rootSigner: root.signer, name: 'test', random: new SeededRandom(seed), clock })
  const replica = new Replica(genesis, { clock, ...init })
  return { root, genesis, replica, admin: new Admin(replica, root.signer), clock }
}
