/**
 * The native store (default): ops in per-author chains (the `OpLog`); sync by range-based set
 * reconciliation over the chains' tips and the standalone ops, in digests of bounded size.
 *
 * Items. What a digest summarises is a sorted list of items: one per chain tip (an op with no
 * successor on its chain; several where the chain forks), keyed by class 0 ‖ the author's key
 * id, and one per standalone op (leave), keyed by class 1 ‖ its id's first 8 bytes. A chain's
 * tips pin its whole history (each op names its prev), so equal items mean equal op sets.
 *
 * Digest layout (`digest`, `respond`; codec in native-digest.ts):
 *
 *   u8       DIGEST_VERSION << 4 | hop          hop: messages so far in this exchange (≤ MAX_HOPS)
 *   varuint  r ≥ 1, then r ranges, ascending and covering every key:
 *     [bytes(9) upper bound]                   class ‖ 8-byte key, all but the last range (whose
 *                                              upper bound is past every key); a range's lower
 *                                              bound is the previous range's upper one
 *     u8       mode, then its body:
 *       0 skip         nothing: no information about this range
 *       1 fingerprint  varuint count ‖ [bytes(16) first 16 bytes of SHA-256("wiremesh/digest/v1\0"
 *                      ‖ varuint count ‖ per item: key ‖ varuint seq ‖ id) if count > 0]
 *       2 list, ask    list: "here are my items; send what I lack, and tell me yours"
 *       3 list, final  list: "here are my items; send what I lack" (never answered with a list)
 *   list  = varuint g ‖ g × (bytes(8) key id ‖ varuint (t << 1 | more) ‖
 *                            t × (varuint seq ‖ bytes(HASH_PREFIX_BYTES) id prefix))    tips
 *         ‖ varuint s ‖ s × bytes(HASH_PREFIX_BYTES) id prefix                          standalone
 *           key ids ascending, 1 ≤ t ≤ MAX_KEY_TIPS (the highest tips of a key id; `more` when
 *           it has others), standalone prefixes ascending; all inside the range.
 *
 * A level-0 digest (`digest(budget)`) is, in order of preference, whatever fits `budget`:
 *   1. one list range of every item — the exact heads (what this store always sent before);
 *   2. a list of the chain tips, then the standalone ops split into fingerprint ranges;
 *   3. every item split into fingerprint ranges of equal item counts.
 * It depends only on the op set and the budget: replicas holding the same ops produce the same
 * bytes. `digest()` (no budget) is always form 1: unbounded, for in-process sync and tests.
 *
 * Reconciliation. `diff(remote)` returns the ops the remote lacks in the ranges where it can
 * tell: every op in a fingerprint range the remote holds nothing of, and, against a list, the
 * ops past the listed tips (and the standalone ops not listed). `respond(remote, budget)` is the
 * next message of the exchange, one hop further: per remote range,
 *   - fingerprint equal to ours: skip. Differing: our list (ask) if it fits, else the range
 *     split into up to SPLIT_PARTS fingerprint ranges of our items (ask); a range the remote
 *     holds nothing of is skipped (the diff sends it whole), one we hold nothing of gets an
 *     empty final list (send it all);
 *   - list (ask): if it names something we do not hold, our list (final) of the key ids and
 *     standalone ops it named, so the remote can send what we lack; else skip;
 *   - list (final), skip: skip (the diff answered it).
 * A range that does not fit the budget is folded, with all after it, into one fingerprint
 * range, refined on a later hop. A respond that has nothing to say is undefined. Every hop
 * narrows a differing range or lists it, and a message at hop MAX_HOPS (15) asks nothing, so
 * an exchange always ends; what it leaves the next exchange finishes (the digests then differ
 * again). Replicas converge to the union, after which their level-0 digests are equal.
 *
 * Against a list, per chain: a remote tip we do not hold, beyond our head, means the remote is
 * ahead on the same history, unless our chain forks or a remote tip sits at a seq where we hold
 * a different op (a fork the remote has not seen): then every op that is not in the past of a
 * tip we matched is sent, which is how equivocation evidence reaches every replica. Tips that
 * match another chain with the same key id are not counted against this one.
 *
 * Every op a diff sends is one the remote lacks (but for the fork cases above), so any prefix
 * of it, in lamport order, makes progress: the gossiper cuts a diff at its reply window
 * (`diff(remote, limitBytes)`) and the remote pulls again for the rest.
 *
 * Diff layout: varuint n ‖ n × varbytes(wire op), in lamport order (a causal order).
 */
