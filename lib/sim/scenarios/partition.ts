/**
 * `partition`: a 50/50 split with admin changes on both sides, then heal.
 *
 *   [0, settle)        the org runs
 *   settle             the root grants admin to a random member (enrolls it again with roles
 *                      ['admin']); run until every live node's replica holds it as an admin
 *   split              live nodes in two random halves: the root's side and the admin's
 *   split + g·j        j = 1 … k: each side's admin enrolls a new member through its own Mesh
 *                      (the joiner JOINs through it, on its side); g = min(5 s, partitionMs / (k + 3))
 *   split + g·(k+1)    each side's admin revokes one member of its side that was there at the split
 *   split + partitionMs  heal
 *   … until agreed     every live node's replica has the same digest (`replica.digest()`)
 *                      and lists the same members (`viewFingerprint`); at most maxHealWaitMs
 *
 * Figures: `healMs` (heal → agreement, null if never), compared with one anti-entropy period
 * `antiEntropyMs` = pushPullIntervalFor(cfg, live N) (lib/gossip/config.ts), which is how a
 * side that holds the other dead finds it again; `opsLost`: ops authored during the split
 * that some live node lacks at the end (must be 0). Target: opsLost 0, healMs ≤ antiEntropyMs.
 */
import { pushPullIntervalFor } from '../../gossip/config.js'
import { SimulationError } from '../errors.js'
import { trafficRate, type TrafficWindow } from '../metrics.js'
import type { Simulation } from '../simulation.js'
import { AllHold, overSeeds, runStats, type RunStats, SETTLE_MS } from './common.js'

export const PARTITION_MS = 600_000
export const ENROLLS_PER_SIDE = 3
/** Longest wait for the admin grant to reach every node before the split, ms. */
const ADMIN_WAIT_MS = 60_000
/** While digests agree but member lists do not, compare the lists at most this often, ms (a comparison is O(N²) at N nodes). */
const MEMBERS_RECHECK_MS = 1000

export interface PartitionInit {
  settleMs?: number
  /** How long the split lasts, ms. Default 600 000 (10 virtual minutes). */
  partitionMs?: number
  /** New members each side's admin enrolls during the split. Default 3. */
  enrollsPerSide?: number
  /** Longest wait after heal, ms. Default 5 anti-entropy periods. */
  maxHealWaitMs?: number
}

export interface PartitionRun extends RunStats {
  admin: number
  /** The grant → every live node holds the admin as one. */
  grantMs: number
  /** Live nodes on the root's side and on the admin's, at the split. */
  sides: [number, number]
  splitAtMs: number
  partitionMs: number
  /** Members each side enrolled and the one it revoked. */
  enrolled: [number[], number[]]
  revoked: [number, number]
  opsDuringSplit: number
  /** Of those, ops some live node lacks at the end. */
  opsLost: number
  lostOps: Array<{ side: number, kind: string, missingAt: number }>
  antiEntropyMs: number
  /** Heal → every live node has the same digest and members; null if not within maxHealWaitMs. */
  healMs: number | null
  /** Heal → digests alone agreed. */
  digestsAgreeMs: number | null
  /**
   * What the nodes sent before the split (a baseline), in the split's first minute (each
   * side finds the other half dead), over the rest of the split, and from heal to the end.
   */
  traffic: { settle: TrafficWindow, splitFirstMinute: TrafficWindow, splitRest: TrafficWindow, heal: TrafficWindow }
  /** Members every node lists at the end, and the count the script implies. */
  members: number
  expectedMembers: number
}

interface AuthoredOp { side: number, kind: string, idKey: string }

