// NodeCredentialMinter against real OpenSSL: what a station needs, equivalence with the OpenSSL engine, failures as MintingError.
import { execFile } from 'node:child_process'
import { createHash, X509Certificate } from 'node:crypto'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MintingError } from '../../../src/errors'
import { CaSnapshot } from '../../../src/pki/ca-snapshot'
import { parseCertificateTime } from '../../../src/pki/certificate-expiry'
import { isIssuedBy } from '../../../src/pki/certificates'
import type { ClientCredential } from '../../../src/pki/credential-minter'
import { contentBytes, elementBytes, readChildren, readElement } from '../../../src/pki/der'
import { ensureDevPki } from '../../../src/pki/dev-pki'
import type { NodeCredentialMinterOptions } from '../../../src/pki/node-credential-minter'
import { NodeCredentialMinter } from '../../../src/pki/node-credential-minter'
import { OpensslCredentialMinter } from '../../../src/pki/openssl-credential-minter'
import { opensslCheck } from '../../support/openssl-cli'
import { expectStationReadyKey } from '../../support/credential-checks'

const execFileAsync = promisify(execFile)
const DAY_MS = 86_400_000
const EUI = '0011223344556677'

interface TestCa {
  readonly certPath: string
  readonly keyPath: string
}

let root: string
let fileCount = 0
/** The development CA: EC P-256 with a subject key identifier, as the server generates it. */
let devCa: TestCa
/** EC, no SKI, a three-RDN subject with a PrintableString: the AKI falls back to issuer name and serial. */
let noSkiCa: TestCa
/** RSA-2048 with SKI: signatures become sha256WithRSAEncryption. */
let rsaCa: TestCa
/** A second EC CA, for swaps and mismatches. */
let otherCa: TestCa

async function makeCa(name: string, keyArgs: string[], subject: string, extensions: string): Promise<TestCa> {
  const ca = { certPath: path.join(root, `${name}.crt`), keyPath: path.join(root, `${name}.key`) }
  const config = path.join(root, `${name}.cnf`)
  await writeFile(config, `[req]\ndistinguished_name = dn\nx509_extensions = ca\nprompt = no\n[dn]\n[ca]\n${extensions}\n`)
  const { code, output } = await opensslCheck([
    'req', '-x509', '-new', ...keyArgs, '-noenc', '-keyout', ca.keyPath, '-out', ca.certPath,
    '-config', config, '-subj', subject, '-days', '100',
  ])
  expect(code, output).toBe(0)
  return ca
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']
const CA_EXTENSIONS = 'basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash'

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'cups-node-minter-test-'))
  await ensureDevPki(path.join(root, 'dev'), { log: () => undefined })
  devCa = { certPath: path.join(root, 'dev', 'ca.crt'), keyPath: path.join(root, 'dev', 'ca.key') }
  ;[noSkiCa, rsaCa, otherCa] = await Promise.all([
    // OpenSSL 3 adds an SKI to a CA unless told "none".
    makeCa('no-ski', EC_KEY, '/C=DE/O=Acme/CN=No SKI CA', 'basicConstraints = critical,CA:TRUE\nsubjectKeyIdentifier = none\nauthorityKeyIdentifier = none'),
    makeCa('rsa', ['-newkey', 'rsa:2048'], '/C=DE/O=Acme GmbH/CN=RSA Gateway CA', CA_EXTENSIONS),
    makeCa('other', EC_KEY, '/CN=Other Gateway CA', CA_EXTENSIONS),
  ])
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

function minter(ca: TestCa = devCa, overrides: Partial<NodeCredentialMinterOptions> = {}): NodeCredentialMinter {
  return new NodeCredentialMinter({ caCertPath: ca.certPath, caKeyPath: ca.keyPath, validityDays: 365, ...overrides })
}

async function scratchFile(bytes: Buffer | string, extension = 'der'): Promise<string> {
  const file = path.join(root, `scratch-${++fileCount}.${extension}`)
  await writeFile(file, bytes)
  return file
}

