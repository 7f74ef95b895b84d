// probeStorage: the round trip of one probe object, what a failure says, and that it changes nothing else.
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Config } from '../../../src/config'
import { probeKey, probeStorage } from '../../../src/doctor/storage-probe'
import { StorageUnavailableError } from '../../../src/errors'
import { FsBlobStore } from '../../../src/storage/fs-blob-store'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cups-probe-'))
})
afterEach(() => rm(dir, { recursive: true, force: true }))

function fsStorage(dataDir: string, prefix = 'cups/'): Config['storage'] {
  return { s3: undefined, dataDir, prefix, timeoutMs: 1000, cacheTtlMs: 0 }
}

const s3Storage: Config['storage'] = {
  s3: { bucket: 'fleet', region: 'eu-west-1', endpoint: 'http://127.0.0.1:7480', accessKeyId: 'k', secretAccessKey: 's', forcePathStyle: true },
  dataDir: '/unused',
  prefix: 'cups/',
  timeoutMs: 1000,
  cacheTtlMs: 0,
}

const now = (): Date => new Date()

describe('probeKey', () => {
  it('sits directly under the prefix, where no gateway object can be, and differs per run', () => {
    const key = probeKey('cups/')
    expect(key).toMatch(/^cups\/doctor-probe-[0-9a-f]{12}$/)
    expect(key).not.toBe(probeKey('cups/'))
    expect(probeKey('')).toMatch(/^doctor-probe-/)
  })
})

describe('probeStorage on the filesystem store', () => {
  it('writes, reads back and deletes the probe; the prefix directories it needed are removed again', async () => {
    const dataDir = path.join(dir, 'data')
    await mkdir(dataDir)
    const found = await probeStorage(fsStorage(dataDir, 'a/b/'), new FsBlobStore(dataDir), now)
    expect(found.check).toMatchObject({ check: 'storage', status: 'ok', detail: expect.stringMatching(new RegExp(`^filesystem ${dataDir} is readable and writable \\(probe a/b/doctor-probe-`)) as unknown })
    expect(found.usable).toBe(true)
    expect(found.clock?.source).toBe("the probe file's mtime")
    expect(await readdir(dataDir)).toEqual([])
  })

  it('keeps prefix directories that existed, and what is in them', async () => {
    const dataDir = path.join(dir, 'data')
    const store = new FsBlobStore(dataDir)
    await store.put(storageKeys('cups/', '0000000000000001').settings, Buffer.from('{}'))
    await probeStorage(fsStorage(dataDir), store, now)
    expect(await store.list('')).toEqual(['cups/0000000000000001/gateway.json'])
  })

  it('does not create a DATA_DIR that is missing: it warns that the server will', async () => {
    const dataDir = path.join(dir, 'not', 'yet')
    const found = await probeStorage(fsStorage(dataDir), new FsBlobStore(dataDir), now)
    expect(found.check).toMatchObject({ status: 'warn', detail: expect.stringMatching(/does not exist yet; the server creates it at its first start/) as unknown })
    expect(found.usable).toBe(false)
    expect(existsSync(path.join(dir, 'not'))).toBe(false)
  })
})

describe('probeStorage failures', () => {
  it('names the storage, the probe and the step that failed', async () => {
    const store = new MemoryBlobStore()
    store.put = () => Promise.reject(new StorageUnavailableError('s3 storage: put fleet/cups/x failed: NoSuchBucket 404'))
    const found = await probeStorage(s3Storage, store, now)
    expect(found.usable).toBe(false)
    expect(found.check.status).toBe('fail')
    expect(found.check.detail).toMatch(/^S3 bucket fleet at http:\/\/127\.0\.0\.1:7480: the probe object cups\/doctor-probe-[0-9a-f]+ could not be written: s3 storage: put .* NoSuchBucket 404$/)
  })

  it('says when the probe may have been left behind', async () => {
    const store = new MemoryBlobStore()
    store.delete = () => Promise.reject(new Error('AccessDenied'))
    const found = await probeStorage(s3Storage, store, now)
    expect(found.check.detail).toMatch(/could not be deleted: AccessDenied; it may still be there: delete cups\/doctor-probe-[0-9a-f]+ by hand$/)
  })

  it('a storage time stamp that cannot be read is a clock problem, not a storage failure', async () => {
    const store = Object.assign(new MemoryBlobStore(), { modifiedAt: () => Promise.reject(new Error('HeadObject 403')) })
    const found = await probeStorage(s3Storage, store, now)
    expect(found).toMatchObject({ usable: true, clock: undefined, clockProblem: 'HeadObject 403', check: { status: 'ok' } })
    expect(await store.list('')).toEqual([])
  })
})
