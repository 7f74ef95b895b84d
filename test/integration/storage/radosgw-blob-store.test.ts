// Owns running the BlobStore contract, conditional writes included, against S3BlobStore on a real Ceph radosgw.
//
// Start the server with `bash test/s3/radosgw.sh start` (stop with `... stop`).
//   S3_TEST_ENDPOINT           default http://127.0.0.1:7480
//   S3_TEST_ACCESS_KEY_ID      default TESTKEY
//   S3_TEST_SECRET_ACCESS_KEY  default TESTSECRET
// With CI=true this suite always runs and fails when radosgw is unreachable: it is the only place where
// conditional writes meet a server that enforces them. Without CI it skips, saying why, so a laptop
// without Ceph still gets a clean run.

import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { StorageUnavailableError } from '../../../src/errors'
import { DEFAULT_MAX_OBJECT_BYTES } from '../../../src/storage/blob-store'
import { createS3Client, S3BlobStore } from '../../../src/storage/s3-blob-store'
import { describeBlobStoreContract } from '../../contracts/blob-store.contract'
import { describeGatewayStateContract } from '../../contracts/gateway-state.contract'
import { makeS3TestStore, uniqueBucketName } from './s3-test-bucket'
import { RADOSGW, radosgwGate } from '../../support/radosgw'

const { endpoint, accessKeyId, secretAccessKey } = RADOSGW
const { reachable: up, enabled } = radosgwGate('the radosgw storage suite')

function client(overrides: { secretAccessKey?: string } = {}): S3Client {
  return createS3Client({
    region: 'us-east-1',
    endpoint,
    accessKeyId,
    secretAccessKey: overrides.secretAccessKey ?? secretAccessKey,
    forcePathStyle: true,
    timeoutMs: 10_000,
    // One attempt: an unreachable server under CI should fail fast, not after retries and backoff.
    maxAttempts: 1,
  })
}

describe.skipIf(!enabled)(`radosgw at ${endpoint}`, () => {
  let s3: S3Client

  beforeAll(() => {
    s3 = client()
  })

  afterAll(() => {
    s3.destroy()
  })

  it('answers (required under CI=true)', () => {
    expect(up, `radosgw is not reachable at ${endpoint}; start it with: bash test/s3/radosgw.sh start`).toBe(true)
  })

  describeBlobStoreContract('S3BlobStore on radosgw', () => makeS3TestStore(s3), { conditionalWrites: true, maxObjectBytes: DEFAULT_MAX_OBJECT_BYTES })

  describe('radosgw specifics', () => {
    it('accepts an If-Match ETag the caller passes quoted, because the adapter sends it unquoted', async () => {
      const { store, cleanup } = await makeS3TestStore(s3)
      try {
        const { etag } = await store.put('q/k', Buffer.from('v1'))
        await store.put('q/k', Buffer.from('v2'), { ifMatch: `"${etag}"` })
        expect((await store.get('q/k'))?.body.toString()).toBe('v2')
      } finally {
        await cleanup()
      }
    })

    it('still refuses a quoted If-Match sent straight through the SDK (the radosgw 16.2 bug the adapter works around)', async () => {
      const { store, cleanup, bucket } = await makeS3TestStore(s3)
      try {
        const { etag } = await store.put('q/k', Buffer.from('v1'))
        const raw = s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'q/k', Body: Buffer.from('v2'), IfMatch: `"${etag}"` }))
        await expect(raw).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } })
      } finally {
        await cleanup()
      }
    })

    it('reports a missing bucket as StorageUnavailableError, not as an absent key', async () => {
      const store = new S3BlobStore({ bucket: uniqueBucketName(), client: s3 })
      await expect(store.get('cups/0016c001ff10a235/cups_cred.bin')).rejects.toBeInstanceOf(StorageUnavailableError)
    })

    it('reports a bad secret as StorageUnavailableError (radosgw checks signatures)', async () => {
      const bad = client({ secretAccessKey: 'not-the-secret' })
      try {
        const store = new S3BlobStore({ bucket: uniqueBucketName(), client: bad })
        const attempt = store.get('cups/0016c001ff10a235/cups_cred.bin')
        await expect(attempt).rejects.toBeInstanceOf(StorageUnavailableError)
        await expect(attempt).rejects.toMatchObject({ cause: { $metadata: { httpStatusCode: 403 } } })
      } finally {
        bad.destroy()
      }
    })
  })
})

describe.skipIf(!enabled)(`radosgw at ${endpoint}: gateway state`, () => {
  let s3: S3Client
  beforeAll(() => {
    s3 = client()
  })
  afterAll(() => {
    s3.destroy()
  })
  describeGatewayStateContract('S3BlobStore on radosgw', () => makeS3TestStore(s3))
})
