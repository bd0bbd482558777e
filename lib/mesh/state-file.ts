/**
 * `state.json` in a state dir: the node's small mutable state, replaced whole by an atomic
 * write (write-then-rename), so a crash leaves the old file or the new one, never a mix.
 *
 * ```json
 * { "version": 1, "incarnation": 7, "checksum": "<16 hex digits>" }
 * ```
 *
 * `checksum` is the first 8 bytes, in hex, of SHA-256 over the canonical content
 * `JSON.stringify([version, incarnation])`, as in identity-file.ts: a flipped digit that
 * still parses is caught. Since no crash can tear the file, anything but exactly this format
 * is corruption (`StorageError`), never "repaired" to 0: a node that forgot its incarnation
 * would reuse numbers its peers have already seen and be ignored as stale.
 */
import { hash } from 'node:crypto'
import { StorageError } from '../errors.js'

export const STATE_FILE_VERSION = 1
/** A valid file is about 70 bytes. */
export const MAX_STATE_FILE_BYTES = 4096

const FIELDS = ['version', 'incarnation', 'checksum']

function checksum (version: number, incarnation: number): string {
  return hash('sha256', JSON.stringify([version, incarnation]), 'hex').slice(0, 16)
}

export function encodeStateFile (incarnation: number): string {
  return JSON.stringify({ version: STATE_FILE_VERSION, incarnation, checksum: checksum(STATE_FILE_VERSION, incarnation) }) + '\n'
}

/** The incarnation in file bytes; `path` only names the file in errors. */
export function decodeStateFile (bytes: Uint8Array, path: string): number {
  const fail = (why: string, cause?: unknown): never => {
    throw new StorageError(`state file ${path} is corrupted: ${why}`, { cause, path, offset: 0 })
  }
  if (bytes.length > MAX_STATE_FILE_BYTES) fail(`${bytes.length} bytes, limit ${MAX_STATE_FILE_BYTES}`)
  let v: unknown
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    fail('not utf-8 json', err)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('not a json object')
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) if (!FIELDS.includes(k)) fail(`unexpected field ${JSON.stringify(k)}`)
  if (o.version !== STATE_FILE_VERSION) fail(`unsupported version ${JSON.stringify(o.version)} (expected ${STATE_FILE_VERSION})`)
  const n = o.incarnation
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return fail('incarnation is not a non-negative safe integer')
  if (o.checksum !== checksum(STATE_FILE_VERSION, n)) fail('checksum mismatch')
  return n
}
