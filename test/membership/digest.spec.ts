/**
 * The native store's bounded digests (issue 11 #5, DESIGN §2.1 "Digests always fit"): with any
 * number of chains a digest fits its budget, every message of an exchange does, a diff can be
 * cut to a reply window and still make progress, and exchanges between two replicas converge to
 * the union and then stop.
 *
 * The fixture builds op logs directly (ops with made-up signatures; the store never verifies),
 * so thousands of chains cost milliseconds. Randomised cases take SEED and print a replay line.
 */
import { expect } from 'chai'
import { SyncDecodeError } from '../../lib/errors.js'
import { Key } from '../../lib/identity/key.js'
import { decodeOp, sha256, writeOpBody } from '../../lib/membership/codec.js'
import { OpLog } from '../../lib/membership/log.js'
import { HASH_PREFIX_BYTES, OpKind, type Op } from '../../lib/membership/op.js'
import { DIGEST_BYTES, MIN_DIGEST_BYTES, NativeOpStore, NOTHING_ASKED } from '../../lib/membership/stores/native.js'
import { MAX_HOPS, readDigest } from '../../lib/membership/stores/native-digest.js'
import type { SeededRandom } from '../../lib/random.js'
import { concatBytes, toKeyString } from '../../lib/util/bytes.js'
import { Encoder } from '../../lib/util/encoding.js'
import { withSeed } from '../helpers/seed.js'

/** Ops of made-up authors: chains of removes, and leaves that name a chain op. */
class World {
  readonly ops: Op[] = []
  readonly byWire = new Map<string, Op>()
  constructor (readonly random: SeededRandom) {}

  key (): Key { return Key.fromBytes(this.random.bytes(32)) }

  private make (kind: OpKind, author: Key, seq: number, prev: Op | undefined, lamport: number, payload: Op['payload'], deps: Op['deps'] = []): Op {
    const enc = new Encoder()
    writeOpBody(enc, { kind, author, seq, deps, payload })
    const wire = concatBytes(enc.finish(), this.random.bytes(64))
    const op: Op = { ...decodeOp(wire), author, prev: prev?.id, lamport, id: sha256(wire).slice() }
    this.ops.push(op)
    this.byWire.set(toKeyString(wire), op)
    return op
  }

  /** A chain of `n` ops by a new author, from `after` (a fork) or from seq 1. */
  chain (n: number, author = this.key(), after?: Op): Op[] {
    const out: Op[] = []
    let prev = after
    for (let i = 0; i < n; i++) {
      const seq = (prev?.seq ?? 0) + 1
      prev = this.make(OpKind.remove, author, seq, prev, seq, { kind: 3, remove: { subject: this.key(), cutoff: { seq: 0, hash: new Uint8Array(0) } } })
      out.push(prev)
    }
    return out
  }

  leave (of: Op): Op {
    const dep = { keyId: of.author.id, seq: of.seq, hash: of.id.subarray(0, HASH_PREFIX_BYTES) }
    return this.make(OpKind.leave, this.key(), 0, undefined, of.lamport + 1, { kind: 5, leave: { subject: this.key() } }, [dep])
  }
}

/** A log and its store, fed ops from a world in causal order (what ingestion does above the store). */
class Side {
  readonly log = new OpLog()
  readonly store = new NativeOpStore(this.log)
  constructor (readonly world: World) {}

  add (ops: Iterable<Op>): this {
    const pending = [...ops].filter(o => !this.log.has(o.id)).sort((a, b) => a.lamport - b.lamport)
    for (const o of pending) if (o.prev === undefined || this.log.has(o.prev)) this.log.add(o)
    return this
  }

  /** Takes a diff: the ops it carries whose prev we hold. */
  take (diff: Uint8Array): number {
    const before = this.log.size
    this.add(this.store.unpack(diff).ops.map(w => this.world.byWire.get(toKeyString(w.wire))!))
    return this.log.size - before
  }

  holds (ops: Op[]): boolean { return ops.every(o => this.log.has(o.id)) }
}

/** The ops either side holds (a side skips an op whose prev it lacks, so not every op of the world). */
function union (a: Side, b: Side): Op[] {
  return a.world.ops.filter(o => a.log.has(o.id) || b.log.has(o.id))
}

interface ExchangeStats { hops: number, maxMessage: number, sent: number }

/**
 * One anti-entropy exchange as the gossiper runs it: `a` sends its level-0 digest; each side
 * answers a message with the diff it asks for (cut at `limitBytes`) and its `respond`, until a
 * respond is undefined.
 */
function exchange (a: Side, b: Side, budget: number, limitBytes = Infinity, final = false): ExchangeStats {
  let msg = a.store.digest(budget, final)
  const stats: ExchangeStats = { hops: 0, maxMessage: msg.length, sent: 0 }
  let from = a
  let to = b
  for (;;) {
    const diff = to.store.diff(msg, limitBytes)
    stats.sent += from.take(diff)
    const { reply } = to.store.respond(msg, budget)
    if (reply === undefined) return stats
    expect(reply.length, 'a respond fits its budget').to.be.at.most(budget)
    expect(readDigest(reply).hop).to.be.at.most(MAX_HOPS)
    stats.maxMessage = Math.max(stats.maxMessage, reply.length)
    stats.hops++
    msg = reply;
    [from, to] = [to, from]
  }
}

