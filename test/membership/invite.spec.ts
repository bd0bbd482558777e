/**
 * Invite tokens: what an admin hands a joining node, and every way a token is refused
 * (each with WIREMESH_ERR_INVALID_INVITE).
 */
import { expect } from 'chai'
import { Admin } from '../../lib/membership/admin.js'
import { createInvite, readInvite } from '../../lib/membership/invite.js'
import { Replica } from '../../lib/membership/replica.js'
import { sha256 } from '../../lib/membership/codec.js'
import { concatBytes, toHex } from '../../lib/util/bytes.js'
import { expectCode } from '../helpers/expect-code.js'
import { enrollInit, newNode, newOrg, type TestNode, type TestOrg } from '../helpers/org.js'
import { withSeed } from '../helpers/seed.js'

const INVALID_INVITE = 'WIREMESH_ERR_INVALID_INVITE'
const PREFIX = 'wminv1.'

async function sync (from: Replica, to: Replica): Promise<void> { await to.merge(from.diff(to.digest())) }

/** A replica of `org` that has seen everything the root's replica has. */
async function replicaOf (org: TestOrg): Promise<Replica> {
  const r = new Replica(org.genesis, { clock: org.clock })
  await sync(org.replica, r)
  return r
}

/** The token's body bytes (without the checksum), and a token made from other body bytes. */
const bodyOf = (token: string): Uint8Array => new Uint8Array(Buffer.from(token.slice(PREFIX.length), 'base64url')).subarray(0, -4)
const tokenOf = (body: Uint8Array): string => PREFIX + Buffer.from(concatBytes(body, sha256(body).subarray(0, 4))).toString('base64url')

