/**
 * `npm run demo`: an org of six nodes converging on one membership, with no server and no
 * root. The root admin enrols five nodes through invite tokens; the nodes exchange
 * digests and diffs with a random peer each round (what the gossip layer will do over UDP)
 * until every view agrees; then the root revokes one node and the revocation spreads.
 *
 * Options: --nodes N (default 5), --seed S (default 1), --store native|yjs|automerge.
 */
import { parseArgs } from 'node:util'
import { Admin, createGenesis, createInvite, generateIdentity, readInvite, Replica, SeededRandom, type NodeIdentity } from '../lib/index.js'
import '../lib/membership/stores/all.js'
import type { OpStoreName } from '../lib/membership/stores/store.js'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5' }, seed: { type: 'string', default: '1' }, store: { type: 'string', default: 'native' } } })
const nNodes = Number(values.nodes)
const store = values.store as OpStoreName
if (!Number.isInteger(nNodes) || nNodes < 2 || nNodes > 50) throw new Error('--nodes must be an integer in [2, 50]')
const random = new SeededRandom(Number(values.seed))

interface Node { name: string, id: NodeIdentity, replica: Replica }

const rootId = await generateIdentity()
const genesis = createGenesis({ rootWgPublicKey: rootId.wgPublicKey, rootSigner: rootId.signer, name: 'demo' })
const root: Node = { name: 'root', id: rootId, replica: new Replica(genesis, { store }) }
const admin = new Admin(root.replica, rootId.signer)
console.log(`org ${root.replica.prefixCidr}, root ${rootId.wgPublicKey.toBase64()}\n`)

// Each node makes its own keys and hands over only the public halves; the admin enrols them
// and gives back an invite token, which the node checks and joins with.
const nodes: Node[] = [root]
for (let i = 1; i <= nNodes; i++) {
  const id = await generateIdentity()
  admin.enroll({ wgPublicKey: id.wgPublicKey, signPublicKey: id.signPublicKey, name: `node-${i}` })
  const token = createInvite(root.replica, id.wgPublicKey, { bootstrap: [{ wgPublicKey: rootId.wgPublicKey, endpoint: '127.0.0.1:51820' }] })
  const invite = readInvite(token, { wgPublicKey: id.wgPublicKey })
  const replica = new Replica(invite.genesis, { store })
  await replica.ingest(invite.ops, 'invite')
  nodes.push({ name: `node-${i}`, id, replica })
  if (i === 1) console.log(`invite for node-1 (${token.length} chars): ${token.slice(0, 48)}…`)
}

function table (round: number): boolean {
  const views = nodes.map(n => n.replica.members().map(m => m.name ?? 'root'))
  const want = JSON.stringify(views[0])
  const agree = views.every(v => JSON.stringify(v) === want)
  console.log(`round ${String(round).padStart(2)}  ` + nodes.map((n, i) => `${n.name}:${String(views[i].length).padStart(2)}`).join('  ') + (agree ? '   all agree' : ''))
  return agree
}

/** One gossip round: every node does a push-pull with one random other node. */
async function round (): Promise<void> {
  for (const a of nodes) {
    let b = nodes[random.int(nodes.length)]
    while (b === a) b = nodes[random.int(nodes.length)]
    await b.replica.merge(a.replica.diff(b.replica.digest()), a.name)
    await a.replica.merge(b.replica.diff(a.replica.digest()), b.name)
  }
}

async function converge (): Promise<number> {
  let r = 0
  while (!table(r)) { await round(); r++ }
  return r
}

console.log('\nmembers seen by each node:')
const joined = await converge()
const victim = nodes[Math.min(3, nNodes)]
console.log(`\nroot revokes ${victim.name} (its keys can never be members again):`)
admin.revoke(victim.id.wgPublicKey, { reason: 'demo: lost laptop' })
const revoked = await converge()
const where = nodes.filter(n => n !== victim).every(n => n.replica.isRevoked(victim.id.wgPublicKey) && n.replica.member(victim.id.wgPublicKey) === undefined)
console.log(`\njoined in ${joined} rounds, revocation spread in ${revoked} rounds; every other node sees ${victim.name} revoked: ${where ? 'yes' : 'NO'}`)
const table2 = root.replica.members().map(m => ({ name: m.name ?? 'root', overlay: m.overlayAddress, roles: m.roles.join(',') || '-' }))
console.table(table2)
if (!where) process.exitCode = 1
