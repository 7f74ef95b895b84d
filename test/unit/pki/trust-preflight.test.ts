// preflightTrust and checkServerHost against PKIs built with the real openssl CLI: chains, trust, names, validity.
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCertificateTime } from '../../../src/pki/certificate-expiry'
import { ensureDevPki } from '../../../src/pki/dev-pki'
import { parseCertificates } from '../../../src/pki/certificates'
import { checkServerHost, preflightTrust } from '../../../src/pki/trust-preflight'

const execFileAsync = promisify(execFile)
const DAY_MS = 86_400_000

// One config, one extensions section per kind of certificate; -extensions picks it, so the system
// openssl.cnf (whose req section would make every certificate a CA) is never consulted.
const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer
[not_ca]
basicConstraints = critical,CA:FALSE
subjectKeyIdentifier = hash
[server_dns]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
subjectAltName = DNS:cups.example.com,IP:192.0.2.7
[server_ip_only]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid,issuer
subjectAltName = IP:10.0.0.1
[server_wildcard]
basicConstraints = CA:FALSE
authorityKeyIdentifier = keyid,issuer
subjectAltName = DNS:*.Example.com
[server_no_san]
basicConstraints = CA:FALSE
authorityKeyIdentifier = keyid,issuer
[client_only]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid,issuer
subjectAltName = DNS:cups.example.com
`

let dir: string
const pem: Record<string, Buffer> = {}
/** cups.trust as the server hands it out: DER. */
const der = (name: string): Buffer => new X509Certificate(need(name)).raw

function need(name: string): Buffer {
  const content = pem[name]
  if (content === undefined) throw new Error(`test certificate ${name} was not generated`)
  return content
}

/** A certificate and key named name; self-signed unless issuer names an earlier one. */
async function mint(name: string, subject: string, extensions: string, issuer?: string): Promise<void> {
  await execFileAsync(
    'openssl',
    [
      'req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
      '-keyout', `${name}.key`, '-out', `${name}.crt`, '-config', 'openssl.cnf', '-extensions', extensions,
      '-subj', subject, '-days', '30', '-sha256',
      ...(issuer === undefined ? [] : ['-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`]),
    ],
    { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
  )
  pem[name] = await readFile(path.join(dir, `${name}.crt`))
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cups-trust-preflight-'))
  await ensureDevPki(path.join(dir, 'dev'), { log: () => undefined })
  pem.devCa = await readFile(path.join(dir, 'dev', 'ca.crt'))
  pem.devServer = await readFile(path.join(dir, 'dev', 'cups.crt'))
  await writeFile(path.join(dir, 'devCa.crt'), need('devCa'))
  await writeFile(path.join(dir, 'devCa.key'), await readFile(path.join(dir, 'dev', 'ca.key')))
  await writeFile(path.join(dir, 'openssl.cnf'), OPENSSL_CONFIG)

  await mint('ipOnly', '/CN=10.0.0.1', 'server_ip_only', 'devCa')
  await mint('unrelatedCa', '/CN=Unrelated CA', 'ca')
  await mint('root', '/CN=Test Root CA', 'ca')
  await mint('intermediate', '/CN=Test Intermediate CA', 'ca', 'root')
  await mint('leafViaIntermediate', '/CN=cups.example.com', 'server_dns', 'intermediate')
  await mint('fakeCa', '/CN=Not Really A CA', 'not_ca')
  await mint('leafViaFakeCa', '/CN=cups.example.com', 'server_dns', 'fakeCa')
  await mint('wildcard', '/CN=ignored.example.net', 'server_wildcard', 'root')
  await mint('noSan', '/CN=cups.example.net', 'server_no_san', 'root')
  await mint('clientOnly', '/CN=cups.example.com', 'client_only', 'root')
  // Same name as root, different key: what a regenerated CA looks like to an old server certificate.
  await mint('rootTwin', '/CN=Test Root CA', 'ca')
  await mint('leafDirect', '/CN=cups.example.com', 'server_dns', 'root')
}, 60_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('preflightTrust with the development PKI', () => {
  it('passes for https://localhost and https://127.0.0.1 (the dev certificate carries DNS:127.0.0.1)', () => {
    for (const cupsUri of ['https://localhost:8443', 'https://127.0.0.1:8443', 'https://LOCALHOST:8443']) {
      expect(() => {
        preflightTrust({ cupsTrust: der('devCa'), serverCertificatePem: need('devServer'), cupsUri })
      }).not.toThrow()
    }
  })

  it('passes without a cups uri, and skips the name for plain http (no TLS on the station)', () => {
    expect(() => {
      preflightTrust({ cupsTrust: der('devCa'), serverCertificatePem: need('devServer'), cupsUri: undefined })
    }).not.toThrow()
    expect(() => {
      preflightTrust({ cupsTrust: der('devCa'), serverCertificatePem: need('devServer'), cupsUri: 'http://cups.elsewhere.org:80' })
    }).not.toThrow()
  })

  it('fails for a host that is not among the DNS names, naming the host and the fix', () => {
    expect(() => {
      preflightTrust({ cupsTrust: der('devCa'), serverCertificatePem: need('devServer'), cupsUri: 'https://cups.example.org:443' })
    }).toThrow(/"cups\.example\.org" does not match.*DNS names localhost, 127\.0\.0\.1.*DNS:cups\.example\.org/)
  })

  it('fails for a certificate whose only SAN is IP:10.0.0.1, explaining IP SANs and suggesting DNS:10.0.0.1', () => {
    expect(() => {
      preflightTrust({ cupsTrust: der('devCa'), serverCertificatePem: need('ipOnly'), cupsUri: 'https://10.0.0.1:443' })
    }).toThrow(/10\.0\.0\.1 only as an IP SAN.*never IP SANs.*DNS:10\.0\.0\.1/)
  })

  it('fails when the trust is an unrelated CA', () => {
    expect(() => {
      preflightTrust({ cupsTrust: der('unrelatedCa'), serverCertificatePem: need('devServer'), cupsUri: 'https://localhost:8443' })
    }).toThrow(/issued by "CN=CUPS Development CA.*neither the CUPS trust certificate \("CN=Unrelated CA"/)
  })

  it('accepts the trust as PEM too and still refuses a server certificate file with no certificate', () => {
    expect(() => {
      preflightTrust({ cupsTrust: need('devCa'), serverCertificatePem: need('devServer'), cupsUri: undefined })
    }).not.toThrow()
    expect(() => {
      preflightTrust({ cupsTrust: der('devCa'), serverCertificatePem: Buffer.from('not a certificate\n'), cupsUri: undefined })
    }).toThrow(/server certificate file: holds no certificate/)
  })
})

describe('preflightTrust chain walking', () => {
  const chain = (...names: string[]): Buffer => Buffer.concat(names.map(need))

  it('passes with leaf + intermediate in the file and the root as trust', () => {
    expect(() => {
      preflightTrust({
        cupsTrust: der('root'),
        serverCertificatePem: chain('leafViaIntermediate', 'intermediate'),
        cupsUri: 'https://cups.example.com:443',
      })
    }).not.toThrow()
  })

  it('passes when the file also ends with the trust itself', () => {
    expect(() => {
      preflightTrust({
        cupsTrust: der('root'),
        serverCertificatePem: chain('leafViaIntermediate', 'intermediate', 'root'),
        cupsUri: 'https://cups.example.com:443',
      })
    }).not.toThrow()
  })

  it('passes when the intermediate itself is the trust (mbedTLS tries the trust first)', () => {
    expect(() => {
      preflightTrust({ cupsTrust: der('intermediate'), serverCertificatePem: chain('leafViaIntermediate'), cupsUri: undefined })
    }).not.toThrow()
  })

  it('fails when the intermediate is missing from the file, because mbedTLS never fetches it', () => {
    expect(() => {
      preflightTrust({ cupsTrust: der('root'), serverCertificatePem: chain('leafViaIntermediate'), cupsUri: undefined })
    }).toThrow(/issued by "CN=Test Intermediate CA".*never fetches a missing intermediate.*append the intermediate/)
  })

  it('fails when the certificate after the leaf is not its issuer', () => {
    expect(() => {
      preflightTrust({
        cupsTrust: der('root'),
        serverCertificatePem: chain('leafViaIntermediate', 'unrelatedCa', 'intermediate'),
        cupsUri: undefined,
      })
    }).toThrow(/next certificate in the file is "CN=Unrelated CA".*the leaf, then its issuer/)
  })

  it('fails when the trust is not a CA even though it signed the leaf', () => {
    expect(() => {
      preflightTrust({ cupsTrust: der('fakeCa'), serverCertificatePem: chain('leafViaFakeCa'), cupsUri: undefined })
    }).toThrow(/CUPS trust certificate \("CN=Not Really A CA".*is not a CA/)
  })

  it('fails when an intermediate in the file is not a CA', () => {
    expect(() => {
      preflightTrust({ cupsTrust: der('unrelatedCa'), serverCertificatePem: chain('leafViaFakeCa', 'fakeCa'), cupsUri: undefined })
    }).toThrow(/intermediate #1 .*"CN=Not Really A CA".*is not a CA/)
  })

  it('fails when the trust has the right name but a different key, and says so', () => {
    expect(() => {
      preflightTrust({ cupsTrust: der('rootTwin'), serverCertificatePem: chain('leafDirect'), cupsUri: undefined })
    }).toThrow(/trust certificate's key did not sign it/)
  })
})

describe('preflightTrust validity and usage', () => {
  const leaf = (): X509Certificate => new X509Certificate(need('devServer'))

  it('fails for an expired leaf, giving its notAfter', () => {
    const notAfter = parseCertificateTime(leaf().validTo)
    const now = new Date(notAfter.getTime() + DAY_MS)
    expect(() => {
      preflightTrust({ cupsTrust: der('devCa'), serverCertificatePem: need('devServer'), cupsUri: undefined, now })
    }).toThrow(new RegExp(`the server certificate .*expired at ${notAfter.toISOString()}`))
    // The same inputs pass the day before: it is the date that fails, nothing else.
    expect(() => {
      preflightTrust({ cupsTrust: der('devCa'), serverCertificatePem: need('devServer'), cupsUri: undefined, now: new Date(notAfter.getTime() - DAY_MS) })
    }).not.toThrow()
  })

  it('fails for certificates not yet valid, and for an expired trust', () => {
    const notBefore = parseCertificateTime(leaf().validFrom)
    expect(() => {
      preflightTrust({ cupsTrust: der('devCa'), serverCertificatePem: need('devServer'), cupsUri: undefined, now: new Date(notBefore.getTime() - DAY_MS) })
    }).toThrow(/not valid before/)
    const trustNotAfter = parseCertificateTime(new X509Certificate(need('devCa')).validTo)
    expect(() => {
      preflightTrust({ cupsTrust: der('devCa'), serverCertificatePem: need('devServer'), cupsUri: undefined, now: new Date(trustNotAfter.getTime() + DAY_MS) })
    }).toThrow(/the CUPS trust certificate .*expired at/)
  })

  it('fails for a leaf whose extended key usage lacks serverAuth', () => {
    expect(() => {
      preflightTrust({ cupsTrust: der('root'), serverCertificatePem: need('clientOnly'), cupsUri: undefined })
    }).toThrow(/without serverAuth/)
  })
})

describe('checkServerHost (mbedTLS name rules)', () => {
  const cert = (name: string): X509Certificate => new X509Certificate(need(name))

  it('matches DNS SANs case-insensitively and never an IP SAN', () => {
    expect(checkServerHost(cert('leafDirect'), 'cups.example.com')).toBe(true)
    expect(checkServerHost(cert('leafDirect'), 'CUPS.Example.COM')).toBe(true)
    expect(checkServerHost(cert('leafDirect'), '192.0.2.7')).toBe(false)
    expect(checkServerHost(cert('ipOnly'), '10.0.0.1')).toBe(false)
    expect(checkServerHost(cert('devServer'), '127.0.0.1')).toBe(true)
  })

  it('lets a wildcard stand for exactly one non-empty label', () => {
    expect(checkServerHost(cert('wildcard'), 'cups.example.com')).toBe(true)
    expect(checkServerHost(cert('wildcard'), 'a.b.example.com')).toBe(false)
    expect(checkServerHost(cert('wildcard'), 'example.com')).toBe(false)
    expect(checkServerHost(cert('wildcard'), '.example.com')).toBe(false)
  })

  it('uses the CN only when there is no subjectAltName extension', () => {
    expect(checkServerHost(cert('noSan'), 'cups.example.net')).toBe(true)
    expect(checkServerHost(cert('noSan'), 'other.example.net')).toBe(false)
    // The wildcard certificate's CN is ignored.example.net: with a SAN extension present it does not count.
    expect(checkServerHost(cert('wildcard'), 'ignored.example.net')).toBe(false)
  })
})

describe('parseCertificates', () => {
  it('returns every PEM certificate in order, or one DER certificate', () => {
    const certificates = parseCertificates(Buffer.concat([need('leafViaIntermediate'), need('intermediate')]), 'chain.pem')
    expect(certificates.map((certificate) => certificate.subject)).toEqual(['CN=cups.example.com', 'CN=Test Intermediate CA'])
    expect(parseCertificates(der('root'), 'root.der')[0]?.subject).toBe('CN=Test Root CA')
  })

  it('names the file and the certificate that does not parse', () => {
    const broken = Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
    expect(() => parseCertificates(Buffer.concat([need('root'), broken]), 'chain.pem')).toThrow(
      /chain\.pem \(certificate #2\): is not a valid X\.509 certificate/,
    )
    expect(() => parseCertificates(Buffer.from('garbage'), 'x.pem')).toThrow(/x\.pem: holds no certificate/)
  })
})
