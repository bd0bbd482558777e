/**
 * A stand-in for the kernel's side of WireGuard's generic netlink, for the host tests (this
 * machine's kernel has no WireGuard; the real one is tested under qemu, see
 * test/integration/qemu/). It answers CTRL_CMD_GETFAMILY, applies WG_CMD_SET_DEVICE with the
 * kernel's semantics (REPLACE_PEERS, REMOVE_ME, UPDATE_ONLY, REPLACE_ALLOWEDIPS, an exact
 * prefix moving to the peer that adds it, a bad mask refused with EINVAL after the peers
 * before it were applied) and answers WG_CMD_GET_DEVICE dumps split the kernel's way: a peer
 * whose allowed IPs do not fit continues in the next message under its key again.
 */
import { formatCidr } from '../../lib/wireguard/cidr.js'
import {
  AF_INET, AF_INET6, AttrReader, CTRL_ATTR_FAMILY_ID, CTRL_CMD_GETFAMILY, CTRL_CMD_NEWFAMILY, GENL_HDRLEN, GENL_ID_CTRL,
  NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR, NlWriter, parseAttrs, parseMessages, WG_CMD_GET_DEVICE, WG_CMD_SET_DEVICE,
  WGALLOWEDIP_A_CIDR_MASK, WGALLOWEDIP_A_FAMILY, WGALLOWEDIP_A_IPADDR, WGDEVICE_A_FLAGS, WGDEVICE_A_FWMARK, WGDEVICE_A_IFINDEX,
  WGDEVICE_A_IFNAME, WGDEVICE_A_LISTEN_PORT, WGDEVICE_A_PEERS, WGDEVICE_A_PRIVATE_KEY, WGDEVICE_A_PUBLIC_KEY, WGDEVICE_F_REPLACE_PEERS,
  WGPEER_A_ALLOWEDIPS, WGPEER_A_ENDPOINT, WGPEER_A_FLAGS, WGPEER_A_LAST_HANDSHAKE_TIME, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
  WGPEER_A_PRESHARED_KEY, WGPEER_A_PROTOCOL_VERSION, WGPEER_A_PUBLIC_KEY, WGPEER_A_RX_BYTES, WGPEER_A_TX_BYTES, WGPEER_F_REMOVE_ME,
  WGPEER_F_REPLACE_ALLOWEDIPS, WGPEER_F_UPDATE_ONLY, type NlAttr, type NlMessage
} from '../../lib/wireguard/netlink-codec.js'
import type { NetlinkSocket } from '../../lib/wireguard/netlink.js'

export const FAKE_FAMILY_ID = 0x1d
const EINVAL = 22
const ENODEV = 19
const ENOENT = 2

export interface FakePeer {
  publicKey: Uint8Array
  presharedKey: Uint8Array
  endpoint: Uint8Array | undefined
  keepaliveS: number
  allowedIps: Array<{ family: number, addr: Uint8Array, mask: number }>
}

class Refused extends Error { constructor (readonly errno: number) { super(`errno ${errno}`) } }

function hex (b: Uint8Array): string { return Buffer.from(b).toString('hex') }

export class FakeKernel {
  ifname = 'wgfake0'
  privateKey: Uint8Array | undefined
  publicKey: Uint8Array | undefined
  listenPort = 0
  fwmark = 0
  peers = new Map<string, FakePeer>()
  /** Each exact prefix (`hex(addr)/mask`) and its one owner. */
  private readonly owners = new Map<string, FakePeer>()
  /** Largest dump message; small values force peers to continue across messages. */
  maxDumpBytes = 4096
  /** Every request datagram received, in order. */
  requests: Uint8Array[] = []
  /** Tests: the next SET fails with this errno before changing anything. */
  failNextSet: number | undefined
  /** Tests: how many SETs pass before `failNextSet` applies. */
  passSetsBeforeFailing = 0
  /** Tests: a reply with this (old) seq is sent before each real reply. */
  staleSeq: number | undefined
  /** Tests: replies carry this seq instead of the request's. */
  wrongSeq: number | undefined
  /** Tests: no reply at all. */
  silent = false
  /** The wireguard family's id; tests change it to act out the module being reloaded (a message to another id is ENOENT, as genl_rcv_msg). */
  familyId = FAKE_FAMILY_ID
  /**
   * Tests: this many dumps come back as the kernel sends one that a concurrent set interrupted
   * (its cursor peer removed): the last peer missing and NLM_F_DUMP_INTR on every message.
   */
  interruptDumps = 0