import { SyncDecodeError } from '../../errors.js'
import { bytesEqual } from '../../util/bytes.js'
import { Decoder, Encoder, readVarUint, writeVarBytes, writeVarUint } from '../../util/encoding.js'
import { readDecodedOp } from '../codec.js'
import type { Chain, LoggedOp, OpLog } from '../log.js'
import { HASH_PREFIX_BYTES, MAX_OP_BYTES, type Op, type WireOp } from '../op.js'
import {
  CLASS_CHAIN, CLASS_STANDALONE, compareItems, type Entry, entryBytes, FP_RANGE_BYTES, fingerprint, fingerprintBody,
  HEADER_BYTES, type Item, Layout, listBody, lowerBound, MAX_HOPS, Mode, readDigest, type RemoteGroup, type RemoteList,
  type RemoteRange, skip, STANDALONE_START, writeDigest
} from './native-digest.js'
import type { OpStore, UnpackResult } from './store.js'

/**
 * The budget of the level-0 digest a gossiper hashes into its heads hash: one size on every
 * node, so equal op sets hash alike whatever each node's packet budget. A digest message of
 * this many ops-digest bytes, with the 16 state buckets at their largest (192 bytes) and its
 * framing, fits a payload of 1180 bytes: a 1232-byte packet, the overlay packet budget at
 * IPv6's minimum MTU of 1280 (DESIGN §3 "Limits"). The digests a gossiper sends use whatever
 * room its packets leave (`opsDigestRoom`).
 */
export const DIGEST_BYTES = 960
/** The smallest budget a digest can be made in: one fingerprint range and the header. */
export const MIN_DIGEST_BYTES = HEADER_BYTES + FP_RANGE_BYTES
/** The least an item costs in a list: a tip's seq and id prefix, or a standalone op's prefix. */
const LIST_ITEM_BYTES = HASH_PREFIX_BYTES
/** Sub-ranges a differing fingerprint range is split into at most. */
export const SPLIT_PARTS = 16
/** What a gossiper sends as a pull's digest when it asks for node states only: one skip range. */
export const NOTHING_ASKED = writeDigest(MAX_HOPS, [{ hi: undefined, mode: Mode.skip, body: undefined }])

function fail (message: string): never { throw new SyncDecodeError(`failed to decode native sync message: ${message}`) }

export interface Response {
  /** Our next message of the exchange, or undefined when there is nothing to ask or tell. */
  reply: Uint8Array | undefined
  /** Whether every range of the remote digest matched ours: the op sets are the same. */
  same: boolean
}

export class NativeOpStore implements OpStore {
  readonly name = 'native' as const
  private snapshot: { version: number, items: Item[] } | undefined
  constructor (private readonly log: OpLog) {}

  add (_op: Op): void { /* the log is the store */ }
  has (id: Uint8Array): boolean { return this.log.has(id) }
  get size (): number { return this.log.size }

  /** The items, sorted; rebuilt when the log has changed. */
  private items (): Item[] {
    const v = this.log.version
    if (this.snapshot?.version === v) return this.snapshot.items
    const items: Item[] = []
    for (const op of this.log.tips()) items.push({ key: CLASS_CHAIN + op.author.idMapKey, seq: op.seq, idKey: op.idKey, op })
    for (const op of this.log.standalone) items.push({ key: CLASS_STANDALONE + op.idKey.slice(0, 8), seq: 0, idKey: op.idKey, op })
    items.sort(compareItems)
    this.snapshot = { version: v, items }
    return items
  }