export async function partitionScenario (sim: Simulation, init: PartitionInit = {}): Promise<PartitionRun> {
  const partitionMs = init.partitionMs ?? PARTITION_MS
  const k = init.enrollsPerSide ?? ENROLLS_PER_SIDE
  await sim.start()
  await sim.run(init.settleMs ?? SETTLE_MS)
  // An existing member, not a fresh joiner: a joiner drops the node states that come in the
  // same sync as the ops making their owners members, and knows only its sponsor's endpoint
  // until a later digest exchange (~8 s), which would cut it off on the far side.
  const admin = sim.pickMember()
  await sim.grant(admin, ['admin'])
  const grantedAtMs = sim.elapsedMs
  const key = sim.meshOf(admin).identity.signPublicKey
  const everyone = sim.live()
  const granted = new AllHold(everyone.length, k => sim.meshOf(everyone[k]).replica.rankOf(key) !== undefined)
  if (!await sim.runUntil(() => granted.check() && canAuthor(sim, admin), ADMIN_WAIT_MS)) throw new SimulationError(`the admin grant of n${admin} did not reach every node within ${ADMIN_WAIT_MS} ms`)
  const grantMs = sim.elapsedMs - grantedAtMs

  const live = sim.live()
  const others = sim.shuffled(live.filter(i => i !== 0 && i !== admin))
  const half = Math.floor(live.length / 2)
  const sides = [[0, ...others.slice(0, half - 1)], [admin, ...others.slice(half - 1)]]
  const admins = [0, admin]
  // An existing member of each side (not its admin) to revoke.
  const targets = sides.map((s, j) => sim.shuffled(s.filter(i => i !== admins[j]))[0])
  if (targets.some(t => t === undefined)) throw new SimulationError('each side needs a member besides its admin: use more nodes')
  sim.partition(sides)
  const splitAtMs = sim.elapsedMs
  const atSplit = sim.sentTotals()
  const window = (from: { bytes: number, packets: number }, to: { bytes: number, packets: number }, ms: number): TrafficWindow =>
    trafficRate(to.bytes - from.bytes, to.packets - from.packets, sim.live().length, ms)
  const settle = window({ bytes: 0, packets: 0 }, atSplit, splitAtMs)
  const firstMinute = Math.min(60_000, partitionMs)
  const gapMs = Math.min(5000, Math.floor(partitionMs / (k + 3)))
  const authored: AuthoredOp[] = []
  const enrolled: [number[], number[]] = [[], []]
  for (let j = 0; j < k; j++) {
    await sim.run(gapMs)
    for (const side of [0, 1]) {
      enrolled[side].push(await sim.enroll({ via: admins[side] }))
      authored.push({ side, kind: 'enroll', idKey: headOf(sim, admins[side]) })
    }
  }
  await sim.run(gapMs)
  for (const side of [0, 1]) {
    await sim.revoke(targets[side], { via: admins[side] })
    authored.push({ side, kind: 'revoke', idKey: headOf(sim, admins[side]) })
  }
  // (With more than 11 enrolls per side the actions run past the first minute, and it ends with them.)
  await sim.run(Math.max(0, splitAtMs + firstMinute - sim.elapsedMs))
  const minute = sim.sentTotals()
  await sim.run(splitAtMs + partitionMs - sim.elapsedMs)
  const atHeal = sim.sentTotals()

  sim.heal()
  const healedAtMs = sim.elapsedMs
  const nodes = sim.live()
  const antiEntropyMs = pushPullIntervalFor(sim.gossipConfig, nodes.length)
  const digests = new DigestWatch(sim, nodes)
  let digestsAgreeMs: number | null = null
  let membersCheckedAtMs = -Infinity
  const agreed = await sim.runUntil(() => {
    if (!digests.agree()) return false
    digestsAgreeMs ??= sim.elapsedMs - healedAtMs
    if (sim.elapsedMs - membersCheckedAtMs < MEMBERS_RECHECK_MS) return false
    membersCheckedAtMs = sim.elapsedMs
    return membersAgree(sim, nodes)
  }, init.maxHealWaitMs ?? 5 * antiEntropyMs)

  const lostOps: PartitionRun['lostOps'] = []
  for (const op of authored) {
    const missingAt = nodes.filter(i => !sim.meshOf(i).replica.log.byId.has(op.idKey)).length
    if (missingAt > 0) lostOps.push({ side: op.side, kind: op.kind, missingAt })
  }
  return {
    ...runStats(sim),
    admin,
    grantMs,
    sides: [sides[0].length, sides[1].length],
    splitAtMs,
    partitionMs,
    enrolled,
    revoked: [targets[0], targets[1]],
    opsDuringSplit: authored.length,
    opsLost: lostOps.length,
    lostOps,
    antiEntropyMs,
    healMs: agreed ? sim.elapsedMs - healedAtMs : null,
    digestsAgreeMs,
    traffic: {
      settle,
      splitFirstMinute: window(atSplit, minute, firstMinute),
      splitRest: window(minute, atHeal, partitionMs - firstMinute),
      heal: window(atHeal, sim.sentTotals(), sim.elapsedMs - healedAtMs)
    },
    members: sim.meshOf(0).replica.members().length,
    expectedMembers: live.length + 2 * k - 2
  }
}

