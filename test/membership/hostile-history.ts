/**
 * Random *hostile* membership histories (issue 11's property tests): the honest steps of
 * scenario.ts's `randomHistory` (admins act through their own replicas, one admin on two
 * replicas so it forks at any seq, syncs now and then) plus what hostile members and admins
 * do: rotations to fresh signing keys, demotions, revocations racing re-grants, leaves of
 * admins, keys introduced on a chain and then used, and crafted key-id collisions for wg and
 * signing keys (signed by hand, past Admin's checks). The result is every op anybody signed.
 */
import { Ed25519Signer } from '../../lib/identity/sign.js'
import { Key } from '../../lib/identity/key.js'
import { Admin, leave } from '../../lib/membership/admin.js'
import { proveKeys } from '../../lib/membership/pop.js'
import { Replica } from '../../lib/membership/replica.js'
import type { Op } from '../../lib/membership/op.js'
import { MeshError } from '../../lib/errors.js'
import { SeededRandom, type Random } from '../../lib/random.js'
import { craft, squatKey } from '../helpers/hostile.js'
import type { Actor, Pool } from './scenario.js'

export interface HostileHistory { ops: Op[], steps: string[] }

const pick = <T>(r: Random, xs: readonly T[]): T => xs[r.int(xs.length)]

/** Fresh signing keys for rotations (seeded: the same for every run of a suite). */
export function rotationKeys (n = 4, seed = 99): Ed25519Signer[] {
  const r = new SeededRandom(seed)
  return Array.from({ length: n }, () => new Ed25519Signer(r.bytes(32)))
}

export async function hostileHistory (pool: Pool, spare: Ed25519Signer[], random: Random, len: number): Promise<HostileHistory> {
  const signers = [pool.root, pool.admins[0], pool.admins[1], pool.admins[2], pool.admins[0]]
  const replicas = signers.map(() => new Replica(pool.genesis, { clock: pool.clock }))
  const orgId = replicas[0].orgId
  const steps: string[] = []
  const extra: Op[] = []
  const subjects: Actor[] = [...pool.admins, ...pool.members]
  /** The signing key each replica's signer currently acts with (rotations change it). */
  const keyOf = new Map<string, Ed25519Signer>(subjects.map(a => [a.wg.mapKey, a.signer]))
  const adminOn = (i: number): Admin => new Admin(replicas[i], keyOf.get(signers[i].wg.mapKey) ?? signers[i].signer)
  const sync = async (from: number, to: number): Promise<void> => { await replicas[to].merge(replicas[from].diff(replicas[to].digest())) }
  const enroll = (i: number, subj: Actor, roles: string[], sign = keyOf.get(subj.wg.mapKey) ?? subj.signer): Op =>
    adminOn(i).enroll({ wgPublicKey: subj.wg, signPublicKey: sign.publicKey, pop: proveKeys(sign, orgId, subj.wg), roles })
  /** The head of `signer`'s chain on replica i, for hand-signed ops. */
  const headOn = (i: number, s: Ed25519Signer): Op | undefined => { const c = replicas[i].log.chainOf(s.publicKey); return c?.at(c.maxSeq)[0] }
  if (random.next() < 0.8) {
    enroll(0, pick(random, pool.admins), ['admin'])
    steps.push('root grants admin')
    for (let i = 1; i < replicas.length; i++) await sync(0, i)
  }
  for (let s = 0; s < len; s++) {
    const x = random.next()
    const i = random.int(replicas.length)
    const subj = pick(random, subjects)
    try {
      if (x < 0.2) {
        const roles = pool.admins.includes(subj) && random.next() < 0.6 ? ['admin'] : []
        enroll(i, subj, roles)
        steps.push(`${i} enroll ${subjects.indexOf(subj)} ${roles.join(',')}`)
      } else if (x < 0.27) {
        // Rotation (or a re-grant racing whatever else happens): a fresh signing key.
        const k = pick(random, spare)
        enroll(i, subj, pool.admins.includes(subj) ? ['admin'] : [], k)
        keyOf.set(subj.wg.mapKey, k)
        steps.push(`${i} rotates ${subjects.indexOf(subj)} to a spare key`)
      } else if (x < 0.32) {
        enroll(i, subj, [])
        steps.push(`${i} demotes ${subjects.indexOf(subj)}`)
      } else if (x < 0.38) {
        adminOn(i).remove(subj.wg)
        steps.push(`${i} remove ${subjects.indexOf(subj)}`)
      } else if (x < 0.44) {
        adminOn(i).revoke(subj.wg, { reason: 'prop' })
        steps.push(`${i} revoke ${subjects.indexOf(subj)}`)
      } else if (x < 0.5) {
        leave(replicas[i], keyOf.get(subj.wg.mapKey) ?? subj.signer, subj.wg)
        steps.push(`${subjects.indexOf(subj)} leaves via ${i}`)
      } else if (x < 0.56) {
        // A wg-key-id squat, signed by hand by this replica's signer (maybe no admin at all).
        const s2 = pick(random, spare)
        const fake = squatKey(pick(random, subjects).wg, random, b => Key.fromBytes(b))
        const me = keyOf.get(signers[i].wg.mapKey) ?? signers[i].signer
        const prev = headOn(i, me)
        const deps = replicas[i].liveEnroll(signers[i].wg)
        extra.push(craft(orgId, me, (prev?.seq ?? 0) + 1, { kind: 2, record: { wgPublicKey: fake, signPublicKey: s2.publicKey, roles: [], pop: proveKeys(s2, orgId, fake) } }, prev, deps === undefined || deps.author.equals(me.publicKey) ? [] : [deps]))
        steps.push(`${i} squats a wg key id`)
      } else if (x < 0.6) {
        // A signing-key-id squat without a proof, by a member on its own chain.
        const fake = squatKey(pick(random, signers).signer.publicKey, random, b => Key.fromBytes(b))
        const m = pick(random, pool.members)
        extra.push(craft(orgId, m.signer, 1, { kind: 2, record: { wgPublicKey: pick(random, pool.members).wg, signPublicKey: fake, roles: ['admin'], pop: new Uint8Array(64) } }))
        steps.push('a member squats a signing key id')
      } else if (x < 0.64) {
        // A key introduced on a chain, then used: the spare key signs an op naming that grant.
        const k = pick(random, spare)
        const grant = extra.length > 0 && random.next() < 0.3 ? extra[extra.length - 1] : headOn(i, keyOf.get(signers[i].wg.mapKey) ?? signers[i].signer)
        if (grant !== undefined) extra.push(craft(orgId, k, 1, { kind: 2, record: { wgPublicKey: pick(random, pool.members).wg, signPublicKey: k.publicKey, roles: [], pop: proveKeys(k, orgId, pick(random, pool.members).wg) } }, undefined, [grant]))
        steps.push(`a spare key signs on ${i}'s head`)
      } else {
        const j = random.int(replicas.length)
        if (j !== i) { await sync(i, j); steps.push(`sync ${i}→${j}`) }
      }
    } catch (err) {
      if (!(err instanceof MeshError)) throw err
    }
  }
  const seen = new Map<string, Op>()
  for (const r of replicas) for (const op of r.log.all()) if (op.kind !== 1 && !seen.has(op.idKey)) seen.set(op.idKey, op)
  const ops = [...seen.values(), ...extra]
  return { ops, steps }
}
