// probeStorage: a round trip (put, get, delete) of one probe object under the storage prefix, the storage's clock on the way.
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { access, rmdir, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Config } from '../config'
import type { BlobStore } from '../storage/blob-store'
import type { ClockReading } from './clock-check'
import { fail, ok, warn } from './doctor-check'
import type { DoctorCheck } from './doctor-check'

export interface StorageFindings {
  readonly check: DoctorCheck
  /** The round trip worked: checks that read the storage (records) can run. */
  readonly usable: boolean
  /** This host's clock around the probe's write and the storage's time stamp on it. */
  readonly clock: ClockReading | undefined
  /** Why the storage's clock could not be read, when the round trip worked but its time stamp did not. */
  readonly clockProblem?: string
}

const PROBE_NAME = 'doctor-probe-'

/**
 * `<prefix>doctor-probe-<random>`: directly under the prefix, where no gateway object ever is (those are all
 * `<prefix><eui>/<name>`), and a plain name every adapter accepts (the filesystem store refuses dot names).
 * The random part keeps two doctors running at once apart.
 */
export function probeKey(prefix: string): string {
  return `${prefix}${PROBE_NAME}${randomBytes(6).toString('hex')}`
}

/** "filesystem /data" or "S3 bucket b at http://host:7480": the storage as the operator configured it. */
export function describeStorage(storage: Config['storage']): string {
  const { s3 } = storage
  if (s3 === undefined) return `filesystem ${storage.dataDir}`
  return `S3 bucket ${s3.bucket} ${s3.endpoint === undefined ? `in ${s3.region}` : `at ${s3.endpoint}`}`
}

/**
 * Changes nothing but the probe: a DATA_DIR that does not exist yet is not created (the server does that at
 * start), and prefix directories the filesystem store makes for the probe are removed again. For S3 the round
 * trip proves the bucket, the credentials and the endpoint, and a conditional create (If-None-Match, which
 * minting relies on) at the same time.
 */
export async function probeStorage(storage: Config['storage'], store: BlobStore, now: () => Date): Promise<StorageFindings> {
  const where = describeStorage(storage)
  if (storage.s3 === undefined) {
    const absent = await absentDataDir(storage.dataDir)
    if (absent !== undefined) return { check: absent, usable: false, clock: undefined }
  }
  const key = probeKey(storage.prefix)
  const made = storage.s3 === undefined ? await directoriesToMake(storage.dataDir, storage.prefix) : []
  const body = Buffer.from(`cups-server doctor probe; delete me if I am still here\n`)
  let stage = 'written'
  let stored = false
  try {
    const before = now()
    await store.put(key, body, { ifNoneMatch: '*' })
    const after = now()
    stored = true
    stage = 'read back'
    const read = await store.get(key)
    if (read === undefined) throw new Error('it was not there')
    if (!read.body.equals(body)) throw new Error(`it came back different (${read.body.length} bytes, ${read.unusable ?? 'other content'})`)
    let clock: ClockReading | undefined
    let clockProblem: string | undefined
    try {
      const stamped = await store.modifiedAt?.(key)
      if (stamped !== undefined) clock = { before, after, storage: stamped, source: storage.s3 === undefined ? "the probe file's mtime" : "the probe's S3 Last-Modified" }
    } catch (err) {
      clockProblem = (err as Error).message
    }
    stage = 'deleted'
    await store.delete(key)
    stored = false
    if ((await store.get(key)) !== undefined) throw new Error('it is still there after the delete')
    const detail = `${where} is readable and writable (probe ${key} written, read back and deleted)`
    return { check: ok('storage', detail), usable: true, clock, ...(clockProblem === undefined ? {} : { clockProblem }) }
  } catch (err) {
    const left = stored && !(await deleted(store, key)) ? `; it may still be there: delete ${key} by hand` : ''
    return { check: fail('storage', `${where}: the probe object ${key} could not be ${stage}: ${(err as Error).message}${left}`), usable: false, clock: undefined }
  } finally {
    // Deepest first; rmdir removes only empty directories, so nothing a gateway wrote meanwhile can go.
    for (const dir of [...made].reverse()) await rmdir(dir).catch(() => undefined)
  }
}

async function deleted(store: BlobStore, key: string): Promise<boolean> {
  try {
    await store.delete(key)
    return true
  } catch {
    return false
  }
}

/** The server makes DATA_DIR at start (probeWritableDirectory); doctor only says whether it could. */
async function absentDataDir(dataDir: string): Promise<DoctorCheck | undefined> {
  try {
    if ((await stat(dataDir)).isDirectory()) return undefined
    return fail('storage', `filesystem DATA_DIR ${dataDir} is not a directory: the server refuses to start`)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ENOENT') return fail('storage', `filesystem DATA_DIR ${dataDir} cannot be read (${code ?? (err as Error).message})`)
  }
  const parent = await nearestExisting(path.dirname(dataDir))
  try {
    await access(parent, constants.W_OK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    return fail('storage', `filesystem DATA_DIR ${dataDir} does not exist, and the server cannot create it: ${parent} is not writable (${code})`)
  }
  return warn(
    'storage',
    `filesystem DATA_DIR ${dataDir} does not exist yet; the server creates it at its first start (${parent} is writable). ` +
      'Doctor creates nothing, so the round trip and the gateway records were not checked',
  )
}

async function nearestExisting(dir: string): Promise<string> {
  for (let current = dir; ; current = path.dirname(current)) {
    try {
      await stat(current)
      return current
    } catch {
      if (path.dirname(current) === current) return current
    }
  }
}

/** The prefix's directories below dataDir that do not exist yet, outermost first: the probe's put makes them. */
async function directoriesToMake(dataDir: string, prefix: string): Promise<string[]> {
  const segments = prefix.split('/').filter((segment) => segment !== '')
  const missing: string[] = []
  for (let i = 1; i <= segments.length; i++) {
    const dir = path.join(dataDir, ...segments.slice(0, i))
    try {
      await stat(dir)
    } catch {
      missing.push(dir)
    }
  }
  return missing
}
