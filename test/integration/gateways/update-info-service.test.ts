// UpdateInfoService when things go wrong on our side: the station always gets 200 "no change", never a 5xx.
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BootstrapPolicy } from '../../../src/config'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import { parseUpdateInfoRequest } from '../../../src/cups/update-info-request'
import { NO_CHANGE } from '../../../src/cups/update-info-response'
import { MintingError, StorageUnavailableError } from '../../../src/errors'
import type { Caller } from '../../../src/gateways/access-policy'
import { CredentialService } from '../../../src/gateways/credential-service'
import { GatewayRegistry } from '../../../src/gateways/gateway-registry'
import { LastAuthentications } from '../../../src/gateways/last-authentication'
import { UpdateInfoService } from '../../../src/gateways/update-info-service'
import { PromMetrics } from '../../../src/observability/prom-metrics'
import { checkClientCertificate } from '../../../src/pki/client-certificate-check'
import type { CredentialMinter } from '../../../src/pki/credential-minter'
import type { OpensslCredentialMinter } from '../../../src/pki/openssl-credential-minter'
import type { BlobStore } from '../../../src/storage/blob-store'
import { CachedBlobStore } from '../../../src/storage/cached-blob-store'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'
import { decodeUpdateInfoResponse } from '../../support/station-decoder'
import { createTestPki } from '../../support/test-pki'
import type { TestPki } from '../../support/test-pki'

