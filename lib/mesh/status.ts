/**
 * `mesh.status()`: one snapshot of a node for operators (the CLI prints it) and tests. Costs
 * O(members) (it counts the view), so poll it, do not call it per packet.
 */
import type { Gossiper, GossiperStats } from '../gossip/gossiper.js'
import type { TransportStats } from '../gossip/transport.js'
import { formatEndpoint } from '../gossip/endpoint.js'
import type { Key } from '../identity/key.js'
import { overlayAddress } from '../identity/overlay.js'
import type { Replica } from '../membership/replica.js'
import { toHex } from '../util/bytes.js'
import type { Transport } from '../gossip/transport.js'
import type { NodeIdentity } from '../identity/identity.js'
import type { BackendKind } from '../wireguard/backend.js'
import type { ReconcilerStatus } from '../wireguard/reconciler.js'

/** The WireGuard side of a node: which device, and how its reconciler is doing. */
export interface WireGuardStatus extends ReconcilerStatus {
  kind: BackendKind
  iface: string
}

export interface StartedStatus {
  started: true
  wgPublicKey: Key
  signPublicKey: Key
  /** This node's /128 in the org. */
  overlayAddress: string
  /** Hex of the org id (16 bytes). */
  orgId: string
  orgName: string
  /** The org's /48, as text. */
  prefix: string
  /** Whether this node is a member of its own view (false until a joiner has synced, and after it left). */
  member: boolean
  /** This node's admin rank (root 0), if it is an admin. */
  rank: number | undefined
  /** Members of the view, this node included. */
  members: number
  /** SWIM's view of the other members. */
  liveness: { alive: number, suspect: number, dead: number }
  /** Ops in the log (genesis included), and ops held back for a missing causal past. */
  ops: number
  pending: number
  incarnation: number
  /** The gossip socket's bound address. */
  listen: string
  /** The endpoint invites name this node by, if it has one. */
  advertised: string | undefined
  /** Background failures so far (storing received ops, saving the incarnation, the reconciler's repeated failures); each was an 'error' event. */
  errors: number
  gossip: GossiperStats
  transport: TransportStats
  /** With a backend: the reconciler's last pass, apply and error; undefined in direct mode. */
  wireguard: WireGuardStatus | undefined
}

export type MeshStatus = { started: false } | StartedStatus

export interface StatusSource {
  identity: NodeIdentity
  replica: Replica
  gossiper: Gossiper
  transport: Transport
}

export function statusOf (run: StatusSource, advertised: string | undefined, errors: number, wireguard?: WireGuardStatus): StartedStatus {
  const { identity, replica, gossiper, transport } = run
  const self = identity.wgPublicKey
  const me = replica.member(self)
  const liveness = { alive: 0, suspect: 0, dead: 0 }
  for (const m of gossiper.liveness.members()) liveness[m.state]++
  return {
    started: true,
    wgPublicKey: self,
    signPublicKey: identity.signPublicKey,
    overlayAddress: me?.overlayAddress ?? overlayAddress(replica.prefix, replica.orgId, self),
    orgId: toHex(replica.orgId),
    orgName: replica.org.name,
    prefix: replica.prefixCidr,
    member: me !== undefined,
    rank: replica.rankOf(identity.signPublicKey),
    members: replica.members().length,
    liveness,
    ops: replica.size,
    pending: replica.pending,
    incarnation: gossiper.incarnation,
    listen: formatEndpoint(transport.localEndpoint()),
    advertised,
    errors,
    gossip: gossiper.stats(),
    transport: transport.stats(),
    wireguard
  }
}