  /**
   * The level-0 digest in at most `budgetBytes` (≥ MIN_DIGEST_BYTES unless unbounded). `final`:
   * its list says "final" (a pull that wants what it lacks and nothing asked back).
   */
  digest (budgetBytes = Infinity, final = false): Uint8Array {
    const items = this.items()
    const n = items.length
    const list = final ? Mode.listFinal : Mode.listAsk
    // A list costs at least LIST_ITEM_BYTES an item: a set that large is not listed at all.
    if (n * LIST_ITEM_BYTES <= budgetBytes) {
      const whole = writeDigest(0, [{ hi: undefined, mode: list, body: listBody(items, 0, n) }])
      if (whole.length <= budgetBytes) return whole
    }
    if (!(budgetBytes >= MIN_DIGEST_BYTES)) throw new RangeError(`digest budget ${budgetBytes} is below ${MIN_DIGEST_BYTES} bytes`)
    const s = lowerBound(items, STANDALONE_START)
    if (s < n && s * LIST_ITEM_BYTES <= budgetBytes) {
      const chains: Entry = { hi: STANDALONE_START, mode: list, body: listBody(items, 0, s) }
      const parts = Math.floor((budgetBytes - HEADER_BYTES - entryBytes(chains)) / FP_RANGE_BYTES)
      if (parts >= 1) return writeDigest(0, [chains, ...this.split(items, s, n, parts, undefined)])
    }
    const parts = Math.floor((budgetBytes - HEADER_BYTES) / FP_RANGE_BYTES)
    return writeDigest(0, this.split(items, 0, n, parts, undefined))
  }

  /** `items[i … j)` as up to `parts` fingerprint ranges, cut where the key changes; the last ends at `hi`. */
  private split (items: Item[], i: number, j: number, parts: number, hi: string | undefined): Entry[] {
    const out: Entry[] = []
    let start = i
    for (let p = 1; p < parts; p++) {
      let cut = i + Math.round((j - i) * p / parts)
      if (cut <= start) continue
      while (cut < j && items[cut].key === items[cut - 1].key) cut++
      if (cut >= j) break
      out.push({ hi: items[cut].key, mode: Mode.fingerprint, body: fingerprintBody(items, start, cut) })
      start = cut
    }
    out.push({ hi, mode: Mode.fingerprint, body: fingerprintBody(items, start, j) })
    return out
  }

  diff (remoteDigest: Uint8Array, limitBytes = Infinity): Uint8Array {
    return this.diffAll([remoteDigest], limitBytes)
  }

  /**
   * The ops the holders of `remotes` lack, together, in lamport order, cut after at most
   * `limitBytes` counted as Σ (wire length + 2) — the gossiper's reply window.
   */
  diffAll (remotes: readonly Uint8Array[], limitBytes = Infinity): Uint8Array {
    const items = this.items()
    const out = new Map<string, LoggedOp>()
    for (const remote of remotes) {
      for (const r of readDigest(remote).ranges) {
        const [i, j] = this.slice(items, r)
        if (r.mode === Mode.fingerprint && r.count === 0) this.sendAll(items, i, j, out)
        else if (r.list !== undefined) this.sendMissing(items, i, j, r.list, out)
      }
    }
    const ops = [...out.values()].sort((a, b) => a.lamport - b.lamport || (a.idKey < b.idKey ? -1 : 1))
    const enc = new Encoder(Math.min(ops.length, 1024) * 160 + 8)
    let n = 0
    let room = limitBytes
    while (n < ops.length && room - (ops[n].wire.length + 2) >= 0) room -= ops[n++].wire.length + 2
    writeVarUint(enc, n)
    for (let k = 0; k < n; k++) writeVarBytes(enc, ops[k].wire)
    return enc.finish()
  }

  private slice (items: Item[], r: RemoteRange): [number, number] {
    return [r.lo === '' ? 0 : lowerBound(items, r.lo), r.hi === undefined ? items.length : lowerBound(items, r.hi)]
  }

