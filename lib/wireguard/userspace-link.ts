/**
 * The userspace WireGuard link (DESIGN §5): start `wireguard-go IFACE` (optionally inside a
 * network namespace), wait for its UAPI socket, set the private key and port over UAPI, set
 * the MTU, add the overlay address as `ADDR/48` (the kernel then routes the org /48 through
 * the interface), add any further routes, bring the link up; and tear it all down again.
 *
 *   const link = await createUserspaceLink('wm0', { netns: 'ns1', privateKey, listenPort: 51820,
 *                                                    address: 'fd12:3456:789a::1' })
 *   const backend = link.backend()   // a UapiBackend on the link's socket
 *   …
 *   await link.destroy()             // SIGTERM to the PID (SIGKILL after stopTimeoutMs), link deleted
 *                                    // (a process still there killTimeoutMs after SIGKILL: WireGuardError)
 *
 * wireguard-go runs in the foreground (`WG_PROCESS_FOREGROUND=1`) as our child, so its PID is
 * the one we started (`ip netns exec` execs it in place) and is what we signal; nothing is
 * ever killed by name. Its socket lives in `socketDir`, which all namespaces share, so
 * interface names must be unique on the host.
 *
 * Errors are `WireGuardError` with `backend: 'uapi'` and `op: 'create' | 'address' | 'destroy'`:
 * wireguard-go missing (the fix in the message), exiting before its socket appears (its
 * output in the message), an `ip` command failing (its stderr; IPv6 disabled is named, with
 * the sysctl that enables it).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { resolve } from '../config.js'
import { InvalidConfigError, WireGuardError } from '../errors.js'
import { checkChange } from './change.js'
import { canonicalCidr, parseIp } from './cidr.js'
import { checkIfaceName, DEFAULT_SOCKET_DIR, UapiBackend, type UapiInit } from './uapi.js'

export interface UserspaceLinkInit {
  /** Network namespace to create the interface in (`ip netns exec NS …`). Default: the current one. */
  netns?: string
  /** The wireguard-go binary. Default `wireguard-go` (on PATH). */
  wireguardGoPath?: string
  /** The `ip` binary. Default `ip`. */
  ipPath?: string
  /** Where wireguard-go puts `IFACE.sock`. Default `/var/run/wireguard` (wireguard-go's own, not configurable there). */
  socketDir?: string
  /** Time for the socket to appear after the start. Default 5,000 ms (it takes ~50 ms here). */
  startTimeoutMs?: number
  /** Time for wireguard-go to exit after SIGTERM before SIGKILL. Default 3,000 ms. */
  stopTimeoutMs?: number
  /**
   * Time for wireguard-go to exit after SIGKILL before `destroy()` gives up with a
   * `WireGuardError` (op `destroy`). Default 2,000 ms: a killed process goes at once unless it
   * is stuck in the kernel (uninterruptible sleep), which no wait would end. Range [1, 600,000].
   */
  killTimeoutMs?: number
  /** Time for one `ip` command. Default 10,000 ms. */
  ipTimeoutMs?: number
  /** Link MTU. Default 1420 (DESIGN §5: `lan` 1420, `wan` 1280). */
  mtu?: number
  /** 32-byte X25519 private key, set over UAPI. Default: none (set it later with `apply`). */
  privateKey?: Uint8Array
  /** UDP listen port. Default 0: wireguard-go picks one. */
  listenPort?: number
  /** The overlay address (an IPv6 or IPv4 literal). Default: no address. */
  address?: string
  /** Prefix length of `address`: the kernel routes this prefix through the link. Default 48 (the org prefix). */
  prefixLength?: number
  /** Further routes through the link, canonical CIDR. Default none. */
  routes?: string[]
  /** Passed to the link's `UapiBackend`. */
  uapi?: UapiInit
}

