// Owns the S3 BlobStore (AWS S3, Ceph radosgw, s3rver) on @aws-sdk/client-s3, and the S3Client settings it needs.
//
// Keys are full object keys: the layout (design.md §4, storage-keys.ts) belongs to the caller, this
// adapter adds nothing to them. Quirks it absorbs (measured, see docs/ecosystem-notes.md §1):
// - ETags arrive quoted ("abc..."); the port speaks unquoted ETags, so they are unquoted on the way
//   out and sent unquoted in If-Match: Ceph radosgw 16.2 answers 412 to a *quoted* If-Match even when
//   it matches, while AWS and s3rver accept both forms.
// - The SDK's default checksums (WHEN_SUPPORTED) turn stream bodies into aws-chunked uploads that
//   s3rver stores corrupted and radosgw refuses; createS3Client sets WHEN_REQUIRED, and bodies are
//   always Buffers.
// - A 404 is absence only for the object: NoSuchBucket is a misconfiguration and must not read as
//   "this gateway has no credentials yet".
// - radosgw 16.2 enforces If-Match atomically, but the losers of a concurrent race get 500 (ECANCELED,
//   "resorting to 500"), not 412. After a 5xx on a conditional put we re-check the condition with a
//   HEAD: if it no longer holds, the write lost (PreconditionFailedError); if it still holds, the
//   server really failed (StorageUnavailableError). Should our own write have landed despite the 5xx,
//   the caller re-reads and finds it, which is the right outcome either way.
// - s3rver ignores If-None-Match / If-Match entirely; conditional writes are only as good as the server.
// An object larger than maxObjectBytes is unusable (see StoredBlob.unusable): judged by ContentLength
// before reading the body, which is then dropped. Its etag is the object's own, so ifMatch can replace it.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'

import { PreconditionFailedError, StorageUnavailableError } from '../errors'
import type { Logger } from '../logger'
import { Readable } from 'node:stream'
import { type BlobStore, DEFAULT_MAX_OBJECT_BYTES, type ObjectStream, type PutCondition, type StoredBlob } from './blob-store'
import { compareKeys } from './storage-keys'

export interface S3BlobStoreOptions {
  readonly bucket: string
  /** Only `send` is used, so tests can pass `{ send: vi.fn() }`. */
  readonly client: Pick<S3Client, 'send'>
  /** Larger objects read as unusable. Default DEFAULT_MAX_OBJECT_BYTES (64 KiB). */
  readonly maxObjectBytes?: number
  /** Where unusable objects are reported (key and reason, never contents). */
  readonly log?: Pick<Logger, 'warn'>
  /**
   * Socket idle time allowed while a stream from openRead waits for its reader (a station on a slow link pulls a
   * firmware update at its own pace). Default 120 s, above the station's own 60 s per chunk.
   */
  readonly streamIdleMs?: number
}

export interface S3ClientOptions {
  readonly region: string
  /** Unset for AWS; e.g. http://127.0.0.1:7480 for radosgw. */
  readonly endpoint?: string | undefined
  /** Both or neither; with neither the SDK's default credential chain applies (env, profile, instance role). */
  readonly accessKeyId?: string | undefined
  readonly secretAccessKey?: string | undefined
  /** radosgw and s3rver need path-style URLs unless DNS serves bucket subdomains. */
  readonly forcePathStyle: boolean
  /** Per attempt: connect, time to response headers, and socket idle while the body streams. */
  readonly timeoutMs: number
  /** Total attempts including the first (SDK standard retry with backoff); 1 = no retry. */
  readonly maxAttempts: number
}