const anonymous: Caller = { certificate: undefined, header: () => undefined, peer: '127.0.0.1' }
const request = parseUpdateInfoRequest({
  router: '::1',
  cupsUri: 'https://localhost:8443',
  tcUri: null,
  cupsCredCrc: 2077607535,
  tcCredCrc: 2077607535,
  station: '2.0.6',
  model: 'linux',
  package: '1.0.0',
  keys: [],
})
const log = pino({ level: 'silent' })
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('UpdateInfoService under faults', () => {
  let pki: TestPki
  let minter: OpensslCredentialMinter
  let trust: Buffer

  beforeAll(async () => {
    pki = await createTestPki('cups-faults-')
    ;({ minter, trust } = pki)
  })
  afterAll(() => pki.remove())

  function build(store: BlobStore, options: { minter?: CredentialMinter; deadlineMs?: number; policy?: BootstrapPolicy } = {}) {
    const metrics = new PromMetrics({ processMetrics: false })
    const credentials = new CredentialService({
      store,
      minter: options.minter ?? minter,
      trust: () => ({ cups: trust, tc: trust }),
      issuedByUs: () => true,
      acceptsClientCertificate: () => true,
      keyFor: (kind, eui) => `cups/${eui}/${kind}_cred.bin`,
      minValidDays: 30,
      log,
      metrics,
    })
    const service = new UpdateInfoService({
      credentials,
      cupsUri: undefined,
      tcUri: 'wss://lns.example.com:8887',
      bootstrapPolicy: options.policy ?? 'open',
      registry: new GatewayRegistry(store, (eui) => `cups/${eui}/gateway.json`, []),
      lastAuthentications: new LastAuthentications(store, (eui) => `cups/${eui}/last-auth.json`),
      checkCertificate: (der) => checkClientCertificate(der, { ours: [], factory: [] }),
      deadlineMs: options.deadlineMs ?? 2000,
      metrics,
    })
    return { service, metrics }
  }

  it('answers everything a new gateway needs when all is well', async () => {
    const { service, metrics } = build(new MemoryBlobStore())
    const segments = decodeUpdateInfoResponse((await service.respond(request, anonymous, log)).body)
    expect(Object.keys(segments).sort()).toEqual(['cupsCredentials', 'tcCredentials', 'tcUri', 'trailing'])
    expect(await metrics.value('credentials_minted_total', { kind: 'cups' })).toBe(1)
    expect(await metrics.value('credentials_minted_total', { kind: 'tc' })).toBe(1)
  })

  it('answers no change and counts it when storage is down', async () => {
    const down: BlobStore = {
      get: () => Promise.reject(new StorageUnavailableError('connect ECONNREFUSED')),
      put: () => Promise.reject(new StorageUnavailableError('connect ECONNREFUSED')),
      delete: () => Promise.reject(new StorageUnavailableError('connect ECONNREFUSED')),
      list: () => Promise.reject(new StorageUnavailableError('connect ECONNREFUSED')),
    }
    const { service, metrics } = build(down)
    expect((await service.respond(request, anonymous, log)).body).toEqual(NO_CHANGE)
    expect(await metrics.value('storage_failures_total')).toBe(1)
  })

  it('answers no change within the deadline when storage hangs', async () => {
    const hanging: BlobStore = {
      get: () => new Promise(() => undefined),
      put: () => new Promise(() => undefined),
      delete: () => new Promise(() => undefined),
      list: () => new Promise(() => undefined),
    }
    const { service, metrics } = build(hanging, { deadlineMs: 100 })
    const started = Date.now()
    expect((await service.respond(request, anonymous, log)).body).toEqual(NO_CHANGE)
    expect(Date.now() - started).toBeLessThan(1000)
    expect(await metrics.value('deadline_exceeded_total')).toBe(1)
  })

  it('stores no first bundle once the deadline answered "no change", so the gateway can bootstrap later', async () => {
    const store = new MemoryBlobStore()
    const slowMinter: CredentialMinter = { mint: (eui) => delay(300).then(() => minter.mint(eui)) }
    const { service } = build(store, { minter: slowMinter, deadlineMs: 100 })
    expect((await service.respond(request, anonymous, log)).body).toEqual(NO_CHANGE)
    await delay(600)
    expect(await store.list('cups/')).toEqual([])
    // The next contact is an ordinary first contact.
    const { service: patient } = build(store)
    expect(Object.keys(decodeUpdateInfoResponse((await patient.respond(request, anonymous, log)).body))).toContain('cupsCredentials')
  })

  it('removes a first bundle whose write landed after the deadline', async () => {
    const inner = new MemoryBlobStore()
    const slowPuts: BlobStore = {
      get: (key) => inner.get(key),
      put: (key, body, condition) => delay(300).then(() => inner.put(key, body, condition)),
      delete: (key) => inner.delete(key),
      list: (prefix) => inner.list(prefix),
    }
    const { service } = build(slowPuts, { deadlineMs: 150 })
    expect((await service.respond(request, anonymous, log)).body).toEqual(NO_CHANGE)
    await delay(800)
    expect(await inner.list('cups/')).toEqual([])
  })

  it('gives a bootstrap caller no TC key while its CUPS identity cannot be minted', async () => {
    let calls = 0
    const cupsFails: CredentialMinter = {
      mint: (eui) => (++calls === 1 ? Promise.reject(new MintingError('openssl req: timed out')) : minter.mint(eui)),
    }
    const store = new MemoryBlobStore()
    const { service, metrics } = build(store, { minter: cupsFails })
    // No CUPS bundle: no TC key and no TC URI either, so the station keeps polling instead of failing at the LNS.
    expect((await service.respond(request, anonymous, log)).body).toEqual(NO_CHANGE)
    expect(await metrics.value('mint_failures_total')).toBe(1)
    expect(await store.list('cups/')).toEqual([])
    // Once CUPS minting works again the gateway gets everything in one answer.
    const segments = decodeUpdateInfoResponse((await service.respond(request, anonymous, log)).body)
    expect(Object.keys(segments).sort()).toEqual(['cupsCredentials', 'tcCredentials', 'tcUri', 'trailing'])
  })

  it('undoes a first CUPS bundle stored in time when the TC mint misses the deadline', async () => {
    let calls = 0
    const tcSlow: CredentialMinter = { mint: (eui) => (++calls === 2 ? delay(400) : Promise.resolve()).then(() => minter.mint(eui)) }
    const store = new MemoryBlobStore()
    const { service } = build(store, { minter: tcSlow, deadlineMs: 200 })
    expect((await service.respond(request, anonymous, log)).body).toEqual(NO_CHANGE)
    await delay(700)
    // Neither bundle stays: the station got neither, and its next anonymous contact must still be a first contact.
    expect(await store.list('cups/')).toEqual([])
  })

  it('honours a record written after a 404 at the very next contact, whatever the cache remembers', async () => {
    const shared = new MemoryBlobStore()
    const { service } = build(new CachedBlobStore(shared, 60_000), { policy: 'registered' })
    await expect(service.respond(request, anonymous, log)).rejects.toMatchObject({ statusCode: 404 })
    await shared.put(`cups/${request.eui}/gateway.json`, Buffer.from('{}'))
    const segments = decodeUpdateInfoResponse((await service.respond(request, anonymous, log)).body)
    expect(segments.cupsCredentials).toBeDefined()
  })

  it('does not trust a cached "no bundle" when a caller who proved nothing asks for keys', async () => {
    const shared = new MemoryBlobStore()
    const { service } = build(new CachedBlobStore(shared, 60_000))
    const stranger: Caller = {
      certificate: { der: Buffer.alloc(0) },
      header: () => undefined,
      peer: '127.0.0.1',
    }
    // Caches "no CUPS bundle" for this gateway...
    await expect(service.respond(request, stranger, log)).rejects.toMatchObject({ statusCode: 403 })
    // ...then another replica or tool provisions it with a token.
    await shared.put(`cups/${request.eui}/cups_cred.bin`, buildCredentialBlob({ trust, token: 'Authorization: Bearer secret' }))
    await expect(service.respond(request, anonymous, log)).rejects.toMatchObject({ statusCode: 403 })
  })

  it('still refuses with 403 when the caller may not act for the gateway', async () => {
    const { service } = build(new MemoryBlobStore())
    await service.respond(request, anonymous, log)
    await expect(service.respond(request, anonymous, log)).rejects.toMatchObject({ statusCode: 403 })
  })
})