const SPEC = {
  startTimeoutMs: { default: 5_000, min: 1, max: 600_000, integer: true },
  stopTimeoutMs: { default: 3_000, min: 1, max: 600_000, integer: true },
  killTimeoutMs: { default: 2_000, min: 1, max: 600_000, integer: true },
  ipTimeoutMs: { default: 10_000, min: 1, max: 600_000, integer: true },
  mtu: { default: 1420, min: 1280, max: 65535, integer: true },
  listenPort: { default: 0, min: 0, max: 65535, integer: true }
}

const POLL_MS = 10

function linkError (op: string, message: string, cause?: unknown): WireGuardError {
  return new WireGuardError(message, { backend: 'uapi', op, cause })
}

export class UserspaceLink {
  private exited: Promise<void>
  private destroyed = false

  constructor (
    readonly iface: string,
    readonly netns: string | undefined,
    readonly socketPath: string,
    private readonly child: ChildProcess,
    private readonly ipPath: string,
    private readonly cfg: { stopTimeoutMs: number, killTimeoutMs: number, ipTimeoutMs: number },
    private readonly uapiInit: UapiInit
  ) {
    this.exited = new Promise(resolve => {
      if (child.exitCode !== null || child.signalCode !== null) resolve()
      else child.once('exit', () => resolve())
    })
  }

  /** True once the process has exited, false if it still runs after `ms`. */
  private async exitWithin (ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await Promise.race([this.exited, new Promise<void>(resolve => { timer = setTimeout(resolve, ms) })])
    } finally {
      clearTimeout(timer)
    }
    return !this.running
  }

  /** The PID of wireguard-go. */
  get pid (): number { return this.child.pid! }

  /** True while wireguard-go runs. */
  get running (): boolean { return this.child.exitCode === null && this.child.signalCode === null }

  /** A `UapiBackend` on this link's socket (the caller closes it). */
  backend (init: UapiInit = {}): UapiBackend {
    return new UapiBackend(this.iface, { ...this.uapiInit, ...init, socketPath: this.socketPath })
  }

  /** Runs `ip ARGS` in the link's namespace. */
  async ip (args: string[]): Promise<string> {
    return await runIp(this.ipPath, this.netns, args, this.cfg.ipTimeoutMs)
  }

  /**
   * Stops wireguard-go (SIGTERM, SIGKILL after `stopTimeoutMs`) and deletes the link if it is
   * left. Idempotent. A process still there `killTimeoutMs` after SIGKILL is a `WireGuardError`
   * (op `destroy`) and the link is left; calling `destroy()` again tries again.
   */
  async destroy (): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    if (this.running) {
      this.child.kill('SIGTERM')
      if (!await this.exitWithin(this.cfg.stopTimeoutMs)) {
        this.child.kill('SIGKILL')
        if (!await this.exitWithin(this.cfg.killTimeoutMs)) {
          this.destroyed = false
          throw linkError('destroy', `wireguard-go ${this.iface} (pid ${String(this.child.pid)}) did not exit within ${this.cfg.killTimeoutMs} ms of SIGKILL (stuck in the kernel?); its link is left`)
        }
      }
    }
    // wireguard-go removes its TUN device on exit; after a SIGKILL it may be left behind.
    try {
      await this.ip(['link', 'del', 'dev', this.iface])
    } catch (err) {
      if (!/Cannot find device|does not exist/i.test((err as Error).message)) throw err
    }
  }
}

async function runIp (ipPath: string, netns: string | undefined, args: string[], timeoutMs: number): Promise<string> {
  const full = netns !== undefined ? ['-n', netns, ...args] : args
  return await new Promise((resolve, reject) => {
    execFile(ipPath, full, { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err === null) { resolve(stdout); return }
      let msg = `ip ${full.join(' ')} failed: ${stderr.trim() || err.message}`
      if (args.includes('-6') && /permission denied/i.test(stderr)) {
        msg += ' (IPv6 looks disabled: enable it with `sysctl -w net.ipv6.conf.all.disable_ipv6=0`' + (netns !== undefined ? ` inside netns ${netns}` : '') + ')'
      }
      reject(linkError('address', msg, err))
    })
  })
}

