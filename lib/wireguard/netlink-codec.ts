/**
 * Kernel WireGuard's generic-netlink messages, encoded and decoded by us (the `netlink`
 * package's `wg` module has GET/SET off by one, omits NLA_F_NESTED and numbers array
 * elements from 1; we use that package only as the socket, see netlink.ts).
 *
 * Layout (all integers host byte order — little-endian on every platform the socket runs
 * on — except the ports and addresses inside sockaddrs, which are network order):
 *
 *   nlmsghdr   u32 len (header included) | u16 type (family id) | u16 flags | u32 seq | u32 pid
 *   genlmsghdr u8 cmd | u8 version | u16 reserved
 *   nlattr     u16 len (header included, padding not) | u16 type (bit 15 NLA_F_NESTED) | payload,
 *              padded to 4 bytes
 *
 *   WG_CMD_GET_DEVICE (NLM_F_DUMP): WGDEVICE_A_IFNAME in; out, over NLM_F_MULTI messages
 *   ended by NLMSG_DONE: IFINDEX, IFNAME, PRIVATE_KEY, PUBLIC_KEY, LISTEN_PORT, FWMARK,
 *   PEERS { 0 { PUBLIC_KEY, PRESHARED_KEY, ENDPOINT, PERSISTENT_KEEPALIVE_INTERVAL,
 *   LAST_HANDSHAKE_TIME, RX_BYTES, TX_BYTES, PROTOCOL_VERSION, ALLOWEDIPS { 0 { FAMILY,
 *   IPADDR, CIDR_MASK } … } } … }. A peer with many allowed IPs continues in the next
 *   message: the same PUBLIC_KEY again, then only more ALLOWEDIPS; `DumpMerger` joins them.
 *
 *   WG_CMD_SET_DEVICE: IFNAME, PRIVATE_KEY, LISTEN_PORT, FWMARK, FLAGS (REPLACE_PEERS),
 *   PEERS { 0 { PUBLIC_KEY, FLAGS (REMOVE_ME, REPLACE_ALLOWEDIPS, UPDATE_ONLY),
 *   PRESHARED_KEY, ENDPOINT, PERSISTENT_KEEPALIVE_INTERVAL, ALLOWEDIPS { … } } … }.
 *   `encodeSetDevice` splits a change into messages of at most `MAX_SET_MESSAGE_BYTES` the
 *   way wireguard-tools does: device settings and REPLACE_PEERS only in the first message; a
 *   peer cut between messages repeats its PUBLIC_KEY in the next, with REPLACE_ALLOWEDIPS,
 *   preshared key, endpoint and keepalive only in its first part, so the kernel does not
 *   clear the allowed IPs the previous part added.
 *
 * Decoding never trusts a length: every read is bounds-checked and a bad byte throws
 * `WireGuardProtocolError` whose `at` is the offset in the datagram.
 */
import { endianness } from 'node:os'
import { InvalidConfigError, WireGuardError, WireGuardProtocolError } from '../errors.js'
import { Key, KEY_BYTES } from '../identity/key.js'
import { Encoder } from '../util/encoding.js'
import type { DeviceChange, DeviceState, PeerUpsert, WgEndpoint, WgPeer } from './backend.js'
import { formatCidr, formatIp, parseCidr, parseIp } from './cidr.js'

// ---- spec constants: include/uapi/linux/{netlink,genetlink,wireguard}.h ----

export const NETLINK_GENERIC = 16
export const NLMSG_HDRLEN = 16
export const GENL_HDRLEN = 4
export const NLA_HDRLEN = 4

export const NLMSG_NOOP = 1
export const NLMSG_ERROR = 2
export const NLMSG_DONE = 3
export const NLMSG_OVERRUN = 4

export const NLM_F_REQUEST = 0x01
export const NLM_F_MULTI = 0x02
export const NLM_F_ACK = 0x04
export const NLM_F_DUMP = 0x300 // NLM_F_ROOT | NLM_F_MATCH
/** On a dump's messages: the object changed during the dump, which is therefore incoherent. */
export const NLM_F_DUMP_INTR = 0x10

export const NLA_F_NESTED = 0x8000
export const NLA_F_NET_BYTEORDER = 0x4000
export const NLA_TYPE_MASK = 0x3fff

