/**
 * The test runner behind `npm test` (run with tsx, so TypeScript specs load as ES modules).
 *
 *   npm test                                 every test/**\/*.spec.ts
 *   npm test -- test/identity                the specs under a directory (or named files)
 *   npm test -- --grep 'formatIpv6'          tests whose full title matches (a regexp, as mocha's --grep)
 *   SEED=123 npm test -- --grep '…'          replay a randomised test (the tests read SEED)
 *
 * Other options: `--timeout MS` (default 10000), `--bail`. Under `CI=true`, `.only` fails the run. The last line printed is exactly
 * `N passed, N failed` (plus `, N skipped` when tests were skipped), from mocha's runner
 * stats; the exit code is 1 iff something failed (a hook failure or a spec file that fails to
 * load counts as a failure), 2 for a usage error.
 */
import { readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import Mocha from 'mocha'

const TEST_ROOT = dirname(fileURLToPath(import.meta.url))
const SPEC_SUFFIX = '.spec.ts'
/** After the run, how long open handles (a leaked socket or timer) may keep the process alive. */
const EXIT_GRACE_MS = 5000

interface Args { paths: string[], grep?: string, timeoutMs: number, bail: boolean }

function usage (message: string): never {
  console.error(`test/run.ts: ${message}`)
  console.error('usage: npm test -- [--grep PATTERN] [--timeout MS] [--bail] [PATH ...]')
  process.exit(2)
}

function parseArgs (argv: string[]): Args {
  const args: Args = { paths: [], timeoutMs: 10_000, bail: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    const value = (): string => {
      if (inline !== undefined) return inline
      const v = argv[++i]
      if (v === undefined) usage(`${flag} needs a value`)
      return v
    }
    if (flag === '--grep' || flag === '-g') args.grep = value()
    else if (flag === '--timeout' || flag === '-t') {
      const v = value()
      args.timeoutMs = Number(v)
      if (!Number.isInteger(args.timeoutMs) || args.timeoutMs < 0) usage(`--timeout must be a whole number of ms, got ${v}`)
    } else if (flag === '--bail' || flag === '-b') args.bail = true
    else if (a.startsWith('-')) usage(`unknown option ${a}`)
    else args.paths.push(a)
  }
  return args
}

/** Spec files under `dir`, skipping node_modules and dot directories. */
function walk (dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue
    const p = join(dir, entry.name)
    if (entry.isDirectory()) walk(p, out)
    else if (entry.isFile() && entry.name.endsWith(SPEC_SUFFIX)) out.push(p)
  }
}

function collectFiles (paths: string[]): string[] {
  const files: string[] = []
  for (const p of paths.length === 0 ? [TEST_ROOT] : paths.map(p => resolve(p))) {
    let st
    try {
      st = statSync(p)
    } catch {
      usage(`no such file or directory: ${p}`)
    }
    if (st.isDirectory()) walk(p, files)
    else files.push(p)
  }
  return [...new Set(files)].sort()
}

function summary (passed: number, failed: number, skipped: number): string {
  return `${passed} passed, ${failed} failed` + (skipped > 0 ? `, ${skipped} skipped` : '')
}

function finish (line: string, failed: boolean): void {
  console.log(line)
  process.exitCode = failed ? 1 : 0
  // Exit on our own if something leaked keeps the loop alive; unref'd, so a clean run exits at
  // once. The summary is printed again so that it stays the last line.
  setTimeout(() => {
    console.log(`test/run.ts: open handles kept the process alive ${EXIT_GRACE_MS} ms after the run (a test leaked a socket or timer); exiting`)
    console.log(line)
    process.exit(process.exitCode)
  }, EXIT_GRACE_MS).unref()
}

/**
 * What `mocha.loadFilesAsync()` does, but always through `import()`. Mocha 12 on Node ≥ 20.19
 * tries `require()` first (require(esm)); under tsx that loads a spec's static imports as a
 * second copy of each lib module, distinct from what a dynamic `import()` returns, so classes
 * differ and `instanceof` fails. `import()` keeps one module graph. The suite events are the
 * ones mocha's interfaces (bdd: describe/it) listen to.
 */
const { EVENT_FILE_PRE_REQUIRE, EVENT_FILE_REQUIRE, EVENT_FILE_POST_REQUIRE } = Mocha.Suite.constants
async function loadSpecs (mocha: Mocha, files: string[]): Promise<void> {
  for (const f of files) {
    mocha.suite.emit(EVENT_FILE_PRE_REQUIRE, globalThis, f, mocha)
    const mod: unknown = await import(pathToFileURL(f).href)
    mocha.suite.emit(EVENT_FILE_REQUIRE, mod, f, mocha)
    mocha.suite.emit(EVENT_FILE_POST_REQUIRE, globalThis, f, mocha)
  }
}

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const files = collectFiles(args.paths)
  if (files.length === 0) usage(`no ${SPEC_SUFFIX} files in ${args.paths.join(' ') || relative(process.cwd(), TEST_ROOT)}`)

  const mocha = new Mocha({
    reporter: 'spec',
    ui: 'bdd',
    timeout: args.timeoutMs,
    bail: args.bail,
    color: process.stdout.isTTY,
    // A stray `.only` would silently shrink a CI run to one test.
    forbidOnly: process.env.CI === 'true'
  })
  if (args.grep !== undefined) mocha.grep(args.grep)
  try {
    await loadSpecs(mocha, files)
  } catch (err) {
    console.error('failed to load the spec files:')
    console.error(err)
    finish(summary(0, 1, 0), true)
    return
  }

  const runner = mocha.run()
  runner.on('end', () => {
    // The spec reporter prints its epilogue on the same 'end' event, registered earlier.
    const s = runner.stats ?? { passes: 0, failures: 0, pending: 0 }
    finish(summary(s.passes, s.failures, s.pending), s.failures > 0)
  })
}

await main()
