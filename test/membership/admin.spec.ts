/**
 * The Admin API refuses, with a typed error and before anything is signed, every action the
 * validity rules would make invalid (DESIGN §2, rules 2–4 and 6).
 */
import { expect } from 'chai'
import { Admin, type EnrollInit } from '../../lib/membership/admin.js'
import { Replica } from '../../lib/membership/replica.js'
import { expectCode } from '../helpers/expect-code.js'
import { enrollInit, newNode, newOrg, popOf, type TestNode, type TestOrg } from '../helpers/org.js'

const NOT_AUTHORIZED = 'WIREMESH_ERR_NOT_AUTHORIZED'
const INVALID_OP = 'WIREMESH_ERR_INVALID_OP'

async function sync (from: Replica, to: Replica): Promise<void> { await to.merge(from.diff(to.digest())) }

/** Every action `admin` could take on `subject`, each expected to fail with `code`. */
function refusesAll (admin: Admin, subject: TestNode, code = NOT_AUTHORIZED): void {
  const size = admin.replica.size
  expectCode(() => admin.enroll(enrollInit(subject, admin.replica)), code)
  expectCode(() => admin.enroll(enrollInit(subject, admin.replica, { roles: ['admin'] })), code)
  expectCode(() => admin.remove(subject.wg), code)
  expectCode(() => admin.revoke(subject.wg, { reason: 'test' }), code)
  expect(admin.replica.size, 'a refused action adds nothing').to.equal(size)
}

