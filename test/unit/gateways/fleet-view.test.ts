// The fleet view on an in-memory store: one row per gateway, the filters, bounded reads, and one gateway in full.
import { describe, expect, it } from 'vitest'
import { crc32 } from '../../../src/cups/crc32'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import { fleetFilter, listFleet } from '../../../src/gateways/fleet-view'
import type { FleetCriteria, FleetRow } from '../../../src/gateways/fleet-view'
import type { InventoryEntry } from '../../../src/gateways/inventory'
import type { BlobStore, StoredBlob } from '../../../src/storage/blob-store'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'
import { readFixture } from '../../support/fixtures'

const PREFIX = 'cups/'
const TRUST = readFixture('tc-files-written/tc.trust')
// notAfter 2036-11-20T19:47:30Z
const CERT = readFixture('tc-files-written/tc.crt')
const KEY = readFixture('tc-files-written/tc.key')
const NOT_AFTER = '2036-11-20T19:47:30.000Z'
const NOW = new Date('2036-11-01T00:00:00Z')
const DAY = 86_400_000
const BEARER = 'NNSXS.SECRETSECRETSECRET.VALUE'

const mtls = buildCredentialBlob({ trust: TRUST, certificate: CERT, privateKey: KEY })
const token = buildCredentialBlob({ trust: TRUST, token: `Authorization: Bearer ${BEARER}` })
const trustOnly = buildCredentialBlob({ trust: TRUST })

const euiOf = (n: number): string => n.toString(16).padStart(16, '0')
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))

function entry(overrides: Partial<InventoryEntry> = {}): InventoryEntry {
  return {
    version: 1,
    firstSeen: '2036-10-01T00:00:00.000Z',
    lastSeen: '2036-10-31T07:23:34.277Z',
    station: '2.0.6(linux/testsim) 2026-11-23 19:46:54',
    model: 'linux',
    package: '1.0.0',
    reported: { cupsUri: 'https://cups.example.com:443', tcUri: 'wss://lns.example.com:8887', cupsCredCrc: crc32(mtls), tcCredCrc: 7, keys: [] },
    desired: { cupsCredCrc: crc32(mtls) },
    converged: true,
    ...overrides,
  }
}

const stuckTc = (until: string): Partial<InventoryEntry> => ({
  converged: false,
  segments: { tcCredentials: { crc: 1, reportedCrc: 7, sends: 3, stuckSince: '2036-10-31T00:00:00.000Z', stuckUntil: until } },
})

/** Every kind of gateway the list must tell apart, by EUI number. */
const FLEET: Record<number, { record?: Buffer; cups?: Buffer; inventory?: Buffer; expected: Omit<FleetRow, 'eui'> }> = {
  1: {
    record: json({ name: 'roof-01' }),
    cups: mtls,
    inventory: json(entry()),
    expected: { name: 'roof-01', state: 'active', provisioned: 'yes', certificateNotAfter: NOT_AFTER, lastSeen: '2036-10-31T07:23:34.277Z', station: '2.0.6(linux/testsim) 2026-11-23 19:46:54', package: '1.0.0', converged: true, stuck: [] },
  },
  2: {
    record: json({ state: 'disabled' }),
    cups: token,
    expected: { name: null, state: 'disabled', provisioned: 'yes', certificateNotAfter: null, lastSeen: null, station: null, package: null, converged: null, stuck: [] },
  },
  3: { record: json({ state: 'revoked', revokedAt: '2036-10-01T00:00:00Z' }), expected: { name: null, state: 'revoked', provisioned: 'no', certificateNotAfter: null, lastSeen: null, station: null, package: null, converged: null, stuck: [] } },
  4: {
    inventory: json(entry(stuckTc('2036-11-02T00:00:00.000Z'))),
    expected: { name: null, state: 'unregistered', provisioned: 'no', certificateNotAfter: null, lastSeen: '2036-10-31T07:23:34.277Z', station: '2.0.6(linux/testsim) 2026-11-23 19:46:54', package: '1.0.0', converged: false, stuck: ['tcCredentials'] },
  },
  5: { record: Buffer.from('[1]'), expected: { name: null, state: 'invalid', provisioned: 'no', certificateNotAfter: null, lastSeen: null, station: null, package: null, converged: null, stuck: [] } },
  6: { record: json({ name: 'bad', tcUri: 'http://lns' }), expected: { name: 'bad', state: 'invalid', provisioned: 'no', certificateNotAfter: null, lastSeen: null, station: null, package: null, converged: null, stuck: [] } },
  7: { cups: Buffer.from('garbage'), expected: { name: null, state: 'unregistered', provisioned: 'unusable', certificateNotAfter: null, lastSeen: null, station: null, package: null, converged: null, stuck: [] } },
  8: { record: json({}), cups: trustOnly, expected: { name: null, state: 'active', provisioned: 'no', certificateNotAfter: null, lastSeen: null, station: null, package: null, converged: null, stuck: [] } },
  9: {
    record: json({}),
    inventory: json(entry(stuckTc('2036-10-31T12:00:00.000Z'))),
    expected: { name: null, state: 'active', provisioned: 'no', certificateNotAfter: null, lastSeen: '2036-10-31T07:23:34.277Z', station: '2.0.6(linux/testsim) 2026-11-23 19:46:54', package: '1.0.0', converged: false, stuck: [] },
  },
  10: { inventory: Buffer.from('{"version":1,"firstSeen":"x","reported":7,"segments":[]}'), expected: { name: null, state: 'unregistered', provisioned: 'no', certificateNotAfter: null, lastSeen: null, station: null, package: null, converged: null, stuck: [] } },
}

