/**
 * `npm run bench -- hostile [--members N] [--budget-mib B] [--runs R] [--attacks a,b] [--json]`
 *
 * Issue 11's resource bounds: one hostile member sending up to B MiB (default 10) of crafted
 * ops of each shape (lib/sim/hostile-ops.ts) to a replica of an org with N members (default
 * 3,000). The org: the root enrolls admins A and B and member X, A enrolls a few members, the
 * root the rest; B enrolls two and is revoked. X is the attacker of the member shapes, A of
 * `fork` and `admin-key-chain`, B of `revoked-writes`.
 *
 * Per shape, the attacker (its own synced replica) generates the ops once; each run, a fresh
 * replica synced with the org takes them as gossip would: packets of about `--batch-bytes`
 * (1,024) decoded from their bytes, `replica.ingest(ops, 'attacker')`, and the authority read
 * after each packet (what a node's view does once ops are added). Figures:
 *
 *   sentBytes              wire bytes fed (the budget, unless the run was stopped)
 *   storedOps              attacker ops in the replica's log afterwards (valid ones too)
 *   storedNeverValidBytes  wire bytes of those that are not valid once the authority is read
 *                          (their causal past is present: invalid now is invalid for good)
 *   parkedOps              ops held back for a missing causal past (replica.pending)
 *   heapBytesPerStoredOp   gc; heapUsed + external; feed; gc; again: the growth ÷ the ops
 *                          held (stored + parked), or ÷ the ops sent when fewer than
 *                          MIN_HELD_OPS are held (`heapPer` says which: a growth divided by
 *                          one or two ops says nothing). The honest enrolls' figure is
 *                          measured the same way, for scale
 *   cpuRatioVsHonest       process CPU (user + system) per attacker op fed ÷ the same per
 *                          honest enroll, the root's, fed the same way to a fresh replica
 *
 * and `pass` against the bounds: storedNeverValidBytes ≤ 64 KiB; heap growth ≤ 2 KB per op
 * held plus HEAP_SLACK_BYTES (what a gc leaves unswept and fixed-size tables amount to: a run
 * that holds nothing may not grow past it, whatever it sent); cpuRatioVsHonest ≤ 2 (not for
 * `admin-key-chain`, whose ops are valid). A feed that takes more than `--max-feed-s` (120) or
 * grows the heap by `--max-heap-mib` (1,024) is stopped there (`stopped`; its figures are those
 * of what was fed, `complete` false). CPU and heap are the median of up to `--runs` runs
 * (default 3): a shape is run again only while its feeds so far took under `--max-feed-s` in
 * all, since a long feed averages over enough ops already. Progress goes to stderr.
 */
import { getHeapStatistics } from 'node:v8'
import { ManualClock } from '../../lib/clock.js'
import { Ed25519Signer } from '../../lib/identity/sign.js'
import { Key } from '../../lib/identity/key.js'
import { Admin } from '../../lib/membership/admin.js'
import { decodeOp } from '../../lib/membership/codec.js'
import type { Op } from '../../lib/membership/op.js'
import { createGenesis } from '../../lib/membership/org.js'
import { proveKeys } from '../../lib/membership/pop.js'
import { Replica } from '../../lib/membership/replica.js'
import { clearVerifyCache } from '../../lib/membership/verify.js'
import { SeededRandom } from '../../lib/random.js'
import { ADMIN_SHAPES, ATTACK_SHAPES, VALID_SHAPES, hostileOps, type AttackShape } from '../../lib/sim/hostile-ops.js'
import { formatTable, median, nowMs, progress, retainedBytes, round } from './measure.js'

/** The bounds of issue 11's acceptance. */
export const MAX_STORED_NEVER_VALID_BYTES = 64 * 1024
export const MAX_HEAP_BYTES_PER_STORED_OP = 2048
export const MAX_CPU_RATIO = 2
/** Heap growth allowed beyond 2 KB per op held (see the header). */
export const HEAP_SLACK_BYTES = 256 * 1024
/** Below this many ops held, the heap figure is per op sent. */
export const MIN_HELD_OPS = 64

