/**
 * One wiremesh node with a real userspace WireGuard, for wg-userspace.spec.ts. It is started
 * INSIDE a network namespace (`ip netns exec NS node --import tsx this-file`), so the gossip
 * socket, wireguard-go and `wg` all live there. Driven over the IPC channel: each request
 * `{ id, req }` gets one `{ id, reply }`.
 *
 *   setup   identity in stateDir; wireguard-go IFACE with the node's key and the org port
 *   start   the Mesh (root of a new org, or from an invite) with a { kind, iface } backend,
 *           then the overlay address ADDR/48 on the interface
 *   prove   this node's proof of possession of its signing key for an org (pop.ts)
 *   invite  enroll a key, with the joiner's proof, and return an invite token (root)
 *   enroll  enroll a key again (to see it refused)
 *   revoke  revoke a key (root)
 *   status  the mesh's status().wireguard
 *   stop    stop the mesh, stop wireguard-go, exit
 */
import { join } from 'node:path'
import { loadOrCreateIdentity } from '../../lib/identity/identity-file.js'
import type { NodeIdentity } from '../../lib/identity/identity.js'
import { Key } from '../../lib/identity/key.js'
import { Mesh } from '../../lib/mesh/mesh.js'
import { proveKeys } from '../../lib/membership/pop.js'
import { createUserspaceLink, type UserspaceLink } from '../../lib/wireguard/userspace-link.js'

export type ChildRequest =
  | { op: 'setup', stateDir: string, iface: string, listenPort: number }
  | { op: 'start', listen: string, backend: 'uapi' | 'wg-cli', resyncIntervalMs: number, invite?: string, org?: string }
  | { op: 'prove', orgId: string }
  | { op: 'invite', wgPublicKey: string, signPublicKey: string, pop: string, name: string }
  | { op: 'enroll', wgPublicKey: string, signPublicKey: string, pop: string, name: string }
  | { op: 'revoke', wgPublicKey: string }
  | { op: 'status' }
  | { op: 'stop' }

export interface ChildReply {
  ok: boolean
  error?: string
  code?: string
  wgPublicKey?: string
  signPublicKey?: string
  wireguardGoPid?: number
  overlayAddress?: string
  token?: string
  /** Hex: the org's id (start), for a joiner's proof of possession. */
  orgId?: string
  /** Base64: a proof of possession (prove). */
  pop?: string
  status?: unknown
}

let stateDir = ''
let iface = ''
let identity: NodeIdentity | undefined
let link: UserspaceLink | undefined
let mesh: Mesh | undefined
const errors: string[] = []

function started (): Mesh {
  if (mesh === undefined) throw new Error('not started')
  return mesh
}

async function handle (req: ChildRequest): Promise<ChildReply> {
  switch (req.op) {
    case 'setup':
      stateDir = req.stateDir
      iface = req.iface
      identity = await loadOrCreateIdentity(join(stateDir, 'identity.json'))
      link = await createUserspaceLink(iface, { privateKey: identity.wgPrivateKey(), listenPort: req.listenPort })
      return { ok: true, wgPublicKey: identity.wgPublicKey.toBase64(), signPublicKey: identity.signPublicKey.toBase64(), wireguardGoPid: link.pid }
    case 'start': {
      if (identity === undefined || link === undefined) throw new Error('setup first')
      mesh = new Mesh({
        identity,
        stateDir,
        listen: req.listen,
        gossip: 'local',
        backend: req.backend === 'uapi' ? { kind: 'uapi', iface } : { kind: 'wg-cli', iface },
        wireguard: { resyncIntervalMs: req.resyncIntervalMs },
        ...(req.invite === undefined ? {} : { invite: req.invite }),
        ...(req.org === undefined ? {} : { org: { name: req.org } })
      })
      mesh.addEventListener('error', e => { errors.push(`${e.detail.error.name}: ${e.detail.error.message}`) })
      await mesh.start()
      const s = mesh.status()
      if (!s.started) throw new Error('mesh did not start')
      await link.ip(['-6', 'addr', 'add', `${s.overlayAddress}/48`, 'dev', iface])
      return { ok: true, overlayAddress: s.overlayAddress, orgId: Buffer.from(mesh.replica.orgId).toString('hex') }
    }
    case 'prove':
      if (identity === undefined) throw new Error('setup first')
      return { ok: true, pop: Buffer.from(proveKeys(identity.signer, new Uint8Array(Buffer.from(req.orgId, 'hex')), identity.wgPublicKey)).toString('base64') }
    case 'invite': {
      const m = started()
      const wgPublicKey = Key.fromBase64(req.wgPublicKey)
      await m.enroll({ wgPublicKey, signPublicKey: Key.fromBase64(req.signPublicKey), pop: new Uint8Array(Buffer.from(req.pop, 'base64')), name: req.name })
      return { ok: true, token: await m.invite(wgPublicKey) }
    }
    case 'enroll':
      await started().enroll({ wgPublicKey: Key.fromBase64(req.wgPublicKey), signPublicKey: Key.fromBase64(req.signPublicKey), pop: new Uint8Array(Buffer.from(req.pop, 'base64')), name: req.name })
      return { ok: true }
    case 'revoke':
      await started().revoke(Key.fromBase64(req.wgPublicKey), 'revoked by wg-userspace.spec')
      return { ok: true }
    case 'status': {
      const s = started().status()
      return { ok: true, status: { wireguard: s.started ? s.wireguard : undefined, errors } }
    }
    case 'stop':
      await mesh?.stop()
      await link?.destroy()
      setImmediate(() => process.exit(0))
      return { ok: true }
  }
}

process.on('message', (m: { id: number, req: ChildRequest }) => {
  handle(m.req).then(
    reply => process.send?.({ id: m.id, reply }),
    (err: Error & { code?: string }) => process.send?.({ id: m.id, reply: { ok: false, error: err.message, code: err.code } })
  )
})
// The test went away: take the mesh and wireguard-go down with us.
process.on('disconnect', () => {
  void (async () => {
    await mesh?.stop().catch(() => {})
    await link?.destroy().catch(() => {})
    process.exit(0)
  })()
})
