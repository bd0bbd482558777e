/**
 * `UapiBackend`: drives a userspace WireGuard (wireguard-go, boringtun) over its UAPI unix
 * socket, `SOCKET_DIR/IFACE.sock`. The codec is uapi-codec.ts; this file is the connection.
 *
 * - One request at a time: calls queue behind each other (the protocol has no request ids).
 * - The connection is kept between requests (a resync is then one write and one read), and
 *   dropped after any non-zero errno, socket error, timeout, abort or malformed reply: after
 *   a failed `set` the device has stopped reading mid-request, so the rest of that request
 *   would be read as the next one. The next call reconnects.
 * - A batch is ONE `set=1`. The device applies it line by line: after an errno the lines
 *   before the bad one stay applied (see backend.ts on atomicity).
 * - Errors: `WireGuardError` with `backend: 'uapi'`, `op` (`connect`, `read`, `apply`) and,
 *   when the device answered, `errno` (POSIX, positive); a reply that does not parse is a
 *   `WireGuardError` whose `cause` is the `WireGuardProtocolError`. An abort is an `AbortError`.
 */
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { resolve } from '../config.js'
import { AbortError, InvalidConfigError, orAbort, throwIfAborted, WireGuardError, WireGuardProtocolError } from '../errors.js'
import type { AbortOptions } from '../gossip/transport.js'
import type { DeviceChange, DeviceState, WireGuardBackend } from './backend.js'
import { checkChange } from './change.js'
import { encodeSetRequest, GET_REQUEST, parseGetReply, parseSetReply } from './uapi-codec.js'


/** Where wireguard-go and boringtun put their sockets on Linux and the BSDs. */
export const DEFAULT_SOCKET_DIR = '/var/run/wireguard'

export interface UapiInit {
  /** Directory of the `IFACE.sock` sockets. Default `/var/run/wireguard`. */
  socketDir?: string
  /** The socket path itself, overriding `socketDir`. */
  socketPath?: string
  /** Time to connect to the socket. Default 2,000 ms (a local socket answers at once or never). */
  connectTimeoutMs?: number
  /**
   * Time for one request, from writing it to the end of the reply. Default 10,000 ms:
   * wireguard-go takes ~175 ms for a 1,000-peer `set` with keepalives (~75 ms without) and
   * ~10–20 ms for a 1,000-peer `get`, so this is far above any healthy device and only
   * catches a hung one.
   */
  requestTimeoutMs?: number
  /**
   * Largest reply accepted. Default 64 MiB: a peer is ~600 bytes in a `get` reply, so this
   * is ~100,000 peers; above it the reply is refused rather than buffered without bound.
   */
  maxReplyBytes?: number
}

const SPEC = {
  connectTimeoutMs: { default: 2_000, min: 1, max: 600_000, integer: true },
  requestTimeoutMs: { default: 10_000, min: 1, max: 3_600_000, integer: true },
  maxReplyBytes: { default: 64 * 1024 * 1024, min: 64, max: 1024 * 1024 * 1024, integer: true }
}

const IFACE_RE = /^[A-Za-z0-9_.=+-]{1,15}$/

/** Interface names as Linux allows them (IFNAMSIZ 16 with the NUL, no `/`, no whitespace). */
export function checkIfaceName (iface: string): string {
  if (typeof iface !== 'string' || !IFACE_RE.test(iface) || iface === '.' || iface === '..') {
    throw new InvalidConfigError(`interface name must be 1–15 characters of [A-Za-z0-9_.=+-], got ${JSON.stringify(String(iface))}`)
  }
  return iface
}

export class UapiBackend implements WireGuardBackend {
  readonly kind = 'uapi' as const
  readonly iface: string
  readonly socketPath: string
  private readonly cfg: ReturnType<typeof resolve<typeof SPEC>>
  private socket: Socket | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false

  constructor (iface: string, init: UapiInit = {}) {
    this.iface = checkIfaceName(iface)
    this.cfg = resolve(SPEC, init)
    this.socketPath = init.socketPath ?? join(init.socketDir ?? DEFAULT_SOCKET_DIR, `${iface}.sock`)
  }

  async read (options: AbortOptions = {}): Promise<DeviceState> {
    const text = await this.request('read', GET_REQUEST, options)
    let reply
    try {
      reply = parseGetReply(text)
    } catch (err) {
      this.drop()
      throw new WireGuardError(`uapi ${this.iface}: malformed get reply: ${(err as Error).message}`, { backend: 'uapi', op: 'read', cause: err })
    }
    if (reply.errno !== 0) {
      this.drop()
      throw new WireGuardError(`uapi ${this.iface}: get failed with errno ${reply.errno}`, { backend: 'uapi', op: 'read', errno: reply.errno })
    }
    return reply.device
  }

