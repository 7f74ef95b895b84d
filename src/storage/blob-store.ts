// The storage port: a small key/value blob store with ETags and conditional writes (S3 semantics).

export interface StoredBlob {
  readonly body: Buffer
  /** Opaque version tag, unquoted. Changes whenever the body changes. */
  readonly etag: string
}

export interface PutCondition {
  /** '*' = create only: fail with PreconditionFailedError if the key exists. */
  readonly ifNoneMatch?: '*'
  /** Replace only if the current ETag equals this one, else PreconditionFailedError. */
  readonly ifMatch?: string
}

/**
 * Every adapter passes test/contracts/blob-store.contract.ts.
 * Absence is not an error: get() resolves undefined. Any other failure rejects with StorageUnavailableError.
 * A put is atomic: readers see the old body or the new one, never a part.
 */
export interface BlobStore {
  get(key: string): Promise<StoredBlob | undefined>
  put(key: string, body: Buffer, condition?: PutCondition): Promise<{ etag: string }>
  delete(key: string): Promise<void>
  /** All keys that start with prefix, sorted. */
  list(prefix: string): Promise<string[]>
}
