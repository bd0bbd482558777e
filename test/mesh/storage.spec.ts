/**
 * MeshStorage: one conformance suite run against both implementations, then what only the
 * file store has (torn tails, corruption, modes, group commit, I/O failures).
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { getEventListeners } from 'node:events'
import { join } from 'node:path'
import { expect } from 'chai'
import { FileStorage } from '../../lib/mesh/file-storage.js'
import { RECORD_HEADER_BYTES } from '../../lib/mesh/log-records.js'
import { MemoryStorage } from '../../lib/mesh/memory-storage.js'
import type { MeshStorage, StoredState } from '../../lib/mesh/storage.js'
import { MAX_OP_BYTES } from '../../lib/membership/op.js'
import { SeededRandom } from '../../lib/random.js'
import { expectRejectCode } from '../helpers/expect-code.js'
import { useTempDir } from '../helpers/temp-dir.js'

const STORAGE = 'WIREMESH_ERR_STORAGE'
const INVALID_OP = 'WIREMESH_ERR_INVALID_OP'
const ABORTED = 'WIREMESH_ERR_ABORTED'

/** Op `i`'s bytes: deterministic, 1 to MAX_OP_BYTES long (the store does not parse ops). */
function op (i: number, length?: number): Uint8Array {
  const r = new SeededRandom(i)
  return r.bytes(length ?? 1 + r.int(MAX_OP_BYTES))
}
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, k) => from + k)
const GENESIS = op(1_000_000, 180)
const OTHER_GENESIS = op(2_000_000, 180)

function expectOps (state: StoredState | undefined, ids: number[]): void {
  expect(state).to.not.equal(undefined)
  expect(state!.ops.map(b => Buffer.from(b).toString('hex'))).to.deep.equal(ids.map(i => Buffer.from(op(i)).toString('hex')))
}

interface Harness {
  /** A store for a state dir that does not exist yet. */
  fresh: () => MeshStorage
  /** The same store as a restarted process would open it (after `close`). */
  reopen: (s: MeshStorage) => MeshStorage
}