/** An S3Client with bounded time per call (about maxAttempts x timeoutMs plus backoff) and checksums only where S3 requires them. */
export function createS3Client(options: S3ClientOptions): S3Client {
  const { accessKeyId, secretAccessKey } = options
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new Error('S3 accessKeyId and secretAccessKey must be given together')
  }
  const config: S3ClientConfig = {
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    maxAttempts: options.maxAttempts,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: options.timeoutMs,
      requestTimeout: options.timeoutMs,
      // Without this the SDK only logs a warning when requestTimeout passes and keeps waiting.
      throwOnRequestTimeout: true,
      // requestTimeout stops at the response headers; this bounds a body that stalls afterwards.
      socketTimeout: options.timeoutMs,
    },
  }
  if (options.endpoint !== undefined) config.endpoint = options.endpoint
  if (accessKeyId !== undefined && secretAccessKey !== undefined) config.credentials = { accessKeyId, secretAccessKey }
  return new S3Client(config)
}

export interface ErrorFacts {
  readonly name: string | undefined
  readonly status: number | undefined
}

/** What an S3 client error says: its name (NoSuchBucket, AccessDenied, ...) and HTTP status, when it has them. */
export function s3ErrorFacts(err: unknown): ErrorFacts {
  if (typeof err !== 'object' || err === null) return { name: undefined, status: undefined }
  const name = 'name' in err && typeof err.name === 'string' ? err.name : undefined
  const metadata = '$metadata' in err ? err.$metadata : undefined
  const status =
    typeof metadata === 'object' && metadata !== null && 'httpStatusCode' in metadata && typeof metadata.httpStatusCode === 'number'
      ? metadata.httpStatusCode
      : undefined
  return { name, status }
}

/** The object is not there (as opposed to the bucket). */
function isObjectAbsent({ name, status }: ErrorFacts): boolean {
  if (name === 'NoSuchBucket') return false
  return name === 'NoSuchKey' || name === 'NotFound' || status === 404
}

/** Lets go of a body we will not read, so its connection is not left half-read. */
function discard(body: unknown): void {
  if (typeof body === 'object' && body !== null && 'destroy' in body && typeof body.destroy === 'function') {
    ;(body as { destroy(): void }).destroy()
  }
}

function unquote(etag: string): string {
  const bare = etag.startsWith('W/') ? etag.slice(2) : etag
  return bare.length >= 2 && bare.startsWith('"') && bare.endsWith('"') ? bare.slice(1, -1) : bare
}

export class S3BlobStore implements BlobStore {
  readonly #bucket: string
  readonly #client: Pick<S3Client, 'send'>
  readonly #maxBytes: number
  readonly #streamIdleMs: number
  readonly #log: Pick<Logger, 'warn'> | undefined

  constructor(options: S3BlobStoreOptions) {
    this.#bucket = options.bucket
    this.#client = options.client
    this.#maxBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES
    this.#streamIdleMs = options.streamIdleMs ?? 120_000
    this.#log = options.log
  }

