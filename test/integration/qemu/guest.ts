/**
 * Runs inside the qemu guest (bundled by artefacts.ts, started by init.sh), as root on
 * Debian's kernel with WireGuard loaded. Every step is checked here against what was sent and
 * against `wg show IFACE dump`; the host (netlink-kernel.spec.ts) only parses the one line
 *
 *   WIREMESH-QEMU-RESULT {"ok":…,"failures":[…],"steps":{…},"errnos":{…},"ms":{…}}
 *
 * and asserts on it. Kept lean: TCG runs this about 10–50× slower than the host would.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { WireGuardError } from '../../../lib/errors.js'
import { Key } from '../../../lib/identity/key.js'
import { clampPrivateKey, wgKeyPairFromPrivate } from '../../../lib/identity/wg-key.js'
import type { DeviceState, PeerUpsert, WgPeer } from '../../../lib/wireguard/backend.js'
import { canonicalCidr, formatEndpoint, parseEndpoint } from '../../../lib/wireguard/cidr.js'
import { createKernelLink } from '../../../lib/wireguard/kernel-link.js'
import { encodeSetDevice, NLA_HDRLEN, WGALLOWEDIP_A_CIDR_MASK } from '../../../lib/wireguard/netlink-codec.js'
import { NetlinkBackend } from '../../../lib/wireguard/netlink.js'

const IFACE = 'wm0'
const PEERS = 1000
const REMOVE = 500
/** Allowed IPs of peer 0: enough that both the SET and the kernel's dump split it. */
const BIG_PEER_IPS = 600

const failures: string[] = []
const steps: Record<string, unknown> = {}
const errnos: Record<string, number | string | undefined> = {}
const ms: Record<string, number> = {}

function check (ok: boolean, what: string): void { if (!ok) failures.push(what) }

async function timed<T> (name: string, f: () => Promise<T>): Promise<T> {
  const t = performance.now()
  const r = await f()
  ms[name] = Math.round(performance.now() - t)
  return r
}

function makePeers (): PeerUpsert[] {
  return Array.from({ length: PEERS }, (_, i) => {
    const ips = i === 0
      ? Array.from({ length: BIG_PEER_IPS }, (_, k) => `fd00:2::${(k + 1).toString(16)}/128`)
      : [`fd00:1::${(i + 1).toString(16)}/128`, ...(i % 4 === 0 ? [`10.${(i >> 8) & 255}.${i & 255}.0/24`] : [])]
    return {
      publicKey: Key.fromBytes(randomBytes(32)),
      allowedIps: ips,
      endpoint: i % 3 === 0 ? { host: `2001:db8::${(i + 1).toString(16)}`, port: 40000 + i } : { host: `192.0.2.${1 + (i % 250)}`, port: 20000 + i },
      persistentKeepaliveS: i % 2 === 0 ? 25 : 0
    }
  })
}

/** Differences between what the device reports and the peers that were sent (allowed IPs as sets). */
function diffWanted (state: DeviceState, wanted: PeerUpsert[], label: string): void {
  check(state.peers.length === wanted.length, `${label}: ${state.peers.length} peers, expected ${wanted.length}`)
  const got = new Map(state.peers.map(p => [p.publicKey.mapKey, p]))
  let bad = 0
  for (const w of wanted) {
    const p = got.get(w.publicKey.mapKey)
    const same = p !== undefined &&
      JSON.stringify([...p.allowedIps].sort()) === JSON.stringify([...w.allowedIps!].map(canonicalCidr).sort()) &&
      p.endpoint !== undefined && formatEndpoint(p.endpoint) === formatEndpoint(w.endpoint!) &&
      p.persistentKeepaliveS === w.persistentKeepaliveS && !p.hasPresharedKey
    if (!same && bad++ < 3) failures.push(`${label}: peer ${w.publicKey.toBase64()} differs: ${JSON.stringify(p)}`)
  }
  steps[`${label}.mismatched`] = bad
}

interface DumpPeer { key: string, endpoint: string, allowedIps: string[], keepalive: number }

/** `wg show IFACE dump`: the device line, then one tab-separated line per peer. */
function wgDump (): { publicKey: string, listenPort: number, peers: DumpPeer[] } {
  const lines = execFileSync('wg', ['show', IFACE, 'dump'], { encoding: 'utf8', maxBuffer: 64 << 20 }).trim().split('\n')
  const dev = lines[0].split('\t')
  return {
    publicKey: dev[1],
    listenPort: Number(dev[2]),
    peers: lines.slice(1).map(l => {
      const f = l.split('\t')
      return { key: f[0], endpoint: f[2] === '(none)' ? '' : formatEndpoint(parseEndpoint(f[2])), allowedIps: f[3] === '(none)' ? [] : f[3].split(',').map(canonicalCidr), keepalive: f[7] === 'off' ? 0 : Number(f[7]) }
    })
  }
}

