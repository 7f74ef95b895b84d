// readGatewayDetail on an in-memory store: every object decoded, the token redacted unless asked for, unreadable objects named.
import { describe, expect, it } from 'vitest'
import { crc32 } from '../../../src/cups/crc32'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import { readGatewayDetail } from '../../../src/gateways/gateway-detail'
import type { InventoryEntry } from '../../../src/gateways/inventory'
import type { BlobStore } from '../../../src/storage/blob-store'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'
import { readFixture } from '../../support/fixtures'

const PREFIX = 'cups/'
const TRUST = readFixture('tc-files-written/tc.trust')
const CERT = readFixture('tc-files-written/tc.crt')
const KEY = readFixture('tc-files-written/tc.key')
const NOT_AFTER = '2036-11-20T19:47:30.000Z'
const NOW = new Date('2036-11-01T00:00:00Z')
const BEARER = 'NNSXS.SECRETSECRETSECRET.VALUE'

const mtls = buildCredentialBlob({ trust: TRUST, certificate: CERT, privateKey: KEY })
const token = buildCredentialBlob({ trust: TRUST, token: `Authorization: Bearer ${BEARER}` })
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))

const entry: InventoryEntry = {
  version: 1,
  firstSeen: '2036-10-01T00:00:00.000Z',
  lastSeen: '2036-10-31T07:23:34.277Z',
  station: '2.0.6(linux/testsim) 2026-11-23 19:46:54',
  model: 'linux',
  package: '1.0.0',
  reported: { cupsUri: 'https://cups.example.com:443', tcUri: 'wss://lns.example.com:8887', cupsCredCrc: crc32(mtls), tcCredCrc: 7, keys: [] },
  desired: { cupsCredCrc: crc32(mtls) },
  converged: false,
  segments: { tcCredentials: { crc: 1, reportedCrc: 7, sends: 3, stuckSince: '2036-10-31T00:00:00.000Z', stuckUntil: '2036-11-02T00:00:00.000Z' } },
}

describe('readGatewayDetail', () => {
  const eui = '0000000000000042'
  const keys = storageKeys(PREFIX, eui)

  async function detailStore(): Promise<MemoryBlobStore> {
    const store = new MemoryBlobStore()
    await store.put(keys.settings, json({ name: 'roof-42', tcUri: 'wss://lns.example.com:8887', tcCredentials: { source: 'token', bearer: BEARER } }))
    await store.put(keys.cupsCredentials, mtls)
    await store.put(keys.tcCredentials, token)
    await store.put(keys.inventory, json(entry))
    await store.put(keys.lastAuthentication, json({ version: 1, via: 'certificate', sha256: 'ab'.repeat(32), serial: '04', at: '2036-10-31T07:23:34.277Z' }))
    return store
  }

  it('is undefined when nothing at all is stored', async () => {
    const store = new MemoryBlobStore()
    await store.put(`${PREFIX}0000000000000041/gateway.json`, json({}))
    await store.put(`${PREFIX}00000000000000421/gateway.json`, json({}))
    expect(await readGatewayDetail(store, PREFIX, eui, { now: NOW })).toBeUndefined()
  })

  it('shows a gateway with only an unknown object, as the list counts it', async () => {
    const store = new MemoryBlobStore()
    await store.put(`${PREFIX}${eui}/notes.txt`, Buffer.from('x'))
    expect(await readGatewayDetail(store, PREFIX, eui, { now: NOW })).toEqual({
      eui,
      state: 'unregistered',
      objects: ['notes.txt'],
      record: null,
      cupsCredentials: null,
      tcCredentials: null,
      inventory: null,
      lastAuthentication: null,
    })
  })

  it('decodes everything, with the token redacted in the bundle and in the record', async () => {
    const detail = await readGatewayDetail(await detailStore(), PREFIX, eui, { now: NOW })
    expect(detail).toMatchObject({
      eui,
      state: 'active',
      objects: ['cups_cred.bin', 'gateway.json', 'inventory.json', 'last-auth.json', 'tc_cred.bin'],
      record: { fields: { name: 'roof-42', tcCredentials: { source: 'token', bearer: `<redacted, ${BEARER.length} bytes>` } }, problems: [] },
      cupsCredentials: { usable: true, crc32: crc32(mtls), heldByStation: true, certificate: { subject: 'CN=router-1-tc', notAfter: NOT_AFTER }, key: { kind: 'private-key', type: 'EC P-256' } },
      tcCredentials: { usable: true, heldByStation: false, certificate: null, key: { kind: 'token', revealed: false } },
      inventory: { readable: true, converged: false, desired: { cupsCredCrc: crc32(mtls), tcUri: null }, segments: { tcCredentials: { sends: 3, stuck: true } } },
      lastAuthentication: { readable: true, via: 'certificate', serial: '04', sha256: 'ab'.repeat(32) },
    })
    expect(JSON.stringify(detail)).not.toContain(BEARER)
  })

  it('shows the token when asked for', async () => {
    const detail = await readGatewayDetail(await detailStore(), PREFIX, eui, { now: NOW, revealToken: true })
    expect(detail?.record?.fields).toMatchObject({ tcCredentials: { bearer: BEARER } })
    expect(detail?.tcCredentials?.key).toEqual({ kind: 'token', headers: [{ name: 'Authorization', value: `Bearer ${BEARER}` }], revealed: true })
  })

  it('says which objects are unreadable, and why', async () => {
    const store = await detailStore()
    await store.put(keys.settings, Buffer.from('{"state":"paused"}'))
    await store.put(keys.inventory, Buffer.from('{}'))
    await store.put(keys.lastAuthentication, Buffer.from('{"via":"token","token":"never-shown"}'))
    await store.put(keys.cupsCredentials, Buffer.from('-----BEGIN CERTIFICATE-----'))
    const detail = await readGatewayDetail(store, PREFIX, eui, { now: NOW })
    expect(detail).toMatchObject({
      state: 'invalid',
      record: { fields: null, problems: [expect.stringMatching(/state must be one of/)] },
      cupsCredentials: { usable: false, trust: null, key: null, heldByStation: null },
      inventory: { readable: false, problem: 'not an inventory entry' },
      lastAuthentication: { readable: true, via: 'token', at: null },
    })
    expect(detail?.cupsCredentials?.problem).toMatch(/cannot parse/)
    expect(JSON.stringify(detail)).not.toContain('never-shown')
  })

  it('reports an object the store would not read as such', async () => {
    const inner = await detailStore()
    const store: BlobStore = {
      list: (prefix) => inner.list(prefix),
      get: async (key) => (key === keys.settings || key === keys.cupsCredentials ? { body: Buffer.alloc(0), etag: 'unusable-1', unusable: 'is a symbolic link' } : inner.get(key)),
      put: (key, body) => inner.put(key, body),
      delete: (key) => inner.delete(key),
    }
    const detail = await readGatewayDetail(store, PREFIX, eui, { now: NOW })
    expect(detail?.state).toBe('invalid')
    expect(detail?.record?.problems).toEqual(['the stored object is a symbolic link; the server reads it as empty'])
    expect(detail?.cupsCredentials).toMatchObject({ usable: false, problem: 'the stored object is a symbolic link; the server reads it as empty' })
  })
})
