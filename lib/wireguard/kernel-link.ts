/**
 * A kernel WireGuard interface's link, addresses and routes (DESIGN §5: `Mesh` owns its
 * link), made with iproute2's `ip` rather than RTM_NEWLINK messages of our own: link
 * set-up happens once per start, `ip` is on every host that has kernel WireGuard, and its
 * errors are well known. The WireGuard device itself (keys, port, peers) is the netlink
 * backend's (netlink.ts).
 *
 *   const link = await createKernelLink({ iface: 'wm0', mtu: 1280, addresses: ['fd12:…::1/48'] })
 *   …
 *   await link.remove()   // deletes the link if this call created it (addresses and routes go with it)
 *
 * Steps, in order: `ip link add dev IFACE type wireguard` (or attach to an existing WireGuard
 * link), `ip link set dev IFACE mtu MTU`, `ip addr add CIDR dev IFACE` for each address (an
 * IPv6 address with prefix /48 installs the /48 route itself), `ip route replace CIDR dev
 * IFACE` for each extra route, `ip link set dev IFACE up`. A failure after the link was
 * created deletes it again, so nothing is left half made.
 *
 * Privileges: CAP_NET_ADMIN in the namespace. Errors are `WireGuardError` with `op` naming
 * the step (`create`, `mtu`, `address`, `route`, `up`, `delete`) and `errno` when `ip`'s
 * message names one (EPERM, EEXIST, ENODEV, EOPNOTSUPP for a kernel without WireGuard, …).
 * IPv6 disabled on the host makes `ip addr add` fail with EACCES; the error says how to
 * enable it. A bad `init` (name, MTU, CIDR text, a knob out of range) is an
 * `InvalidConfigError` before anything runs: `WireGuardError` is only for the host refusing.
 */
import { execFile } from 'node:child_process'
import { resolve } from '../config.js'
import { InvalidConfigError, WireGuardError } from '../errors.js'
import { parseCidr } from './cidr.js'
import { checkKernelIfaceName } from './netlink-codec.js'

export interface KernelLinkInit {
  /** Interface name, 1–15 bytes, no `/` or whitespace. */
  iface: string
  /**
   * MTU in bytes; default 1420 (DESIGN §5: `lan` 1420 = 1500 − 80 bytes of IPv6+UDP+WireGuard
   * overhead; `wan` 1280, the IPv6 minimum, for paths with unknown MTU). Range [1280, 65535]:
   * IPv6 needs at least 1280.
   */
  mtu?: number
  /** Addresses with their on-link prefix, CIDR text: `fd12:3456:789a::1/48` also routes the /48. Default none. */
  addresses?: string[]
  /** Further prefixes routed into the interface (`ip route replace`). Default none. */
  routes?: string[]
  /**
   * What to do when a link named `iface` exists: `attach` (default) uses it if it is a
   * WireGuard link (and `remove()` then leaves it); `fail` throws EEXIST.
   */
  ifExists?: 'attach' | 'fail'
  /** The `ip` binary; default `ip` on PATH. */
  ipCommand?: string
  /** Network namespace (`ip -n NETNS …`); default the caller's. */
  netns?: string
  /** Time allowed to each `ip` call, ms; default 10,000 (`ip` answers in milliseconds; this catches a hung one). Range [1, 600,000]. */
  commandTimeoutMs?: number
  /** Runs `ip` with its arguments; default `execFile`. For tests. */
  run?: IpRunner
}

/** Runs `ip ARGS`; resolves with stdout, rejects with an error whose `stderr` holds ip's message. */
export type IpRunner = (command: string, args: string[], timeoutMs: number) => Promise<string>

export interface KernelLink {
  readonly iface: string
  /** True when `createKernelLink` made the link (false when it attached to one). */
  readonly created: boolean
  /** Deletes the link if it was created here; idempotent. */
  remove (): Promise<void>
}

const SPEC = {
  mtu: { default: 1420, min: 1280, max: 65535, integer: true },
  commandTimeoutMs: { default: 10_000, min: 1, max: 600_000, integer: true }
}

const defaultRun: IpRunner = async (command, args, timeoutMs) => await new Promise((resolve, reject) => {
  execFile(command, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
    if (err !== null) reject(Object.assign(err, { stderr }))
    else resolve(stdout)
  })
})

/** ip's messages (glibc strerror text) and their errno. */
const MESSAGES: Array<[RegExp, number]> = [
  [/Operation not permitted/i, 1],
  [/No such file or directory/i, 2],
  [/Permission denied/i, 13],
  [/File exists/i, 17],
  [/No such device|Cannot find device/i, 19],
  [/Invalid argument/i, 22],
  [/Unknown device type|Operation not supported|not supported/i, 95]
]

