/**
 * The `netlink` backend: kernel WireGuard over generic netlink (DESIGN §5).
 *
 * The codec is ours (netlink-codec.ts); the `netlink` npm package only gives us the socket
 * (`RawNetlinkSocket`, a native addon with prebuilt binaries), and is imported lazily, on the
 * first request, so nothing else in the library pays for it or fails when its binary does not
 * load. When it does not load, `read`/`apply` throw a `WireGuardError` (op `open`) that says
 * so and suggests the `wg-cli` backend.
 *
 * One request at a time: each message gets a fresh sequence number and asks for an ACK; a
 * reply with an older sequence number (left over from a request that timed out or was
 * aborted) is dropped, one with any other is a `WireGuardProtocolError`. A read is one
 * GET_DEVICE dump, merged across its multipart messages until NLMSG_DONE, and dumped again
 * (up to `MAX_DUMP_ATTEMPTS`, then EINTR) when the kernel flags it NLM_F_DUMP_INTR. An apply is one or
 * more SET_DEVICE messages of at most `maxMessageBytes`, each acknowledged before the next is
 * sent, so a failure names the first message the kernel refused and the ones before it stay
 * applied (the set is not atomic; the reconciler re-reads). A non-zero NLMSG_ERROR becomes a
 * `WireGuardError` with the kernel's errno as a positive number. A bad batch (`checkChange`)
 * is an `InvalidConfigError` before anything is sent.
 *
 * The `wireguard` family id is looked up on first use and cached; a read or apply refused
 * with ENOENT or ENODEV while using a cached id (the module was reloaded under a new id)
 * looks it up again and runs once more.
 *
 * Privileges: reading and writing a device need CAP_NET_ADMIN in the device's network
 * namespace (EPERM otherwise); the family lookup needs none.
 */
import { resolve } from '../config.js'
import { AbortError, InvalidConfigError, orAbort, throwIfAborted, WireGuardError, WireGuardProtocolError } from '../errors.js'
import type { AbortOptions } from '../gossip/transport.js'
import { readFileSync } from 'node:fs'
import type { DeviceChange, DeviceState, WireGuardBackend } from './backend.js'
import { checkChange } from './change.js'
import {
  checkKernelIfaceName, DumpMerger, encodeGetDevice, encodeGetFamily, encodeSetDevice, errnoError, MAX_SET_MESSAGE_BYTES,
  NETLINK_GENERIC, NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, parseDeviceMessage, parseFamilyId,
  parseMessages, readErrorCode, setSeq, WG_GENL_NAME, GENL_ID_CTRL
} from './netlink-codec.js'

/** A datagram socket to the kernel's generic netlink, as the backend needs it. */
export interface NetlinkSocket {
  /** Sends one datagram to the kernel. */
  send (datagram: Uint8Array): Promise<void>
  /** Datagrams from the kernel, in order. */
  onDatagram (handler: (datagram: Uint8Array) => void): void
  /** Keeps the process alive while a request is outstanding. */
  ref (): void
  unref (): void
  close (): void
}

export interface NetlinkBackendInit {
  /**
   * Largest SET_DEVICE message, bytes; default 8192 (`MAX_SET_MESSAGE_BYTES`, as
   * wireguard-tools). Smaller means more round trips; the kernel takes up to its socket
   * buffer. Range [512, 65536].
   */
  maxMessageBytes?: number
  /** How long one message may wait for its reply, ms; default 5000 (a dump of 10,000 peers takes ~100 ms). Range [1, 600,000]. */
  requestTimeoutMs?: number
  /** The socket; default: a `RawNetlinkSocket` from the `netlink` package. For tests. */
  openSocket?: () => Promise<NetlinkSocket>
}

const SPEC = {
  maxMessageBytes: { default: MAX_SET_MESSAGE_BYTES, min: 512, max: 65536, integer: true },
  requestTimeoutMs: { default: 5000, min: 1, max: 600_000, integer: true }
}
/** Dumps tried when each comes back NLM_F_DUMP_INTR, before the read fails with EINTR. */
export const MAX_DUMP_ATTEMPTS = 5
const EINTR = 4
const ENOENT = 2
const ENODEV = 19
const BACKEND = 'netlink'

type NetlinkPackage = typeof import('netlink')

/**
 * Opens a NETLINK_GENERIC socket through the `netlink` package, loaded here and nowhere else
 * (`load` replaces the import, for tests of a binary that fails to load).
 */
