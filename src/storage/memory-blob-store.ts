// Owns the in-memory BlobStore: a Map for tests and single-process experiments, same semantics as S3.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'

import { PreconditionFailedError } from '../errors'
import type { BlobStore, ObjectStream, PutCondition, StoredBlob } from './blob-store'
import { compareKeys } from './storage-keys'

/** Keeps every body in a Map; buffers are copied in and out so callers can never alias stored bytes. */
export class MemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, StoredBlob>()

  get(key: string): Promise<StoredBlob | undefined> {
    const blob = this.#blobs.get(key)
    return Promise.resolve(blob && { body: Buffer.from(blob.body), etag: blob.etag })
  }

  put(key: string, body: Buffer, condition: PutCondition = {}): Promise<{ etag: string }> {
    // Check and set run without an await in between, so concurrent conditional puts are atomic.
    const current = this.#blobs.get(key)
    if (condition.ifNoneMatch === '*' && current) return Promise.reject(new PreconditionFailedError(key))
    if (condition.ifMatch !== undefined && current?.etag !== condition.ifMatch) {
      return Promise.reject(new PreconditionFailedError(key))
    }
    // Same ETag as an S3 single-part upload, so stores agree on it.
    const etag = createHash('md5').update(body).digest('hex')
    this.#blobs.set(key, { body: Buffer.from(body), etag })
    return Promise.resolve({ etag })
  }

  openRead(key: string): Promise<ObjectStream | undefined> {
    const blob = this.#blobs.get(key)
    if (blob === undefined) return Promise.resolve(undefined)
    const body = Buffer.from(blob.body)
    return Promise.resolve({ stream: Readable.from([body], { objectMode: false }), length: body.length })
  }

  delete(key: string): Promise<void> {
    this.#blobs.delete(key)
    return Promise.resolve()
  }

  list(prefix: string): Promise<string[]> {
    return Promise.resolve([...this.#blobs.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys))
  }
}