  /** Every op of the chains and standalone ops in `items[i … j)`. */
  private sendAll (items: Item[], i: number, j: number, out: Map<string, LoggedOp>): void {
    const done = new Set<Chain>()
    for (let k = i; k < j; k++) {
      const c = items[k].op.chain
      if (c === undefined) { out.set(items[k].idKey, items[k].op); continue }
      if (done.has(c)) continue
      done.add(c)
      for (let s = 1; s <= c.maxSeq; s++) for (const op of c.at(s)) out.set(op.idKey, op)
    }
  }

  /** The ops in `items[i … j)` that the holder of `list` lacks (see the header). */
  private sendMissing (items: Item[], i: number, j: number, list: RemoteList, out: Map<string, LoggedOp>): void {
    for (let k = i; k < j;) {
      const key = items[k].key
      let e = k + 1
      while (e < j && items[e].key === key) e++
      if (key[0] === CLASS_STANDALONE) {
        for (let x = k; x < e; x++) if (!list.standalone.has(items[x].idKey.slice(0, HASH_PREFIX_BYTES))) out.set(items[x].idKey, items[x].op)
      } else {
        const chains = [...new Set(items.slice(k, e).map(it => it.op.chain!))]
        this.sendChains(chains, list.groups.get(key.slice(1)) ?? { tips: [], more: false }, out)
      }
      k = e
    }
  }

  private sendChains (chains: Chain[], remote: RemoteGroup, out: Map<string, LoggedOp>): void {
    const found = remote.tips.map(t => {
      for (const c of chains) {
        const op = c.at(t.seq).find(o => o.idKey.startsWith(t.hash))
        if (op !== undefined) return op
      }
      return undefined
    })
    for (const c of chains) {
      const matched = found.filter((op): op is LoggedOp => op?.chain === c)
      let forkEvident = c.forkSeq !== Infinity || remote.more
      let ahead = false
      remote.tips.forEach((t, x) => {
        if (found[x] !== undefined) return
        if (t.seq <= c.maxSeq) forkEvident = true
        else ahead = true
      })
      if (ahead && !forkEvident) continue
      const floor = !forkEvident && matched.length > 0 ? Math.max(...matched.map(m => m.seq)) : 0
      for (let s = floor + 1; s <= c.maxSeq; s++) {
        for (const op of c.at(s)) {
          if (forkEvident && matched.some(m => this.log.inPast(op, m))) continue
          out.set(op.idKey, op)
        }
      }
    }
  }

  /**
   * Our next message in an exchange, given the remote's last one, in at most `budgetBytes`
   * (see the header); and whether the remote's digest showed the same op set as ours.
   */
  respond (remoteDigest: Uint8Array, budgetBytes: number): Response {
    if (!(budgetBytes >= MIN_DIGEST_BYTES)) throw new RangeError(`digest budget ${budgetBytes} is below ${MIN_DIGEST_BYTES} bytes`)
    const items = this.items()
    const remote = readDigest(remoteDigest)
    const hop = Math.min(remote.hop + 1, MAX_HOPS)
    const canAsk = hop < MAX_HOPS
    const out = new Layout(budgetBytes)
    let same = true
    /** Where the ranges that did not fit begin (in our items), and whether any of them has something to say. */
    let foldFrom = -1
    let foldNeeded = false
    for (const r of remote.ranges) {
      const [i, j] = this.slice(items, r)
      const equal = r.list !== undefined
        ? bytesEqual(r.list.raw, listBody(items, i, j))
        : r.mode !== Mode.fingerprint || (r.count === j - i && (r.count === 0 || bytesEqual(r.fp!, fingerprint(items, i, j))))
      same &&= equal
      if (equal) { if (foldFrom < 0 && !out.skip(r.hi)) foldFrom = i; continue }
      if (foldFrom >= 0) { foldNeeded ||= (this.plan(items, i, j, r, canAsk, Infinity)?.length ?? 1) > 0; continue }
      const next = this.plan(items, i, j, r, canAsk, out.room())
      if (next === undefined) { foldFrom = i; foldNeeded = true; continue }
      if (next.length === 0) { if (!out.skip(r.hi)) foldFrom = i; continue }
      if (!out.push(next)) { foldFrom = i; foldNeeded = true }
    }
    if (foldFrom >= 0) {
      // Every range from there on as one: a fingerprint (refined on a later hop), or a skip.
      out.last(foldNeeded && canAsk ? { hi: undefined, mode: Mode.fingerprint, body: fingerprintBody(items, foldFrom, items.length) } : skip(undefined))
    }
    return { reply: out.isEmpty() ? undefined : writeDigest(hop, out.entries), same }
  }