export const GENL_ID_CTRL = 0x10
export const CTRL_CMD_NEWFAMILY = 1
export const CTRL_CMD_GETFAMILY = 3
export const CTRL_ATTR_FAMILY_ID = 1
export const CTRL_ATTR_FAMILY_NAME = 2

export const WG_GENL_NAME = 'wireguard'
export const WG_GENL_VERSION = 1
export const WG_CMD_GET_DEVICE = 0
export const WG_CMD_SET_DEVICE = 1

export const WGDEVICE_F_REPLACE_PEERS = 1 << 0
export const WGDEVICE_A_IFINDEX = 1
export const WGDEVICE_A_IFNAME = 2
export const WGDEVICE_A_PRIVATE_KEY = 3
export const WGDEVICE_A_PUBLIC_KEY = 4
export const WGDEVICE_A_FLAGS = 5
export const WGDEVICE_A_LISTEN_PORT = 6
export const WGDEVICE_A_FWMARK = 7
export const WGDEVICE_A_PEERS = 8

export const WGPEER_F_REMOVE_ME = 1 << 0
export const WGPEER_F_REPLACE_ALLOWEDIPS = 1 << 1
export const WGPEER_F_UPDATE_ONLY = 1 << 2
export const WGPEER_A_PUBLIC_KEY = 1
export const WGPEER_A_PRESHARED_KEY = 2
export const WGPEER_A_FLAGS = 3
export const WGPEER_A_ENDPOINT = 4
export const WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL = 5
export const WGPEER_A_LAST_HANDSHAKE_TIME = 6
export const WGPEER_A_RX_BYTES = 7
export const WGPEER_A_TX_BYTES = 8
export const WGPEER_A_ALLOWEDIPS = 9
export const WGPEER_A_PROTOCOL_VERSION = 10

export const WGALLOWEDIP_A_FAMILY = 1
export const WGALLOWEDIP_A_IPADDR = 2
export const WGALLOWEDIP_A_CIDR_MASK = 3

export const AF_INET = 2
export const AF_INET6 = 10
/** IFNAMSIZ − 1: the longest interface name. */
export const MAX_IFNAME_BYTES = 15

/** A kernel interface name as given in config: 1–15 bytes, no NUL, `/` or whitespace (dev_valid_name). Throws `InvalidConfigError`. */
export function checkKernelIfaceName (iface: string): string {
  if (typeof iface !== 'string' || Buffer.byteLength(iface) === 0 || Buffer.byteLength(iface) > MAX_IFNAME_BYTES || /[/\s\0]/.test(iface) || iface === '.' || iface === '..') {
    throw new InvalidConfigError(`interface name must be 1 to ${MAX_IFNAME_BYTES} bytes without '/' or whitespace, got ${JSON.stringify(String(iface))}`)
  }
  return iface
}

// ---- implementation constants ----

/** Largest SET message we send (wireguard-tools caps at min(page size, 8 KiB)). */
export const MAX_SET_MESSAGE_BYTES = 8192
/** Peers in one dump before we call it hostile (the kernel has no cap; 2^20 is far above any mesh). */
export const MAX_DUMP_PEERS = 1 << 20

const LE = endianness() === 'LE'

// ---- writing ----

/** A growable message buffer with nest bookkeeping; `mark`/`rollback` cancel a partial attribute. */
export class NlWriter extends Encoder {
  dv = new DataView(this.buf.buffer)

  constructor () { super(1024) }

  /** Encoder's growth, plus a view over the new buffer. */
  override ensure (n: number): void {
    super.ensure(n)
    if (this.dv.buffer !== this.buf.buffer) this.dv = new DataView(this.buf.buffer)
  }

  /** Appends an attribute with `payload`, zero-padded to 4 bytes. */
  put (type: number, payload: Uint8Array): void {
    const total = NLA_HDRLEN + payload.length
    this.ensure(align4(total))
    this.dv.setUint16(this.pos, total, LE)
    this.dv.setUint16(this.pos + 2, type, LE)
    this.buf.set(payload, this.pos + NLA_HDRLEN)
    this.buf.fill(0, this.pos + total, this.pos + align4(total))
    this.pos += align4(total)
  }

