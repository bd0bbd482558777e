/** Test fixtures: identities, an org with its root admin, and replicas of it. */
import { Ed25519Signer } from '../../lib/identity/sign.js'
import { generateWgKeyPair } from '../../lib/identity/wg-key.js'
import type { Key } from '../../lib/identity/key.js'
import { Admin } from '../../lib/membership/admin.js'
import { createGenesis } from '../../lib/membership/org.js'
import { Replica, type ReplicaInit } from '../../lib/membership/replica.js'
import type { Op } from '../../lib/membership/op.js'
import { SeededRandom } from '../../lib/random.js'
import { ManualClock } from '../../lib/clock.js'

export interface TestNode { wg: Key, signer: Ed25519Signer }

export async function newNode (): Promise<TestNode> {
  return { wg: generateWgKeyPair().publicKey, signer: await Ed25519Signer.generate() }
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
