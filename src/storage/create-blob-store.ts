// createBlobStore: the storage the configuration names (filesystem or S3), for the server and the CLI alike.
import type { Config } from '../config'
import type { Logger } from '../logger'
import type { BlobStore } from './blob-store'
import { FsBlobStore } from './fs-blob-store'
import { createS3Client, S3BlobStore } from './s3-blob-store'

export function createBlobStore(storage: Config['storage'], log: Pick<Logger, 'info' | 'warn'>): BlobStore {
  const { s3, dataDir, timeoutMs } = storage
  if (s3 === undefined) {
    log.info({ dataDir }, 'using the filesystem store (single process; set S3_BUCKET_NAME for S3)')
    return new FsBlobStore(dataDir, { log })
  }
  const client = createS3Client({
    region: s3.region,
    endpoint: s3.endpoint,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    forcePathStyle: s3.forcePathStyle,
    timeoutMs,
    maxAttempts: 2,
  })
  return new S3BlobStore({ bucket: s3.bucket, client, log })
}
