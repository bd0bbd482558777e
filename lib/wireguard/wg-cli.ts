/**
 * `WgCliBackend`: drives any WireGuard the `wg` tool can (kernel, wireguard-go, boringtun) by
 * running it: `wg show IFACE dump` to read (parser in wg-dump.ts), `wg set IFACE …` to apply.
 * For hosts where neither UAPI nor netlink fits; it costs a process per call.
 *
 * Batching. `wg set` takes any number of `peer KEY …` clauses in one call and sends them as one
 * request, so a batch is one call, split only when the arguments would exceed `maxArgBytes`
 * (Linux limits the whole argv to ~2 MB, ARG_MAX). Keys go through files (`private-key FILE`,
 * `preshared-key FILE`, as `wg` wants), written 0600 in a fresh 0700 temp dir removed after.
 *
 * Where `wg set` differs from the contract, and what is done about it:
 * - `allowed-ips` always REPLACES a peer's set (wg sets WGPEER_REPLACE_ALLOWEDIPS). An upsert
 *   that ADDS allowed IPs is therefore sent as the union of what the device has (one `read`
 *   first) and the new ones, with the moves of the batch itself applied in order, which is
 *   what the device would hold after an add;
 * - there is no `replace-peers` in `wg set`: every peer the device has is removed in the same
 *   call, before the upserts, which is what `replace_peers` does (see memory.ts).
 *
 * Errors: `WireGuardError` with `backend: 'wg-cli'`, `op`, the tool's stderr in the message,
 * and `errno` when stderr ends with a system error text (`Unable to modify interface: Invalid
 * argument` → 22). An abort is an `AbortError`.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getSystemErrorMap } from 'node:util'
import { resolve } from '../config.js'
import { AbortError, throwIfAborted, WireGuardError } from '../errors.js'
import type { AbortOptions } from '../gossip/transport.js'
import { toBase64 } from '../util/bytes.js'
import type { DeviceChange, DeviceState, PeerUpsert, WireGuardBackend } from './backend.js'
import { checkChange } from './change.js'
import { formatEndpoint } from './cidr.js'
import { checkIfaceName } from './uapi.js'
import { parseDump } from './wg-dump.js'

export interface WgCliInit {
  /** The `wg` binary. Default `wg` (looked up on PATH). */
  wgPath?: string
  /** Run `wg` inside this network namespace (`ip netns exec NS wg …`). Default: the current one. */
  netns?: string
  /** The `ip` binary, for `netns`. Default `ip`. */
  ipPath?: string
  /** Time for one `wg` run. Default 30,000 ms (a 1,000-peer `wg set` takes ~100 ms). */
  timeoutMs?: number
  /** Largest `wg show` output read. Default 64 MiB (~150,000 peers). */
  maxOutputBytes?: number
  /** Arguments of one `wg set`, in bytes, before the batch is split. Default 1 MiB (ARG_MAX is 2 MiB with the environment). */
  maxArgBytes?: number
}

const SPEC = {
  timeoutMs: { default: 30_000, min: 1, max: 3_600_000, integer: true },
  maxOutputBytes: { default: 64 * 1024 * 1024, min: 1024, max: 1024 * 1024 * 1024, integer: true },
  maxArgBytes: { default: 1024 * 1024, min: 4096, max: 2 * 1024 * 1024, integer: true }
}

/** System error texts, lowercased, to their errno: the tail of `wg`'s stderr. */
let errnoByText: Map<string, number> | undefined
export function errnoFromStderr (stderr: string): number | undefined {
  if (errnoByText === undefined) {
    errnoByText = new Map()
    for (const [code, [, message]] of getSystemErrorMap()) errnoByText.set(message.toLowerCase(), Math.abs(code))
  }
  const last = stderr.trim().split('\n').pop() ?? ''
  const text = last.slice(last.lastIndexOf(': ') + 2).trim().toLowerCase()
  return errnoByText.get(text)
}

export class WgCliBackend implements WireGuardBackend {
  readonly kind = 'wg-cli' as const
  readonly iface: string
  private readonly cfg: ReturnType<typeof resolve<typeof SPEC>>
  private readonly wgPath: string
  private readonly prefix: string[]
  private closed = false

  constructor (iface: string, init: WgCliInit = {}) {
    this.iface = checkIfaceName(iface)
    this.cfg = resolve(SPEC, init)
    this.wgPath = init.wgPath ?? 'wg'
    this.prefix = init.netns !== undefined ? [init.ipPath ?? 'ip', 'netns', 'exec', init.netns, this.wgPath] : [this.wgPath]
  }

  async read (options: AbortOptions = {}): Promise<DeviceState> {
    const out = await this.run('read', ['show', this.iface, 'dump'], options)
    try {
      return parseDump(out)
    } catch (err) {
      throw new WireGuardError(`wg-cli ${this.iface}: malformed dump: ${(err as Error).message}`, { backend: 'wg-cli', op: 'read', cause: err })
    }
  }

