import { expect } from 'chai'
import { WireGuardError, WireGuardProtocolError } from '../../lib/errors.js'
import { Key } from '../../lib/identity/key.js'
import { SeededRandom, type Random } from '../../lib/random.js'
import type { DeviceChange, PeerUpsert } from '../../lib/wireguard/backend.js'
import { canonicalCidr } from '../../lib/wireguard/cidr.js'
import {
  AttrReader, decodeDump, encodeGetDevice, encodeGetFamily, encodeSetDevice, encodeSockaddr, GENL_HDRLEN, MAX_SET_MESSAGE_BYTES,
  NLA_F_NESTED, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, parseAttrs, parseMessages, WGDEVICE_A_FLAGS, WGDEVICE_A_IFNAME, WGDEVICE_A_LISTEN_PORT,
  WGDEVICE_A_PEERS, WGDEVICE_A_PRIVATE_KEY, WGDEVICE_F_REPLACE_PEERS, WGPEER_A_ALLOWEDIPS, WGPEER_A_ENDPOINT, WGPEER_A_FLAGS,
  WGPEER_A_PUBLIC_KEY, WGPEER_F_REMOVE_ME, WGPEER_F_REPLACE_ALLOWEDIPS, type NlAttr
} from '../../lib/wireguard/netlink-codec.js'
import { expectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'
import { errorMsg, FAKE_FAMILY_ID, FakeKernel } from './netlink-fake-kernel.js'

const FAMILY = FAKE_FAMILY_ID
const IFNAME = 'wgfake0'

function key (random: Random): Key { return Key.fromBytes(random.bytes(32)) }

/** The top-level attributes of a generic-netlink message that fills `msg`. */
function topAttrs (msg: Uint8Array): NlAttr[] {
  const [m] = parseMessages(msg)
  return parseAttrs(msg, m.start + GENL_HDRLEN, m.end)
}

function peerNests (msg: Uint8Array): NlAttr[][] {
  const r = new AttrReader(msg)
  const peers = topAttrs(msg).find(a => a.type === WGDEVICE_A_PEERS)
  return peers === undefined ? [] : r.nested(peers).map(p => r.nested(p))
}

function randomUpsert (random: Random, i: number, nIps: number): PeerUpsert {
  const ips: string[] = []
  for (let k = 0; k < nIps; k++) {
    ips.push(random.int(3) === 0
      ? `10.${(i >> 8) & 255}.${i & 255}.${k & 255}/32`
      : canonicalCidr(`fd00:${(i & 0xffff).toString(16)}::${(k + 1).toString(16)}/128`)) // i = 0 would be fd00:0::, not as the kernel prints it
  }
  const u: PeerUpsert = { publicKey: key(random), allowedIps: [...new Set(ips)], persistentKeepaliveS: random.int(2) === 0 ? 25 : 0 }
  if (random.int(4) !== 0) u.endpoint = random.int(2) === 0 ? { host: `192.0.2.${1 + random.int(250)}`, port: 1 + random.int(65535) } : { host: `2001:db8::${(1 + random.int(0xfffe)).toString(16)}`, port: 51820 }
  if (random.int(5) === 0) u.replaceAllowedIps = true
  return u
}

describe('wireguard/netlink-codec', () => {
  it('encodes the family lookup and the device dump request with REQUEST, ACK (and DUMP)', () => {
    const fam = encodeGetFamily('wireguard')
    const [fm] = parseMessages(fam)
    expect(fm.type).to.equal(0x10)
    expect(fm.flags).to.equal(NLM_F_REQUEST | NLM_F_ACK)
    expect(fam[16]).to.equal(3) // CTRL_CMD_GETFAMILY
    const get = encodeGetDevice(FAMILY, 'wg0')
    const [gm] = parseMessages(get)
    expect(gm.type).to.equal(FAMILY)
    expect(gm.flags).to.equal(NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP)
    expect([get[16], get[17]]).to.deep.equal([0, 1]) // WG_CMD_GET_DEVICE, version 1
    const [name] = topAttrs(get)
    expect(name.type).to.equal(WGDEVICE_A_IFNAME)
    expect(new AttrReader(get).strz(name)).to.equal('wg0')
    expect(get.length % 4).to.equal(0)
    expect(new DataView(get.buffer).getUint32(0, true)).to.equal(get.length)
  })

  it('refuses interface names the kernel would refuse', () => {
    for (const bad of ['', 'a'.repeat(16), 'a/b', 'a\0b']) expectCode(() => encodeGetDevice(FAMILY, bad), 'WIREMESH_ERR_WIREGUARD')
  })

  it('sets NLA_F_NESTED on peers, each peer, allowed IPs and each allowed IP, numbering elements from 0', () => {
    const random = new SeededRandom(1)
    const [msg] = encodeSetDevice(FAMILY, IFNAME, { upserts: [randomUpsert(random, 1, 3)] })
    const dv = new DataView(msg.buffer)
    const r = new AttrReader(msg)
    const peers = topAttrs(msg).find(a => a.type === WGDEVICE_A_PEERS)!
    expect(dv.getUint16(peers.start - 2, true) & NLA_F_NESTED).to.equal(NLA_F_NESTED)
    for (const p of parseAttrs(msg, peers.start, peers.end)) {
      expect(dv.getUint16(p.start - 2, true)).to.equal(NLA_F_NESTED | 0)
      const ips = r.nested(p).find(a => a.type === WGPEER_A_ALLOWEDIPS)!
      expect(ips.nested).to.equal(true)
      for (const ip of parseAttrs(msg, ips.start, ips.end)) expect(dv.getUint16(ip.start - 2, true)).to.equal(NLA_F_NESTED | 0)
    }
    expect(msg[16]).to.equal(1) // WG_CMD_SET_DEVICE
  })

  it('splits 1,000 peers into messages of at most 8 KiB, device settings and REPLACE_PEERS in the first only', () => {
    const random = new SeededRandom(2)
    const change: DeviceChange = { privateKey: random.bytes(32), listenPort: 51820, replacePeers: true, upserts: [] }
    for (let i = 0; i < 1000; i++) change.upserts!.push(randomUpsert(random, i, 1))
    const msgs = encodeSetDevice(FAMILY, IFNAME, change)
    expect(msgs.length).to.be.greaterThan(10)
    let peers = 0
    msgs.forEach((m, i) => {
      expect(m.length).to.be.at.most(MAX_SET_MESSAGE_BYTES)
      const types = topAttrs(m).map(a => a.type)
      expect(types[0]).to.equal(WGDEVICE_A_IFNAME)
      for (const t of [WGDEVICE_A_PRIVATE_KEY, WGDEVICE_A_LISTEN_PORT, WGDEVICE_A_FLAGS]) expect(types.includes(t), `attr ${t} in message ${i}`).to.equal(i === 0)
      peers += peerNests(m).length
    })
    const flags = new AttrReader(msgs[0]).u32(topAttrs(msgs[0]).find(a => a.type === WGDEVICE_A_FLAGS)!)
    expect(flags).to.equal(WGDEVICE_F_REPLACE_PEERS)
    expect(peers).to.equal(1000)
  })

  it('continues a peer with too many allowed IPs in the next message, REPLACE_ALLOWEDIPS in its first part only', () => {
    const random = new SeededRandom(3)
    const big = { ...randomUpsert(random, 7, 0), allowedIps: Array.from({ length: 600 }, (_, k) => `fd00:7::${(k + 1).toString(16)}/128`), replaceAllowedIps: true }
    const msgs = encodeSetDevice(FAMILY, IFNAME, { upserts: [big] })
    expect(msgs.length).to.be.greaterThan(1)
    let ips = 0
    msgs.forEach((m, i) => {
      const [peer] = peerNests(m)
      const r = new AttrReader(m)
      expect(Buffer.from(r.key(peer.find(a => a.type === WGPEER_A_PUBLIC_KEY)!))).to.deep.equal(Buffer.from(big.publicKey.bytes))
      const flagAttr = peer.find(a => a.type === WGPEER_A_FLAGS)
      const flags = flagAttr === undefined ? 0 : r.u32(flagAttr)
      expect(flags & WGPEER_F_REPLACE_ALLOWEDIPS, `message ${i}`).to.equal(i === 0 ? WGPEER_F_REPLACE_ALLOWEDIPS : 0)
      expect(peer.some(a => a.type === WGPEER_A_ENDPOINT), `endpoint in message ${i}`).to.equal(i === 0 && big.endpoint !== undefined)
      ips += r.nested(peer.find(a => a.type === WGPEER_A_ALLOWEDIPS)!).length
    })
    expect(ips).to.equal(600)
  })

  it('sends removals first, as REMOVE_ME peers', () => {
    const random = new SeededRandom(4)
    const gone = key(random)
    const msgs = encodeSetDevice(FAMILY, IFNAME, { upserts: [randomUpsert(random, 1, 1)], removals: [gone] })
    const [first] = peerNests(msgs[0])
    const r = new AttrReader(msgs[0])
    expect(Buffer.from(r.key(first.find(a => a.type === WGPEER_A_PUBLIC_KEY)!))).to.deep.equal(Buffer.from(gone.bytes))
    expect(r.u32(first.find(a => a.type === WGPEER_A_FLAGS)!)).to.equal(WGPEER_F_REMOVE_ME)
  })

  it('encodes sockaddr_in and sockaddr_in6 (port in network order, numeric zone as scope id) and reads them back', () => {
    const v4 = encodeSockaddr({ host: '192.0.2.1', port: 51820 })
    expect([...v4.subarray(0, 8)]).to.deep.equal([2, 0, 0xca, 0x6c, 192, 0, 2, 1])
    expect(v4.length).to.equal(16)
    const v6 = encodeSockaddr({ host: 'fe80::1%3', port: 1 })
    expect(v6.length).to.equal(28)
    expect(new DataView(v6.buffer).getUint32(24, true)).to.equal(3)
    for (const ep of [{ host: '192.0.2.1', port: 51820 }, { host: '2001:db8::1', port: 443 }, { host: 'fe80::1%3', port: 1 }]) {
      const b = encodeSockaddr(ep)
      const attr = new Uint8Array(4 + b.length)
      attr.set(b, 4)
      expect(new AttrReader(attr).sockaddr({ type: WGPEER_A_ENDPOINT, nested: false, start: 4, end: attr.length })).to.deep.equal(ep)
    }
    for (const bad of [{ host: 'example.com', port: 1 }, { host: '1.2.3.4', port: 70000 }, { host: '1.2.3.4%2', port: 1 }, { host: 'fe80::1%eth0', port: 1 }]) {
      expectCode(() => encodeSockaddr(bad), 'WIREMESH_ERR_WIREGUARD')
    }
  })

  it('round-trips random changes through the kernel semantics and a dump split across messages', async function () {
    this.timeout(60_000)
    await withSeed(this, async (random) => {
      const k = new FakeKernel()
      const model = new Map<string, PeerUpsert & { allowedIps: string[] }>()
      for (let round = 0; round < 60; round++) {
        k.maxDumpBytes = 512 + random.int(4000)
        const upserts: PeerUpsert[] = []
        const removals: Key[] = []
        for (let i = random.int(20); i > 0; i--) upserts.push(randomUpsert(random, random.int(5000), random.int(round % 7 === 0 ? 300 : 4)))
        for (const mk of model.keys()) if (random.int(6) === 0) removals.push(model.get(mk)!.publicKey)
        // Model: removals, then upserts; an exact prefix moves to the last peer that adds it.
        for (const r of removals) model.delete(r.mapKey)
        for (const u of upserts) {
          const cur = model.get(u.publicKey.mapKey) ?? { publicKey: u.publicKey, allowedIps: [] as string[], persistentKeepaliveS: 0 }
          const adds = new Set(u.allowedIps)
          for (const other of model.values()) if (other !== cur) other.allowedIps = other.allowedIps.filter(c => !adds.has(c))
          cur.allowedIps = u.replaceAllowedIps === true ? [...adds] : [...cur.allowedIps.filter(c => !adds.has(c)), ...adds]
          if (u.endpoint !== undefined) cur.endpoint = u.endpoint
          cur.persistentKeepaliveS = u.persistentKeepaliveS
          model.set(u.publicKey.mapKey, cur)
        }
        const msgs = encodeSetDevice(FAMILY, IFNAME, { upserts, removals }, 512 + random.int(8192 - 512))
        const sock = k.socket()
        const got: Uint8Array[] = []
        sock.onDatagram(d => got.push(d))
        for (const m of msgs) await sock.send(m)
        await sock.send(encodeGetDevice(FAMILY, IFNAME))
        await new Promise(resolve => setImmediate(resolve))
        const acks = got.splice(0, msgs.length)
        for (const a of acks) expect(new DataView(a.buffer, a.byteOffset).getInt32(16, true)).to.equal(0)
        const state = decodeDump(got, FAMILY)
        expect(state.peers.length).to.equal(model.size)
        for (const p of state.peers) {
          const want = model.get(p.publicKey.mapKey)
          expect(want, 'peer in the model').to.not.equal(undefined)
          expect([...p.allowedIps].sort()).to.deep.equal([...want!.allowedIps].sort())
          expect(p.endpoint).to.deep.equal(want!.endpoint)
          expect(p.persistentKeepaliveS).to.equal(want!.persistentKeepaliveS)
        }
      }
    })
  })

  it('turns NLMSG_ERROR and a negative NLMSG_DONE into WireGuardError with the positive errno', () => {
    const err = expectCode(() => decodeDump([errorMsg(1, -19)], FAMILY), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect(err.errno).to.equal(19)
    expect(err.backend).to.equal('netlink')
    const done = new Uint8Array(20)
    const dv = new DataView(done.buffer)
    dv.setUint32(0, 20, true); dv.setUint16(4, 3, true); dv.setInt32(16, -1, true)
    expect((expectCode(() => decodeDump([done], FAMILY), 'WIREMESH_ERR_WIREGUARD') as WireGuardError).errno).to.equal(1)
  })

  it('reports where a malformed message stops parsing', () => {
    const [msg] = encodeSetDevice(FAMILY, IFNAME, { listenPort: 1 })
    const bad = msg.slice()
    new DataView(bad.buffer).setUint16(20, 200, true) // the first attribute claims 200 bytes
    const err = expectCode(() => parseAttrs(bad, 20, bad.length), 'WIREMESH_ERR_WIREGUARD_PROTOCOL') as WireGuardProtocolError
    expect(err.at).to.equal(20)
    const cut = expectCode(() => parseMessages(msg.subarray(0, 10)), 'WIREMESH_ERR_WIREGUARD_PROTOCOL') as WireGuardProtocolError
    expect(cut.at).to.equal(0)
  })

  it('takes 100,000 random and mutated dumps with nothing but a value or a typed error', async function () {
    this.timeout(120_000)
    await withSeed(this, (random) => {
      // Valid dumps to mutate: a few peers, some continued across messages.
      const valid: Uint8Array[] = []
      for (let n = 0; n < 8; n++) {
        const k = new FakeKernel()
        k.maxDumpBytes = 512 + random.int(600)
        const sock = k.socket()
        const msgs = encodeSetDevice(FAMILY, IFNAME, { privateKey: random.bytes(32), listenPort: 1, upserts: Array.from({ length: 1 + random.int(4) }, (_, i) => randomUpsert(random, i, 1 + random.int(12))) })
        const got: Uint8Array[] = []
        sock.onDatagram(d => got.push(d))
        for (const m of msgs) void sock.send(m)
        // The fake answers synchronously into `handle`; read its dump straight from it.
        valid.push(...k.dump(1))
      }
      const counts = { value: 0, protocol: 0, errno: 0 }
      const RUNS = 100_000
      for (let i = 0; i < RUNS; i++) {
        const input = mutate(random, valid[random.int(valid.length)])
        try {
          decodeDump(random.int(4) === 0 ? [input, valid[random.int(valid.length)]] : [input], FAMILY)
          counts.value++
        } catch (err) {
          if (err instanceof WireGuardProtocolError) {
            expect(err.at, 'offset').to.be.a('number')
            expect(err.at!).to.be.within(0, input.length + 65536)
            counts.protocol++
          } else if (err instanceof WireGuardError) {
            expect(err.errno).to.be.a('number')
            counts.errno++
          } else {
            throw new Error(`input ${i} (${Buffer.from(input).toString('hex')}) threw ${String(err)}`)
          }
        }
        // The attribute walker alone, on the same bytes from a random offset.
        try { parseAttrs(input, Math.min(input.length, random.int(24)), input.length) } catch (err) { if (!(err instanceof WireGuardProtocolError)) throw err }
      }
      expect(counts.value + counts.protocol + counts.errno).to.equal(RUNS)
      // The mix must exercise both outcomes, or the mutations are too weak or too strong.
      expect(counts.value).to.be.greaterThan(RUNS / 50)
      expect(counts.protocol).to.be.greaterThan(RUNS / 10)
    })
  })
})

function mutate (random: Random, base: Uint8Array): Uint8Array {
  switch (random.int(7)) {
    case 0: return random.bytes(random.int(600))
    case 1: { const p = random.bytes(base.length); p.set(base.subarray(0, random.int(base.length))); return p }
    case 2: return base.slice(0, random.int(base.length))
    case 3: return Uint8Array.from([...base, ...random.bytes(1 + random.int(20))])
    case 4: { // a 16-bit length or type field rewritten
      const p = base.slice()
      const at = random.int(p.length - 1) & ~1
      new DataView(p.buffer).setUint16(at, random.int(3) === 0 ? random.int(0x10000) : p[at] + random.int(9) - 4, true)
      return p
    }
    default: {
      const p = base.slice()
      for (let k = 1 + random.int(4); k > 0; k--) p[random.int(p.length)] ^= 1 + random.int(255)
      return p
    }
  }
}
