// checkRecords: every stored gateway.json parsed as the server parses it; what does not count is listed by EUI, capped.
import { describe, expect, it } from 'vitest'
import { checkRecords, LISTED_PROBLEMS, recordsCheck } from '../../../src/doctor/record-checks'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'

const eui = (n: number): string => n.toString(16).padStart(16, '0')

async function storeWith(records: Readonly<Record<string, string>>, prefix = 'cups/'): Promise<MemoryBlobStore> {
  const store = new MemoryBlobStore()
  for (const [id, body] of Object.entries(records)) await store.put(storageKeys(prefix, id).settings, Buffer.from(body))
  return store
}

describe('checkRecords', () => {
  it('ok when there are none, and when all parse', async () => {
    expect(await checkRecords(new MemoryBlobStore(), 'cups/')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^none under "cups\/"/) as unknown })
    const store = await storeWith({ [eui(1)]: '{}', [eui(2)]: '{"name":"roof","state":"disabled"}' })
    expect(await checkRecords(store, 'cups/')).toEqual({ check: 'gateway records', status: 'ok', detail: '2 records, all valid' })
  })

  it('warns with each EUI and its first problem: not JSON, not an object, a state it cannot read, a schema problem', async () => {
    const store = await storeWith({
      [eui(1)]: '{}',
      [eui(0xaa)]: 'not json',
      [eui(0xbb)]: '[]',
      [eui(0xcc)]: '{"state":"paused"}',
      [eui(0xdd)]: '{"cupsUri":"https://cups.example.com:443/path","tcUri":"ws://lns"}',
    })
    const check = await checkRecords(store, 'cups/')
    expect(check.status).toBe('warn')
    expect(check.detail).toMatch(/^4 of 5 records do not count, so their gateways are not served as the records say/)
    expect(check.detail).toContain(`${eui(0xaa)} (gateway.json is not valid JSON)`)
    expect(check.detail).toContain(`${eui(0xbb)} (gateway.json must be a JSON object, not an array)`)
    expect(check.detail).toContain(`${eui(0xcc)} (gateway.json: state must be one of active, disabled, revoked)`)
    expect(check.detail).toMatch(new RegExp(`${eui(0xdd)} \\(cupsUri: must not have a path[^;]*\\)$`))
    expect(check.detail).not.toContain(eui(1))
  })

  it('reads only record keys of the layout: bundles, the probe and strays are not records', async () => {
    const store = await storeWith({ [eui(1)]: 'not json' }, 'fleet/')
    await store.put(storageKeys('fleet/', eui(2)).cupsCredentials, Buffer.from('x'))
    await store.put('fleet/doctor-probe-0123', Buffer.from('x'))
    await store.put('fleet/NOT-AN-EUI/gateway.json', Buffer.from('x'))
    await store.put(`other/${eui(3)}/gateway.json`, Buffer.from('x'))
    expect((await checkRecords(store, 'fleet/')).detail).toMatch(/^1 of 1 record do not count/)
  })

  it('FAILs when the records cannot be listed', async () => {
    const store = new MemoryBlobStore()
    store.list = () => Promise.reject(new Error('s3 storage: list failed: AccessDenied 403'))
    expect(await checkRecords(store, 'cups/')).toEqual({ check: 'gateway records', status: 'fail', detail: 'cannot list "cups/": s3 storage: list failed: AccessDenied 403' })
  })
})

describe('recordsCheck', () => {
  it(`lists the first ${LISTED_PROBLEMS} problems and counts the rest`, () => {
    const problems = Array.from({ length: 8 }, (_, i) => ({ eui: eui(i), problem: 'gateway.json is not valid JSON' }))
    const { detail } = recordsCheck(20, problems, 'cups/')
    expect(detail.match(/is not valid JSON/g)).toHaveLength(LISTED_PROBLEMS)
    expect(detail).toMatch(/; and 3 more$/)
    expect(detail).toMatch(/^8 of 20 records/)
  })
})