  putU8 (type: number, v: number): void { this.put(type, Uint8Array.of(v)) }
  putU16 (type: number, v: number): void { const b = new Uint8Array(2); new DataView(b.buffer).setUint16(0, v, LE); this.put(type, b) }
  putU32 (type: number, v: number): void { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, LE); this.put(type, b) }
  putStrz (type: number, s: string): void { const t = Buffer.from(s + '\0', 'utf8'); this.put(type, new Uint8Array(t.buffer, t.byteOffset, t.length)) }

  /** Opens a nested attribute (NLA_F_NESTED set); returns its offset for `nestEnd`. */
  nestStart (type: number): number {
    this.ensure(NLA_HDRLEN)
    const at = this.pos
    this.dv.setUint16(at + 2, type | NLA_F_NESTED, LE)
    this.pos += NLA_HDRLEN
    return at
  }

  nestEnd (at: number): void { this.dv.setUint16(at, this.pos - at, LE) }

  mark (): number { return this.pos }
  rollback (mark: number): void { this.pos = mark }

  /** Writes the nlmsghdr and genlmsghdr placeholders at the start. */
  header (type: number, flags: number, cmd: number, version: number): void {
    this.ensure(NLMSG_HDRLEN + GENL_HDRLEN)
    this.dv.setUint16(4, type, LE)
    this.dv.setUint16(6, flags, LE)
    this.buf[16] = cmd
    this.buf[17] = version
    this.dv.setUint16(18, 0, LE)
    this.pos = NLMSG_HDRLEN + GENL_HDRLEN
  }

  /** The finished message (length filled in, seq and pid 0: `setSeq` before sending). */
  override finish (): Uint8Array {
    this.dv.setUint32(0, this.pos, LE)
    return super.finish()
  }
}

export function align4 (n: number): number { return (n + 3) & ~3 }

/** Sets the sequence number of an encoded message in place. */
export function setSeq (msg: Uint8Array, seq: number): void {
  new DataView(msg.buffer, msg.byteOffset, msg.length).setUint32(8, seq >>> 0, LE)
}

/** CTRL_CMD_GETFAMILY for `name`: the reply carries the family id. */
export function encodeGetFamily (name: string): Uint8Array {
  const w = new NlWriter()
  w.header(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, CTRL_CMD_GETFAMILY, 1)
  w.putStrz(CTRL_ATTR_FAMILY_NAME, name)
  return w.finish()
}

/** WG_CMD_GET_DEVICE as a dump request for `ifname`. */
export function encodeGetDevice (familyId: number, ifname: string): Uint8Array {
  checkIfname(ifname)
  const w = new NlWriter()
  w.header(familyId, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, WG_CMD_GET_DEVICE, WG_GENL_VERSION)
  w.putStrz(WGDEVICE_A_IFNAME, ifname)
  return w.finish()
}

function checkIfname (ifname: string): void {
  const n = Buffer.byteLength(ifname)
  if (n === 0 || n > MAX_IFNAME_BYTES || ifname.includes('\0') || ifname.includes('/')) {
    throw new WireGuardError(`interface name must be 1 to ${MAX_IFNAME_BYTES} bytes without NUL or '/', got ${JSON.stringify(ifname)}`, { backend: 'netlink', op: 'encode' })
  }
}

/** One peer of a SET request as it goes on the wire. */
interface SetPeer {
  publicKey: Uint8Array
  flags: number
  presharedKey?: Uint8Array
  endpoint?: Uint8Array
  keepaliveS?: number
  allowedIps: Array<{ family: number, addr: Uint8Array, mask: number }>
}

function toSetPeers (change: DeviceChange): SetPeer[] {
  const out: SetPeer[] = []
  for (const key of change.removals ?? []) out.push({ publicKey: key.bytes, flags: WGPEER_F_REMOVE_ME, allowedIps: [] })
  for (const u of change.upserts ?? []) out.push(toSetPeer(u))
  return out
}

