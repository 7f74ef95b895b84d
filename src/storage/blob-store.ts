// The storage port: a small key/value blob store with ETags and conditional writes (S3 semantics).
import type { Readable } from 'node:stream'

export interface StoredBlob {
  readonly body: Buffer
  /** Opaque version tag, unquoted. Changes whenever the body changes. */
  readonly etag: string
  /**
   * Set when the object exists but cannot be used (not a regular file, a symlink, over the size cap):
   * the reason, for logs. body is then empty and etag stable while the object stays as it is.
   */
  readonly unusable?: string
}

/** The default read cap of the adapters that have one: bundles and gateway.json are a few KB. */
export const DEFAULT_MAX_OBJECT_BYTES = 64 * 1024

/** A large object opened for reading: its bytes arrive as they are read from storage. */
export interface ObjectStream {
  readonly stream: Readable
  /** The object's size as storage reports it; the stream may still end short (a broken connection). */
  readonly length: number
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
 * An object that exists but is unusable (see StoredBlob.unusable) resolves promptly with an empty body:
 * every caller's parser then fails closed, as for a damaged object. Such an object still counts as
 * present for puts: `ifNoneMatch: '*'` fails, `ifMatch` with its etag or a plain put replaces it.
 * A put is atomic: readers see the old body or the new one, never a part.
 */
export interface BlobStore {
  get(key: string): Promise<StoredBlob | undefined>
  put(key: string, body: Buffer, condition?: PutCondition): Promise<{ etag: string }>
  delete(key: string): Promise<void>
  /** All keys that start with prefix, sorted. */
  list(prefix: string): Promise<string[]>
  /**
   * When the object was last written, by the storage's own clock (S3 Last-Modified, a file's mtime); undefined
   * when it is absent. Optional: only `cups-server doctor` asks, to compare this host's clock with the storage's.
   */
  modifiedAt?(key: string): Promise<Date | undefined>
  /**
   * A large object (a firmware update) as a stream, without the size cap of get(); undefined when absent or not a
   * regular object. Optional for test doubles; every adapter here has it. The caller checks what it reads (the
   * firmware manifest's size and sha256): storage can change under a stream.
   */
  openRead?(key: string): Promise<ObjectStream | undefined>
}
