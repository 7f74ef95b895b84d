// ensureDevPki against real OpenSSL: generated files, SANs the station can match, modes, idempotence, partial sets.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import { cp, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_CA_COMMON_NAME, DEV_PKI_FILES, ensureDevPki } from '../../../src/pki/dev-pki'
import type { DevPkiWarning } from '../../../src/pki/dev-pki'
import { opensslCheck } from '../../support/openssl-cli'

const DAY_MS = 86_400_000


function collectingLog(): { messages: string[]; fields: DevPkiWarning[]; log: (message: string, fields?: DevPkiWarning) => void } {
  const messages: string[] = []
  const fields: DevPkiWarning[] = []
  return {
    messages,
    fields,
    log: (message, details) => {
      messages.push(message)
      if (details !== undefined) fields.push(details)
    },
  }
}

let root: string
let certPath: string
let result: 'existing' | 'generated'
const logged = collectingLog()

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'cups-dev-pki-test-'))
  // A directory that does not exist yet: ensureDevPki creates it.
  certPath = path.join(root, 'certs')
  result = await ensureDevPki(certPath, {
    serverNames: ['cups.example.test'],
    ipAddresses: ['10.0.0.5'],
    log: logged.log,
    port: 6040,
  })
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

const file = (name: string): string => path.join(certPath, name)
const certificate = async (name: string): Promise<X509Certificate> => new X509Certificate(await readFile(file(name)))

describe('ensureDevPki on an empty directory', () => {
  it('generates exactly the four files and leaves no work directory behind', async () => {
    expect(result).toBe('generated')
    expect((await readdir(certPath)).sort()).toEqual([...DEV_PKI_FILES].sort())
  })

  it('writes the keys 0600', async () => {
    for (const name of ['ca.key', 'cups.key']) expect((await stat(file(name))).mode & 0o777).toBe(0o600)
  })

  it('makes a self-signed 10-year P-256 CA with critical CA:TRUE and keyCertSign, cRLSign', async () => {
    const ca = await certificate('ca.crt')
    expect(ca.ca).toBe(true)
    expect(ca.subject).toBe(`CN=${DEV_CA_COMMON_NAME}`)
    expect(ca.checkIssued(ca) && ca.verify(ca.publicKey)).toBe(true)
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
    const lifetimeDays = (Date.parse(ca.validTo) - Date.parse(ca.validFrom)) / DAY_MS
    expect(lifetimeDays).toBe(3650)
    const { output } = await opensslCheck(['x509', '-in', file('ca.crt'), '-noout', '-text'])
    expect(output).toMatch(/Basic Constraints: critical\s+CA:TRUE/)
    expect(output).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/)
    expect(output).toContain('Subject Key Identifier')
    expect(output).toContain('Authority Key Identifier')
  })

  it('gives the server certificate the default and extra names, each IP also as a DNS name', async () => {
    const server = await certificate('cups.crt')
    const names = (server.subjectAltName ?? '').split(', ').sort()
    expect(names).toEqual(
      [
        'DNS:localhost',
        'DNS:127.0.0.1',
        'DNS:cups.example.test',
        'DNS:10.0.0.5',
        'IP Address:127.0.0.1',
        'IP Address:10.0.0.5',
      ].sort(),
    )
    expect(server.ca).toBe(false)
    const lifetimeDays = (Date.parse(server.validTo) - Date.parse(server.validFrom)) / DAY_MS
    expect(lifetimeDays).toBe(825)
    const { output } = await opensslCheck(['x509', '-in', file('cups.crt'), '-noout', '-text'])
    expect(output).toContain('CA:FALSE')
    expect(output).toContain('Digital Signature, Key Encipherment')
    expect(output).toContain('TLS Web Server Authentication')
  })

  it('chains to the CA for sslserver, and matches 127.0.0.1 as a host name (what mbedTLS checks)', async () => {
    const verify = (extra: string[]) =>
      opensslCheck(['verify', '-CAfile', file('ca.crt'), '-purpose', 'sslserver', ...extra, file('cups.crt')])
    await expect(verify([])).resolves.toEqual({ code: 0, output: `${file('cups.crt')}: OK\n` })
    // -verify_hostname with an IP literal matches DNS SANs only (an IP-SAN-only cert fails it).
    for (const host of ['127.0.0.1', 'localhost', 'cups.example.test', '10.0.0.5']) {
      expect((await verify(['-verify_hostname', host])).code).toBe(0)
    }
    expect((await verify(['-verify_hostname', 'elsewhere.example.test'])).code).not.toBe(0)
  })

  it('pairs each key with its certificate', async () => {
    for (const [cert, key] of [
      ['ca.crt', 'ca.key'],
      ['cups.crt', 'cups.key'],
    ] as const) {
      const fromKey = createPublicKey(createPrivateKey(await readFile(file(key)))).export({ type: 'spki', format: 'der' })
      const fromCert = (await certificate(cert)).publicKey.export({ type: 'spki', format: 'der' })
      expect(fromKey.equals(fromCert)).toBe(true)
    }
  })

  it('logs one loud warning: a message that reads on its own, and fields saying where, what, and how to use it', () => {
    const warnings = logged.messages.filter((message) => message.includes('NOT FOR PRODUCTION'))
    expect(warnings).toEqual([`DEVELOPMENT PKI generated in ${certPath}: NOT FOR PRODUCTION (anyone holding its ca.key can mint credentials this server accepts)`])
    expect(logged.fields).toHaveLength(1)
    const fields = logged.fields[0]
    expect(fields).toMatchObject({ devPki: true, certPath })
    expect(fields?.files).toContain(DEV_CA_COMMON_NAME)
    expect(fields?.serverNames).toBe('DNS:localhost, DNS:127.0.0.1, DNS:cups.example.test, DNS:10.0.0.5, IP:127.0.0.1, IP:10.0.0.5')
    expect(fields?.forProduction).toBe(`put your own ca.crt, ca.key, cups.crt and cups.key in ${certPath} instead`)
    expect(fields?.stationCupsTrust).toContain(`openssl x509 -in ${file('ca.crt')} -outform DER -out cups.trust`)
    expect(fields?.stationCupsUri).toMatch(/^https:\/\/localhost:6040 /)
    // Every line a log pipeline sees stays one line.
    for (const text of [...logged.messages, ...Object.values(fields ?? {}).map(String)]) {
      expect(text).not.toMatch(/PRIVATE KEY|BEGIN|\n/)
    }
  })
})

