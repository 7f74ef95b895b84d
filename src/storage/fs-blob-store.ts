// Owns the filesystem BlobStore (the embedded default): key K lives at rootDir/K, written atomically.
//
// Guarantees and limits:
// - A put writes a temp file next to the target, fsyncs it, then renames (or links) it into place and
//   fsyncs the directory, so a crash leaves either the old object or the new one, never a part.
//   A crash may leave a temp file behind (`.<name>.tmp-<hex>`); get and list never see it, and an
//   operator may delete such files at any time.
// - `ifNoneMatch: '*'` is atomic even between processes: link(2) fails with EEXIST if the name exists.
// - `ifMatch` is atomic only inside this process (a per-key mutex around compare-then-rename).
//   Several processes or hosts sharing one directory need the S3 adapter for conditional renewals.
// - ETag = md5 hex of the body, like an S3 single-part upload, so it is stable across restarts.
//   An unusable object (below) has 'unusable-' + 16 hex digits of its reason and inode identity.
// - Files are 0600 and new directories 0700: the blobs hold private keys.
// - Keys are validated, never resolved: no absolute paths, '.'/'..' or other dot segments, empty
//   segments, backslashes or NUL, so no key can name a file outside rootDir or collide with a temp file.
// - Only regular files of at most maxObjectBytes, reached without any symlink below rootDir, are read.
//   Anything else under a key (FIFO, socket, device, symlink, oversized file, a directory on the way
//   that is a symlink) is an unusable object: logged, and read as an empty body with a stable etag,
//   never followed, never a hang. Puts and deletes refuse a key whose directory is a symlink.
//   All symlinks are refused, even ones inside rootDir: nothing we write makes one, list skips them,
//   and following none is simpler than proving where each one leads (rootDir itself may be a link).
// - Not caught: a hard link inside rootDir to a file elsewhere (fs.protected_hardlinks limits that).
import { createHash, randomBytes } from 'node:crypto'
import { constants, type Dirent, type Stats } from 'node:fs'
import { type FileHandle, link, lstat, mkdir, open, readdir, realpath, rename, unlink } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'

import { PreconditionFailedError, StorageUnavailableError } from '../errors'
import type { Logger } from '../logger'
import { type BlobStore, DEFAULT_MAX_OBJECT_BYTES, type ObjectStream, type PutCondition, type StoredBlob } from './blob-store'
import { compareKeys } from './storage-keys'

export interface FsBlobStoreOptions {
  /** Larger files read as unusable. Default DEFAULT_MAX_OBJECT_BYTES (64 KiB). */
  readonly maxObjectBytes?: number
  /** Where unusable objects are reported (key and reason, never contents). */
  readonly log?: Pick<Logger, 'warn'>
}

// NAME_MAX is 255 bytes; a temp name adds '.' + '.tmp-' + 16 hex digits to the segment.
const MAX_SEGMENT_BYTES = 200
// Errors that mean "there is no object under this key": the path, a parent, or a directory in its place.
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'EISDIR'])
// O_NOFOLLOW: a symlink in the last component fails with ELOOP instead of being followed. O_NONBLOCK:
// opening a FIFO returns at once instead of waiting for a writer. O_NOCTTY: a tty is never adopted.
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY
// open(2) errors that mean "something is there, but not a file we may open": a symlink (or a loop of
// them), a socket, a device node without a driver.
const REFUSED_BY_OPEN = new Set(['ELOOP', 'ENXIO', 'ENODEV'])

function errnoCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined
}

function isAbsent(err: unknown): boolean {
  const code = errnoCode(err)
  return code !== undefined && ABSENT.has(code)
}

function unavailable(op: string, key: string, err: unknown): StorageUnavailableError {
  return new StorageUnavailableError(`fs storage: ${op} ${key} failed: ${errnoCode(err) ?? String(err)}`, { cause: err })
}

function etagOf(body: Buffer): string {
  return createHash('md5').update(body).digest('hex')
}

/** Never an md5 hex, and changes when the thing under the key is swapped or modified. */
function unusableEtag(reason: string, stats: Stats | undefined): string {
  const identity = stats === undefined ? '' : `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`
  return `unusable-${createHash('md5').update(`${reason}\0${identity}`).digest('hex').slice(0, 16)}`
}

