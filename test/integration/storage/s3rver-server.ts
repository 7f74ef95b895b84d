// startS3rver: an in-process s3rver on 127.0.0.1 with a throwaway directory, and an SDK client for it.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { S3Client } from '@aws-sdk/client-s3'
import S3rver from 's3rver'
import { createS3Client } from '../../../src/storage/s3-blob-store'

export interface RunningS3rver {
  readonly client: S3Client
  close(): Promise<void>
}

/** timeoutMs is the client's per-call timeout; one attempt per call, so failures show at once. */
export async function startS3rver(prefix: string, timeoutMs: number): Promise<RunningS3rver> {
  const directory = await mkdtemp(join(tmpdir(), prefix))
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory })
  const { port } = await server.run()
  const client = createS3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    // s3rver's built-in account; it checks only the key id.
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
    timeoutMs,
    maxAttempts: 1,
  })
  return {
    client,
    close: async () => {
      client.destroy()
      await server.close()
      await rm(directory, { recursive: true, force: true })
    },
  }
}
