// Owns S3BlobStore's request shapes and error mapping (fake `send`), and createS3Client's settings and timeouts (local sockets).
import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchBucket,
  NoSuchKey,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3'
import { afterEach, describe, expect, it, vi } from 'vitest'

import { PreconditionFailedError, StorageUnavailableError } from '../../../src/errors'
import { createS3Client, S3BlobStore } from '../../../src/storage/s3-blob-store'

const KEY = 'cups/0016c001ff10a235/cups_cred.bin'

function setup() {
  const send = vi.fn()
  const store = new S3BlobStore({ bucket: 'bucket', client: { send } })
  /** The input of the n-th command sent, checked to be of the given class. */
  const sent = (n: number, type: abstract new (...args: never[]) => { input: unknown }): Record<string, unknown> => {
    const command: unknown = send.mock.calls[n]?.[0]
    expect(command).toBeInstanceOf(type)
    return (command as { input: Record<string, unknown> }).input
  }
  return { send, store, sent }
}

function s3Error(name: string, httpStatusCode: number): S3ServiceException {
  return new S3ServiceException({ name, $fault: httpStatusCode >= 500 ? 'server' : 'client', $metadata: { httpStatusCode }, message: name })
}

const timeoutError = Object.assign(new Error('request timed out'), { name: 'TimeoutError', code: 'ETIMEDOUT' })

function getOutput(bytes: number[], etag = '"0123abcd"') {
  return { Body: { transformToByteArray: () => Promise.resolve(new Uint8Array(bytes)) }, ETag: etag, $metadata: {} }
}