describe('Admin API errors', function () {
  this.timeout(30_000)
  let org: TestOrg
  let A: TestNode; let B: TestNode; let S: TestNode; let X: TestNode
  /** Replicas of the rank-1 admins A and B, synced with the root. */
  let ra: Replica; let rb: Replica
  let a: Admin; let b: Admin
  /** `n`'s enroll in this org, with its proof of possession. */
  const rec = (n: TestNode, roles: string[] = []): EnrollInit => enrollInit(n, org, { roles })

  beforeEach(async () => {
    org = await newOrg()
    ;[A, B, S, X] = [await newNode(), await newNode(), await newNode(), await newNode()]
    org.admin.enroll(rec(A, ['admin']))
    org.admin.enroll(rec(B, ['admin']))
    org.admin.enroll(rec(S))
    ra = new Replica(org.genesis, { clock: org.clock }); await sync(org.replica, ra)
    rb = new Replica(org.genesis, { clock: org.clock }); await sync(org.replica, rb)
    a = new Admin(ra, A.signer)
    b = new Admin(rb, B.signer)
  })

  it('a signer that is not an admin is refused: a member, and a stranger', async () => {
    for (const signer of [S.signer, X.signer]) {
      const admin = new Admin(org.replica, signer)
      expectCode(() => admin.rank(), NOT_AUTHORIZED)
      refusesAll(admin, X)
      const y = await newNode()
      refusesAll(admin, y)
    }
  })

  it('no admin acts on the root, not even the root itself', () => {
    const root = org.root
    refusesAll(org.admin, root)
    refusesAll(a, root)
  })

  it('enrolling a new wg key under the root\'s signing key is refused (the root is never a subject)', () => {
    const size = org.replica.size
    // With a genuine proof by the root's key: the refusal is for the key, not the proof.
    const pop = popOf(org.root, org, X.wg)
    expectCode(() => org.admin.enroll({ wgPublicKey: X.wg, signPublicKey: org.root.signer.publicKey, pop }), NOT_AUTHORIZED)
    expectCode(() => a.enroll({ wgPublicKey: X.wg, signPublicKey: org.root.signer.publicKey, pop }), NOT_AUTHORIZED)
    expect(org.replica.size, 'nothing was signed').to.equal(size)
  })

  it('enrolling a new wg key under another member\'s signing key is refused', () => {
    // authority.ts gives a signing key to the first subject that claims it: such an enroll
    // would be invalid on every replica, so the API must not sign it.
    const size = org.replica.size
    let thrown: unknown
    // Even with a genuine proof by S's key (S colluding): the key is S's.
    try { org.admin.enroll({ wgPublicKey: X.wg, signPublicKey: S.signer.publicKey, pop: popOf(S, org, X.wg) }) } catch (err) { thrown = err }
    expect((thrown as { code?: string } | undefined)?.code, 'a typed refusal').to.be.oneOf([NOT_AUTHORIZED, INVALID_OP])
    expect(org.replica.size, 'nothing was signed').to.equal(size)
  })

  it('a rank-1 admin acts on neither another rank-1 admin, nor itself, nor the root', () => {
    refusesAll(a, B)
    refusesAll(a, A)
    refusesAll(b, A)
    refusesAll(a, org.root)
  })

  it('a rank-1 admin acts on members and grants rank 2, which in turn cannot touch rank 1', async () => {
    expect(a.rank()).to.equal(1)
    a.enroll({ ...rec(S), name: 'renamed' })
    const c = await newNode()
    a.enroll(rec(c, ['admin']))
    const rc = new Replica(org.genesis, { clock: org.clock })
    await sync(ra, rc)
    const cAdmin = new Admin(rc, c.signer)
    expect(cAdmin.rank()).to.equal(2)
    refusesAll(cAdmin, A)
    refusesAll(cAdmin, B)
    refusesAll(cAdmin, c)
    expect(a.remove(c.wg).kind).to.equal(3)
  })

  it('enrolling a revoked key is refused, whether its wg key or its signing key', async () => {
    org.admin.revoke(S.wg, { reason: 'stolen' })
    const fresh = await newNode()
    expectCode(() => org.admin.enroll(rec(S)), NOT_AUTHORIZED)
    // Each with a genuine proof of possession, so only the revoke can be the reason.
    expectCode(() => org.admin.enroll({ wgPublicKey: S.wg, signPublicKey: fresh.signer.publicKey, pop: popOf(fresh, org, S.wg) }), NOT_AUTHORIZED)
    expectCode(() => org.admin.enroll({ wgPublicKey: fresh.wg, signPublicKey: S.signer.publicKey, pop: popOf(S, org, fresh.wg) }), NOT_AUTHORIZED)
    expectCode(() => org.admin.enroll({ wgPublicKey: fresh.wg, signPublicKey: S.signer.publicKey, pop: popOf(S, org, fresh.wg), roles: ['admin'] }), NOT_AUTHORIZED)
    // And through a rank-1 admin that has seen the revoke.
    await sync(org.replica, ra)
    expectCode(() => a.enroll(rec(S)), NOT_AUTHORIZED)
    expectCode(() => a.enroll({ wgPublicKey: fresh.wg, signPublicKey: S.signer.publicKey, pop: popOf(S, org, fresh.wg) }), NOT_AUTHORIZED)
    // New keys are fine.
    expect(org.admin.enroll(rec(fresh)).kind).to.equal(2)
  })

  it('an admin grant with expiresAt is an invalid op; a member may expire', () => {
    const at = org.clock.now() + 3_600_000
    expectCode(() => org.admin.enroll({ ...rec(X, ['admin']), expiresAt: at }), INVALID_OP)
    expectCode(() => a.enroll({ ...rec(X, ['admin', 'lighthouse']), expiresAt: at }), INVALID_OP)
    expect(org.admin.enroll({ ...rec(X), expiresAt: at }).kind).to.equal(2)
  })

  it('a revoked admin cannot author any more', async () => {
    a.enroll(rec(X))
    await sync(ra, org.replica)
    org.admin.revoke(A.wg, { reason: 'compromised' })
    await sync(org.replica, ra)
    expectCode(() => a.rank(), NOT_AUTHORIZED)
    const y = await newNode()
    refusesAll(a, y)
    refusesAll(a, S)
  })

  it('a removed admin cannot author any more', async () => {
    a.enroll(rec(X))
    await sync(ra, org.replica)
    org.admin.remove(A.wg)
    await sync(org.replica, ra)
    expectCode(() => a.rank(), NOT_AUTHORIZED)
    refusesAll(a, S)
  })

  it('a revoked admin that never authored cannot author either', async () => {
    // B holds a grant but has no chain yet: the revoke's cutoff is seq 0.
    org.admin.revoke(B.wg, { reason: 'compromised' })
    await sync(org.replica, rb)
    expect(rb.isRevoked(B.signer.publicKey)).to.equal(true)
    expectCode(() => b.rank(), NOT_AUTHORIZED)
    refusesAll(b, X)
  })

  it('a removed admin that never authored cannot author either', async () => {
    org.admin.remove(B.wg)
    await sync(org.replica, rb)
    expect(rb.goneReason(B.wg)).to.equal('removed')
    expectCode(() => b.rank(), NOT_AUTHORIZED)
    refusesAll(b, X)
  })
})
