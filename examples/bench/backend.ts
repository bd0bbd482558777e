/**
 * `npm run bench -- backend [--peers N] [--runs R] [--json]` (root; wireguard-go, wg, ip):
 * on a real wireguard-go device in a network namespace made for the run, for each method:
 *
 *   applyMs   adding N peers to an empty device (median of R runs; the device is emptied, untimed, before each)
 *             as the reconciler writes them by default: a /128, an endpoint and keepalive 25
 *   deviceCpuMs  wireguard-go's own CPU time (user + system, /proc/PID/stat, in clock ticks of
 *             10 ms at the usual CLK_TCK 100) during those applies, median: how much of
 *             applyMs the device spends, not us (it can exceed applyMs: its goroutines use
 *             more than one core)
 *   applyNoKeepaliveMs  the same peers without keepalive, median of R (batched methods): on an
 *             up device wireguard-go sends a handshake initiation for every peer whose
 *             keepalive is turned on, synchronously inside the request, so the difference to
 *             applyMs is those N handshakes
 *   resyncMs  re-applying the unchanged set: read() + diff against the desired peers + send
 *             nothing (the diff must be empty, or the bench fails); median of max(R, 10) runs
 *             after one untimed run, as a periodic resync runs in a warm process
 *
 * Methods: `uapi` (one `set=1` for the batch), `wg-cli` (one `wg set` with N peer clauses),
 * and the baseline `wg-set-per-peer` (one `wg set IFACE peer K …` process per peer, whose
 * resync reads with `wg show dump`). Targets at N = 1,000 (issue 4): batched apply ≤ 100 ms and
 * ≥ 15× the baseline, unchanged resync ≤ 30 ms. `--json` prints
 * `[{ method, peers, applyMs, resyncMs, deviceCpuMs, applyNoKeepaliveMs?, speedupVsPerPeer? }]`.
 */
