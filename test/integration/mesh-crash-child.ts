/**
 * The child process of mesh-crash.spec.ts: `node --import tsx mesh-crash-child.ts DIR SEED`.
 *
 * A real `Mesh` (FileStorage in DIR, UDP on loopback) that is the root of an org, created on
 * the first run and loaded on every later one. Prints `ready <incarnation> <key,key,…>` — the
 * WireGuard keys of every member its loaded view holds — then enrolls new members as fast as
 * it can, a few calls in flight, printing `ack <key>` only once `enroll()` resolved (the op
 * is fsynced by then: DESIGN §4). Runs until killed. Anything wrong: stderr and exit code 3.
 */
import { Ed25519Signer } from '../../lib/identity/sign.js'
import { clampPrivateKey, wgKeyPairFromPrivate } from '../../lib/identity/wg-key.js'
import { Mesh } from '../../lib/mesh/mesh.js'
import { proveKeys } from '../../lib/membership/pop.js'
import { SeededRandom } from '../../lib/random.js'

const IN_FLIGHT = 4

async function main (dir: string, seed: number): Promise<void> {
  const mesh = new Mesh({ stateDir: dir, listen: '127.0.0.1:0', org: { name: 'crash' }, gossip: 'local' })
  await mesh.start()
  const s = mesh.status()
  if (!s.started) throw new Error('not started')
  process.stdout.write(`ready ${s.incarnation} ${mesh.members().map(m => m.wgPublicKey.toBase64()).join(',')}\n`)
  const random = new SeededRandom(seed)
  const one = async (): Promise<void> => {
    for (;;) {
      const wg = wgKeyPairFromPrivate(clampPrivateKey(random.bytes(32)))
      const sign = new Ed25519Signer(random.bytes(32))
      await mesh.enroll({ wgPublicKey: wg.publicKey, signPublicKey: sign.publicKey, pop: proveKeys(sign, mesh.replica.orgId, wg.publicKey) })
      process.stdout.write(`ack ${wg.publicKey.toBase64()}\n`)
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, one))
}

main(process.argv[2], Number(process.argv[3])).catch(err => {
  process.stderr.write(`mesh-crash-child: ${String((err as Error).stack ?? err)}\n`)
  process.exit(3)
})
