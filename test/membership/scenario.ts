/**
 * Random membership histories for property tests: a root, three admin candidates (one of
 * them on two replicas, so it can equivocate) and six members act through their own
 * replicas, which sync now and then. The result is every op any replica holds.
 */
import { Ed25519Signer } from '../../lib/identity/sign.js'
import { clampPrivateKey, wgKeyPairFromPrivate } from '../../lib/identity/wg-key.js'
import type { Key } from '../../lib/identity/key.js'
import { Admin, leave } from '../../lib/membership/admin.js'
import { createGenesis } from '../../lib/membership/org.js'
import { Replica } from '../../lib/membership/replica.js'
import type { Op, WireOp } from '../../lib/membership/op.js'
import { MeshError } from '../../lib/errors.js'
import { SeededRandom, type Random } from '../../lib/random.js'
import { ManualClock } from '../../lib/clock.js'
import { enrollInit } from '../helpers/org.js'

export interface Actor { wg: Key, signer: Ed25519Signer }

export interface Pool { root: Actor, admins: Actor[], members: Actor[], genesis: Op, clock: ManualClock }

/** Keys are slow to make: one pool serves a whole suite. */
export async function makePool (seed = 7): Promise<Pool> {
  // Keys from the seed too, so a failing seed replays exactly.
  const keyRandom = new SeededRandom(seed * 7919 + 1)
  const mk = async (): Promise<Actor> => ({
    wg: wgKeyPairFromPrivate(clampPrivateKey(keyRandom.bytes(32))).publicKey,
    signer: new Ed25519Signer(keyRandom.bytes(32))
  })
  const root = await mk()
  const admins = [await mk(), await mk(), await mk()]
  const members: Actor[] = []
  for (let i = 0; i < 6; i++) members.push(await mk())
  const clock = new ManualClock()
  const genesis = createGenesis({ rootWgPublicKey: root.wg, rootSigner: root.signer, name: 'prop', random: new SeededRandom(seed), clock })
  return { root, admins, members, genesis, clock }
}

export interface History {
  /** Every op, each once, in a causal order (as the union of all authoring replicas). */
  ops: Op[]
  steps: string[]
}

const pick = <T>(r: Random, xs: T[]): T => xs[r.int(xs.length)]

/** Plays `len` random steps. */
export async function randomHistory (pool: Pool, random: Random, len: number): Promise<History> {
  const signers = [pool.root, pool.admins[0], pool.admins[1], pool.admins[2], pool.admins[0]]
  const replicas = signers.map(() => new Replica(pool.genesis, { clock: pool.clock }))
  const admins = replicas.map((r, i) => new Admin(r, signers[i].signer))
  const steps: string[] = []
  const subjects = [...pool.admins, ...pool.members]
  const sync = async (from: number, to: number): Promise<void> => {
    await replicas[to].merge(replicas[from].diff(replicas[to].digest()))
  }
  // Give the admin candidates a fair chance: the root grants one first most of the time.
  if (random.next() < 0.8) {
    const a = pick(random, pool.admins)
    admins[0].enroll(enrollInit(a, pool, { roles: ['admin'] }))
    steps.push('root grants admin')
    for (let i = 1; i < replicas.length; i++) await sync(0, i)
  }
  for (let s = 0; s < len; s++) {
    const x = random.next()
    const i = random.int(replicas.length)
    const subj = pick(random, subjects)
    try {
      if (x < 0.3) {
        const roles = pool.admins.includes(subj) && random.next() < 0.6 ? ['admin'] : random.next() < 0.2 ? ['lighthouse'] : []
        const rec = enrollInit(subj, pool, { roles, name: `n${random.int(3)}` })
        if (random.next() < 0.2) rec.staticEndpoints = [`192.0.2.${random.int(250)}:51820`]
        if (roles.length === 0 && random.next() < 0.1) rec.expiresAt = pool.clock.now() + (random.next() < 0.5 ? -3_600_000 : 3_600_000)
        admins[i].enroll(rec)
        steps.push(`${i} enroll ${subjects.indexOf(subj)} ${roles.join(',')}`)
      } else if (x < 0.4) {
        admins[i].remove(subj.wg)
        steps.push(`${i} remove ${subjects.indexOf(subj)}`)
      } else if (x < 0.48) {
        admins[i].revoke(subj.wg, { reason: 'prop' })
        steps.push(`${i} revoke ${subjects.indexOf(subj)}`)
      } else if (x < 0.55) {
        leave(replicas[i], subj.signer, subj.wg)
        steps.push(`${subjects.indexOf(subj)} leaves via ${i}`)
      } else {
        const j = random.int(replicas.length)
        if (j !== i) { await sync(i, j); steps.push(`sync ${i}→${j}`) }
      }
    } catch (err) {
      if (!(err instanceof MeshError)) throw err
    }
  }
  const seen = new Map<string, Op>()
  for (const r of replicas) for (const op of r.log.all()) if (!seen.has(op.idKey)) seen.set(op.idKey, op)
  const ops = [...seen.values()].sort((a, b) => a.lamport - b.lamport)
  return { ops, steps }
}

/** Fisher–Yates with the given random. */
export function shuffle<T> (random: Random, xs: T[]): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) { const j = random.int(i + 1); [a[i], a[j]] = [a[j], a[i]] }
  return a
}

/** Feeds ops to a replica in random batches, some ops twice. */
export async function feed (replica: Replica, ops: WireOp[], random: Random, source = 'peer'): Promise<void> {
  let i = 0
  while (i < ops.length) {
    const n = 1 + random.int(4)
    const batch = ops.slice(i, i + n)
    if (random.next() < 0.2) batch.push(pick(random, ops))
    await replica.ingest(batch, source)
    i += n
  }
}