export async function openPackageSocket (load: () => Promise<NetlinkPackage> = async () => await import('netlink')): Promise<NetlinkSocket> {
  let mod: NetlinkPackage
  try {
    mod = await load()
  } catch (err) {
    throw new WireGuardError(`the netlink backend needs the \`netlink\` package and its native binary, which failed to load (${(err as Error).message}); use the wg-cli backend instead`, { backend: BACKEND, op: 'open', cause: err })
  }
  let raw: InstanceType<typeof mod.RawNetlinkSocket>
  try {
    raw = new mod.RawNetlinkSocket(NETLINK_GENERIC, { recvBufferSize: 1 << 20, sendBufferSize: 1 << 18 })
  } catch (err) {
    const errno = (err as { errno?: number }).errno
    throw new WireGuardError(`failed to open a generic netlink socket: ${(err as Error).message}`, { backend: BACKEND, op: 'open', errno: typeof errno === 'number' ? Math.abs(errno) : undefined, cause: err })
  }
  raw.unref()
  let handler: (d: Uint8Array) => void = () => {}
  raw.on('message', (msg, rinfo) => { if (rinfo.port === 0) handler(new Uint8Array(msg.buffer, msg.byteOffset, msg.length)) })
  // Message peeking is on, so the package never truncates; an error event means the socket broke.
  raw.on('error', () => {})
  return {
    send: async d => await new Promise<void>((resolve, reject) => {
      raw.send(d, {}, err => {
        if (err === undefined) resolve()
        else reject(new WireGuardError(`netlink send failed: ${err.message}`, { backend: BACKEND, op: 'send', errno: typeof err.errno === 'number' ? Math.abs(err.errno) : undefined, cause: err }))
      })
    }),
    onDatagram: h => { handler = h },
    ref: () => raw.ref(),
    unref: () => raw.unref(),
    close: () => raw.close()
  }
}

/**
 * Endpoint zones as the kernel takes them: `fe80::1%eth0` becomes `fe80::1%<ifindex>` (from
 * /sys/class/net; Node has no if_nametoindex). A read reports the numeric form.
 */
function withNumericZones (change: DeviceChange): DeviceChange {
  const upserts = change.upserts?.map(u => {
    const host = u.endpoint?.host
    const pct = host?.indexOf('%') ?? -1
    if (u.endpoint === undefined || host === undefined || pct < 0 || /^\d+$/.test(host.slice(pct + 1))) return u
    const zone = host.slice(pct + 1)
    let index: string
    try {
      index = readFileSync(`/sys/class/net/${zone}/ifindex`, 'utf8').trim()
    } catch (err) {
      throw new WireGuardError(`endpoint zone ${zone} is not an interface here`, { backend: BACKEND, op: 'apply', errno: 19, cause: err })
    }
    return { ...u, endpoint: { host: `${host.slice(0, pct)}%${index}`, port: u.endpoint.port } }
  })
  return { ...change, upserts }
}

interface Pending {
  seq: number
  /** Called with each message of a datagram addressed to `seq`; returns true when the request is complete. */
  onMessage: (buf: Uint8Array, m: ReturnType<typeof parseMessages>[number]) => boolean
  resolve: () => void
  reject: (err: Error) => void
}

export class NetlinkBackend implements WireGuardBackend {
  readonly kind = 'netlink' as const
  readonly iface: string
  private readonly maxMessageBytes: number
  private readonly requestTimeoutMs: number
  private readonly openSocket: () => Promise<NetlinkSocket>
  private socket: Promise<NetlinkSocket> | undefined
  private cachedFamilyId: number | undefined
  /** Sequence numbers at or below this one were sent; replies to them after their request ended are dropped. */
  private seq = Math.floor(Date.now() / 1000) & 0x7fffffff
  private pending: Pending | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false
  /** Replies dropped because their request had ended (timed out or aborted). */
  staleReplies = 0

  /**
   * `iface`: the WireGuard interface (1–15 bytes); it must exist (kernel-link.ts creates it).
   * A bad name or knob is an `InvalidConfigError` here; `WireGuardError` is for the kernel refusing.
   */
  constructor (iface: string, init: NetlinkBackendInit = {}) {
    this.iface = checkKernelIfaceName(iface)
    const cfg = resolve(SPEC, init)
    this.maxMessageBytes = cfg.maxMessageBytes
    this.requestTimeoutMs = cfg.requestTimeoutMs
    if (init.openSocket !== undefined && typeof init.openSocket !== 'function') throw new InvalidConfigError('openSocket must be a function')
    this.openSocket = init.openSocket ?? (async () => await openPackageSocket())
  }

