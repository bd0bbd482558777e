/**
 * Network namespaces for the real-WireGuard tests and the backend bench: unique names from the
 * PID and a counter, removed by name. Nothing here touches anything it did not make.
 */
import { execFileSync } from 'node:child_process'

let counter = 0

/** A short unique tag (interface names have 15 characters). */
export function uniqueTag (): string {
  return `${(process.pid % 100_000).toString(36)}${(counter++).toString(36)}`
}

/** Creates `wmt-TAG` and returns its name. */
export function createNetns (tag = uniqueTag()): string {
  const name = `wmt-${tag}`
  execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' })
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { stdio: 'pipe' })
  return name
}

/** Deletes a namespace this process made (ignores one already gone). */
export function deleteNetns (name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' })
  } catch (err) {
    if (!/No such file|Cannot remove/i.test(String((err as { stderr?: unknown }).stderr ?? err))) throw err
  }
}
