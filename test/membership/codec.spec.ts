/**
 * The op codec: `writeOpBody` / `readOp` round trips for every kind, the size limits, and the
 * hostile-input acceptance: on truncated, oversized, random and mutated bytes `readOp` and
 * `decodeOp` return an op or throw `OpDecodeError`, nothing else; `NativeOpStore.unpack` and
 * the native digest reader likewise return or throw `SyncDecodeError`.
 *
 * The fuzz cases come from SEED (`test/helpers/seed.ts`); a failure prints the input as hex
 * and the replay line.
 */
import { AssertionError, expect } from 'chai'
import { OpDecodeError, SyncDecodeError } from '../../lib/errors.js'
import { Key } from '../../lib/identity/key.js'
import { Admin, leave } from '../../lib/membership/admin.js'
import { decodeOp, readOp, writeOpBody, type OpFields } from '../../lib/membership/codec.js'
import {
  HASH_PREFIX_BYTES, MAX_DEPS, MAX_NAME_BYTES, MAX_OP_BYTES, OpKind, type Dep, type MemberRecord, type Op, type Payload, type WireOp
} from '../../lib/membership/op.js'
import { createGenesis } from '../../lib/membership/org.js'
import { Replica } from '../../lib/membership/replica.js'
import { NativeOpStore } from '../../lib/membership/stores/native.js'
import type { Random } from '../../lib/random.js'
import { concatBytes, toHex } from '../../lib/util/bytes.js'
import { Decoder, Encoder, writeVarBytes, writeVarUint } from '../../lib/util/encoding.js'
import { expectCode } from '../helpers/expect-code.js'
import { withSeed } from '../helpers/seed.js'
import { enrollInit, popOf } from '../helpers/org.js'
import { makePool, type Pool } from './scenario.js'

const OP_DECODE = 'WIREMESH_ERR_OP_DECODE'
const SYNC_DECODE = 'WIREMESH_ERR_SYNC_DECODE'

async function sync (from: Replica, to: Replica): Promise<void> { await to.merge(from.diff(to.digest())) }

/** Keys as base64, bytes as hex, undefined fields dropped: comparable with `eql`. */
function plain (x: unknown): unknown {
  if (x instanceof Key) return `key:${x.toBase64()}`
  if (x instanceof Uint8Array) return `hex:${toHex(x)}`
  if (Array.isArray(x)) return x.map(plain)
  if (x !== null && typeof x === 'object') {
    return Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined).map(([k, v]) => [k, plain(v)]))
  }
  return x
}

/** The wire body of `fields` as `writeOpBody` writes it, plus a signature's worth of bytes. */
function wireOf (fields: OpFields, sig = new Uint8Array(64).fill(0x5a)): Uint8Array {
  const enc = new Encoder(256)
  writeOpBody(enc, fields)
  return concatBytes(enc.finish(), sig)
}

interface Fixture {
  pool: Pool
  replica: Replica
  /** One op of each kind and shape, with the payload its author meant (and the author). */
  cases: Array<{ what: string, op: Op, payload: Payload }>
  /** Every op of the org, for the fuzzers. */
  ops: Op[]
}

