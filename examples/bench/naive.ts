/**
 * The reference points: membership as a plain CRDT map with no signatures, no causal checks
 * and no authority rules, i.e. what one gets by dropping wiremesh's op log for Yjs or Automerge.
 *
 * The map is keyed by the member's WireGuard key (base64) and holds `{ wg, sign, name, roles }`
 * (keys in base64). A local op is one map write in its own transaction / change; the full sync
 * is the whole document (`Y.encodeStateAsUpdate` / `Automerge.save`), the churn delta what
 * changed since the pre-churn state (update against its state vector / `saveSince` its heads),
 * and "members" is the sorted list of records read back out of the map.
 */
import * as A from '@automerge/automerge'
import * as Y from 'yjs'
import type { BenchMember } from './keys.js'

export interface NaiveRecord { wg: string, sign: string, name: string, roles: string[] }

/** One naive store: a document type with the operations the benchmark times. */
export interface NaiveStore<D> {
  readonly name: 'naive-yjs' | 'naive-automerge'
  empty: () => D
  /** Adds or removes one member as a local op; returns the (possibly new) document. */
  set: (doc: D, m: BenchMember) => D
  remove: (doc: D, m: BenchMember) => D
  /** The whole document, as a new replica would be sent it. */
  save: (doc: D) => Uint8Array
  /** A marker of the current state, for `delta`. */
  mark: (doc: D) => unknown
  /** What a replica at `mark` lacks. */
  delta: (doc: D, mark: unknown) => Uint8Array
  /** Applies a full save or a delta; returns the (possibly new) document. */
  apply: (doc: D, bytes: Uint8Array) => D
  members: (doc: D) => NaiveRecord[]
}

function record (m: BenchMember): NaiveRecord {
  return { wg: m.wg.toBase64(), sign: m.sign.toBase64(), name: m.name, roles: [] }
}

function sorted (out: NaiveRecord[]): NaiveRecord[] {
  return out.sort((a, b) => a.wg < b.wg ? -1 : a.wg > b.wg ? 1 : 0)
}

const MAP = 'members'

export const naiveYjs: NaiveStore<Y.Doc> = {
  name: 'naive-yjs',
  empty: () => new Y.Doc(),
  set (doc, m) { doc.transact(() => doc.getMap<NaiveRecord>(MAP).set(m.wg.toBase64(), record(m))); return doc },
  remove (doc, m) { doc.transact(() => doc.getMap<NaiveRecord>(MAP).delete(m.wg.toBase64())); return doc },
  save: doc => Y.encodeStateAsUpdate(doc),
  mark: doc => Y.encodeStateVector(doc),
  delta: (doc, mark) => Y.encodeStateAsUpdate(doc, mark as Uint8Array),
  apply (doc, bytes) { Y.applyUpdate(doc, bytes); return doc },
  members (doc) {
    const out: NaiveRecord[] = []
    doc.getMap<NaiveRecord>(MAP).forEach(v => { out.push(v) })
    return sorted(out)
  }
}

type AmDoc = A.Doc<{ members: Record<string, NaiveRecord> }>

export const naiveAutomerge: NaiveStore<AmDoc> = {
  name: 'naive-automerge',
  empty: () => A.from({ members: {} }, { actor: '00'.repeat(16) }),
  set: (doc, m) => A.change(doc, d => { d.members[m.wg.toBase64()] = record(m) }),
  remove: (doc, m) => A.change(doc, d => { delete d.members[m.wg.toBase64()] }),
  save: doc => A.save(doc),
  mark: doc => A.getHeads(doc),
  delta: (doc, mark) => A.saveSince(doc, mark as A.Heads),
  apply: (doc, bytes) => A.loadIncremental(doc, bytes),
  members (doc) {
    const out: NaiveRecord[] = []
    for (const v of Object.values(doc.members)) out.push({ wg: v.wg, sign: v.sign, name: v.name, roles: [...v.roles] })
    return sorted(out)
  }
}

/** A fresh replica for `apply`: Automerge needs one that shares no history with the source. */
export function emptyReplica<D> (store: NaiveStore<D>): D {
  return store.name === 'naive-automerge' ? A.init() as D : store.empty()
}
