/**
 * Crash-safe small-file writes: the content goes to a temporary file in the same directory,
 * which is fsynced, then renamed (or hard-linked) over the target, then the directory is
 * fsynced. At every instant the target is either absent, the old content or the new content,
 * never a partial file.
 *
 * `overwrite: false` uses `link(2)` instead of `rename(2)`: it fails with `EEXIST` when the
 * target exists, so two processes creating the same file race safely and neither clobbers
 * the other's result.
 */
import { randomBytes } from 'node:crypto'
import { link, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export interface AtomicWriteInit {
  /** The file mode, set with `fchmod` so the umask cannot widen or narrow it. */
  mode: number
  /** Replace an existing file (rename) or fail with `EEXIST` (link). Default true. */
  overwrite?: boolean
}

export async function writeFileAtomic (path: string, data: Uint8Array | string, init: AtomicWriteInit): Promise<void> {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', init.mode)
  let placed = false
  try {
    try {
      await fh.chmod(init.mode)
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    if (init.overwrite === false) {
      await link(tmp, path)
    } else {
      await rename(tmp, path)
      placed = true
    }
  } finally {
    if (!placed) await unlink(tmp).catch(() => {})
  }
  await syncDir(dir)
}

/** Makes a rename or link in `dir` durable. Some platforms cannot fsync a directory: ignore that. */
async function syncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM') throw err
  } finally {
    await fh.close()
  }
}