  async read (options: AbortOptions = {}): Promise<DeviceState> {
    return await this.serial(options, async () => await this.withFamily(options, async family => {
      // A set during the dump (by another process) makes it incoherent, peers may be missing:
      // the kernel marks its messages NLM_F_DUMP_INTR and, as wg(8) does, we dump again.
      for (let attempt = 1; ; attempt++) {
        const merger = new DumpMerger()
        let interrupted = false
        await this.transact(encodeGetDevice(family, this.iface), 'read', options, (buf, m) => {
          if ((m.flags & NLM_F_DUMP_INTR) !== 0) interrupted = true
          if (m.type === NLMSG_DONE) {
            const code = readErrorCode(buf, m)
            if (code < 0) throw errnoError('read', -code, ` on ${this.iface}`)
            return true
          }
          if (m.type !== family) throw new WireGuardProtocolError(`failed to decode netlink message: type ${m.type} in a wireguard dump at byte ${m.start - 16}`, { at: m.start - 16 })
          merger.add(parseDeviceMessage(buf, m), m.start)
          return false
        })
        if (!interrupted) return merger.result()
        if (attempt >= MAX_DUMP_ATTEMPTS) throw errnoError('read', EINTR, ` on ${this.iface}: ${attempt} dumps in a row interrupted by concurrent changes`)
      }
    }))
  }

  async apply (change: DeviceChange, options: AbortOptions = {}): Promise<void> {
    await this.serial(options, async () => {
      // A caller's mistake is the same InvalidConfigError from every backend, before anything is sent.
      const checked = withNumericZones(checkChange(change))
      await this.withFamily(options, async family => {
        const msgs = encodeSetDevice(family, this.iface, checked, this.maxMessageBytes)
        for (let i = 0; i < msgs.length; i++) {
          try {
            await this.transact(msgs[i], 'apply', options, () => false)
          } catch (err) {
            if (err instanceof WireGuardError && err.errno !== undefined && msgs.length > 1) {
              throw new WireGuardError(`${err.message} on ${this.iface}, in message ${i + 1} of ${msgs.length} (the ones before it were applied)`, { backend: BACKEND, op: 'apply', errno: err.errno, cause: err })
            }
            throw err
          }
        }
      })
    })
  }

  /**
   * Sends one encoded generic-netlink message (its sequence number is overwritten) and waits
   * for the kernel's ACK; a refusal is a `WireGuardError` with the errno. For diagnostics and
   * tests (it is how the kernel test sends a malformed request); the family id for the
   * message's type is `await familyId()`.
   */
  async request (message: Uint8Array, options: AbortOptions = {}): Promise<void> {
    await this.serial(options, async () => { await this.transact(message.slice(), 'request', options, () => false) })
  }

  /** The kernel's generic-netlink family id for `wireguard` (looked up once, and again when the kernel stops knowing it). */
  async familyId (options: AbortOptions = {}): Promise<number> {
    return await this.serial(options, async () => await this.family(options))
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.pending?.reject(new WireGuardError('netlink backend closed', { backend: BACKEND, op: 'close' }))
    this.pending = undefined
    const s = this.socket
    this.socket = undefined
    if (s !== undefined) (await s.catch(() => undefined))?.close()
  }

