/**
 * One wiremesh node in its own process, driven over IPC by a cluster script (rpc.ts): the
 * memory backend (no WireGuard, no root), gossip on loopback UDP. The script asks it for its
 * keys, starts it with an invite (or as the root of a new org), and asks the root for
 * invites and revocations; `view` reports what this node sees.
 */
import { join } from 'node:path'
import { loadOrCreateIdentity } from '../../lib/identity/identity-file.js'
import { Key } from '../../lib/identity/key.js'
import { Mesh } from '../../lib/mesh/mesh.js'
import { proveKeys } from '../../lib/membership/pop.js'
import type { GossipPresetName } from '../../lib/gossip/config.js'
import type { NodeIdentity } from '../../lib/identity/identity.js'
import type { OpStoreName } from '../../lib/membership/stores/store.js'
import '../../lib/membership/stores/all.js'
import type { Reply, Request } from './rpc.js'

const name = process.argv[2] ?? 'node'
let stateDir: string | undefined
let identity: NodeIdentity | undefined
let mesh: Mesh | undefined

async function handle (req: Request): Promise<Reply> {
  switch (req.op) {
    case 'identity':
      stateDir = req.stateDir
      identity = await loadOrCreateIdentity(join(stateDir, 'identity.json'))
      return { ok: true, wgPublicKey: identity.wgPublicKey.toBase64(), signPublicKey: identity.signPublicKey.toBase64() }
    case 'start': {
      if (stateDir === undefined || identity === undefined) return { ok: false, error: 'identity first' }
      mesh = new Mesh({
        identity,
        stateDir,
        listen: req.listen,
        invite: req.invite,
        org: req.org === undefined ? undefined : { name: req.org },
        gossip: (req.preset ?? 'local') as GossipPresetName,
        store: req.store as OpStoreName | undefined
      })
      await mesh.start()
      const s = mesh.status()
      return { ok: true, endpoint: s.started ? s.listen : undefined, orgId: Buffer.from(mesh.replica.orgId).toString('hex') }
    }
    case 'prove':
      // The joiner's proof of possession of its signing key, for this org (pop.ts).
      if (identity === undefined) return { ok: false, error: 'identity first' }
      return { ok: true, pop: Buffer.from(proveKeys(identity.signer, new Uint8Array(Buffer.from(req.orgId, 'hex')), identity.wgPublicKey)).toString('base64') }
    case 'invite': {
      const m = started()
      const wgPublicKey = Key.fromBase64(req.wgPublicKey)
      await m.enroll({ wgPublicKey, signPublicKey: Key.fromBase64(req.signPublicKey), pop: new Uint8Array(Buffer.from(req.pop, 'base64')), name: req.name })
      return { ok: true, token: await m.invite(wgPublicKey) }
    }
    case 'revoke':
      await started().revoke(Key.fromBase64(req.wgPublicKey), 'revoked by the cluster script')
      return { ok: true }
    case 'view': {
      const m = started()
      const s = m.status()
      if (!s.started) return { ok: false, error: 'not started' }
      // The root's record carries no name (the genesis names the org): show it as 'root'.
      const members = m.members().map(p => p.name ?? (p.rank === 0 ? 'root' : p.wgPublicKey.toBase64().slice(0, 8))).sort()
      const received = Object.values(s.gossip.received).reduce((a, b) => a + b, 0)
      return { ok: true, view: { members, fingerprint: m.replica.viewFingerprint(), ...s.liveness, drops: s.gossip.drops, received, packetsIn: s.transport.packetsReceived } }
    }
    case 'stop':
      await mesh?.stop()
      setImmediate(() => process.exit(0))
      return { ok: true }
  }
}

function started (): Mesh {
  if (mesh === undefined) throw new Error('not started')
  return mesh
}

process.on('message', (m: { id: number, req: Request }) => {
  handle(m.req).then(
    reply => process.send?.({ id: m.id, reply }),
    (err: Error & { code?: string }) => process.send?.({ id: m.id, reply: { ok: false, error: err.message, code: err.code } })
  )
})
// The cluster script went away: do not linger.
process.on('disconnect', () => { void mesh?.stop().finally(() => process.exit(0)) })
process.title = `wiremesh-node ${name}`
