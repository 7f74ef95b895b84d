// describeBundle as a table: what an operator is shown for each kind of stored bundle, and what is never shown.
import { createPrivateKey, generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { crc32 } from '../../../src/cups/crc32'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import { describeBundle, describeCertificate } from '../../../src/gateways/bundle-description'
import type { BundleDescription, KeyDescription } from '../../../src/gateways/bundle-description'
import { readFixture } from '../../support/fixtures'

// A real station's files: a TC certificate CN=router-1-tc (serial 04) from "Test TC CA", and its SEC1 P-256 key.
const TRUST = readFixture('tc-files-written/tc.trust')
const CERT = readFixture('tc-files-written/tc.crt')
const SEC1_KEY = readFixture('tc-files-written/tc.key')
const EC_KEY = createPrivateKey({ key: SEC1_KEY, format: 'der', type: 'sec1' })
const PKCS8_KEY = EC_KEY.export({ format: 'der', type: 'pkcs8' })
const RSA = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
const RSA_KEY = RSA.export({ format: 'der', type: 'pkcs1' })
const RSA_PKCS8_KEY = RSA.export({ format: 'der', type: 'pkcs8' })
const PEM_KEY = Buffer.from(EC_KEY.export({ format: 'pem', type: 'sec1' }))
const ZERO4 = Buffer.alloc(4)
const TOKEN = 'Authorization: Bearer NNSXS.SECRETSECRETSECRET.VALUE'
const TOKEN_VALUE = 'Bearer NNSXS.SECRETSECRETSECRET.VALUE'

const TRUST_DESCRIPTION = {
  subject: 'CN=Test TC CA',
  issuer: 'CN=Test TC CA',
  serial: '1C35A7227EBDFB1C116636C007AD912C49C0CC19',
  notBefore: '2026-11-23T19:47:30.000Z',
  notAfter: '2036-11-20T19:47:30.000Z',
}
const CERT_DESCRIPTION = { subject: 'CN=router-1-tc', issuer: 'CN=Test TC CA', serial: '04', notBefore: '2026-11-23T19:47:30.000Z', notAfter: '2036-11-20T19:47:30.000Z' }

const mtls = buildCredentialBlob({ trust: TRUST, certificate: CERT, privateKey: SEC1_KEY })
const token = buildCredentialBlob({ trust: TRUST, token: TOKEN })
const trustOnly = buildCredentialBlob({ trust: TRUST })

interface Case {
  readonly blob: Buffer
  readonly usable: boolean
  readonly problem?: RegExp
  readonly certificate?: BundleDescription['certificate']
  readonly key: KeyDescription | null
}

const CASES: Record<string, Case> = {
  'certificate and SEC1 EC key': {
    blob: mtls,
    usable: true,
    certificate: CERT_DESCRIPTION,
    key: { kind: 'private-key', type: 'EC P-256', encoding: 'SEC1' },
  },
  'RSA key (PKCS#1)': {
    blob: Buffer.concat([TRUST, CERT, RSA_KEY]),
    usable: true,
    certificate: CERT_DESCRIPTION,
    key: { kind: 'private-key', type: 'RSA 2048', encoding: 'PKCS#1' },
  },
  'RSA key (PKCS#8)': {
    blob: Buffer.concat([TRUST, CERT, RSA_PKCS8_KEY]),
    usable: true,
    certificate: CERT_DESCRIPTION,
    key: { kind: 'private-key', type: 'RSA 2048', encoding: 'PKCS#8' },
  },
  // 30 81 87: the station measures the 0x81 length form wrong, so it cannot even split the bundle.
  'PKCS#8 EC key': { blob: Buffer.concat([TRUST, CERT, PKCS8_KEY]), usable: false, problem: /Lengths do not align/, key: null },
  'token, values redacted': {
    blob: token,
    usable: true,
    certificate: null,
    key: { kind: 'token', headers: [{ name: 'Authorization', value: `<redacted, ${TOKEN_VALUE.length} bytes>` }], revealed: false },
  },
  'two token lines': {
    blob: buildCredentialBlob({ trust: TRUST, token: 'X-Api-Key: abc\nX-Tenant: t1' }),
    usable: true,
    certificate: null,
    key: { kind: 'token', headers: [{ name: 'X-Api-Key', value: '<redacted, 3 bytes>' }, { name: 'X-Tenant', value: '<redacted, 2 bytes>' }], revealed: false },
  },
  'a token line without a name: all of it is secret': {
    blob: Buffer.concat([TRUST, ZERO4, Buffer.from('Bearer abcdef\r\n')]),
    usable: false,
    problem: /Name: value/,
    certificate: null,
    key: { kind: 'token', headers: [{ name: null, value: '<redacted, 13 bytes>' }], revealed: false },
  },
  'trust only': { blob: trustOnly, usable: true, certificate: null, key: { kind: 'none' } },
  'a PEM key after the certificate: the station reads it as a token': {
    blob: Buffer.concat([TRUST, CERT, PEM_KEY]),
    usable: false,
    problem: /token only when it has no client certificate/,
    certificate: CERT_DESCRIPTION,
    key: { kind: 'token', headers: expect.any(Array) as unknown as [], revealed: false },
  },
  'trailing bytes': { blob: Buffer.concat([mtls, Buffer.from([0])]), usable: false, problem: /not canonical/, certificate: CERT_DESCRIPTION, key: { kind: 'private-key', type: 'EC P-256', encoding: 'SEC1' } },
  'PEM bundle: nothing to split': { blob: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'), usable: false, problem: /ASN.1 SEQ expected for trust/, key: null },
  'empty object (unusable in storage)': { blob: Buffer.alloc(0), usable: false, problem: /cannot parse/, key: null },
}

describe('describeBundle', () => {
  it.each(Object.entries(CASES))('%s', (_name, c) => {
    const description = describeBundle(c.blob)
    expect(description.length).toBe(c.blob.length)
    expect(description.crc32).toBe(crc32(c.blob))
    expect(description.usable).toBe(c.usable)
    if (c.problem === undefined) expect(description.problem).toBeNull()
    else expect(description.problem).toMatch(c.problem)
    expect(description.key).toEqual(c.key)
    if (c.key === null) {
      expect(description.trust).toBeNull()
      expect(description.certificate).toBeNull()
    } else {
      expect(description.trust).toEqual(TRUST_DESCRIPTION)
      expect(description.certificate).toEqual(c.certificate)
    }
  })

  it('never carries key bytes or token values, whatever the bundle', () => {
    const secrets = [SEC1_KEY.toString('hex'), PKCS8_KEY.toString('hex'), RSA_KEY.toString('hex'), RSA_PKCS8_KEY.toString('hex'), TOKEN_VALUE, 'abcdef', 'MHcCAQEE']
    for (const c of Object.values(CASES)) {
      const text = JSON.stringify(describeBundle(c.blob))
      for (const secret of secrets) expect(text).not.toContain(secret)
    }
  })

  it('shows the token values only when asked, and only from a usable bundle', () => {
    expect(describeBundle(token, { revealToken: true }).key).toEqual({ kind: 'token', headers: [{ name: 'Authorization', value: TOKEN_VALUE }], revealed: true })
    // A station would not read these as header lines: a private key in PEM, or a line that may be all secret.
    for (const blob of [CASES['a PEM key after the certificate: the station reads it as a token']?.blob, CASES['a token line without a name: all of it is secret']?.blob]) {
      const text = JSON.stringify(describeBundle(blob ?? Buffer.alloc(0), { revealToken: true }))
      expect(text).toContain('"revealed":false')
      expect(text).not.toMatch(/PRIVATE KEY|abcdef/)
    }
  })
})

describe('describeCertificate', () => {
  it.each([
    ['a certificate', CERT, CERT_DESCRIPTION],
    ['a private key', SEC1_KEY, { problem: 'not an X.509 certificate' }],
    ['nothing', Buffer.alloc(0), { problem: 'not an X.509 certificate' }],
  ])('%s', (_name, der, expected) => {
    expect(describeCertificate(der)).toEqual(expected)
  })
})