async function rejection(promise: Promise<unknown>): Promise<MintingError> {
  const err: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(err).toBeInstanceOf(MintingError)
  return err as MintingError
}

async function verifyAsClient(ca: TestCa, certificate: Buffer): Promise<{ code: number; output: string }> {
  const certFile = await scratchFile(new X509Certificate(certificate).toString(), 'pem')
  const result = await opensslCheck(['verify', '-CAfile', ca.certPath, '-purpose', 'sslclient', certFile])
  return { code: result.code, output: result.output.replace(certFile, '<cert>') }
}

async function x509Text(der: Buffer): Promise<string> {
  const { code, output } = await opensslCheck(['x509', '-inform', 'DER', '-noout', '-text', '-in', await scratchFile(der)])
  expect(code, output).toBe(0)
  return output
}

/** `openssl x509 -text` from "X509v3 extensions:" to the outer signature, and the SKI value lifted out (it names the leaf's own key). */
async function extensionSection(der: Buffer): Promise<{ text: string; subjectKeyIdentifier: string }> {
  const lines = (await x509Text(der)).split('\n')
  const start = lines.findIndex((line) => line.trim() === 'X509v3 extensions:')
  const end = lines.findIndex((line, i) => i > start && line.startsWith('    Signature Algorithm:'))
  expect(start).toBeGreaterThan(0)
  expect(end).toBeGreaterThan(start)
  const section = lines.slice(start, end)
  const skiAt = section.findIndex((line) => line.includes('X509v3 Subject Key Identifier'))
  expect(skiAt).toBeGreaterThan(0)
  const subjectKeyIdentifier = section[skiAt + 1]?.trim() ?? ''
  section[skiAt + 1] = '<ski>'
  return { text: section.join('\n'), subjectKeyIdentifier }
}

/**
 * `openssl asn1parse` as one line per element: depth, header length, form and type, with the values
 * that differ per credential (serial, times, the SKI octets) dropped. Object identifiers, names,
 * the version and every other extension's octets are kept, so they must match byte for byte.
 */
async function asn1Structure(der: Buffer): Promise<string[]> {
  const { code, output } = await opensslCheck(['asn1parse', '-inform', 'DER', '-in', await scratchFile(der)])
  expect(code, output).toBe(0)
  let previousObject = ''
  return output
    .trimEnd()
    .split('\n')
    .map((line) => {
      const match = /^\s*\d+:d=(\d+)\s+hl=(\d+)\s+l=\s*\d+\s+(cons|prim):\s*(.*)$/.exec(line)
      if (!match) throw new Error(`unexpected asn1parse line: ${line}`)
      const [, depth = '', headerLength = '', form = '', rest = ''] = match
      const colon = rest.indexOf(':')
      const type = (colon < 0 ? rest : rest.slice(0, colon)).replace(/\s+/g, ' ').trim()
      const value = colon < 0 ? '' : rest.slice(colon + 1).trim()
      const perCredential =
        (type === 'INTEGER' && depth === '2') ||
        type === 'UTCTIME' ||
        type === 'GENERALIZEDTIME' ||
        (type.startsWith('OCTET STRING') && previousObject === 'X509v3 Subject Key Identifier')
      if (type === 'OBJECT') previousObject = value
      return `d=${depth} hl=${headerLength} ${form} ${type}${perCredential || value === '' ? '' : `:${value}`}`
    })
}

/** The v3 TBSCertificate fields: version, serial, signature, issuer, validity, subject, key, extensions. */
function tbsFields(der: Buffer): { issuer: Buffer; subject: Buffer; serialContents: Buffer } {
  const [tbs] = readChildren(der, readElement(der))
  if (tbs === undefined) throw new Error('no TBSCertificate')
  const [version, serial, , issuer, , subject] = readChildren(der, tbs)
  if (version?.tag !== 0xa0 || serial === undefined || issuer === undefined || subject === undefined) throw new Error('not a v3 certificate')
  return { issuer: elementBytes(der, issuer), subject: elementBytes(der, subject), serialContents: contentBytes(der, serial) }
}

