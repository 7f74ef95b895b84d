// Owns the one behavioural contract every BlobStore adapter must pass (memory, fs, s3rver, radosgw).
import { randomBytes } from 'node:crypto'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { PreconditionFailedError } from '../../src/errors'
import type { BlobStore } from '../../src/storage/blob-store'

export interface BlobStoreHarness {
  readonly store: BlobStore
  /** Removes everything the store wrote; called after every test. */
  readonly cleanup: () => Promise<void>
}

export interface BlobStoreCapabilities {
  /** The backend enforces If-None-Match / If-Match (s3rver silently ignores both). */
  readonly conditionalWrites: boolean
  /**
   * Listing can go past one page (1000 keys). Defaults to true; false only where the backend
   * itself cannot paginate (s3rver without DES, see test/integration/storage/s3rver-blob-store.test.ts).
   */
  readonly truncatedListing?: boolean
  /**
   * The store under test refuses to read objects larger than this (see StoredBlob.unusable); unset for
   * adapters without a cap (memory). Set it to what the harness built the store with.
   */
  readonly maxObjectBytes?: number
}

const ETAG_SHAPE = /^[^"\s]+$/
// One more than an S3 page, so a backend that ignores continuation tokens fails.
const MANY_KEYS = 1001

async function inBatches<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn))
}

