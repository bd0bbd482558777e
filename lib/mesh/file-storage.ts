/**
 * `FileStorage`: a node's state in its state dir (DESIGN §4), crash-safe.
 *
 *   <stateDir>/          0700 when created here (shared with identity.json, which is not ours)
 *     genesis.bin  0600  one record (log-records.ts): the org's genesis op; created atomically
 *                        (link(2) of a synced temp file, so never half-written), never replaced
 *     ops.log      0600  records, append-only: every other op, in the order appended
 *     state.json   0600  the incarnation (state-file.ts); replaced atomically (rename(2))
 *     .genesis.bin.*.tmp, .state.json.*.tmp   an atomic write a crash interrupted: removed on open
 *
 * Creating (`init`): the dir, then an empty ops.log, then genesis.bin, whose atomic write
 * fsyncs the dir and so makes both names durable. What a crash can leave, and what `load`
 * makes of it: no genesis.bin and an empty or absent ops.log → undefined (nothing saved yet;
 * `init` again); genesis.bin and ops.log → the state, after cutting a torn tail off ops.log
 * (ftruncate, fdatasync; see log-records.ts for what counts as torn). Anything else (ops or
 * state without a genesis, genesis.bin without ops.log, a genesis.bin that is not exactly one
 * good record, a bad record in the middle of ops.log, a state.json that fails its checksum)
 * is a `StorageError` naming the file and byte offset: no crash explains it.
 *
 * Appending: one queue for every call (call-queue.ts). The `appendOps` calls waiting when
 * the log becomes free are written together in call order: one write(2), and one fdatasync
 * if any of them asked for `sync` (group commit). So a merge of 1,000 ops in one call is one
 * write, and 50 ops authored at once while a write is in flight cost one fsync between them,
 * not 50. ops.log is opened O_APPEND; `load` fdatasyncs it once, so what it returned is
 * durable even if the process before wrote it without `sync`.
 *
 * Failure: a write that fails part way (ENOSPC) is cut back to the last whole record, so a
 * torn record never sits in the middle of the log; the group's calls reject and the store
 * goes on. If that cut fails, or any fsync does, the store refuses appends and saves until
 * it is closed and loaded again: after a failed fsync Linux may have dropped the dirty pages
 * and marked them clean, so a retry would report durability that is not there ("fsyncgate").
 *
 * One process per state dir: there is no lock file, the `Mesh` that owns the dir is the only
 * writer.
 */