function errnoOf (text: string): number | undefined {
  for (const [re, n] of MESSAGES) if (re.test(text)) return n
  return undefined
}

export async function createKernelLink (init: KernelLinkInit): Promise<KernelLink> {
  if (typeof init !== 'object' || init === null) throw new InvalidConfigError('kernel link init must be an object')
  const iface = checkKernelIfaceName(init.iface)
  const { mtu, commandTimeoutMs: timeoutMs } = resolve(SPEC, init)
  if (init.ifExists !== undefined && init.ifExists !== 'attach' && init.ifExists !== 'fail') throw new InvalidConfigError(`ifExists must be 'attach' or 'fail', got ${JSON.stringify(String(init.ifExists))}`)
  for (const [what, list] of [['addresses', init.addresses], ['routes', init.routes]] as const) {
    if (list !== undefined && (!Array.isArray(list) || list.some(c => typeof c !== 'string'))) throw new InvalidConfigError(`${what} must be an array of CIDR strings`)
  }
  for (const c of [...(init.addresses ?? []), ...(init.routes ?? [])]) {
    const slash = c.indexOf('/')
    try {
      // Addresses keep their host bits (fd12::1/48); check them as a /128 or /32 plus a valid prefix.
      const addr = parseCidr(`${c.slice(0, slash)}/${c.includes(':') ? 128 : 32}`)
      const prefix = Number(c.slice(slash + 1))
      if (slash < 0 || !/^\d{1,3}$/.test(c.slice(slash + 1)) || prefix > (addr.family === 4 ? 32 : 128)) throw new Error('bad prefix')
    } catch (err) {
      throw new InvalidConfigError(`address or route must be CIDR text, got ${JSON.stringify(c)}`, { cause: err })
    }
  }
  const run = init.run ?? defaultRun
  const cmd = init.ipCommand ?? 'ip'
  const ns = init.netns !== undefined ? ['-n', init.netns] : []
  const ip = async (op: string, args: string[]): Promise<string> => {
    try {
      return await run(cmd, [...ns, ...args], timeoutMs)
    } catch (err) {
      const text = String((err as { stderr?: unknown }).stderr ?? '') + ' ' + (err as Error).message
      const errno = (err as { code?: unknown }).code === 'ENOENT' ? 2 : errnoOf(text)
      let hint = ''
      if (op === 'create' && errno === 95) hint = ': the kernel has no WireGuard (`modprobe wireguard`), or use wireguard-go with the uapi backend'
      if (op === 'address' && errno === 13) hint = ': IPv6 is disabled on this host; enable it with `sysctl -w net.ipv6.conf.all.disable_ipv6=0` (and drop ipv6.disable=1 from the kernel command line)'
      if ((err as { code?: unknown }).code === 'ENOENT') hint = `: \`${cmd}\` (iproute2) is not installed`
      throw new WireGuardError(`${cmd} ${args.join(' ')} failed: ${text.trim().split('\n')[0]}${hint}`, { backend: 'netlink', op, errno, cause: err })
    }
  }

  let created = false
  try {
    await ip('create', ['link', 'add', 'dev', iface, 'type', 'wireguard'])
    created = true
  } catch (err) {
    if (!(err instanceof WireGuardError && err.errno === 17) || init.ifExists === 'fail') throw err
    const details = await ip('create', ['-d', 'link', 'show', 'dev', iface])
    if (!/\bwireguard\b/.test(details)) throw new WireGuardError(`${iface} exists and is not a wireguard link`, { backend: 'netlink', op: 'create', errno: 17 })
  }
  const remove = async (): Promise<void> => {
    if (!created) return
    created = false
    await ip('delete', ['link', 'del', 'dev', iface])
  }
  try {
    await ip('mtu', ['link', 'set', 'dev', iface, 'mtu', String(mtu)])
    for (const a of init.addresses ?? []) {
      try {
        await ip('address', ['addr', 'add', a, 'dev', iface])
      } catch (err) {
        if (!(err instanceof WireGuardError && err.errno === 17)) throw err // already there: fine when attaching
      }
    }
    for (const r of init.routes ?? []) await ip('route', ['route', 'replace', r, 'dev', iface])
    await ip('up', ['link', 'set', 'dev', iface, 'up'])
  } catch (err) {
    await remove().catch(() => {})
    throw err
  }
  const wasCreated = created
  return { iface, get created () { return wasCreated }, remove }
}
