// BlobStore.modifiedAt on the filesystem (the file's mtime) and S3 (HeadObject's LastModified): the storage's clock for doctor.
import { utimes } from 'node:fs/promises'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { HeadObjectCommand, NotFound } from '@aws-sdk/client-s3'
import { describe, expect, it, vi } from 'vitest'
import { StorageUnavailableError } from '../../../src/errors'
import { FsBlobStore } from '../../../src/storage/fs-blob-store'
import { S3BlobStore } from '../../../src/storage/s3-blob-store'

describe('FsBlobStore.modifiedAt', () => {
  it("is the file's mtime, and undefined for a key with no object", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cups-mtime-'))
    try {
      const store = new FsBlobStore(dir)
      await store.put('cups/probe', Buffer.from('x'))
      const stamp = new Date('2030-01-02T03:04:05Z')
      await utimes(path.join(dir, 'cups/probe'), stamp, stamp)
      expect(await store.modifiedAt('cups/probe')).toEqual(stamp)
      expect(await store.modifiedAt('cups/none')).toBeUndefined()
      expect(await store.modifiedAt('nowhere/at/all')).toBeUndefined()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('S3BlobStore.modifiedAt', () => {
  it("sends HeadObject and returns the object's LastModified", async () => {
    const send = vi.fn().mockResolvedValueOnce({ LastModified: new Date('2030-01-02T03:04:05Z'), $metadata: {} })
    const store = new S3BlobStore({ bucket: 'bucket', client: { send } })
    expect(await store.modifiedAt('cups/probe')).toEqual(new Date('2030-01-02T03:04:05Z'))
    const command: unknown = send.mock.calls[0]?.[0]
    expect(command).toBeInstanceOf(HeadObjectCommand)
    expect((command as HeadObjectCommand).input).toEqual({ Bucket: 'bucket', Key: 'cups/probe' })
  })

  it('is undefined for a missing object and StorageUnavailableError for anything else', async () => {
    const send = vi
      .fn()
      .mockRejectedValueOnce(new NotFound({ message: 'not found', $metadata: { httpStatusCode: 404 } }))
      .mockRejectedValueOnce(Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' }))
    const store = new S3BlobStore({ bucket: 'bucket', client: { send } })
    expect(await store.modifiedAt('cups/probe')).toBeUndefined()
    await expect(store.modifiedAt('cups/probe')).rejects.toThrow(StorageUnavailableError)
  })
})