/** `wg show` and the netlink read must agree peer for peer, allowed IPs in the same order. */
function diffWg (state: DeviceState, label: string): void {
  const dump = wgDump()
  check(dump.publicKey === state.publicKey?.toBase64(), `${label}: wg public key ${dump.publicKey}, netlink ${state.publicKey?.toBase64()}`)
  check(dump.listenPort === state.listenPort, `${label}: wg listen port ${dump.listenPort}, netlink ${state.listenPort}`)
  check(dump.peers.length === state.peers.length, `${label}: wg shows ${dump.peers.length} peers, netlink ${state.peers.length}`)
  const byKey = new Map<string, WgPeer>(state.peers.map(p => [p.publicKey.toBase64(), p]))
  let bad = 0
  for (const d of dump.peers) {
    const p = byKey.get(d.key)
    const same = p !== undefined && d.endpoint === (p.endpoint === undefined ? '' : formatEndpoint(p.endpoint)) &&
      JSON.stringify(d.allowedIps) === JSON.stringify(p.allowedIps) && d.keepalive === p.persistentKeepaliveS
    if (!same && bad++ < 3) failures.push(`${label}: wg peer ${JSON.stringify(d).slice(0, 300)} vs netlink ${JSON.stringify(p)?.slice(0, 300)}`)
  }
  steps[`${label}.wgMismatched`] = bad
}

async function errnoOf (f: () => Promise<unknown>): Promise<number | string | undefined> {
  try {
    await f()
    return 'no error'
  } catch (err) {
    return err instanceof WireGuardError ? err.errno : `${(err as Error).name}: ${(err as Error).message}`
  }
}

async function main (): Promise<void> {
  const link = await timed('createLink', async () => await createKernelLink({ iface: IFACE, mtu: 1420, addresses: ['fd00:1::1/48'] }))
  steps.linkCreated = link.created
  const addr = execFileSync('ip', ['-6', 'addr', 'show', 'dev', IFACE], { encoding: 'utf8' })
  check(/fd00:1::1\/48/.test(addr), `address missing: ${addr}`)
  const b = new NetlinkBackend(IFACE)
  const priv = clampPrivateKey(randomBytes(32))
  await timed('applyDevice', async () => await b.apply({ privateKey: priv, listenPort: 51820 }))
  const empty = await b.read()
  check(empty.publicKey?.equals(wgKeyPairFromPrivate(priv).publicKey) === true, 'device public key is not X25519 of the private key')
  check(empty.listenPort === 51820 && empty.peers.length === 0, `fresh device: ${JSON.stringify(empty)}`)

  const wanted = makePeers()
  steps.setMessages = encodeSetDevice(await b.familyId(), IFACE, { upserts: wanted }).length
  await timed('apply1000', async () => await b.apply({ upserts: wanted }))
  const s1 = await timed('read1000', async () => await b.read())
  diffWanted(s1, wanted, 'after1000')
  diffWg(s1, 'after1000')
  steps.bigPeerIps = s1.peers.find(p => p.publicKey.equals(wanted[0].publicKey))?.allowedIps.length

  const gone = wanted.slice(0, REMOVE)
  await timed('remove500', async () => await b.apply({ removals: gone.map(p => p.publicKey) }))
  const s2 = await timed('read500', async () => await b.read())
  diffWanted(s2, wanted.slice(REMOVE), 'after500')
  diffWg(s2, 'after500')

  // Refused and malformed requests: the kernel's errno, as a WireGuardError.
  const other = new NetlinkBackend('nosuch0')
  errnos.readMissingDevice = await errnoOf(async () => await other.read())
  errnos.applyMissingDevice = await errnoOf(async () => await other.apply({ listenPort: 1 }))
  await other.close()
  const [msg] = encodeSetDevice(await b.familyId(), IFACE, { upserts: [{ publicKey: Key.fromBytes(randomBytes(32)), allowedIps: ['fd00:3::/128'] }] })
  // The mask attribute is [len 5, type CIDR_MASK, 128]: make it /129.
  let at = -1
  for (let i = 0; i + NLA_HDRLEN < msg.length; i += 4) if (msg[i] === 5 && msg[i + 1] === 0 && msg[i + 2] === WGALLOWEDIP_A_CIDR_MASK && msg[i + 4] === 128) at = i + 4
  check(at > 0, 'no mask attribute found to corrupt')
  msg[at] = 129
  errnos.maskOver128 = await errnoOf(async () => await b.request(msg))
  steps.peersAfterRefusedMask = (await b.read()).peers.length
  // A private key of 31 bytes: the policy (NLA_EXACT_LEN) refuses it.
  const [keyMsg] = encodeSetDevice(await b.familyId(), IFACE, { privateKey: new Uint8Array(32).fill(7) })
  const dv = new DataView(keyMsg.buffer)
  for (let i = 20; i + 4 <= keyMsg.length; i += (dv.getUint16(i, true) + 3) & ~3) {
    if ((dv.getUint16(i + 2, true) & 0x3fff) === 3) { dv.setUint16(i, 4 + 31, true); break }
  }
  errnos.privateKey31Bytes = await errnoOf(async () => await b.request(keyMsg))

  await b.close()
  await link.remove()
  check(!execFileSync('ip', ['link', 'show'], { encoding: 'utf8' }).includes(IFACE), 'link still there after remove')
}

const t0 = performance.now()
main().then(() => {
  ms.total = Math.round(performance.now() - t0)
}, (err: Error) => {
  failures.push(`threw ${err.name}: ${err.message} ${err.stack ?? ''}`.slice(0, 2000))
}).finally(() => {
  console.log('WIREMESH-QEMU-RESULT ' + JSON.stringify({ ok: failures.length === 0, failures, steps, errnos, ms, kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim() }))
})