describe('S3BlobStore.get', () => {
  it('sends GetObject for the bucket and key, and returns the bytes with the ETag unquoted', async () => {
    const { send, store, sent } = setup()
    send.mockResolvedValueOnce(getOutput([0, 1, 255]))
    expect(await store.get(KEY)).toEqual({ body: Buffer.from([0, 1, 255]), etag: '0123abcd' })
    expect(sent(0, GetObjectCommand)).toEqual({ Bucket: 'bucket', Key: KEY })
  })

  it.each([
    ['NoSuchKey', new NoSuchKey({ message: 'no such key', $metadata: { httpStatusCode: 404 } })],
    ['NotFound', s3Error('NotFound', 404)],
    ['a bare 404', s3Error('Unknown', 404)],
  ])('resolves undefined for %s', async (_label, error) => {
    const { send, store } = setup()
    send.mockRejectedValueOnce(error)
    expect(await store.get(KEY)).toBeUndefined()
  })

  it.each([
    ['NoSuchBucket (a misconfiguration, not an absent key)', new NoSuchBucket({ message: 'no bucket', $metadata: { httpStatusCode: 404 } })],
    ['500 InternalError', s3Error('InternalError', 500)],
    ['503 SlowDown', s3Error('SlowDown', 503)],
    ['403 AccessDenied', s3Error('AccessDenied', 403)],
    ['a timeout', timeoutError],
    ['a connection refused', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
  ])('rejects StorageUnavailableError carrying the cause for %s', async (_label, error) => {
    const { send, store } = setup()
    send.mockRejectedValueOnce(error)
    const attempt = store.get(KEY)
    await expect(attempt).rejects.toBeInstanceOf(StorageUnavailableError)
    await expect(attempt).rejects.toHaveProperty('cause', error)
  })

  it('rejects StorageUnavailableError when the body stream fails after the headers', async () => {
    const { send, store } = setup()
    send.mockResolvedValueOnce({ Body: { transformToByteArray: () => Promise.reject(new Error('socket hang up')) }, ETag: '"e"' })
    await expect(store.get(KEY)).rejects.toBeInstanceOf(StorageUnavailableError)
  })
})

describe('S3BlobStore.get size cap', () => {
  function capped(maxObjectBytes: number) {
    const send = vi.fn()
    const warn = vi.fn<(...args: unknown[]) => void>()
    return { send, warn, store: new S3BlobStore({ bucket: 'bucket', client: { send }, maxObjectBytes, log: { warn } }) }
  }

  it('judges by ContentLength: over the cap is unusable with the object ETag, the body is destroyed unread and logged', async () => {
    const { send, warn, store } = capped(4)
    const transformToByteArray = vi.fn()
    const destroy = vi.fn()
    send.mockResolvedValueOnce({ Body: { transformToByteArray, destroy }, ContentLength: 5, ETag: '"big"', $metadata: {} })
    const got = await store.get(KEY)
    expect(got).toEqual({ body: Buffer.alloc(0), etag: 'big', unusable: 'is 5 bytes, over the 4-byte cap' })
    expect(transformToByteArray).not.toHaveBeenCalled()
    expect(destroy).toHaveBeenCalledOnce()
    expect(warn).toHaveBeenCalledWith({ objectKey: KEY, reason: got?.unusable }, expect.any(String))
  })

  it('an object of exactly the cap is read', async () => {
    const { send, warn, store } = capped(3)
    send.mockResolvedValueOnce({ ...getOutput([1, 2, 3]), ContentLength: 3 })
    expect(await store.get(KEY)).toEqual({ body: Buffer.from([1, 2, 3]), etag: '0123abcd' })
    expect(warn).not.toHaveBeenCalled()
  })

  it('without a ContentLength the cap still holds on the bytes read', async () => {
    const { send, store } = capped(2)
    send.mockResolvedValueOnce(getOutput([1, 2, 3]))
    expect(await store.get(KEY)).toEqual({ body: Buffer.alloc(0), etag: '0123abcd', unusable: 'is 3 bytes, over the 2-byte cap' })
  })

  it('defaults to 64 KiB', async () => {
    const { send, store } = setup()
    send.mockResolvedValueOnce({ Body: { transformToByteArray: vi.fn(), destroy: vi.fn() }, ContentLength: 64 * 1024 + 1, ETag: '"e"' })
    expect((await store.get(KEY))?.unusable).toBe('is 65537 bytes, over the 65536-byte cap')
  })
})

describe('S3BlobStore.put', () => {
  it('sends a Buffer body with its length and no condition headers by default, and returns the ETag unquoted', async () => {
    const { send, store, sent } = setup()
    send.mockResolvedValueOnce({ ETag: '"d41d8cd9"', $metadata: {} })
    const body = Buffer.from([1, 2, 3])
    expect(await store.put(KEY, body)).toEqual({ etag: 'd41d8cd9' })
    const input = sent(0, PutObjectCommand)
    expect(input).toMatchObject({ Bucket: 'bucket', Key: KEY, ContentLength: 3 })
    expect(Buffer.isBuffer(input.Body)).toBe(true)
    expect(input).not.toHaveProperty('IfMatch')
    expect(input).not.toHaveProperty('IfNoneMatch')
  })

  it('sends IfNoneMatch "*" for a create', async () => {
    const { send, store, sent } = setup()
    send.mockResolvedValueOnce({ ETag: '"e"' })
    await store.put(KEY, Buffer.from('x'), { ifNoneMatch: '*' })
    expect(sent(0, PutObjectCommand)).toMatchObject({ IfNoneMatch: '*' })
  })

  it.each(['abc123', '"abc123"'])('sends If-Match unquoted (radosgw 16.2 refuses the quoted form), given %s', async (given) => {
    const { send, store, sent } = setup()
    send.mockResolvedValueOnce({ ETag: '"e"' })
    await store.put(KEY, Buffer.from('x'), { ifMatch: given })
    expect(sent(0, PutObjectCommand).IfMatch).toBe('abc123')
  })

  it.each([
    ['412 PreconditionFailed', { ifMatch: 'e' }, s3Error('PreconditionFailed', 412)],
    ['a bare 412', { ifNoneMatch: '*' as const }, s3Error('Unknown', 412)],
    ['409 ConditionalRequestConflict (AWS, concurrent writer)', { ifNoneMatch: '*' as const }, s3Error('ConditionalRequestConflict', 409)],
    ['404 NoSuchKey on If-Match (AWS, key missing)', { ifMatch: 'e' }, new NoSuchKey({ message: 'gone', $metadata: { httpStatusCode: 404 } })],
  ])('rejects PreconditionFailedError for %s', async (_label, condition, error) => {
    const { send, store } = setup()
    send.mockRejectedValueOnce(error)
    const attempt = store.put(KEY, Buffer.from('x'), condition)
    await expect(attempt).rejects.toBeInstanceOf(PreconditionFailedError)
    await expect(attempt).rejects.toMatchObject({ key: KEY })
  })

  it.each([
    ['500', s3Error('InternalError', 500)],
    ['a timeout', timeoutError],
    ['NoSuchBucket on If-Match', new NoSuchBucket({ message: 'no bucket', $metadata: { httpStatusCode: 404 } })],
  ])('rejects StorageUnavailableError for %s', async (_label, error) => {
    const { send, store } = setup()
    send.mockRejectedValueOnce(error)
    const attempt = store.put(KEY, Buffer.from('x'), { ifMatch: 'e' })
    await expect(attempt).rejects.toBeInstanceOf(StorageUnavailableError)
    await expect(attempt).rejects.toHaveProperty('cause', error)
  })

  it('does not treat a 500 on an unconditional put as anything but unavailability (and does not HEAD)', async () => {
    const { send, store } = setup()
    send.mockRejectedValueOnce(s3Error('InternalError', 500))
    await expect(store.put(KEY, Buffer.from('x'))).rejects.toBeInstanceOf(StorageUnavailableError)
    expect(send).toHaveBeenCalledTimes(1)
  })

  describe('a 5xx on a conditional put (radosgw answers If-Match race losers with 500 ECANCELED)', () => {
    it('is a lost race when a HEAD shows the ETag moved on', async () => {
      const { send, store, sent } = setup()
      send.mockRejectedValueOnce(s3Error('UnknownError', 500)).mockResolvedValueOnce({ ETag: '"someone-else"' })
      await expect(store.put(KEY, Buffer.from('x'), { ifMatch: 'mine' })).rejects.toBeInstanceOf(PreconditionFailedError)
      expect(sent(1, HeadObjectCommand)).toEqual({ Bucket: 'bucket', Key: KEY })
    })

    it('is a lost race when a HEAD shows the key was deleted under If-Match', async () => {
      const { send, store } = setup()
      send.mockRejectedValueOnce(s3Error('UnknownError', 500)).mockRejectedValueOnce(s3Error('NotFound', 404))
      await expect(store.put(KEY, Buffer.from('x'), { ifMatch: 'mine' })).rejects.toBeInstanceOf(PreconditionFailedError)
    })

    it('is a lost race when a HEAD shows the key now exists under If-None-Match', async () => {
      const { send, store } = setup()
      send.mockRejectedValueOnce(s3Error('UnknownError', 500)).mockResolvedValueOnce({ ETag: '"winner"' })
      await expect(store.put(KEY, Buffer.from('x'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError)
    })

    it.each([
      ['If-Match, ETag unchanged', { ifMatch: '"mine"' }, () => Promise.resolve({ ETag: '"mine"' })],
      ['If-None-Match, key still absent', { ifNoneMatch: '*' as const }, () => Promise.reject(s3Error('NotFound', 404))],
      ['the HEAD fails too', { ifMatch: 'mine' }, () => Promise.reject(s3Error('ServiceUnavailable', 503))],
    ])('is unavailability when the condition still holds or cannot be checked: %s', async (_label, condition, head) => {
      const { send, store } = setup()
      const original = s3Error('UnknownError', 500)
      send.mockRejectedValueOnce(original).mockImplementationOnce(head)
      const attempt = store.put(KEY, Buffer.from('x'), condition)
      await expect(attempt).rejects.toBeInstanceOf(StorageUnavailableError)
      await expect(attempt).rejects.toHaveProperty('cause', original)
    })
  })
})

describe('S3BlobStore.delete', () => {
  it('sends DeleteObject and treats a missing key as done', async () => {
    const { send, store, sent } = setup()
    send.mockRejectedValueOnce(new NoSuchKey({ message: 'gone', $metadata: { httpStatusCode: 404 } }))
    await expect(store.delete(KEY)).resolves.toBeUndefined()
    expect(sent(0, DeleteObjectCommand)).toEqual({ Bucket: 'bucket', Key: KEY })
  })

  it('rejects StorageUnavailableError for a 500', async () => {
    const { send, store } = setup()
    send.mockRejectedValueOnce(s3Error('InternalError', 500))
    await expect(store.delete(KEY)).rejects.toBeInstanceOf(StorageUnavailableError)
  })
})

describe('S3BlobStore.list', () => {
  it('follows continuation tokens to the end and returns the keys sorted', async () => {
    const { send, store, sent } = setup()
    send
      .mockResolvedValueOnce({ Contents: [{ Key: 'p/b' }, { Key: 'p/d' }], IsTruncated: true, NextContinuationToken: 't1' })
      .mockResolvedValueOnce({ Contents: [{ Key: 'p/a' }], IsTruncated: true, NextContinuationToken: 't2' })
      .mockResolvedValueOnce({ Contents: [{ Key: 'p/c' }], IsTruncated: false })
    expect(await store.list('p/')).toEqual(['p/a', 'p/b', 'p/c', 'p/d'])
    expect(sent(0, ListObjectsV2Command)).toEqual({ Bucket: 'bucket', Prefix: 'p/' })
    expect(sent(1, ListObjectsV2Command)).toEqual({ Bucket: 'bucket', Prefix: 'p/', ContinuationToken: 't1' })
    expect(sent(2, ListObjectsV2Command)).toEqual({ Bucket: 'bucket', Prefix: 'p/', ContinuationToken: 't2' })
  })

  it('returns [] for an empty listing (no Contents at all)', async () => {
    const { send, store } = setup()
    send.mockResolvedValueOnce({ KeyCount: 0, IsTruncated: false })
    expect(await store.list('none/')).toEqual([])
  })

  it('rejects StorageUnavailableError for a truncated page without a token instead of looping or dropping keys', async () => {
    const { send, store } = setup()
    send.mockResolvedValueOnce({ Contents: [{ Key: 'p/a' }], IsTruncated: true })
    await expect(store.list('p/')).rejects.toBeInstanceOf(StorageUnavailableError)
  })

  it('rejects StorageUnavailableError when a later page fails', async () => {
    const { send, store } = setup()
    send
      .mockResolvedValueOnce({ Contents: [{ Key: 'p/a' }], IsTruncated: true, NextContinuationToken: 't1' })
      .mockRejectedValueOnce(s3Error('InternalError', 500))
    await expect(store.list('p/')).rejects.toBeInstanceOf(StorageUnavailableError)
  })
})

describe('createS3Client', () => {
  const base = { region: 'us-east-1', forcePathStyle: true, timeoutMs: 300, maxAttempts: 2 }
  let server: Server | undefined

  afterEach(async () => {
    const s = server
    server = undefined
    if (s === undefined) return
    s.closeAllConnections()
    await new Promise<void>((done) => {
      s.close(() => {
        done()
      })
    })
  })

  it('computes and validates checksums only when S3 requires them, and bounds attempts', async () => {
    const client = createS3Client({ ...base, endpoint: 'http://127.0.0.1:1', accessKeyId: 'k', secretAccessKey: 's' })
    try {
      expect(await client.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED')
      expect(await client.config.responseChecksumValidation()).toBe('WHEN_REQUIRED')
      expect(await client.config.maxAttempts()).toBe(2)
      expect(client.config.forcePathStyle).toBe(true)
      expect(await client.config.credentials()).toMatchObject({ accessKeyId: 'k', secretAccessKey: 's' })
    } finally {
      client.destroy()
    }
  })

  it('refuses an access key without a secret (and the reverse)', () => {
    expect(() => createS3Client({ ...base, accessKeyId: 'k' })).toThrow(/together/)
    expect(() => createS3Client({ ...base, secretAccessKey: 's' })).toThrow(/together/)
  })

  async function listen(handler: Parameters<typeof createHttpServer>[1]): Promise<string> {
    const s = createHttpServer(handler)
    server = s
    await new Promise<void>((done) => s.listen(0, '127.0.0.1', done))
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`
  }

  it('gives up on a server that never answers, within the attempts x timeout bound', async () => {
    let requests = 0
    const endpoint = await listen(() => {
      requests++ // accept the request, never respond
    })
    const client = createS3Client({ ...base, endpoint, accessKeyId: 'k', secretAccessKey: 's' })
    try {
      const started = Date.now()
      await expect(new S3BlobStore({ bucket: 'b', client }).get(KEY)).rejects.toBeInstanceOf(StorageUnavailableError)
      // 2 attempts x 300 ms plus the SDK's retry backoff (under a second); without the timeout this hangs.
      expect(Date.now() - started).toBeLessThan(3000)
      expect(requests).toBe(2)
    } finally {
      client.destroy()
    }
  })

  it('gives up on a body that stalls after the headers', async () => {
    const endpoint = await listen((_req, res) => {
      res.writeHead(200, { 'content-length': '100', etag: '"e"' })
      res.write('only ten b') // and then nothing
    })
    const client = createS3Client({ ...base, endpoint, accessKeyId: 'k', secretAccessKey: 's', maxAttempts: 1 })
    try {
      const started = Date.now()
      await expect(new S3BlobStore({ bucket: 'b', client }).get(KEY)).rejects.toBeInstanceOf(StorageUnavailableError)
      expect(Date.now() - started).toBeLessThan(3000)
    } finally {
      client.destroy()
    }
  })
})