function conformance (name: string, harness: () => Harness): void {
  describe(`${name}: the MeshStorage contract`, () => {
    let h: Harness
    const open: MeshStorage[] = []
    const fresh = (): MeshStorage => { const s = h.fresh(); open.push(s); return s }
    const reopen = async (s: MeshStorage): Promise<MeshStorage> => { await s.close(); const t = h.reopen(s); open.push(t); return t }
    beforeEach(() => { h = harness() })
    afterEach(async () => { await Promise.all(open.splice(0).map(async s => { await s.close() })) })

    it('loads nothing from a fresh store', async () => {
      expect(await fresh().load()).to.equal(undefined)
    })

    it('round-trips the genesis, the ops in append order and the incarnation', async () => {
      const s = fresh()
      await s.init(GENESIS)
      await s.appendOps([op(0), op(1)], { sync: true })
      await s.appendOps([op(2)])
      await s.appendOps([])
      await s.appendOps(range(3, 40).map(i => op(i)))
      await s.saveIncarnation(7)
      await s.saveIncarnation(9)
      const state = await (await reopen(s)).load()
      expect(Buffer.from(state!.genesis).equals(GENESIS)).to.equal(true)
      expectOps(state, range(0, 40))
      expect(state!.incarnation).to.equal(9)
    })

    it('starts at incarnation 0 and no ops after init', async () => {
      const s = fresh()
      await s.init(GENESIS)
      const state = await (await reopen(s)).load()
      expect(state).to.deep.include({ incarnation: 0, ops: [] })
    })

    it('serialises concurrent calls in call order, sync or not', async () => {
      const s = fresh()
      await s.init(GENESIS)
      const calls = range(0, 200).map(i => s.appendOps([op(i)], { sync: i % 7 === 0 }))
      calls.push(s.saveIncarnation(3))
      await Promise.all(calls)
      const t = await reopen(s)
      const state = await t.load()
      expectOps(state, range(0, 200))
      expect(state!.incarnation).to.equal(3)
      // and the reopened store appends after what it loaded
      await t.appendOps([op(200)], { sync: true })
      expectOps(await (await reopen(t)).load(), range(0, 201))
    })

    it('init again with the same genesis keeps the ops; with another genesis is refused', async () => {
      const s = fresh()
      await s.init(GENESIS)
      await s.appendOps([op(0)], { sync: true })
      const t = await reopen(s)
      await t.init(GENESIS)
      await t.appendOps([op(1)])
      await expectRejectCode(t.init(OTHER_GENESIS), STORAGE)
      const u = await reopen(t)
      await expectRejectCode(u.init(OTHER_GENESIS), STORAGE)
      expectOps(await u.load(), [0, 1])
    })

    it('refuses appends and saves before load or init, and after close', async () => {
      const s = fresh()
      await expectRejectCode(s.appendOps([op(0)]), STORAGE)
      await expectRejectCode(s.saveIncarnation(1), STORAGE)
      expect(await s.load()).to.equal(undefined)
      await expectRejectCode(s.appendOps([op(0)]), STORAGE)
      await s.init(GENESIS)
      await s.appendOps([op(0)])
      await s.close()
      await s.close() // idempotent
      await expectRejectCode(s.appendOps([op(1)]), STORAGE)
      expectOps(await s.load(), [0]) // load opens it again
      await s.appendOps([op(1)])
      expectOps(await (await reopen(s)).load(), [0, 1])
    })

    it('refuses an empty or oversized op, and writes nothing of that call', async () => {
      const s = fresh()
      await expectRejectCode(s.init(new Uint8Array(0)), INVALID_OP)
      await s.init(GENESIS)
      await s.appendOps([op(0, MAX_OP_BYTES)])
      await expectRejectCode(s.appendOps([op(1), op(2, MAX_OP_BYTES + 1)]), INVALID_OP)
      await expectRejectCode(s.appendOps([op(1), new Uint8Array(0)]), INVALID_OP)
      await expectRejectCode(s.saveIncarnation(-1), STORAGE)
      await expectRejectCode(s.saveIncarnation(1.5), STORAGE)
      const state = await (await reopen(s)).load()
      expect(state!.ops.map(b => b.length)).to.deep.equal([MAX_OP_BYTES])
      expect(state!.incarnation).to.equal(0)
    })

    it('close waits for the calls made before it and keeps what they appended', async () => {
      const s = fresh()
      await s.init(GENESIS)
      const pending = [s.appendOps([op(0)]), s.appendOps([op(1), op(2)]), s.saveIncarnation(2)]
      await s.close()
      await Promise.all(pending)
      const state = await (await reopen(s)).load()
      expectOps(state, [0, 1, 2])
      expect(state!.incarnation).to.equal(2)
    })

    it('an aborted call rejects with AbortError and does nothing', async () => {
      const s = fresh()
      await expectRejectCode(s.init(GENESIS, { signal: AbortSignal.abort() }), ABORTED)
      expect(await s.load()).to.equal(undefined)
      await s.init(GENESIS)
      await expectRejectCode(s.appendOps([op(0)], { sync: true, signal: AbortSignal.abort() }), ABORTED)
      await expectRejectCode(s.saveIncarnation(5, { signal: AbortSignal.abort() }), ABORTED)
      await s.appendOps([op(1)])
      const state = await (await reopen(s)).load({ signal: new AbortController().signal })
      expectOps(state, [1])
      expect(state!.incarnation).to.equal(0)
    })
  })
}

