// Owns the per-test S3 bucket the s3rver and radosgw contract runs use: created fresh, emptied and removed after.
import { randomBytes } from 'node:crypto'

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3'

import { S3BlobStore } from '../../../src/storage/s3-blob-store'
import type { BlobStoreHarness } from '../../contracts/blob-store.contract'

/** A bucket name no other run or test uses. */
export function uniqueBucketName(): string {
  return `cups-test-${randomBytes(6).toString('hex')}`
}

// Raw SDK calls, not S3BlobStore: cleanup must not depend on the code under test. Always lists the first
// page again instead of following continuation tokens, which s3rver cannot mint without DES.
// A failed DeleteObjects round is retried: s3rver deletes a batch in parallel and each delete prunes
// empty parent directories, so two keys in one directory race on rmdir and the batch answers 500
// although the objects are gone. The next round lists whatever is really left.
async function emptyAndRemove(client: S3Client, bucket: string): Promise<void> {
  let lastError: unknown
  for (let round = 0; ; round++) {
    if (round === 20) throw new Error(`bucket ${bucket} still not empty after 20 rounds of deletes`, { cause: lastError })
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }))
    const objects = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]))
    if (objects.length === 0) break
    try {
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }))
    } catch (err) {
      lastError = err
    }
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }))
}

export interface S3TestHarness extends BlobStoreHarness {
  readonly bucket: string
}

/** An S3BlobStore on a new, empty bucket; cleanup removes every object and the bucket. */
export async function makeS3TestStore(client: S3Client): Promise<S3TestHarness> {
  const bucket = uniqueBucketName()
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
  return { bucket, store: new S3BlobStore({ bucket, client }), cleanup: () => emptyAndRemove(client, bucket) }
}