  /**
   * What we say about a remote range that differs from ours (`items[i … j)`): nothing ([]),
   * some entries, or undefined when they would not fit `room` bytes (see the header). With an
   * unbounded room it only tells whether we would say something (a skip stands for it).
   */
  private plan (items: Item[], i: number, j: number, r: RemoteRange, canAsk: boolean, room: number): Entry[] | undefined {
    if (r.list !== undefined) {
      if (r.mode !== Mode.listAsk || !this.namesUnknown(items, i, j, r.list)) return []
      const only = { keys: new Set(r.list.groups.keys()), standalone: r.list.standalone }
      return room === Infinity ? [skip(r.hi)] : [{ hi: r.hi, mode: Mode.listFinal, body: listBody(items, i, j, only) }]
    }
    if (r.mode !== Mode.fingerprint || r.count === 0) return []
    if (j === i) return [{ hi: r.hi, mode: Mode.listFinal, body: listBody(items, i, j) }]
    if (!canAsk) return []
    if (room === Infinity) return [skip(r.hi)]
    if ((j - i) * LIST_ITEM_BYTES <= room) {
      const list: Entry = { hi: r.hi, mode: Mode.listAsk, body: listBody(items, i, j) }
      if (entryBytes(list) <= room) return [list]
    }
    const parts = Math.min(SPLIT_PARTS, Math.floor(room / FP_RANGE_BYTES))
    return parts >= 2 ? this.split(items, i, j, parts, r.hi) : undefined
  }

  /** Whether `list` names a tip or standalone op in `items[i … j)`'s range that we do not hold. */
  private namesUnknown (items: Item[], i: number, j: number, list: RemoteList): boolean {
    const chainsByKey = new Map<string, Chain[]>()
    const standalone = new Set<string>()
    for (let k = i; k < j; k++) {
      const it = items[k]
      if (it.op.chain === undefined) { standalone.add(it.idKey.slice(0, HASH_PREFIX_BYTES)); continue }
      const id = it.key.slice(1)
      const cs = chainsByKey.get(id)
      if (cs === undefined) chainsByKey.set(id, [it.op.chain])
      else if (!cs.includes(it.op.chain)) cs.push(it.op.chain)
    }
    for (const [id, g] of list.groups) {
      if (g.more) return true
      const cs = chainsByKey.get(id) ?? []
      for (const t of g.tips) if (!cs.some(c => c.at(t.seq).some(o => o.idKey.startsWith(t.hash)))) return true
    }
    for (const p of list.standalone) if (!standalone.has(p)) return true
    return false
  }

  unpack (diff: Uint8Array): UnpackResult {
    const dec = new Decoder(diff, fail)
    const n = readVarUint(dec, 5)
    if (n > diff.length) fail(`claims ${n} ops in ${diff.length} bytes`)
    const ops: WireOp[] = []
    let malformed = 0
    for (let i = 0; i < n; i++) {
      const at = dec.pos
      const len = readVarUint(dec, 4)
      if (len > MAX_OP_BYTES) fail(`field at byte ${at} is ${len} bytes, limit ${MAX_OP_BYTES}`)
      if (len > dec.end - dec.pos) fail(`truncated at byte ${dec.pos}: need ${len} bytes, have ${dec.end - dec.pos}`)
      const start = dec.pos
      dec.pos += len
      try {
        // Decoded in place: each op keeps one view into the diff (see readDecodedOp).
        const d = new Decoder(diff, fail, start, start + len)
        const op = readDecodedOp(d)
        if (d.pos !== start + len) { malformed++; continue }
        ops.push(op)
      } catch {
        malformed++
      }
    }
    if (dec.pos !== diff.length) fail(`${diff.length - dec.pos} trailing bytes`)
    return { ops, malformed }
  }
}