export interface HostileRow {
  attack: AttackShape
  members: number
  budgetBytes: number
  sentBytes: number
  sentOps: number
  storedOps: number
  storedValidOps: number
  storedNeverValidOps: number
  storedNeverValidBytes: number
  parkedOps: number
  /** JS heap plus `external` (ArrayBuffers: ops' bytes, the verify cache), grown over the feed (median of runs). */
  heapBytes: number
  heapBytesPerStoredOp: number | null
  /** What heapBytesPerStoredOp divides by: the ops held (stored + parked), or sent when fewer than MIN_HELD_OPS are held. */
  heapPer: 'held' | 'sent'
  cpuUsPerOp: number | null
  honestCpuUsPerOp: number | null
  cpuRatioVsHonest: number | null
  /** The honest enrolls' heap growth per op, for scale. */
  honestHeapBytesPerOp: number | null
  /** Why the feed was cut short, if it was. */
  stopped: 'time' | 'heap' | null
  complete: boolean
  /** Whether the figures measured keep each bound (null: the bound does not apply). */
  within: { storage: boolean, heap: boolean, cpu: boolean | null }
  /** `within`, for a feed that got through its whole budget (`complete`). */
  pass: { storage: boolean, heap: boolean, cpu: boolean | null }
}

const SEED = 20240611
const ADMIN_ENROLLS = 10

interface Options { members: number, budgetMib: number, runs: number, json: boolean, attacks: AttackShape[], batchBytes: number, maxFeedS: number, maxHeapMib: number, honest: number }

function parseOptions (argv: string[]): Options {
  const o: Options = { members: 3000, budgetMib: 10, runs: 3, json: false, attacks: [...ATTACK_SHAPES], batchBytes: 1024, maxFeedS: 120, maxHeapMib: 1024, honest: 500 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = (): string => { const v = argv[++i]; if (v === undefined) throw new Error(`bench hostile: ${a} needs a value`); return v }
    if (a === '--members') o.members = Number(value())
    else if (a === '--budget-mib') o.budgetMib = Number(value())
    else if (a === '--runs') o.runs = Number(value())
    else if (a === '--attacks') o.attacks = value().split(',') as AttackShape[]
    else if (a === '--batch-bytes') o.batchBytes = Number(value())
    else if (a === '--max-feed-s') o.maxFeedS = Number(value())
    else if (a === '--max-heap-mib') o.maxHeapMib = Number(value())
    else if (a === '--honest') o.honest = Number(value())
    else if (a === '--json') o.json = true
    else throw new Error(`bench hostile: unknown option ${a}`)
  }
  if (!Number.isInteger(o.members) || o.members < 20) throw new Error('bench hostile: --members must be a whole number ≥ 20')
  if (!(o.budgetMib > 0)) throw new Error('bench hostile: --budget-mib must be > 0')
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('bench hostile: --runs must be a whole number ≥ 1')
  if (!Number.isInteger(o.batchBytes) || o.batchBytes < 256) throw new Error('bench hostile: --batch-bytes must be a whole number ≥ 256')
  if (!(o.maxFeedS > 0) || !(o.maxHeapMib > 0)) throw new Error('bench hostile: --max-feed-s and --max-heap-mib must be > 0')
  if (!Number.isInteger(o.honest) || o.honest < 10) throw new Error('bench hostile: --honest must be a whole number ≥ 10')
  for (const s of o.attacks) if (!(ATTACK_SHAPES as readonly string[]).includes(s)) throw new Error(`bench hostile: unknown attack ${s} (${ATTACK_SHAPES.join(', ')})`)
  return o
}

interface Org {
  genesis: Op
  /** The full sync: a fresh replica merges it to join the org. */
  sync: Uint8Array
  /** Enrolls the root authored after the sync, for the honest baseline. */
  honest: Packet[]
  attackers: { member: Ed25519Signer, admin: Ed25519Signer, revoked: Ed25519Signer }
}

/** Ops as one gossip packet carries them: their bytes end to end, and where each ends. */
interface Packet { bytes: Uint8Array, ends: number[] }

function packets (wires: Iterable<Uint8Array>, batchBytes: number): Packet[] {
  const out: Packet[] = []
  let cur: Uint8Array[] = []
  let size = 0
  const flush = (): void => {
    if (cur.length === 0) return
    const bytes = new Uint8Array(size)
    const ends: number[] = []
    let at = 0
    for (const w of cur) { bytes.set(w, at); at += w.length; ends.push(at) }
    out.push({ bytes, ends })
    cur = []
    size = 0
  }
  for (const w of wires) {
    if (size + w.length > batchBytes) flush()
    cur.push(w)
    size += w.length
  }
  flush()
  return out
}