/** The 65-byte uncompressed point: the subjectPublicKey BIT STRING contents after its unused-bits byte. */
function publicPoint(certificate: Buffer): Buffer {
  const spki = new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'der' })
  return spki.subarray(spki.length - 65)
}

function colonHex(bytes: Buffer): string {
  return (bytes.toString('hex').toUpperCase().match(/../g) ?? []).join(':')
}

function validity(certificate: Buffer): { notBefore: number; notAfter: number } {
  const x509 = new X509Certificate(certificate)
  return { notBefore: parseCertificateTime(x509.validFrom).getTime(), notAfter: parseCertificateTime(x509.validTo).getTime() }
}

describe('a minted credential', () => {
  let credential: ClientCredential
  let mintedAt: number

  beforeAll(async () => {
    mintedAt = Date.now()
    credential = await minter().mint(EUI)
  })

  it('passes openssl verify -purpose sslclient against the CA', async () => {
    await expect(verifyAsClient(devCa, credential.certificate)).resolves.toEqual({ code: 0, output: '<cert>: OK\n' })
  })

  it('is issued and signed by the CA according to node:crypto', async () => {
    const caPem = await readFile(devCa.certPath)
    const certificate = new X509Certificate(credential.certificate)
    const ca = new X509Certificate(caPem)
    expect(certificate.checkIssued(ca)).toBe(true)
    expect(certificate.verify(ca.publicKey)).toBe(true)
    expect(isIssuedBy(credential.certificate, caPem)).toBe(true)
    // And not by another CA: the checks above can fail.
    expect(isIssuedBy(credential.certificate, await readFile(otherCa.certPath))).toBe(false)
  })

  it('has CN = the EUI, notBefore = the minting second, notAfter validityDays later, and that notAfter reported', () => {
    const certificate = new X509Certificate(credential.certificate)
    expect(certificate.subject).toBe(`CN=${EUI}`)
    expect(certificate.ca).toBe(false)
    const { notBefore, notAfter } = validity(credential.certificate)
    expect(notBefore).toBeGreaterThanOrEqual(Math.floor(mintedAt / 1000) * 1000)
    expect(notBefore).toBeLessThanOrEqual(Date.now())
    expect(notAfter - notBefore).toBe(365 * DAY_MS)
    expect(credential.notAfter.getTime()).toBe(notAfter)
  })

  it('carries the leaf extensions a client certificate needs, none critical', async () => {
    const text = await x509Text(credential.certificate)
    expect(text).toMatch(/Basic Constraints:\s+CA:FALSE/)
    expect(text).toMatch(/Key Usage:\s+Digital Signature, Key Encipherment/)
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication/)
    expect(text).toContain('Subject Key Identifier')
    expect(text).toContain('Authority Key Identifier')
    expect(text).toContain('ASN1 OID: prime256v1')
    expect(text).toContain('ecdsa-with-SHA256')
    expect(text).not.toContain('critical')
  })

  it('has SKI = SHA-1 of its public point and AKI = the CA key identifier alone', async () => {
    const { text, subjectKeyIdentifier } = await extensionSection(credential.certificate)
    expect(subjectKeyIdentifier).toBe(colonHex(createHash('sha1').update(publicPoint(credential.certificate)).digest()))
    const caText = await x509Text(new X509Certificate(await readFile(devCa.certPath)).raw)
    const caSki = /X509v3 Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(caText)?.[1]
    expect(caSki).toMatch(/^[0-9A-F]{2}(:[0-9A-F]{2}){19}$/)
    expect(text).toMatch(new RegExp(`X509v3 Authority Key Identifier:\\s*\\n\\s*${caSki ?? '-'}\\s*$`))
    expect(text).not.toContain('DirName')
  })

  it('has a 121-byte SEC1 key (30 77) whose public key is the certificate key', async () => {
    await expectStationReadyKey(credential)
  })

  it('reports the serial in the certificate: positive, at most 16 bytes, uppercase hex as X509Certificate prints it', () => {
    expect(credential.serial).toBe(new X509Certificate(credential.certificate).serialNumber)
    expect(credential.serial).toMatch(/^([0-9A-F]{2}){1,16}$/)
    const { serialContents } = tbsFields(credential.certificate)
    expect(serialContents.length).toBeLessThanOrEqual(16)
    expect((serialContents[0] ?? 0xff) & 0x80).toBe(0)
    expect(serialContents.toString('hex').toUpperCase()).toBe(credential.serial)
  })
})

