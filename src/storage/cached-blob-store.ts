// CachedBlobStore: a BlobStore decorator that remembers reads for a short TTL and forgets on its own writes.
import { detachedCopy, ownAllocation } from '../detached-bytes'
import type { BlobStore, ObjectStream, PutCondition, StoredBlob } from './blob-store'

interface Entry {
  readonly blob: StoredBlob | undefined
  readonly expiresAt: number
}

/**
 * Gateways poll rarely, but a fleet restarting at once hits the same few objects; a short TTL absorbs
 * that without hiding a bundle another tool drops in for longer than ttlMs. Absence is cached too.
 * Writes go straight through and refresh the entry, so this replica always sees its own writes.
 */
export class CachedBlobStore implements BlobStore {
  private readonly entries = new Map<string, Entry>()
  /** Counts our writes; writtenAt says when each key was last written, so a slower read cannot undo it. */
  private writes = 0
  private readonly writtenAt = new Map<string, number>()

  constructor(
    private readonly inner: BlobStore,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 100_000,
  ) {}

  /** Entries held now (each a read within the last TTL). */
  get size(): number {
    return this.entries.size
  }

  async get(key: string): Promise<StoredBlob | undefined> {
    const entry = this.entries.get(key)
    if (entry && entry.expiresAt > this.now()) return entry.blob
    const writesBefore = this.writes
    const blob = await this.inner.get(key)
    // A put or delete that landed while this read was under way knows better than the read.
    // The caller gets what later reads get: the same Buffer, so memos keyed by it hold from the first read.
    return (this.writtenAt.get(key) ?? 0) <= writesBefore ? this.remember(key, blob) : blob
  }

  /** Streams are never cached: they pass straight through (a firmware update is read once per download). */
  openRead(key: string): Promise<ObjectStream | undefined> {
    return this.inner.openRead?.(key) ?? Promise.resolve(undefined)
  }

  /** Read past the cache, e.g. after losing a conditional write to another replica. */
  async getFresh(key: string): Promise<StoredBlob | undefined> {
    this.entries.delete(key)
    return this.get(key)
  }

  async put(key: string, body: Buffer, condition?: PutCondition): Promise<{ etag: string }> {
    this.entries.delete(key)
    this.writtenAt.set(key, ++this.writes)
    const result = await this.inner.put(key, body, condition)
    this.remember(key, { body: detachedCopy(body), etag: result.etag })
    return result
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key)
    this.writtenAt.set(key, ++this.writes)
    await this.inner.delete(key)
  }

  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix)
  }

  /** Caches `blob` (its body in an allocation of its own) and returns what it cached. */
  private remember(key: string, blob: StoredBlob | undefined): StoredBlob | undefined {
    if (this.ttlMs <= 0) return blob
    const now = this.now()
    // Re-inserting moves the key to the end, so the Map's order is the order entries were last filled.
    this.entries.delete(key)
    this.evict(now)
    const kept = blob === undefined ? undefined : { ...blob, body: ownAllocation(blob.body) }
    this.entries.set(key, { blob: kept, expiresAt: now + this.ttlMs })
    return kept
  }

  /**
   * Every entry lives ttlMs from when it was filled, so fill order is expiry order: drop expired entries from the
   * front (at every fill, so the cache holds only what was read within one TTL, not every gateway ever seen), and
   * the oldest ones while it is full.
   */
  private evict(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now && this.entries.size < this.maxEntries) return
      this.entries.delete(key)
    }
  }
}

