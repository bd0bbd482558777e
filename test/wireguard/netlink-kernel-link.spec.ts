import { execFileSync } from 'node:child_process'
import { expect } from 'chai'
import type { WireGuardError } from '../../lib/errors.js'
import { createKernelLink, type IpRunner, type KernelLinkInit } from '../../lib/wireguard/kernel-link.js'
import { expectRejectCode } from '../helpers/expect-code.js'
import { hasTool, requireOrSkipIf } from '../helpers/require-tool.js'

/** Records every `ip` call; `fail` maps an argv prefix to ip's stderr. */
function recorder (fail: Record<string, string> = {}, out: Record<string, string> = {}): { calls: string[], run: IpRunner } {
  const calls: string[] = []
  const run: IpRunner = async (cmd, args) => {
    const line = [cmd, ...args].join(' ')
    calls.push(line)
    for (const [prefix, stderr] of Object.entries(fail)) if (line.startsWith(prefix)) throw Object.assign(new Error('Command failed'), { stderr })
    return Object.entries(out).find(([p]) => line.startsWith(p))?.[1] ?? ''
  }
  return { calls, run }
}

describe('wireguard/kernel-link', () => {
  it('creates the link, sets the MTU, adds addresses and routes, brings it up, and removes only what it made', async () => {
    const r = recorder()
    const link = await createKernelLink({ iface: 'wm0', mtu: 1280, addresses: ['fd12:3456:789a::1/48'], routes: ['fd99::/48'], netns: 'ns1', run: r.run })
    expect(r.calls).to.deep.equal([
      'ip -n ns1 link add dev wm0 type wireguard',
      'ip -n ns1 link set dev wm0 mtu 1280',
      'ip -n ns1 addr add fd12:3456:789a::1/48 dev wm0',
      'ip -n ns1 route replace fd99::/48 dev wm0',
      'ip -n ns1 link set dev wm0 up'
    ])
    expect(link.created).to.equal(true)
    await link.remove()
    await link.remove()
    expect(r.calls.slice(5)).to.deep.equal(['ip -n ns1 link del dev wm0'])
  })

  it('attaches to an existing wireguard link and leaves it on remove; refuses another kind or ifExists fail', async () => {
    const exists = { 'ip link add': 'RTNETLINK answers: File exists' }
    const r = recorder(exists, { 'ip -d link show': '5: wm0: <POINTOPOINT,NOARP> mtu 1420\n    link/none  promiscuity 0\n    wireguard addrgenmode none' })
    const link = await createKernelLink({ iface: 'wm0', run: r.run })
    expect(link.created).to.equal(false)
    await link.remove()
    expect(r.calls.some(c => c.includes('link del'))).to.equal(false)
    const veth = recorder(exists, { 'ip -d link show': '5: wm0: <BROADCAST> mtu 1500\n    veth' })
    expect((await expectRejectCode(createKernelLink({ iface: 'wm0', run: veth.run }), 'WIREMESH_ERR_WIREGUARD') as WireGuardError).errno).to.equal(17)
    expect((await expectRejectCode(createKernelLink({ iface: 'wm0', ifExists: 'fail', run: recorder(exists).run }), 'WIREMESH_ERR_WIREGUARD') as WireGuardError).errno).to.equal(17)
  })

  it('maps ip\'s errors to errnos, explains IPv6 disabled and a kernel without WireGuard, and deletes a half-made link', async () => {
    const noWg = await expectRejectCode(createKernelLink({ iface: 'wm0', run: recorder({ 'ip link add': 'Error: Unknown device type.' }).run }), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect([noWg.op, noWg.errno]).to.deep.equal(['create', 95])
    const r = recorder({ 'ip addr add': 'RTNETLINK answers: Permission denied' })
    const v6 = await expectRejectCode(createKernelLink({ iface: 'wm0', addresses: ['fd00::1/48'], run: r.run }), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect([v6.op, v6.errno]).to.deep.equal(['address', 13])
    expect(v6.message).to.contain('disable_ipv6=0')
    expect(r.calls[r.calls.length - 1]).to.equal('ip link del dev wm0')
    const perm = await expectRejectCode(createKernelLink({ iface: 'wm0', run: recorder({ 'ip link add': 'RTNETLINK answers: Operation not permitted' }).run }), 'WIREMESH_ERR_WIREGUARD') as WireGuardError
    expect(perm.errno).to.equal(1)
  })

  it('refuses bad names, MTUs, CIDRs and knobs before running anything: InvalidConfigError', async () => {
    const r = recorder()
    for (const init of [{ iface: 'a'.repeat(16) }, { iface: 'a b' }, { iface: '' }, { iface: 'wm0', mtu: 1000 }, { iface: 'wm0', mtu: 1420.5 }, { iface: 'wm0', addresses: ['fd00::1'] },
      { iface: 'wm0', routes: ['fd00::/129'] }, { iface: 'wm0', commandTimeoutMs: 0 }, { iface: 'wm0', ifExists: 'maybe' }, { iface: 'wm0', addresses: 'fd00::1/48' }]) {
      await expectRejectCode(createKernelLink({ ...init, run: r.run } as KernelLinkInit), 'WIREMESH_ERR_INVALID_CONFIG')
    }
    expect(r.calls).to.deep.equal([])
  })

  it('on this machine\'s kernel: a wireguard link is made and removed, or refused with EOPNOTSUPP where the kernel lacks it', async function () {
    requireOrSkipIf(this, process.getuid?.() === 0 && hasTool('ip'), 'root and iproute2', 'creating a link needs CAP_NET_ADMIN')
    const iface = `wmk${process.pid % 100000}`
    try {
      const link = await createKernelLink({ iface })
      expect(execFileSync('ip', ['-d', 'link', 'show', 'dev', iface], { encoding: 'utf8' })).to.match(/wireguard/)
      await link.remove()
      expect(() => execFileSync('ip', ['link', 'show', 'dev', iface], { stdio: 'ignore' })).to.throw()
    } catch (err) {
      expect((err as WireGuardError).code).to.equal('WIREMESH_ERR_WIREGUARD')
      expect((err as WireGuardError).errno).to.equal(95)
    }
  })
})