describe('invites', function () {
  this.timeout(30_000)
  let org: TestOrg
  let lighthouse: TestNode
  let joiner: TestNode
  let token: string
  const lighthouseGossip = '203.0.113.10:51821'

  beforeEach(async () => {
    org = await newOrg()
    lighthouse = await newNode()
    joiner = await newNode()
    org.admin.enroll(enrollInit(lighthouse, org, { roles: ['lighthouse'], staticEndpoints: ['203.0.113.10:51820'] }))
    org.admin.enroll(enrollInit(joiner, org, { name: 'laptop' }))
    token = createInvite(org.replica, joiner.wg, { bootstrap: [{ wgPublicKey: lighthouse.wg, endpoint: lighthouseGossip }] })
  })

  describe('happy path', () => {
    it('carries the genesis, the enroll, the record and the bootstrap lighthouses', () => {
      expect(token.startsWith(PREFIX)).to.equal(true)
      const inv = readInvite(token, { wgPublicKey: joiner.wg, orgId: org.replica.orgId })
      expect(toHex(inv.genesis.id)).to.equal(toHex(org.genesis.id))
      expect(toHex(inv.orgId)).to.equal(toHex(org.replica.orgId))
      const enroll = org.replica.liveEnroll(joiner.wg)!
      expect(inv.ops.map(o => toHex(o.id))).to.eql([toHex(enroll.id)])
      expect(toHex(inv.enroll.id)).to.equal(toHex(enroll.id))
      expect(inv.enroll.lamport).to.equal(enroll.lamport)
      expect(inv.record.wgPublicKey.equals(joiner.wg)).to.equal(true)
      expect(inv.record.signPublicKey.equals(joiner.signer.publicKey)).to.equal(true)
      expect(inv.record.name).to.equal('laptop')
      expect(inv.bootstrap).to.have.length(1)
      const b = inv.bootstrap[0]
      expect(b.wgPublicKey.equals(lighthouse.wg)).to.equal(true)
      expect(b.endpoint).to.equal(lighthouseGossip)
      expect(b.overlayAddress).to.equal(org.replica.member(lighthouse.wg)!.overlayAddress)
      // With the replica option of the same org, it is accepted too.
      expect(toHex(readInvite(token, { replica: org.replica }).enroll.id)).to.equal(toHex(enroll.id))
    })

    it('a replica started from the token lists the node as a member once synced', async () => {
      const inv = readInvite(token, { wgPublicKey: joiner.wg, orgId: org.replica.orgId })
      const r = new Replica(inv.genesis, { clock: org.clock })
      // The enroll's past is not in the token: it waits for sync.
      await r.ingest(inv.ops)
      expect(r.member(joiner.wg), 'not before its past arrives').to.equal(undefined)
      await sync(org.replica, r)
      const me = r.member(joiner.wg)
      expect(me, 'the joiner is a member').to.not.equal(undefined)
      expect(me!.name).to.equal('laptop')
      expect(me!.overlayAddress).to.equal(org.replica.member(joiner.wg)!.overlayAddress)
      expect(r.pending).to.equal(0)
      expect(r.viewFingerprint()).to.equal(org.replica.viewFingerprint())
    })

    it('an invite through a rank-1 admin carries the grant chain, root first', async () => {
      const a = await newNode()
      const grant = org.admin.enroll(enrollInit(a, org, { roles: ['admin'] }))
      const ra = await replicaOf(org)
      const n = await newNode()
      const enroll = new Admin(ra, a.signer).enroll(enrollInit(n, org))
      const inv = readInvite(createInvite(ra, n.wg), { wgPublicKey: n.wg, orgId: ra.orgId })
      expect(inv.ops.map(o => toHex(o.id))).to.eql([toHex(grant.id), toHex(enroll.id)])
      expect(inv.ops[0].author.equals(org.root.signer.publicKey)).to.equal(true)
      expect(inv.ops[1].author.equals(a.signer.publicKey)).to.equal(true)
      expect(toHex(inv.enroll.id)).to.equal(toHex(enroll.id))

      const r = new Replica(inv.genesis, { clock: org.clock })
      await r.ingest(inv.ops)
      await sync(ra, r)
      expect(r.member(n.wg)).to.not.equal(undefined)
    })

    it('an invite through a rank-2 admin carries both grants', async () => {
      const a = await newNode(); const b = await newNode(); const n = await newNode()
      const g1 = org.admin.enroll(enrollInit(a, org, { roles: ['admin'] }))
      const ra = await replicaOf(org)
      const g2 = new Admin(ra, a.signer).enroll(enrollInit(b, org, { roles: ['admin'] }))
      const rb = new Replica(org.genesis, { clock: org.clock })
      await sync(ra, rb)
      const e = new Admin(rb, b.signer).enroll(enrollInit(n, org))
      const inv = readInvite(createInvite(rb, n.wg))
      expect(inv.ops.map(o => toHex(o.id))).to.eql([toHex(g1.id), toHex(g2.id), toHex(e.id)])
    })
  })

  describe('refusals', () => {
    it('refuses every truncation of a token', () => {
      for (let n = 0; n < token.length; n++) expectCode(() => readInvite(token.slice(0, n)), INVALID_INVITE)
    })

    it('refuses a token with a character changed, anywhere', async function () {
      await withSeed(this, (r) => {
        const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
        // Not the last character: some of its bits may be padding that decoding ignores.
        for (let i = PREFIX.length; i < token.length - 1; i++) {
          let c = token[i]
          while (c === token[i]) c = alnum[r.int(alnum.length)]
          const bad = token.slice(0, i) + c + token.slice(i + 1)
          expectCode(() => readInvite(bad), INVALID_INVITE)
        }
      })
    })

    it('refuses a token with a character outside base64url inserted (which decoding would skip)', () => {
      const mid = PREFIX.length + Math.floor((token.length - PREFIX.length) / 2)
      for (const c of ['!', ' ', '=', '+', '/', '\n']) expectCode(() => readInvite(token.slice(0, mid) + c + token.slice(mid)), INVALID_INVITE)
    })

    it('refuses garbage, a wrong prefix and the empty string', async function () {
      await withSeed(this, (r) => {
        const body = token.slice(PREFIX.length)
        const bad = [
          '', ' ', PREFIX, PREFIX + 'AAAA', PREFIX + 'AAAAAAAAAA', 'garbage', '{"not":"a token"}',
          'wminv2.' + body, 'WMINV1.' + body, 'wminv1' + body, body, token.slice(1),
          PREFIX + Buffer.from(r.bytes(300)).toString('base64url'),
          PREFIX + Buffer.from(r.bytes(300)).toString('base64url') + body
        ]
        for (const t of bad) expectCode(() => readInvite(t), INVALID_INVITE)
      })
    })

    it('refuses hostile bodies that carry a valid checksum, with INVALID_INVITE only', async function () {
      await withSeed(this, (r) => {
        const body = bodyOf(token)
        let accepted = 0
        for (let i = 0; i < 3000; i++) {
          const b = body.slice()
          const edits = 1 + r.int(3)
          for (let k = 0; k < edits; k++) b[r.int(b.length)] = r.next() < 0.5 ? r.int(256) : b[r.int(b.length)] ^ (1 << r.int(8))
          const cut = r.next() < 0.2 ? b.subarray(0, r.int(b.length)) : b
          const t = tokenOf(cut)
          try {
            readInvite(t, { wgPublicKey: joiner.wg, orgId: org.replica.orgId })
            accepted++
          } catch (err) {
            expect((err as { code?: string }).code, `${String(err)}\n      body: ${toHex(cut)}`).to.equal(INVALID_INVITE)
          }
        }
        // Only edits that miss every signed byte (bootstrap entries) can pass.
        expect(accepted).to.be.below(3000)
      })
    })

    it('refuses a token for another org (orgId option and replica option)', async () => {
      const other = await newOrg({}, 2)
      expectCode(() => readInvite(token, { orgId: other.replica.orgId }), INVALID_INVITE)
      expectCode(() => readInvite(token, { replica: other.replica }), INVALID_INVITE)
      // Even an org made by the same root key is another org.
      const { createGenesis } = await import('../../lib/membership/org.js')
      const twin = new Replica(createGenesis({ rootWgPublicKey: org.root.wg, rootSigner: org.root.signer, name: 'test', clock: org.clock }), { clock: org.clock })
      expectCode(() => readInvite(token, { replica: twin }), INVALID_INVITE)
      expectCode(() => readInvite(token, { orgId: twin.orgId }), INVALID_INVITE)
    })

    it('refuses a token for another key', async () => {
      expectCode(() => readInvite(token, { wgPublicKey: lighthouse.wg }), INVALID_INVITE)
      const someone = await newNode()
      expectCode(() => readInvite(token, { wgPublicKey: someone.wg }), INVALID_INVITE)
      expectCode(() => readInvite(token, { wgPublicKey: joiner.signer.publicKey }), INVALID_INVITE)
    })

    it('refuses a token whose key was revoked, given a replica that has seen the revoke', async () => {
      const unaware = await replicaOf(org)
      org.admin.revoke(joiner.wg, { reason: 'lost' })
      expectCode(() => readInvite(token, { replica: org.replica }), INVALID_INVITE)
      // A replica that has not seen the revoke cannot know.
      expect(readInvite(token, { replica: unaware }).record.wgPublicKey.equals(joiner.wg)).to.equal(true)
      await sync(org.replica, unaware)
      expectCode(() => readInvite(token, { replica: unaware }), INVALID_INVITE)
    })

    it('createInvite refuses a revoked key, a removed member and a key that was never enrolled', async () => {
      const stranger = await newNode()
      expectCode(() => createInvite(org.replica, stranger.wg), INVALID_INVITE)
      const gone = await newNode()
      org.admin.enroll(enrollInit(gone, org))
      org.admin.remove(gone.wg)
      expectCode(() => createInvite(org.replica, gone.wg), INVALID_INVITE)
      org.admin.revoke(joiner.wg)
      expectCode(() => createInvite(org.replica, joiner.wg), INVALID_INVITE)
    })
  })
})
