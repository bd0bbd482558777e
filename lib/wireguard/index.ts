/**
 * The WireGuard side of wiremesh: the backend contract and the backends built on it, the
 * canonical CIDR/endpoint text they share, the userspace link set-up and the wg-quick export.
 * The netlink backend is exported from its own module (it loads a native socket binding).
 */
export type { BackendKind, DeviceChange, DeviceState, PeerUpsert, WgEndpoint, WgPeer, WireGuardBackend } from './backend.js'
export {
  canonicalCidr, canonicalEndpoint, formatCidr, formatEndpoint, formatIp, parseCidr, parseEndpoint, parseIp,
  type Cidr, type IpAddress, type IpFamily
} from './cidr.js'
export { checkChange } from './change.js'
export { MemoryBackend, type FailNext, type MemoryBackendInit } from './memory.js'
export { DEFAULT_SOCKET_DIR, UapiBackend, type UapiInit } from './uapi.js'
export { encodeSetRequest, parseGetReply, parseSetReply, type GetReply } from './uapi-codec.js'
export { WgCliBackend, type WgCliInit } from './wg-cli.js'
export { parseDump } from './wg-dump.js'
export { toWgQuickConfig, wgQuickStrip, type WgQuickConfig, type WgQuickPeer } from './wg-quick.js'
export { createUserspaceLink, UserspaceLink, type UserspaceLinkInit } from './userspace-link.js'
