/**
 * Hostile peers and members: what one of them can make a replica do. Each case is a
 * scenario a review found broken; the assertions are what must hold instead.
 */
import { expect } from 'chai'
import { Admin } from '../../lib/membership/admin.js'
import { authorOp } from '../../lib/membership/author.js'
import { decodeOp, sha256, signedBytes, writeOpBody } from '../../lib/membership/codec.js'
import { OpLog } from '../../lib/membership/log.js'
import type { Op, WireOp } from '../../lib/membership/op.js'
import { Replica } from '../../lib/membership/replica.js'
import { inlineVerifier, type BatchVerifier } from '../../lib/membership/verify.js'
import { concatBytes } from '../../lib/util/bytes.js'
import { Encoder } from '../../lib/util/encoding.js'
import { expectCode } from '../helpers/expect-code.js'
import { enrollInit, newNode, newOrg, popOf, type TestOrg } from '../helpers/org.js'

const w = (op: Op): WireOp => decodeOp(op.wire)
/** A copy of `op` with its signature mangled (same id, bad signature). */
const forge = (op: Op, k = 1): WireOp => { const b = op.wire.slice(); b[b.length - 1] ^= k; return decodeOp(b) }
const sync = async (from: Replica, to: Replica): Promise<void> => { await to.merge(from.diff(to.digest())) }