/** Starts wireguard-go for `iface` and sets the link up as `init` says; see the top of the file. */
export async function createUserspaceLink (iface: string, init: UserspaceLinkInit = {}): Promise<UserspaceLink> {
  checkIfaceName(iface)
  const cfg = resolve(SPEC, init)
  const addr = init.address !== undefined ? parseIp(init.address) : undefined
  const prefixLength = init.prefixLength ?? (addr?.family === 4 ? 32 : 48)
  if (addr !== undefined && (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > (addr.family === 4 ? 32 : 128))) {
    throw new InvalidConfigError(`prefixLength must be an integer in [0, ${addr.family === 4 ? 32 : 128}], got ${String(prefixLength)}`)
  }
  const routes = (init.routes ?? []).map(canonicalCidr)
  const settings = checkChange({ privateKey: init.privateKey, listenPort: init.listenPort })
  const socketPath = join(init.socketDir ?? DEFAULT_SOCKET_DIR, `${iface}.sock`)
  if (existsSync(socketPath)) throw linkError('create', `a uapi socket for ${iface} already exists at ${socketPath}: the name is in use on this host (sockets are shared by all namespaces)`)
  const wgGo = init.wireguardGoPath ?? 'wireguard-go'
  const ipPath = init.ipPath ?? 'ip'
  const [cmd, args] = init.netns !== undefined ? [ipPath, ['netns', 'exec', init.netns, wgGo, iface]] : [wgGo, [iface]]
  const child = spawn(cmd, args, { env: { ...process.env, WG_PROCESS_FOREGROUND: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (b: Buffer): void => { if (output.length < 4096) output += b.toString('utf8') }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const link = new UserspaceLink(iface, init.netns, socketPath, child, ipPath, cfg, init.uapi ?? {})

  let spawnError: NodeJS.ErrnoException | undefined
  child.once('error', err => { spawnError = err })
  const deadline = Date.now() + cfg.startTimeoutMs
  try {
    while (!existsSync(socketPath)) {
      if (spawnError !== undefined) {
        throw linkError('create', spawnError.code === 'ENOENT' ? `${cmd} not found: install wireguard-go (Debian: apt-get install wireguard-go) or set wireguardGoPath` : `cannot start ${cmd}: ${spawnError.message}`, spawnError)
      }
      if (!link.running) {
        const missing = /exec of "?wireguard-go"? failed|No such file/i.test(output)
        throw linkError('create', missing
          ? `wireguard-go not found in netns ${init.netns ?? ''}: install wireguard-go or set wireguardGoPath (${output.trim()})`
          : `wireguard-go ${iface} exited (code ${String(child.exitCode)}) before its socket appeared: ${output.trim()}`)
      }
      if (Date.now() > deadline) throw linkError('create', `wireguard-go ${iface}: no socket at ${socketPath} after ${cfg.startTimeoutMs} ms`)
      await new Promise(resolve => setTimeout(resolve, POLL_MS))
    }
    if (settings.privateKey !== undefined || settings.listenPort !== undefined) {
      const b = link.backend()
      try {
        await b.apply({ privateKey: settings.privateKey, listenPort: settings.listenPort })
      } finally {
        await b.close()
      }
    }
    await link.ip(['link', 'set', 'dev', iface, 'mtu', String(cfg.mtu)])
    if (addr !== undefined) await link.ip([addr.family === 6 ? '-6' : '-4', 'addr', 'add', `${init.address!}/${prefixLength}`, 'dev', iface])
    await link.ip(['link', 'set', 'dev', iface, 'up'])
    for (const r of routes) await link.ip([r.includes(':') ? '-6' : '-4', 'route', 'replace', r, 'dev', iface])
  } catch (err) {
    await link.destroy().catch(() => {})
    throw err
  }
  return link
}
