/**
 * `npm run bench -- membership [--members N] [--runs R] [--stores …] [--json]`
 *
 * Workload: one admin (the root) enrolls N members (default 10,000), then churn: N/100 of
 * them are removed and N/100 new ones enrolled (200 ops at 10k), interleaved. Per store:
 *
 *   localOpUs           µs per enroll authored by the admin, signing included
 *   syncBytesPerMember  size of the diff that brings an empty replica up to date, ÷ N
 *   upToDateMs          an empty replica merges that diff and lists its members, with every
 *                       signature verified (verify cache cleared first)
 *   mergeMs             the same with the signatures already verified (cache warm)
 *   churnDeltaBytes     the diff from a replica at the pre-churn state to the post-churn one
 *   churnApplyMs        that replica merges it (those ops verified cold) and lists its members
 *   heapBytesPerMember  in a fresh process (membership-heap.ts): gc; heapUsed; a replica merges
 *                       the full diff (cold cache) and lists its members; gc; heapUsed again;
 *                       ÷ N. The table also shows what the replica holds off the JS heap
 *                       (ArrayBuffers: the ops' wire bytes, the verify cache; not WASM)
 *
 * Timings are the median of `--runs` runs (default 5); BENCH_DEBUG=1 prints every run. The naive stores (naive.ts) do the same
 * workload on a plain Yjs / Automerge map, with nothing to verify (their upToDateMs and
 * mergeMs are the same measurement taken twice).
 */
import { existsSync } from 'node:fs'
import { ManualClock } from '../../lib/clock.js'
import { Admin } from '../../lib/membership/admin.js'
import { createGenesis } from '../../lib/membership/org.js'
import { proveKeys } from '../../lib/membership/pop.js'
import { Replica, storeFactories, type ReplicaInit } from '../../lib/membership/replica.js'
import type { OpStoreName } from '../../lib/membership/stores/store.js'
import { clearVerifyCache } from '../../lib/membership/verify.js'
import { SeededRandom } from '../../lib/random.js'
import { benchMembers, benchRoot, type BenchMember } from './keys.js'
import { heapInChild } from './membership-heap.js'
import { formatTable, nowMs, progress, round, timeMedian } from './measure.js'
import { emptyReplica, naiveAutomerge, naiveYjs, type NaiveStore } from './naive.js'

export interface MembershipRow {
  store: string
  members: number
  localOpUs: number | null
  syncBytesPerMember: number | null
  upToDateMs: number | null
  mergeMs: number | null
  churnDeltaBytes: number | null
  churnApplyMs: number | null
  heapBytesPerMember: number | null
}

/** A row as measured: the JSON figures plus what is held off the JS heap (table only). */
interface MeasuredRow extends MembershipRow { offHeapBytesPerMember: number | null }

const SIGNED_STORES: OpStoreName[] = ['native', 'yjs', 'automerge']
const ALL_STORES = [...SIGNED_STORES, 'naive-yjs', 'naive-automerge']
const SEED = 20240601

interface Options { members: number, runs: number, json: boolean, stores: string[] }

function parseOptions (argv: string[]): Options {
  const o: Options = { members: 10_000, runs: 5, json: false, stores: ALL_STORES }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = (): string => { const v = argv[++i]; if (v === undefined) throw new Error(`bench membership: ${a} needs a value`); return v }
    if (a === '--members') o.members = Number(value())
    else if (a === '--runs') o.runs = Number(value())
    else if (a === '--stores') o.stores = value().split(',')
    else if (a === '--json') o.json = true
    else throw new Error(`bench membership: unknown option ${a}`)
  }
  if (!Number.isInteger(o.members) || o.members < 100) throw new Error('bench membership: --members must be a whole number ≥ 100')
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('bench membership: --runs must be a whole number ≥ 1')
  for (const s of o.stores) if (!ALL_STORES.includes(s)) throw new Error(`bench membership: unknown store ${s} (${ALL_STORES.join(', ')})`)
  return o
}

/** Loads the yjs and automerge stores if their modules exist; they register themselves. */
export async function loadStores (): Promise<void> {
  for (const f of ['all', 'yjs', 'automerge']) {
    const url = new URL(`../../lib/membership/stores/${f}.ts`, import.meta.url)
    if (!existsSync(url)) continue
    try {
      await import(url.href)
    } catch (err) {
      progress(`bench: could not load stores/${f}.ts: ${(err as Error).message}`)
    }
  }
}