async function fleetStore(): Promise<MemoryBlobStore> {
  const store = new MemoryBlobStore()
  // Listed in reverse, so the order comes from the view, not from the writes.
  for (const [n, gateway] of Object.entries(FLEET).reverse()) {
    const keys = storageKeys(PREFIX, euiOf(Number(n)))
    if (gateway.record) await store.put(keys.settings, gateway.record)
    if (gateway.cups) await store.put(keys.cupsCredentials, gateway.cups)
    if (gateway.inventory) await store.put(keys.inventory, gateway.inventory)
  }
  await store.put('cups/readme.txt', Buffer.from('not a gateway'))
  await store.put('cups/not-an-eui/gateway.json', json({}))
  await store.put('other/0000000000000099/gateway.json', json({}))
  return store
}

describe('listFleet', () => {
  it('has one row per gateway folder, sorted by EUI, telling every kind apart', async () => {
    const rows = await listFleet(await fleetStore(), PREFIX, { now: NOW })
    expect(rows).toEqual(Object.entries(FLEET).map(([n, gateway]) => ({ eui: euiOf(Number(n)), ...gateway.expected })))
  })

  it('lists the storage once and reads at most `concurrency` gateways at a time', async () => {
    const inner = new MemoryBlobStore()
    for (let n = 1; n <= 100; n++) await inner.put(storageKeys(PREFIX, euiOf(n)).settings, json({}))
    let lists = 0
    let reading = 0
    let most = 0
    const store: BlobStore = {
      list: (prefix) => {
        lists++
        return inner.list(prefix)
      },
      get: async (key): Promise<StoredBlob | undefined> => {
        most = Math.max(most, ++reading)
        await new Promise((resolve) => setTimeout(resolve, 1))
        reading--
        return inner.get(key)
      },
      put: (key, body) => inner.put(key, body),
      delete: (key) => inner.delete(key),
    }
    const progress: number[] = []
    const rows = await listFleet(store, PREFIX, {
      now: NOW,
      concurrency: 4,
      progress: (read, total) => {
        expect(total).toBe(100)
        progress.push(read)
      },
    })
    expect(rows.map((row) => row.eui)).toEqual(Array.from({ length: 100 }, (_, i) => euiOf(i + 1)))
    expect(progress).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
    expect(lists).toBe(1)
    // Each gateway's three objects are read together.
    expect(most).toBeLessThanOrEqual(4 * 3)
    expect(most).toBeGreaterThan(3)
  })

  it('fails as a whole when storage fails, and starts no new reads after that', async () => {
    const inner = await fleetStore()
    const read: string[] = []
    const store: BlobStore = {
      list: (prefix) => inner.list(prefix),
      get: (key) => {
        read.push(key)
        return key.includes(euiOf(2)) ? Promise.reject(new Error('storage down')) : inner.get(key)
      },
      put: (key, body) => inner.put(key, body),
      delete: (key) => inner.delete(key),
    }
    await expect(listFleet(store, PREFIX, { now: NOW, concurrency: 1 })).rejects.toThrow('storage down')
    expect(read.some((key) => key.includes(euiOf(3)))).toBe(false)
  })

  it('is empty for empty storage', async () => {
    expect(await listFleet(new MemoryBlobStore(), PREFIX, { now: NOW })).toEqual([])
  })
})

describe('fleetFilter', () => {
  const cases: [string, FleetCriteria, number[]][] = [
    ['nothing', {}, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
    ['active', { state: 'active' }, [1, 8, 9]],
    ['unregistered', { state: 'unregistered' }, [4, 7, 10]],
    ['invalid', { state: 'invalid' }, [5, 6]],
    ['stuck now', { stuck: true }, [4]],
    ['expiring within 30 days', { expiringWithinMs: 30 * DAY }, [1]],
    ['expiring within 12 days', { expiringWithinMs: 12 * DAY }, []],
    ['expiring within 30 days and stuck', { expiringWithinMs: 30 * DAY, stuck: true }, []],
    ['expiring within 30 days and active', { expiringWithinMs: 30 * DAY, state: 'active' }, [1]],
  ]
  it.each(cases)('%s', async (_name, criteria, expected) => {
    const rows = await listFleet(await fleetStore(), PREFIX, { now: NOW, keep: fleetFilter(criteria, NOW) })
    expect(rows.map((row) => row.eui)).toEqual(expected.map(euiOf))
  })

  it('counts an expired certificate as expiring', async () => {
    const later = new Date('2037-01-01T00:00:00Z')
    const rows = await listFleet(await fleetStore(), PREFIX, { now: later, keep: fleetFilter({ expiringWithinMs: 0 }, later) })
    expect(rows.map((row) => row.eui)).toEqual([euiOf(1)])
  })
})