function toSetPeer (u: PeerUpsert): SetPeer {
  const p: SetPeer = { publicKey: u.publicKey.bytes, flags: 0, allowedIps: [] }
  if (u.allowedIps !== undefined) {
    if (u.replaceAllowedIps === true) p.flags |= WGPEER_F_REPLACE_ALLOWEDIPS
    p.allowedIps = u.allowedIps.map(c => {
      const { family, bytes, prefix } = encodeInput(() => parseCidr(c))
      return { family: family === 4 ? AF_INET : AF_INET6, addr: bytes, mask: prefix }
    })
  }
  if (u.presharedKey !== undefined) {
    const k = u.presharedKey ?? new Uint8Array(KEY_BYTES) // all zeros clears it
    if (k.length !== KEY_BYTES) throw new WireGuardError(`preshared key must be ${KEY_BYTES} bytes, got ${k.length}`, { backend: 'netlink', op: 'encode' })
    p.presharedKey = k
  }
  if (u.endpoint !== undefined) p.endpoint = encodeSockaddr(u.endpoint)
  if (u.persistentKeepaliveS !== undefined) {
    const s = u.persistentKeepaliveS
    if (!Number.isInteger(s) || s < 0 || s > 0xffff) throw new WireGuardError(`persistent keepalive must be an integer in [0, 65535] s, got ${s}`, { backend: 'netlink', op: 'encode' })
    p.keepaliveS = s
  }
  return p
}

/** Input the caller got wrong (a bad CIDR or endpoint) as a `WireGuardError` of op `encode`. */
function encodeInput<T> (f: () => T): T {
  try {
    return f()
  } catch (err) {
    throw new WireGuardError(`netlink request not encodable: ${(err as Error).message}`, { backend: 'netlink', op: 'encode', cause: err })
  }
}

/**
 * `struct sockaddr_in` (16 bytes) or `struct sockaddr_in6` (28 bytes). A zone must be the
 * numeric interface index (`fe80::1%3`), which is also how a read reports one: Node has no
 * `if_nametoindex`.
 */
export function encodeSockaddr (ep: WgEndpoint): Uint8Array {
  if (!Number.isInteger(ep.port) || ep.port < 0 || ep.port > 0xffff) throw new WireGuardError(`endpoint port must be in [0, 65535], got ${ep.port}`, { backend: 'netlink', op: 'encode' })
  const host = String(ep.host)
  const pct = host.indexOf('%')
  const zone = pct < 0 ? '0' : host.slice(pct + 1)
  const addr = encodeInput(() => parseIp(pct < 0 ? host : host.slice(0, pct))).bytes
  const scope = /^[0-9]{1,10}$/.test(zone) ? Number(zone) : -1
  if (scope < 0 || scope > 0xffffffff || (pct >= 0 && addr.length !== 16)) {
    throw new WireGuardError(`endpoint zone must be a numeric interface index on an ipv6 host, got ${JSON.stringify(host)}`, { backend: 'netlink', op: 'encode' })
  }
  const b = new Uint8Array(addr.length === 4 ? 16 : 28)
  const dv = new DataView(b.buffer)
  dv.setUint16(0, addr.length === 4 ? AF_INET : AF_INET6, LE)
  dv.setUint16(2, ep.port, false)
  if (addr.length === 4) b.set(addr, 4)
  else { b.set(addr, 8); dv.setUint32(24, scope, LE) }
  return b
}

/**
 * WG_CMD_SET_DEVICE messages for `change`, each at most `maxBytes` (seq 0: see `setSeq`).
 * Removals go first, then upserts, in the order given. Sent in order, each acknowledged
 * before the next; together they are not atomic.
 */
