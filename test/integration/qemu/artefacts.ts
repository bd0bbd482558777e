/**
 * What the kernel WireGuard test boots (TESTING.md, "Kernel WireGuard under qemu"):
 *
 * - Debian's cloud kernel (`linux-image-6.1.0-*-cloud-amd64`): fetched with `apt-get
 *   download` (the version `linux-image-cloud-amd64` depends on; a deb already in apt's
 *   archive when that fails), unpacked with `dpkg -x`, and its vmlinuz plus the nine modules
 *   WireGuard needs kept under `CACHE_DIR/<package>/`, so reruns skip all of it.
 * - An uncompressed newc initramfs, built fresh each run (the guest bundle changes with the
 *   code): busybox-static as /bin, the host's `node`, `wg` and `ip` with the shared libraries
 *   `ldd` names, the modules, `init.sh` as /init, and /app: the guest script bundled by
 *   esbuild with the `netlink` package (and node-gyp-build) beside it. Not compressing it
 *   costs a larger file but saves gunzip under TCG, which is the slower of the two.
 */
import { execFileSync } from 'node:child_process'
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const REPO = join(HERE, '..', '..', '..')

/** Where downloads and extracted kernels live between runs (`WIREMESH_QEMU_CACHE` overrides). */
export const CACHE_DIR = process.env.WIREMESH_QEMU_CACHE ?? '/var/cache/wiremesh/qemu'

/** Load order (each needs the ones before it). */
export const MODULES = ['libchacha', 'chacha-x86_64', 'poly1305-x86_64', 'libchacha20poly1305', 'udp_tunnel', 'ip6_udp_tunnel', 'libcurve25519-generic', 'curve25519-x86_64', 'wireguard']

export interface Kernel { name: string, vmlinuz: string, modulesDir: string }

function sh (cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** The extracted kernel, fetched and unpacked on first use. */
export function ensureKernel (log: (line: string) => void): Kernel {
  mkdirSync(CACHE_DIR, { recursive: true })
  const cached = readdirSync(CACHE_DIR).filter(n => /^linux-image-6\.1\.0-\d+-cloud-amd64$/.test(n) && existsSync(join(CACHE_DIR, n, 'ready'))).sort()
  if (cached.length > 0) {
    const name = cached[cached.length - 1]
    return { name, vmlinuz: join(CACHE_DIR, name, 'vmlinuz'), modulesDir: join(CACHE_DIR, name, 'modules') }
  }
  let deb: string | undefined
  try {
    const dep = /Depends: (linux-image-6\.1\.0-\d+-cloud-amd64)/.exec(sh('apt-cache', ['depends', 'linux-image-cloud-amd64']))?.[1]
    if (dep === undefined) throw new Error('apt-cache names no linux-image-6.1.0-*-cloud-amd64')
    log(`apt-get download ${dep}`)
    sh('apt-get', ['download', '-q', dep], CACHE_DIR)
    deb = readdirSync(CACHE_DIR).find(n => n.startsWith(`${dep}_`) && n.endsWith('.deb'))
    if (deb !== undefined) deb = join(CACHE_DIR, deb)
  } catch (err) {
    log(`apt-get download failed (${(err as Error).message.split('\n')[0]}); looking in /var/cache/apt/archives`)
  }
  if (deb === undefined) {
    const archives = '/var/cache/apt/archives'
    const found = existsSync(archives) ? readdirSync(archives).filter(n => /^linux-image-6\.1\.0-\d+-cloud-amd64_.*\.deb$/.test(n)).sort() : []
    if (found.length === 0) throw new Error('no linux-image-6.1.0-*-cloud-amd64 deb: run apt-get update first')
    deb = join(archives, found[found.length - 1])
  }
  const name = /^(linux-image-6\.1\.0-\d+-cloud-amd64)_/.exec(deb.split('/').pop()!)![1]
  const tmp = join(CACHE_DIR, `${name}.extract-${process.pid}`)
  const out = join(CACHE_DIR, name)
  rmSync(tmp, { recursive: true, force: true })
  log(`dpkg -x ${deb}`)
  sh('dpkg', ['-x', deb, tmp])
  const boot = readdirSync(join(tmp, 'boot')).find(n => n.startsWith('vmlinuz-'))
  if (boot === undefined) throw new Error(`${deb} holds no vmlinuz`)
  const kos = new Map<string, string>()
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.ko')) kos.set(e.name.slice(0, -3), p)
    }
  }
  walk(join(tmp, 'lib', 'modules'))
  rmSync(out, { recursive: true, force: true })
  mkdirSync(join(out, 'modules'), { recursive: true })
  renameSync(join(tmp, 'boot', boot), join(out, 'vmlinuz'))
  for (const m of MODULES) {
    const p = kos.get(m)
    if (p === undefined) throw new Error(`${deb} has no ${m}.ko (compressed modules are not handled)`)
    renameSync(p, join(out, 'modules', `${m}.ko`))
  }
  rmSync(tmp, { recursive: true, force: true })
  closeSync(openSync(join(out, 'ready'), 'w'))
  return { name, vmlinuz: join(out, 'vmlinuz'), modulesDir: join(out, 'modules') }
}

