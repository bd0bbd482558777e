/**
 * Checks a `DeviceChange` before any backend sends it, so that a caller's mistake is the same
 * `InvalidConfigError` from every backend (and never half a UAPI request): keys 32 bytes,
 * ports and keepalive in [0, 65535], fwmark a uint32, allowed IPs canonical CIDR, endpoints
 * IP literals, no peer upserted twice in one batch; and the shapes themselves (a change and
 * each upsert objects, `upserts`/`removals`/`allowedIps` arrays), so no input is a TypeError.
 *
 * Returns a copy with allowed IPs and endpoints in canonical form, which the serialisers write
 * as they are.
 */
import { InvalidConfigError } from '../errors.js'
import { Key } from '../identity/key.js'
import type { DeviceChange, PeerUpsert } from './backend.js'
import { canonicalCidr, canonicalEndpoint } from './cidr.js'

/** What the UAPI `persistent_keepalive_interval` and netlink's u16 hold. */
export const MAX_KEEPALIVE_S = 65535

function u (what: string, v: number | undefined, max: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > max)) throw new InvalidConfigError(`${what} must be an integer in [0, ${max}], got ${String(v)}`)
}

function bytes32 (what: string, b: Uint8Array | undefined | null): void {
  if (b != null && (!(b instanceof Uint8Array) || b.length !== 32)) throw new InvalidConfigError(`${what} must be 32 bytes, got ${b instanceof Uint8Array ? b.length : typeof b}`)
}

/** A plain object (not null, not an array): what a change, an upsert and an endpoint must be. */
function isRecord (v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function list (what: string, v: unknown): readonly unknown[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw new InvalidConfigError(`${what} must be an array, got ${typeof v}`)
  return v
}

export function checkChange (change: DeviceChange): DeviceChange {
  // The shapes first: a caller's malformed batch is an InvalidConfigError, never a TypeError from deep inside.
  if (!isRecord(change)) throw new InvalidConfigError(`a change must be an object, got ${Array.isArray(change) ? 'an array' : change === null ? 'null' : typeof change}`)
  const rawUpserts = list('upserts', change.upserts)
  const rawRemovals = list('removals', change.removals)
  bytes32('privateKey', change.privateKey)
  u('listenPort', change.listenPort, 65535)
  u('fwmark', change.fwmark, 0xffffffff)
  const seen = new Set<string>()
  const upserts: PeerUpsert[] = []
  for (const p of rawUpserts as PeerUpsert[]) {
    if (!isRecord(p)) throw new InvalidConfigError(`each upsert must be an object, got ${p === null ? 'null' : typeof p}`)
    if (!(p.publicKey instanceof Key)) throw new InvalidConfigError('upsert publicKey must be a Key')
    if (seen.has(p.publicKey.mapKey)) throw new InvalidConfigError(`peer ${p.publicKey.toBase64()} is upserted twice in one change`)
    seen.add(p.publicKey.mapKey)
    u('persistentKeepaliveS', p.persistentKeepaliveS, MAX_KEEPALIVE_S)
    bytes32('presharedKey', p.presharedKey)
    if (p.replaceAllowedIps === true && p.allowedIps === undefined) throw new InvalidConfigError(`peer ${p.publicKey.toBase64()}: replaceAllowedIps needs allowedIps (pass [] to clear)`)
    if (p.allowedIps !== undefined && !Array.isArray(p.allowedIps)) throw new InvalidConfigError(`peer ${p.publicKey.toBase64()}: allowedIps must be an array of CIDR strings`)
    if (p.endpoint !== undefined && !isRecord(p.endpoint)) throw new InvalidConfigError(`peer ${p.publicKey.toBase64()}: endpoint must be { host, port }`)
    const out: PeerUpsert = { ...p }
    if (p.allowedIps !== undefined) out.allowedIps = p.allowedIps.map(canonicalCidr)
    if (p.endpoint !== undefined) out.endpoint = canonicalEndpoint(p.endpoint)
    upserts.push(out)
  }
  for (const k of rawRemovals) if (!(k instanceof Key)) throw new InvalidConfigError('removals must be Keys')
  return { ...change, upserts, removals: rawRemovals as Key[] }
}