function buildOrg (n: number, honest: number, batchBytes: number): Org {
  const random = new SeededRandom(SEED)
  const clock = new ManualClock()
  const signer = (): Ed25519Signer => new Ed25519Signer(random.bytes(32))
  const wg = (): Key => Key.fromBytes(random.bytes(32))
  const root = { wg: wg(), signer: signer() }
  const genesis = createGenesis({ rootWgPublicKey: root.wg, rootSigner: root.signer, name: 'bench', random, clock })
  const source = new Replica(genesis, { clock })
  const orgId = source.orgId
  const joiner = (roles: string[] = [], name?: string): { init: Parameters<Admin['enroll']>[0], signer: Ed25519Signer } => {
    const s = signer()
    const w = wg()
    return { init: { wgPublicKey: w, signPublicKey: s.publicKey, pop: proveKeys(s, orgId, w), roles, name }, signer: s }
  }
  const rootAdmin = new Admin(source, root.signer)
  const a = joiner(['admin'], 'admin-a')
  const b = joiner(['admin'], 'admin-b')
  const x = joiner([], 'member-x')
  for (const j of [a, b, x]) rootAdmin.enroll(j.init)
  const adminA = new Admin(source, a.signer)
  const adminB = new Admin(source, b.signer)
  for (let i = 0; i < 2; i++) adminB.enroll(joiner([], `node-b${i}`).init)
  for (let i = 0; i < ADMIN_ENROLLS; i++) adminA.enroll(joiner([], `node-a${i}`).init)
  for (let i = source.members().length; i <= n; i++) {
    rootAdmin.enroll(joiner([], `node-${String(i).padStart(5, '0')}`).init)
    if (i % 1000 === 0) progress(`  ${i}/${n}`)
  }
  rootAdmin.revoke(b.init.wgPublicKey, { reason: 'stolen laptop' })
  const sync = source.diff(new Replica(genesis, { clock }).digest())
  const ops: Uint8Array[] = []
  for (let i = 0; i < honest; i++) ops.push(rootAdmin.enroll(joiner([], `late-${i}`).init).wire)
  return { genesis, sync, honest: packets(ops, batchBytes), attackers: { member: x.signer, admin: a.signer, revoked: b.signer } }
}

/** A fresh replica of the org, synced, its view derived; and the ids it holds. */
async function syncedReplica (org: Org): Promise<{ replica: Replica, known: Set<string> }> {
  const replica = new Replica(org.genesis, { clock: new ManualClock() })
  await replica.merge(org.sync.slice(), 'bench')
  void replica.authority
  replica.members()
  return { replica, known: new Set(replica.log.byId.keys()) }
}

interface Feed {
  sentBytes: number
  sentOps: number
  cpuUs: number
  wallMs: number
  stopped: 'time' | 'heap' | null
}

/**
 * Feeds the packets to `replica` as received: each copied (a buffer of its own, as a socket
 * gives it), decoded, ingested from `source`, the authority read.
 */
async function feed (replica: Replica, list: Packet[], source: string, o: Options): Promise<Feed> {
  const heap0 = getHeapStatistics().used_heap_size
  const cpu0 = process.cpuUsage()
  const t0 = nowMs()
  let sentBytes = 0
  let sentOps = 0
  let stopped: Feed['stopped'] = null
  for (let i = 0; i < list.length; i++) {
    const p = list[i]
    const buf = p.bytes.slice()
    const ops = p.ends.map((end, j) => decodeOp(buf.subarray(j === 0 ? 0 : p.ends[j - 1], end)))
    await replica.ingest(ops, source)
    void replica.authority
    sentBytes += buf.length
    sentOps += ops.length
    if ((i & 15) === 15 && i + 1 < list.length) {
      if (nowMs() - t0 > o.maxFeedS * 1000) { stopped = 'time'; break }
      if (getHeapStatistics().used_heap_size - heap0 > o.maxHeapMib * 2 ** 20) { stopped = 'heap'; break }
    }
  }
  const cpu = process.cpuUsage(cpu0)
  return { sentBytes, sentOps, cpuUs: cpu.user + cpu.system, wallMs: nowMs() - t0, stopped }
}

interface AttackRun extends Feed {
  heapBytes: number
  storedOps: number
  storedValidOps: number
  storedNeverValidOps: number
  storedNeverValidBytes: number
  parkedOps: number
}

