// checkStorageAtStart: the storage proven usable before the server listens; what the operator must fix is named.
import { randomBytes } from 'node:crypto'
import type { Config } from '../config'
import { StartupError } from '../errors'
import { probeWritableDirectory } from '../startup-checks'
import type { BlobStore } from './blob-store'
import { s3ErrorFacts } from './s3-blob-store'

// Credentials or a policy the storage refuses: no retry fixes these.
const REFUSED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'AllAccessDisabled'])

/**
 * Refuses to start (StartupError) over what only the operator can fix: an unwritable DATA_DIR, a bucket that
 * does not exist, credentials the bucket refuses. An S3 endpoint that does not answer (down, a network
 * partition, 5xx) may come back by itself: the server then starts unready, and the problem is returned for the
 * log; /readyz answers 503 until the storage answers.
 */
export async function checkStorageAtStart(storage: Config['storage'], store: BlobStore): Promise<string | undefined> {
  const { s3 } = storage
  if (s3 === undefined) {
    await probeWritableDirectory('DATA_DIR', storage.dataDir)
    return undefined
  }
  // Directly under the prefix, where no gateway object ever is (those are <prefix><eui>/<name>).
  const key = `${storage.prefix}start-probe-${randomBytes(6).toString('hex')}`
  const where = `s3://${s3.bucket}/${key}`
  try {
    await store.put(key, Buffer.from('cups-server start probe; delete me if I am still here\n'), { ifNoneMatch: '*' })
    if ((await store.get(key)) === undefined) throw new StartupError('S3_BUCKET_NAME', where, 'was written but could not be read back')
    await store.delete(key)
    return undefined
  } catch (err) {
    if (err instanceof StartupError) throw err
    const { name, status } = s3ErrorFacts((err as Error).cause ?? err)
    if (name === 'NoSuchBucket') throw new StartupError('S3_BUCKET_NAME', s3.bucket, 'does not exist (NoSuchBucket)', { cause: err })
    if ((name !== undefined && REFUSED.has(name)) || status === 403) {
      const credentials = s3.accessKeyId === undefined ? 'the AWS default credential chain' : 'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY'
      throw new StartupError('S3_ACCESS_KEY_ID', s3.bucket, `refuses ${credentials} a write, read and delete under ${storage.prefix} (${name ?? status}): check them and the bucket policy`, { cause: err })
    }
    const endpoint = s3.endpoint === undefined ? `AWS S3 in ${s3.region} (S3_BUCKET_REGION)` : `S3_BUCKET_ENDPOINT ${s3.endpoint}`
    return `${endpoint} did not answer a probe of bucket ${s3.bucket} (S3_BUCKET_NAME): ${(err as Error).message}`
  }
}
