// Owns S3BlobStore's size cap against a real HTTP stack (s3rver): oversized bodies are dropped unread without wedging the client.
import { afterAll, beforeAll, expect, it } from 'vitest'

import { DEFAULT_MAX_OBJECT_BYTES } from '../../../src/storage/blob-store'
import { makeS3TestStore, type S3TestHarness } from './s3-test-bucket'
import { startS3rver, type RunningS3rver } from './s3rver-server'

let s3rver: RunningS3rver
let harness: S3TestHarness

beforeAll(async () => {
  // An unread body holds its socket until this socket timeout, longer than the test's own timeout,
  // so a pool wedged by unread bodies fails the test instead of merely slowing it down.
  s3rver = await startS3rver('cups-s3rver-cap-', 15_000)
  harness = await makeS3TestStore(s3rver.client)
})

afterAll(async () => {
  await harness.cleanup()
  await s3rver.close()
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
