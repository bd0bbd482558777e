/**
 * The identity file in the state dir: a small JSON text file, mode exactly 0600.
 *
 * ```json
 * {
 *   "version": 1,
 *   "wgPrivateKey": "<base64, as `wg genkey` prints it>",
 *   "wgPublicKey": "<base64, as `wg pubkey` prints it>",
 *   "signPrivateKey": "<base64 Ed25519 seed, 32 bytes>",
 *   "signPublicKey": "<base64 Ed25519 public key>",
 *   "checksum": "<16 hex digits>"
 * }
 * ```
 *
 * `checksum` is the first 8 bytes, in hex, of SHA-256 over the canonical content
 * `JSON.stringify([version, wgPrivateKey, wgPublicKey, signPrivateKey, signPublicKey])`, so a
 * flipped or lost byte is caught even where it still parses. The public keys are redundant
 * on purpose: a loader checks each against its private key, and a person can read the
 * node's id without a tool.
 *
 * Loading refuses, with `IdentityFileError`, a missing file, a file that group or others
 * may access, anything not exactly this format, and keys that do not match. It never
 * "repairs" a file: a node whose identity is unreadable must not become a new node silently.
 */
import { hash } from 'node:crypto'
import { mkdir, open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { IdentityFileError } from '../errors.js'
import { writeFileAtomic } from './atomic-file.js'
import { generateIdentity, NodeIdentity } from './identity.js'
import { Key } from './key.js'

export const IDENTITY_FILE_VERSION = 1
export const IDENTITY_FILE_MODE = 0o600
/** A valid file is about 300 bytes; anything far larger is not ours. */
export const MAX_IDENTITY_FILE_BYTES = 4096

const FIELDS = ['version', 'wgPrivateKey', 'wgPublicKey', 'signPrivateKey', 'signPublicKey', 'checksum'] as const

/** The file's JSON content. */
export interface IdentityFileContent {
  version: number
  wgPrivateKey: string
  wgPublicKey: string
  signPrivateKey: string
  signPublicKey: string
  checksum: string
}

/** The checksum over the canonical content (see the file header). */
export function identityFileChecksum (c: Omit<IdentityFileContent, 'checksum'>): string {
  const canonical = JSON.stringify([c.version, c.wgPrivateKey, c.wgPublicKey, c.signPrivateKey, c.signPublicKey])
  return hash('sha256', canonical, 'hex').slice(0, 16)
}

export function encodeIdentityFile (identity: NodeIdentity): string {
  const body = {
    version: IDENTITY_FILE_VERSION,
    wgPrivateKey: identity.wgPrivateKeyBase64(),
    wgPublicKey: identity.wgPublicKey.toBase64(),
    signPrivateKey: identity.signPrivateKeyBase64(),
    signPublicKey: identity.signPublicKey.toBase64()
  }
  const content: IdentityFileContent = { ...body, checksum: identityFileChecksum(body) }
  return JSON.stringify(content, null, 2) + '\n'
}

/** Parses file text; `path` only names the file in error messages. */
export function decodeIdentityFile (text: string, path: string): NodeIdentity {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    throw new IdentityFileError(`identity file ${path} is not valid json: ${(err as Error).message.toLowerCase()}`, { cause: err })
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new IdentityFileError(`identity file ${path} is not a json object`)
  const o = v as Record<string, unknown>
  if (o.version !== IDENTITY_FILE_VERSION) {
    throw new IdentityFileError(`identity file ${path} has unsupported version ${JSON.stringify(o.version)} (expected ${IDENTITY_FILE_VERSION})`)
  }
  for (const k of Object.keys(o)) {
    if (!(FIELDS as readonly string[]).includes(k)) throw new IdentityFileError(`identity file ${path} has unexpected field ${JSON.stringify(k)}`)
  }
  for (const k of FIELDS) {
    if (k !== 'version' && typeof o[k] !== 'string') throw new IdentityFileError(`identity file ${path} is missing string field ${k}`)
  }
  const c = o as unknown as IdentityFileContent
  if (c.checksum !== identityFileChecksum(c)) throw new IdentityFileError(`identity file ${path} is corrupted: checksum mismatch`)

  const identity = NodeIdentity.fromPrivateKeys(keyField(c, 'wgPrivateKey', path).bytes, keyField(c, 'signPrivateKey', path).bytes)
  if (!identity.wgPublicKey.equals(keyField(c, 'wgPublicKey', path))) {
    throw new IdentityFileError(`identity file ${path}: wgPublicKey does not match wgPrivateKey`)
  }
  if (!identity.signPublicKey.equals(keyField(c, 'signPublicKey', path))) {
    throw new IdentityFileError(`identity file ${path}: signPublicKey does not match signPrivateKey`)
  }
  return identity
}

/** 32 bytes from a base64 field (private keys share the `wg` text form with public ones). */
function keyField (c: IdentityFileContent, field: 'wgPrivateKey' | 'wgPublicKey' | 'signPrivateKey' | 'signPublicKey', path: string): Key {
  try {
    return Key.fromBase64(c[field])
  } catch (err) {
    throw new IdentityFileError(`identity file ${path}: ${field} is not 44 characters of base64`, { cause: err })
  }
}

/** Writes the identity atomically with mode 0600, creating the directory (0700) if needed. */
export async function saveIdentity (path: string, identity: NodeIdentity): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  await writeFileAtomic(path, encodeIdentityFile(identity), { mode: IDENTITY_FILE_MODE })
}

export async function loadIdentity (path: string): Promise<NodeIdentity> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new IdentityFileError(`identity file ${path} does not exist`, { cause: err })
    throw new IdentityFileError(`cannot open identity file ${path}: ${code ?? String(err)}`, { cause: err })
  }
  try {
    // fstat the open file, not the path, so the checks apply to the bytes we read.
    const st = await fh.stat()
    if (!st.isFile()) throw new IdentityFileError(`identity file ${path} is not a regular file`)
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0')
      throw new IdentityFileError(`identity file ${path} has mode ${mode}, which lets group or others read it: run chmod 600 ${path}`)
    }
    if (st.size > MAX_IDENTITY_FILE_BYTES) throw new IdentityFileError(`identity file ${path} is ${st.size} bytes, limit ${MAX_IDENTITY_FILE_BYTES}`)
    const buf = await fh.readFile()
    let text: string
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf)
    } catch (err) {
      throw new IdentityFileError(`identity file ${path} is not valid utf-8`, { cause: err })
    }
    return decodeIdentityFile(text, path)
  } finally {
    await fh.close()
  }
}

/**
 * Loads the identity at `path`, or generates and saves one if there is no file. Any other
 * problem (corruption, permissions) is thrown, never papered over with a new identity. Two
 * processes racing here end up with the same identity: creation never replaces a file.
 */
export async function loadOrCreateIdentity (path: string): Promise<NodeIdentity> {
  try {
    return await loadIdentity(path)
  } catch (err) {
    if (!(err instanceof IdentityFileError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT')) throw err
  }
  const identity = await generateIdentity()
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  try {
    await writeFileAtomic(path, encodeIdentityFile(identity), { mode: IDENTITY_FILE_MODE, overwrite: false })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return await loadIdentity(path)
    throw err
  }
  return identity
}
