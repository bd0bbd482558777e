/**
 * The ops one ingestion batch has resolved but not yet verified (ingest.ts): later ops of the
 * same batch resolve against them, and verification decides which go in.
 */
import { keyIdMapKey, type Key } from '../identity/key.js'
import { bytesEqual } from '../util/bytes.js'
import { HASH_PREFIX_BYTES, type Op } from './op.js'

/** Ops resolved in the current batch but not yet verified. */
export class Tentative {
  readonly keys = new Map<string, Key[]>()
  readonly ids = new Map<string, Uint8Array>()
  private readonly bySeq = new Map<string, Op[]>()

  add (op: Op, idKey: string): void {
    this.ids.set(idKey, op.sig)
    const k = `${op.author.idMapKey}:${op.seq}`
    const list = this.bySeq.get(k)
    if (list === undefined) this.bySeq.set(k, [op])
    else list.push(op)
    this.addKey(op.author)
    if (op.payload.kind === 2) this.addKey(op.payload.record.signPublicKey)
  }

  private addKey (k: Key): void {
    const id = k.idMapKey
    const list = this.keys.get(id)
    if (list === undefined) this.keys.set(id, [k])
    else if (!list.some(x => x.equals(k))) list.push(k)
  }

  at (keyIdStr: string, seq: number): Op[] { return this.bySeq.get(`${keyIdStr}:${seq}`) ?? [] }

  findOp (keyId: Uint8Array, seq: number, hash: Uint8Array): Op | undefined {
    for (const op of this.at(keyIdMapKey(keyId), seq)) {
      if (bytesEqual(op.id.subarray(0, HASH_PREFIX_BYTES), hash.subarray(0, HASH_PREFIX_BYTES))) return op
    }
    return undefined
  }
}
