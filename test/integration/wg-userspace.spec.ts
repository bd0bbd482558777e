/**
 * Userspace end to end (root; wireguard-go, wg, ip, ping): three network namespaces on a veth
 * bridge (a fourth namespace holds the bridge), each running wireguard-go and a Mesh in its own
 * process (wg-userspace-child.ts, started with `ip netns exec`, so its sockets live there),
 * joined through invites. Checked from outside with `wg show IFACE dump` and `ping -6` in the
 * namespaces: every node gets the other two as peers with the right keys, /128s, endpoints
 * and keepalive 25, and pings cross both ways; a peer removed by hand is back within one
 * resync; a revoked node's peer goes everywhere, the pings to it stop, and its key cannot be
 * enrolled again. Once with the uapi backend, once with wg-cli.
 *
 * Everything made is removed by name or PID in `after`: the child processes and their
 * wireguard-go (by PID), the UAPI sockets (by path), the namespaces (by name, which takes the
 * veths and the bridge with them). Skipped with the reason when not root or a tool is
 * missing; failed under CI=true.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import type { WgPeer } from '../../lib/wireguard/backend.js'
import { parseDump } from '../../lib/wireguard/wg-dump.js'
import { DEFAULT_SOCKET_DIR } from '../../lib/wireguard/uapi.js'
import { requireOrSkip, requireRootOrSkip } from '../helpers/require-tool.js'
import { createNetns, deleteNetns, uniqueTag } from '../wireguard/netns.js'
import type { ChildReply, ChildRequest } from './wg-userspace-child.js'

const CHILD = fileURLToPath(new URL('./wg-userspace-child.ts', import.meta.url))
const NODES = 3
const WG_PORT = 51820
const GOSSIP_PORT = 51821
const RESYNC_MS = 2000
const NOT_AUTHORIZED = 'WIREMESH_ERR_NOT_AUTHORIZED'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
async function run (cmd: string, args: string[], timeoutMs = 10_000): Promise<{ code: number, out: string }> {
  return await new Promise(resolve => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1
      resolve({ code, out: stdout + stderr })
    })
  })
}

async function must (cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.out.trim()}`)
  return r.out
}

/** A node process inside its namespace, with a request/reply call. */
class Child {
  readonly proc: ChildProcess
  private next = 0
  private readonly waiting = new Map<number, (r: ChildReply) => void>()
  exited = false

  constructor (readonly ns: string) {
    // `ip netns exec` execs node in place: the PID is the node's, and the IPC fd is inherited.
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', CHILD], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.proc.on('message', (m: { id: number, reply: ChildReply }) => { this.waiting.get(m.id)?.(m.reply); this.waiting.delete(m.id) })
    this.proc.on('exit', () => {
      this.exited = true
      for (const w of this.waiting.values()) w({ ok: false, error: `child in ${ns} exited` })
      this.waiting.clear()
    })
  }

  /** The reply, whatever it says (an error reply is returned, not thrown). */
  async ask (req: ChildRequest, timeoutMs = 30_000): Promise<ChildReply> {
    if (this.exited) throw new Error(`child in ${this.ns} has exited`)
    const id = ++this.next
    return await new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.waiting.delete(id); reject(new Error(`child in ${this.ns}: ${req.op} timed out`)) }, timeoutMs)
      this.waiting.set(id, r => { clearTimeout(t); resolve(r) })
      this.proc.send({ id, req })
    })
  }

  async call (req: ChildRequest, timeoutMs?: number): Promise<ChildReply> {
    const r = await this.ask(req, timeoutMs)
    if (!r.ok) throw new Error(`child in ${this.ns}: ${req.op} failed: ${r.error ?? ''} (${r.code ?? ''})`)
    return r
  }

  /** Asks it to stop; SIGKILL by PID after `graceMs`. */
  async stop (graceMs = 8000): Promise<void> {
    if (this.exited) return
    const exited = new Promise<void>(resolve => this.proc.once('exit', () => resolve()))
    this.ask({ op: 'stop' }, graceMs).catch(() => {})
    const t = setTimeout(() => { if (!this.exited) this.proc.kill('SIGKILL') }, graceMs)
    await exited
    clearTimeout(t)
  }
}