describe('equivalence with OpensslCredentialMinter for the same CA', () => {
  // The CAs are made in beforeAll, hence getters.
  it.each<[string, number, () => TestCa]>([
    ['an EC CA with SKI (the development CA)', 365, () => devCa],
    ['an EC CA with SKI, notAfter past 2050 (GeneralizedTime)', 365 * 30, () => devCa],
    ['an EC CA without SKI (AKI by issuer name and serial)', 365, () => noSkiCa],
    ['an RSA CA (sha256WithRSAEncryption)', 365, () => rsaCa],
  ])('%s, %i days', async (_name, validityDays, getCa) => {
    const ca = getCa()
    const options = { caCertPath: ca.certPath, caKeyPath: ca.keyPath, validityDays }
    const fromOpenssl = (await new OpensslCredentialMinter(options).mint(EUI)).certificate
    const fromNode = (await new NodeCredentialMinter(options).mint(EUI)).certificate

    for (const certificate of [fromOpenssl, fromNode]) {
      await expect(verifyAsClient(ca, certificate)).resolves.toEqual({ code: 0, output: '<cert>: OK\n' })
    }

    // Same elements, depths, header sizes, OIDs, names and extension contents.
    const structure = await asn1Structure(fromNode)
    expect(structure).toEqual(await asn1Structure(fromOpenssl))

    const nodeExtensions = await extensionSection(fromNode)
    const opensslExtensions = await extensionSection(fromOpenssl)
    expect(nodeExtensions.text).toBe(opensslExtensions.text)
    // The one masked value follows the same rule in both: SHA-1 of the certificate's own point.
    for (const [certificate, section] of [[fromNode, nodeExtensions], [fromOpenssl, opensslExtensions]] as const) {
      expect(section.subjectKeyIdentifier).toBe(colonHex(createHash('sha1').update(publicPoint(certificate)).digest()))
    }

    // The issuer is the CA's subject, byte for byte (not re-encoded: the PrintableString C= survives).
    const caSubject = tbsFields(new X509Certificate(await readFile(ca.certPath)).raw).subject
    expect(tbsFields(fromNode).issuer.equals(caSubject)).toBe(true)
    expect(tbsFields(fromOpenssl).issuer.equals(caSubject)).toBe(true)

    const nodeValidity = validity(fromNode)
    const opensslValidity = validity(fromOpenssl)
    expect(Math.abs(nodeValidity.notAfter - nodeValidity.notBefore - (opensslValidity.notAfter - opensslValidity.notBefore))).toBeLessThanOrEqual(2_000)
    expect(nodeValidity.notAfter - nodeValidity.notBefore).toBe(validityDays * DAY_MS)
    expect(Math.abs(nodeValidity.notBefore - opensslValidity.notBefore)).toBeLessThanOrEqual(5_000)

    // Each case exercises what its name says.
    expect(structure.some((line) => line.endsWith('GENERALIZEDTIME'))).toBe(nodeValidity.notAfter >= Date.UTC(2050, 0, 1))
    expect(nodeExtensions.text.includes('DirName:/C=DE/O=Acme/CN=No SKI CA')).toBe(ca === noSkiCa)
    expect(structure.includes('d=3 hl=2 prim OBJECT:sha256WithRSAEncryption')).toBe(ca === rsaCa)
  })
})