  async apply (change: DeviceChange, options: AbortOptions = {}): Promise<void> {
    const text = await this.request('apply', encodeSetRequest(checkChange(change)), options)
    let errno: number
    try {
      errno = parseSetReply(text)
    } catch (err) {
      this.drop()
      throw new WireGuardError(`uapi ${this.iface}: malformed set reply: ${(err as Error).message}`, { backend: 'uapi', op: 'apply', cause: err })
    }
    if (errno !== 0) {
      this.drop()
      throw new WireGuardError(`uapi ${this.iface}: set refused with errno ${errno} (lines before the refused one stay applied)`, { backend: 'uapi', op: 'apply', errno })
    }
  }

  async close (): Promise<void> {
    this.closed = true
    await this.queue.catch(() => {})
    this.drop()
  }

  /** Queues one request; resolves with the reply text up to and including its blank line. */
  private async request (op: string, body: string, options: AbortOptions): Promise<string> {
    throwIfAborted(options.signal)
    if (this.closed) throw new WireGuardError(`uapi ${this.iface}: backend is closed`, { backend: 'uapi', op })
    const run = this.queue.catch(() => {}).then(async () => await this.exchange(op, body, options))
    this.queue = run
    // Aborted while queued: rejected at once (its turn then finds the signal aborted and sends nothing).
    return await orAbort(run, options.signal)
  }

  private drop (): void {
    this.socket?.destroy()
    this.socket = undefined
  }

  private async ensureSocket (signal: AbortSignal | undefined): Promise<Socket> {
    if (this.socket !== undefined && !this.socket.destroyed) return this.socket
    throwIfAborted(signal)
    const s = connect(this.socketPath)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new WireGuardError(`uapi ${this.iface}: no connection to ${this.socketPath} within ${this.cfg.connectTimeoutMs} ms`, { backend: 'uapi', op: 'connect' })), this.cfg.connectTimeoutMs)
      const onAbort = (): void => done(new AbortError(undefined, { cause: signal?.reason }))
      const onError = (err: NodeJS.ErrnoException): void => {
        const hint = err.code === 'ENOENT' ? ' (no such socket: is wireguard-go running for this interface?)' : err.code === 'EACCES' ? ' (permission denied: the socket is root-only)' : ''
        done(new WireGuardError(`uapi ${this.iface}: cannot connect to ${this.socketPath}${hint}`, { backend: 'uapi', op: 'connect', cause: err }))
      }
      const done = (err?: Error): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        s.off('error', onError)
        s.off('connect', onConnect)
        if (err !== undefined) { s.destroy(); reject(err) } else resolve()
      }
      const onConnect = (): void => done()
      s.once('connect', onConnect)
      s.once('error', onError)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    // Errors outside a request only mark the socket dead; the next request reconnects.
    s.on('error', () => {})
    this.socket = s
    return s
  }

  private async exchange (op: string, body: string, options: AbortOptions): Promise<string> {
    const { signal } = options
    throwIfAborted(signal)
    const s = await this.ensureSocket(signal)
    // An abort that landed during the await found no listener (connect had let go, this one was not yet on).
    throwIfAborted(signal)
    return await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = []
      let size = 0
      let scanFrom = 0
      let tail = '' // the last byte of the previous chunk, to find a `\n\n` split across chunks
      const timer = setTimeout(() => fail(new WireGuardError(`uapi ${this.iface}: no reply within ${this.cfg.requestTimeoutMs} ms`, { backend: 'uapi', op })), this.cfg.requestTimeoutMs)
      const onAbort = (): void => fail(new AbortError(undefined, { cause: signal?.reason }))
      const onError = (err: Error): void => fail(new WireGuardError(`uapi ${this.iface}: socket error`, { backend: 'uapi', op, cause: err }))
      const onClose = (): void => fail(new WireGuardError(`uapi ${this.iface}: the device closed the connection before its reply ended`, { backend: 'uapi', op }))
      const onData = (chunk: Buffer): void => {
        size += chunk.length
        if (size > this.cfg.maxReplyBytes) {
          fail(new WireGuardError(`uapi ${this.iface}: reply larger than ${this.cfg.maxReplyBytes} bytes`, { backend: 'uapi', op, cause: new WireGuardProtocolError('reply too large') }))
          return
        }
        chunks.push(chunk)
        const text = tail + chunk.toString('latin1')
        const end = text.indexOf('\n\n', scanFrom)
        if (end < 0) {
          tail = text.slice(-1)
          scanFrom = 0
          return
        }
        if (end + 2 !== text.length) {
          fail(new WireGuardError(`uapi ${this.iface}: bytes after the end of the reply`, { backend: 'uapi', op, cause: new WireGuardProtocolError('trailing bytes') }))
          return
        }
        cleanup()
        resolve(Buffer.concat(chunks).toString('utf8'))
      }
      const cleanup = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        s.off('data', onData)
        s.off('error', onError)
        s.off('close', onClose)
      }
      const fail = (err: Error): void => {
        cleanup()
        this.drop()
        reject(err)
      }
      s.on('data', onData)
      s.once('error', onError)
      s.once('close', onClose)
      signal?.addEventListener('abort', onAbort, { once: true })
      s.write(body)
    })
  }
}