/**
 * Whether node `i` has joined and holds itself as an admin, nothing held back. For a joiner
 * 'joined' alone is not enough: it fires once the reply page marked last is ingested, and
 * pages arrive out of order, so the view may still lack the node's own grant then.
 */
function canAuthor (sim: Simulation, i: number): boolean {
  if (!sim.hasJoined(i)) return false
  const r = sim.meshOf(i).replica
  return r.pending === 0 && r.rankOf(sim.meshOf(i).identity.signPublicKey) !== undefined
}

/** The id (`idKey`) of the op at the head of admin `i`'s own chain: the one it just authored. */
function headOf (sim: Simulation, i: number): string {
  const mesh = sim.meshOf(i)
  const chain = mesh.replica.log.chainOf(mesh.identity.signPublicKey)
  const op = chain?.at(chain.maxSeq)[0]
  if (op === undefined) throw new SimulationError(`admin n${i} has no op at its chain head`)
  return op.idKey
}

/** Each node's replica digest, recomputed only after its log grew ('sync'). */
class DigestWatch {
  private readonly hex: Array<string | undefined>
  private readonly all: AllHold
  private ref = ''

  constructor (private readonly sim: Simulation, private readonly nodes: readonly number[]) {
    this.hex = nodes.map(() => undefined)
    nodes.forEach((i, k) => { sim.meshOf(i).addEventListener('sync', () => { this.hex[k] = undefined }) })
    this.all = new AllHold(nodes.length, k => this.digest(k) === this.ref)
  }

  /** Whether every node's digest is the same now. */
  agree (): boolean {
    this.ref = this.digest(0)
    return this.all.check()
  }

  private digest (k: number): string {
    return (this.hex[k] ??= Buffer.from(this.sim.meshOf(this.nodes[k]).replica.digest()).toString('hex'))
  }
}

function membersAgree (sim: Simulation, nodes: readonly number[]): boolean {
  const now = sim.clock.now()
  const ref = sim.meshOf(nodes[0]).replica.viewFingerprint(now)
  return nodes.every(i => sim.meshOf(i).replica.viewFingerprint(now) === ref)
}

export interface PartitionSummary {
  partitionMs: number
  /** The slowest seed's healMs (null if one never agreed), and the median. */
  healMs: number | null
  healMsP50: number | null
  antiEntropyMs: number
  /** Summed over seeds. */
  opsLost: number
  opsDuringSplit: number
  ok: boolean
}

export function summarizePartition (runs: readonly PartitionRun[]): PartitionSummary {
  const heal = overSeeds(runs.map(r => r.healMs))
  const antiEntropyMs = Math.min(...runs.map(r => r.antiEntropyMs))
  const opsLost = runs.reduce((s, r) => s + r.opsLost, 0)
  return {
    partitionMs: runs[0]?.partitionMs ?? PARTITION_MS,
    healMs: heal.max,
    healMsP50: heal.p50,
    antiEntropyMs,
    opsLost,
    opsDuringSplit: runs.reduce((s, r) => s + r.opsDuringSplit, 0),
    ok: opsLost === 0 && heal.max !== null && heal.max <= antiEntropyMs
  }
}

export function partitionLines (s: PartitionSummary, runs: readonly PartitionRun[]): string[] {
  const ms = (x: number | null): string => x === null ? 'never' : `${Math.round(x)} ms`
  const lines = [
    `split:            ${s.partitionMs} ms, ${s.opsDuringSplit} ops authored during it over ${runs.length} seed(s)`,
    `heal to agreed:   worst ${ms(s.healMs)}, p50 ${ms(s.healMsP50)} (one anti-entropy period: ${s.antiEntropyMs} ms: ${s.healMs !== null && s.healMs <= s.antiEntropyMs ? 'within' : 'MISSED'})`,
    `ops lost:         ${s.opsLost}${s.opsLost === 0 ? '' : ' (must be 0)'}`
  ]
  for (const r of runs) {
    const kb = (w: TrafficWindow): string => `${(w.bytesPerNodePerSec / 1000).toFixed(1)} kB/s`
    const t = r.traffic
    lines.push(`  seed ${r.seed}: sides ${r.sides.join('/')}, admin n${r.admin}, digests agree ${ms(r.digestsAgreeMs)}, all agree ${ms(r.healMs)}, members ${r.members} (expected ${r.expectedMembers}), ops lost ${r.opsLost}; sent per node: settling ${kb(t.settle)}, split's first minute ${kb(t.splitFirstMinute)}, rest ${kb(t.splitRest)}, after heal ${kb(t.heal)}`)
  }
  return lines
}