export function encodeSetDevice (familyId: number, ifname: string, change: DeviceChange, maxBytes = MAX_SET_MESSAGE_BYTES): Uint8Array[] {
  checkIfname(ifname)
  const peers = toSetPeers(change)
  const msgs: Uint8Array[] = []
  let pi = 0 // next peer to write
  let ai = 0 // next allowed IP of peers[pi] (> 0: the peer is being continued)
  do {
    const w = new NlWriter()
    w.header(familyId, NLM_F_REQUEST | NLM_F_ACK, WG_CMD_SET_DEVICE, WG_GENL_VERSION)
    w.putStrz(WGDEVICE_A_IFNAME, ifname)
    if (msgs.length === 0) {
      if (change.privateKey !== undefined) {
        if (change.privateKey.length !== KEY_BYTES) throw new WireGuardError(`private key must be ${KEY_BYTES} bytes, got ${change.privateKey.length}`, { backend: 'netlink', op: 'encode' })
        w.put(WGDEVICE_A_PRIVATE_KEY, change.privateKey)
      }
      if (change.listenPort !== undefined) {
        if (!Number.isInteger(change.listenPort) || change.listenPort < 0 || change.listenPort > 0xffff) throw new WireGuardError(`listen port must be in [0, 65535], got ${change.listenPort}`, { backend: 'netlink', op: 'encode' })
        w.putU16(WGDEVICE_A_LISTEN_PORT, change.listenPort)
      }
      if (change.fwmark !== undefined) {
        if (!Number.isInteger(change.fwmark) || change.fwmark < 0 || change.fwmark > 0xffffffff) throw new WireGuardError(`fwmark must be a u32, got ${change.fwmark}`, { backend: 'netlink', op: 'encode' })
        w.putU32(WGDEVICE_A_FWMARK, change.fwmark)
      }
      if (change.replacePeers === true) w.putU32(WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS)
    }
    if (pi < peers.length) {
      const peersNest = w.nestStart(WGDEVICE_A_PEERS)
      const fits = (): boolean => w.pos <= maxBytes
      let progressed = false
      while (pi < peers.length) {
        const p = peers[pi]
        const peerMark = w.mark()
        const peerNest = w.nestStart(0)
        w.put(WGPEER_A_PUBLIC_KEY, p.publicKey)
        const first = ai === 0
        const flags = first ? p.flags : p.flags & ~WGPEER_F_REPLACE_ALLOWEDIPS
        if (flags !== 0) w.putU32(WGPEER_A_FLAGS, flags)
        if (first) {
          if (p.presharedKey !== undefined) w.put(WGPEER_A_PRESHARED_KEY, p.presharedKey)
          if (p.endpoint !== undefined) w.put(WGPEER_A_ENDPOINT, p.endpoint)
          if (p.keepaliveS !== undefined) w.putU16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p.keepaliveS)
        }
        if (!fits()) { w.rollback(peerMark); break }
        let full = false
        if (ai < p.allowedIps.length) {
          const ipsMark = w.mark()
          const ipsNest = w.nestStart(WGPEER_A_ALLOWEDIPS)
          const before = ai
          while (ai < p.allowedIps.length) {
            const m = w.mark()
            const ipNest = w.nestStart(0)
            const a = p.allowedIps[ai]
            w.putU16(WGALLOWEDIP_A_FAMILY, a.family)
            w.put(WGALLOWEDIP_A_IPADDR, a.addr)
            w.putU8(WGALLOWEDIP_A_CIDR_MASK, a.mask)
            w.nestEnd(ipNest)
            if (!fits()) { w.rollback(m); full = true; break }
            ai++
          }
          if (ai === before) w.rollback(ipsMark)
          else w.nestEnd(ipsNest)
        }
        if (full && ai === 0) {
          // Not even one allowed IP fitted after the peer's first attributes: send the peer whole next time.
          w.rollback(peerMark)
          break
        }
        w.nestEnd(peerNest)
        progressed = true
        if (full) break
        pi++
        ai = 0
      }
      if (!progressed) {
        if (w.pos === peersNest + NLA_HDRLEN && msgs.length > 0) {
          throw new WireGuardError(`a peer does not fit in a ${maxBytes}-byte message`, { backend: 'netlink', op: 'encode' })
        }
      }
      if (w.pos === peersNest + NLA_HDRLEN) w.rollback(peersNest)
      else w.nestEnd(peersNest)
    }
    msgs.push(w.finish())
  } while (pi < peers.length)
  return msgs
}

// ---- reading ----

function fail (message: string, at: number): never {
  throw new WireGuardProtocolError(`failed to decode netlink message: ${message} at byte ${at}`, { at })
}

/** One netlink message inside a datagram: header fields and where its payload lies. */
export interface NlMessage {
  type: number
  flags: number
  seq: number
  pid: number
  /** Offset of the payload (after the nlmsghdr) in the datagram. */
  start: number
  end: number
}

/** Splits a datagram into its netlink messages. */
export function parseMessages (buf: Uint8Array): NlMessage[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length)
  const out: NlMessage[] = []
  let off = 0
  while (off < buf.length) {
    if (buf.length - off < NLMSG_HDRLEN) fail(`truncated nlmsghdr (${buf.length - off} bytes)`, off)
    const len = dv.getUint32(off, LE)
    if (len < NLMSG_HDRLEN || len > buf.length - off) fail(`nlmsg_len ${len} outside [${NLMSG_HDRLEN}, ${buf.length - off}]`, off)
    out.push({ type: dv.getUint16(off + 4, LE), flags: dv.getUint16(off + 6, LE), seq: dv.getUint32(off + 8, LE), pid: dv.getUint32(off + 12, LE), start: off + NLMSG_HDRLEN, end: off + len })
    off = Math.min(buf.length, off + align4(len))
  }
  return out
}

