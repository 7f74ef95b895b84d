// CredentialService with real OpenSSL minting over a memory store: first mint, reuse, renewal, races, bad bundles.
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildCredentialBlob, credentialBlobCertificate, splitCredentialBlob } from '../../../src/cups/credential-blob'
import { crc32 } from '../../../src/cups/crc32'
import { CredentialService } from '../../../src/gateways/credential-service'
import type { CredentialKind } from '../../../src/gateways/credential-service'
import { isIssuedBy } from '../../../src/pki/certificates'
import type { OpensslCredentialMinter } from '../../../src/pki/openssl-credential-minter'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'
import { fixturesDir } from '../../support/fixtures'
import { createTestPki } from '../../support/test-pki'
import type { TestPki } from '../../support/test-pki'

const EUI = '0016c001ff10a235'
const DAY = 86_400_000

describe('CredentialService', () => {
  let pki: TestPki
  let minter: OpensslCredentialMinter
  let trust: Buffer
  const lines: string[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })

  beforeAll(async () => {
    pki = await createTestPki('cups-cred-')
    ;({ minter, trust } = pki)
  })
  afterAll(() => pki.remove())

  function service(store = new MemoryBlobStore(), now = () => new Date(), currentTrust = () => ({ cups: trust, tc: trust })) {
    const keyFor = (kind: CredentialKind, eui: string) => `cups/${eui}/${kind}_cred.bin`
    const issuedByUs = (certificate: Buffer) => isIssuedBy(certificate, trust)
    return {
      store,
      credentials: new CredentialService({
        store,
        minter,
        trust: currentTrust,
        issuedByUs,
        acceptsClientCertificate: issuedByUs,
        keyFor,
        minValidDays: 30,
        log,
        now,
      }),
    }
  }

  it('mints on first need, stores exactly the blob it returns, and reuses it afterwards', async () => {
    const { store, credentials } = service()
    const mint = vi.spyOn(minter, 'mint')
    const blob = await credentials.ensure('cups', EUI)
    expect(blob).toBeDefined()
    expect((await store.get(`cups/${EUI}/cups_cred.bin`))?.body.equals(blob ?? Buffer.alloc(0))).toBe(true)
    expect(await credentials.ensure('cups', EUI)).toEqual(blob)
    expect(mint).toHaveBeenCalledTimes(1)
    mint.mockRestore()
    const audit = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.audit === 'credential-minted')
    expect(audit).toMatchObject({ eui: EUI, kind: 'cups', why: 'first-contact', crc: crc32(blob ?? Buffer.alloc(0)) })
  })

  it('gives CUPS and TC different identities', async () => {
    const { credentials } = service()
    const [cups, tc] = await Promise.all([credentials.ensure('cups', EUI), credentials.ensure('tc', EUI)])
    const serial = (blob: Buffer | undefined) => new X509Certificate(credentialBlobCertificate(blob ?? Buffer.alloc(0)) ?? Buffer.alloc(0)).serialNumber
    expect(serial(cups)).not.toBe(serial(tc))
  })

  it('mints once for concurrent first contacts of one gateway', async () => {
    const { credentials } = service()
    const mint = vi.spyOn(minter, 'mint')
    const blobs = await Promise.all(Array.from({ length: 5 }, () => credentials.ensure('cups', EUI)))
    expect(new Set(blobs.map((blob) => blob?.toString('hex'))).size).toBe(1)
    expect(mint).toHaveBeenCalledTimes(1)
    mint.mockRestore()
  })

  it('renews a certificate that expires within CREDENTIAL_MIN_VALID_DAYS, replacing it with If-Match', async () => {
    let now = Date.now()
    const { store, credentials } = service(new MemoryBlobStore(), () => new Date(now))
    const first = await credentials.ensure('tc', EUI)
    now += 334 * DAY // 31 days left: still fine
    expect(await credentials.ensure('tc', EUI)).toEqual(first)
    now += 2 * DAY // 29 days left: renew
    const renewed = await credentials.ensure('tc', EUI)
    expect(renewed?.equals(first ?? Buffer.alloc(0))).toBe(false)
    expect((await store.get(`cups/${EUI}/tc_cred.bin`))?.body).toEqual(renewed)
  })

  it('serves the winner after losing a creation race to another replica', async () => {
    const shared = new MemoryBlobStore()
    const a = service(shared).credentials
    const b = service(shared).credentials
    const [fromA, fromB] = await Promise.all([a.ensure('cups', EUI), b.ensure('cups', EUI)])
    expect(fromA).toEqual(fromB)
    expect((await shared.get(`cups/${EUI}/cups_cred.bin`))?.body).toEqual(fromA)
  })

  it('withholds a stored bundle that a station could not parse, and does not overwrite it', async () => {
    const { store, credentials } = service()
    const pem = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    await store.put(`cups/${EUI}/cups_cred.bin`, pem)
    expect(await credentials.ensure('cups', EUI)).toBeUndefined()
    expect((await store.get(`cups/${EUI}/cups_cred.bin`))?.body).toEqual(pem)
    expect(lines.some((line) => line.includes('not usable by a station') && !line.includes('BEGIN'))).toBe(true)
  })

  it('rebuilds its own bundle once with the same certificate and key when the trust changes', async () => {
    let current = { cups: trust, tc: trust }
    const { store, credentials } = service(new MemoryBlobStore(), () => new Date(), () => current)
    const before = splitCredentialBlob((await credentials.ensure('tc', EUI)) ?? Buffer.alloc(0))
    const lnsCa = readFileSync(path.join(fixturesDir(), 'tc-files-written', 'tc.trust'))
    current = { cups: trust, tc: lnsCa }
    const mint = vi.spyOn(minter, 'mint')
    const after = (await credentials.ensure('tc', EUI)) ?? Buffer.alloc(0)
    expect(mint).not.toHaveBeenCalled()
    mint.mockRestore()
    expect(splitCredentialBlob(after)).toEqual({ trust: lnsCa, certificate: before.certificate, key: before.key })
    expect((await store.get(`cups/${EUI}/tc_cred.bin`))?.body).toEqual(after)
    expect(await credentials.ensure('tc', EUI)).toEqual(after)
  })

  it('serves a bundle another tool minted as it is, even when its trust differs from ours', async () => {
    const { store, credentials } = service()
    const tcFiles = path.join(fixturesDir(), 'tc-files-written')
    const foreign = buildCredentialBlob({
      trust: readFileSync(path.join(tcFiles, 'tc.trust')),
      certificate: readFileSync(path.join(tcFiles, 'tc.crt')),
      privateKey: readFileSync(path.join(tcFiles, 'tc.key')),
    })
    await store.put(`cups/${EUI}/tc_cred.bin`, foreign)
    // The fixture certificate is long-lived, so only a trust rebuild could change it; it must not.
    expect(await credentials.ensure('tc', EUI, undefined)).toEqual(foreign)
  })

  it('does not replace an expiring bundle another CA issued', async () => {
    const tcFiles = path.join(fixturesDir(), 'tc-files-written')
    const foreign = buildCredentialBlob({
      trust: readFileSync(path.join(tcFiles, 'tc.trust')),
      certificate: readFileSync(path.join(tcFiles, 'tc.crt')),
      privateKey: readFileSync(path.join(tcFiles, 'tc.key')),
    })
    const farFuture = () => new Date(Date.UTC(2100, 0, 1))
    const { store, credentials } = service(new MemoryBlobStore(), farFuture)
    await store.put(`cups/${EUI}/tc_cred.bin`, foreign)
    const mint = vi.spyOn(minter, 'mint')
    expect(await credentials.ensure('tc', EUI)).toEqual(foreign)
    expect(mint).not.toHaveBeenCalled()
    mint.mockRestore()
  })

  it('withholds a CUPS bundle whose client certificate this server would not accept', async () => {
    const tcFiles = path.join(fixturesDir(), 'tc-files-written')
    const foreignIdentity = buildCredentialBlob({
      trust,
      certificate: readFileSync(path.join(tcFiles, 'tc.crt')),
      privateKey: readFileSync(path.join(tcFiles, 'tc.key')),
    })
    const { store, credentials } = service()
    await store.put(`cups/${EUI}/cups_cred.bin`, foreignIdentity)
    expect(await credentials.ensure('cups', EUI)).toBeUndefined()
    expect(lines.some((line) => line.includes('a CA this server does not accept'))).toBe(true)
  })

  it('serves a token bundle dropped in by another tool as it is, without minting', async () => {
    const { store, credentials } = service()
    const tokenBlob = buildCredentialBlob({ trust, token: 'Authorization: Bearer abc' })
    await store.put(`cups/${EUI}/cups_cred.bin`, tokenBlob)
    expect(await credentials.ensure('cups', EUI)).toEqual(tokenBlob)
  })
})