function kindOf(stats: Stats): string {
  if (stats.isSymbolicLink()) return 'a symbolic link'
  if (stats.isFIFO()) return 'a FIFO'
  if (stats.isSocket()) return 'a socket'
  if (stats.isCharacterDevice()) return 'a character device'
  if (stats.isBlockDevice()) return 'a block device'
  return 'not a regular file'
}

/**
 * Reads from the handle at most max + 1 bytes; undefined when there are more than max. fstat's size
 * is where we stop, as readFile does, but the buffer has one byte more so a file that grew since
 * fstat is noticed by the same single read.
 */
async function readCapped(handle: FileHandle, size: number, max: number): Promise<Buffer | undefined> {
  // Not allocUnsafe: small ones are slices of a shared pool that a cached body would keep alive.
  let buf = Buffer.alloc(size + 1)
  let n = 0
  for (;;) {
    if (n === buf.length) {
      if (n > max) return undefined
      const bigger = Buffer.alloc(Math.min(buf.length * 2, max + 1))
      buf.copy(bigger, 0, 0, n)
      buf = bigger
    }
    const { bytesRead } = await handle.read(buf, n, buf.length - n, n)
    if (bytesRead === 0) break
    n += bytesRead
    if (n === size) break
  }
  return buf.subarray(0, n)
}

