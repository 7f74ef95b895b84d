// RecordingBlobStore: a BlobStore wrapper for tests that records what reaches the store and can slip another writer in after a read.
import { PreconditionFailedError, StorageUnavailableError } from '../../src/errors'
import type { BlobStore, PutCondition, StoredBlob } from '../../src/storage/blob-store'

export type PutOutcome = 'ok' | 'precondition-failed' | 'failed'

export interface RecordedPut {
  readonly key: string
  /** `{}` for a plain put. */
  readonly condition: PutCondition
  readonly outcome: PutOutcome
}

/**
 * Sits between the read cache and a real adapter, so `puts` and `reads` are what the adapter was asked,
 * and the outcome is what it answered (radosgw's 500-then-HEAD is already a PreconditionFailedError here).
 */
export class RecordingBlobStore implements BlobStore {
  readonly puts: RecordedPut[] = []
  readonly reads: string[] = []
  readonly deletes: string[] = []
  /** When set, every put rejects with StorageUnavailableError without reaching the inner store. */
  failPuts = false
  private readonly afterGet = new Map<string, () => Promise<unknown>>()

  constructor(readonly inner: BlobStore) {}

  /**
   * Runs `action` once, after the next read of `key` has returned from the inner store and before its caller
   * sees the result: another replica or tool writing between someone's read and their conditional put.
   */
  onceAfterGet(key: string, action: () => Promise<unknown>): void {
    this.afterGet.set(key, action)
  }

  putsTo(key: string): RecordedPut[] {
    return this.puts.filter((put) => put.key === key)
  }

  async get(key: string): Promise<StoredBlob | undefined> {
    this.reads.push(key)
    const blob = await this.inner.get(key)
    const action = this.afterGet.get(key)
    if (action !== undefined) {
      this.afterGet.delete(key)
      await action()
    }
    return blob
  }

  async put(key: string, body: Buffer, condition: PutCondition = {}): Promise<{ etag: string }> {
    if (this.failPuts) {
      this.puts.push({ key, condition: { ...condition }, outcome: 'failed' })
      throw new StorageUnavailableError(`put ${key} refused by the test`)
    }
    try {
      const result = await this.inner.put(key, body, condition)
      this.puts.push({ key, condition: { ...condition }, outcome: 'ok' })
      return result
    } catch (err) {
      this.puts.push({ key, condition: { ...condition }, outcome: err instanceof PreconditionFailedError ? 'precondition-failed' : 'failed' })
      throw err
    }
  }

  async delete(key: string): Promise<void> {
    this.deletes.push(key)
    await this.inner.delete(key)
  }

  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix)
  }
}
