/**
 * Creating an org: a random RFC 4193 /48 and a genesis op signed by the root key.
 * orgId = the first 16 bytes of the genesis op's id.
 */
import { randomUlaPrefix } from '../identity/overlay.js'
import type { Key } from '../identity/key.js'
import type { Signer } from '../identity/sign.js'
import { systemRandom, type Random } from '../random.js'
import { systemClock, type Clock } from '../clock.js'
import { authorOp } from './author.js'
import { OpLog } from './log.js'
import type { Op, OrgParams } from './op.js'

export interface CreateOrgInit {
  /** The root's WireGuard public key (the root is a member from genesis). */
  rootWgPublicKey: Key
  /** The root's signing key: the org root key. */
  rootSigner: Signer
  /** Shown to operators; ≤ 64 bytes (default ''). */
  name?: string
  /** Default WireGuard listen port for members (default 51820). */
  listenPort?: number
  /** Interface MTU (default 1420, the `lan` preset; `wan` uses 1280). */
  mtu?: number
  /** Persistent keepalive in seconds (default 25; 0 turns it off). */
  keepaliveS?: number
  random?: Random
  clock?: Clock
}

export const DEFAULT_ORG_PARAMS: OrgParams = { listenPort: 51820, mtu: 1420, keepaliveS: 25 }

export function createGenesis (init: CreateOrgInit): Op {
  const random = init.random ?? systemRandom
  const clock = init.clock ?? systemClock
  return authorOp(new OpLog(), init.rootSigner, undefined, {
    kind: 1,
    genesis: {
      prefix: randomUlaPrefix(n => random.bytes(n)),
      name: init.name ?? '',
      createdAt: Math.floor(clock.now()),
      params: {
        listenPort: init.listenPort ?? DEFAULT_ORG_PARAMS.listenPort,
        mtu: init.mtu ?? DEFAULT_ORG_PARAMS.mtu,
        keepaliveS: init.keepaliveS ?? DEFAULT_ORG_PARAMS.keepaliveS
      },
      rootWgPublicKey: init.rootWgPublicKey
    }
  })
}
