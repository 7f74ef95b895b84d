// Owns what a gateway record changes in the answer: URIs, the TC bundle's source and trust, and a record that does not validate.
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildCredentialBlob, splitCredentialBlob } from '../../../src/cups/credential-blob'
import { isIssuedBy } from '../../../src/pki/certificates'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'
import { anonymous, certificateOf, EUI, KEYS, makeReplica, poll, presenting } from '../../support/test-gateways'
import { parseUpdateInfoRequest } from '../../../src/cups/update-info-request'
import { stationRequest } from '../../support/station-request'
import { decodeUpdateInfoResponse } from '../../support/station-decoder'
import { createTestPki } from '../../support/test-pki'
import type { TestPki } from '../../support/test-pki'

describe('gateway records', () => {
  let ours: TestPki
  let lns: TestPki
  let lnsCaPem: string
  beforeAll(async () => {
    ;[ours, lns] = await Promise.all([createTestPki('cups-records-'), createTestPki('cups-records-lns-')])
    lnsCaPem = await readFile(path.join(lns.dir, 'ca.crt'), 'utf8')
  })
  afterAll(() => Promise.all([ours.remove(), lns.remove()]))

  async function provisioned(record: object = {}) {
    const storage = new MemoryBlobStore()
    await storage.put(KEYS.settings, Buffer.from(JSON.stringify(record)))
    const replica = makeReplica(storage, ours, { ttlMs: 0, lnsCa: { minter: lns.minter, issued: (c) => isIssuedBy(c, lns.trust) } })
    const first = await poll(replica.service, anonymous)
    const caller = presenting(certificateOf(first.cups))
    return { storage, replica, first, caller }
  }
  const setRecord = (storage: MemoryBlobStore, record: object) => storage.put(KEYS.settings, Buffer.from(JSON.stringify(record)))

  it('redirects a gateway to another CUPS once: the URI is sent until the station reports it', async () => {
    const { storage, replica, first, caller } = await provisioned()
    await setRecord(storage, { cupsUri: 'https://cups2.example.com:8443' })
    const held = { cupsCredCrc: 0, tcCredCrc: 0 }
    const ask = async (cupsUri: string) =>
      decodeUpdateInfoResponse(
        (await replica.service.respond(
          parseUpdateInfoRequest(stationRequest({ router: '16:c001:ff10:a235', cupsUri, ...held })),
          caller,
          { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined },
        )).body,
      )
    expect(first.cups).toBeDefined()
    expect((await ask('https://localhost:8443')).cupsUri).toBe('https://cups2.example.com:8443')
    expect((await ask('https://cups2.example.com:8443')).cupsUri).toBeUndefined()
  })

  it('moves a converged gateway to another LNS once: its TC bundle from that LNS CA with that trust', async () => {
    const { storage, replica, first, caller } = await provisioned()
    expect((await poll(replica.service, caller, first)).cups).toBeUndefined()
    await setRecord(storage, { tcUri: 'wss://lns2.example.com:443', tcTrust: lnsCaPem, tcCredentials: { source: 'lns-ca' } })
    const moved = await poll(replica.service, caller, first)
    expect(moved.status).toBe(200)
    const tc = moved.tc ?? Buffer.alloc(0)
    const parts = splitCredentialBlob(tc)
    expect(parts.trust.equals(lns.trust)).toBe(true)
    expect(isIssuedBy(parts.certificate, lns.trust)).toBe(true)
    expect(new X509Certificate(parts.certificate).subject).toBe(`CN=${EUI}`)
    // Once the station holds it, nothing is sent again.
    expect(await poll(replica.service, caller, { cups: first.cups, tc })).toMatchObject({ status: 200, cups: undefined, tc: undefined })
  })

  it.each([
    ['a bare API key (The Things Stack)', { source: 'token', bearer: 'NNSXS.KEY' }, 'Authorization: Bearer NNSXS.KEY\r\n'],
    ['header lines', { source: 'token', token: 'X-Api-Key: k1' }, 'X-Api-Key: k1\r\n'],
  ])('a token TC bundle from %s, byte for byte as the station reads it', async (_name, tcCredentials, line) => {
    const { storage, replica, first, caller } = await provisioned()
    await setRecord(storage, { tcCredentials })
    const answer = await poll(replica.service, caller, first)
    expect(answer.tc?.equals(Buffer.concat([ours.trust, Buffer.alloc(4), Buffer.from(line, 'latin1')]))).toBe(true)
    expect((await storage.get(KEYS.tcCredentials))?.body.equals(answer.tc ?? Buffer.alloc(0))).toBe(true)
    expect((await poll(replica.service, caller, { cups: first.cups, tc: answer.tc })).tc).toBeUndefined()
  })

  it('"none": the TC bundle is the trust alone (server authentication only)', async () => {
    const { storage, replica, first, caller } = await provisioned()
    await setRecord(storage, { tcCredentials: { source: 'none' }, tcTrust: lnsCaPem })
    expect((await poll(replica.service, caller, first)).tc?.equals(buildCredentialBlob({ trust: lns.trust }))).toBe(true)
  })

  it('back to "ours" after another source: our CA mints it again', async () => {
    const { storage, replica, first, caller } = await provisioned({ tcCredentials: { source: 'token', bearer: 'abc' } })
    expect(splitCredentialBlob(first.tc ?? Buffer.alloc(0)).certificate.length).toBe(0)
    await setRecord(storage, { tcCredentials: { source: 'ours' } })
    const answer = await poll(replica.service, caller, first)
    expect(isIssuedBy(splitCredentialBlob(answer.tc ?? Buffer.alloc(0)).certificate, ours.trust)).toBe(true)
  })

  it('a record that does not validate answers "no change", counted, until it is fixed', async () => {
    const { storage, replica, first, caller } = await provisioned()
    await setRecord(storage, { tcUri: 'wss://lns.example.com' })
    const answer = await poll(replica.service, caller, { cups: first.cups })
    expect(answer).toMatchObject({ status: 200, cups: undefined, tc: undefined })
    expect(await replica.metrics.value('invalid_records_total')).toBe(1)
    await setRecord(storage, { tcUri: 'wss://lns.example.com:8887' })
    expect((await poll(replica.service, caller, { cups: first.cups })).tc).toBeDefined()
  })

  it('"lns-ca" without LNS_CA_CERT_PATH configured answers "no change" rather than the wrong LNS credentials', async () => {
    const storage = new MemoryBlobStore()
    await setRecord(storage, { tcCredentials: { source: 'lns-ca' } })
    const replica = makeReplica(storage, ours, { ttlMs: 0 })
    expect(await poll(replica.service, anonymous)).toMatchObject({ status: 200, cups: undefined, tc: undefined })
    expect(await storage.list('cups/')).toEqual([KEYS.settings])
  })

  it('a disabled record is refused with 403, and serves again once active', async () => {
    const { storage, replica, first, caller } = await provisioned()
    await setRecord(storage, { state: 'disabled' })
    expect((await poll(replica.service, caller, first)).status).toBe(403)
    await setRecord(storage, { state: 'active' })
    expect((await poll(replica.service, caller, first)).status).toBe(200)
  })
})