  /** Runs `f` after the requests queued before it; an abort while it waits rejects at once (its turn then sends nothing). */
  private async serial<T> (options: AbortOptions, f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f, f)
    this.queue = run.catch(() => {})
    const signal = options.signal
    return await orAbort(run, signal)
  }

  /**
   * Runs `f` with the family id. The id is cached, but a reloaded module registers the family
   * under a new one: a message to the old id is ENOENT (genl_rcv_msg: no such family), and the
   * interface went with the module (ENODEV). On either, with an id from the cache, the cache
   * is dropped and `f` runs once more with an id looked up afresh; a second failure is thrown.
   * Running `f` again is safe: a read has no effect, and a set is declarative, so resending all
   * its messages (some may have been applied) ends in the same device.
   */
  private async withFamily<T> (options: AbortOptions, f: (family: number) => Promise<T>): Promise<T> {
    const cached = this.cachedFamilyId !== undefined
    const family = await this.family(options)
    try {
      return await f(family)
    } catch (err) {
      if (!cached || !(err instanceof WireGuardError) || (err.errno !== ENOENT && err.errno !== ENODEV)) throw err
      if (this.cachedFamilyId === family) this.cachedFamilyId = undefined
      return await f(await this.family(options))
    }
  }

  private async family (options: AbortOptions): Promise<number> {
    if (this.cachedFamilyId !== undefined) return this.cachedFamilyId
    let id: number | undefined
    try {
      await this.transact(encodeGetFamily(WG_GENL_NAME), 'open', options, (buf, m) => {
        if (m.type === GENL_ID_CTRL) id = parseFamilyId(buf, m)
        return false
      })
    } catch (err) {
      if (err instanceof WireGuardError && err.errno === ENOENT) {
        throw new WireGuardError('the kernel has no wireguard generic netlink family (ENOENT): load the module (`modprobe wireguard`) or use wireguard-go with the uapi backend', { backend: BACKEND, op: 'open', errno: 2, cause: err })
      }
      throw err
    }
    if (id === undefined) throw new WireGuardProtocolError('failed to decode netlink message: family lookup acknowledged without a family id', { at: 0 })
    this.cachedFamilyId = id
    return id
  }

  private async sock (): Promise<NetlinkSocket> {
    if (this.closed) throw new WireGuardError('netlink backend closed', { backend: BACKEND, op: 'open' })
    if (this.socket === undefined) {
      const p = this.openSocket()
      this.socket = p
      p.then(s => s.onDatagram(d => this.onDatagram(d)), () => { if (this.socket === p) this.socket = undefined })
    }
    return await this.socket
  }

  /**
   * Sends `msg` with a fresh seq and feeds every reply message to `onMessage` until an
   * NLMSG_ERROR (ACK or error) or `onMessage` says the request is complete.
   */
  private async transact (msg: Uint8Array, op: string, options: AbortOptions, onMessage: (buf: Uint8Array, m: ReturnType<typeof parseMessages>[number]) => boolean): Promise<void> {
    const signal = options.signal
    if (signal?.aborted === true) throw new AbortError(undefined, { cause: signal.reason })
    const sock = await this.sock()
    // An abort during the await found no listener yet: without this the request would be sent and waited for.
    throwIfAborted(signal)
    this.seq = (this.seq + 1) >>> 0
    const seq = this.seq
    setSeq(msg, seq)
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        this.pending = {
          seq,
          onMessage: (buf, m) => {
            if (m.type === NLMSG_ERROR) {
              const code = readErrorCode(buf, m)
              if (code < 0) throw errnoError(op, -code, ` on ${this.iface}`)
              return true
            }
            if (m.type === NLMSG_OVERRUN) throw new WireGuardError('netlink overrun: the kernel dropped replies', { backend: BACKEND, op })
            if (m.type === NLMSG_NOOP) return false
            return onMessage(buf, m)
          },
          resolve,
          reject
        }
        timer = setTimeout(() => reject(new WireGuardError(`netlink ${op} timed out after ${this.requestTimeoutMs} ms`, { backend: BACKEND, op })), this.requestTimeoutMs)
        onAbort = () => reject(new AbortError(undefined, { cause: signal?.reason }))
        signal?.addEventListener('abort', onAbort, { once: true })
        sock.ref()
        sock.send(msg).catch(reject)
      })
    } finally {
      clearTimeout(timer)
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
      if (this.pending?.seq === seq) this.pending = undefined
      sock.unref()
    }
  }

  private onDatagram (d: Uint8Array): void {
    const p = this.pending
    try {
      for (const m of parseMessages(d)) {
        if (p === undefined || m.seq !== p.seq) {
          // Older seqs belong to requests that gave up (timeout, abort): drop. Anything else is not ours.
          if (m.seq <= this.seq && this.seq - m.seq < 0x10000) { this.staleReplies++; continue }
          throw new WireGuardProtocolError(`failed to decode netlink message: reply with seq ${m.seq}, expected ${p?.seq ?? 'none'} at byte ${m.start - 16}`, { at: m.start - 16 })
        }
        if (p.onMessage(d, m)) { this.pending = undefined; p.resolve(); return }
      }
    } catch (err) {
      if (p !== undefined) { this.pending = undefined; p.reject(err as Error) }
    }
  }
}
