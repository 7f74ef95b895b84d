// Storage checked at start: an unwritable DATA_DIR or a missing bucket refuses to start, naming the variable; an S3 endpoint that does not answer starts unready.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StartupError } from '../../../src/errors'
import { adminGet } from '../../support/admin-get'
import { freePort } from '../../support/free-port'
import { RADOSGW, radosgwGate } from '../../support/radosgw'
import { startTestServer } from '../../support/test-server'

const { enabled } = radosgwGate('the storage-at-start suite')
const s3 = (bucket: string, endpoint = RADOSGW.endpoint): Record<string, string> => ({
  S3_BUCKET_NAME: bucket,
  S3_BUCKET_ENDPOINT: endpoint,
  S3_ACCESS_KEY_ID: RADOSGW.accessKeyId,
  S3_SECRET_ACCESS_KEY: RADOSGW.secretAccessKey,
  STORAGE_TIMEOUT_MS: '1000',
})

describe('storage checked at start', () => {
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cups-storage-start-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses to start when DATA_DIR cannot be written, naming DATA_DIR', async () => {
    const blocked = path.join(dir, 'not-a-directory')
    await writeFile(blocked, 'a file where the data directory should be\n')
    const error = await startTestServer({ DATA_DIR: blocked }, dir).then(
      async (server) => {
        await server.stop()
        return undefined
      },
      (err: unknown) => err,
    )
    expect(error).toBeInstanceOf(StartupError)
    expect((error as StartupError).message).toMatch(/^DATA_DIR: .*not-a-directory: is not a directory/)
  })

  it('starts unready when the S3 endpoint does not answer, says so in the log, and /readyz names the storage', async () => {
    const closedPort = await freePort()
    const server = await startTestServer(s3('anything', `http://127.0.0.1:${closedPort}`), dir)
    try {
      const ready = await adminGet(server.adminPort, '/readyz')
      expect(ready.status).toBe(503)
      const body = JSON.parse(ready.body) as { status: string; checks: Record<string, string> }
      expect(body.status).toBe('unready')
      expect(body.checks.storage).toMatch(/s3 storage/)
      const logged = server.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => String(entry.msg).startsWith('storage unreachable at start'))
      expect(logged?.problem).toMatch(new RegExp(`^S3_BUCKET_ENDPOINT http://127\\.0\\.0\\.1:${closedPort} did not answer a probe of bucket anything \\(S3_BUCKET_NAME\\)`))
    } finally {
      await server.stop()
    }
  })

  it.skipIf(!enabled)('refuses to start when the bucket does not exist, naming S3_BUCKET_NAME', async () => {
    const bucket = `no-such-bucket-${Date.now()}`
    await expect(startTestServer(s3(bucket), dir)).rejects.toThrow(new RegExp(`^S3_BUCKET_NAME: ${bucket}: does not exist \\(NoSuchBucket\\)`))
  })

  it.skipIf(!enabled)('refuses to start when the storage refuses the credentials, naming S3_ACCESS_KEY_ID', async () => {
    await expect(startTestServer({ ...s3('anything'), S3_SECRET_ACCESS_KEY: 'not-the-secret' }, dir)).rejects.toThrow(/^S3_ACCESS_KEY_ID: anything: refuses S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY/)
  })
})