import { constants } from 'node:fs'
import { chmod, mkdir, open, readdir, readFile, stat, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { StorageError } from '../errors.js'
import { writeFileAtomic } from '../identity/atomic-file.js'
import { bytesEqual } from '../util/bytes.js'
import { CallQueue } from './call-queue.js'
import { encodeRecords, RecordCorruption, scanRecords } from './log-records.js'
import { decodeStateFile, encodeStateFile } from './state-file.js'
import { checkIncarnation, checkOp, checkOps, type MeshStorage, type StoredState } from './storage.js'

export const GENESIS_FILE = 'genesis.bin'
export const OPS_FILE = 'ops.log'
export const STATE_FILE = 'state.json'
export const FILE_MODE = 0o600
export const DIR_MODE = 0o700

/** One `appendOps` call, as the queue holds it. */
interface Append { ops: readonly Uint8Array[], sync: boolean }

export class FileStorage implements MeshStorage {
  readonly stateDir: string
  private readonly genesisPath: string
  private readonly opsPath: string
  private readonly statePath: string
  /** Every call, in call order; waiting appends are written as one group. */
  private readonly calls = new CallQueue<Append>(async group => { await this.writeGroup(group) })
  /** The open ops.log (O_RDWR | O_APPEND), from a `load` or `init` until `close`. */
  private log: FileHandle | undefined
  /** ops.log's length in whole records: where a failed write is cut back to. */
  private logBytes = 0
  /** Bytes were written to ops.log since its last fdatasync. */
  private unsynced = false
  /** Why the store refuses calls (a failed fsync or cut-back), until close and load. */
  private failed: StorageError | undefined

  constructor (stateDir: string) {
    this.stateDir = stateDir
    this.genesisPath = join(stateDir, GENESIS_FILE)
    this.opsPath = join(stateDir, OPS_FILE)
    this.statePath = join(stateDir, STATE_FILE)
  }

  async load (options: { signal?: AbortSignal } = {}): Promise<StoredState | undefined> {
    return await this.calls.task(async () => await this.open(), options.signal)
  }

  async init (genesis: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    checkOp(genesis, 'genesis')
    await this.calls.task(async () => {
      const existing = await this.open()
      if (existing !== undefined) {
        if (bytesEqual(existing.genesis, genesis)) return
        await this.release()
        throw new StorageError(`state dir ${this.stateDir} already holds the store of another org (${this.genesisPath} differs)`, { path: this.genesisPath })
      }
      await this.create(genesis)
    }, options.signal)
  }

  async appendOps (ops: readonly Uint8Array[], options: { sync?: boolean, signal?: AbortSignal } = {}): Promise<void> {
    checkOps(ops)
    // The list as it is now (pointers only): it is encoded when the log is free.
    await this.calls.batch({ ops: ops.slice(), sync: options.sync === true }, options.signal)
  }

  async saveIncarnation (n: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    checkIncarnation(n)
    await this.calls.task(async () => {
      this.checkOpen()
      await io(this.statePath, 'write', async () => { await writeFileAtomic(this.statePath, encodeStateFile(n), { mode: FILE_MODE }) })
    }, options.signal)
  }

  async close (): Promise<void> {
    await this.calls.task(async () => {
      const log = this.log
      if (log === undefined) return
      try {
        if (this.unsynced && this.failed === undefined) await io(this.opsPath, 'fdatasync', async () => { await log.datasync() })
      } finally {
        await this.release()
      }
    })
  }

  // --- appending ----------------------------------------------------------------------------

  /** Group commit: one write(2) for every op of the group, one fdatasync if any call asked. */
  private async writeGroup (group: readonly Append[]): Promise<void> {
    const log = this.checkOpen()
    const ops: Uint8Array[] = []
    for (const j of group) for (const op of j.ops) ops.push(op)
    if (ops.length > 0) {
      const bytes = encodeRecords(ops)
      try {
        let done = 0
        while (done < bytes.length) done += (await log.write(bytes, done, bytes.length - done)).bytesWritten
      } catch (err) {
        // Cut a partial write back so the next append does not bury a torn record.
        await this.mustSucceed('ftruncate', async () => { await log.truncate(this.logBytes) })
        throw new StorageError(`cannot append to ${this.opsPath}: ${errCode(err)}`, { cause: err, path: this.opsPath })
      }
      this.logBytes += bytes.length
      this.unsynced = true
    }
    if (this.unsynced && group.some(j => j.sync)) {
      await this.mustSucceed('fdatasync', async () => { await log.datasync() })
      this.unsynced = false
    }
  }

  /** Runs an I/O step whose failure leaves the log in doubt: the store refuses calls after it. */
  private async mustSucceed (what: string, step: () => Promise<void>): Promise<void> {
    try {
      await step()
    } catch (err) {
      this.failed = new StorageError(`${what} of ${this.opsPath} failed (${errCode(err)}): the store refuses writes until it is closed and loaded again`, { cause: err, path: this.opsPath })
      throw this.failed
    }
  }

  private checkOpen (): FileHandle {
    if (this.failed !== undefined) throw new StorageError(this.failed.message, { cause: this.failed, path: this.opsPath })
    if (this.log === undefined) throw new StorageError(`store in ${this.stateDir} is not open: call load() or init() first`, { path: this.stateDir })
    return this.log
  }

  private async release (): Promise<void> {
    const log = this.log
    this.log = undefined
    this.failed = undefined
    this.unsynced = false
    await log?.close()
  }

  // --- opening and creating --------------------------------------------------------------------

  /** Reads the store, repairs a torn tail, opens ops.log for appends; undefined if nothing was saved. */
  private async open (): Promise<StoredState | undefined> {
    await this.release()
    if (!await this.removeTempFiles()) return undefined // no state dir
    const genesis = await this.readGenesis()
    if (genesis === undefined) {
      const size = await fileSize(this.opsPath)
      if (size !== undefined && size > 0) throw this.corrupt(this.opsPath, 0, `${size} bytes of ops but no ${GENESIS_FILE}`)
      if (await fileSize(this.statePath) !== undefined) throw this.corrupt(this.statePath, 0, `a state file but no ${GENESIS_FILE}`)
      return undefined
    }
    let log: FileHandle
    try {
      log = await open(this.opsPath, constants.O_RDWR | constants.O_APPEND)
    } catch (err) {
      if (errCode(err) === 'ENOENT') throw this.corrupt(this.opsPath, 0, `missing, though ${GENESIS_FILE} exists`)
      throw new StorageError(`cannot open ${this.opsPath}: ${errCode(err)}`, { cause: err, path: this.opsPath })
    }
    try {
      const state = await this.readLog(log, genesis)
      this.log = log
      return state
    } catch (err) {
      await log.close()
      throw err
    }
  }

  private async readLog (log: FileHandle, genesis: Uint8Array): Promise<StoredState> {
    const buf = await io(this.opsPath, 'read', async () => await readAll(log))
    let scan
    try {
      scan = scanRecords(buf)
    } catch (err) {
      if (err instanceof RecordCorruption) throw this.corrupt(this.opsPath, err.offset, err.reason)
      throw err
    }
    const state: StoredState = { genesis, ops: scan.ops, incarnation: await this.readIncarnation() }
    if (scan.torn !== undefined) {
      await io(this.opsPath, 'repair', async () => { await log.truncate(scan.validBytes) })
      state.repairedTail = { offset: scan.validBytes, bytes: buf.length - scan.validBytes, reason: scan.torn }
    }
    // Make what we return durable, whether or not the process that wrote it synced it.
    if (buf.length > 0) await io(this.opsPath, 'fdatasync', async () => { await log.datasync() })
    this.logBytes = scan.validBytes
    return state
  }

  private async readGenesis (): Promise<Uint8Array | undefined> {
    let buf: Buffer
    try {
      buf = await readFile(this.genesisPath)
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined
      throw new StorageError(`cannot read ${this.genesisPath}: ${errCode(err)}`, { cause: err, path: this.genesisPath })
    }
    let scan
    try {
      scan = scanRecords(buf)
    } catch (err) {
      if (err instanceof RecordCorruption) throw this.corrupt(this.genesisPath, err.offset, err.reason)
      throw err
    }
    // Written atomically, so even a torn-looking tail is corruption here.
    if (scan.torn !== undefined) throw this.corrupt(this.genesisPath, scan.validBytes, scan.torn)
    if (scan.ops.length !== 1) throw this.corrupt(this.genesisPath, 0, `${scan.ops.length} records, expected exactly 1`)
    return scan.ops[0]
  }

  private async readIncarnation (): Promise<number> {
    let buf: Buffer
    try {
      buf = await readFile(this.statePath)
    } catch (err) {
      if (errCode(err) === 'ENOENT') return 0
      throw new StorageError(`cannot read ${this.statePath}: ${errCode(err)}`, { cause: err, path: this.statePath })
    }
    return decodeStateFile(buf, this.statePath)
  }

  private async create (genesis: Uint8Array): Promise<void> {
    await io(this.stateDir, 'create', async () => {
      const made = await mkdir(this.stateDir, { recursive: true, mode: DIR_MODE })
      if (made !== undefined) await chmod(this.stateDir, DIR_MODE)
    })
    const log = await io(this.opsPath, 'create', async () => {
      const fh = await open(this.opsPath, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, FILE_MODE)
      try {
        await fh.chmod(FILE_MODE) // the umask cannot widen or narrow it
        return fh
      } catch (err) {
        await fh.close()
        throw err
      }
    })
    try {
      // Fsyncs the dir: ops.log's name is durable from here too.
      await io(this.genesisPath, 'create', async () => {
        await writeFileAtomic(this.genesisPath, encodeRecords([genesis]), { mode: FILE_MODE, overwrite: false })
      })
    } catch (err) {
      await log.close()
      throw err
    }
    this.log = log
    this.logBytes = 0
  }

  /** Removes what an interrupted atomic write left; false when the state dir does not exist. */
  private async removeTempFiles (): Promise<boolean> {
    let names: string[]
    try {
      names = await readdir(this.stateDir)
    } catch (err) {
      if (errCode(err) === 'ENOENT') return false
      throw new StorageError(`cannot read state dir ${this.stateDir}: ${errCode(err)}`, { cause: err, path: this.stateDir })
    }
    for (const name of names) {
      if ((name.startsWith(`.${GENESIS_FILE}.`) || name.startsWith(`.${STATE_FILE}.`)) && name.endsWith('.tmp')) {
        await unlink(join(this.stateDir, name)).catch(() => {})
      }
    }
    return true
  }

  private corrupt (path: string, offset: number, reason: string): StorageError {
    return new StorageError(`${path} is corrupted: ${reason} at byte ${offset}`, { path, offset })
  }
}

/** The whole file through positional reads (O_APPEND does not affect them). */
async function readAll (fh: FileHandle): Promise<Buffer> {
  const { size } = await fh.stat()
  const buf = Buffer.allocUnsafe(size)
  let done = 0
  while (done < size) {
    const { bytesRead } = await fh.read(buf, done, size - done, done)
    if (bytesRead === 0) break // shrank under us: scan what is there
    done += bytesRead
  }
  return done === size ? buf : buf.subarray(0, done)
}

async function fileSize (path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined
    throw new StorageError(`cannot stat ${path}: ${errCode(err)}`, { cause: err, path })
  }
}

/** Runs a step, wrapping a system error as a StorageError that names the file. */
async function io<T> (path: string, what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step()
  } catch (err) {
    if (err instanceof StorageError) throw err
    throw new StorageError(`cannot ${what} ${path}: ${errCode(err)}`, { cause: err, path })
  }
}

function errCode (err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? String(err)
}