describe('the CA files', () => {
  it('takes a CaSnapshot from memory and picks up its write() on the next mint', async () => {
    const [devDer, devKey, otherPem, otherKey] = await Promise.all([
      readFile(devCa.certPath).then((pem) => new X509Certificate(pem).raw),
      readFile(devCa.keyPath),
      readFile(otherCa.certPath),
      readFile(otherCa.keyPath),
    ])
    const snapshot = await CaSnapshot.create(devDer, devKey, { tmpRoot: root })
    try {
      const m = new NodeCredentialMinter({ ca: snapshot, validityDays: 365 })
      expect(isIssuedBy((await m.mint(EUI)).certificate, devDer)).toBe(true)
      await snapshot.write(new X509Certificate(otherPem).raw, otherKey)
      const afterSwap = (await m.mint(EUI)).certificate
      expect(isIssuedBy(afterSwap, otherPem)).toBe(true)
      expect(isIssuedBy(afterSwap, devDer)).toBe(false)
    } finally {
      await snapshot.remove()
    }
  })

  it('picks up files overwritten in place', async () => {
    const ca = { certPath: path.join(root, 'in-place.crt'), keyPath: path.join(root, 'in-place.key') }
    await copyFile(devCa.certPath, ca.certPath)
    await copyFile(devCa.keyPath, ca.keyPath)
    const m = minter(ca)
    expect(isIssuedBy((await m.mint(EUI)).certificate, await readFile(devCa.certPath))).toBe(true)
    await writeFile(ca.certPath, await readFile(otherCa.certPath))
    await writeFile(ca.keyPath, await readFile(otherCa.keyPath))
    expect(isIssuedBy((await m.mint(EUI)).certificate, await readFile(otherCa.certPath))).toBe(true)
  })

  it('reads a DER CA certificate', async () => {
    const derCert = await scratchFile(new X509Certificate(await readFile(devCa.certPath)).raw)
    const { certificate } = await minter({ certPath: derCert, keyPath: devCa.keyPath }).mint(EUI)
    await expect(verifyAsClient(devCa, certificate)).resolves.toEqual({ code: 0, output: '<cert>: OK\n' })
  })

  it('does not cache a failed load: the next mint reads the files again', async () => {
    const ca = { certPath: devCa.certPath, keyPath: path.join(root, 'arrives-later.key') }
    const m = minter(ca)
    await rejection(m.mint(EUI))
    await copyFile(devCa.keyPath, ca.keyPath)
    await expect(m.mint(EUI)).resolves.toMatchObject({ serial: expect.stringMatching(/^[0-9A-F]+$/) as unknown })
  })
})

describe('mint() refusals and scheduling', () => {
  const nowhere = { certPath: '/nonexistent/ca.crt', keyPath: '/nonexistent/ca.key' }

  it.each(['', '001122334455667', '00112233445566778', '0011223344556G77', 'A011223344556677', '-CAkey /etc/x', '0011223344556677\n'])(
    'refuses EUI %j before touching the CA files',
    async (eui) => {
      const err = await rejection(minter(nowhere).mint(eui))
      expect(err.message).toBe('refusing to mint: the EUI must be 16 lowercase hex digits')
    },
  )

  it('does not start a mint whose signal has already fired, and rejects with its reason', async () => {
    const answered = new AbortController()
    answered.abort(new Error('answered without it'))
    // The CA files do not exist: a started mint would fail with MintingError instead.
    await expect(minter(nowhere).mint(EUI, answered.signal)).rejects.toBe(answered.signal.reason)
  })

  it('skips a queued mint whose request was answered meanwhile', async () => {
    const m = minter(devCa, { maxConcurrent: 1 })
    const answered = new AbortController()
    const running = m.mint(EUI)
    const queued = m.mint('0011223344556678', answered.signal)
    answered.abort()
    await expect(running).resolves.toBeDefined()
    await expect(queued).rejects.toBe(answered.signal.reason)
  })

  it('gives concurrent mints distinct identities, all valid', async () => {
    const m = minter()
    const euis = Array.from({ length: 12 }, (_, i) => `00000000000000${i.toString(16).padStart(2, '0')}`)
    const results = await Promise.all([m.mint(EUI), m.mint(EUI), ...euis.map((eui) => m.mint(eui))])
    expect(new Set(results.map((r) => r.serial)).size).toBe(results.length)
    expect(new Set(results.map((r) => r.privateKey.toString('hex'))).size).toBe(results.length)
    expect(results.slice(2).map((r) => new X509Certificate(r.certificate).subject)).toEqual(euis.map((eui) => `CN=${eui}`))
    const caPem = await readFile(devCa.certPath)
    expect(results.every((r) => isIssuedBy(r.certificate, caPem))).toBe(true)
  })

  it('refuses a nonsensical validity or concurrency at construction', () => {
    expect(() => minter(devCa, { validityDays: 0 })).toThrow(RangeError)
    expect(() => minter(devCa, { validityDays: 1.5 })).toThrow(RangeError)
    expect(() => minter(devCa, { maxConcurrent: 0 })).toThrow(RangeError)
  })
})