describe('ensureDevPki on a directory that already has the set', () => {
  it("returns 'existing', changes nothing and logs nothing", async () => {
    const before = await Promise.all(DEV_PKI_FILES.map(async (name) => [await readFile(file(name)), (await stat(file(name))).mtimeMs]))
    const again = collectingLog()
    await expect(ensureDevPki(certPath, { log: again.log })).resolves.toBe('existing')
    const after = await Promise.all(DEV_PKI_FILES.map(async (name) => [await readFile(file(name)), (await stat(file(name))).mtimeMs]))
    expect(after).toEqual(before)
    expect((await readdir(certPath)).sort()).toEqual([...DEV_PKI_FILES].sort())
    expect(again.messages).toEqual([])
  })
})

describe('ensureDevPki on a partial set', () => {
  it('refuses, naming what exists and what is missing, and writes nothing', async () => {
    const partial = path.join(root, 'partial')
    await cp(certPath, partial, { recursive: true })
    await rm(path.join(partial, 'ca.crt'))
    await rm(path.join(partial, 'cups.key'))
    const run = collectingLog()
    const attempt = ensureDevPki(partial, { log: run.log })
    await expect(attempt).rejects.toThrow(/found ca\.key, cups\.crt; missing ca\.crt, cups\.key/)
    await expect(attempt).rejects.toThrow(/Restore the missing files, or empty the directory/)
    expect((await readdir(partial)).sort()).toEqual(['ca.key', 'cups.crt'])
    expect(run.messages).toEqual([])
  })
})

describe('ensureDevPki with a pino-shaped logger and bad names', () => {
  it('sends progress to info and the banner to warn, as pino is called: fields first, then the message', async () => {
    const info: string[] = []
    const warn: [DevPkiWarning, string][] = []
    const dir = path.join(root, 'pino-shaped')
    const log = { info: (message: string) => info.push(message), warn: (fields: DevPkiWarning, message: string) => warn.push([fields, message]) }
    const outcome = await ensureDevPki(dir, { log })
    expect(outcome).toBe('generated')
    expect(info).toHaveLength(1)
    expect(warn).toHaveLength(1)
    expect(warn[0]?.[1]).toMatch(/^DEVELOPMENT PKI generated in .*: NOT FOR PRODUCTION/)
    expect(warn[0]?.[0]).toMatchObject({ devPki: true, certPath: dir })
    expect(warn[0]?.[0].stationCupsUri).toMatch(/^https:\/\/localhost:<port> /)
  })

  it('refuses a name that could break the OpenSSL config before writing anything', async () => {
    const dir = path.join(root, 'bad-names')
    const attempt = ensureDevPki(dir, {
      serverNames: ['ok.example.test', 'evil\nIP.9 = 1.2.3.4'],
      ipAddresses: ['300.1.1.1'],
      log: () => undefined,
    })
    await expect(attempt).rejects.toThrow(/not a DNS name: "evil\nIP\.9 = 1\.2\.3\.4"; not an IP address: "300\.1\.1\.1"/)
    await expect(stat(dir)).rejects.toThrow(/ENOENT/)
  })
})
