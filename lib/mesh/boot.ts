/**
 * Where a starting mesh's membership comes from (DESIGN §4), in this order:
 *
 * 1. Stored state (a restart): the replica is rebuilt from the stored genesis and every stored
 *    op (`decodeOp`, ingested as one batch: the replica orders them causally, so the order
 *    they were appended in does not matter). The incarnation is the stored one + 1, saved
 *    before anything is sent, so a restarted node outbids any claim that it died. An invite
 *    given again is for checking only (same org, else `MeshStateError`): its ops were stored
 *    on the first start.
 * 2. An invite (join): the store is created with the invite's genesis, and the invite's ops
 *    (the grants from the root down and this node's enroll) are stored with `sync` before the
 *    replica takes them, so a node restarted before its first sync still holds its enroll.
 *    Their causal past arrives with sync; until then the replica holds them back.
 * 3. `org` (create): a new genesis with this identity as root.
 *
 * Otherwise the state is empty and there is nothing to start from: `MeshStateError`, raised
 * before the identity file is created, so a mistaken start leaves the state dir as it was.
 */
import type { Clock } from '../clock.js'
import { InvalidInviteError, MeshError, MeshStateError, throwIfAborted } from '../errors.js'
import type { NodeIdentity } from '../identity/identity.js'
import { decodeOp } from '../membership/codec.js'
import { MAX_COUNTER } from '../membership/op.js'
import { createGenesis } from '../membership/org.js'
import { Replica, type ReplicaInit } from '../membership/replica.js'
import type { Random } from '../random.js'
import { bytesEqual, toHex } from '../util/bytes.js'
import type { MeshConfig } from './config.js'
import type { MeshStorage, StoredState } from './storage.js'

export interface Booted {
  replica: Replica
  incarnation: number
  /** The state was created by this start (from the invite or the org). */
  created: boolean
}

export interface BootComponents {
  storage: MeshStorage
  identity: NodeIdentity
  clock: Clock
  random: Random
  replicaInit: ReplicaInit
  /** Names the state in error messages. */
  where: string
}

/** Fails before anything is made when the state is empty and neither org nor invite says what to do. */
export function checkCanCreate (stored: StoredState | undefined, cfg: MeshConfig, where: string): void {
  if (stored === undefined && cfg.invite === undefined && cfg.org === undefined) {
    throw new MeshStateError(`${where} holds no state: pass org to create an org or invite to join one`)
  }
}

export async function boot (stored: StoredState | undefined, cfg: MeshConfig, c: BootComponents, signal?: AbortSignal): Promise<Booted> {
  const { storage, identity } = c
  const invite = cfg.invite
  if (invite !== undefined && !invite.record.wgPublicKey.equals(identity.wgPublicKey)) {
    throw new InvalidInviteError(`invite enrolls ${invite.record.wgPublicKey.toBase64()}, not this node's key ${identity.wgPublicKey.toBase64()}`)
  }
  if (stored !== undefined) {
    const replica = wrap(c.where, 'genesis', () => Replica.fromGenesis(stored.genesis, c.replicaInit))
    if (invite !== undefined && !bytesEqual(invite.orgId, replica.orgId)) {
      throw new MeshStateError(`${c.where} belongs to org ${toHex(replica.orgId)}; the invite is for org ${toHex(invite.orgId)}`)
    }
    await replica.restore(stored.ops, (wire, i) => wrap(c.where, `op ${i}`, () => decodeOp(wire)))
    throwIfAborted(signal)
    if (stored.incarnation >= MAX_COUNTER) {
      throw new MeshStateError(`${c.where}: the stored incarnation ${stored.incarnation} is at its limit ${MAX_COUNTER}; this node's keys cannot be used again — give it new keys`)
    }
    const incarnation = stored.incarnation + 1
    await storage.saveIncarnation(incarnation, { signal })
    return { replica, incarnation, created: false }
  }
  if (invite !== undefined) {
    const replica = new Replica(invite.genesis, c.replicaInit)
    await storage.init(replica.genesis.wire, { signal })
    await storage.appendOps(invite.ops.map(o => o.wire), { sync: true, signal })
    await replica.ingest(invite.ops, 'invite')
    return { replica, incarnation: 0, created: true }
  }
  const org = cfg.org!
  const genesis = createGenesis({
    rootWgPublicKey: identity.wgPublicKey,
    rootSigner: identity.signer,
    name: org.name,
    listenPort: org.listenPort,
    mtu: org.mtu,
    keepaliveS: org.keepaliveS,
    random: c.random,
    clock: c.clock
  })
  const replica = new Replica(genesis, c.replicaInit)
  await storage.init(replica.genesis.wire, { signal })
  return { replica, incarnation: 0, created: true }
}

/** A stored op that does not decode: the store handed back something no crash explains. */
function wrap<T> (where: string, what: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (!(err instanceof MeshError)) throw err
    throw new MeshStateError(`${where}: stored ${what} is not a valid op: ${err.message}`, { cause: err })
  }
}
