/**
 * Test helpers for hostile histories: ops signed by hand (bypassing Admin's checks, as an
 * attacker would), delivery in shuffled orders, and the replica state that must not depend on
 * that order.
 */
import { expect } from 'chai'
import type { Key } from '../../lib/identity/key.js'
import type { Signer } from '../../lib/identity/sign.js'
import { craft as craftOp } from '../../lib/sim/hostile-ops.js'
import { decodeOp } from '../../lib/membership/codec.js'
import type { LoggedOp } from '../../lib/membership/log.js'
import { HASH_PREFIX_BYTES, type Dep, type Op, type Payload, type WireOp } from '../../lib/membership/op.js'
import type { Replica } from '../../lib/membership/replica.js'
import type { Random } from '../../lib/random.js'

/** A dep naming `op`. */
export function depOn (op: Op): Dep {
  return { keyId: op.author.id, seq: op.seq, hash: op.id.subarray(0, HASH_PREFIX_BYTES) }
}

/**
 * Signs an op by hand: any author, any seq, prev and deps (lamport derived from them as
 * receivers derive it). Nothing checks that it makes sense: that is the point. `seq` is what
 * `prev` implies (prev's + 1, 1 without one, 0 for a leave), said at the call for the reader.
 */
export function craft (orgId: Uint8Array, signer: Signer, seq: number, payload: Payload, prev?: Op, deps: Op[] = []): Op {
  const op = craftOp(orgId, signer, payload, prev, deps)
  if (op.seq !== seq) throw new Error(`craft: seq ${seq} given, ${op.seq} implied by prev`)
  return op
}

export const wire = (op: Op): WireOp => decodeOp(op.wire)

/** What must be the same on every replica that received the same ops, whatever the order. */
export function replicaState (r: Replica, now: number): { stored: string[], digest: string, view: string } {
  const stored = [...r.log.byId.values()].map((o: LoggedOp) => Buffer.from(o.idKey, 'latin1').toString('hex')).sort()
  return { stored, digest: Buffer.from(r.digest()).toString('hex'), view: r.viewFingerprint(now) }
}

/** Feeds `ops` to `r` in a seeded random order, in random batches, repeating until nothing more goes in. */
export async function deliverShuffled (r: Replica, ops: readonly Op[], random: Random): Promise<void> {
  const list = ops.map(wire)
  for (let i = list.length - 1; i > 0; i--) { const j = random.int(i + 1); [list[i], list[j]] = [list[j], list[i]] }
  let i = 0
  while (i < list.length) {
    const n = 1 + random.int(Math.min(8, list.length - i))
    await r.ingest(list.slice(i, i + n), `peer-${random.int(3)}`)
    i += n
  }
  // A peer's anti-entropy would resend what was parked and evicted: do so, in order, until stable.
  for (let round = 0; round < 4; round++) {
    const before = r.size
    await r.ingest(ops.map(wire), 'resync')
    if (r.size === before) break
  }
}

/** Asserts two replica states are equal, naming what differs. */
export function expectSameState (a: ReturnType<typeof replicaState>, b: ReturnType<typeof replicaState>, what: string): void {
  expect(b.stored, `${what}: stored ops`).to.deep.equal(a.stored)
  expect(b.digest, `${what}: digest`).to.equal(a.digest)
  expect(b.view, `${what}: view`).to.equal(a.view)
}

/** A 32-byte key that shares `victim`'s 8-byte key id (no private key for it exists). */
export function squatKey (victim: Key, random: Random, fromBytes: (b: Uint8Array) => Key): Key {
  const b = new Uint8Array(32)
  b.set(victim.bytes.subarray(0, 8))
  b.set(random.bytes(24), 8)
  return fromBytes(b)
}