export interface Workload {
  n: number
  runs: number
  root: ReturnType<typeof benchRoot>
  members: BenchMember[]
  /** Enrolled during the churn. */
  added: BenchMember[]
  /** Removed during the churn (every 100th enrolled member). */
  removed: BenchMember[]
}

function unavailable (store: string, n: number): MeasuredRow {
  return { store, members: n, localOpUs: null, syncBytesPerMember: null, upToDateMs: null, mergeMs: null, churnDeltaBytes: null, churnApplyMs: null, heapBytesPerMember: null, offHeapBytesPerMember: null }
}

function expectMembers (store: string, got: number, want: number): void {
  if (got !== want) throw new Error(`bench ${store}: expected ${want} members, got ${got}`)
}

async function benchSigned (name: OpStoreName, w: Workload): Promise<MeasuredRow> {
  const clock = new ManualClock()
  const genesis = createGenesis({ rootWgPublicKey: w.root.wg, rootSigner: w.root.signer, name: 'bench', random: new SeededRandom(SEED), clock })
  const init: ReplicaInit = { store: name, clock }
  const fresh = (): Replica => new Replica(genesis, init)
  const n = w.n

  progress(`${name}: the admin enrolls ${n} members`)
  const source = fresh()
  const admin = new Admin(source, w.root.signer)
  // Each joiner proves possession of its key (the joiner's work, not the admin's: untimed).
  const pops = new Map(w.members.concat(w.added).map(m => [m, proveKeys(m.signer, source.orgId, m.wg)]))
  const t0 = nowMs()
  for (let i = 0; i < n; i++) {
    const m = w.members[i]
    admin.enroll({ wgPublicKey: m.wg, signPublicKey: m.sign, pop: pops.get(m)!, name: m.name })
    if ((i + 1) % 2500 === 0) progress(`${name}:   ${i + 1}/${n}`)
  }
  const localOpUs = (nowMs() - t0) * 1000 / n

  const diff = source.diff(fresh().digest())
  progress(`${name}: full sync ${diff.length} bytes; an empty replica merges it, cold cache (${w.runs} runs)`)
  const upToDateMs = await timeMedian(w.runs, () => { const r = fresh(); clearVerifyCache(); return r }, async r => {
    await r.merge(diff, 'bench')
    expectMembers(name, r.members().length, n + 1)
  })
  progress(`${name}: the same, warm cache`)
  const synced: Replica[] = []
  const mergeMs = await timeMedian(w.runs, fresh, async r => {
    await r.merge(diff, 'bench')
    r.members()
    synced.push(r)
  })

  progress(`${name}: churn (${w.removed.length} removes, ${w.added.length} enrolls)`)
  for (let i = 0; i < w.added.length; i++) {
    admin.remove(w.removed[i].wg)
    const m = w.added[i]
    admin.enroll({ wgPublicKey: m.wg, signPublicKey: m.sign, pop: pops.get(m)!, name: m.name })
  }
  const delta = source.diff(synced[0].digest())
  const churnApplyMs = await timeMedian(w.runs, () => { clearVerifyCache(); return synced.pop()! }, async r => {
    await r.merge(delta, 'bench')
    expectMembers(name, r.members().length, n + 1)
  })

  progress(`${name}: heap of a replica holding ${n} members (in a fresh process)`)
  const heap = heapInChild(name, n, diff, genesis.wire)
  return row(name, n, { localOpUs, syncBytes: diff.length, upToDateMs, mergeMs, churnDeltaBytes: delta.length, churnApplyMs }, heap)
}

