import { describe, expect, it, vi } from 'vitest'
import { CachedBlobStore } from '../../../src/storage/cached-blob-store'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'

function setup(ttlMs = 1000) {
  const inner = new MemoryBlobStore()
  let now = 0
  const cached = new CachedBlobStore(inner, ttlMs, () => now)
  const get = vi.spyOn(inner, 'get')
  return { inner, cached, get, advance: (ms: number) => (now += ms) }
}

describe('CachedBlobStore', () => {
  it('serves repeated reads from memory within the TTL, absence included', async () => {
    const { cached, get } = setup()
    expect(await cached.get('a')).toBeUndefined()
    expect(await cached.get('a')).toBeUndefined()
    expect(get).toHaveBeenCalledTimes(1)
  })

  it('sees a write by another tool once the TTL has passed, not before', async () => {
    const { inner, cached, advance } = setup()
    expect(await cached.get('k')).toBeUndefined()
    await inner.put('k', Buffer.from('dropped in'))
    advance(999)
    expect(await cached.get('k')).toBeUndefined()
    advance(1)
    expect((await cached.get('k'))?.body.toString()).toBe('dropped in')
  })

  it('sees its own writes at once', async () => {
    const { cached, get } = setup()
    expect(await cached.get('k')).toBeUndefined()
    const { etag } = await cached.put('k', Buffer.from('v1'))
    expect(await cached.get('k')).toEqual({ body: Buffer.from('v1'), etag })
    await cached.delete('k')
    expect(await cached.get('k')).toBeUndefined()
    expect(get).toHaveBeenCalledTimes(2)
  })

  it('reads past the cache with getFresh', async () => {
    const { inner, cached } = setup()
    await cached.get('k')
    await inner.put('k', Buffer.from('new'))
    expect((await cached.getFresh('k'))?.body.toString()).toBe('new')
  })

  it('does not cache a failed conditional write', async () => {
    const { cached } = setup()
    await cached.put('k', Buffer.from('winner'))
    await expect(cached.put('k', Buffer.from('loser'), { ifNoneMatch: '*' })).rejects.toThrow()
    expect((await cached.get('k'))?.body.toString()).toBe('winner')
  })

  it('makes room at its size limit by dropping expired entries, else the one filled longest ago', async () => {
    const inner = new MemoryBlobStore()
    let now = 0
    const cached = new CachedBlobStore(inner, 1000, () => now, 3)
    const get = vi.spyOn(inner, 'get')
    const reads = async (...keys: string[]) => {
      for (const key of keys) await cached.get(key)
      return get.mock.calls.length
    }
    expect(await reads('a', 'b')).toBe(2)
    now = 500
    expect(await reads('c')).toBe(3)
    now = 1100 // 'a' and 'b' have expired, 'c' has not
    expect(await reads('d', 'c')).toBe(4)
    expect(await reads('a')).toBe(5) // room was left: the expired entries went, not 'c'
    expect(await reads('e')).toBe(6) // full, nothing expired: 'c' (filled longest ago) made room
    expect(await reads('d', 'a', 'e')).toBe(6)
    expect(await reads('c')).toBe(7)
  })

  it('holds only what was filled within one TTL: expired entries go at the next fill, not when it is full', async () => {
    const { cached, advance } = setup(1000)
    for (const key of ['a', 'b', 'c']) await cached.get(key)
    expect(cached.size).toBe(3)
    advance(1500)
    await cached.get('d')
    expect(cached.size).toBe(1)
  })

  it('keeps each body in an allocation of its own, not a slice that pins a shared pool slab', async () => {
    const { inner, cached } = setup()
    // A 1 KB object read as a slice of a larger allocation (as Buffer.from, concat or a socket read hand it out).
    const slab = Buffer.alloc(64 * 1024, 7)
    vi.spyOn(inner, 'get').mockResolvedValue({ body: slab.subarray(1024, 2048), etag: 'e' })
    const read = await cached.get('k')
    expect(read?.body.buffer.byteLength).toBe(1024)
    expect(read?.body.equals(slab.subarray(1024, 2048))).toBe(true)
    // Written bodies are copied too, so the caller cannot change what the cache hands out later.
    const body = Buffer.from('written')
    await cached.put('w', body)
    body.fill(0)
    expect((await cached.get('w'))?.body.toString()).toBe('written')
  })

  it('does not let a read that was under way during a write cache the older answer', async () => {
    const inner = new MemoryBlobStore()
    const cached = new CachedBlobStore(inner, 60_000)
    let releaseRead: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (releaseRead = resolve))
    const realGet = inner.get.bind(inner)
    vi.spyOn(inner, 'get').mockImplementationOnce(async (key) => {
      const before = await realGet(key) // reads "absent" now...
      await gate // ...and answers only after the write below
      return before
    })
    const slowRead = cached.get('k')
    await cached.put('k', Buffer.from('written'))
    releaseRead()
    expect(await slowRead).toBeUndefined()
    expect((await cached.get('k'))?.body.toString()).toBe('written')
  })

  it('caches nothing with a TTL of 0', async () => {
    const { cached, get } = setup(0)
    await cached.get('k')
    await cached.get('k')
    expect(get).toHaveBeenCalledTimes(2)
  })
})
