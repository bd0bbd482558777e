/**
 * Liveness claims on the wire (DESIGN §3 "Liveness"): "member S is suspect / dead at
 * incarnation i, says F". Alive needs no claim of its own: it is the member's signed node
 * state at that incarnation (node-state.ts), which nobody else can forge. Suspect and dead
 * are unsigned, as in memberlist: they come inside a packet sealed by a current member, so
 * the sender is authenticated, and the worst a lying member can do is make a live node
 * refute (raise its incarnation), which it does in one round.
 *
 *   u8        type: 1 suspect, 2 dead
 *   bytes(8)  subject key id
 *   varuint   incarnation (≤ MAX_COUNTER, minimal)
 *   bytes(8)  from: the key id of the member that raised or confirmed it
 *
 * 18–26 bytes; an item of kind 2 in gossip, ping, ack and pullReply (messages.ts).
 */
import { KEY_ID_BYTES } from '../identity/key.js'
import { MAX_COUNTER } from '../membership/op.js'
import { Decoder, Encoder, readBytes, readU8, readVarUint, varUintLength, writeBytes, writeU8, writeVarUint } from '../util/encoding.js'
import { MessageDecodeError } from './errors.js'

export const CLAIM_SUSPECT = 1
export const CLAIM_DEAD = 2
export const MAX_CLAIM_BYTES = 1 + KEY_ID_BYTES + varUintLength(MAX_COUNTER) + KEY_ID_BYTES

export interface Claim {
  type: 'suspect' | 'dead'
  subject: Uint8Array
  incarnation: number
  from: Uint8Array
}

export function encodeClaim (c: Claim): Uint8Array {
  const fail = (m: string): never => { throw new MessageDecodeError(`failed to encode claim: ${m}`) }
  if (c.type !== 'suspect' && c.type !== 'dead') fail(`unknown type ${JSON.stringify(c.type)}`)
  if (!(c.subject instanceof Uint8Array) || c.subject.length !== KEY_ID_BYTES) fail(`subject must be ${KEY_ID_BYTES} bytes`)
  if (!(c.from instanceof Uint8Array) || c.from.length !== KEY_ID_BYTES) fail(`from must be ${KEY_ID_BYTES} bytes`)
  if (!Number.isInteger(c.incarnation) || c.incarnation < 0 || c.incarnation > MAX_COUNTER) fail(`incarnation ${String(c.incarnation)} out of range [0, ${MAX_COUNTER}]`)
  const enc = new Encoder(MAX_CLAIM_BYTES)
  writeU8(enc, c.type === 'suspect' ? CLAIM_SUSPECT : CLAIM_DEAD)
  writeBytes(enc, c.subject)
  writeVarUint(enc, c.incarnation)
  writeBytes(enc, c.from)
  return enc.view().slice()
}

/** Decodes one claim; hostile input throws only MessageDecodeError. */
export function decodeClaim (bytes: Uint8Array): Claim {
  const fail = (m: string): never => { throw new MessageDecodeError(`failed to decode claim: ${m}`) }
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_CLAIM_BYTES) fail(`claim must be at most ${MAX_CLAIM_BYTES} bytes`)
  try {
    const dec = new Decoder(bytes, fail)
    const t = readU8(dec)
    if (t !== CLAIM_SUSPECT && t !== CLAIM_DEAD) fail(`unknown type ${t}`)
    const subject = readBytes(dec, KEY_ID_BYTES).slice()
    const at = dec.pos
    const incarnation = readVarUint(dec, varUintLength(MAX_COUNTER))
    if (incarnation > MAX_COUNTER) fail(`incarnation at byte ${at} exceeds ${MAX_COUNTER}`)
    const from = readBytes(dec, KEY_ID_BYTES).slice()
    if (dec.pos !== bytes.length) fail(`${bytes.length - dec.pos} trailing bytes`)
    return { type: t === CLAIM_SUSPECT ? 'suspect' : 'dead', subject, incarnation, from }
  } catch (err) {
    if (err instanceof MessageDecodeError) throw err
    throw new MessageDecodeError(`failed to decode claim: ${(err as Error).message}`, { cause: err })
  }
}