describe('membership under hostile input', function () {
  this.timeout(60_000)
  let org: TestOrg
  const mk = (init = {}): Replica => new Replica(org.genesis, { clock: org.clock, verifier: inlineVerifier, ...init })
  beforeEach(async () => { org = await newOrg({ verifier: inlineVerifier }) })

  it('a member signing many chains of its own cannot push admins\' ops past the deps limit', async () => {
    const X = await newNode()
    org.admin.enroll(enrollInit(X, org))
    // X works on a scratch log holding the org's ops: what goes in there is checked by nobody
    // (the raw OpLog, not a replica), so X can build what an honest replica would refuse.
    const scratch = new OpLog()
    for (const op of org.replica.log.all()) scratch.add(op)
    const keys = await Promise.all(Array.from({ length: 70 }, async () => await newNode()))
    const attack: Op[] = []
    // X introduces 70 keys on its own chain (it holds them, so their proofs of possession are
    // genuine); each key then signs a seq-1 op.
    for (const k of keys) {
      const wg = (await newNode()).wg
      const op = authorOp(scratch, X.signer, org.replica.orgId, { kind: 2, record: { wgPublicKey: wg, signPublicKey: k.signer.publicKey, roles: [], pop: popOf(k, org, wg) } })
      scratch.add(op)
      attack.push(op)
    }
    for (const k of keys) {
      const f = { kind: 2 as const, author: k.signer.publicKey, seq: 1, deps: [], payload: { kind: 2 as const, record: { wgPublicKey: k.wg, signPublicKey: k.signer.publicKey, roles: [], pop: popOf(k, org) } } }
      const enc = new Encoder(); writeOpBody(enc, f); const body = enc.finish()
      const signed = signedBytes(body, org.replica.orgId, undefined, 1, k.signer.publicKey).slice()
      attack.push({ ...decodeOp(concatBytes(body, k.signer.sign(signed))), author: k.signer.publicKey, prev: undefined, lamport: 1, id: sha256(signed) })
    }
    // The honest replica gets all of it, as a sync or in pieces. Before issue 11 these ops
    // were stored (never valid) and grew the chains past 64; now a member never granted admin
    // gets no chain op stored at all (DESIGN §2.1 "Bounded per member", admissible.ts).
    const chains = org.replica.log.chains.length
    const size = org.replica.size
    const res = await org.replica.ingest(attack.map(w), 'evil')
    expect(res.added, 'nothing of the attack is stored').to.have.length(0)
    expect(res.refused, 'the attack is refused, not stored').to.be.above(0)
    for (const op of attack) expect(org.replica.log.has(op.id)).to.equal(false)
    for (let i = 0; i < attack.length; i += 7) await org.replica.ingest([w(attack[i])], 'evil')
    expect(org.replica.size).to.equal(size)
    expect(org.replica.log.chains.length, 'no chain grown').to.equal(chains)
    // And X's own authoring replica refuses to sign its first such op.
    const evil = mk()
    await sync(org.replica, evil)
    expectCode(() => evil.addLocal(authorOp(evil.log, X.signer, evil.orgId, { kind: 2, record: { wgPublicKey: keys[0].wg, signPublicKey: keys[0].signer.publicKey, roles: [], pop: popOf(keys[0], org) } })), 'WIREMESH_ERR_INVALID_OP')
    const n = await newNode()
    const op = org.admin.enroll(enrollInit(n, org))
    expect(op.deps).to.have.length(0)
    expect(org.replica.member(n.wg)).to.not.equal(undefined)
  })

  it('a remove that saw an enroll on a pinned fork branch cancels it, whatever else its past holds', async () => {
    const A = await newNode(); const M = await newNode()
    const others = await Promise.all([1, 2, 3, 4].map(async () => await newNode()))
    org.admin.enroll(enrollInit(A, org, { roles: ['admin'] }))
    const a1 = mk(); const a2 = mk()
    await sync(org.replica, a1); await sync(org.replica, a2)
    // A equivocates: branch α on a1 (enrolls M at α2), branch β on a2.
    new Admin(a1, A.signer).enroll(enrollInit(others[0], org))
    const e = new Admin(a1, A.signer).enroll(enrollInit(M, org))
    for (let i = 1; i < 4; i++) new Admin(a2, A.signer).enroll(enrollInit(others[i], org))
    await sync(a1, org.replica)
    org.admin.revoke(A.wg, { reason: 'equivocated' }) // pins A's chain at α2
    await sync(a2, org.replica)
    expect(org.replica.log.get(e.id)!.valid, 'α2 is on the pinned branch').to.equal(true)
    expect(org.replica.member(M.wg)).to.not.equal(undefined)
    const r = org.admin.remove(M.wg)
    expect(org.replica.log.inPast(org.replica.log.get(e.id)!, org.replica.log.get(r.id)!)).to.equal(true)
    expect(org.replica.member(M.wg)).to.equal(undefined)
  })

  it('forged copies parked by one peer neither evict another peer\'s ops nor slow later ingests', async () => {
    const ops: Op[] = []
    // (a name last in the body: the forgeries below vary its last two bytes)
    for (let i = 0; i < 21; i++) { const n = await newNode(); ops.push(org.admin.enroll(enrollInit(n, org, { name: 'nnnnnnnn' }))) }
    const b = mk({ pendingQuota: 2 })
    await b.ingest([w(ops[0]), w(ops[3])], 'honest') // seq 5 waits for 3 and 4
    await b.ingest([forge(ops[1], 1), forge(ops[1], 2)], 'evil')
    await b.ingest([w(ops[1])], 'honest')
    await b.ingest([w(ops[2])], 'honest')
    expect(b.log.has(ops[3].id), 'the honest peer\'s parked op went in').to.equal(true)

    // Thousands of distinct forgeries at one position are verified once, not on every ingest.
    let verifies = 0
    const counting: BatchVerifier = { async verifyBatch (jobs) { verifies += jobs.length; return await inlineVerifier.verifyBatch(jobs) } }
    const c = mk({ verifier: counting })
    await c.ingest([w(ops[0])], 'p')
    const junk: WireOp[] = []
    for (let m = 0; m < 2000; m++) { const x = ops[1].wire.slice(); x[x.length - 65] = 48 + m % 64; x[x.length - 66] = 48 + (m >> 6) % 64; junk.push(decodeOp(x)) }
    await c.ingest(junk, 'evil')
    const before = verifies
    for (let i = 1; i < 21; i++) await c.ingest([w(ops[i])], 'honest')
    expect(c.size).to.equal(22)
    expect(verifies - before, 'verifies for 20 honest ops with 2000 forgeries parked').to.be.at.most(20)
  })

  it('members hand out frozen records: changing one cannot change authority', async () => {
    const n = await newNode()
    org.admin.enroll(enrollInit(n, org, { roles: ['lighthouse'] }))
    const m = org.replica.member(n.wg)!
    expect(() => { (m.roles as string[]).push('admin') }).to.throw(TypeError)
    expect(org.replica.rankOf(n.signer.publicKey)).to.equal(undefined)
  })

  it('addLocal refuses an op it did not sign itself unless it verifies', async () => {
    const other = mk()
    const n = await newNode()
    const op = org.admin.enroll(enrollInit(n, org))
    const copy = { ...decodeOp(op.wire), author: op.author, prev: op.prev, lamport: op.lamport, id: op.id }
    const bad = { ...copy, lamport: op.lamport + 1 }
    expectCode(() => other.addLocal(bad), 'WIREMESH_ERR_INVALID_OP')
    expect(other.log.has(op.id)).to.equal(false)
    other.addLocal(copy)
    expect(other.member(n.wg)).to.not.equal(undefined)
  })
})
