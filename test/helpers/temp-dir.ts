/** A fresh temporary directory per test, removed afterwards: `const dir = useTempDir()`. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TempDir { readonly path: string }

/** Call inside a `describe`: `dir.path` is a new empty directory in every test. */
export function useTempDir (prefix = 'wiremesh-test-'): TempDir {
  const state = { path: '' }
  beforeEach(() => { state.path = mkdtempSync(join(tmpdir(), prefix)) })
  afterEach(() => { rmSync(state.path, { recursive: true, force: true }) })
  return state
}
