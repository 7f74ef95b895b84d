// Owns the fleet inventory as the domain writes it: only on change, never on steady polls, and the loop guard.
import { X509Certificate } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { crc32 } from '../../../src/cups/crc32'
import { parseInventoryEntry } from '../../../src/gateways/inventory'
import type { InventoryEntry } from '../../../src/gateways/inventory'
import type { BlobStore, PutCondition } from '../../../src/storage/blob-store'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'
import { anonymous, certificateOf, EUI, KEYS, makeReplica, poll, presenting } from '../../support/test-gateways'
import { createTestPki } from '../../support/test-pki'
import type { TestPki } from '../../support/test-pki'

/** Counts what reaches the storage behind the read cache. */
class CountingStore implements BlobStore {
  reads = 0
  writes = 0
  constructor(readonly inner: BlobStore) {}
  get(key: string) {
    this.reads++
    return this.inner.get(key)
  }
  put(key: string, body: Buffer, condition?: PutCondition) {
    this.writes++
    return this.inner.put(key, body, condition)
  }
  delete(key: string) {
    this.writes++
    return this.inner.delete(key)
  }
  list(prefix: string) {
    return this.inner.list(prefix)
  }
}

describe('the fleet inventory', () => {
  let pki: TestPki
  beforeAll(async () => {
    pki = await createTestPki('cups-inventory-')
  })
  afterAll(() => pki.remove())

  async function setUp(ttlMs = 30_000) {
    const storage = new CountingStore(new MemoryBlobStore())
    await storage.inner.put(KEYS.settings, Buffer.from('{}'))
    const replica = makeReplica(storage, pki, { ttlMs, inventory: true })
    const entry = async (): Promise<InventoryEntry | undefined> => {
      await replica.inventory?.drain()
      const stored = await storage.inner.get(KEYS.inventory)
      return stored === undefined ? undefined : parseInventoryEntry(stored.body)
    }
    return { storage, replica, entry }
  }

  it('after provisioning: what the gateway reported, what it should hold, and its certificate', async () => {
    const { replica, entry } = await setUp()
    const first = await poll(replica.service, anonymous)
    const afterFirst = await entry()
    expect(afterFirst).toMatchObject({ version: 1, station: expect.stringMatching(/^2\.0\.6/) as unknown, model: 'linux', package: '1.0.0', converged: false })
    const certificate = new X509Certificate(certificateOf(first.cups))
    expect(afterFirst?.certificate).toMatchObject({ serial: certificate.serialNumber, crc: crc32(first.cups ?? Buffer.alloc(0)) })
    expect(afterFirst?.desired).toEqual({ cupsCredCrc: crc32(first.cups ?? Buffer.alloc(0)), tcCredCrc: crc32(first.tc ?? Buffer.alloc(0)), tcUri: 'wss://lns.example.com:8887' })

    await poll(replica.service, presenting(certificateOf(first.cups)), first)
    // The simulated station reports its CRCs but not the TC URI (poll sends tcUri null): not converged yet.
    expect((await entry())?.converged).toBe(false)
  })

  it('after a renewal: the new certificate and what the gateway should now hold', async () => {
    const { replica, entry } = await setUp(0)
    const first = await poll(replica.service, anonymous)
    const caller = presenting(certificateOf(first.cups))
    const held = { ...first, tcUri: 'wss://lns.example.com:8887' }
    await poll(replica.service, caller, held)
    const before = (await entry())?.certificate
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 360 * 86_400_000 })
    try {
      const renewal = await poll(replica.service, caller, held)
      expect(renewal.cups).toBeDefined()
      const renewed = new X509Certificate(certificateOf(renewal.cups))
      const afterRenewal = await entry()
      expect(afterRenewal?.certificate?.serial).toBe(renewed.serialNumber)
      expect(afterRenewal?.certificate?.serial).not.toBe(before?.serial)
      // The station still reports the old CRC: not converged until it polls with the renewal (the OpenSSL
      // minter dates certificates by the real clock, so that poll cannot be shown under this faked one).
      expect(afterRenewal?.converged).toBe(false)
      expect(afterRenewal?.desired.cupsCredCrc).toBe(crc32(renewal.cups ?? Buffer.alloc(0)))
    } finally {
      vi.useRealTimers()
    }
  })

  it('writes nothing over 1,000 steady polls, and reads only what the cache misses', async () => {
    const { storage, replica, entry } = await setUp()
    const first = await poll(replica.service, anonymous)
    const caller = presenting(certificateOf(first.cups))
    const converged = { ...first, tcUri: 'wss://lns.example.com:8887' }
    await poll(replica.service, caller, converged)
    expect((await entry())?.converged).toBe(true)
    const { reads, writes } = storage
    for (let i = 0; i < 1000; i++) expect((await poll(replica.service, caller, converged)).status).toBe(200)
    await replica.inventory?.drain()
    expect(storage.writes - writes).toBe(0)
    // The read cache (30 s) holds every key this gateway has: the polls reach storage for none of them.
    expect(storage.reads - reads).toBe(0)
  })

  it('records the refusal of a registered gateway it never served, and nothing for unknown EUIs', async () => {
    const storage = new CountingStore(new MemoryBlobStore())
    await storage.inner.put(KEYS.settings, Buffer.from('{"state":"disabled"}'))
    const replica = makeReplica(storage, pki, { ttlMs: 0, inventory: true, policy: 'registered' })
    expect((await poll(replica.service, anonymous)).status).toBe(403)
    await replica.inventory?.drain()
    const stored = await storage.inner.get(KEYS.inventory)
    expect(parseInventoryEntry(stored?.body ?? Buffer.alloc(0))?.lastRefusal).toMatchObject({ status: 403, reason: expect.stringMatching(/is disabled/) as unknown })
    await storage.inner.delete(KEYS.settings)
    await storage.inner.delete(KEYS.inventory)
    expect((await poll(replica.service, anonymous)).status).toBe(404)
    await replica.inventory?.drain()
    expect(await storage.inner.get(KEYS.inventory)).toBeUndefined()
  })

  it('records the last refusal of a gateway it knows, and nothing for EUIs it has never served', async () => {
    const { storage, replica, entry } = await setUp(0)
    await poll(replica.service, anonymous)
    await entry()
    expect((await poll(replica.service, anonymous)).status).toBe(403)
    expect((await entry())?.lastRefusal).toMatchObject({ status: 403, reason: expect.stringMatching(/is provisioned/) as unknown })
    const writes = storage.writes
    // The same refusal again is no news: no write.
    expect((await poll(replica.service, anonymous)).status).toBe(403)
    await replica.inventory?.drain()
    expect(storage.writes).toBe(writes)
  })

  it('marks a bundle the station keeps dropping as stuck, stops sending it, and says so', async () => {
    const { replica, entry, storage } = await setUp(0)
    const first = await poll(replica.service, anonymous)
    const caller = presenting(certificateOf(first.cups))
    // The station never stores its TC bundle: it reports the old TC CRC whatever it is sent.
    const dropsTc = { cups: first.cups, tcUri: 'wss://lns.example.com:8887' }
    expect((await poll(replica.service, caller, dropsTc)).tc).toBeDefined() // 2nd send
    expect((await poll(replica.service, caller, dropsTc)).tc).toBeDefined() // 3rd send: stuck from now on
    const stuck = await entry()
    expect(stuck?.segments?.tcCredentials).toMatchObject({ sends: 3, stuckUntil: expect.any(String) as unknown })
    expect(await replica.metrics.value('stuck_segments_total', { segment: 'tcCredentials' })).toBe(1)
    const writes = storage.writes
    const held = await poll(replica.service, caller, dropsTc)
    expect(held).toMatchObject({ status: 200, tc: undefined })
    await entry()
    expect(storage.writes).toBe(writes)
    // A new bundle is not held back: the stuck one was that exact bundle.
    expect((await entry())?.segments?.tcCredentials?.crc).toBe(crc32(first.tc ?? Buffer.alloc(0)))
    expect(EUI).toMatch(/^[0-9a-f]{16}$/)
  })
})
