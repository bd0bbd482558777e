/**
 * Errors of the wire layer. Each has a stable `code` (tests assert it, never the message) and
 * is told apart by `name`, as the rest of `MeshError`'s family.
 *
 * Inbound packets never surface these: `Sealer.open` turns every failure into a drop reason.
 * They are thrown by the decoders themselves (`readHeader`) and by local misuse (`seal`).
 */
import { MeshError } from '../errors.js'

/** Bytes that are not a well-formed packet header (truncated, oversized, bad magic, …). */
export class WireDecodeError extends MeshError {
  override name = 'WireDecodeError'
  override code = 'WIREMESH_ERR_WIRE_DECODE'
}

/** A header this node was asked to write that breaks the layout (wrong sender length, …). */
export class WireEncodeError extends MeshError {
  override name = 'WireEncodeError'
  override code = 'WIREMESH_ERR_WIRE_ENCODE'
}

/** A packet that cannot be sealed: payload over the budget, or a low-order peer key. */
export class SealError extends MeshError {
  override name = 'SealError'
  override code = 'WIREMESH_ERR_SEAL'
}