/** The (negative) error code of an NLMSG_ERROR or NLMSG_DONE payload. */
export function readErrorCode (buf: Uint8Array, m: NlMessage): number {
  if (m.end - m.start < 4) {
    if (m.type === NLMSG_DONE && m.end === m.start) return 0
    fail(`${m.type === NLMSG_ERROR ? 'NLMSG_ERROR' : 'NLMSG_DONE'} payload of ${m.end - m.start} bytes`, m.start)
  }
  return new DataView(buf.buffer, buf.byteOffset, buf.length).getInt32(m.start, LE)
}

/** An attribute: type without flags, whether NLA_F_NESTED was set, and its payload bounds. */
export interface NlAttr {
  type: number
  nested: boolean
  start: number
  end: number
}

/** The attributes in `buf[start, end)`. */
export function parseAttrs (buf: Uint8Array, start: number, end: number): NlAttr[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length)
  const out: NlAttr[] = []
  let off = start
  while (off < end) {
    if (end - off < NLA_HDRLEN) fail(`truncated nlattr header (${end - off} bytes)`, off)
    const len = dv.getUint16(off, LE)
    const type = dv.getUint16(off + 2, LE)
    if (len < NLA_HDRLEN || len > end - off) fail(`nla_len ${len} outside [${NLA_HDRLEN}, ${end - off}]`, off)
    out.push({ type: type & NLA_TYPE_MASK, nested: (type & NLA_F_NESTED) !== 0, start: off + NLA_HDRLEN, end: off + len })
    off = Math.min(end, off + align4(len))
  }
  return out
}

/** Typed payload readers; each checks the exact length the header gives the type. */
export class AttrReader {
  private readonly dv: DataView
  constructor (readonly buf: Uint8Array) { this.dv = new DataView(buf.buffer, buf.byteOffset, buf.length) }
  private len (a: NlAttr, n: number, what: string): void {
    if (a.end - a.start !== n) fail(`${what} attribute ${a.type} of ${a.end - a.start} bytes, expected ${n}`, a.start - NLA_HDRLEN)
  }

  u8 (a: NlAttr): number { this.len(a, 1, 'u8'); return this.buf[a.start] }
  u16 (a: NlAttr): number { this.len(a, 2, 'u16'); return this.dv.getUint16(a.start, LE) }
  u32 (a: NlAttr): number { this.len(a, 4, 'u32'); return this.dv.getUint32(a.start, LE) }
  u64 (a: NlAttr): number { this.len(a, 8, 'u64'); return Number(this.dv.getBigUint64(a.start, LE)) }
  key (a: NlAttr): Uint8Array { this.len(a, KEY_BYTES, 'key'); return this.buf.subarray(a.start, a.end) }
  /** A NUL-terminated string (NLA_NUL_STRING). */
  strz (a: NlAttr): string {
    const nul = this.buf.indexOf(0, a.start)
    if (nul < 0 || nul >= a.end) fail(`string attribute ${a.type} without NUL`, a.start - NLA_HDRLEN)
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + a.start, nul - a.start).toString('utf8')
  }

  /** `struct __kernel_timespec` (s64 sec, s64 nsec) as epoch ms. */
  timespecMs (a: NlAttr): number {
    this.len(a, 16, 'timespec')
    const sec = this.dv.getBigInt64(a.start, LE)
    const nsec = this.dv.getBigInt64(a.start + 8, LE)
    if (sec < 0n || nsec < 0n || nsec >= 1_000_000_000n) fail('timespec out of range', a.start)
    return Number(sec * 1000n + nsec / 1_000_000n)
  }

  sockaddr (a: NlAttr): WgEndpoint {
    if (a.end - a.start < 2) fail(`endpoint of ${a.end - a.start} bytes`, a.start)
    const family = this.dv.getUint16(a.start, LE)
    if (family === AF_INET) {
      if (a.end - a.start < 16) fail(`sockaddr_in of ${a.end - a.start} bytes`, a.start)
      return { host: formatIp({ family: 4, bytes: this.buf.slice(a.start + 4, a.start + 8) }), port: this.dv.getUint16(a.start + 2, false) }
    }
    if (family === AF_INET6) {
      if (a.end - a.start < 28) fail(`sockaddr_in6 of ${a.end - a.start} bytes`, a.start)
      const scope = this.dv.getUint32(a.start + 24, LE)
      const host = formatIp({ family: 6, bytes: this.buf.slice(a.start + 8, a.start + 24) })
      return { host: scope === 0 ? host : `${host}%${scope}`, port: this.dv.getUint16(a.start + 2, false) }
    }
    return fail(`endpoint address family ${family}`, a.start)
  }

  nested (a: NlAttr): NlAttr[] {
    if (!a.nested) fail(`attribute ${a.type} should be nested (NLA_F_NESTED)`, a.start - NLA_HDRLEN)
    return parseAttrs(this.buf, a.start, a.end)
  }
}

