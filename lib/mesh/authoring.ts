/**
 * Ops this node authors are stored (fsynced) before they are sent (DESIGN §4), so a crash
 * can never make this node sign a second, different op at a seq it already sent: that would
 * be equivocation, and every node would cut its chain.
 *
 * `Admin` and `leave` (membership/admin.ts) add the op they sign to the replica at once, and
 * the gossiper sends whatever the replica adds (its `ops:added` listener runs a gossip round
 * there and then). So the mesh gives them a view of the replica whose `addLocal` only
 * captures the op: every check and the signing happen as usual, on the real replica's state;
 * the mesh stores the op, and only then adds it to the real replica, which queues it.
 *
 * The op is not in the log while it is being stored, so the next op of this author would get
 * the same seq: the caller must run one authoring at a time (the mesh chains them).
 *
 * TODO(membership): an `Admin` that returns the op unadded (a prepare / commit split) would
 * make this proxy unnecessary.
 */
import { MeshError } from '../errors.js'
import type { LoggedOp } from '../membership/log.js'
import type { Op } from '../membership/op.js'
import type { Replica } from '../membership/replica.js'

/** Runs `act` against a replica view that captures the one op it adds instead of adding it; returns that op. */
export function authorDetached (replica: Replica, act: (view: Replica) => unknown): Op {
  let captured: Op | undefined
  const view = new Proxy(replica, {
    get (target, prop) {
      if (prop === 'addLocal') {
        return (op: Op): LoggedOp => {
          if (captured !== undefined) throw new MeshError('an authoring action added more than one op')
          captured = op
          return op as LoggedOp
        }
      }
      const v: unknown = Reflect.get(target, prop, target)
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
  act(view)
  if (captured === undefined) throw new MeshError('the authoring action added no op')
  return captured
}
