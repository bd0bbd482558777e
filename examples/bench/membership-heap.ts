/**
 * The heap figure of `bench membership`, measured in a fresh process per store, so that
 * nothing the other measurements left behind (hidden classes, caches, garbage still being
 * swept) is counted for or against the replica:
 *
 *   read the full sync (diff or saved document) the parent wrote to a temporary file; build a
 *   replica from it once and drop it (so compiled code and hidden classes exist, as in a
 *   running node); gc; heapUsed; a new replica applies it (verify cache cold) and lists its
 *   members; gc; heapUsed again; ÷ N. `external` likewise, for what is held off the JS heap.
 *
 * The parent runs `node --expose-gc <loader flags> main.ts membership-heap FILE` and reads
 * one line of JSON.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock } from '../../lib/clock.js'
import { Replica } from '../../lib/membership/replica.js'
import type { OpStoreName } from '../../lib/membership/stores/store.js'
import { clearVerifyCache } from '../../lib/membership/verify.js'
import { loadStores } from './membership.js'
import { retainedBytes, round } from './measure.js'
import { emptyReplica, naiveAutomerge, naiveYjs, type NaiveStore } from './naive.js'

export interface HeapFigures { heapBytesPerMember: number | null, offHeapBytesPerMember: number | null }

interface HeapJob { store: string, members: number, genesis?: string, sync: string }

/** Measures, in a child process, a new `store` replica applying `sync` (N members). */
export function heapInChild (store: string, members: number, sync: Uint8Array, genesisWire?: Uint8Array): HeapFigures {
  const dir = mkdtempSync(join(tmpdir(), 'wiremesh-bench-'))
  try {
    const file = join(dir, 'job.json')
    const job: HeapJob = { store, members, genesis: genesisWire === undefined ? undefined : Buffer.from(genesisWire).toString('base64'), sync: Buffer.from(sync).toString('base64') }
    writeFileSync(file, JSON.stringify(job))
    const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, process.argv[1], 'membership-heap', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    const line = r.stdout.trim().split('\n').pop() ?? ''
    if (r.status !== 0 || line === '') throw new Error(`bench membership-heap ${store}: exited with ${String(r.status)}`)
    return JSON.parse(line) as HeapFigures
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** `membership-heap FILE`: prints the figures as one line of JSON. */
export async function runMembershipHeap (argv: string[]): Promise<void> {
  const job = JSON.parse(readFileSync(argv[0], 'utf8')) as HeapJob
  const sync = new Uint8Array(Buffer.from(job.sync, 'base64'))
  const n = job.members
  await loadStores()
  let held: { heap: number, offHeap: number }
  if (job.store === 'naive-yjs' || job.store === 'naive-automerge') {
    held = job.store === 'naive-yjs' ? await naive(naiveYjs, sync, n) : await naive(naiveAutomerge, sync, n)
  } else {
    const genesis = new Uint8Array(Buffer.from(job.genesis ?? '', 'base64'))
    const init = { store: job.store as OpStoreName, clock: new ManualClock() }
    const build = async (): Promise<Replica> => {
      const r = Replica.fromGenesis(genesis, init)
      await r.merge(sync.slice(), 'bench')
      if (r.members().length !== n + 1) throw new Error(`bench membership-heap ${job.store}: wrong member count`)
      return r
    }
    await build()
    clearVerifyCache()
    held = await retainedBytes(build)
  }
  const out: HeapFigures = { heapBytesPerMember: round(held.heap / n, 0), offHeapBytesPerMember: round(held.offHeap / n, 0) }
  process.stdout.write(JSON.stringify(out) + '\n')
}

async function naive<D> (s: NaiveStore<D>, sync: Uint8Array, n: number): Promise<{ heap: number, offHeap: number }> {
  const build = async (): Promise<D> => {
    const d = s.apply(emptyReplica(s), sync.slice())
    if (s.members(d).length !== n) throw new Error(`bench membership-heap ${s.name}: wrong member count`)
    return d
  }
  await build()
  return await retainedBytes(build)
}