describe('mesh/storage', () => {
  const dir = useTempDir('wiremesh-storage-')

  conformance('FileStorage', () => ({
    fresh: () => new FileStorage(join(dir.path, 'state', 'dir')),
    reopen: s => new FileStorage((s as FileStorage).stateDir)
  }))

  conformance('MemoryStorage', () => ({
    fresh: () => new MemoryStorage(),
    reopen: s => s
  }))

  describe('MemoryStorage', () => {
    it('keeps a seeded op list and its bytes by reference, and never writes to them', async () => {
      const shared = range(0, 1000).map(i => op(i, 64))
      const frozen = Object.freeze([...shared]) as Uint8Array[]
      const a = new MemoryStorage({ genesis: GENESIS, ops: frozen, incarnation: 4 })
      const b = new MemoryStorage({ genesis: GENESIS, ops: frozen, incarnation: 0 })
      const sa = await a.load()
      expect(sa!.ops).to.equal(frozen)
      expect(sa!.genesis).to.equal(GENESIS)
      expect(sa!.incarnation).to.equal(4)
      await a.appendOps([op(1000)])
      const after = await a.load()
      expect(after!.ops.length).to.equal(1001)
      expect(after!.ops[0]).to.equal(shared[0])
      expect((await b.load())!.ops).to.equal(frozen)
    })

    it('crash() forgets what was not synced, as a power cut would', async () => {
      const s = new MemoryStorage()
      await s.init(GENESIS)
      await s.appendOps([op(0)])
      await s.appendOps([op(1)], { sync: true })
      await s.appendOps([op(2)])
      s.crash()
      await expectRejectCode(s.appendOps([op(3)]), STORAGE)
      expectOps(await s.load(), [0, 1])
    })
  })

  describe('FileStorage on disk', () => {
    const opened: FileStorage[] = []
    const store = (): FileStorage => { const s = new FileStorage(dir.path); opened.push(s); return s }
    afterEach(async () => { await Promise.all(opened.splice(0).map(async s => { await s.close() })) })
    const logPath = (): string => join(dir.path, 'ops.log')

    /** A closed store holding ops 0..n-1; returns each record's start offset and the end. */
    async function saved (n: number): Promise<number[]> {
      const s = store()
      await s.init(GENESIS)
      await s.appendOps(range(0, n).map(i => op(i)), { sync: true })
      await s.close()
      const starts = [0]
      for (let i = 0; i < n; i++) starts.push(starts[i] + RECORD_HEADER_BYTES + op(i).length)
      expect(statSync(logPath()).size).to.equal(starts[n])
      return starts
    }

    /** Loads `bytes` as ops.log and checks it comes back as ops 0..n-1, repaired to `starts[n]`. */
    async function expectRepaired (bytes: Uint8Array, n: number, starts: number[]): Promise<void> {
      writeFileSync(logPath(), bytes)
      const s = store()
      const state = await s.load()
      expectOps(state, range(0, n))
      expect(state!.repairedTail?.offset).to.equal(starts[n])
      expect(statSync(logPath()).size).to.equal(starts[n])
      await s.close()
    }

    it('creates its files 0600 and the dir 0700, whatever the umask', async () => {
      const old = process.umask(0o000)
      try {
        const s = new FileStorage(join(dir.path, 'a', 'b'))
        opened.push(s)
        await s.init(GENESIS)
        await s.appendOps([op(0)])
        await s.saveIncarnation(1)
        expect(statSync(join(dir.path, 'a', 'b')).mode & 0o777).to.equal(0o700)
        for (const f of ['genesis.bin', 'ops.log', 'state.json']) {
          expect(statSync(join(dir.path, 'a', 'b', f)).mode & 0o777, f).to.equal(0o600)
        }
      } finally {
        process.umask(old)
      }
    })

    it('cuts a log torn at every byte offset of its last record and appends after the cut', async () => {
      const starts = await saved(5)
      const full = readFileSync(logPath())
      for (let cut = starts[4] + 1; cut < starts[5]; cut++) await expectRepaired(full.subarray(0, cut), 4, starts)
      // a cut at the record boundary is no tear at all
      writeFileSync(logPath(), full.subarray(0, starts[4]))
      const s = store()
      const state = await s.load()
      expectOps(state, range(0, 4))
      expect(state!.repairedTail).to.equal(undefined)
      await s.appendOps([op(4)], { sync: true })
      expect(readFileSync(logPath()).equals(full)).to.equal(true)
    })

    it('cuts a last record that fails its checksum at any byte, or reads as zeros to the end', async () => {
      const starts = await saved(4)
      const full = readFileSync(logPath())
      for (let at = starts[3] + 4; at < starts[4]; at++) { // the crc and the op bytes
        const bad = Buffer.from(full)
        bad[at] ^= 0x40
        await expectRepaired(bad, 3, starts)
      }
      for (let at = starts[3]; at < starts[4]; at += 7) { // zeros from `at`, and the file grown past the data
        const bad = Buffer.concat([full, Buffer.alloc(4096)])
        bad.fill(0, at)
        await expectRepaired(bad, 3, starts)
      }
      await expectRepaired(Buffer.concat([full, Buffer.alloc(3)]), 4, starts)
      await expectRepaired(Buffer.concat([full, Buffer.alloc(5000)]), 4, starts)
    })

    it('refuses a bad record with good ones after it: StorageError with the path and offset, file untouched', async () => {
      const starts = await saved(5)
      const full = readFileSync(logPath())
      const cases: Array<[string, (b: Buffer) => void]> = [
        ['a flipped op byte', b => { b[starts[1] + RECORD_HEADER_BYTES + 3] ^= 1 }],
        ['a flipped crc byte', b => { b[starts[1] + 5] ^= 0x80 }],
        ['a length over the limit', b => { b.writeUInt32BE(MAX_OP_BYTES + 1, starts[1]) }],
        ['a shorter length', b => { b.writeUInt32BE(b.readUInt32BE(starts[1]) - 1, starts[1]) }],
        ['a zeroed header', b => { b.fill(0, starts[1], starts[1] + RECORD_HEADER_BYTES) }],
        ['zeros, then a good record', b => { b.fill(0, starts[1], starts[4]) }],
        ['a bad last record with bytes other than zeros after it', b => { b[starts[5] - 1] ^= 1 }]
      ]
      for (const [what, damage] of cases) {
        const last = what === cases[cases.length - 1][0]
        const bad = Buffer.from(full)
        damage(bad)
        writeFileSync(logPath(), last ? Buffer.concat([bad, Buffer.from([0, 0, 3])]) : bad)
        const size = statSync(logPath()).size
        const err = await expectRejectCode(store().load(), STORAGE) as Error & { path?: string, offset?: number }
        expect(err.path, what).to.equal(logPath())
        expect(err.offset, what).to.equal(last ? starts[4] : starts[1])
        expect(statSync(logPath()).size, what).to.equal(size)
        await expectRejectCode(store().init(GENESIS), STORAGE)
      }
    })

    it('refuses a corrupted genesis.bin or state.json, and files no crash can leave', async () => {
      await saved(2)
      const s = store()
      await s.load()
      await s.saveIncarnation(12)
      await s.close()
      const g = join(dir.path, 'genesis.bin')
      const st = join(dir.path, 'state.json')
      const genesis = readFileSync(g)
      const state = readFileSync(st)

      const refused = async (path: string): Promise<void> => {
        const err = await expectRejectCode(store().load(), STORAGE) as Error & { path?: string }
        expect(err.path).to.equal(path)
      }
      for (const bad of [genesis.subarray(0, genesis.length - 1), Buffer.concat([genesis, genesis]), Buffer.concat([genesis, Buffer.alloc(1)])]) {
        writeFileSync(g, bad)
        await refused(g)
      }
      const flipped = Buffer.from(genesis); flipped[20] ^= 1
      writeFileSync(g, flipped)
      await refused(g)
      writeFileSync(g, genesis)

      writeFileSync(st, state.toString().replace('12', '13'))
      await refused(st)
      writeFileSync(st, state.subarray(0, 10))
      await refused(st)
      writeFileSync(st, state)
      expect((await store().load())!.incarnation).to.equal(12)

      truncateSync(logPath(), 0)
      writeFileSync(g, '') // ops and state but an empty genesis
      await refused(g)
    })

    it('refuses ops or state without a genesis, and a genesis without ops.log', async () => {
      await saved(1)
      const g = join(dir.path, 'genesis.bin')
      const genesis = readFileSync(g)
      writeFileSync(g, Buffer.alloc(0))
      await expectRejectCode(store().load(), STORAGE)
      rmSync(g)
      const err = await expectRejectCode(store().load(), STORAGE) as Error & { path?: string }
      expect(err.path).to.equal(logPath())
      truncateSync(logPath(), 0)
      expect(await store().load()).to.equal(undefined) // an init cut short
      const s = store()
      await s.init(GENESIS)
      await s.saveIncarnation(1)
      await s.close()
      rmSync(g)
      await expectRejectCode(store().load(), STORAGE) // state.json without genesis
      writeFileSync(g, genesis)
      rmSync(logPath())
      const err2 = await expectRejectCode(store().load(), STORAGE) as Error & { path?: string }
      expect(err2.path).to.equal(logPath())
    })

    it('treats an init cut short as nothing saved and removes a crashed atomic write\'s temp files', async () => {
      writeFileSync(join(dir.path, 'ops.log'), '')
      writeFileSync(join(dir.path, '.genesis.bin.123.abcdef.tmp'), GENESIS.subarray(0, 10))
      writeFileSync(join(dir.path, '.state.json.123.abcdef.tmp'), '{')
      writeFileSync(join(dir.path, 'identity.json'), '{}') // not ours: left alone
      expect(await store().load()).to.equal(undefined)
      expect(readdirSync(dir.path).sort()).to.deep.equal(['identity.json', 'ops.log'])
      const s = store()
      await s.init(GENESIS)
      await s.appendOps([op(0)], { sync: true })
      expectOps(await store().load(), [0])
    })

    it('a call aborted while it waits leaves the queue at once; a started one completes', async () => {
      const s = store()
      await s.init(GENESIS)
      const ac = new AbortController()
      const big = s.appendOps(range(0, 500).map(i => op(i)), { sync: true, signal: ac.signal }) // starts now
      const waiting = s.appendOps([op(500)], { sync: true, signal: ac.signal })
      const after = s.appendOps([op(501)], { sync: true })
      ac.abort()
      await expectRejectCode(waiting, ABORTED)
      await big
      await after
      expectOps(await store().load(), [...range(0, 500), 501])
    })

    it('a long-lived signal collects no listeners', async () => {
      const s = store()
      await s.init(GENESIS)
      const ac = new AbortController()
      const calls = range(0, 100).map(async i => { await s.appendOps([op(i)], { signal: ac.signal }) })
      calls.push(s.saveIncarnation(1, { signal: ac.signal }))
      expect(getEventListeners(ac.signal, 'abort').length).to.be.at.most(1)
      await Promise.all(calls)
      expect(getEventListeners(ac.signal, 'abort')).to.have.length(0)
    })

    describe('I/O counts and failures', () => {
      // FileHandle is not exported: take its prototype from a handle.
      let proto: { write: (...a: unknown[]) => Promise<{ bytesWritten: number }>, datasync: () => Promise<void> }
      let orig: typeof proto
      const counts = { write: 0, datasync: 0 }
      before(async () => {
        const fh = await open(process.execPath, 'r')
        proto = Object.getPrototypeOf(fh)
        await fh.close()
        orig = { write: proto.write, datasync: proto.datasync }
      })
      let failWrite: ((self: unknown, args: unknown[]) => Promise<{ bytesWritten: number }>) | undefined
      let failSync: Error | undefined
      beforeEach(() => {
        counts.write = 0; counts.datasync = 0; failWrite = undefined; failSync = undefined
        proto.write = async function (this: unknown, ...args: unknown[]) {
          counts.write++
          if (failWrite !== undefined) { const f = failWrite; failWrite = undefined; return await f(this, args) }
          return await orig.write.apply(this, args)
        }
        proto.datasync = async function (this: unknown) {
          counts.datasync++
          if (failSync !== undefined) { const e = failSync; failSync = undefined; throw e }
          return await orig.datasync.apply(this)
        }
      })
      afterEach(() => { proto.write = orig.write; proto.datasync = orig.datasync })

      it('a merge of 1,000 ops is one write and one fsync; 100 concurrent sync appends share fsyncs', async () => {
        const s = store()
        await s.init(GENESIS)
        counts.write = 0; counts.datasync = 0
        await s.appendOps(range(0, 1000).map(i => op(i, 100)), { sync: true })
        expect(counts).to.deep.equal({ write: 1, datasync: 1 })
        counts.write = 0; counts.datasync = 0
        await Promise.all(range(1000, 1100).map(async i => { await s.appendOps([op(i, 100)], { sync: true }) }))
        expect(counts.write).to.be.at.most(2)
        expect(counts.datasync).to.be.at.most(2)
        expect((await store().load())!.ops.length).to.equal(1100)
      })

      it('a write that fails part way is cut back, and the store goes on', async () => {
        const s = store()
        await s.init(GENESIS)
        await s.appendOps([op(0)])
        failWrite = async (self, args) => {
          const [buf, offset] = args as [Buffer, number]
          await orig.write.apply(self, [buf, offset, 13])
          throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
        }
        await expectRejectCode(s.appendOps([op(1), op(2)], { sync: true }), STORAGE)
        await s.appendOps([op(3)], { sync: true })
        await s.close()
        const state = await store().load()
        expectOps(state, [0, 3])
        expect(state!.repairedTail).to.equal(undefined)
      })

      it('after a failed fsync the store refuses writes until closed and loaded again', async () => {
        const s = store()
        await s.init(GENESIS)
        failSync = Object.assign(new Error('i/o error'), { code: 'EIO' })
        await expectRejectCode(s.appendOps([op(0)], { sync: true }), STORAGE)
        await expectRejectCode(s.appendOps([op(1)]), STORAGE)
        await expectRejectCode(s.saveIncarnation(1), STORAGE)
        await s.close()
        expectOps(await s.load(), [0])
        await s.appendOps([op(2)], { sync: true })
        expectOps(await store().load(), [0, 2])
        expect(existsSync(join(dir.path, 'state.json'))).to.equal(false)
      })
    })
  })
})