/** Why `key` cannot be stored on a filesystem, or undefined when it is fine. */
function keyProblem(key: string): string | undefined {
  if (key === '') return 'is empty'
  if (key.includes('\0')) return 'contains NUL'
  if (key.includes('\\')) return 'contains a backslash'
  if (key.startsWith('/')) return 'is absolute'
  for (const segment of key.split('/')) {
    if (segment === '') return 'has an empty segment'
    // Covers '.' and '..' (escaping rootDir) and our temp-file names.
    if (segment.startsWith('.')) return 'has a segment starting with "."'
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return `has a segment longer than ${MAX_SEGMENT_BYTES} bytes`
  }
  return undefined
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export class FsBlobStore implements BlobStore {
  readonly #root: string
  readonly #maxBytes: number
  readonly #log: Pick<Logger, 'warn'> | undefined
  /** realpath(rootDir), once it has succeeded: directories below it are compared against it. */
  #realRoot: Promise<string> | undefined
  /** Tail of each key's queue of mutations; see the header for why this is per process only. */
  readonly #locks = new Map<string, Promise<void>>()

  constructor(rootDir: string, options: FsBlobStoreOptions = {}) {
    this.#root = resolve(rootDir)
    this.#maxBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES
    this.#log = options.log
  }

  async get(key: string): Promise<StoredBlob | undefined> {
    const path = this.#pathOf(key)
    let handle: FileHandle
    try {
      handle = await open(path, READ_FLAGS)
    } catch (err) {
      if (isAbsent(err)) return undefined
      if (REFUSED_BY_OPEN.has(errnoCode(err) ?? '')) return this.#refusedByOpen(key, path)
      throw unavailable('get', key, err)
    }
    try {
      // The directory check (a realpath) runs beside fstat: one more thread-pool call, but no longer wait.
      const [stats, dirProblem] = await Promise.all([handle.stat(), this.#dirProblem(key)])
      if (stats.isDirectory()) return undefined
      const problem = dirProblem ?? this.#fileProblem(stats)
      if (problem !== undefined) return this.#unusable(key, problem, stats)
      const body = await readCapped(handle, stats.size, this.#maxBytes)
      if (body === undefined) return this.#unusable(key, `grew past the ${this.#maxBytes}-byte cap while being read`, stats)
      return { body, etag: etagOf(body) }
    } catch (err) {
      // E.g. the directory was removed between open and realpath.
      if (isAbsent(err)) return undefined
      throw unavailable('get', key, err)
    } finally {
      // Read-only: a failed close loses nothing.
      await handle.close().catch(() => undefined)
    }
  }

  async put(key: string, body: Buffer, condition: PutCondition = {}): Promise<{ etag: string }> {
    const path = this.#pathOf(key)
    const dir = dirname(path)
    const tmp = join(dir, `.${key.slice(key.lastIndexOf('/') + 1)}.tmp-${randomBytes(8).toString('hex')}`)
    const etag = etagOf(body)
    try {
      await this.#refuseLinkedDir('put', key)
      await this.#ensureDir(dir)
      // The slow part (write + fsync) happens before taking the key's lock.
      const handle = await open(tmp, 'wx', 0o600)
      try {
        await handle.writeFile(body)
        await handle.sync()
      } finally {
        await handle.close()
      }
      await this.#withLock(key, async () => {
        if (condition.ifMatch !== undefined) {
          const current = await this.get(key)
          if (current?.etag !== condition.ifMatch) throw new PreconditionFailedError(key)
        }
        if (condition.ifNoneMatch === '*') {
          try {
            await link(tmp, path)
          } catch (err) {
            if (errnoCode(err) === 'EEXIST') throw new PreconditionFailedError(key)
            throw err
          }
        } else {
          await rename(tmp, path)
        }
        await fsyncDir(dir)
      })
    } catch (err) {
      if (err instanceof PreconditionFailedError || err instanceof StorageUnavailableError) throw err
      throw unavailable('put', key, err)
    } finally {
      // After a rename this is already gone; after link, a failure or an error it is still there.
      await unlink(tmp).catch(() => undefined)
    }
    return { etag }
  }

  async delete(key: string): Promise<void> {
    const path = this.#pathOf(key)
    await this.#refuseLinkedDir('delete', key)
    await this.#withLock(key, async () => {
      try {
        await unlink(path)
        await fsyncDir(dirname(path))
      } catch (err) {
        if (isAbsent(err)) return
        throw unavailable('delete', key, err)
      }
    })
  }

  async openRead(key: string): Promise<ObjectStream | undefined> {
    const path = this.#pathOf(key)
    let handle: FileHandle
    try {
      handle = await open(path, READ_FLAGS)
    } catch (err) {
      // Absent, or not a file we may open (a symlink, a socket): nothing to stream either way.
      if (isAbsent(err) || REFUSED_BY_OPEN.has(errnoCode(err) ?? '')) return undefined
      throw unavailable('get', key, err)
    }
    try {
      const [stats, dirProblem] = await Promise.all([handle.stat(), this.#dirProblem(key)])
      if (!stats.isFile() || dirProblem !== undefined) {
        await handle.close()
        return undefined
      }
      // The open descriptor keeps reading the file it opened, even if a put renames a new one into place.
      return { stream: handle.createReadStream({ autoClose: true, highWaterMark: 64 * 1024 }), length: stats.size }
    } catch (err) {
      await handle.close().catch(() => undefined)
      if (isAbsent(err)) return undefined
      throw unavailable('get', key, err)
    }
  }

  async modifiedAt(key: string): Promise<Date | undefined> {
    const path = this.#pathOf(key)
    try {
      return (await lstat(path)).mtime
    } catch (err) {
      if (isAbsent(err)) return undefined
      throw unavailable('stat', key, err)
    }
  }

  async list(prefix: string): Promise<string[]> {
    // Only the directory part of the prefix is walked; the rest filters names (prefixes need not end at '/').
    const dirPart = prefix.slice(0, prefix.lastIndexOf('/') + 1)
    // A prefix no valid key can start with matches nothing, and is never turned into a path.
    if (dirPart !== '' && keyProblem(dirPart.slice(0, -1)) !== undefined) return []
    const keys: string[] = []
    try {
      // readdir would follow a symlinked directory in the prefix itself; the walk below follows none.
      if (dirPart !== '' && (await this.#dirProblem(dirPart)) !== undefined) return []
      await this.#walk(join(this.#root, dirPart), dirPart, keys)
    } catch (err) {
      // Only #dirProblem lets absence through; the walk treats a missing directory as empty itself.
      if (isAbsent(err)) return []
      throw unavailable('list', prefix, err)
    }
    return keys.filter((k) => k.startsWith(prefix)).sort(compareKeys)
  }

  async #walk(dir: string, keyPrefix: string, out: string[]): Promise<void> {
    let entries: Dirent[]
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      if (isAbsent(err)) return
      throw err
    }
    for (const entry of entries) {
      // Dot names are temp files (or not ours); symlinks are not followed so nothing outside rootDir is listed.
      if (entry.name.startsWith('.')) continue
      if (entry.isDirectory()) await this.#walk(join(dir, entry.name), `${keyPrefix}${entry.name}/`, out)
      else if (entry.isFile()) out.push(`${keyPrefix}${entry.name}`)
    }
  }

  /**
   * Why the directory part of key does not lead exactly to rootDir/<that part> (a symlink on the way,
   * possibly out of rootDir), or undefined when it does. Rejects ENOENT/ENOTDIR when it does not exist.
   */
  async #dirProblem(key: string): Promise<string | undefined> {
    const slash = key.lastIndexOf('/')
    // Directly in rootDir, whose own path was resolved once.
    if (slash === -1) return undefined
    const dirKey = key.slice(0, slash)
    const [real, root] = await Promise.all([realpath(join(this.#root, dirKey)), this.#resolvedRoot()])
    if (real === join(root, dirKey)) return undefined
    const inside = real === root || real.startsWith(root + sep)
    return inside ? 'is under a symlinked directory' : 'is under a directory that leads outside the data directory'
  }

  #resolvedRoot(): Promise<string> {
    this.#realRoot ??= realpath(this.#root).catch((err: unknown) => {
      // Not cached: the root may simply not exist yet.
      this.#realRoot = undefined
      throw err
    })
    return this.#realRoot
  }

  /** A put or delete through a symlinked directory would write or unlink outside rootDir: refuse it. */
  async #refuseLinkedDir(op: string, key: string): Promise<void> {
    // The deepest directory of the key's path that exists is the one to check; mkdir creates the rest in it.
    for (let dirKey = key; dirKey.includes('/'); dirKey = dirKey.slice(0, dirKey.lastIndexOf('/'))) {
      let problem: string | undefined
      try {
        problem = await this.#dirProblem(dirKey)
      } catch (err) {
        if (isAbsent(err)) continue
        throw unavailable(op, key, err)
      }
      if (problem === undefined) return
      throw new StorageUnavailableError(`fs storage: ${op} ${key} refused: ${problem}`)
    }
  }

  /** open(2) refused the name (see REFUSED_BY_OPEN); lstat says what it is, for the log and the etag. */
  async #refusedByOpen(key: string, path: string): Promise<StoredBlob | undefined> {
    let stats: Stats
    try {
      stats = await lstat(path)
    } catch (err) {
      if (isAbsent(err)) return undefined
      // A loop among the directories: lstat fails too, and there is nothing to identify it by.
      if (errnoCode(err) === 'ELOOP') return this.#unusable(key, 'has a symbolic link loop on its path', undefined)
      throw unavailable('get', key, err)
    }
    const what = stats.isSymbolicLink() ? 'is a symbolic link (not followed)' : `is ${kindOf(stats)}`
    return this.#unusable(key, what, stats)
  }

  #fileProblem(stats: Stats): string | undefined {
    if (!stats.isFile()) return `is ${kindOf(stats)}`
    if (stats.size > this.#maxBytes) return `is ${stats.size} bytes, over the ${this.#maxBytes}-byte cap`
    return undefined
  }

  #unusable(key: string, reason: string, stats: Stats | undefined): StoredBlob {
    this.#log?.warn({ objectKey: key, reason }, 'fs storage: object unusable, read as empty')
    return { body: Buffer.alloc(0), etag: unusableEtag(reason, stats), unusable: reason }
  }

  #pathOf(key: string): string {
    const problem = keyProblem(key)
    if (problem !== undefined) throw new Error(`invalid storage key ${JSON.stringify(key)}: ${problem}`)
    return join(this.#root, key)
  }

  /** mkdir -p with 0700, then fsync the parents of every directory it created so they survive a crash. */
  async #ensureDir(dir: string): Promise<void> {
    const firstCreated = await mkdir(dir, { recursive: true, mode: 0o700 })
    if (firstCreated === undefined) return
    for (let d = dir; ; d = dirname(d)) {
      await fsyncDir(dirname(d))
      if (d === firstCreated || d === dirname(d)) break
    }
  }

  async #withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve()
    let release = (): void => undefined
    const mine = new Promise<void>((r) => (release = r))
    const tail = previous.then(() => mine)
    this.#locks.set(key, tail)
    await previous
    try {
      return await fn()
    } finally {
      release()
      // Forget the key once nobody queued behind us, so the map does not grow with every key ever written.
      if (this.#locks.get(key) === tail) this.#locks.delete(key)
    }
  }
}
