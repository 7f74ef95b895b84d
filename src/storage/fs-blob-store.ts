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
// - Files are 0600 and new directories 0700: the blobs hold private keys.
// - Keys are validated, never resolved: no absolute paths, '.'/'..' or other dot segments, empty
//   segments, backslashes or NUL, so no key can name a file outside rootDir or collide with a temp file.
import { createHash, randomBytes } from 'node:crypto'
import type { Dirent } from 'node:fs'
import { link, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'

import { PreconditionFailedError, StorageUnavailableError } from '../errors'
import type { BlobStore, PutCondition, StoredBlob } from './blob-store'
import { compareKeys } from './storage-keys'

// NAME_MAX is 255 bytes; a temp name adds '.' + '.tmp-' + 16 hex digits to the segment.
const MAX_SEGMENT_BYTES = 200
// Errors that mean "there is no object under this key": the path, a parent, or a directory in its place.
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'EISDIR'])

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
  /** Tail of each key's queue of mutations; see the header for why this is per process only. */
  readonly #locks = new Map<string, Promise<void>>()

  constructor(rootDir: string) {
    this.#root = resolve(rootDir)
  }

  async get(key: string): Promise<StoredBlob | undefined> {
    const path = this.#pathOf(key)
    let body: Buffer
    try {
      body = await readFile(path)
    } catch (err) {
      if (isAbsent(err)) return undefined
      throw unavailable('get', key, err)
    }
    return { body, etag: etagOf(body) }
  }

  async put(key: string, body: Buffer, condition: PutCondition = {}): Promise<{ etag: string }> {
    const path = this.#pathOf(key)
    const dir = dirname(path)
    const tmp = join(dir, `.${key.slice(key.lastIndexOf('/') + 1)}.tmp-${randomBytes(8).toString('hex')}`)
    const etag = etagOf(body)
    try {
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

  async list(prefix: string): Promise<string[]> {
    // Only the directory part of the prefix is walked; the rest filters names (prefixes need not end at '/').
    const dirPart = prefix.slice(0, prefix.lastIndexOf('/') + 1)
    // A prefix no valid key can start with matches nothing, and is never turned into a path.
    if (dirPart !== '' && keyProblem(dirPart.slice(0, -1)) !== undefined) return []
    const keys: string[] = []
    try {
      await this.#walk(join(this.#root, dirPart), dirPart, keys)
    } catch (err) {
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