  private handler: (d: Uint8Array) => void = () => {}

  socket (): NetlinkSocket {
    return {
      send: async d => {
        this.requests.push(d.slice())
        const replies = this.handle(d.slice())
        if (this.silent) return
        // Deliver asynchronously, one datagram per reply, as the socket does.
        setImmediate(() => { for (const r of replies) this.handler(r) })
      },
      onDatagram: h => { this.handler = h },
      ref: () => {},
      unref: () => {},
      close: () => {}
    }
  }

  /** Sorted text of each peer, for comparing with what the backend read. */
  allowedIpsText (p: FakePeer): string[] {
    return p.allowedIps.map(a => formatCidr({ family: a.family === AF_INET ? 4 : 6, bytes: a.addr, prefix: a.mask }))
  }

  private handle (d: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const m of parseMessages(d)) {
      const seq = this.wrongSeq ?? m.seq
      if (this.staleSeq !== undefined) out.push(errorMsg(this.staleSeq, 0))
      try {
        const cmd = d[m.start]
        if (m.type === GENL_ID_CTRL && cmd === CTRL_CMD_GETFAMILY) {
          const w = new NlWriter()
          w.header(GENL_ID_CTRL, 0, CTRL_CMD_NEWFAMILY, 2)
          w.putU16(CTRL_ATTR_FAMILY_ID, this.familyId)
          out.push(withSeq(w.finish(), seq), errorMsg(seq, 0))
        } else if (m.type !== this.familyId && m.type !== GENL_ID_CTRL) {
          throw new Refused(ENOENT)
        } else if (m.type === this.familyId && cmd === WG_CMD_SET_DEVICE) {
          this.set(d, m)
          out.push(errorMsg(seq, 0))
        } else if (m.type === this.familyId && cmd === WG_CMD_GET_DEVICE && (m.flags & NLM_F_DUMP) === NLM_F_DUMP) {
          this.checkIfname(d, m)
          const interrupted = this.interruptDumps > 0
          if (interrupted) this.interruptDumps--
          out.push(...this.dump(seq, interrupted))
        } else {
          throw new Refused(EINVAL)
        }
      } catch (err) {
        if (!(err instanceof Refused)) throw err
        out.push(errorMsg(seq, -err.errno))
      }
    }
    return out
  }

  private checkIfname (d: Uint8Array, m: NlMessage): AttrReader {
    const r = new AttrReader(d)
    const name = parseAttrs(d, m.start + GENL_HDRLEN, m.end).find(a => a.type === WGDEVICE_A_IFNAME)
    if (name === undefined || r.strz(name) !== this.ifname) throw new Refused(ENODEV)
    return r
  }

  private set (d: Uint8Array, m: NlMessage): void {
    const r = this.checkIfname(d, m)
    if (this.failNextSet !== undefined && this.passSetsBeforeFailing > 0) this.passSetsBeforeFailing--
    else if (this.failNextSet !== undefined) { const e = this.failNextSet; this.failNextSet = undefined; throw new Refused(e) }
    const attrs = parseAttrs(d, m.start + GENL_HDRLEN, m.end)
    const get = (t: number): NlAttr | undefined => attrs.find(a => a.type === t)
    const flags = get(WGDEVICE_A_FLAGS) !== undefined ? r.u32(get(WGDEVICE_A_FLAGS)!) : 0
    if (get(WGDEVICE_A_PRIVATE_KEY) !== undefined) {
      this.privateKey = r.key(get(WGDEVICE_A_PRIVATE_KEY)!).slice()
      this.publicKey = Uint8Array.from(this.privateKey, b => b ^ 0xff) // a stand-in for X25519
    }
    if (get(WGDEVICE_A_LISTEN_PORT) !== undefined) this.listenPort = r.u16(get(WGDEVICE_A_LISTEN_PORT)!)
    if (get(WGDEVICE_A_FWMARK) !== undefined) this.fwmark = r.u32(get(WGDEVICE_A_FWMARK)!)
    if ((flags & WGDEVICE_F_REPLACE_PEERS) !== 0) { this.peers.clear(); this.owners.clear() }
    const peers = get(WGDEVICE_A_PEERS)
    if (peers === undefined) return
    if (!peers.nested) throw new Refused(EINVAL)
    for (const pa of r.nested(peers)) this.setPeer(r, pa)
  }

  private setPeer (r: AttrReader, pa: NlAttr): void {
    if (!pa.nested) throw new Refused(EINVAL)
    const attrs = r.nested(pa)
    const get = (t: number): NlAttr | undefined => attrs.find(a => a.type === t)
    const pk = get(WGPEER_A_PUBLIC_KEY)
    if (pk === undefined) throw new Refused(EINVAL)
    const key = r.key(pk)
    const flags = get(WGPEER_A_FLAGS) !== undefined ? r.u32(get(WGPEER_A_FLAGS)!) : 0
    let peer = this.peers.get(hex(key))
    if (peer === undefined) {
      if ((flags & (WGPEER_F_REMOVE_ME | WGPEER_F_UPDATE_ONLY)) !== 0) return
      peer = { publicKey: key.slice(), presharedKey: new Uint8Array(32), endpoint: undefined, keepaliveS: 0, allowedIps: [] }
      this.peers.set(hex(key), peer)
    }
    const drop = (p: FakePeer): void => { for (const a of p.allowedIps) this.owners.delete(`${hex(a.addr)}/${a.mask}`) }
    if ((flags & WGPEER_F_REMOVE_ME) !== 0) { drop(peer); this.peers.delete(hex(key)); return }
    if (get(WGPEER_A_PRESHARED_KEY) !== undefined) peer.presharedKey = r.key(get(WGPEER_A_PRESHARED_KEY)!).slice()
    const ep = get(WGPEER_A_ENDPOINT)
    if (ep !== undefined) {
      const b = r.buf.subarray(ep.start, ep.end)
      const fam = b[0] | (b[1] << 8)
      if ((b.length === 16 && fam === AF_INET) || (b.length === 28 && fam === AF_INET6)) peer.endpoint = b.slice()
    }
    if ((flags & WGPEER_F_REPLACE_ALLOWEDIPS) !== 0) { drop(peer); peer.allowedIps = [] }
    const ips = get(WGPEER_A_ALLOWEDIPS)
    if (ips !== undefined) {
      for (const ia of r.nested(ips)) {
        const ipAttrs = r.nested(ia)
        const g = (t: number): NlAttr | undefined => ipAttrs.find(a => a.type === t)
        const family = r.u16(g(WGALLOWEDIP_A_FAMILY)!)
        const addr = r.buf.slice(g(WGALLOWEDIP_A_IPADDR)!.start, g(WGALLOWEDIP_A_IPADDR)!.end)
        const mask = r.u8(g(WGALLOWEDIP_A_CIDR_MASK)!)
        if (!((family === AF_INET && addr.length === 4 && mask <= 32) || (family === AF_INET6 && addr.length === 16 && mask <= 128))) throw new Refused(EINVAL)
        const id = `${hex(addr)}/${mask}`
        // An exact prefix has one owner: inserting it moves it.
        const prev = this.owners.get(id)
        if (prev === peer) continue
        if (prev !== undefined) prev.allowedIps = prev.allowedIps.filter(a => `${hex(a.addr)}/${a.mask}` !== id)
        this.owners.set(id, peer)
        peer.allowedIps.push({ family, addr, mask })
      }
    }
    // The keepalive comes after the allowed IPs in the kernel too; order does not matter here.
    if (get(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL) !== undefined) peer.keepaliveS = r.u16(get(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL)!)
  }

  /** The dump, split at `maxDumpBytes` like the kernel's wg_get_device_dump. */
  dump (seq: number, interrupted = false): Uint8Array[] {
    const out: Uint8Array[] = []
    const peers = [...this.peers.values()]
    if (interrupted) peers.pop()
    const multi = NLM_F_MULTI | (interrupted ? NLM_F_DUMP_INTR : 0)
    let pi = 0
    let ai = 0
    let first = true
    while (first || pi < peers.length) {
      const w = new NlWriter()
      w.header(this.familyId, multi, WG_CMD_GET_DEVICE, 1)
      if (first) {
        w.putU16(WGDEVICE_A_LISTEN_PORT, this.listenPort)
        w.putU32(WGDEVICE_A_FWMARK, this.fwmark)
        w.putU32(WGDEVICE_A_IFINDEX, 7)
        w.putStrz(WGDEVICE_A_IFNAME, this.ifname)
        if (this.privateKey !== undefined) w.put(WGDEVICE_A_PRIVATE_KEY, this.privateKey)
        if (this.publicKey !== undefined) w.put(WGDEVICE_A_PUBLIC_KEY, this.publicKey)
        first = false
      }
      if (pi < peers.length) {
        const before = [pi, ai].join()
        const nest = w.nestStart(WGDEVICE_A_PEERS)
        while (pi < peers.length) {
          const p = peers[pi]
          const mark = w.mark()
          const pn = w.nestStart(0)
          w.put(WGPEER_A_PUBLIC_KEY, p.publicKey)
          if (ai === 0) {
            w.put(WGPEER_A_PRESHARED_KEY, p.presharedKey)
            w.put(WGPEER_A_LAST_HANDSHAKE_TIME, new Uint8Array(16))
            w.putU16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p.keepaliveS)
            w.put(WGPEER_A_TX_BYTES, new Uint8Array(8))
            w.put(WGPEER_A_RX_BYTES, new Uint8Array(8))
            w.putU32(WGPEER_A_PROTOCOL_VERSION, 1)
            if (p.endpoint !== undefined) w.put(WGPEER_A_ENDPOINT, p.endpoint)
          }
          if (w.pos > this.maxDumpBytes) { w.rollback(mark); break }
          let full = false
          if (ai < p.allowedIps.length) {
            const ipsNest = w.nestStart(WGPEER_A_ALLOWEDIPS)
            for (; ai < p.allowedIps.length; ai++) {
              const m = w.mark()
              const a = p.allowedIps[ai]
              const n = w.nestStart(0)
              w.putU8(WGALLOWEDIP_A_CIDR_MASK, a.mask)
              w.put(WGALLOWEDIP_A_IPADDR, a.addr)
              w.putU16(WGALLOWEDIP_A_FAMILY, a.family)
              w.nestEnd(n)
              if (w.pos > this.maxDumpBytes) { w.rollback(m); full = true; break }
            }
            w.nestEnd(ipsNest)
          }
          w.nestEnd(pn)
          if (full) break
          pi++
          ai = 0
        }
        w.nestEnd(nest)
        if ([pi, ai].join() === before && out.length > 0) throw new Error(`maxDumpBytes ${this.maxDumpBytes} is too small for one peer`)
      }
      out.push(withSeq(w.finish(), seq))
    }
    const done = new Uint8Array(20)
    const dv = new DataView(done.buffer)
    dv.setUint32(0, 20, true); dv.setUint16(4, NLMSG_DONE, true); dv.setUint16(6, multi, true); dv.setUint32(8, seq, true)
    out.push(done)
    return out
  }
}

function withSeq (msg: Uint8Array, seq: number): Uint8Array {
  new DataView(msg.buffer, msg.byteOffset).setUint32(8, seq, true)
  return msg
}

/** NLMSG_ERROR with `code` (0 is an ACK), the original header left zero. */
export function errorMsg (seq: number, code: number): Uint8Array {
  const b = new Uint8Array(36)
  const dv = new DataView(b.buffer)
  dv.setUint32(0, 36, true); dv.setUint16(4, NLMSG_ERROR, true); dv.setUint32(8, seq, true); dv.setInt32(16, code, true)
  return b
}