  async apply (change: DeviceChange, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    const c = checkChange(change)
    const upserts = c.upserts ?? []
    const needsRead = c.replacePeers === true || upserts.some(u => u.allowedIps !== undefined && u.replaceAllowedIps !== true)
    const current = needsRead ? await this.read(options) : undefined
    let dir: string | undefined
    let files = 0
    const keyFile = async (key: Uint8Array): Promise<string> => {
      dir ??= await mkdtemp(join(tmpdir(), 'wiremesh-wg-'))
      const path = join(dir, `k${files++}`)
      await writeFile(path, `${toBase64(key)}\n`, { mode: 0o600 })
      return path
    }
    try {
      const head: string[] = []
      if (c.privateKey !== undefined) head.push('private-key', await keyFile(c.privateKey))
      if (c.listenPort !== undefined) head.push('listen-port', String(c.listenPort))
      if (c.fwmark !== undefined) head.push('fwmark', c.fwmark === 0 ? 'off' : String(c.fwmark))
      const removals = [...(c.removals ?? [])]
      if (c.replacePeers === true) for (const p of current!.peers) removals.push(p.publicKey)
      // Allowed IPs per peer after the removals, kept up to date as the batch moves prefixes.
      const lists = new Map<string, string[]>()
      const owners = new Map<string, string>()
      const gone = new Set(removals.map(k => k.mapKey))
      for (const p of current?.peers ?? []) {
        if (gone.has(p.publicKey.mapKey)) continue
        lists.set(p.publicKey.mapKey, [...p.allowedIps])
        for (const ip of p.allowedIps) owners.set(ip, p.publicKey.mapKey)
      }
      const clauses: string[][] = removals.map(k => ['peer', k.toBase64(), 'remove'])
      for (const u of upserts) clauses.push(await this.clause(u, lists, owners, keyFile))
      // One `wg set` per chunk of clauses that fits in maxArgBytes; settings in the first.
      let args = [...head]
      let bytes = args.reduce((n, a) => n + a.length + 1, 0)
      const calls: string[][] = []
      for (const cl of clauses) {
        const len = cl.reduce((n, a) => n + a.length + 1, 0)
        if (args.length > 0 && bytes + len > this.cfg.maxArgBytes) { calls.push(args); args = []; bytes = 0 }
        args.push(...cl)
        bytes += len
      }
      if (args.length > 0 || calls.length === 0) calls.push(args)
      for (const a of calls) {
        if (a.length === 0) continue
        await this.run('apply', ['set', this.iface, ...a], options)
      }
    } finally {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    }
  }

  async close (): Promise<void> { this.closed = true }

  private async clause (u: PeerUpsert, lists: Map<string, string[]>, owners: Map<string, string>, keyFile: (k: Uint8Array) => Promise<string>): Promise<string[]> {
    const k = u.publicKey.mapKey
    const a = ['peer', u.publicKey.toBase64()]
    if (u.presharedKey !== undefined) a.push('preshared-key', u.presharedKey === null ? '/dev/null' : await keyFile(u.presharedKey))
    if (u.endpoint !== undefined) a.push('endpoint', formatEndpoint(u.endpoint))
    if (u.persistentKeepaliveS !== undefined) a.push('persistent-keepalive', u.persistentKeepaliveS === 0 ? 'off' : String(u.persistentKeepaliveS))
    if (u.allowedIps !== undefined) {
      const list = u.replaceAllowedIps === true ? [] : [...(lists.get(k) ?? [])]
      for (const ip of u.allowedIps) {
        const owner = owners.get(ip)
        if (owner !== undefined && owner !== k) lists.set(owner, lists.get(owner)!.filter(x => x !== ip))
        owners.set(ip, k)
        if (!list.includes(ip)) list.push(ip)
      }
      for (const ip of lists.get(k) ?? []) if (!list.includes(ip)) owners.delete(ip)
      lists.set(k, list)
      a.push('allowed-ips', list.join(','))
    }
    return a
  }

  private async run (op: string, args: string[], options: AbortOptions): Promise<string> {
    throwIfAborted(options.signal)
    if (this.closed) throw new WireGuardError(`wg-cli ${this.iface}: backend is closed`, { backend: 'wg-cli', op })
    const [cmd, ...pre] = this.prefix
    return await new Promise<string>((resolve, reject) => {
      execFile(cmd, [...pre, ...args], {
        encoding: 'utf8',
        timeout: this.cfg.timeoutMs,
        maxBuffer: this.cfg.maxOutputBytes,
        signal: options.signal,
        env: { ...process.env, LC_ALL: 'C' }
      }, (err, stdout, stderr) => {
        if (err === null) { resolve(stdout); return }
        if (options.signal?.aborted === true) { reject(new AbortError(undefined, { cause: options.signal.reason })); return }
        const e = err as NodeJS.ErrnoException & { killed?: boolean, code?: string | number }
        if (e.code === 'ENOENT') {
          reject(new WireGuardError(`wg-cli ${this.iface}: ${cmd} not found (install wireguard-tools or set wgPath)`, { backend: 'wg-cli', op, cause: err }))
          return
        }
        const why = e.killed === true ? `killed after ${this.cfg.timeoutMs} ms` : `exit ${String(e.code)}`
        const text = stderr.trim().slice(0, 2000)
        reject(new WireGuardError(`wg-cli ${this.iface}: wg ${args[0]} failed (${why}): ${text}`, { backend: 'wg-cli', op, errno: errnoFromStderr(stderr), cause: err }))
      })
    })
  }
}