/** Bundles the guest script for Node (ESM), the `netlink` package left as an import. */
export async function bundleGuest (): Promise<string> {
  const esbuild = await import('esbuild')
  const r = await esbuild.build({
    entryPoints: [join(HERE, 'guest.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['netlink'],
    write: false,
    logLevel: 'silent'
  })
  return r.outputFiles[0].text
}

/** The shared libraries `ldd` lists for `bins` (the loader included), as absolute paths. */
function sharedLibs (bins: string[]): string[] {
  const libs = new Set<string>()
  for (const b of bins) {
    for (const line of sh('ldd', [b]).split('\n')) {
      const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line)
      if (m !== null) libs.add(m[1])
    }
  }
  return [...libs]
}

/** A newc cpio archive written entry by entry. */
class Cpio {
  private readonly fd: number
  private ino = 1
  private readonly dirs = new Set<string>(['.'])
  constructor (path: string) { this.fd = openSync(path, 'w') }

  private entry (name: string, mode: number, data: Uint8Array, rdev: [number, number] = [0, 0]): void {
    const hex = (n: number): string => n.toString(16).padStart(8, '0')
    const nameBytes = Buffer.from(name + '\0')
    const head = '070701' + [this.ino++, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0].map(hex).join('')
    const pad = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4)
    writeSync(this.fd, Buffer.concat([Buffer.from(head), nameBytes, pad(110 + nameBytes.length)]))
    if (data.length > 0) { writeSync(this.fd, data); writeSync(this.fd, pad(data.length)) }
  }

  dir (name: string): void {
    if (this.dirs.has(name)) return
    const parent = dirname(name)
    if (parent !== '.' && parent !== '/') this.dir(parent)
    this.dirs.add(name)
    this.entry(name, 0o040755, new Uint8Array(0))
  }

  file (name: string, data: Uint8Array, mode = 0o755): void { this.dir(dirname(name)); this.entry(name, 0o100000 | mode, data) }
  symlink (name: string, target: string): void { this.dir(dirname(name)); this.entry(name, 0o120777, Buffer.from(target)) }
  charDev (name: string, major: number, minor: number): void { this.dir(dirname(name)); this.entry(name, 0o020600, new Uint8Array(0), [major, minor]) }
  /** A host directory tree copied to `name`. */
  tree (name: string, host: string): void {
    for (const e of readdirSync(host, { withFileTypes: true })) {
      const p = join(host, e.name)
      const st = lstatSync(p)
      if (st.isDirectory()) this.tree(join(name, e.name), p)
      else if (st.isSymbolicLink()) this.symlink(join(name, e.name), readlinkSync(p))
      else if (st.isFile()) this.file(join(name, e.name), readFileSync(p), st.mode & 0o777)
    }
  }

  close (): void { this.entry('TRAILER!!!', 0, new Uint8Array(0)); closeSync(this.fd) }
}

export interface InitramfsInput { kernel: Kernel, guestJs: string, out: string }

/** Writes the initramfs to `out`; returns its size in bytes. */
export function buildInitramfs ({ kernel, guestJs, out }: InitramfsInput): number {
  const which = (t: string): string => realpathSync(sh('sh', ['-c', `command -v ${t}`]).trim())
  const bins: Record<string, string> = { 'usr/bin/node': which('node'), 'usr/bin/wg': which('wg'), 'usr/sbin/ip': which('ip') }
  const nm = join(REPO, 'node_modules')
  const addon = join(nm, 'netlink', 'prebuilds', 'linux-x64', 'node.napi.node')
  const c = new Cpio(out)
  for (const d of ['dev', 'proc', 'sys', 'tmp', 'run', 'etc']) c.dir(d)
  c.charDev('dev/console', 5, 1)
  c.charDev('dev/null', 1, 3)
  c.file('bin/busybox', readFileSync(which('busybox')))
  c.symlink('bin/sh', 'busybox')
  c.file('init', readFileSync(join(HERE, 'init.sh')))
  for (const [to, from] of Object.entries(bins)) c.file(to, readFileSync(from))
  for (const lib of sharedLibs([...Object.values(bins), addon])) c.file(lib.slice(1), readFileSync(realpathSync(lib)))
  for (const m of MODULES) c.file(`modules/${m}.ko`, readFileSync(join(kernel.modulesDir, `${m}.ko`)), 0o644)
  c.file('app/guest.mjs', Buffer.from(guestJs), 0o644)
  c.file('app/node_modules/netlink/package.json', readFileSync(join(nm, 'netlink', 'package.json')), 0o644)
  c.tree('app/node_modules/netlink/dist', join(nm, 'netlink', 'dist'))
  c.tree('app/node_modules/netlink/prebuilds/linux-x64', join(nm, 'netlink', 'prebuilds', 'linux-x64'))
  c.tree('app/node_modules/node-gyp-build', join(nm, 'node-gyp-build'))
  c.close()
  return statSync(out).size
}