/** An org whose log holds every kind: genesis, enrolls (plain, full, admin), remove, revoke, leave. */
async function buildFixture (): Promise<Fixture> {
  const pool = await makePool(23)
  const [A] = pool.admins
  const [M1, M2, M3, M4] = pool.members
  const replica = new Replica(pool.genesis, { clock: pool.clock })
  const root = new Admin(replica, pool.root.signer)
  const cases: Fixture['cases'] = []
  const g = pool.genesis.payload
  cases.push({ what: 'genesis', op: pool.genesis, payload: g })

  const grantRec: MemberRecord = { wgPublicKey: A.wg, signPublicKey: A.signer.publicKey, roles: ['admin'], pop: popOf(A, replica) }
  cases.push({ what: 'enroll (admin grant)', op: root.enroll(grantRec), payload: { kind: 2, record: grantRec } })
  const full: MemberRecord = {
    wgPublicKey: M1.wg,
    signPublicKey: M1.signer.publicKey,
    pop: popOf(M1, replica),
    name: 'bärbel’s laptop',
    roles: ['lighthouse', 'ops', 'zeta'],
    staticEndpoints: ['198.51.100.7:51820', '[2001:db8::7]:51820'],
    expiresAt: pool.clock.now() + 86_400_000
  }
  cases.push({ what: 'enroll (every field)', op: root.enroll({ ...full, roles: ['zeta', 'lighthouse', 'ops'] }), payload: { kind: 2, record: full } })
  const plainRec: MemberRecord = { wgPublicKey: M2.wg, signPublicKey: M2.signer.publicKey, roles: [], pop: popOf(M2, replica) }
  cases.push({ what: 'enroll (no options)', op: root.enroll(plainRec), payload: { kind: 2, record: plainRec } })

  // A rank-1 admin on its own replica: its ops carry deps on the root's chain.
  const ra = new Replica(pool.genesis, { clock: pool.clock })
  await sync(replica, ra)
  const a = new Admin(ra, A.signer)
  const m3: MemberRecord = { wgPublicKey: M3.wg, signPublicKey: M3.signer.publicKey, name: '', roles: [], pop: popOf(M3, replica) }
  cases.push({ what: 'enroll with deps', op: a.enroll(m3), payload: { kind: 2, record: m3 } })
  const m4: MemberRecord = { wgPublicKey: M4.wg, signPublicKey: M4.signer.publicKey, roles: ['admin', 'lighthouse'], staticEndpoints: ['192.0.2.1:1'], pop: popOf(M4, replica) }
  cases.push({ what: 'enroll (rank-2 grant)', op: a.enroll(m4), payload: { kind: 2, record: m4 } })
  await sync(ra, replica)

  const lv = leave(replica, M2.signer, M2.wg)
  cases.push({ what: 'leave', op: lv, payload: { kind: 5, leave: { subject: M2.wg } } })
  const zero = new Uint8Array(32)
  cases.push({ what: 'remove (cutoff seq 0)', op: root.remove(M3.wg), payload: { kind: 3, remove: { subject: M3.wg, cutoff: { seq: 0, hash: zero } } } })
  const aHead = ra.log.chainOf(A.signer.publicKey)!
  const aTip = aHead.at(aHead.maxSeq)[0]
  cases.push({
    what: 'revoke (cutoff pinned)',
    op: root.revoke(A.wg, { reason: 'lost laptop ✈' }),
    payload: { kind: 4, revoke: { subject: A.wg, cutoff: { seq: aTip.seq, hash: aTip.id }, reason: 'lost laptop ✈' } }
  })
  cases.push({ what: 'remove of an admin', op: root.remove(M4.wg), payload: { kind: 3, remove: { subject: M4.wg, cutoff: { seq: 0, hash: zero } } } })
  return { pool, replica, cases, ops: [...replica.log.all()] }
}