interface Node {
  ns: string
  iface: string
  underlay: string
  child: Child
  wgPublicKey: string
  signPublicKey: string
  wgGoPid: number
  overlay: string
  /** Base64: its proof of possession for the org (pop.ts), once the org exists. */
  pop: string
}

for (const backend of ['uapi', 'wg-cli'] as const) {
  describe(`integration: userspace WireGuard mesh in namespaces (${backend} backend, root)`, function () {
    this.timeout(120_000)
    const tag = uniqueTag()
    const namespaces: string[] = []
    const nodes: Node[] = []
    let dir: string | undefined

    async function peersOf (n: Node): Promise<WgPeer[]> {
      return parseDump(await must('ip', ['netns', 'exec', n.ns, 'wg', 'show', n.iface, 'dump'])).peers
    }

    async function ping (from: Node, to: Node, count = 1): Promise<boolean> {
      return (await run('ip', ['netns', 'exec', from.ns, 'ping', '-6', '-n', '-c', String(count), '-W', '1', to.overlay])).code === 0
    }

    async function waitFor (what: string, ok: () => Promise<boolean>, ms: number): Promise<number> {
      const t0 = Date.now()
      while (!(await ok())) {
        if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`)
        await sleep(100)
      }
      return Date.now() - t0
    }

    /** True when `n` has exactly the peers in `others`, each as the reconciler should have written it. */
    async function hasPeers (n: Node, others: Node[]): Promise<boolean> {
      const ps = await peersOf(n)
      if (ps.length !== others.length) return false
      return others.every(o => {
        const p = ps.find(x => x.publicKey.toBase64() === o.wgPublicKey)
        return p !== undefined && p.allowedIps.length === 1 && p.allowedIps[0] === `${o.overlay}/128` &&
          p.endpoint?.host === o.underlay && p.endpoint.port === WG_PORT && p.persistentKeepaliveS === 25
      })
    }

    before(async function () {
      requireRootOrSkip(this, 'creates network namespaces, veths and TUN devices')
      for (const t of ['wireguard-go', 'wg', 'ip', 'ping']) requireOrSkip(this, t, 'runs real userspace WireGuard between namespaces')
      this.timeout(120_000)
      const t0 = Date.now()
      dir = mkdtempSync(join(tmpdir(), 'wiremesh-wgu-'))
      const bridge = createNetns(`${tag}b`)
      namespaces.push(bridge)
      await must('ip', ['-n', bridge, 'link', 'add', 'br0', 'type', 'bridge'])
      await must('ip', ['-n', bridge, 'link', 'set', 'br0', 'up'])
      for (let i = 0; i < NODES; i++) {
        const ns = createNetns(`${tag}n${i}`)
        namespaces.push(ns)
        await must('ip', ['-n', bridge, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
        await must('ip', ['-n', bridge, 'link', 'set', `p${i}`, 'master', 'br0', 'up'])
        const underlay = `10.77.0.${i + 1}`
        await must('ip', ['-n', ns, 'addr', 'add', `${underlay}/24`, 'dev', 'eth0'])
        await must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
        const child = new Child(ns)
        const iface = `wmg${tag}${i}`.slice(0, 15)
        const r = await child.call({ op: 'setup', stateDir: join(dir, `n${i}`), iface, listenPort: WG_PORT })
        nodes.push({ ns, iface, underlay, child, wgPublicKey: r.wgPublicKey!, signPublicKey: r.signPublicKey!, wgGoPid: r.wireguardGoPid!, overlay: '', pop: '' })
      }
      const [root, ...rest] = nodes
      const rootStarted = await root.child.call({ op: 'start', listen: `${root.underlay}:${GOSSIP_PORT}`, org: 'wgu', backend, resyncIntervalMs: RESYNC_MS })
      root.overlay = rootStarted.overlayAddress!
      for (const [i, n] of rest.entries()) {
        // The joiner proves possession of its signing key (pop.ts); the root enrolls it with that proof.
        n.pop = (await n.child.call({ op: 'prove', orgId: rootStarted.orgId! })).pop!
        const { token } = await root.child.call({ op: 'invite', wgPublicKey: n.wgPublicKey, signPublicKey: n.signPublicKey, pop: n.pop, name: `n${i + 1}` })
        n.overlay = (await n.child.call({ op: 'start', listen: `${n.underlay}:${GOSSIP_PORT}`, invite: token!, backend, resyncIntervalMs: RESYNC_MS })).overlayAddress!
      }
      console.log(`      set up ${NODES} namespaces, wireguard-go and meshes in ${Date.now() - t0} ms`)
    })

    after(async function () {
      this.timeout(60_000)
      await Promise.all(nodes.map(async n => await n.child.stop()))
      for (const n of nodes) {
        // wireguard-go outlives a killed child: end it by its PID, and drop its socket by path.
        try { process.kill(n.wgGoPid, 0); process.kill(n.wgGoPid, 'SIGKILL') } catch {}
        const sock = join(DEFAULT_SOCKET_DIR, `${n.iface}.sock`)
        if (existsSync(sock)) rmSync(sock, { force: true })
      }
      for (const ns of namespaces) deleteNetns(ns)
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    })

    it('each node gets the other two as peers (keys, /128s, endpoints, keepalive 25), and ping -6 crosses both ways', async function () {
      const ms = await waitFor('every node has both others as peers', async () => {
        for (const n of nodes) if (!(await hasPeers(n, nodes.filter(o => o !== n)))) return false
        return true
      }, 20_000)
      console.log(`      peers in place on all ${NODES} devices ${ms} ms after the last start`)
      const t0 = Date.now()
      for (const a of nodes) {
        for (const b of nodes) {
          if (a === b) continue
          await waitFor(`ping ${a.overlay} → ${b.overlay}`, async () => await ping(a, b), 15_000)
        }
      }
      console.log(`      ping -6 answered on all ${NODES * (NODES - 1)} directed pairs within ${Date.now() - t0} ms`)
      for (const n of nodes) {
        const s = (await n.child.call({ op: 'status' })).status as { wireguard: { kind: string, failures: number, managed: number }, errors: string[] }
        expect(s.wireguard).to.include({ kind: backend, failures: 0, managed: NODES - 1 })
        expect(s.errors).to.deep.equal([])
      }
    })

    it(`a peer removed by hand with wg set … remove is back within one resync (${RESYNC_MS} ms)`, async function () {
      const [a, b] = nodes
      await must('ip', ['netns', 'exec', a.ns, 'wg', 'set', a.iface, 'peer', b.wgPublicKey, 'remove'])
      expect((await peersOf(a)).some(p => p.publicKey.toBase64() === b.wgPublicKey)).to.equal(false)
      const ms = await waitFor('the removed peer is restored', async () => await hasPeers(a, nodes.filter(o => o !== a)), RESYNC_MS + 1500)
      console.log(`      restored after ${ms} ms`)
      await waitFor('ping over the restored peer', async () => await ping(a, b), 15_000)
    })

    it('revoking a node removes its peer everywhere, the pings to it stop, and its key cannot be enrolled again', async function () {
      const [root, keep, gone] = nodes
      expect(await ping(keep, gone)).to.equal(true)
      await root.child.call({ op: 'revoke', wgPublicKey: gone.wgPublicKey })
      const ms = await waitFor('the revoked peer is gone from the others', async () => await hasPeers(root, [keep]) && await hasPeers(keep, [root]), 20_000)
      console.log(`      revoked peer removed from both devices ${ms} ms after the revoke`)
      for (const n of [root, keep]) {
        expect(await ping(n, gone, 2), `${n.overlay} → revoked`).to.equal(false)
        expect(await ping(gone, n, 2), `revoked → ${n.overlay}`).to.equal(false)
      }
      expect(await ping(root, keep)).to.equal(true)
      const again = await root.child.ask({ op: 'enroll', wgPublicKey: gone.wgPublicKey, signPublicKey: gone.signPublicKey, pop: gone.pop, name: 'again' })
      expect(again).to.include({ ok: false, code: NOT_AUTHORIZED })
    })
  })
}
