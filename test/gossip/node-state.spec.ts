import { expect } from 'chai'
import { NodeStateDecodeError } from '../../lib/gossip/errors.js'
import { encodeMessage, MAX_PAGE } from '../../lib/gossip/messages.js'
import {
  decodeSignedNodeState, encodeSignedNodeState, ENDPOINT_SOURCES, MAX_APP_METADATA_BYTES,
  MAX_NODE_ENDPOINTS, MAX_NODE_STATE_BYTES, MAX_RELAYED_PAIRS, newer, signNodeState,
  verifyNodeState, writeNodeState, type NodeEndpoint, type NodeState, type SignedNodeState
} from '../../lib/gossip/node-state.js'
import { Key, KEY_ID_BYTES } from '../../lib/identity/key.js'
import { Ed25519Signer } from '../../lib/identity/sign.js'
import { MAX_COUNTER } from '../../lib/membership/op.js'
import { SeededRandom, type Random } from '../../lib/random.js'
import { compareBytes, concatBytes, toHex } from '../../lib/util/bytes.js'
import { Encoder } from '../../lib/util/encoding.js'
import { MAX_PACKET_BYTES, MessageType } from '../../lib/wire/header.js'
import { maxPayloadBytes } from '../../lib/wire/seal.js'
import { expectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'

const CODE = 'WIREMESH_ERR_NODE_STATE_DECODE'
const FUZZ_CASES = 100_000

// Fixed keys, so sizes and orderings in these tests do not depend on a seed.
const fixed = new SeededRandom(7)
const signer = new Ed25519Signer(fixed.bytes(32))
const otherSigner = new Ed25519Signer(fixed.bytes(32))
const orgId = fixed.bytes(16)
const otherOrg = fixed.bytes(16)
const wg = Key.fromBytes(fixed.bytes(32))
const peers = Array.from({ length: MAX_RELAYED_PAIRS + 1 }, () => Key.fromBytes(fixed.bytes(32)))
const ids = peers.map(k => k.id)
/** The overlay budget for a whole packet at a 1,280-byte MTU, and the most a packet adds around a state. */
const OVERLAY_PACKET_BYTES = 1280 - 48
const PACKET_OVERHEAD_BYTES = 31 + 16 // largest non-join header + tag
const FRAMING_BYTES = 4 // items count + item length (2) + pullReply page

function state (over: Partial<NodeState> = {}): NodeState {
  return { wgPublicKey: wg, incarnation: 1, endpoints: [], relayedPairs: [], appMetadata: new Uint8Array(0), ...over }
}

const typical = state({
  incarnation: 1,
  endpoints: [{ host: '192.0.2.7', port: 51820, source: 'listen' }, { host: '198.51.100.9', port: 40123, source: 'reflexive' }]
})

const roundTrip = (s: NodeState): SignedNodeState => decodeSignedNodeState(encodeSignedNodeState(signNodeState(s, signer, orgId)))

function randomState (r: Random): NodeState {
  const endpoints: NodeEndpoint[] = []
  const seen = new Set<string>()
  for (let n = r.int(MAX_NODE_ENDPOINTS + 1); endpoints.length < n;) {
    const v6 = r.int(2) === 1
    const a = r.bytes(v6 ? 16 : 4)
    if (v6) a[0] = 0x20 + r.int(0xc0) // never ::ffff:0:0/96, never zero-led: plain global-looking addresses
    if (v6 && r.int(2) === 1) a.fill(0, 2, 2 + r.int(14)) // runs of zeros, so `::` compression is exercised
    const host = v6 ? Array.from({ length: 8 }, (_, i) => ((a[2 * i] << 8) | a[2 * i + 1]).toString(16)).join(':') : a.join('.')
    const e = { host, port: 1 + r.int(65535), source: ENDPOINT_SOURCES[r.int(ENDPOINT_SOURCES.length)] }
    const k = `${toHex(a)}/${e.port}/${e.source}`
    if (!seen.has(k)) { seen.add(k); endpoints.push(e) }
  }
  const relayedPairs = Array.from({ length: r.int(MAX_RELAYED_PAIRS + 1) }, () => Key.fromBytes(r.bytes(32)).id)
  const incarnation = r.int(4) === 0 ? MAX_COUNTER : r.int(2 ** 45)
  return { wgPublicKey: Key.fromBytes(r.bytes(32)), incarnation, endpoints, relayedPairs, appMetadata: r.bytes(r.int(MAX_APP_METADATA_BYTES + 1)) }
}

/** The state's body written afresh from its fields, then the signature (not a copy of `bytes`). */
function reencode (s: SignedNodeState): Uint8Array {
  const enc = new Encoder()
  writeNodeState(enc, s.state)
  return concatBytes(enc.finish(), s.signature)
}

/** The endpoints as a sorted, comparable list of strings. */
const epSet = (eps: readonly NodeEndpoint[]): string[] => eps.map(e => `${e.source} ${e.host} ${e.port}`).sort()

describe('gossip/node-state', () => {
  it('round-trips IPv4 and IPv6 endpoints, relayed pairs and 512 bytes of metadata', () => {
    const meta = fixed.bytes(MAX_APP_METADATA_BYTES)
    const s = state({
      incarnation: 42,
      endpoints: [
        { host: '2001:DB8:0:0:0:0:0:7', port: 51820, source: 'static' },
        { host: '192.0.2.7', port: 1, source: 'listen' },
        { host: '::ffff:198.51.100.9', port: 65535, source: 'reflexive' },
        { host: 'fd00::1', port: 7946, source: 'wireguard' },
        { host: '::', port: 9, source: 'listen' }
      ],
      relayedPairs: [ids[2], ids[0], ids[1]],
      appMetadata: meta
    })
    const signed = signNodeState(s, signer, orgId)
    const back = decodeSignedNodeState(encodeSignedNodeState(signed))
    expect(back.bytes).to.deep.equal(signed.bytes)
    expect(back.signature).to.deep.equal(signed.signature)
    expect(back.state.wgPublicKey.equals(wg)).to.equal(true)
    expect(back.state.incarnation).to.equal(42)
    // Hosts come back normalised (compressed lowercase IPv6, IPv4-mapped as IPv4), lists sorted.
    expect(epSet(back.state.endpoints)).to.deep.equal([
      'listen 192.0.2.7 1', 'listen :: 9', 'reflexive 198.51.100.9 65535', 'static 2001:db8::7 51820', 'wireguard fd00::1 7946'
    ])
    // Relayed pairs come back as 8-byte key ids, sorted, and as copies (not views of the wire).
    expect(back.state.relayedPairs.map(toHex)).to.deep.equal([ids[0], ids[1], ids[2]].sort(compareBytes).map(toHex))
    for (const id of back.state.relayedPairs) { expect(id.length).to.equal(KEY_ID_BYTES); expect(id.byteOffset).to.equal(0); expect(id.buffer.byteLength).to.equal(KEY_ID_BYTES) }
    // Each is the id of the peer's key, so a reader finds the peer as it finds an op author.
    expect(back.state.relayedPairs.map(id => peers.findIndex(k => compareBytes(k.id, id) === 0)).sort()).to.deep.equal([0, 1, 2])
    expect(back.state.appMetadata).to.deep.equal(meta)
    expect(verifyNodeState(back, signer.publicKey, orgId)).to.equal(true)
    // Input order does not change the canonical bytes.
    const reordered = signNodeState({ ...s, endpoints: [...s.endpoints].reverse(), relayedPairs: [...s.relayedPairs].reverse() }, signer, orgId)
    expect(reordered.bytes).to.deep.equal(signed.bytes)
  })

  it('round-trips random valid states exactly (seeded)', async function () {
    await withSeed(this, (r) => {
      for (let i = 0; i < 300; i++) {
        const s = randomState(r)
        const signed = signNodeState(s, signer, orgId)
        const wire = encodeSignedNodeState(signed)
        expect(wire.length).to.be.at.most(MAX_NODE_STATE_BYTES)
        const back = decodeSignedNodeState(wire)
        expect(reencode(back)).to.deep.equal(wire)
        expect(back.state.incarnation).to.equal(s.incarnation)
        expect(back.state.endpoints.length).to.equal(s.endpoints.length)
        expect(back.state.relayedPairs.length).to.equal(s.relayedPairs.length)
        expect(back.state.appMetadata).to.deep.equal(s.appMetadata)
        if (i % 30 === 0) expect(verifyNodeState(back, signer.publicKey, orgId)).to.equal(true)
      }
    })
  })

  it('refuses at encode, with NodeStateDecodeError, a state that breaks a limit', () => {
    const enc = new Encoder()
    const refuse = (over: Partial<NodeState>): void => { expectCode(() => signNodeState(state(over), signer, orgId), CODE); expectCode(() => writeNodeState(enc, state(over)), CODE) }
    refuse({ appMetadata: new Uint8Array(MAX_APP_METADATA_BYTES + 1) })
    const ep = (i: number): NodeEndpoint => ({ host: `10.0.0.${i}`, port: 1, source: 'listen' })
    refuse({ endpoints: Array.from({ length: MAX_NODE_ENDPOINTS + 1 }, (_, i) => ep(i)) })
    refuse({ relayedPairs: ids.slice(0, MAX_RELAYED_PAIRS + 1) })
    refuse({ relayedPairs: [ids[0], ids[0]] })
    refuse({ relayedPairs: [ids[0], ids[1], peers[0].id.slice()] }) // a duplicate by value, not by identity
    refuse({ relayedPairs: [peers[0].bytes] }) // a full key, not an id
    refuse({ relayedPairs: [new Uint8Array(KEY_ID_BYTES - 1)] })
    refuse({ relayedPairs: [peers[0] as unknown as Uint8Array] }) // a Key object
    refuse({ endpoints: [ep(1), ep(1)] })
    refuse({ endpoints: [{ host: '10.0.0.1', port: 1, source: 'listen' }, { host: '::ffff:10.0.0.1', port: 1, source: 'listen' }] })
    refuse({ endpoints: [{ host: 'lighthouse.example', port: 1, source: 'static' }] })
    refuse({ endpoints: [{ host: 'fe80::1%eth0', port: 1, source: 'listen' }] })
    refuse({ endpoints: [{ host: '10.0.0.256', port: 1, source: 'listen' }] })
    refuse({ endpoints: [{ host: '10.0.0.1', port: 0, source: 'listen' }] })
    refuse({ endpoints: [{ host: '10.0.0.1', port: 65536, source: 'listen' }] })
    refuse({ endpoints: [{ host: '10.0.0.1', port: 1, source: 'relay' as NodeEndpoint['source'] }] })
    refuse({ incarnation: -1 })
    refuse({ incarnation: 1.5 })
    refuse({ incarnation: MAX_COUNTER + 1 })
    expectCode(() => signNodeState(state(), signer, new Uint8Array(15)), CODE)
    // At the limits it is accepted, and the largest state is exactly MAX_NODE_STATE_BYTES.
    const max = state({
      incarnation: MAX_COUNTER,
      endpoints: Array.from({ length: MAX_NODE_ENDPOINTS }, (_, i) => ({ host: `2001:db8::${i + 1}`, port: 51820, source: 'listen' as const })),
      relayedPairs: ids.slice(0, MAX_RELAYED_PAIRS),
      appMetadata: new Uint8Array(MAX_APP_METADATA_BYTES)
    })
    expect(encodeSignedNodeState(roundTrip(max)).length).to.equal(MAX_NODE_STATE_BYTES)
    // 32 key + 7 incarnation + 1 + 8 × 19 endpoints + 1 + 51 × 8 relayed ids + 2 + 512 metadata + 64 signature
    expect(MAX_RELAYED_PAIRS).to.equal(51)
    expect(MAX_NODE_STATE_BYTES).to.equal(1179)
    // It fits one overlay packet (1,280 MTU − 48) with header, tag and message framing ...
    expect(MAX_NODE_STATE_BYTES + PACKET_OVERHEAD_BYTES + FRAMING_BYTES).to.be.at.most(OVERLAY_PACKET_BYTES)
    // ... and MAX_RELAYED_PAIRS is the largest cap that does: one more id would not fit.
    expect(MAX_NODE_STATE_BYTES + KEY_ID_BYTES + PACKET_OVERHEAD_BYTES + FRAMING_BYTES).to.be.above(OVERLAY_PACKET_BYTES)
    // The same, framed for real: a gossip message and a pullReply (largest page) holding it.
    const wire = encodeSignedNodeState(roundTrip(max))
    const overhead = MAX_PACKET_BYTES - maxPayloadBytes(MessageType.gossip) // header + tag
    expect(overhead).to.equal(PACKET_OVERHEAD_BYTES)
    const budget = OVERLAY_PACKET_BYTES - overhead
    const gossip = encodeMessage(MessageType.gossip, { type: MessageType.gossip, ops: [], states: [wire] }, budget)
    const reply = encodeMessage(MessageType.pullReply, { type: MessageType.pullReply, page: MAX_PAGE, more: true, ops: [], states: [wire] }, budget)
    for (const m of [gossip, reply]) expect(m.leftOut.states).to.deep.equal([])
    expect(gossip.payload.length + overhead).to.equal(1229)
    expect(reply.payload.length + overhead).to.equal(1231)
  })

  it('binds the signature to the org and to every byte', () => {
    const signed = signNodeState({ ...typical, relayedPairs: [ids[0]], appMetadata: new Uint8Array([1, 2, 3]) }, signer, orgId)
    expect(verifyNodeState(signed, signer.publicKey, orgId)).to.equal(true)
    expect(verifyNodeState(signed, signer.publicKey, otherOrg)).to.equal(false)
    expect(verifyNodeState(signed, otherSigner.publicKey, orgId)).to.equal(false)
    expect(verifyNodeState(signed, signer.publicKey, orgId.subarray(0, 15))).to.equal(false)
    const wire = encodeSignedNodeState(signed)
    let rejected = 0
    for (let i = 0; i < wire.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const b = wire.slice(); b[i] ^= bit
        let back: SignedNodeState
        try {
          back = decodeSignedNodeState(b)
        } catch (err) {
          expect((err as NodeStateDecodeError).code).to.equal(CODE)
          rejected++
          continue
        }
        expect(verifyNodeState(back, signer.publicKey, orgId), `flip 0x${bit.toString(16)} at byte ${i}`).to.equal(false)
      }
    }
    expect(rejected).to.be.above(0)
  })

  it('orders states last-writer-wins by incarnation, then by signature bytes', () => {
    const a1 = signNodeState(typical, signer, orgId)
    const a2 = signNodeState({ ...typical, incarnation: 2 }, signer, orgId)
    expect(newer(a2, a1)).to.equal(true)
    expect(newer(a1, a2)).to.equal(false)
    // A lower incarnation loses even with more content.
    expect(newer(signNodeState({ ...typical, appMetadata: new Uint8Array(9) }, signer, orgId), a2)).to.equal(false)
    // The same state is not newer than itself, whichever copy.
    expect(newer(a1, decodeSignedNodeState(encodeSignedNodeState(a1)))).to.equal(false)
    // Equal incarnation, different content: exactly one wins, the greater signature.
    const b1 = signNodeState({ ...typical, appMetadata: new Uint8Array([1]) }, signer, orgId)
    const c = compareBytes(a1.signature, b1.signature)
    expect(c).to.not.equal(0)
    expect(newer(a1, b1)).to.equal(c > 0)
    expect(newer(b1, a1)).to.equal(c < 0)
    // A total order: any arrival order of many rivals leaves every node with the same winner.
    const rivals = Array.from({ length: 12 }, (_, i) => signNodeState({ ...typical, incarnation: 5 + (i % 3), appMetadata: new Uint8Array([i]) }, signer, orgId))
    const r = new SeededRandom(3)
    const winners = new Set<string>()
    for (let t = 0; t < 20; t++) {
      const order = [...rivals].sort(() => r.next() - 0.5)
      let kept = order[0]
      for (const s of order.slice(1)) if (newer(s, kept)) kept = s
      winners.add(toHex(kept.signature))
    }
    expect(winners.size).to.equal(1)
    const best = rivals.filter(s => s.state.incarnation === 7).sort((x, y) => compareBytes(y.signature, x.signature))[0]
    expect([...winners][0]).to.equal(toHex(best.signature))
  })

  it('rejects non-canonical and malformed encodings', () => {
    const wire = encodeSignedNodeState(signNodeState(typical, signer, orgId))
    const sig = wire.subarray(wire.length - 64)
    const body = (...parts: Array<Uint8Array | number[]>): Uint8Array => concatBytes(wg.bytes, ...parts.map(p => new Uint8Array(p)), sig)
    const v4 = (src: number, port: number, ...a: number[]): number[] => [src << 1, ...a, port >> 8, port & 0xff]
    expect(decodeSignedNodeState(body([1, 1], v4(0, 80, 10, 0, 0, 1), [0, 0])).state.endpoints[0].host).to.equal('10.0.0.1')
    const bad = [
      body([1, 2], v4(1, 80, 10, 0, 0, 1), v4(0, 80, 10, 0, 0, 1), [0, 0]), // endpoints not sorted
      body([1, 2], v4(0, 80, 10, 0, 0, 1), v4(0, 80, 10, 0, 0, 1), [0, 0]), // duplicate endpoint
      body([1, 1], v4(0, 0, 10, 0, 0, 1), [0, 0]), // port 0
      body([1, 1], [9, 10, 0, 0, 1, 0, 80], [0, 0]), // unknown source
      body([1, 1], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1, 0, 80], [0, 0]), // IPv4-mapped IPv6
      body([0x81, 0], [0, 0, 0]), // non-minimal incarnation
      body([1, MAX_NODE_ENDPOINTS + 1], [0, 0]), // too many endpoints
      body([1, 0, MAX_RELAYED_PAIRS + 1], [0]), // too many relayed pairs
      body([1, 0, 2], ids[1], ids[1], [0]), // duplicate relayed pair
      body([1, 0, 2], ...[ids[1], ids[2]].sort(compareBytes).reverse(), [0]), // relayed pairs not sorted
      body([1, 0, 1], peers[1].bytes, [0]), // a 32-byte key where an id goes: the rest is misread
      body([1, 0, 0, 0x81, 0x04]), // metadata length 513
      concatBytes(wire, new Uint8Array([0])), // trailing byte
      wire.subarray(0, wire.length - 1), // short signature
      new Uint8Array(0),
      new Uint8Array(MAX_NODE_STATE_BYTES + 1)
    ]
    for (const b of bad) expectCode(() => decodeSignedNodeState(b), CODE)
    expectCode(() => decodeSignedNodeState('x' as unknown as Uint8Array), CODE)
  })

  it('reports the size of a typical state (2 IPv4 endpoints, no metadata, signed)', () => {
    const small = encodeSignedNodeState(signNodeState(typical, signer, orgId)).length
    const msIncarnation = encodeSignedNodeState(signNodeState({ ...typical, incarnation: 1_764_000_000_000 }, signer, orgId)).length
    const v6 = encodeSignedNodeState(signNodeState({ ...typical, endpoints: [typical.endpoints[0], { host: '2001:db8::7', port: 51820, source: 'reflexive' }] }, signer, orgId)).length
    console.log(`      node state: typical ${small} B (incarnation < 128), ${msIncarnation} B (ms-clock incarnation), ${v6} B (1 IPv4 + 1 IPv6); max ${MAX_NODE_STATE_BYTES} B`)
    // 32 key + 1 incarnation + 1 count + 2 × 7 endpoints + 1 + 1 + 64 signature
    expect(small).to.equal(114)
    expect(msIncarnation).to.equal(119)
    expect(v6).to.equal(126)
  })

  it(`decodes ${FUZZ_CASES} hostile inputs throwing only NodeStateDecodeError (seeded)`, async function () {
    this.timeout(120_000)
    await withSeed(this, (r) => {
      const corpus: Uint8Array[] = [encodeSignedNodeState(signNodeState(typical, signer, orgId))]
      const fuzzSigner = new Ed25519Signer(r.bytes(32))
      for (let i = 0; i < 24; i++) corpus.push(encodeSignedNodeState(signNodeState(randomState(r), fuzzSigner, orgId)))
      const pick = (): Uint8Array => corpus[r.int(corpus.length)]
      const edge = [0, 1, 0x7f, 0x80, 0xff, MAX_NODE_ENDPOINTS, MAX_NODE_ENDPOINTS + 1, MAX_RELAYED_PAIRS + 1]
      let accepted = 0
      let rejected = 0
      for (let i = 0; i < FUZZ_CASES; i++) {
        const mode = r.int(8)
        let input: Uint8Array
        const base = pick()
        switch (mode) {
          case 0: input = base.subarray(0, r.int(base.length)); break
          case 1: { input = base.slice(); for (let k = 1 + r.int(4); k > 0; k--) input[r.int(input.length)] ^= 1 + r.int(255); break }
          case 2: { input = base.slice(); input[r.int(Math.min(input.length, 200))] = edge[r.int(edge.length)]; break }
          case 3: { const at = r.int(base.length + 1); input = concatBytes(base.subarray(0, at), r.bytes(1 + r.int(40)), base.subarray(at)); break }
          case 4: { const at = r.int(base.length); input = concatBytes(base.subarray(0, at), base.subarray(at + 1 + r.int(40))); break }
          case 5: input = r.bytes(r.int(MAX_NODE_STATE_BYTES + 64)); break
          case 6: input = concatBytes(base.subarray(0, r.int(base.length)), r.bytes(r.int(120))); break
          default: { const other = pick(); input = concatBytes(base.subarray(0, r.int(base.length)), other.subarray(r.int(other.length))) }
        }
        let out: SignedNodeState
        try {
          out = decodeSignedNodeState(input)
        } catch (err) {
          if (!(err instanceof NodeStateDecodeError) || err.code !== CODE) {
            throw new Error(`case ${i} (mode ${mode}) threw ${String(err)} for input ${toHex(input)}`, { cause: err })
          }
          rejected++
          continue
        }
        // Whatever is accepted is canonical: it re-encodes to exactly the input.
        const again = reencode(out)
        if (compareBytes(again, input) !== 0) throw new Error(`case ${i} (mode ${mode}) accepted a non-canonical input ${toHex(input)}`)
        accepted++
      }
      expect(accepted + rejected).to.equal(FUZZ_CASES)
      expect(accepted).to.be.above(0)
      expect(rejected).to.be.above(FUZZ_CASES / 4)
    })
  })
})
