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

  it('caches nothing with a TTL of 0', async () => {
    const { cached, get } = setup(0)
    await cached.get('k')
    await cached.get('k')
    expect(get).toHaveBeenCalledTimes(2)
  })
})
