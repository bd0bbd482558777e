/**
 * Tests that need something from the machine (a binary such as `wg`, root, network
 * namespaces, qemu) call one of these first. The rule, in one place:
 *
 * - present: the test runs;
 * - missing on a developer machine: the test is skipped, with the reason printed;
 * - missing in CI (`CI=true`): the test FAILS, because `.ci/run` installs everything and a
 *   silently skipped test there would hide a broken CI set-up.
 *
 * Use from a `function` (not an arrow), so mocha's `this` is the context:
 *
 * ```ts
 * it('matches wg pubkey', function () {
 *   requireOrSkip(this, 'wg', 'wireguard-tools is needed to cross-check keys')
 *   …
 * })
 * ```
 *
 * Called in a `before` hook, a skip skips every test of the suite.
 */
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

const found = new Map<string, boolean>()

/** True when `name` is an executable file on `PATH`. */
export function hasTool (name: string): boolean {
  let ok = found.get(name)
  if (ok === undefined) {
    ok = (process.env.PATH ?? '').split(delimiter).some(dir => {
      if (dir === '') return false
      try {
        accessSync(join(dir, name), constants.X_OK)
        return true
      } catch {
        return false
      }
    })
    found.set(name, ok)
  }
  return ok
}

export function isCi (): boolean { return process.env.CI === 'true' }

/** Skips the test (or fails it under `CI=true`) unless `ok`; `what` names the missing thing. */
export function requireOrSkipIf (ctx: Mocha.Context, ok: boolean, what: string, reason: string): void {
  if (ok) return
  if (isCi()) throw new Error(`${what} is required when CI=true (${reason})`)
  console.log(`      skipped: ${what} is not available (${reason})`)
  ctx.skip()
}

/** Skips the test (or fails it under `CI=true`) unless the binary `tool` is on `PATH`. */
export function requireOrSkip (ctx: Mocha.Context, tool: string, reason: string): void {
  requireOrSkipIf(ctx, hasTool(tool), `the \`${tool}\` binary`, reason)
}

/** Skips the test (or fails it under `CI=true`) unless running as root. */
export function requireRootOrSkip (ctx: Mocha.Context, reason: string): void {
  requireOrSkipIf(ctx, process.getuid?.() === 0, 'root', reason)
}