/** Exchanges (alternating who starts) until both hold `all`; returns how many it took. */
function converge (a: Side, b: Side, all: Op[], budget: number, limitBytes = Infinity, max = 20): number {
  for (let round = 1; round <= max; round++) {
    const s = round % 2 === 1 ? exchange(a, b, budget, limitBytes) : exchange(b, a, budget, limitBytes)
    expect(s.maxMessage).to.be.at.most(budget)
    if (a.holds(all) && b.holds(all) && a.log.size === all.length && b.log.size === all.length) {
      // Then it stops: equal digests, nothing asked, nothing sent.
      expect(a.store.digest(budget)).to.deep.equal(b.store.digest(budget))
      expect(b.store.respond(a.store.digest(budget), budget)).to.deep.equal({ reply: undefined, same: true })
      expect(b.store.unpack(b.store.diff(a.store.digest(budget))).ops).to.have.length(0)
      return round
    }
  }
  throw new Error(`no convergence in ${max} exchanges: ${a.log.size} and ${b.log.size} of ${all.length}`)
}

/** The gossip budgets: the default, the smallest packet (508 bytes), and unbounded. */
const SMALL = 262

describe('native store: bounded digests', function () {
  this.timeout(120_000)

  it('3,000 admin chains and 300 leaves: every digest fits its budget, and equal sets give equal bytes', async function () {
    await withSeed(this, (random) => {
      const w = new World(random)
      const chains = Array.from({ length: 3000 }, (_, i) => w.chain(1 + (i % 3)))
      chains.push(w.chain(2000)) // the root's long chain
      for (let i = 0; i < 300; i++) w.leave(chains[i][0])
      const a = new Side(w).add(w.ops)
      const shuffled = [...w.ops].sort(() => random.next() - 0.5)
      const b = new Side(w)
      for (const o of shuffled) b.add([o]) // in whatever order their past allows
      b.add(w.ops)
      expect(b.log.size).to.equal(a.log.size)
      for (const budget of [MIN_DIGEST_BYTES, SMALL, DIGEST_BYTES, 1343]) {
        const d = a.store.digest(budget)
        expect(d.length, `budget ${budget}`).to.be.at.most(budget)
        expect(d).to.deep.equal(b.store.digest(budget))
        expect(b.store.respond(d, budget)).to.deep.equal({ reply: undefined, same: true })
      }
      // Unbounded: the exact heads, one list of every tip and leave.
      expect(a.store.digest().length).to.be.above(3001 * 26)
    })
  })

  it('two replicas differing by one op deep in one chain converge in one exchange of a few hops', async function () {
    await withSeed(this, (random) => {
      const w = new World(random)
      for (let i = 0; i < 3000; i++) w.chain(1 + (i % 2))
      const long = w.chain(500)
      for (let i = 0; i < 100; i++) w.leave(long[i])
      const missing = long[499]
      const a = new Side(w).add(w.ops)
      const b = new Side(w).add(w.ops.filter(o => o !== missing))
      for (const budget of [SMALL, DIGEST_BYTES]) {
        const b2 = new Side(w).add(w.ops.filter(o => o !== missing))
        const s = exchange(a, b2, budget)
        console.log(`      ${budget}-byte digests: ${s.hops} hops after the digest, largest message ${s.maxMessage} bytes`)
        expect(b2.log.has(missing.id), `budget ${budget}`).to.equal(true)
        expect(s.sent).to.equal(1)
        expect(s.hops).to.be.at.most(6)
      }
      // Whoever starts, one exchange repairs it, and a second finds nothing to do.
      expect(converge(b, a, w.ops, DIGEST_BYTES)).to.equal(1)
      // An op in the middle of the chain: a second op at seq 250 (equivocation evidence).
      const [fork] = w.chain(1, long[0].author, long[248])
      const c = new Side(w).add(w.ops.filter(o => o !== fork))
      const s = exchange(c, a.add([fork]), SMALL)
      expect(c.log.has(fork.id)).to.equal(true)
      expect(s.sent).to.equal(1)
      expect(converge(a, c, w.ops, SMALL)).to.equal(1)
    })
  })

  it('each side missing different ops (chains, chain tails, leaves, a fork branch) converges to the union, then stops', async function () {
    await withSeed(this, (random) => {
      const w = new World(random)
      const chains = Array.from({ length: 1500 }, (_, i) => w.chain(1 + (i % 4)))
      const forked = w.chain(10)
      w.chain(3, forked[0].author, forked[6]) // equivocation: a second seq 8, 9, 10
      for (let i = 0; i < 200; i++) w.leave(chains[i][0])
      const a = new Side(w)
      const b = new Side(w)
      for (const o of w.ops) {
        const r = random.int(10)
        if (r !== 0) a.add([o])
        if (r !== 1) b.add([o])
      }
      const all = union(a, b)
      const missing = all.length * 2 - a.log.size - b.log.size
      const rounds = converge(a, b, all, DIGEST_BYTES)
      console.log(`      ${missing} ops missing on one side or the other: ${rounds} exchanges of ${DIGEST_BYTES}-byte digests`)
      // Dense differences are where a bounded digest is slowest: each hop lists a few dozen tips.
      expect(rounds).to.be.at.most(14)
    })
  })

  it('a new replica syncs thousands of chains through reply windows: every diff is cut, every cut makes progress', async function () {
    await withSeed(this, (random) => {
      const w = new World(random)
      for (let i = 0; i < 2000; i++) w.chain(1 + (i % 3))
      const genesisLike = w.chain(300)
      const a = new Side(w).add(w.ops)
      const b = new Side(w).add([genesisLike[0]])
      // 64 pages of ~1.3 KB: the gossiper's window. Each op here is ~80 bytes.
      const window = 64 * 1300
      let before = b.log.size
      let exchanges = 0
      while (!b.holds(w.ops)) {
        exchange(b, a, DIGEST_BYTES, window, true)
        expect(b.log.size, 'each exchange makes progress').to.be.above(before)
        before = b.log.size
        expect(++exchanges).to.be.below(20)
      }
      expect(b.store.digest(DIGEST_BYTES)).to.deep.equal(a.store.digest(DIGEST_BYTES))
    })
  })

  it('a chain with more forks than a list names converges too', async function () {
    await withSeed(this, (random) => {
      const w = new World(random)
      for (let i = 0; i < 100; i++) w.chain(1)
      const base = w.chain(5)
      const branches = Array.from({ length: 12 }, () => w.chain(2, base[0].author, base[2]))
      const a = new Side(w).add(w.ops.filter(o => !branches.slice(6).flat().includes(o)))
      const b = new Side(w).add(w.ops.filter(o => !branches.slice(0, 6).flat().includes(o)))
      expect(converge(a, b, w.ops, SMALL)).to.be.at.most(3)
    })
  })

  it('asks nothing back once a hop count reaches MAX_HOPS, so an exchange always ends', async function () {
    await withSeed(this, (random) => {
      const w = new World(random)
      for (let i = 0; i < 500; i++) w.chain(1)
      const a = new Side(w).add(w.ops.slice(0, 400))
      const b = new Side(w).add(w.ops.slice(100))
      let msg = a.store.digest(SMALL)
      let hops = 0
      const sides = [b, a]
      // No diffs are delivered: the sides never converge, yet the exchange stops.
      for (;;) {
        const { reply } = sides[hops % 2].store.respond(msg, SMALL)
        if (reply === undefined) break
        msg = reply
        expect(++hops).to.be.at.most(MAX_HOPS)
      }
    })
  })

  it('plain digest() and diff() (unbounded) still sync two replicas in one round each way', async function () {
    await withSeed(this, (random) => {
      const w = new World(random)
      for (let i = 0; i < 300; i++) w.chain(1 + (i % 5))
      const a = new Side(w).add(w.ops.filter((_, i) => i % 7 !== 0))
      const b = new Side(w).add(w.ops.filter((_, i) => i % 5 !== 0))
      const all = union(a, b)
      b.take(a.store.diff(b.store.digest()))
      a.take(b.store.diff(a.store.digest()))
      expect(a.holds(all) && b.holds(all)).to.equal(true)
      expect(a.store.digest()).to.deep.equal(b.store.digest())
    })
  })

  it('NOTHING_ASKED asks nothing and gets nothing', () => {
    const w = new World({ next: () => 0.5, int: () => 0, bytes: (n: number) => new Uint8Array(n).map((_, i) => i) } as unknown as SeededRandom)
    const s = new Side(w).add(w.chain(3))
    expect(s.store.unpack(s.store.diff(NOTHING_ASKED)).ops).to.have.length(0)
    expect(s.store.respond(NOTHING_ASKED, SMALL).reply).to.equal(undefined)
  })

  it('hostile digests throw SyncDecodeError and nothing else', async function () {
    await withSeed(this, (random) => {
      const w = new World(random)
      for (let i = 0; i < 50; i++) w.chain(2)
      const s = new Side(w).add(w.ops)
      const good = [s.store.digest(SMALL), s.store.digest(), new Side(w).add(w.ops.slice(0, 40)).store.respond(s.store.digest(SMALL), SMALL).reply!]
      for (let i = 0; i < 3000; i++) {
        const base = good[i % good.length]
        const bad = i % 3 === 0 ? random.bytes(random.int(80)) : base.slice(0, random.int(base.length + 1))
        if (i % 3 === 2) for (let k = 0; k < 3; k++) bad[random.int(bad.length)] ^= 1 + random.int(255)
        for (const f of [() => s.store.diff(bad), () => s.store.respond(bad, SMALL)]) {
          try { f() } catch (err) { expect(err, String(err)).to.be.instanceOf(SyncDecodeError) }
        }
      }
    })
  })
})
