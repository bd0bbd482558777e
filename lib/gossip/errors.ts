/**
 * Errors of the gossip transports. Each has a stable `code` (tests assert it, never the
 * message) and is told apart by `name`, as the rest of `MeshError`'s family.
 */
import { MeshError } from '../errors.js'

/** A `host:port` string or `{ host, port }` that is not a usable UDP endpoint. */
export class InvalidEndpointError extends MeshError {
  override name = 'InvalidEndpointError'
  override code = 'WIREMESH_ERR_INVALID_ENDPOINT'
}

/**
 * A packet larger than the transport's `maxPacketBytes`. Thrown by `send()`: it is the
 * caller's bug (larger transfers must be paged, DESIGN §3 "Limits"), not a network error.
 */
export class PacketTooLargeError extends MeshError {
  override name = 'PacketTooLargeError'
  override code = 'WIREMESH_ERR_PACKET_TOO_LARGE'
}

/** A transport that could not start: the address is in use or cannot be bound. */
export class TransportStartError extends MeshError {
  override name = 'TransportStartError'
  override code = 'WIREMESH_ERR_TRANSPORT_START'
}

/** A transport asked for something that needs it started (its local endpoint). */
export class TransportNotStartedError extends MeshError {
  override name = 'TransportNotStartedError'
  override code = 'WIREMESH_ERR_TRANSPORT_NOT_STARTED'
}

/**
 * Bytes that are not a well-formed signed node state (truncated, oversized, non-canonical,
 * bad field), or a node state that breaks a limit when it is encoded (DESIGN §3 "Node state").
 */
export class NodeStateDecodeError extends MeshError {
  override name = 'NodeStateDecodeError'
  override code = 'WIREMESH_ERR_NODE_STATE_DECODE'
}

/**
 * A gossip message payload that is malformed (truncated, oversized, non-canonical, over a
 * `MAX_*` limit), or a message that cannot be encoded as asked (a field out of range, fixed
 * fields over the byte budget). See `messages.ts`.
 */
export class MessageDecodeError extends MeshError {
  override name = 'MessageDecodeError'
  override code = 'WIREMESH_ERR_MESSAGE_DECODE'
}