describe('mint() failures', () => {
  it('reports a missing CA key as MintingError naming the file', async () => {
    const missing = path.join(root, 'no-such-dir', 'ca.key')
    const err = await rejection(minter({ certPath: devCa.certPath, keyPath: missing }).mint(EUI))
    expect(err.message).toMatch(/^minting failed: ENOENT/)
    expect(err.message).toContain(missing)
    expect(err.code).toBe('MINTING_FAILED')
  })

  it('refuses a FIFO as CA key at once instead of blocking a thread-pool thread on it', async () => {
    const fifo = path.join(root, 'stuck-ca.key')
    await execFileAsync('mkfifo', [fifo])
    const err = await rejection(minter({ certPath: devCa.certPath, keyPath: fifo }).mint(EUI))
    expect(err.message).toBe(`minting failed: ${fifo} is not a regular file`)
  })

  it('fails an encrypted CA key with a message that says so', async () => {
    const encrypted = path.join(root, 'encrypted-ca.key')
    const { code } = await opensslCheck(['pkey', '-in', devCa.keyPath, '-aes256', '-passout', 'pass:secret', '-out', encrypted])
    expect(code).toBe(0)
    const err = await rejection(minter({ certPath: devCa.certPath, keyPath: encrypted }).mint(EUI))
    expect(err.message).toBe(`minting failed: the CA key ${encrypted} is encrypted; an unencrypted PEM key is required`)
  })

  it('refuses a CA key that does not belong to the CA certificate, as OpenSSL does', async () => {
    const err = await rejection(minter({ certPath: devCa.certPath, keyPath: otherCa.keyPath }).mint(EUI))
    expect(err.message).toBe(`minting failed: the CA certificate ${devCa.certPath} and key ${otherCa.keyPath} do not match`)
  })

  it('never puts CA key material in the message when the files are swapped', async () => {
    const keyText = await readFile(devCa.keyPath, 'utf8')
    const base64Lines = keyText.split('\n').filter((line) => /^[A-Za-z0-9+/=]{16,}$/.test(line))
    expect(base64Lines.length).toBeGreaterThan(0)
    const err = await rejection(minter({ certPath: devCa.keyPath, keyPath: devCa.certPath }).mint(EUI))
    expect(err.message).toMatch(/^minting failed: /)
    for (const line of base64Lines) expect(`${err.message}${err.stderr}`).not.toContain(line)
    expect(err.message).not.toContain('PRIVATE KEY')
  })

  it('refuses a CA whose key is neither EC nor RSA, naming what it supports', async () => {
    const ed25519 = await makeCa('ed25519', ['-newkey', 'ed25519'], '/CN=Ed25519 CA', CA_EXTENSIONS)
    const err = await rejection(minter(ed25519).mint(EUI))
    expect(err.message).toBe('minting failed: the CA key is ed25519; this engine signs with EC or RSA (PKCS#1 v1.5) CA keys only')
  })

  it('refuses a CA certificate file that holds no certificate', async () => {
    const garbage = await scratchFile('not a certificate\n', 'crt')
    const err = await rejection(minter({ certPath: garbage, keyPath: devCa.keyPath }).mint(EUI))
    expect(err.message).toMatch(/^minting failed: .*holds no certificate/)
  })
})