/** What one GET_DEVICE message says; peers in order, a continued peer not yet joined. */
export interface DevicePart {
  ifindex?: number
  ifname?: string
  publicKey?: Key
  listenPort?: number
  fwmark?: number
  peers: WgPeer[]
}

/** The genlmsghdr and attributes of one WireGuard GET_DEVICE reply message. */
export function parseDeviceMessage (buf: Uint8Array, m: NlMessage): DevicePart {
  if (m.end - m.start < GENL_HDRLEN) fail('truncated genlmsghdr', m.start)
  const r = new AttrReader(buf)
  const part: DevicePart = { peers: [] }
  for (const a of parseAttrs(buf, m.start + GENL_HDRLEN, m.end)) {
    switch (a.type) {
      case WGDEVICE_A_IFINDEX: part.ifindex = r.u32(a); break
      case WGDEVICE_A_IFNAME: part.ifname = r.strz(a); break
      case WGDEVICE_A_PUBLIC_KEY: part.publicKey = Key.fromBytes(r.key(a).slice()); break
      case WGDEVICE_A_PRIVATE_KEY: r.key(a); break // checked, never kept
      case WGDEVICE_A_LISTEN_PORT: part.listenPort = r.u16(a); break
      case WGDEVICE_A_FWMARK: part.fwmark = r.u32(a); break
      case WGDEVICE_A_PEERS:
        for (const pa of r.nested(a)) part.peers.push(parsePeer(r, pa))
        break
      default: break // newer kernels append attributes: ignore them
    }
  }
  return part
}

function parsePeer (r: AttrReader, pa: NlAttr): WgPeer {
  let publicKey: Key | undefined
  const peer: Omit<WgPeer, 'publicKey'> = { hasPresharedKey: false, endpoint: undefined, allowedIps: [], persistentKeepaliveS: 0, lastHandshakeMs: 0, rxBytes: 0, txBytes: 0 }
  for (const a of r.nested(pa)) {
    switch (a.type) {
      case WGPEER_A_PUBLIC_KEY: publicKey = Key.fromBytes(r.key(a).slice()); break
      case WGPEER_A_PRESHARED_KEY: peer.hasPresharedKey = r.key(a).some(b => b !== 0); break
      case WGPEER_A_ENDPOINT: peer.endpoint = r.sockaddr(a); break
      case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL: peer.persistentKeepaliveS = r.u16(a); break
      case WGPEER_A_LAST_HANDSHAKE_TIME: peer.lastHandshakeMs = r.timespecMs(a); break
      case WGPEER_A_RX_BYTES: peer.rxBytes = r.u64(a); break
      case WGPEER_A_TX_BYTES: peer.txBytes = r.u64(a); break
      case WGPEER_A_PROTOCOL_VERSION: r.u32(a); break
      case WGPEER_A_ALLOWEDIPS:
        for (const ia of r.nested(a)) peer.allowedIps.push(parseAllowedIp(r, ia))
        break
      default: break
    }
  }
  if (publicKey === undefined) fail('peer without WGPEER_A_PUBLIC_KEY', pa.start - NLA_HDRLEN)
  return { publicKey, ...peer }
}

