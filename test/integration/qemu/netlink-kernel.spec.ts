/**
 * Kernel end to end (issue 4's acceptance): the netlink backend against real kernel
 * WireGuard, in Debian's cloud kernel booted under qemu TCG (this machine's kernel has no
 * WireGuard; KVM does not boot here). Needs root (apt-get download into /var/cache),
 * qemu-system-x86_64, busybox (static), wg and ip; skipped with the reason outside CI,
 * failed under CI=true. The guest (guest.ts) does the checking and prints one result line.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { expect } from 'chai'
import { hasTool, requireOrSkipIf } from '../../helpers/require-tool.js'
import { buildInitramfs, bundleGuest, ensureKernel } from './artefacts.js'

/** TCG on 2 busy cores: a boot plus the test took ~60 s when measured; leave room. */
const BOOT_TIMEOUT_MS = 420_000

interface GuestResult {
  ok: boolean
  failures: string[]
  steps: Record<string, number | boolean>
  errnos: Record<string, number | string>
  ms: Record<string, number>
  kernel: string
}

describe('integration/qemu: netlink backend on kernel WireGuard', function () {
  this.timeout(BOOT_TIMEOUT_MS + 180_000)
  let dir = ''
  let result: GuestResult | undefined
  let console_ = ''

  before(async function () {
    const missing = ['qemu-system-x86_64', 'busybox', 'wg', 'ip', 'dpkg', 'apt-get'].filter(t => !hasTool(t))
    requireOrSkipIf(this, process.getuid?.() === 0, 'root', 'the kernel is fetched with apt-get into /var/cache/wiremesh')
    requireOrSkipIf(this, missing.length === 0, missing.join(', '), '.ci/run installs qemu-system-x86, busybox-static, wireguard-tools, iproute2')
    dir = mkdtempSync(join(tmpdir(), 'wiremesh-qemu-'))
    const t0 = performance.now()
    const kernel = ensureKernel(line => console.log(`      ${line}`))
    const initrd = join(dir, 'initramfs.cpio')
    const size = buildInitramfs({ kernel, guestJs: await bundleGuest(), out: initrd })
    const t1 = performance.now()
    console.log(`      ${kernel.name}, initramfs ${(size / 1e6).toFixed(0)} MB, prepared in ${Math.round(t1 - t0)} ms`)
    console_ = await boot(kernel.vmlinuz, initrd)
    writeFileSync(join(dir, 'console.log'), console_)
    console.log(`      guest ran in ${Math.round(performance.now() - t1)} ms`)
    // The serial console may put terminal escapes before the line: find the marker anywhere.
    const m = /WIREMESH-QEMU-RESULT (\{.*\})\r?$/m.exec(console_)
    if (m !== null) result = JSON.parse(m[1]) as GuestResult
    if (result !== undefined) console.log(`      guest timings (ms): ${JSON.stringify(result.ms)}; steps ${JSON.stringify(result.steps)}`)
  })

  after(() => { if (dir !== '') rmSync(dir, { recursive: true, force: true }) })

  function res (): GuestResult {
    expect(result, `no result line from the guest; console tail:\n${console_.slice(-4000)}`).to.not.equal(undefined)
    return result!
  }

  it('boots Debian\'s kernel with the WireGuard modules loaded', () => {
    expect(console_).to.not.contain('WIREMESH-QEMU-INSMOD-FAILED')
    expect(res().kernel).to.match(/^6\.1\.0-\d+-cloud-amd64$/)
  })

  it('creates the link, applies 1,000 peers and reads them back identical, removes 500, and wg show agrees at each step', () => {
    const r = res()
    expect(r.failures, r.failures.join('\n')).to.deep.equal([])
    expect(r.ok).to.equal(true)
    expect(r.steps.linkCreated).to.equal(true)
    expect(r.steps['after1000.mismatched']).to.equal(0)
    expect(r.steps['after1000.wgMismatched']).to.equal(0)
    expect(r.steps['after500.mismatched']).to.equal(0)
    expect(r.steps['after500.wgMismatched']).to.equal(0)
    expect(r.steps.bigPeerIps).to.equal(600) // a peer split over SET messages and continued over dump messages
    expect(r.steps.setMessages as number).to.be.greaterThan(10)
  })

  it('a refused or malformed request is a WireGuardError with the kernel\'s errno', () => {
    const e = res().errnos
    expect(e.readMissingDevice).to.equal(19) // ENODEV
    expect(e.applyMissingDevice).to.equal(19)
    expect(e.maskOver128).to.equal(22) // EINVAL, from set_allowedip
    // The policy's NLA_EXACT_LEN check answers a 31-byte key with ERANGE, not EINVAL.
    expect(e.privateKey31Bytes).to.equal(34)
    // Not atomic: the kernel created the peer before it refused its allowed IP.
    expect(res().steps.peersAfterRefusedMask).to.equal(501)
  })
})

/** Boots the guest; resolves with its console when it powers off, rejects after the timeout (qemu killed by PID). */
async function boot (vmlinuz: string, initrd: string): Promise<string> {
  const args = ['-accel', 'tcg,thread=multi', '-cpu', 'max', '-m', '1024', '-smp', '2', '-nographic', '-no-reboot',
    '-kernel', vmlinuz, '-initrd', initrd, '-append', 'console=ttyS0 rdinit=/init panic=-1 quiet', '-nic', 'none']
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8') })
  child.stderr.on('data', (d: Buffer) => { out += d.toString('utf8') })
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
      reject(new Error(`qemu did not power off within ${BOOT_TIMEOUT_MS} ms; console tail:\n${out.slice(-4000)}`))
    }, BOOT_TIMEOUT_MS)
    child.on('error', err => { clearTimeout(timer); reject(err) })
    child.on('exit', () => { clearTimeout(timer); resolve(out) })
  })
}
