// checkClientCertificate with certificates the openssl CLI made: what proves a gateway, whatever TLS said.
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkClientCertificate, ClientCertificateChecker } from '../../../src/pki/client-certificate-check'
import type { ClientAuthorities } from '../../../src/pki/client-certificate-check'
import { issue, newAuthority, validNow } from '../../support/test-certificates'
import type { Authority } from '../../support/test-certificates'

const EUI = '0016c001ff10a235'
const der = (pem: string): Buffer => Buffer.from(new X509Certificate(pem).raw)

describe('checkClientCertificate', () => {
  let work: string
  let ours: Authority
  let factory: Authority
  let authorities: ClientAuthorities
  let n = 0
  const next = (): string => path.join(work, String(++n))

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'cups-certcheck-'))
    ours = await newAuthority(path.join(work, 'ours'), 'Gateway CA')
    factory = await newAuthority(path.join(work, 'factory'), 'Factory CA')
    authorities = {
      ours: [new X509Certificate(await readFile(ours.cert))],
      factory: [new X509Certificate(await readFile(factory.cert))],
    }
  })
  afterAll(() => rm(work, { recursive: true, force: true }))

  it('accepts a client leaf of ours, with its names, fingerprint and dates', async () => {
    const leaf = await issue(next(), ours, { subject: `/CN=${EUI}`, dnsNames: ['gw.example.com'], ...validNow() })
    const check = checkClientCertificate(der(leaf.cert), authorities)
    expect(check).toMatchObject({ ok: true, authority: 'ours', names: [EUI, 'gw.example.com'] })
    if (!check.ok) throw new Error(check.reason)
    expect(check.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(check.notAfter.getTime()).toBeGreaterThan(Date.now())
  })

  it('tells a factory leaf apart', async () => {
    const leaf = await issue(next(), factory, { subject: `/CN=${EUI}`, ...validNow() })
    expect(checkClientCertificate(der(leaf.cert), authorities)).toMatchObject({ ok: true, authority: 'factory' })
  })

  it.each([
    ['self-signed with the right CN', async () => (await newAuthority(next(), EUI)).cert],
    ['issued by a forger whose CA has our CA name', async () => (await issue(next(), await newAuthority(next(), 'Gateway CA'), { subject: `/CN=${EUI}`, ...validNow() })).cert],
  ])('refuses a certificate %s', async (_name, make) => {
    const pem = await make()
    const content = pem.startsWith('-----') ? pem : await readFile(pem, 'utf8')
    expect(checkClientCertificate(der(content), authorities)).toEqual({ ok: false, reason: 'not issued by a CA this server accepts for gateways' })
  })

  it('refuses our CA certificate itself as a client certificate', async () => {
    expect(checkClientCertificate(der(await readFile(ours.cert, 'utf8')), authorities)).toEqual({
      ok: false,
      reason: 'a CA certificate is not a client certificate',
    })
  })

  it('refuses a leaf of ours made for servers only', async () => {
    const leaf = await issue(next(), ours, { subject: `/CN=${EUI}`, extendedKeyUsage: 'serverAuth', ...validNow() })
    expect(checkClientCertificate(der(leaf.cert), authorities)).toMatchObject({ ok: false, reason: /client authentication/ })
  })

  it('refuses trailing bytes and garbage', async () => {
    const leaf = der((await issue(next(), ours, { subject: `/CN=${EUI}`, ...validNow() })).cert)
    expect(checkClientCertificate(Buffer.concat([leaf, Buffer.from([0])]), authorities)).toMatchObject({ ok: false })
    expect(checkClientCertificate(Buffer.from('garbage'), authorities)).toEqual({ ok: false, reason: 'not an X.509 certificate' })
  })

  it('the memo forgets everything when the authorities change (a CA removed by a reload stops vouching at once)', async () => {
    const leaf = der((await issue(next(), ours, { subject: `/CN=${EUI}`, ...validNow() })).cert)
    let current = authorities
    const checker = new ClientCertificateChecker(() => current)
    expect(checker.check(leaf).ok).toBe(true)
    expect(checker.check(leaf).ok).toBe(true)
    current = { ours: [], factory: authorities.factory }
    expect(checker.check(leaf)).toMatchObject({ ok: false })
  })
})