function parseAllowedIp (r: AttrReader, ia: NlAttr): string {
  let family: number | undefined
  let addr: Uint8Array | undefined
  let mask: number | undefined
  for (const a of r.nested(ia)) {
    if (a.type === WGALLOWEDIP_A_FAMILY) family = r.u16(a)
    else if (a.type === WGALLOWEDIP_A_IPADDR) addr = r.buf.subarray(a.start, a.end)
    else if (a.type === WGALLOWEDIP_A_CIDR_MASK) mask = r.u8(a)
  }
  const at = ia.start - NLA_HDRLEN
  if (family === undefined || addr === undefined || mask === undefined) fail('allowed IP without family, address or mask', at)
  const n = family === AF_INET ? 4 : family === AF_INET6 ? 16 : fail(`allowed IP family ${family}`, at)
  if (addr.length !== n) fail(`allowed IP address of ${addr.length} bytes for family ${family}`, at)
  if (mask > n * 8) fail(`allowed IP mask /${mask} for family ${family}`, at)
  try {
    return formatCidr({ family: n === 4 ? 4 : 6, bytes: addr.slice(), prefix: mask })
  } catch {
    return fail(`allowed IP with host bits set after /${mask}`, at) // the kernel masks them: never from a real device
  }
}

/**
 * Joins the messages of one GET_DEVICE dump into a `DeviceState`. A peer whose key equals
 * the previous peer's continues it (the kernel repeats the key when a peer's allowed IPs run
 * over a message): its allowed IPs are appended.
 */
export class DumpMerger {
  private state: DeviceState = { publicKey: undefined, listenPort: 0, fwmark: 0, peers: [] }
  private last: WgPeer | undefined

  add (part: DevicePart, at = 0): void {
    if (part.publicKey !== undefined) this.state.publicKey = part.publicKey
    if (part.listenPort !== undefined) this.state.listenPort = part.listenPort
    if (part.fwmark !== undefined) this.state.fwmark = part.fwmark
    for (const p of part.peers) {
      if (this.last !== undefined && this.last.publicKey.equals(p.publicKey)) {
        this.last.allowedIps.push(...p.allowedIps)
        continue
      }
      if (this.state.peers.length >= MAX_DUMP_PEERS) fail(`more than ${MAX_DUMP_PEERS} peers in one dump`, at)
      this.state.peers.push(p)
      this.last = p
    }
  }

  result (): DeviceState { return this.state }
}

/**
 * Reads a GET_DEVICE reply sequence (datagrams as received) into a `DeviceState`: for
 * tests and fuzzing; the backend does the same incrementally. Throws `WireGuardError` for
 * an NLMSG_ERROR or a negative NLMSG_DONE, `WireGuardProtocolError` for anything malformed.
 */
export function decodeDump (datagrams: Uint8Array[], familyId: number): DeviceState {
  const merger = new DumpMerger()
  for (const d of datagrams) {
    for (const m of parseMessages(d)) {
      if (m.type === NLMSG_ERROR || m.type === NLMSG_DONE) {
        const code = readErrorCode(d, m)
        if (code < 0) throw errnoError('read', -code)
        if (m.type === NLMSG_DONE) return merger.result()
        continue
      }
      if (m.type === NLMSG_NOOP) continue
      if (m.type !== familyId) fail(`message type ${m.type}, expected family ${familyId}`, m.start - NLMSG_HDRLEN)
      merger.add(parseDeviceMessage(d, m), m.start)
    }
  }
  return merger.result()
}

/** The family id in a CTRL_CMD_NEWFAMILY reply message. */
export function parseFamilyId (buf: Uint8Array, m: NlMessage): number {
  if (m.end - m.start < GENL_HDRLEN) fail('truncated genlmsghdr', m.start)
  const r = new AttrReader(buf)
  for (const a of parseAttrs(buf, m.start + GENL_HDRLEN, m.end)) {
    if (a.type === CTRL_ATTR_FAMILY_ID) return r.u16(a)
  }
  return fail('family reply without CTRL_ATTR_FAMILY_ID', m.start)
}

/** A `WireGuardError` for the kernel's (positive) errno. */
export function errnoError (op: string, errno: number, detail = ''): WireGuardError {
  return new WireGuardError(`netlink ${op} failed: ${errnoName(errno)} (errno ${errno})${detail}`, { backend: 'netlink', op, errno })
}

const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 4: 'EINTR', 12: 'ENOMEM', 13: 'EACCES', 16: 'EBUSY', 19: 'ENODEV', 22: 'EINVAL', 34: 'ERANGE', 71: 'EPROTO', 90: 'EMSGSIZE', 95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT', 98: 'EADDRINUSE' }
export function errnoName (errno: number): string { return ERRNO_NAMES[errno] ?? `errno ${errno}` }