async function attackRun (org: Org, list: Packet[], o: Options): Promise<AttackRun> {
  clearVerifyCache()
  const { replica, known } = await syncedReplica(org)
  const held = await retainedBytes(async () => {
    const f = await feed(replica, list, 'attacker', o)
    // Validity up to date (the feed read it after every packet; once more costs nothing).
    void replica.authority
    let storedOps = 0
    let storedValidOps = 0
    let storedNeverValidBytes = 0
    for (const [id, op] of replica.log.byId) {
      if (known.has(id)) continue
      storedOps++
      if (op.valid) storedValidOps++
      else storedNeverValidBytes += op.wire.length
    }
    return { ...f, storedOps, storedValidOps, storedNeverValidOps: storedOps - storedValidOps, storedNeverValidBytes, parkedOps: replica.pending }
  })
  // JS heap and what is held outside it (`external`: the ops' bytes, the verify cache).
  return { ...held.value, heapBytes: held.heap + held.offHeap }
}

interface Honest { cpuUsPerOp: number, heapBytesPerOp: number }

async function honestRun (org: Org, o: Options): Promise<Honest> {
  clearVerifyCache()
  const { replica } = await syncedReplica(org)
  const held = await retainedBytes(async () => await feed(replica, org.honest, 'honest', o))
  const f = held.value
  if (f.stopped !== null) throw new Error('bench hostile: the honest baseline was stopped; raise --max-feed-s')
  return { cpuUsPerOp: f.cpuUs / f.sentOps, heapBytesPerOp: (held.heap + held.offHeap) / f.sentOps }
}

/** The attacker's ops, generated once from its own synced replica, as packets. */
async function attackPackets (org: Org, shape: AttackShape, budgetBytes: number, batchBytes: number): Promise<Packet[]> {
  const { replica } = await syncedReplica(org)
  const a = org.attackers
  const signer = ADMIN_SHAPES.has(shape) ? a.admin : shape === 'revoked-writes' ? a.revoked : a.member
  const wires: Uint8Array[] = []
  for (const op of hostileOps(shape, { replica, signer, seed: SEED }, budgetBytes)) wires.push(op.wire)
  return packets(wires, batchBytes)
}

function row (shape: AttackShape, n: number, budgetBytes: number, runs: AttackRun[], honest: Honest): HostileRow {
  const honestUs = honest.cpuUsPerOp
  const r = runs[0]
  const heldOps = r.storedOps + r.parkedOps
  const heapBytes = median(runs.map(x => x.heapBytes))
  const heapPer = heldOps >= MIN_HELD_OPS ? 'held' : 'sent'
  const perOp = heapPer === 'held' ? heapBytes / heldOps : r.sentOps > 0 ? heapBytes / r.sentOps : null
  const cpuUs = r.sentOps > 0 ? median(runs.map(x => x.cpuUs / x.sentOps)) : null
  const ratio = cpuUs === null ? null : cpuUs / honestUs
  const complete = r.stopped === null
  const within = {
    storage: r.storedNeverValidBytes <= MAX_STORED_NEVER_VALID_BYTES,
    heap: heapBytes <= MAX_HEAP_BYTES_PER_STORED_OP * heldOps + HEAP_SLACK_BYTES,
    cpu: VALID_SHAPES.has(shape) ? null : ratio !== null && ratio <= MAX_CPU_RATIO
  }
  return {
    attack: shape,
    members: n,
    budgetBytes,
    sentBytes: r.sentBytes,
    sentOps: r.sentOps,
    storedOps: r.storedOps,
    storedValidOps: r.storedValidOps,
    storedNeverValidOps: r.storedNeverValidOps,
    storedNeverValidBytes: r.storedNeverValidBytes,
    parkedOps: r.parkedOps,
    heapBytes: Math.round(heapBytes),
    heapBytesPerStoredOp: round(perOp, 0),
    heapPer,
    cpuUsPerOp: round(cpuUs),
    honestCpuUsPerOp: round(honestUs),
    honestHeapBytesPerOp: round(honest.heapBytesPerOp, 0),
    cpuRatioVsHonest: round(ratio, 2),
    stopped: r.stopped,
    complete,
    within,
    pass: { storage: complete && within.storage, heap: complete && within.heap, cpu: within.cpu === null ? null : complete && within.cpu }
  }
}

