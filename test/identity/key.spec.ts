import { expect } from 'chai'
import { Key, KEY_BYTES, KEY_ID_BYTES, keyIdMapKey } from '../../lib/identity/key.js'
import { expectCode } from '../helpers/expect-code.js'

const CODE = 'WIREMESH_ERR_INVALID_KEY'
const bytes = (f: (i: number) => number): Uint8Array => new Uint8Array(KEY_BYTES).map((_, i) => f(i))

describe('Key', () => {
  it('round-trips base64 as `wg` prints it', () => {
    const b = bytes(i => i * 7)
    const s = Buffer.from(b).toString('base64')
    const k = Key.fromBase64(s)
    expect(k.bytes).to.deep.equal(b)
    expect(k.toBase64()).to.equal(s)
    expect(String(k)).to.equal(s)
    expect(JSON.stringify({ k })).to.equal(JSON.stringify({ k: s }))
  })

  it('fromBase64 rejects anything but 44 characters of standard base64', () => {
    const good = Buffer.from(bytes(i => i)).toString('base64')
    const bad: unknown[] = [
      '', 'AAAA', good.slice(0, 43), good + '=', good.slice(0, 42) + '==', ` ${good}`, `${good}\n`,
      good.replace(/.$/, 'A'), good.slice(0, 10) + '-' + good.slice(11), good.slice(0, 10) + '_' + good.slice(11),
      Buffer.from(new Uint8Array(33)).toString('base64'), Buffer.from(new Uint8Array(31)).toString('base64'),
      undefined, null, 42, bytes(() => 0)
    ]
    for (const s of bad) expectCode(() => Key.fromBase64(s as string), CODE)
  })

  it('fromBytes rejects other lengths', () => {
    for (const n of [0, 31, 33, 64]) expectCode(() => Key.fromBytes(new Uint8Array(n)), CODE)
    expectCode(() => Key.fromBytes([1, 2, 3] as unknown as Uint8Array), CODE)
  })

  it('equals compares bytes, not identity', () => {
    const a = Key.fromBytes(bytes(i => i))
    const b = Key.fromBytes(bytes(i => i))
    const c = Key.fromBytes(bytes(i => (i === 31 ? 0xff : i)))
    expect(a.equals(b)).to.equal(true)
    expect(b.equals(a)).to.equal(true)
    expect(a.equals(c)).to.equal(false)
    expect(a.equals(null)).to.equal(false)
    expect(a.equals(undefined)).to.equal(false)
    expect(a.mapKey).to.equal(b.mapKey)
    expect(a.mapKey).not.to.equal(c.mapKey)
  })

  it('id is the first 8 bytes', () => {
    const k = Key.fromBytes(bytes(i => 100 + i))
    expect(k.id.length).to.equal(KEY_ID_BYTES)
    expect(k.id).to.deep.equal(bytes(i => 100 + i).subarray(0, 8))
    const same = Key.fromBytes(bytes(i => (i < 8 ? 100 + i : 0)))
    expect(keyIdMapKey(same.id)).to.equal(keyIdMapKey(k.id))
    expect(keyIdMapKey(Key.fromBytes(bytes(i => i)).id)).not.to.equal(keyIdMapKey(k.id))
  })
})

describe('x25519', () => {
  it('refuses a low-order peer key with InvalidKeyError', async () => {
    const { x25519, generateWgKeyPair } = await import('../../lib/identity/wg-key.js')
    const { Key } = await import('../../lib/identity/key.js')
    const { expectCode } = await import('../helpers/expect-code.js')
    const me = generateWgKeyPair()
    const zero = Key.fromBytes(new Uint8Array(32)) // the identity point: order 1
    expectCode(() => x25519(me.privateKey, zero), 'WIREMESH_ERR_INVALID_KEY')
    const peer = generateWgKeyPair()
    const a = x25519(me.privateKey, peer.publicKey)
    const b = x25519(peer.privateKey, me.publicKey)
    expect(Buffer.from(a).equals(Buffer.from(b)), 'both sides derive the same secret').to.equal(true)
  })
})
