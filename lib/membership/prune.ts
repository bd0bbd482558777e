/**
 * Pruning above a cut (DESIGN §2.1 "Bounded per member"): once a chain is cut (a revoke, a
 * remove of an admin, its own leave, a demotion, a fork: authority.ts), its ops more than
 * CUT_WINDOW above the cut can never be valid again by anything the cut chain itself signs.
 * A revoked or equivocating admin that keeps signing would otherwise make every replica store
 * all of it. Kept: everything up to the window, and every op that a kept op has in its causal
 * past (an honest admin that built on the chain before it knew of the cut).
 *
 * The kept set is a function of the op set alone (cutoffs are, and so is every op's past), so
 * replicas holding the same ops keep the same ones whether they pruned before or after: an
 * op that arrives above a window goes dormant in ingestion instead (ingest.ts), the same rule
 * applied early.
 */
import type { AuthorityResult } from './authority.js'
import { CUT_WINDOW } from './ingest.js'
import type { Chain, LoggedOp, OpLog } from './log.js'

/** The ops to drop, or an empty list when no cut chain holds more than its window. */
export function opsAboveCuts (log: OpLog, auth: AuthorityResult): LoggedOp[] {
  const cut: Array<[Chain, number]> = []
  for (const [c, limit] of auth.cutoff) if (c.maxSeq > limit + CUT_WINDOW) cut.push([c, limit + CUT_WINDOW])
  if (cut.length === 0) return []
  // Per cut chain, the highest seq it keeps: its window, raised to what kept ops need.
  const keep = new Map<Chain, number>(cut)
  for (let changed = true; changed;) {
    changed = false
    for (const r of log.byId.values()) {
      if (r.chain !== undefined && keep.has(r.chain) && r.seq > keep.get(r.chain)!) continue
      for (const [c, top] of keep) {
        if (r.chain === c) continue
        const h = log.headIn(r, c)
        if (h === undefined) continue
        const need = Array.isArray(h) ? Math.max(...h.map(o => o.seq)) : h.seq
        if (need > top) { keep.set(c, need); changed = true }
      }
    }
  }
  const drop: LoggedOp[] = []
  for (const [c, top] of keep) for (let s = top + 1; s <= c.maxSeq; s++) drop.push(...c.at(s))
  return drop
}

/** The last valid seq of every cut chain and cut signing key (by the key's map key), for ingestion. */
export function cutLimits (auth: AuthorityResult): Map<string, number> {
  const out = new Map<string, number>(auth.cutSign)
  for (const [c, limit] of auth.cutoff) {
    const have = out.get(c.author.mapKey)
    if (have === undefined || limit < have) out.set(c.author.mapKey, limit)
  }
  return out
}
