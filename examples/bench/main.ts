/**
 * `npm run bench -- <command> [options]`: wiremesh's benchmarks.
 *
 *   membership [--members N] [--runs R] [--stores a,b] [--json]
 *       the membership op log at N members (default 10,000) against every op store and a
 *       naive Yjs / Automerge map (see membership.ts for what each figure means)
 *   hostile [--members N] [--budget-mib B] [--runs R] [--attacks a,b] [--json]
 *       one hostile member's crafted ops of every shape against a replica of N members
 *       (default 3,000): what it stores, its heap per op, its CPU per op against an honest
 *       enroll's, and the bounds of issue 11 (see hostile.ts)
 *   backend [--peers N] [--runs R] [--json]
 *       root: N peers onto a real wireguard-go device by uapi, wg-cli and one `wg set` per
 *       peer, and an unchanged resync (see backend.ts)
 *
 * Heap figures need `gc()`: when it is missing, this re-runs itself under `node --expose-gc`
 * with the same loader flags (tsx's), so the npm script needs no node options.
 */
import { spawnSync } from 'node:child_process'
import { runBackendBench } from './backend.js'
import { runHostileBench } from './hostile.js'
import { runMembershipBench } from './membership.js'
import { runMembershipHeap } from './membership-heap.js'

const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = {
  membership: runMembershipBench,
  backend: runBackendBench,
  hostile: runHostileBench,
  /** Internal: the heap figure for one store, in a process of its own (membership-heap.ts). */
  'membership-heap': runMembershipHeap
}

function usage (message?: string): never {
  if (message !== undefined) console.error(`bench: ${message}`)
  console.error(`usage: npm run bench -- <${Object.keys(COMMANDS).join('|')}> [options]`)
  console.error('  membership [--members N] [--runs R] [--stores native,yjs,automerge,naive-yjs,naive-automerge] [--json]')
  console.error('  backend [--peers N] [--runs R] [--json]')
  console.error('  hostile [--members N] [--budget-mib B] [--runs R] [--attacks key-chain,…] [--batch-bytes B] [--max-feed-s S] [--max-heap-mib M] [--honest H] [--json]')
  process.exit(2)
}

async function main (): Promise<void> {
  const [command, ...rest] = process.argv.slice(2)
  if (command === undefined || command === '--help' || command === '-h') usage()
  const run = COMMANDS[command]
  if (run === undefined) usage(`unknown command ${JSON.stringify(command)}`)
  if (typeof globalThis.gc !== 'function') {
    const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' })
    process.exit(r.status ?? 1)
  }
  await run(rest)
}

await main()
