// revokeGateway and LastAuthentications on a memory store: what a revoke leaves behind, and what it keeps.
import { describe, expect, it } from 'vitest'
import { LastAuthentications } from '../../../src/gateways/last-authentication'
import { revokeGateway } from '../../../src/gateways/revoke'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'

const EUI = '0016c001ff10a235'
const keys = storageKeys('cups/', EUI)
const NOW = new Date('2026-12-02T12:00:00.000Z')
const FINGERPRINT = 'a'.repeat(64)

describe('revokeGateway', () => {
  it('marks the record revoked (keeping its fields) and deletes bundles and the last authentication', async () => {
    const store = new MemoryBlobStore()
    await store.put(keys.settings, Buffer.from('{"name":"roof","labels":{"site":"a"}}'))
    await store.put(keys.cupsCredentials, Buffer.from('cups'))
    await store.put(keys.tcCredentials, Buffer.from('tc'))
    await new LastAuthentications(store, () => keys.lastAuthentication).remember(EUI, { via: 'certificate', sha256: FINGERPRINT, serial: '01' })

    const result = await revokeGateway(store, EUI, { prefix: 'cups/', now: NOW, reason: 'stolen' })

    expect(result.deleted).toEqual([keys.lastAuthentication, keys.cupsCredentials, keys.tcCredentials])
    expect(await store.list(`cups/${EUI}/`)).toEqual([keys.settings])
    expect(JSON.parse((await store.get(keys.settings))?.body.toString() ?? '')).toEqual({
      name: 'roof',
      labels: { site: 'a' },
      state: 'revoked',
      revokedAt: NOW.toISOString(),
      revokedReason: 'stolen',
    })
  })

  it('registers an unknown gateway as revoked, and replaces a record that does not parse', async () => {
    const store = new MemoryBlobStore()
    await revokeGateway(store, EUI, { prefix: 'cups/', now: NOW })
    expect(JSON.parse((await store.get(keys.settings))?.body.toString() ?? '')).toEqual({ state: 'revoked', revokedAt: NOW.toISOString() })
    await store.put(keys.settings, Buffer.from('[garbage'))
    await revokeGateway(store, EUI, { prefix: 'cups/', now: NOW })
    expect(JSON.parse((await store.get(keys.settings))?.body.toString() ?? '')).toMatchObject({ state: 'revoked' })
  })
})

describe('LastAuthentications', () => {
  it('a token with nothing stored writes nothing: no certificate stands that it would have to end', async () => {
    const store = new MemoryBlobStore()
    await new LastAuthentications(store, () => keys.lastAuthentication).remember(EUI, { via: 'token' })
    expect(await store.list('cups/')).toEqual([])
  })

  it('writes only on change, and never keeps a token', async () => {
    const store = new MemoryBlobStore()
    const auth = new LastAuthentications(store, () => keys.lastAuthentication, () => NOW)
    const cert = { via: 'certificate', sha256: FINGERPRINT, serial: '01' } as const
    await auth.remember(EUI, cert)
    const first = await store.get(keys.lastAuthentication)
    await auth.remember(EUI, cert)
    expect((await store.get(keys.lastAuthentication))?.etag).toBe(first?.etag)
    expect(await auth.get(EUI)).toEqual({ ...cert, at: NOW.toISOString() })
    await auth.remember(EUI, { via: 'token' })
    expect(JSON.parse((await store.get(keys.lastAuthentication))?.body.toString() ?? '')).toEqual({ version: 1, via: 'token', at: NOW.toISOString() })
    await auth.forget(EUI)
    expect(await auth.get(EUI)).toBeUndefined()
  })

  it('a stored value it cannot read vouches for nothing', async () => {
    const store = new MemoryBlobStore()
    const auth = new LastAuthentications(store, () => keys.lastAuthentication)
    for (const body of ['garbage', '{"via":"certificate","sha256":"short"}', '{"via":"password"}']) {
      await store.put(keys.lastAuthentication, Buffer.from(body))
      expect(await auth.get(EUI)).toBeUndefined()
    }
  })

  it('a lost race re-reads and writes over the winner', async () => {
    const store = new MemoryBlobStore()
    const auth = new LastAuthentications(store, () => keys.lastAuthentication)
    await auth.remember(EUI, { via: 'token' })
    // Another replica writes between our read and our write.
    const get = store.get.bind(store)
    let raced = false
    store.get = async (key) => {
      const value = await get(key)
      if (!raced) {
        raced = true
        await store.put(key, Buffer.from('{"version":1,"via":"token","at":"x"}\n'))
      }
      return value
    }
    await auth.remember(EUI, { via: 'certificate', sha256: FINGERPRINT, serial: '02' })
    expect(await auth.get(EUI)).toMatchObject({ via: 'certificate', sha256: FINGERPRINT })
  })
})
