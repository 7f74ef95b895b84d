// Owns S3BlobStore's size cap against a real HTTP stack (s3rver): oversized bodies are dropped unread without wedging the client.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import type { S3Client } from '@aws-sdk/client-s3'
import S3rver from 's3rver'
import { afterAll, beforeAll, expect, it } from 'vitest'

import { DEFAULT_MAX_OBJECT_BYTES } from '../../../src/storage/blob-store'
import { createS3Client } from '../../../src/storage/s3-blob-store'
import { makeS3TestStore, type S3TestHarness } from './s3-test-bucket'

let server: S3rver
let directory: string
let client: S3Client
let harness: S3TestHarness

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'cups-s3rver-cap-'))
  server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory })
  const { port } = await server.run()
  client = createS3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
    // An unread body holds its socket until this socket timeout, longer than the test's own timeout,
    // so a pool wedged by unread bodies fails the test instead of merely slowing it down.
    timeoutMs: 15_000,
    maxAttempts: 1,
  })
  harness = await makeS3TestStore(client)
})

afterAll(async () => {
  await harness.cleanup()
  client.destroy()
  await server.close()
  await rm(directory, { recursive: true, force: true })
})

it('60 oversized gets (more than the SDK agent has sockets, 50) leave the client working', async () => {
  const { store } = harness
  await store.put('cap/big', Buffer.alloc(DEFAULT_MAX_OBJECT_BYTES + 1, 1))
  await store.put('cap/small', Buffer.from('small'))
  for (let i = 0; i < 60; i++) {
    const got = await store.get('cap/big')
    expect(got?.body.length).toBe(0)
    expect(got?.unusable).toBe(`is ${DEFAULT_MAX_OBJECT_BYTES + 1} bytes, over the ${DEFAULT_MAX_OBJECT_BYTES}-byte cap`)
  }
  expect((await store.get('cap/small'))?.body.toString()).toBe('small')
}, 8_000)
