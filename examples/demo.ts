/**
 * `npm run demo`: a real cluster on this machine, no root needed. Five node processes (the
 * memory WireGuard backend, gossip over loopback UDP) form an org with no server:
 *
 *   1. node-0 creates the org and is its root admin;
 *   2. every other node makes its own keys and hands over only the public halves; the root
 *      enrolls each and returns an invite token, with which the node JOINs through the root;
 *   3. once every view agrees, the root revokes one node, and the revocation spreads;
 *   4. a live table shows each node's view until all agree again; then everything stops.
 *
 * Options: --nodes N (default 5, 2–20), --store native|yjs|automerge (default native),
 * --timeout-ms (default 60000: the demo fails if the views have not agreed by then).
 * Exit code 0 when every phase converged, 1 otherwise.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { NodeProcess, type View } from './cluster/rpc.js'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5' }, store: { type: 'string', default: 'native' }, 'timeout-ms': { type: 'string', default: '60000' } } })
const nNodes = Number(values.nodes)
const timeoutMs = Number(values['timeout-ms'])
if (!Number.isInteger(nNodes) || nNodes < 2 || nNodes > 20) { console.error('demo: --nodes must be an integer in [2, 20]'); process.exit(2) }
if (!(timeoutMs > 0)) { console.error('demo: --timeout-ms must be a positive number'); process.exit(2) }

const dir = mkdtempSync(join(tmpdir(), 'wiremesh-demo-'))
const nodes: NodeProcess[] = []
const tty = process.stdout.isTTY === true
let drawn = 0

async function main (): Promise<boolean> {
  for (let i = 0; i < nNodes; i++) nodes.push(new NodeProcess(`node-${i}`))
  const keys = await Promise.all(nodes.map(async (n, i) => await n.call({ op: 'identity', stateDir: join(dir, `node-${i}`) })))
  const root = nodes[0]
  const started = await root.call({ op: 'start', listen: '127.0.0.1:0', org: 'demo', store: values.store })
  console.log(`node-0 created org "demo" and gossips on ${started.endpoint}; pids ${nodes.map(n => n.pid).join(' ')}`)
  for (let i = 1; i < nNodes; i++) {
    const { pop } = await nodes[i].call({ op: 'prove', orgId: started.orgId! })
    const { token } = await root.call({ op: 'invite', wgPublicKey: keys[i].wgPublicKey!, signPublicKey: keys[i].signPublicKey!, pop: pop!, name: `node-${i}` })
    await nodes[i].call({ op: 'start', listen: '127.0.0.1:0', invite: token, store: values.store })
    console.log(`node-${i} joined with an invite (${token!.length} characters, public data only)`)
  }
  const all = nodes.map((_, i) => i === 0 ? 'root' : `node-${i}`)
  if (!await watch('every node enrolled', all)) return false
  const victim = nNodes - 1
  await root.call({ op: 'revoke', wgPublicKey: keys[victim].wgPublicKey! })
  console.log(`\nnode-0 revoked node-${victim}`)
  return await watch(`node-${victim} revoked`, all.filter(n => n !== `node-${victim}`), nodes.slice(0, victim))
}

/** Redraws each node's view until all of `among` list exactly `expected`. */
async function watch (phase: string, expected: string[], among = nodes): Promise<boolean> {
  const t0 = Date.now()
  const want = JSON.stringify([...expected].sort())
  for (;;) {
    const views = await Promise.all(among.map(async n => (await n.call({ op: 'view' })).view!))
    const agree = views.every(v => JSON.stringify(v.members) === want)
    const late = Date.now() - t0 > timeoutMs
    draw(phase, among, views, Date.now() - t0, agree || late)
    if (agree) return true
    if (late) { console.log(`\n${phase}: views did not agree within ${timeoutMs} ms`); return false }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

function draw (phase: string, among: NodeProcess[], views: View[], ms: number, final: boolean): void {
  const agree = views.every(v => JSON.stringify(v.members) === JSON.stringify(views[0].members))
  const lines = [`${phase}: ${agree ? `all ${among.length} views agree` : 'converging'} after ${ms} ms`]
  lines.push('  node      members  alive  view')
  among.forEach((n, i) => {
    const v = views[i]
    lines.push(`  ${n.name.padEnd(9)} ${String(v.members.length).padStart(7)}  ${String(v.alive).padStart(5)}  ${v.members.join(' ')}`)
  })
  if (tty && drawn > 0) process.stdout.write(`\x1b[${drawn}A\x1b[J`)
  if (tty || final) { process.stdout.write(lines.join('\n') + '\n'); drawn = lines.length }
}

let ok = false
try {
  ok = await main()
} catch (err) {
  console.error(`demo: ${(err as Error).message}`)
} finally {
  await Promise.all(nodes.map(async n => await n.stop()))
  rmSync(dir, { recursive: true, force: true })
}
console.log(ok ? '\ndemo: done, every node stopped' : '\ndemo: FAILED')
process.exit(ok ? 0 : 1)
