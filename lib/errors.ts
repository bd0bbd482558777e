/**
 * One base error with a stable `code`, a `name` to tell classes apart and an optional
 * `cause` (modelled on undici's `lib/core/errors.js`). Tests assert `code`, never message
 * text. Messages are lowercase and specific: `failed to decode op: truncated at byte 12`.
 */
export class MeshError extends Error {
  override name = 'MeshError'
  code = 'WIREMESH_ERR'
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** A configuration value outside its documented range. */
export class InvalidConfigError extends MeshError {
  override name = 'InvalidConfigError'
  override code = 'WIREMESH_ERR_INVALID_CONFIG'
}

/** Bytes that are not a well-formed op (truncated, oversized, unknown kind, bad field). */
export class OpDecodeError extends MeshError {
  override name = 'OpDecodeError'
  override code = 'WIREMESH_ERR_OP_DECODE'
}

/** An op that is well-formed but fails rule 1 (signature, org, limits) or cannot be authored. */
export class InvalidOpError extends MeshError {
  override name = 'InvalidOpError'
  override code = 'WIREMESH_ERR_INVALID_OP'
}

/** A key that is not 32 bytes of base64, or otherwise unusable. */
export class InvalidKeyError extends MeshError {
  override name = 'InvalidKeyError'
  override code = 'WIREMESH_ERR_INVALID_KEY'
}

/** An identity file that is missing, corrupted or readable by others. */
export class IdentityFileError extends MeshError {
  override name = 'IdentityFileError'
  override code = 'WIREMESH_ERR_IDENTITY_FILE'
}

/** An invite token that is corrupted, for another org, or for a key that is not a member. */
export class InvalidInviteError extends MeshError {
  override name = 'InvalidInviteError'
  override code = 'WIREMESH_ERR_INVALID_INVITE'
}

/** An admin action this identity is not allowed to take (not an admin, outranked, revoked). */
export class NotAuthorizedError extends MeshError {
  override name = 'NotAuthorizedError'
  override code = 'WIREMESH_ERR_NOT_AUTHORIZED'
}

/** A digest or diff from another replica that this store cannot read. */
export class SyncDecodeError extends MeshError {
  override name = 'SyncDecodeError'
  override code = 'WIREMESH_ERR_SYNC_DECODE'
}

/** An operation was aborted through its `AbortSignal`. */
export class AbortError extends MeshError {
  override name = 'AbortError'
  override code = 'WIREMESH_ERR_ABORTED'
  constructor (message = 'the operation was aborted', options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** Throws an `AbortError` if the signal has fired. */
export function throwIfAborted (signal?: AbortSignal): void {
  if (signal?.aborted === true) throw new AbortError(undefined, { cause: signal.reason })
}

/** `p`, or an `AbortError` as soon as `signal` aborts (at once if it already has). */
export async function orAbort<T> (p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return await p
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new AbortError(undefined, { cause: signal.reason }))
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([p, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort!)
  }
}

/**
 * A `Mesh` call its lifecycle or its state does not allow: a method that needs a started
 * mesh, an empty state dir with neither `org` nor `invite`, an invite for another org than
 * the stored one, or admin actions after an authored op could not be stored.
 */
export class MeshStateError extends MeshError {
  override name = 'MeshStateError'
  override code = 'WIREMESH_ERR_MESH_STATE'
}

/**
 * A state dir that cannot be read or written: a file corrupted in a way no crash explains
 * (the message names the path and byte offset), a store created for another org, an I/O
 * failure (in `cause`), or a call the store's state does not allow (append before init).
 */
export class StorageError extends MeshError {
  override name = 'StorageError'
  override code = 'WIREMESH_ERR_STORAGE'
  /** The file at fault, when there is one. */
  readonly path: string | undefined
  /** For corruption: the byte offset in `path` where the bad record or field starts. */
  readonly offset: number | undefined
  constructor (message: string, options?: { cause?: unknown, path?: string, offset?: number }) {
    super(message, options)
    this.path = options?.path
    this.offset = options?.offset
  }
}

/**
 * A WireGuard device refused or failed a request: `op` says which (`read`, `apply`,
 * `create`, …), `errno` carries the device's or kernel's error number when it gave one
 * (UAPI `errno=N`, netlink `NLMSG_ERROR`, a tool's exit), `backend` which backend.
 */
export class WireGuardError extends MeshError {
  override name = 'WireGuardError'
  override code = 'WIREMESH_ERR_WIREGUARD'
  readonly backend: string
  readonly op: string
  readonly errno: number | undefined
  constructor (message: string, options: { backend: string, op: string, errno?: number, cause?: unknown }) {
    super(message, options)
    this.backend = options.backend
    this.op = options.op
    this.errno = options.errno
  }
}

/** Bytes or text from a WireGuard device (UAPI reply, netlink message, `wg show` dump) that do not parse. */
export class WireGuardProtocolError extends MeshError {
  override name = 'WireGuardProtocolError'
  override code = 'WIREMESH_ERR_WIREGUARD_PROTOCOL'
  /** Where in the input parsing stopped (line number for text, byte offset for netlink). */
  readonly at: number | undefined
  constructor (message: string, options?: { at?: number, cause?: unknown }) {
    super(message, options)
    this.at = options?.at
  }
}
