/**
 * View semantics (DESIGN §2): the OR-set over valid enrolls. Remove then re-enroll works,
 * revoke is for good, records supersede and tie-break by (lamport, id), expiry is read with
 * the clock skew allowance, leave, add-wins against a remove, revoke-wins against everything,
 * ranks, and a removed admin's cutoff.
 */
import { expect } from 'chai'
import { Admin, leave, type EnrollInit } from '../../lib/membership/admin.js'
import type { Op } from '../../lib/membership/op.js'
import { Replica } from '../../lib/membership/replica.js'
import { compareBytes, toHex } from '../../lib/util/bytes.js'
import { expectCode } from '../helpers/expect-code.js'
import { enrollInit, newNode, newOrg, type TestNode, type TestOrg } from '../helpers/org.js'

const NOT_AUTHORIZED = 'WIREMESH_ERR_NOT_AUTHORIZED'

async function sync (from: Replica, to: Replica): Promise<void> { await to.merge(from.diff(to.digest())) }
async function syncBoth (x: Replica, y: Replica): Promise<void> { await sync(x, y); await sync(y, x) }

const byLamportId = (x: Op, y: Op): number => x.lamport - y.lamport || compareBytes(x.id, y.id)

describe('member view', function () {
  this.timeout(30_000)
  let org: TestOrg
  let A: TestNode; let S: TestNode
  /** The rank-1 admin A on its own replica, synced with the root. */
  let ra: Replica; let a: Admin
  /** `n`'s enroll in this org, with its proof of possession. */
  const rec = (n: TestNode, roles: string[] = []): EnrollInit => enrollInit(n, org, { roles })

  beforeEach(async () => {
    org = await newOrg()
    ;[A, S] = [await newNode(), await newNode()]
    org.admin.enroll(rec(A, ['admin']))
    ra = new Replica(org.genesis, { clock: org.clock })
    await sync(org.replica, ra)
    a = new Admin(ra, A.signer)
  })

  it('remove then re-enroll makes it a member again', async () => {
    org.admin.enroll({ ...rec(S), name: 'first' })
    expect(org.replica.member(S.wg)?.name).to.equal('first')
    org.admin.remove(S.wg)
    expect(org.replica.member(S.wg)).to.equal(undefined)
    expect(org.replica.goneReason(S.wg)).to.equal('removed')
    expect(org.replica.isRevoked(S.wg)).to.equal(false)
    org.admin.enroll({ ...rec(S), name: 'again' })
    expect(org.replica.member(S.wg)?.name).to.equal('again')
    expect(org.replica.goneReason(S.wg)).to.equal(undefined)
    await sync(org.replica, ra)
    expect(ra.viewFingerprint()).to.equal(org.replica.viewFingerprint())
  })

  it('revoke then re-enroll is refused; forced through a concurrent enroll elsewhere, still not a member', async () => {
    org.admin.enroll(rec(S))
    await sync(org.replica, ra)
    org.admin.revoke(S.wg, { reason: 'stolen laptop' })
    expect(org.replica.member(S.wg)).to.equal(undefined)
    expectCode(() => org.admin.enroll(rec(S)), NOT_AUTHORIZED)
    // A has not seen the revoke: its enroll goes through there, with a new record even.
    const race = a.enroll({ ...rec(S, ['lighthouse']), staticEndpoints: ['198.51.100.1:51820'] })
    expect(ra.member(S.wg)?.staticEndpoints).to.eql(['198.51.100.1:51820'])
    await syncBoth(org.replica, ra)
    for (const r of [org.replica, ra]) {
      expect(r.log.has(race.id), 'the racing enroll is held').to.equal(true)
      expect(r.member(S.wg)).to.equal(undefined)
      expect(r.goneReason(S.wg)).to.equal('revoked')
      expect(r.isRevoked(S.wg)).to.equal(true)
      expect(r.isRevoked(S.signer.publicKey)).to.equal(true)
    }
    expectCode(() => a.enroll(rec(S)), NOT_AUTHORIZED)
  })

  it('a re-enroll with new endpoints supersedes the old record', async () => {
    org.admin.enroll({ ...rec(S, ['lighthouse']), staticEndpoints: ['192.0.2.1:51820'] })
    org.admin.enroll({ ...rec(S, ['lighthouse']), staticEndpoints: ['192.0.2.2:51820', '192.0.2.3:51820'], name: 'moved' })
    const m = org.replica.member(S.wg)!
    expect(m.staticEndpoints).to.eql(['192.0.2.2:51820', '192.0.2.3:51820'])
    expect(m.name).to.equal('moved')
    // The old record is superseded, not a second entry.
    expect(org.replica.members().filter(x => x.wgPublicKey.equals(S.wg))).to.have.length(1)
    // An update through another admin supersedes too, once it has seen the record.
    await sync(org.replica, ra)
    a.enroll({ ...rec(S), staticEndpoints: ['192.0.2.4:51820'] })
    await syncBoth(org.replica, ra)
    expect(org.replica.member(S.wg)!.staticEndpoints).to.eql(['192.0.2.4:51820'])
    expect(org.replica.member(S.wg)!.roles).to.eql([])
  })

  for (const rootUpdates of [1, 2]) {
    it(`concurrent records: the greatest (lamport, id) is the record on every replica (root updates ${rootUpdates}×)`, async () => {
      org.admin.enroll({ ...rec(S), staticEndpoints: ['192.0.2.1:1'] })
      await sync(org.replica, ra)
      const fromRoot: Op[] = []
      for (let i = 0; i < rootUpdates; i++) fromRoot.push(org.admin.enroll({ ...rec(S), staticEndpoints: [`192.0.2.${10 + i}:1`] }))
      const fromA = a.enroll({ ...rec(S), staticEndpoints: ['192.0.2.99:1'] })
      const contenders = [fromRoot[fromRoot.length - 1], fromA]
      if (rootUpdates === 1) expect(contenders[0].lamport, 'a tie, decided by id').to.equal(contenders[1].lamport)
      else expect(contenders[0].lamport, 'the root is ahead').to.be.above(contenders[1].lamport)
      const winner = [...contenders].sort(byLamportId)[1]
      const want = (winner.payload as { kind: 2, record: { staticEndpoints: string[] } }).record.staticEndpoints
      await syncBoth(org.replica, ra)
      for (const r of [org.replica, ra]) {
        expect(r.member(S.wg)!.staticEndpoints).to.eql(want)
        expect(toHex(r.liveEnroll(S.wg)!.id)).to.equal(toHex(winner.id))
      }
      expect(ra.viewFingerprint()).to.equal(org.replica.viewFingerprint())
    })
  }

  it('expiry hides a member only after expiresAt + maxClockSkewMs', async () => {
    const t0 = org.clock.now()
    const expiresAt = t0 + 10_000
    org.admin.enroll({ ...rec(S), expiresAt })
    const skew = 60_000
    const r = org.replica
    expect(r.member(S.wg, t0)?.expiresAt).to.equal(expiresAt)
    expect(r.member(S.wg, expiresAt + 1)).to.not.equal(undefined)
    expect(r.member(S.wg, expiresAt + skew)).to.not.equal(undefined)
    expect(r.member(S.wg, expiresAt + skew + 1)).to.equal(undefined)
    const has = (now?: number): boolean => r.members(now).some(m => m.wgPublicKey.equals(S.wg))
    expect(has(expiresAt + skew)).to.equal(true)
    expect(has(expiresAt + skew + 1)).to.equal(false)
    // Through the injected clock as well.
    org.clock.advance(10_000 + skew)
    expect(has()).to.equal(true)
    org.clock.advance(1)
    expect(has()).to.equal(false)
    expect(r.goneReason(S.wg), 'expiry is not a removal').to.equal(undefined)
    // A replica with a smaller allowance hides it sooner.
    const strict = new Replica(org.genesis, { clock: org.clock, maxClockSkewMs: 0 })
    await sync(r, strict)
    expect(strict.member(S.wg, expiresAt)).to.not.equal(undefined)
    expect(strict.member(S.wg, expiresAt + 1)).to.equal(undefined)
    // A renewed record (no expiry) brings it back.
    org.admin.enroll(rec(S))
    expect(has()).to.equal(true)
  })

  it('leave removes a member and goneReason says left', async () => {
    org.admin.enroll(rec(S))
    const other = await newNode()
    expectCode(() => leave(org.replica, other.signer, S.wg), NOT_AUTHORIZED)
    expectCode(() => leave(org.replica, S.signer, other.wg), NOT_AUTHORIZED)
    leave(org.replica, S.signer, S.wg)
    expect(org.replica.member(S.wg)).to.equal(undefined)
    expect(org.replica.goneReason(S.wg)).to.equal('left')
    expectCode(() => leave(org.replica, S.signer, S.wg), NOT_AUTHORIZED)
    await sync(org.replica, ra)
    expect(ra.member(S.wg)).to.equal(undefined)
    expect(ra.goneReason(S.wg)).to.equal('left')
    // It may be enrolled again.
    org.admin.enroll(rec(S))
    expect(org.replica.member(S.wg)).to.not.equal(undefined)
  })

  it('the root cannot leave: its leave would be ignored by every replica', () => {
    // authority.ts skips a leave of the root, so the op would change nothing anywhere.
    const size = org.replica.size
    expectCode(() => leave(org.replica, org.root.signer, org.root.wg), NOT_AUTHORIZED)
    expect(org.replica.size, 'nothing was signed').to.equal(size)
    expect(org.replica.member(org.root.wg)?.rank).to.equal(0)
  })

  it('a concurrent enroll racing a remove survives (add wins)', async () => {
    org.admin.enroll({ ...rec(S), name: 'old' })
    await sync(org.replica, ra)
    org.admin.remove(S.wg)
    a.enroll({ ...rec(S), name: 'racing' })
    await syncBoth(org.replica, ra)
    for (const r of [org.replica, ra]) {
      expect(r.member(S.wg)?.name).to.equal('racing')
      expect(r.goneReason(S.wg)).to.equal(undefined)
    }
  })

  it('a revoke wins against a concurrent enroll, whichever side syncs first', async () => {
    org.admin.enroll(rec(S))
    await sync(org.replica, ra)
    org.admin.revoke(S.wg)
    a.enroll({ ...rec(S), name: 'racing' })
    const third = new Replica(org.genesis, { clock: org.clock })
    await sync(ra, third)
    expect(third.member(S.wg)?.name).to.equal('racing')
    await sync(org.replica, third)
    expect(third.member(S.wg)).to.equal(undefined)
    await syncBoth(org.replica, ra)
    for (const r of [org.replica, ra]) expect(r.member(S.wg)).to.equal(undefined)
  })

  it('ranks: root 0, its grantee 1, a rank-1 admin\'s grantee 2, members none', async () => {
    const C = await newNode()
    a.enroll(rec(C, ['admin']))
    a.enroll(rec(S))
    await syncBoth(org.replica, ra)
    const r = org.replica
    expect(r.rankOf(org.root.signer.publicKey)).to.equal(0)
    expect(r.rankOf(A.signer.publicKey)).to.equal(1)
    expect(r.rankOf(C.signer.publicKey)).to.equal(2)
    expect(r.rankOf(S.signer.publicKey)).to.equal(undefined)
    expect(r.member(org.root.wg)?.rank).to.equal(0)
    expect(r.member(A.wg)?.rank).to.equal(1)
    expect(r.member(C.wg)?.rank).to.equal(2)
    expect(r.member(S.wg)?.rank).to.equal(undefined)
    expect(r.members().map(m => m.rank ?? null).sort()).to.eql([0, 1, 2, null])
    // Rank is 1 + the lowest rank of any valid grantor: a grant from the root makes C rank 1.
    org.admin.enroll(rec(C, ['admin']))
    expect(r.rankOf(C.signer.publicKey)).to.equal(1)
    expect(r.member(C.wg)?.rank).to.equal(1)
  })

  it('a removed admin\'s ops after the remove\'s cutoff are invalid while earlier ones stay', async () => {
    const [early, late] = [await newNode(), await newNode()]
    const e1 = a.enroll({ ...rec(early), name: 'early' })
    await sync(ra, org.replica)
    const rm = org.admin.remove(A.wg)
    expect(rm.payload.kind === 3 && rm.payload.remove.cutoff.seq).to.equal(e1.seq)
    // A has not seen the remove yet.
    const e2 = a.enroll({ ...rec(late), name: 'late' })
    await syncBoth(org.replica, ra)
    for (const r of [org.replica, ra]) {
      void r.authority
      expect(r.log.get(e1.id)!.valid, 'op before the cutoff').to.equal(true)
      expect(r.log.get(e2.id)!.valid, 'op after the cutoff').to.equal(false)
      expect(r.member(early.wg)?.name).to.equal('early')
      expect(r.member(late.wg)).to.equal(undefined)
      expect(r.member(A.wg)).to.equal(undefined)
      expect(r.goneReason(A.wg)).to.equal('removed')
      const chain = r.log.chainOf(A.signer.publicKey)!
      expect(r.authority.cutoff.get(chain)).to.equal(e1.seq)
    }
    expect(ra.viewFingerprint()).to.equal(org.replica.viewFingerprint())
  })

  it('a revoke of a plain member is applied without a full pass, to the view a full pass gives; an admin\'s re-derives', async () => {
    const others = [await newNode(), await newNode()]
    org.admin.enroll(rec(S))
    for (const o of others) org.admin.enroll(rec(o))
    await sync(org.replica, ra)
    const passes = (r: Replica): number => r.authorityForAuthoring().derived.fullPasses
    // A's first op makes its chain, which a full pass ranks; after that, plain ops are incremental.
    a.remove(others[0].wg)
    const before = passes(ra)
    expect(ra.removalIsConfined(S.wg)).to.equal(true)
    a.revoke(S.wg, { reason: 'lost' })
    expect(ra.member(S.wg)).to.equal(undefined)
    expect(ra.isRevoked(S.wg) && ra.isRevoked(S.signer.publicKey)).to.equal(true)
    expect(ra.goneReason(S.wg)).to.equal('revoked')
    expect(ra.member(others[1].wg)).to.not.equal(undefined)
    expect(passes(ra), 'no full pass').to.equal(before)
    const fresh = new Replica(org.genesis, { clock: org.clock })
    await sync(ra, fresh)
    expect(ra.viewFingerprint()).to.equal(fresh.viewFingerprint())
    // Re-enrolling the revoked key stays refused, and a revoke of an admin re-derives.
    expectCode(() => a.enroll(rec(S)), NOT_AUTHORIZED)
    await sync(ra, org.replica)
    expect(org.replica.removalIsConfined(A.wg)).to.equal(false)
    const rootBefore = passes(org.replica)
    org.admin.revoke(A.wg, { reason: 'left the company' })
    expect(org.replica.member(A.wg)).to.equal(undefined)
    expect(passes(org.replica)).to.be.above(rootBefore)
  })
})