  async get(key: string): Promise<StoredBlob | undefined> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }))
      if (out.ETag === undefined) {
        discard(out.Body)
        throw new Error('GetObject response has no ETag')
      }
      const etag = unquote(out.ETag)
      if (out.ContentLength !== undefined && out.ContentLength > this.#maxBytes) {
        discard(out.Body)
        return this.#unusable(key, etag, out.ContentLength)
      }
      // Read the body inside the try: a connection that dies mid-body is unavailability, not absence.
      const bytes = out.Body ? await out.Body.transformToByteArray() : new Uint8Array()
      // Without a ContentLength (or with a wrong one) the cap still holds, after the fact.
      if (bytes.byteLength > this.#maxBytes) return this.#unusable(key, etag, bytes.byteLength)
      return { body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), etag }
    } catch (err) {
      if (isObjectAbsent(s3ErrorFacts(err))) return undefined
      throw this.#unavailable('get', key, err)
    }
  }

  async put(key: string, body: Buffer, condition: PutCondition = {}): Promise<{ etag: string }> {
    const conditional = condition.ifMatch !== undefined || condition.ifNoneMatch !== undefined
    let etag: string | undefined
    try {
      const out = await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: 'application/octet-stream',
          ...(condition.ifNoneMatch === undefined ? {} : { IfNoneMatch: condition.ifNoneMatch }),
          ...(condition.ifMatch === undefined ? {} : { IfMatch: unquote(condition.ifMatch) }),
        }),
      )
      etag = out.ETag
    } catch (err) {
      const facts = s3ErrorFacts(err)
      if (conditional && this.#lostCondition(facts, condition)) throw new PreconditionFailedError(key)
      if (conditional && facts.status !== undefined && facts.status >= 500 && (await this.#conditionBroken(key, condition))) {
        throw new PreconditionFailedError(key)
      }
      throw this.#unavailable('put', key, err)
    }
    if (etag === undefined) throw this.#unavailable('put', key, new Error('PutObject response has no ETag'))
    return { etag: unquote(etag) }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }))
    } catch (err) {
      // S3 answers 204 for a missing key; some servers answer 404, which is the same outcome.
      if (isObjectAbsent(s3ErrorFacts(err))) return
      throw this.#unavailable('delete', key, err)
    }
  }

  async openRead(key: string): Promise<ObjectStream | undefined> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }), { requestTimeout: this.#streamIdleMs })
      const body = out.Body
      if (!(body instanceof Readable) || out.ContentLength === undefined) {
        discard(body)
        throw new Error('GetObject response has no readable body with a ContentLength')
      }
      return { stream: body, length: out.ContentLength }
    } catch (err) {
      if (isObjectAbsent(s3ErrorFacts(err))) return undefined
      throw this.#unavailable('get', key, err)
    }
  }

  async modifiedAt(key: string): Promise<Date | undefined> {
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }))
      return head.LastModified
    } catch (err) {
      if (isObjectAbsent(s3ErrorFacts(err))) return undefined
      throw this.#unavailable('head', key, err)
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = []
    let token: string | undefined
    try {
      do {
        const out = await this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: prefix,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        )
        for (const object of out.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key)
        token = out.IsTruncated === true ? out.NextContinuationToken : undefined
        // A truncated page without a token would make us loop forever or silently drop keys.
        if (out.IsTruncated === true && token === undefined) throw new Error('truncated listing without NextContinuationToken')
      } while (token !== undefined)
    } catch (err) {
      throw this.#unavailable('list', prefix, err)
    }
    // S3 already lists in UTF-8 byte order; sorting again costs little and does not trust every server.
    return keys.sort(compareKeys)
  }

  #unusable(key: string, etag: string, size: number): StoredBlob {
    const reason = `is ${size} bytes, over the ${this.#maxBytes}-byte cap`
    this.#log?.warn({ objectKey: key, reason }, 's3 storage: object unusable, read as empty')
    return { body: Buffer.alloc(0), etag, unusable: reason }
  }

  #lostCondition({ name, status }: ErrorFacts, condition: PutCondition): boolean {
    if (status === 412 || name === 'PreconditionFailed') return true
    // AWS: a concurrent conditional write on the same key; the other writer is winning.
    if (status === 409 && name === 'ConditionalRequestConflict') return true
    // AWS answers If-Match on a missing key with 404 NoSuchKey; the port calls that a lost condition.
    return condition.ifMatch !== undefined && name !== 'NoSuchBucket' && (status === 404 || name === 'NoSuchKey')
  }

  /** True when the object's current state fails the condition; false when it holds or cannot be read. */
  async #conditionBroken(key: string, condition: PutCondition): Promise<boolean> {
    let etag: string | undefined
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }))
      if (head.ETag === undefined) return false
      etag = unquote(head.ETag)
    } catch (err) {
      if (!isObjectAbsent(s3ErrorFacts(err))) return false
    }
    if (condition.ifNoneMatch === '*' && etag !== undefined) return true
    return condition.ifMatch !== undefined && etag !== unquote(condition.ifMatch)
  }

  #unavailable(op: string, key: string, err: unknown): StorageUnavailableError {
    const { name, status } = s3ErrorFacts(err)
    const detail = [name, status, err instanceof Error ? err.message : String(err)].filter((x) => x !== undefined).join(' ')
    return new StorageUnavailableError(`s3 storage: ${op} ${this.#bucket}/${key} failed: ${detail}`, { cause: err })
  }
}
