/**
 * Issue 11's findings against the membership core, one test each: what a hostile member or
 * admin did to every replica, and the rule (DESIGN §2.1) that now stops it. Findings 5
 * (digests), 7 (JOIN) and 11 (epochs) are tested where they live: the native store and the
 * gossiper, and the sealer.
 */
import { expect } from 'chai'
import { Key } from '../../lib/identity/key.js'
import { Admin, leave } from '../../lib/membership/admin.js'
import { proveKeys } from '../../lib/membership/pop.js'
import { HASH_PREFIX_BYTES, type MemberRecord, type Op } from '../../lib/membership/op.js'
import { Replica } from '../../lib/membership/replica.js'
import { inlineVerifier } from '../../lib/membership/verify.js'
import { CUT_WINDOW } from '../../lib/membership/ingest.js'
import type { LoggedOp } from '../../lib/membership/log.js'
import { SeededRandom } from '../../lib/random.js'
import { expectCode } from '../helpers/expect-code.js'
import { craft, deliverShuffled, depOn, expectSameState, replicaState, squatKey, wire } from '../helpers/hostile.js'
import { newNode, newOrg, type TestNode, type TestOrg } from '../helpers/org.js'

describe('issue 11 findings: one hostile member cannot freeze, split or crash the membership core', function () {
  this.timeout(60_000)
  let org: TestOrg
  const mk = (): Replica => new Replica(org.genesis, { clock: org.clock, verifier: inlineVerifier })
  const rec = (n: TestNode, extra: Partial<MemberRecord> = {}): MemberRecord => ({ wgPublicKey: n.wg, signPublicKey: n.signer.publicKey, roles: [], pop: proveKeys(n.signer, org.replica.orgId, n.wg), ...extra })
  const enroll = (admin: Admin, n: TestNode, roles: string[] = []): Op => admin.enroll({ wgPublicKey: n.wg, signPublicKey: n.signer.publicKey, pop: proveKeys(n.signer, org.replica.orgId, n.wg), roles })
  /** Validity is derived when read: bring it up to date first. */
  const valid = (r: Replica, op: Op): boolean | undefined => { void r.authority; return r.log.get(op.id)?.valid }
  const sync = async (from: Replica, to: Replica): Promise<void> => { await to.merge(from.diff(to.digest())) }
  beforeEach(async () => { org = await newOrg({ verifier: inlineVerifier }) })

  it('1: keys a member introduces on its own chain are never stored, so no replica holds their K² causal past', async () => {
    const X = await newNode()
    enroll(org.admin, X)
    const sizeBefore = org.replica.size
    // X (no admin) introduces K keys on its own chain; each key signs one op naming the previous one.
    const K = 60
    const ops: Op[] = []
    let prev: Op | undefined
    const keys = await Promise.all(Array.from({ length: K }, async () => await newNode()))
    for (let i = 0; i < K; i++) { prev = craft(org.replica.orgId, X.signer, i + 1, { kind: 2, record: rec(keys[i]) }, prev); ops.push(prev) }
    let last: Op | undefined
    for (let i = 0; i < K; i++) { last = craft(org.replica.orgId, keys[i].signer, 1, { kind: 2, record: rec(await newNode()) }, undefined, last === undefined ? [ops[i]] : [ops[i], last]); ops.push(last) }
    const r = await org.replica.ingest(ops.map(wire), 'evil')
    expect(r.added, 'stored').to.have.length(0)
    expect(r.refused, 'refused as never valid').to.be.above(0)
    expect(org.replica.size).to.equal(sizeBefore)
    expect(org.replica.log.chains).to.have.length(1)
  })

  it('2: a rotated admin key is cut by the revoke too, and so is a fresh key granted in a race with it', async () => {
    const A = await newNode(); const A2 = await newNode(); const A3 = await newNode(); const B = await newNode()
    const R1 = await newNode(); const R2 = await newNode()
    enroll(org.admin, R1, ['admin'])
    enroll(org.admin, R2, ['admin'])
    const r1 = new Admin(org.replica, R1.signer)
    enroll(r1, A, ['admin'])
    const a = new Admin(org.replica, A.signer)
    for (let i = 0; i < 5; i++) enroll(a, await newNode())
    // Rotation: R1 re-enrolls A with a second signing key.
    const rot = r1.enroll({ wgPublicKey: A.wg, signPublicKey: A2.signer.publicKey, pop: proveKeys(A2.signer, org.replica.orgId, A.wg), roles: ['admin'] })
    const racer = mk()
    await sync(org.replica, racer)
    // R2, not having seen the revoke, re-grants A with a third key.
    new Admin(racer, R2.signer).enroll({ wgPublicKey: A.wg, signPublicKey: A3.signer.publicKey, pop: proveKeys(A3.signer, org.replica.orgId, A.wg), roles: ['admin'] })
    const first = org.replica.log.chainOf(A.signer.publicKey)!
    org.admin.revoke(A.wg, { reason: 'stolen', cutoff: { seq: 5, hash: first.at(5)[0].id } })
    // After the revoke, A's second key signs seq 1: a grant of B as admin, built on the rotation only.
    const grantB = craft(org.replica.orgId, A2.signer, 1, { kind: 2, record: rec(B, { roles: ['admin'] }) }, undefined, [rot])
    await org.replica.ingest([wire(grantB)])
    await sync(racer, org.replica)
    const third = craft(org.replica.orgId, A3.signer, 1, { kind: 2, record: rec(await newNode()) }, undefined, [racer.liveEnroll(A.wg)!])
    await org.replica.ingest([wire(third)])
    expect(org.replica.rankOf(B.signer.publicKey), 'B got no rank from the rotated key').to.equal(undefined)
    expect(org.replica.member(B.wg)).to.equal(undefined)
    expect(valid(org.replica, grantB), 'the rotated key\'s grant after the revoke (stored: it can be valid as far as its past tells)').to.equal(false)
    expect(valid(org.replica, third), 'the racing fresh key\'s op').to.equal(false)
    // A's first chain up to the cutoff stays valid.
    expect(valid(org.replica, first.at(5)[0])).to.equal(true)
  })

  it('3: nobody can claim a signing key it does not hold, so an admin\'s key id cannot be squatted', async () => {
    const A = await newNode(); const X = await newNode()
    enroll(org.admin, X)
    const random = new SeededRandom(3)
    // X, a plain member, enrolls eight crafted keys sharing the future admin's key id, on its own chain.
    const squats: Op[] = []
    let prev: Op | undefined
    for (let i = 0; i < 8; i++) {
      const fake = squatKey(A.signer.publicKey, random, b => Key.fromBytes(b))
      prev = craft(org.replica.orgId, X.signer, i + 1, { kind: 2, record: { wgPublicKey: (await newNode()).wg, signPublicKey: fake, roles: [], pop: new Uint8Array(64) } }, prev)
      squats.push(prev)
    }
    const grant = enroll(org.admin, A, ['admin'])
    const aOp = enroll(new Admin(org.replica, A.signer), await newNode())
    // A fresh replica syncing from scratch gets the squats first.
    const fresh = mk()
    await fresh.ingest(squats.map(wire), 'evil')
    await sync(org.replica, fresh)
    expect(fresh.log.has(grant.id) && fresh.log.has(aOp.id)).to.equal(true)
    expect(valid(fresh, aOp)).to.equal(true)
    expect(fresh.viewFingerprint()).to.equal(org.replica.viewFingerprint())
    // An honest admin refuses a key whose proof does not verify; a replica refuses a hand-made one.
    const J = await newNode()
    expectCode(() => org.admin.enroll({ wgPublicKey: J.wg, signPublicKey: J.signer.publicKey, pop: proveKeys(X.signer, org.replica.orgId, J.wg) }), 'WIREMESH_ERR_INVALID_OP')
    const noPop = craft(org.replica.orgId, org.root.signer, org.replica.log.chainOf(org.root.signer.publicKey)!.maxSeq + 1, { kind: 2, record: { ...rec(J), pop: new Uint8Array(64) } }, org.replica.log.chainOf(org.root.signer.publicKey)!.at(org.replica.log.chainOf(org.root.signer.publicKey)!.maxSeq)[0])
    const other = mk()
    await sync(org.replica, other)
    const r = await other.ingest([wire(noPop)])
    expect(r.refused).to.equal(1)
    expect(other.member(J.wg)).to.equal(undefined)
  })

  it('4: a wg key sharing a member\'s key id is refused, and lookups by id reach the member', async () => {
    const V = await newNode(); const B = await newNode(); const S = await newNode()
    enroll(org.admin, V)
    enroll(org.admin, B, ['admin'])
    const fake = squatKey(V.wg, new SeededRandom(4), b => Key.fromBytes(b))
    // An honest admin refuses it …
    expectCode(() => org.admin.enroll({ wgPublicKey: fake, signPublicKey: S.signer.publicKey, pop: proveKeys(S.signer, org.replica.orgId, fake) }), 'WIREMESH_ERR_NOT_AUTHORIZED')
    // … and a hostile admin's enroll of it is invalid everywhere.
    const b = mk()
    await sync(org.replica, b)
    const squat = craft(b.orgId, B.signer, 1, { kind: 2, record: { wgPublicKey: fake, signPublicKey: S.signer.publicKey, roles: [], pop: proveKeys(S.signer, b.orgId, fake) } }, undefined, [b.liveEnroll(B.wg)!])
    await org.replica.ingest([wire(squat)])
    expect(valid(org.replica, squat)).to.equal(false)
    expect(org.replica.member(fake)).to.equal(undefined)
    expect(org.replica.memberIndex().byId.get(V.wg.idMapKey)?.mapKey).to.equal(V.wg.mapKey)
    // The root as victim: its key id stays its own.
    const rootSquat = squatKey(org.root.wg, new SeededRandom(5), k => Key.fromBytes(k))
    const s2 = await newNode()
    const op2 = craft(b.orgId, B.signer, 2, { kind: 2, record: { wgPublicKey: rootSquat, signPublicKey: s2.signer.publicKey, roles: [], pop: proveKeys(s2.signer, b.orgId, rootSquat) } }, squat, [])
    await org.replica.ingest([wire(op2)])
    expect(org.replica.memberIndex().byId.get(org.root.wg.idMapKey)?.mapKey).to.equal(org.root.wg.mapKey)
  })

  it('6: an equivocating admin whose fork introduces a key: every delivery order stores, digests and views the same', async () => {
    const A = await newNode(); const K = await newNode(); const M = await newNode(); const N = await newNode()
    enroll(org.admin, A, ['admin'])
    const a1 = mk(); const a2 = mk()
    await sync(org.replica, a1); await sync(org.replica, a2)
    // Branch α grants K admin; branch β enrolls M; K then signs an op that names α and rides on β's past too.
    const alpha = enroll(new Admin(a1, A.signer), K, ['admin'])
    enroll(new Admin(a2, A.signer), M)
    enroll(new Admin(a2, A.signer), await newNode())
    await sync(a2, a1)
    const kOp = craft(org.replica.orgId, K.signer, 1, { kind: 2, record: rec(N) }, undefined, [alpha])
    const all: Op[] = [...a1.log.all()].filter(o => o.kind !== 1)
    all.push(kOp)
    const now = org.clock.now()
    const states = []
    for (let s = 0; s < 20; s++) {
      const r = mk()
      await deliverShuffled(r, all.filter(o => o.kind !== 1), new SeededRandom(600 + s))
      states.push(replicaState(r, now))
    }
    for (let s = 1; s < states.length; s++) expectSameState(states[0], states[s], `order ${s} (replay: seed ${600 + s})`)
    expect(states[0].view.includes(M.wg.toBase64()), 'the fork from seq 2 on is invalid').to.equal(false)
  })

  it('8: a member\'s leaves are its own and one per enroll; leaves about others are not stored', async () => {
    const X = await newNode(); const V = await newNode()
    const ex = enroll(org.admin, X)
    const ev = enroll(org.admin, V)
    const before = org.replica.size
    const junk: Op[] = []
    // Leaves X signs about V (naming V's enroll), about X naming V's enroll, and with extra deps.
    junk.push(craft(org.replica.orgId, X.signer, 0, { kind: 5, leave: { subject: V.wg } }, undefined, [ev]))
    junk.push(craft(org.replica.orgId, X.signer, 0, { kind: 5, leave: { subject: X.wg } }, undefined, [ev]))
    const r = await org.replica.ingest(junk.map(wire), 'evil')
    expect(r.added).to.have.length(0)
    expect(org.replica.size).to.equal(before)
    expect(org.replica.member(V.wg)).to.not.equal(undefined)
    // Its own leave goes in, once: the same leave again is a duplicate.
    const own = craft(org.replica.orgId, X.signer, 0, { kind: 5, leave: { subject: X.wg } }, undefined, [ex])
    expect((await org.replica.ingest([wire(own)])).added).to.have.length(1)
    expect((await org.replica.ingest([wire(own)])).duplicates).to.equal(1)
    expect(org.replica.member(X.wg)).to.equal(undefined)
  })

  it('9: an admin\'s own leave and a demotion end its authority', async () => {
    const A = await newNode(); const D = await newNode()
    enroll(org.admin, A, ['admin'])
    enroll(org.admin, D, ['admin'])
    const a = new Admin(org.replica, A.signer)
    enroll(a, await newNode())
    leave(org.replica, A.signer, A.wg)
    expect(org.replica.member(A.wg)).to.equal(undefined)
    expectCode(() => a.rank(), 'WIREMESH_ERR_NOT_AUTHORIZED')
    const chainA = org.replica.log.chainOf(A.signer.publicKey)!
    const late = craft(org.replica.orgId, A.signer, chainA.maxSeq + 1, { kind: 2, record: rec(await newNode()) }, chainA.at(chainA.maxSeq)[0])
    await org.replica.ingest([wire(late)])
    expect(valid(org.replica, late), 'an op after its own leave').to.equal(false)
    // An admin that leaves before it ever authored may not author either.
    const L = await newNode()
    enroll(org.admin, L, ['admin'])
    leave(org.replica, L.signer, L.wg)
    expectCode(() => new Admin(org.replica, L.signer).rank(), 'WIREMESH_ERR_NOT_AUTHORIZED')
    // Demotion: the root re-enrolls D without the admin role.
    enroll(org.admin, D)
    const m = org.replica.member(D.wg)!
    expect(m.roles).to.deep.equal([])
    expect(m.rank).to.equal(undefined)
    expectCode(() => enroll(new Admin(org.replica, D.signer), D), 'WIREMESH_ERR_NOT_AUTHORIZED')
    const dLate = craft(org.replica.orgId, D.signer, 1, { kind: 2, record: rec(await newNode()) }, undefined, [org.replica.liveEnroll(D.wg)!])
    await org.replica.ingest([wire(dLate)])
    expect(valid(org.replica, dLate), 'an op after the demotion').to.equal(false)
  })

  it('8: a revoked admin that keeps signing is stored only up to the cut window, in any order, and what an honest admin built on stays', async () => {
    const X = await newNode(); const B = await newNode()
    enroll(org.admin, X, ['admin'])
    enroll(org.admin, B, ['admin'])
    const xr = mk()
    await sync(org.replica, xr)
    const x = new Admin(xr, X.signer)
    for (let i = 0; i < 3; i++) enroll(x, await newNode())
    await sync(xr, org.replica)
    org.admin.revoke(X.wg, { reason: 'stolen' })
    // X, partitioned with its own replica, keeps signing far past the cut.
    const flood: Op[] = []
    const br = mk()
    let bOp: Op | undefined
    for (let i = 0; i < CUT_WINDOW * 2 + 10; i++) {
      flood.push(enroll(x, await newNode()))
      // B saw the first 20 before it heard of the revoke, and built on them.
      if (i === 19) { await sync(xr, br); bOp = enroll(new Admin(br, B.signer), await newNode()) }
    }
    if (bOp === undefined) throw new Error('unreachable')
    const revoke = org.replica.log.all()
    const all: Op[] = [...revoke].filter(o => o.kind !== 1)
    for (const op of [...xr.log.all(), ...br.log.all()]) if (!all.some(a => (a as LoggedOp).idKey === op.idKey)) all.push(op)
    const now = org.clock.now()
    const states = []
    for (let s = 0; s < 6; s++) {
      const r = mk()
      await deliverShuffled(r, all, new SeededRandom(800 + s))
      states.push(replicaState(r, now))
      expect(r.log.has(bOp.id), `order ${s}: the honest admin's op`).to.equal(true)
      expect(valid(r, bOp)).to.equal(true)
    }
    for (let s = 1; s < states.length; s++) expectSameState(states[0], states[s], `order ${s} (replay: seed ${800 + s})`)
    // A replica that stored the whole flood before the revoke drops it once the revoke comes.
    const early = mk()
    await sync(xr, early)
    expect(early.log.chainOf(X.signer.publicKey)!.maxSeq).to.equal(3 + flood.length)
    await sync(org.replica, early)
    await sync(br, early)
    const cut = early.log.chainOf(X.signer.publicKey)!
    expect(cut.maxSeq, 'kept above the cut: the window').to.be.at.most(3 + CUT_WINDOW)
    expectSameState(states[0], replicaState(early, now), 'pruned after the fact')
  })

  it('6: an admin that forks and then leaves on each branch is cut the same way in every order', async () => {
    const A = await newNode()
    enroll(org.admin, A, ['admin'])
    const a1 = mk(); const a2 = mk()
    await sync(org.replica, a1); await sync(org.replica, a2)
    enroll(new Admin(a1, A.signer), await newNode())
    enroll(new Admin(a2, A.signer), await newNode())
    leave(a1, A.signer, A.wg)
    leave(a2, A.signer, A.wg)
    await sync(a2, a1)
    const all: Op[] = [...a1.log.all()].filter(o => o.kind !== 1)
    const now = org.clock.now()
    const states = []
    for (let s = 0; s < 12; s++) {
      const r = mk()
      await deliverShuffled(r, all, new SeededRandom(900 + s))
      states.push(replicaState(r, now))
    }
    for (let s = 1; s < states.length; s++) expectSameState(states[0], states[s], `order ${s} (replay: seed ${900 + s})`)
  })

  it('1: an admin granting fresh keys in a chain costs no full re-derivation, and ends where a full pass does', async () => {
    const A = await newNode()
    enroll(org.admin, A, ['admin'])
    const a = new Admin(org.replica, A.signer)
    enroll(a, await newNode())
    const derived = (): ReturnType<Replica['authorityForAuthoring']>['derived'] => org.replica.authorityForAuthoring().derived
    const before = derived().fullPasses
    let last: Op | undefined
    for (let i = 0; i < 30; i++) {
      const k = await newNode()
      const grant = enroll(a, k, ['admin'])
      last = craft(org.replica.orgId, k.signer, 1, { kind: 2, record: rec(await newNode()) }, undefined, last === undefined ? [grant] : [grant, last])
      await org.replica.ingest([wire(last)])
      expect(org.replica.rankOf(k.signer.publicKey)).to.equal(2)
    }
    expect(derived().fullPasses, 'full passes for 30 grants and their keys\' ops').to.equal(before)
    const incremental = { view: org.replica.viewFingerprint(), valid: [...org.replica.log.byId.values()].map(o => o.valid) }
    derived().full()
    expect(org.replica.viewFingerprint()).to.equal(incremental.view)
    expect([...org.replica.log.byId.values()].map(o => o.valid)).to.deep.equal(incremental.valid)
  })

  it('10: deps resolve on 128 bits: a reference matching only an op\'s first 8 bytes finds nothing', async () => {
    const n = await newNode()
    const e = enroll(org.admin, n)
    expect(HASH_PREFIX_BYTES).to.be.at.least(16)
    const exact = depOn(e)
    expect(org.replica.log.findDep(exact)?.idKey).to.equal(org.replica.log.get(e.id)!.idKey)
    const ground = { ...exact, hash: Uint8Array.from([...e.id.subarray(0, 8), ...e.id.subarray(8, 16).map(x => x ^ 0xff)]) }
    expect(org.replica.log.findDep(ground)).to.equal(undefined)
  })
})