export function describeBlobStoreContract(
  name: string,
  makeStore: () => Promise<BlobStoreHarness>,
  capabilities: BlobStoreCapabilities,
): void {
  describe(`BlobStore contract: ${name}`, () => {
    let harness: BlobStoreHarness | undefined
    // Every test gets a fresh, empty store, so no test depends on another's leftovers.
    let store: BlobStore

    beforeEach(async () => {
      harness = await makeStore()
      store = harness.store
    })

    afterEach(async () => {
      await harness?.cleanup()
      harness = undefined
    })

    describe('get / put', () => {
      it('resolves undefined for a missing key', async () => {
        expect(await store.get('cups/0000000000000001/cups_cred.bin')).toBeUndefined()
      })

      it('round-trips all 256 byte values exactly', async () => {
        const body = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256))
        await store.put('bin/all-bytes', body)
        const got = await store.get('bin/all-bytes')
        expect(got?.body.toString('hex')).toBe(body.toString('hex'))
      })

      it('round-trips an empty body', async () => {
        await store.put('bin/empty', Buffer.alloc(0))
        const got = await store.get('bin/empty')
        expect(got).toBeDefined()
        expect(got?.body.length).toBe(0)
      })

      it('round-trips a 64 KiB body', async () => {
        const body = randomBytes(64 * 1024)
        await store.put('bin/64k', body)
        const got = await store.get('bin/64k')
        expect(got?.body.equals(body)).toBe(true)
      })

      it('reports the same unquoted ETag from put and get, and a new one when the content changes', async () => {
        const first = await store.put('etag/k', Buffer.from('first'))
        expect(first.etag).toMatch(ETAG_SHAPE)
        expect((await store.get('etag/k'))?.etag).toBe(first.etag)

        const second = await store.put('etag/k', Buffer.from('second'))
        expect(second.etag).toMatch(ETAG_SHAPE)
        expect(second.etag).not.toBe(first.etag)
        expect((await store.get('etag/k'))?.etag).toBe(second.etag)
      })

      it('overwrites: the last put wins', async () => {
        await store.put('over/k', Buffer.from('old body, longer than the new one'))
        await store.put('over/k', Buffer.from('new'))
        expect((await store.get('over/k'))?.body.toString()).toBe('new')
      })

      it('keeps its own copy: mutating the buffer given to put or returned by get changes nothing', async () => {
        const body = Buffer.from('original')
        await store.put('copy/k', body)
        body.fill(0)
        const got = await store.get('copy/k')
        expect(got?.body.toString()).toBe('original')
        got?.body.fill(0)
        expect((await store.get('copy/k'))?.body.toString()).toBe('original')
      })
    })

    const cap = capabilities.maxObjectBytes
    describe.skipIf(cap === undefined)(`objects over the size cap (${cap ?? 'none'} bytes)`, () => {
      const max = cap ?? 0
      const over = (): Buffer => Buffer.alloc(max + 1, 0x5a)

      it('an object of exactly the cap is usable', async () => {
        const body = randomBytes(max)
        await store.put('cap/exact', body)
        const got = await store.get('cap/exact')
        expect(got?.unusable).toBeUndefined()
        expect(got?.body.equals(body)).toBe(true)
      })

      it('one byte over reads as unusable: empty body, a reason, the same ETag each time, still listed', async () => {
        await store.put('cap/over', over())
        const got = await store.get('cap/over')
        expect(got?.body.length).toBe(0)
        expect(got?.unusable).toMatch(/\S/)
        expect(got?.etag).toMatch(ETAG_SHAPE)
        expect((await store.get('cap/over'))?.etag).toBe(got?.etag)
        expect(await store.list('cap/')).toEqual(['cap/over'])
      })

      it('a plain put replaces an unusable object', async () => {
        await store.put('cap/over', over())
        const { etag } = await store.put('cap/over', Buffer.from('small'))
        expect(await store.get('cap/over')).toEqual({ body: Buffer.from('small'), etag })
      })

      it('ifMatch with the unusable ETag replaces it', async () => {
        await store.put('cap/over', over())
        const unusable = await store.get('cap/over')
        const { etag } = await store.put('cap/over', Buffer.from('small'), { ifMatch: unusable?.etag ?? 'missing' })
        expect(await store.get('cap/over')).toEqual({ body: Buffer.from('small'), etag })
      })

      it.skipIf(!capabilities.conditionalWrites)('ifNoneMatch "*" on an unusable object rejects: it exists', async () => {
        await store.put('cap/over', over())
        await expect(store.put('cap/over', Buffer.from('small'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(
          PreconditionFailedError,
        )
        expect((await store.get('cap/over'))?.unusable).toBeDefined()
      })
    })

    describe('openRead (large objects, streamed)', () => {
      const collect = async (stream: NodeJS.ReadableStream): Promise<Buffer> => {
        const chunks: Buffer[] = []
        for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array))
        return Buffer.concat(chunks)
      }

      it('streams an object past the read cap, byte for byte, with its length', async () => {
        if (store.openRead === undefined) throw new Error('every adapter streams large objects')
        const body = randomBytes(3 * 1024 * 1024 + 17)
        await store.put('stream/update.bin', body, { ifNoneMatch: '*' })
        const opened = await store.openRead('stream/update.bin')
        expect(opened?.length).toBe(body.length)
        expect((await collect(opened?.stream ?? process.stdin)).equals(body)).toBe(true)
      })

      it('resolves undefined for a missing key, and keeps streaming what it opened when the object is replaced', async () => {
        if (store.openRead === undefined) throw new Error('every adapter streams large objects')
        expect(await store.openRead('stream/absent.bin')).toBeUndefined()
        const first = randomBytes(256 * 1024)
        await store.put('stream/replaced.bin', first)
        const opened = await store.openRead('stream/replaced.bin')
        await store.put('stream/replaced.bin', randomBytes(256 * 1024))
        const read = await collect(opened?.stream ?? process.stdin)
        // S3 may serve either version once the request is under way; a store never mixes the two.
        expect(read.length).toBe(first.length)
      })

    })

    describe('delete', () => {
      it('removes the key from get and list', async () => {
        await store.put('del/a', Buffer.from('a'))
        await store.put('del/b', Buffer.from('b'))
        await store.delete('del/a')
        expect(await store.get('del/a')).toBeUndefined()
        expect(await store.list('del/')).toEqual(['del/b'])
      })

      it('resolves for a key that does not exist', async () => {
        await expect(store.delete('del/never-written')).resolves.toBeUndefined()
      })
    })

    describe('list', () => {
      it('returns exactly the keys that start with the prefix, sorted', async () => {
        // Written out of order, with neighbours that share a string prefix but not the directory.
        for (const key of ['a/2', 'b/1', 'a/1', 'ab/1', 'a/sub/3', 'a/10']) await store.put(key, Buffer.from(key))
        expect(await store.list('a/')).toEqual(['a/1', 'a/10', 'a/2', 'a/sub/3'])
        expect(await store.list('a')).toEqual(['a/1', 'a/10', 'a/2', 'a/sub/3', 'ab/1'])
        expect(await store.list('a/1')).toEqual(['a/1', 'a/10'])
        expect(await store.list('')).toEqual(['a/1', 'a/10', 'a/2', 'a/sub/3', 'ab/1', 'b/1'])
      })

      it('returns an empty array for a prefix with no keys', async () => {
        await store.put('x/1', Buffer.from('1'))
        expect(await store.list('y/')).toEqual([])
      })

      it.skipIf(capabilities.truncatedListing === false)(
        `returns all ${MANY_KEYS} keys under a prefix (more than one S3 page)`,
        async () => {
          const keys = Array.from({ length: MANY_KEYS }, (_, i) => `many/${String(i).padStart(4, '0')}`)
          // Empty bodies keep this cheap; the point is the number of keys, not bytes.
          await inBatches(keys, 32, (key) => store.put(key, Buffer.alloc(0)))
          await store.put('manz/outside', Buffer.alloc(0))
          expect(await store.list('many/')).toEqual(keys)
        },
        120_000,
      )
    })

    // Accepted even by backends that ignore conditions: the adapter must send them in a form the server takes.
    describe('conditional writes that succeed', () => {
      it('ifNoneMatch "*" on a missing key creates it', async () => {
        const { etag } = await store.put('cond/new', Buffer.from('created'), { ifNoneMatch: '*' })
        expect(await store.get('cond/new')).toEqual({ body: Buffer.from('created'), etag })
      })

      it('ifMatch with the current ETag replaces the body', async () => {
        const { etag } = await store.put('cond/k', Buffer.from('v1'))
        const next = await store.put('cond/k', Buffer.from('v2'), { ifMatch: etag })
        expect(await store.get('cond/k')).toEqual({ body: Buffer.from('v2'), etag: next.etag })
      })
    })

    describe.skipIf(!capabilities.conditionalWrites)('conditional writes that must be refused', () => {
      it('ifNoneMatch "*" on an existing key rejects PreconditionFailedError and keeps the body', async () => {
        await store.put('cond/k', Buffer.from('first'))
        const attempt = store.put('cond/k', Buffer.from('second'), { ifNoneMatch: '*' })
        await expect(attempt).rejects.toBeInstanceOf(PreconditionFailedError)
        await expect(attempt).rejects.toMatchObject({ key: 'cond/k' })
        expect((await store.get('cond/k'))?.body.toString()).toBe('first')
      })

      it('ifMatch with a stale ETag rejects PreconditionFailedError and keeps the body', async () => {
        const stale = await store.put('cond/k', Buffer.from('v1'))
        await store.put('cond/k', Buffer.from('v2'))
        await expect(store.put('cond/k', Buffer.from('v3'), { ifMatch: stale.etag })).rejects.toBeInstanceOf(
          PreconditionFailedError,
        )
        expect((await store.get('cond/k'))?.body.toString()).toBe('v2')
      })

      it('ifMatch on a missing key rejects PreconditionFailedError and creates nothing', async () => {
        const etag = (await store.put('cond/other', Buffer.from('x'))).etag
        await expect(store.put('cond/missing', Buffer.from('y'), { ifMatch: etag })).rejects.toBeInstanceOf(
          PreconditionFailedError,
        )
        expect(await store.get('cond/missing')).toBeUndefined()
      })

      it('10 concurrent ifNoneMatch "*" creates of one key: exactly one wins and its body is stored', async () => {
        const bodies = Array.from({ length: 10 }, (_, i) => Buffer.from(`writer ${i}`))
        const results = await Promise.allSettled(bodies.map((b) => store.put('race/create', b, { ifNoneMatch: '*' })))
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ i, etag: r.value.etag }] : []))
        expect(winners).toHaveLength(1)
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError)
        const [winner] = winners
        expect(await store.get('race/create')).toEqual({ body: bodies[winner?.i ?? -1], etag: winner?.etag })
      })

      it('10 concurrent ifMatch renewals from one ETag: exactly one wins and its body is stored', async () => {
        const { etag } = await store.put('race/renew', Buffer.from('v1'))
        const bodies = Array.from({ length: 10 }, (_, i) => Buffer.from(`renewal ${i}`))
        const results = await Promise.allSettled(bodies.map((b) => store.put('race/renew', b, { ifMatch: etag })))
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ i, etag: r.value.etag }] : []))
        expect(winners).toHaveLength(1)
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError)
        const [winner] = winners
        expect(await store.get('race/renew')).toEqual({ body: bodies[winner?.i ?? -1], etag: winner?.etag })
      })
    })
  })
}