describe('op codec', function () {
  this.timeout(60_000)
  let fx: Fixture
  before(async () => { fx = await buildFixture() })

  describe('round trip', () => {
    it('decodeOp(op.wire) gives back what the author wrote, for every kind', () => {
      const kinds = new Set<number>()
      for (const { what, op, payload } of fx.cases) {
        const w = decodeOp(op.wire)
        kinds.add(w.kind)
        expect(w.kind, what).to.equal(payload.kind)
        expect(plain(w.payload), what).to.eql(plain(payload))
        expect(toHex(w.authorId), what).to.equal(toHex(op.author.id))
        if (w.kind === OpKind.genesis) expect(w.author?.equals(fx.pool.root.signer.publicKey), what).to.equal(true)
        else expect(w.author, what).to.equal(undefined)
        expect(w.seq, what).to.equal(op.seq)
        expect(plain(w.deps), what).to.eql(plain(op.deps.map(d => ({ ...d, hash: d.hash.subarray(0, HASH_PREFIX_BYTES) }))))
        expect(toHex(w.sig), what).to.equal(toHex(op.sig))
        expect(toHex(w.wire), what).to.equal(toHex(op.wire))
        expect(toHex(concatBytes(w.body, w.sig)), what).to.equal(toHex(op.wire))
      }
      expect([...kinds].sort()).to.eql([1, 2, 3, 4, 5])
      expect(fx.cases.some(c => c.op.deps.length > 0), 'some op has deps').to.equal(true)
    })

    it('writeOpBody(readOp(bytes)) is the same bytes (one encoding per op)', () => {
      for (const { what, op } of fx.cases) {
        const w = readOp(new Decoder(op.wire, m => { throw new Error(m) }))
        const enc = new Encoder(64)
        writeOpBody(enc, { kind: w.kind, author: op.author, seq: w.seq, deps: w.deps, payload: w.payload })
        expect(toHex(enc.finish()), what).to.equal(toHex(w.body))
      }
    })

    it('readOp reads ops back to back from one buffer', () => {
      const buf = concatBytes(...fx.ops.map(o => o.wire))
      const dec = new Decoder(buf, m => { throw new Error(m) })
      const got: WireOp[] = []
      while (dec.pos < buf.length) got.push(readOp(dec))
      expect(got.map(o => toHex(o.wire))).to.eql(fx.ops.map(o => toHex(o.wire)))
    })

    it('keeps every string byte for byte, even one that starts with U+FEFF', () => {
      const [, , , , M5] = fx.pool.members
      const name = '\uFEFFbob'
      const op = new Admin(new Replica(fx.pool.genesis, { clock: fx.pool.clock }), fx.pool.root.signer)
        .enroll(enrollInit(M5, fx.replica, { name }))
      const w = decodeOp(op.wire)
      expect(w.payload.kind === 2 && w.payload.record.name).to.equal(name)
    })

    it('refuses an enroll whose role list is not in canonical (sorted) order', () => {
      const en = fx.cases.find(c => c.what === 'enroll (every field)')!.op
      const rec = (en.payload as { kind: 2, record: MemberRecord }).record
      const fields = { kind: en.kind, author: en.author, seq: en.seq, deps: en.deps }
      // The same op with its other roles written in the order zeta, ops: a second encoding.
      const canonical = wireOf({ ...fields, payload: { kind: 2, record: rec } })
      const reordered = wireOf({ ...fields, payload: { kind: 2, record: { ...rec, roles: ['lighthouse', 'zeta', 'ops'] } } })
      expect(toHex(reordered)).to.not.equal(toHex(canonical))
      decodeOp(canonical)
      expectCode(() => decodeOp(reordered), OP_DECODE)
    })
  })

  describe('limits', () => {
    const enrollFields = (deps: Dep[], record: Partial<MemberRecord> = {}): OpFields => {
      const [, , , , , M6] = fx.pool.members
      return {
        kind: OpKind.enroll,
        author: fx.pool.root.signer.publicKey,
        seq: 9,
        deps,
        payload: { kind: 2, record: { wgPublicKey: M6.wg, signPublicKey: M6.signer.publicKey, roles: [], pop: popOf(M6, fx.replica), ...record } }
      }
    }
    const depsN = (n: number): Dep[] => Array.from({ length: n }, (_, i) => {
      const keyId = new Uint8Array(8); keyId[0] = i >> 8; keyId[1] = i & 0xff
      return { keyId, seq: 1 + i, hash: new Uint8Array(HASH_PREFIX_BYTES).fill(i) }
    })

    it('decodeOp refuses an op longer than MAX_OP_BYTES', () => {
      const ok = wireOf(enrollFields(depsN(8)))
      expect(ok.length).to.be.below(MAX_OP_BYTES)
      decodeOp(ok)
      // 64 deps are allowed, but with them the op no longer fits.
      const big = wireOf(enrollFields(depsN(MAX_DEPS), { name: 'x'.repeat(MAX_NAME_BYTES) }))
      expect(big.length).to.be.above(MAX_OP_BYTES)
      expectCode(() => decodeOp(big), OP_DECODE)
      expectCode(() => readOp(new Decoder(big, m => { throw new Error(m) })), OP_DECODE)
    })

    it('decodeOp refuses more than MAX_DEPS deps', () => {
      // The count is refused as it is read, before any dep (with 16-byte id prefixes, 65 deps
      // would not fit in MAX_OP_BYTES either, but the reader never gets that far).
      const fields = enrollFields(depsN(MAX_DEPS + 1))
      expectCode(() => decodeOp(wireOf(fields)), OP_DECODE)
    })

    it('decodeOp refuses a name longer than MAX_NAME_BYTES (counted in UTF-8 bytes)', () => {
      decodeOp(wireOf(enrollFields([], { name: 'x'.repeat(MAX_NAME_BYTES) })))
      decodeOp(wireOf(enrollFields([], { name: 'é'.repeat(MAX_NAME_BYTES / 2) })))
      expectCode(() => decodeOp(wireOf(enrollFields([], { name: 'x'.repeat(MAX_NAME_BYTES + 1) }))), OP_DECODE)
      expectCode(() => decodeOp(wireOf(enrollFields([], { name: 'é'.repeat(MAX_NAME_BYTES / 2 + 1) }))), OP_DECODE)
    })

    it('authoring an over-long name fails with WIREMESH_ERR_INVALID_OP', () => {
      const admin = new Admin(new Replica(fx.pool.genesis, { clock: fx.pool.clock }), fx.pool.root.signer)
      const [, , , , , M6] = fx.pool.members
      const size = admin.replica.size
      for (const name of ['x'.repeat(MAX_NAME_BYTES + 1), 'é'.repeat(MAX_NAME_BYTES / 2 + 1)]) {
        expectCode(() => admin.enroll(enrollInit(M6, admin.replica, { name })), 'WIREMESH_ERR_INVALID_OP')
      }
      expect(admin.replica.size, 'nothing was added').to.equal(size)
      expect(admin.enroll(enrollInit(M6, admin.replica, { name: 'x'.repeat(MAX_NAME_BYTES) })).kind).to.equal(OpKind.enroll)
      expectCode(() => createGenesis({ rootWgPublicKey: fx.pool.root.wg, rootSigner: fx.pool.root.signer, name: 'o'.repeat(MAX_NAME_BYTES + 1) }), 'WIREMESH_ERR_INVALID_OP')
    })
  })

  describe('hostile input', () => {
    /** Runs `fn`; anything thrown that is not `cls` with `code` fails, naming the input. */
    function only (fn: () => void, input: Uint8Array, cls: typeof OpDecodeError | typeof SyncDecodeError, code: string, what: string): void {
      try {
        fn()
      } catch (err) {
        if (err instanceof cls && (err as { code?: string }).code === code) return
        const e = err as Error
        throw new AssertionError(`${what} threw ${e?.name}: ${e?.message} (expected ${cls.name}/${code} or a result)\n      input (${input.length} bytes): ${toHex(input)}`)
      }
    }

    /** A real op with 1–4 edits: set or flip a byte, insert, delete, duplicate or splice a run. */
    function mutate (r: Random, src: Uint8Array, donors: Uint8Array[]): Uint8Array {
      let b: Uint8Array = src.slice()
      const n = 1 + r.int(4)
      for (let k = 0; k < n; k++) {
        const at = r.int(b.length + 1)
        switch (r.int(7)) {
          case 0: if (b.length > 0) b[Math.min(at, b.length - 1)] = r.int(256); break
          case 1: if (b.length > 0) b[Math.min(at, b.length - 1)] ^= 1 << r.int(8); break
          case 2: b = concatBytes(b.subarray(0, at), r.bytes(1 + r.int(8)), b.subarray(at)); break
          case 3: b = concatBytes(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + r.int(8)))); break
          case 4: { const len = 1 + r.int(40); b = concatBytes(b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)); break }
          case 5: { const d = donors[r.int(donors.length)]; const s = r.int(d.length); b = concatBytes(b.subarray(0, at), d.subarray(s, s + 1 + r.int(48)), b.subarray(at)); break }
          default: if (b.length > 0) b[Math.min(at, b.length - 1)] = [0x00, 0x7f, 0x80, 0xff][r.int(4)]
        }
      }
      return b
    }

    it('readOp and decodeOp only return an op or throw OpDecodeError (truncated, oversized, random, mutated; ≥ 100,000 cases)', async function () {
      this.timeout(120_000)
      await withSeed(this, (r) => {
        const reals = fx.ops.map(o => o.wire)
        // Near the limit too: 30 deps (of 25 bytes each, with their 16-byte id prefixes), a
        // proof of possession and a long name: 1005 bytes.
        const m0 = fx.pool.members[0]
        const bigFields: OpFields = { kind: OpKind.enroll, author: fx.pool.root.signer.publicKey, seq: 3, deps: Array.from({ length: 30 }, (_, i) => ({ keyId: new Uint8Array(8).fill(i + 1), seq: i + 1, hash: new Uint8Array(HASH_PREFIX_BYTES).fill(i) })), payload: { kind: 2, record: { wgPublicKey: m0.wg, signPublicKey: m0.signer.publicKey, pop: popOf(m0, fx.replica), roles: ['a', 'b'], name: 'n'.repeat(40), staticEndpoints: ['h:1'] } } }
        reals.push(wireOf(bigFields))
        expect(reals[reals.length - 1].length, 'the big op is near the limit').to.be.within(MAX_OP_BYTES - 150, MAX_OP_BYTES)
        const counts = { truncated: 0, oversized: 0, random: 0, mutated: 0, stream: 0 }
        const throwing = (m: string): never => { throw new Error(m) }

        const viaDecodeOp = (b: Uint8Array): void => only(() => {
          const w = decodeOp(b)
          expect(w.wire.length, 'decodeOp consumed every byte').to.equal(b.length)
          expect(w.wire.length).to.be.at.most(MAX_OP_BYTES)
          expect(w.deps.length).to.be.at.most(MAX_DEPS)
        }, b, OpDecodeError, OP_DECODE, 'decodeOp')
        // readOp from an offset, with a decoder whose own fail throws a plain Error: readOp must
        // turn that into an OpDecodeError too.
        const viaReadOp = (b: Uint8Array, offset = 0): void => only(() => {
          const dec = new Decoder(b, throwing, offset)
          const w = readOp(dec)
          expect(dec.pos).to.be.at.most(b.length)
          expect(w.wire.length).to.be.at.most(MAX_OP_BYTES)
        }, b, OpDecodeError, OP_DECODE, `readOp at ${offset}`)
        const both = (b: Uint8Array): void => { viaDecodeOp(b); viaReadOp(b) }

        // Every prefix of every real op (and of the big one).
        for (const w of reals) for (let n = 0; n < w.length; n++) { both(w.subarray(0, n)); counts.truncated++ }
        // Oversized: real ops with trailing bytes, long random tails, and runs of 0xff / 0x80.
        for (let i = 0; i < 8000; i++) {
          const w = reals[r.int(reals.length)]
          const tail = i % 4 === 0 ? new Uint8Array(1 + r.int(3000)).fill(i % 8 === 0 ? 0xff : 0x80) : r.bytes(1 + r.int(i % 3 === 0 ? 3000 : 16))
          both(concatBytes(w, tail)); counts.oversized++
        }
        // Random: pure noise, and noise behind a plausible kind byte and author.
        for (let i = 0; i < 25_000; i++) {
          const len = r.int(i % 10 === 0 ? MAX_OP_BYTES * 2 : 300)
          const b = r.bytes(len)
          if (len > 0 && i % 2 === 1) b[0] = 1 + r.int(5)
          if (len > 9 && i % 4 === 1) b.set(reals[1 + r.int(reals.length - 2)].subarray(1, 9), 1)
          both(b); counts.random++
        }
        // Mutated real ops: the bulk of the cases, since they get past the first fields.
        for (let i = 0; i < 60_000; i++) {
          both(mutate(r, reals[r.int(reals.length)], reals)); counts.mutated++
        }
        // readOp over a stream: real ops back to back, then a mutated one, from an offset.
        for (let i = 0; i < 5000; i++) {
          const head = reals[r.int(reals.length)]
          const b = concatBytes(head, mutate(r, reals[r.int(reals.length)], reals))
          viaReadOp(b, head.length); counts.stream++
        }
        const total = Object.values(counts).reduce((a, b) => a + b, 0)
        expect(total, JSON.stringify(counts)).to.be.at.least(100_000)
      })
    })

    it('NativeOpStore.unpack only returns ops or throws SyncDecodeError', async function () {
      this.timeout(60_000)
      await withSeed(this, (r) => {
        const store = new NativeOpStore(new Replica(fx.pool.genesis).log)
        const empty = new Replica(fx.pool.genesis)
        const diffs = [fx.replica.diff(empty.digest()), fx.replica.diff(fx.replica.digest())]
        const reals = fx.ops.map(o => o.wire)
        const frame = (ops: Uint8Array[], n = ops.length): Uint8Array => {
          const enc = new Encoder(1024)
          writeVarUint(enc, n)
          for (const o of ops) writeVarBytes(enc, o)
          return enc.finish()
        }
        let cases = 0
        const run = (b: Uint8Array): void => {
          cases++
          only(() => {
            const res = store.unpack(b)
            expect(res.ops).to.be.an('array')
            expect(res.malformed).to.be.a('number')
          }, b, SyncDecodeError, SYNC_DECODE, 'unpack')
        }
        // A real diff unpacks to every op, none malformed.
        const full = store.unpack(diffs[0])
        expect(full.malformed).to.equal(0)
        expect(full.ops.length).to.equal(fx.ops.length - 1)
        for (const d of diffs) for (let n = 0; n < d.length; n++) run(d.subarray(0, n))
        for (let i = 0; i < 8000; i++) run(mutate(r, diffs[0], reals))
        for (let i = 0; i < 8000; i++) run(r.bytes(r.int(i % 10 === 0 ? 5000 : 200)))
        // Well framed, with mutated ops inside: those are counted as malformed, not thrown.
        for (let i = 0; i < 8000; i++) {
          const ops = Array.from({ length: 1 + r.int(4) }, () => r.next() < 0.5 ? reals[r.int(reals.length)] : mutate(r, reals[r.int(reals.length)], reals))
          const b = frame(ops, r.next() < 0.9 ? ops.length : r.int(10_000))
          run(b)
        }
        // Frames claiming huge counts and lengths.
        for (const n of [0x7f, 0x3fff, 0xfffffff, 2 ** 35 - 1]) {
          const enc = new Encoder(); writeVarUint(enc, n); run(enc.finish())
          const enc2 = new Encoder(); writeVarUint(enc2, 1); writeVarUint(enc2, n); run(concatBytes(enc2.finish(), reals[1]))
        }
        expect(cases).to.be.at.least(20_000)
      })
    })

    it('the native digest reader (replica.diff) only returns a diff or throws SyncDecodeError', async function () {
      this.timeout(60_000)
      await withSeed(this, async (r) => {
        const digests = [new Replica(fx.pool.genesis).digest(), fx.replica.digest()]
        // A replica part way through, so diffs against mutated digests have work to do.
        const partial = new Replica(fx.pool.genesis)
        const reals = fx.ops.map(o => o.wire)
        let cases = 0
        const run = (b: Uint8Array): void => {
          cases++
          only(() => {
            const d = fx.replica.diff(b)
            expect(d).to.be.instanceOf(Uint8Array)
            // Whatever the digest said, what comes back is a well-formed diff.
            expect(fx.replica.store.unpack(d).malformed).to.equal(0)
          }, b, SyncDecodeError, SYNC_DECODE, 'diff')
        }
        await partial.ingest(fx.ops.slice(1, 4).map(o => decodeOp(o.wire)))
        digests.push(partial.digest())
        for (const d of digests) for (let n = 0; n < d.length; n++) run(d.subarray(0, n))
        for (let i = 0; i < 12_000; i++) run(mutate(r, digests[r.int(digests.length)], [...digests, ...reals]))
        for (let i = 0; i < 8000; i++) run(r.bytes(r.int(i % 10 === 0 ? 4000 : 300)))
        expect(cases).to.be.at.least(20_000)
      })
    })
  })
})