import { execFile, execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { SeededRandom } from '../../lib/random.js'
import type { DeviceState, PeerUpsert, WireGuardBackend } from '../../lib/wireguard/backend.js'
import { formatCidr, formatEndpoint } from '../../lib/wireguard/cidr.js'
import { createUserspaceLink } from '../../lib/wireguard/userspace-link.js'
import { WgCliBackend } from '../../lib/wireguard/wg-cli.js'
import { Key } from '../../lib/identity/key.js'
import { generateWgKeyPair } from '../../lib/identity/wg-key.js'
import { createNetns, deleteNetns, uniqueTag } from '../../test/wireguard/netns.js'
import { formatTable, median, nowMs, progress, round } from './measure.js'

const run = promisify(execFile)

interface Row { method: string, peers: number, applyMs: number, resyncMs: number, deviceCpuMs: number, applyNoKeepaliveMs?: number, speedupVsPerPeer?: number }

/** A process's user + system CPU time so far, ms (Linux `/proc/PID/stat` fields 14 and 15, in clock ticks). */
function cpuMsOf (pid: number, tickMs: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return (Number(rest[11]) + Number(rest[12])) * tickMs
}

function desiredPeers (n: number, seed: number): PeerUpsert[] {
  const r = new SeededRandom(seed)
  return Array.from({ length: n }, (_, i) => {
    const b = new Uint8Array(16)
    b.set([0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a])
    b.set(r.bytes(10), 6)
    return {
      publicKey: Key.fromBytes(r.bytes(32)),
      allowedIps: [formatCidr({ family: 6, bytes: b, prefix: 128 })],
      endpoint: { host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 51820 },
      persistentKeepaliveS: 25
    }
  })
}

/** The upserts that would bring `state` to `desired` (only what differs), as the reconciler diffs. */
export function diffPeers (desired: PeerUpsert[], state: DeviceState): PeerUpsert[] {
  const have = new Map(state.peers.map(p => [p.publicKey.mapKey, p]))
  const out: PeerUpsert[] = []
  for (const d of desired) {
    const p = have.get(d.publicKey.mapKey)
    const same = p !== undefined &&
      p.persistentKeepaliveS === (d.persistentKeepaliveS ?? 0) &&
      (d.endpoint === undefined || (p.endpoint?.host === d.endpoint.host && p.endpoint.port === d.endpoint.port)) &&
      p.allowedIps.length === d.allowedIps!.length && d.allowedIps!.every(ip => p.allowedIps.includes(ip))
    if (!same) out.push(d)
  }
  return out
}

/** Median wall ms of `fn` over `runs` (after an untimed `setup` each), and the median CPU ms `cpu()` advanced meanwhile. */
async function timeRuns (runs: number, setup: () => Promise<void>, fn: () => Promise<void>, cpu: () => number = () => 0): Promise<{ ms: number, cpuMs: number }> {
  const ms: number[] = []
  const cpuMs: number[] = []
  for (let i = 0; i < runs; i++) {
    await setup()
    const c0 = cpu()
    const t0 = nowMs()
    await fn()
    ms.push(nowMs() - t0)
    cpuMs.push(cpu() - c0)
  }
  return { ms: median(ms), cpuMs: median(cpuMs) }
}

export async function runBackendBench (argv: string[]): Promise<void> {
  let peers = 1000; let runs = 5; let json = false
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--peers') peers = Number(argv[++i])
    else if (argv[i] === '--runs') runs = Number(argv[++i])
    else if (argv[i] === '--json') json = true
    else throw new Error(`bench backend: unknown option ${argv[i]}`)
  }
  if (!Number.isInteger(peers) || peers < 1) throw new Error('bench backend: --peers must be a positive integer')
  if (!Number.isInteger(runs) || runs < 1) throw new Error('bench backend: --runs must be a positive integer')
  if (process.getuid?.() !== 0) throw new Error('bench backend: needs root (network namespaces, TUN)')

  const ns = createNetns()
  const link = await createUserspaceLink(`wmb${uniqueTag()}`, { netns: ns, privateKey: generateWgKeyPair().privateKey })
  const uapi = link.backend()
  const cli = new WgCliBackend(link.iface, { netns: ns })
  const desired = desiredPeers(peers, 1)
  const noKeepalive = desired.map(({ persistentKeepaliveS: _, ...p }) => p)
  const tickMs = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
  const deviceCpu = (): number => cpuMsOf(link.pid, tickMs)
  const empty = async (): Promise<void> => { await uapi.apply({ replacePeers: true }) }
  const resync = (b: WireGuardBackend) => async (): Promise<void> => {
    const todo = diffPeers(desired, await b.read())
    if (todo.length !== 0) throw new Error(`bench backend: ${b.kind} resync found ${todo.length} peers to change on an unchanged device`)
  }
  const rows: Row[] = []
  try {
    for (const b of [uapi, cli] as WireGuardBackend[]) {
      progress(`backend: ${b.kind}, ${peers} peers, ${runs} runs`)
      const bare = await timeRuns(runs, empty, async () => { await b.apply({ upserts: noKeepalive }) })
      const apply = await timeRuns(runs, empty, async () => { await b.apply({ upserts: desired }) }, deviceCpu)
      // One untimed read first: a periodic resync runs in a warm process (JIT, parse memo).
      await resync(b)()
      const resyncMs = (await timeRuns(Math.max(runs, 10), async () => {}, resync(b))).ms
      rows.push({ method: b.kind, peers, applyMs: apply.ms, resyncMs, deviceCpuMs: apply.cpuMs, applyNoKeepaliveMs: bare.ms })
    }
    progress(`backend: wg-set-per-peer, ${peers} peers, ${Math.min(runs, 3)} runs`)
    const perPeer = await timeRuns(Math.min(runs, 3), empty, async () => {
      for (const p of desired) {
        await run('ip', ['netns', 'exec', ns, 'wg', 'set', link.iface, 'peer', p.publicKey.toBase64(), 'allowed-ips', p.allowedIps!.join(','),
          'endpoint', formatEndpoint(p.endpoint!), 'persistent-keepalive', String(p.persistentKeepaliveS)])
      }
    }, deviceCpu)
    await resync(cli)()
    const perPeerResync = (await timeRuns(Math.max(runs, 10), async () => {}, resync(cli))).ms
    for (const r of rows) r.speedupVsPerPeer = round(perPeer.ms / r.applyMs, 1)!
    rows.push({ method: 'wg-set-per-peer', peers, applyMs: perPeer.ms, resyncMs: perPeerResync, deviceCpuMs: perPeer.cpuMs })
  } finally {
    await uapi.close()
    await cli.close()
    await link.destroy()
    deleteNetns(ns)
  }
  for (const r of rows) {
    r.applyMs = round(r.applyMs, 1)!
    r.resyncMs = round(r.resyncMs, 1)!
    if (r.applyNoKeepaliveMs !== undefined) r.applyNoKeepaliveMs = round(r.applyNoKeepaliveMs, 1)!
  }
  if (json) {
    console.log(JSON.stringify(rows, null, 2))
    return
  }
  console.log(formatTable([
    ['method', 'peers', 'apply ms', 'wireguard-go cpu ms', 'apply ms, no keepalive', 'resync ms', '× per-peer'],
    ...rows.map(r => [r.method, r.peers, r.applyMs, r.deviceCpuMs, r.applyNoKeepaliveMs ?? null, r.resyncMs, r.speedupVsPerPeer ?? null])
  ]))
  if (peers === 1000) {
    const batched = rows.filter(r => r.speedupVsPerPeer !== undefined)
    const ok = batched.every(r => r.applyMs <= 100 && r.speedupVsPerPeer! >= 15) && rows.every(r => r.method !== 'uapi' || r.resyncMs <= 30)
    console.log(`targets (batched apply ≤ 100 ms and ≥ 15× per-peer, uapi resync ≤ 30 ms): ${ok ? 'met' : 'MISSED'}`)
  }
}