async function benchNaive<D> (s: NaiveStore<D>, w: Workload): Promise<MeasuredRow> {
  const n = w.n
  progress(`${s.name}: ${n} local writes`)
  let doc = s.empty()
  const t0 = nowMs()
  for (let i = 0; i < n; i++) doc = s.set(doc, w.members[i])
  const localOpUs = (nowMs() - t0) * 1000 / n

  const full = s.save(doc)
  progress(`${s.name}: full sync ${full.length} bytes; an empty replica applies it (${w.runs} runs)`)
  const upToDate = async (): Promise<{ ms: number, replicas: D[] }> => {
    const replicas: D[] = []
    const ms = await timeMedian(w.runs, () => emptyReplica(s), r => {
      const d = s.apply(r, full)
      expectMembers(s.name, s.members(d).length, n)
      replicas.push(d)
    })
    return { ms, replicas }
  }
  const upToDateMs = (await upToDate()).ms
  const { ms: mergeMs, replicas } = await upToDate()

  progress(`${s.name}: churn`)
  const mark = s.mark(doc)
  for (let i = 0; i < w.added.length; i++) {
    doc = s.remove(doc, w.removed[i])
    doc = s.set(doc, w.added[i])
  }
  const delta = s.delta(doc, mark)
  const churnApplyMs = await timeMedian(w.runs, () => replicas.pop()!, r => {
    expectMembers(s.name, s.members(s.apply(r, delta)).length, n)
  })

  progress(`${s.name}: heap of a replica holding ${n} members (in a fresh process)`)
  const heap = heapInChild(s.name, n, full)
  return row(s.name, n, { localOpUs, syncBytes: full.length, upToDateMs, mergeMs, churnDeltaBytes: delta.length, churnApplyMs }, heap)
}

/** One table row from raw figures (rounded here, once). */
function row (store: string, n: number, f: { localOpUs: number, syncBytes: number, upToDateMs: number, mergeMs: number, churnDeltaBytes: number, churnApplyMs: number }, heap: { heapBytesPerMember: number | null, offHeapBytesPerMember: number | null }): MeasuredRow {
  return {
    store,
    members: n,
    localOpUs: round(f.localOpUs),
    syncBytesPerMember: round(f.syncBytes / n),
    upToDateMs: round(f.upToDateMs),
    mergeMs: round(f.mergeMs),
    churnDeltaBytes: f.churnDeltaBytes,
    churnApplyMs: round(f.churnApplyMs),
    heapBytesPerMember: heap.heapBytesPerMember,
    offHeapBytesPerMember: heap.offHeapBytesPerMember
  }
}

/** The members, the churn and the root, from the fixed seed. */
function makeWorkload (n: number, runs: number, verbose: boolean): Workload {
  const churn = Math.max(1, Math.round(n / 100))
  if (verbose) progress(`generating ${n + churn} identities (churn: ${churn} removes, ${churn} enrolls)`)
  const t0 = nowMs()
  const members = benchMembers(n + churn, SEED, verbose ? done => progress(`  ${done}/${n + churn}`) : undefined)
  if (verbose) progress(`  done in ${Math.round(nowMs() - t0)} ms`)
  const step = Math.floor(n / churn)
  return {
    n,
    runs,
    root: benchRoot(SEED),
    members: members.slice(0, n),
    added: members.slice(n),
    removed: Array.from({ length: churn }, (_, i) => members[i * step + (step >> 1)])
  }
}

export async function runMembershipBench (argv: string[]): Promise<void> {
  const o = parseOptions(argv)
  await loadStores()
  progress(`bench membership: ${o.members} members, ${o.runs} runs`)
  const w = makeWorkload(o.members, o.runs, true)

  const rows: MeasuredRow[] = []
  for (const store of o.stores) {
    if (store === 'naive-yjs') rows.push(await benchNaive(naiveYjs, w))
    else if (store === 'naive-automerge') rows.push(await benchNaive(naiveAutomerge, w))
    else if (!storeFactories.has(store as OpStoreName)) {
      progress(`${store}: not available (no store registered under that name)`)
      rows.push(unavailable(store, o.members))
    } else rows.push(await benchSigned(store as OpStoreName, w))
  }

  if (o.json) {
    const json: MembershipRow[] = rows.map(({ offHeapBytesPerMember: _, ...r }) => r)
    process.stdout.write(JSON.stringify(json) + '\n')
    return
  }
  const header = ['store', 'members', 'local op µs', 'sync B/member', 'up to date ms', 'merge ms', 'churn delta B', 'churn apply ms', 'heap B/member', 'off-heap B/member']
  console.log(formatTable([header, ...rows.map(r => [r.store, r.members, r.localOpUs, r.syncBytesPerMember, r.upToDateMs, r.mergeMs, r.churnDeltaBytes, r.churnApplyMs, r.heapBytesPerMember, r.offHeapBytesPerMember])]))
  const missing = rows.filter(r => r.localOpUs === null).map(r => r.store)
  if (missing.length > 0) console.log(`\nunavailable: ${missing.join(', ')} (store not registered)`)
}
