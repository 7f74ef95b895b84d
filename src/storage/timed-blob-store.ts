// TimedBlobStore: a BlobStore that measures every call it passes on (duration and failures, by operation).
import { StorageUnavailableError } from '../errors'
import { secondsSince } from '../observability/metrics'
import type { Metrics } from '../observability/metrics'
import type { BlobStore, ObjectStream, PutCondition, StoredBlob } from './blob-store'

type Operation = 'get' | 'put' | 'delete' | 'list'

/** Sits under the read cache, so it counts real round trips to the storage, not cache hits. */
export class TimedBlobStore implements BlobStore {
  readonly modifiedAt?: (key: string) => Promise<Date | undefined>
  /** Times the opening (the round trip to the first byte); the transfer is the reader's. */
  readonly openRead?: (key: string) => Promise<ObjectStream | undefined>

  constructor(
    private readonly inner: BlobStore,
    private readonly metrics: Metrics,
  ) {
    const modifiedAt = inner.modifiedAt?.bind(inner)
    if (modifiedAt !== undefined) this.modifiedAt = (key) => this.timed('get', () => modifiedAt(key))
    const openRead = inner.openRead?.bind(inner)
    if (openRead !== undefined) this.openRead = (key) => this.timed('get', () => openRead(key))
  }

  get(key: string): Promise<StoredBlob | undefined> {
    return this.timed('get', () => this.inner.get(key))
  }

  put(key: string, body: Buffer, condition?: PutCondition): Promise<{ etag: string }> {
    return this.timed('put', () => this.inner.put(key, body, condition))
  }

  delete(key: string): Promise<void> {
    return this.timed('delete', () => this.inner.delete(key))
  }

  list(prefix: string): Promise<string[]> {
    return this.timed('list', () => this.inner.list(prefix))
  }

  private async timed<T>(operation: Operation, call: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint()
    try {
      return await call()
    } catch (err) {
      // A lost conditional write is an answer from a working storage; only an unavailable one is an error.
      if (err instanceof StorageUnavailableError) this.metrics.increment('storage_errors_total', { operation })
      throw err
    } finally {
      this.metrics.observe('storage_operation_duration_seconds', secondsSince(start), { operation })
    }
  }
}