export async function runHostileBench (argv: string[]): Promise<void> {
  const o = parseOptions(argv)
  const budgetBytes = Math.floor(o.budgetMib * 2 ** 20)
  progress(`bench hostile: ${o.members} members, ${o.budgetMib} MiB per attack, ${o.runs} runs, packets of ${o.batchBytes} bytes`)
  progress(`building the org (${o.members} members, ${o.honest} honest enrolls for the baseline)`)
  const t0 = nowMs()
  const org = buildOrg(o.members, o.honest, o.batchBytes)
  progress(`  done in ${Math.round(nowMs() - t0)} ms; sync ${org.sync.length} bytes`)

  progress(`honest baseline: ${o.honest} enrolls (${o.runs} runs)`)
  const honestRuns: Honest[] = []
  for (let i = 0; i < o.runs; i++) honestRuns.push(await honestRun(org, o))
  const honest: Honest = { cpuUsPerOp: median(honestRuns.map(h => h.cpuUsPerOp)), heapBytesPerOp: median(honestRuns.map(h => h.heapBytesPerOp)) }
  progress(`  ${honest.cpuUsPerOp.toFixed(1)} µs CPU and ${Math.round(honest.heapBytesPerOp)} B of heap per honest enroll`)

  const rows: HostileRow[] = []
  for (const shape of o.attacks) {
    const t1 = nowMs()
    const list = await attackPackets(org, shape, budgetBytes, o.batchBytes)
    const ops = list.reduce((s, p) => s + p.ends.length, 0)
    progress(`${shape}: ${ops} ops in ${list.length} packets generated in ${Math.round(nowMs() - t1)} ms`)
    const runs: AttackRun[] = []
    let wallMs = 0
    for (let i = 0; i < o.runs && wallMs < o.maxFeedS * 1000; i++) {
      const r = await attackRun(org, list, o)
      runs.push(r)
      wallMs += r.wallMs
      progress(`${shape}:   run ${i + 1}: ${r.sentOps} ops in ${(r.wallMs / 1000).toFixed(1)} s, ${r.storedOps} stored (${r.storedNeverValidOps} never valid), ${r.parkedOps} parked, +${(r.heapBytes / 2 ** 20).toFixed(1)} MiB, ${(r.cpuUs / Math.max(1, r.sentOps)).toFixed(1)} µs/op${r.stopped !== null ? `, stopped (${r.stopped})` : ''}`)
      if (r.stopped !== null) break
    }
    rows.push(row(shape, o.members, budgetBytes, runs, honest))
  }

  if (o.json) {
    process.stdout.write(JSON.stringify(rows) + '\n')
    return
  }
  const kib = (b: number): number => round(b / 1024, 1) ?? 0
  // A stopped feed's marks are for what it sent (starred); its `pass` is false.
  const mark = (r: HostileRow, p: boolean | null): string => p === null ? '—' : (p ? 'ok' : 'FAIL') + (r.complete ? '' : '*')
  const header = ['attack', 'sent KiB', 'sent ops', 'stored ops', 'never-valid KiB', 'parked', 'heap MiB', 'heap B/op', 'per', 'CPU µs/op', '× honest', 'storage', 'heap', 'CPU', 'stopped']
  console.log(formatTable([header, ...rows.map(r => [
    r.attack, kib(r.sentBytes), r.sentOps, r.storedOps, kib(r.storedNeverValidBytes), r.parkedOps, round(r.heapBytes / 2 ** 20, 1),
    r.heapBytesPerStoredOp, r.heapPer, r.cpuUsPerOp, r.cpuRatioVsHonest, mark(r, r.within.storage), mark(r, r.within.heap), mark(r, r.within.cpu), r.stopped ?? ''
  ])]))
  console.log(`\nhonest enroll at ${o.members} members: ${round(honest.cpuUsPerOp)} µs CPU, ${round(honest.heapBytesPerOp, 0)} B of heap. Bounds: never-valid ≤ 64 KiB stored; heap ≤ ${MAX_HEAP_BYTES_PER_STORED_OP} B per op held + ${HEAP_SLACK_BYTES / 1024} KiB (per: held = stored + parked; sent when fewer than ${MIN_HELD_OPS} are held); CPU ≤ ${MAX_CPU_RATIO}× an honest op (not for admin-key-chain: its ops are valid).`)
  const stopped = rows.filter(r => r.stopped !== null)
  if (stopped.length > 0) console.log(`* stopped before the budget: ${stopped.map(r => `${r.attack} (${r.stopped})`).join(', ')}: figures and marks are for what was sent (JSON pass: false)`)
}
