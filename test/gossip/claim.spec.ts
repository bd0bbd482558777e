import { expect } from 'chai'
import { CLAIM_DEAD, decodeClaim, encodeClaim, MAX_CLAIM_BYTES, type Claim } from '../../lib/gossip/claim.js'
import { decodeMessage, encodeMessage } from '../../lib/gossip/messages.js'
import { MAX_COUNTER } from '../../lib/membership/op.js'
import { MessageType } from '../../lib/wire/header.js'
import { maxPayloadBytes } from '../../lib/wire/seal.js'
import { expectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'

const CODE = 'WIREMESH_ERR_MESSAGE_DECODE'
const id = (fill: number): Uint8Array => new Uint8Array(8).fill(fill)

describe('gossip claims', () => {
  it('round-trips suspect and dead claims at every incarnation size', () => {
    for (const incarnation of [0, 1, 127, 128, 2 ** 32, MAX_COUNTER]) {
      for (const type of ['suspect', 'dead'] as const) {
        const c: Claim = { type, subject: id(1), incarnation, from: id(2) }
        const b = encodeClaim(c)
        expect(b.length).to.be.at.most(MAX_CLAIM_BYTES)
        expect(decodeClaim(b)).to.deep.equal(c)
      }
    }
    expect(encodeClaim({ type: 'dead', subject: id(1), incarnation: 0, from: id(2) }).length).to.equal(18)
  })

  it('refuses bad fields when encoding and hostile bytes when decoding', () => {
    expectCode(() => encodeClaim({ type: 'alive' as 'dead', subject: id(1), incarnation: 0, from: id(2) }), CODE)
    expectCode(() => encodeClaim({ type: 'dead', subject: new Uint8Array(7), incarnation: 0, from: id(2) }), CODE)
    expectCode(() => encodeClaim({ type: 'dead', subject: id(1), incarnation: MAX_COUNTER + 1, from: id(2) }), CODE)
    const good = encodeClaim({ type: 'dead', subject: id(1), incarnation: 5, from: id(2) })
    expectCode(() => decodeClaim(good.subarray(0, good.length - 1)), CODE)
    expectCode(() => decodeClaim(new Uint8Array([...good, 0])), CODE)
    const badType = good.slice(); badType[0] = 3
    expectCode(() => decodeClaim(badType), CODE)
    expect(good[0]).to.equal(CLAIM_DEAD)
  })

  it('decodes random bytes throwing only MessageDecodeError (seeded)', async function () {
    await withSeed(this, random => {
      for (let i = 0; i < 20_000; i++) {
        const b = random.bytes(random.int(MAX_CLAIM_BYTES + 4))
        try { decodeClaim(b) } catch (err) { expect((err as { code?: string }).code).to.equal(CODE) }
      }
    })
  })

  it('rides in messages after ops and states, and the kind order is enforced', () => {
    const claim = encodeClaim({ type: 'suspect', subject: id(1), incarnation: 3, from: id(2) })
    const msg = { type: MessageType.gossip, ops: [], states: [], claims: [claim] } as const
    const { payload } = encodeMessage(MessageType.gossip, { ...msg, ops: [], states: [], claims: [claim] }, maxPayloadBytes(MessageType.gossip))
    expect(decodeMessage(MessageType.gossip, payload)).to.deep.equal({ type: MessageType.gossip, ops: [], states: [], claims: [claim] })
    // A claim item header followed by an op item header: out of order.
    const op = new Uint8Array(20).fill(9)
    const bad = new Uint8Array([2, claim.length * 4 + 2, ...claim, op.length * 4, ...op])
    expectCode(() => decodeMessage(MessageType.gossip, bad), CODE)
    // Kind 3 does not exist.
    expectCode(() => decodeMessage(MessageType.gossip, new Uint8Array([1, 4 + 3, 0])), CODE)
  })
})
