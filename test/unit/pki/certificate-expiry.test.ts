// certificate-expiry: dates and issuer checks against fixed certificates made once with OpenSSL 3.0.19.
import { describe, expect, it } from 'vitest'
import { certificateNotAfter, expiresWithin, parseCertificateTime } from '../../../src/pki/certificate-expiry'
import { isIssuedBy } from '../../../src/pki/certificates'

// Self-signed "Expiry Test CA", notAfter Nov  3 22:10:38 2126 GMT (GeneralizedTime: past 2049).
const CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBmjCCAT+gAwIBAgIUDabFQKny91mgS80n288sllaD+JcwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwORXhwaXJ5IFRlc3QgQ0EwIBcNMjYxMTI3MjIxMDM4WhgPMjEy
NjExMDMyMjEwMzhaMBkxFzAVBgNVBAMMDkV4cGlyeSBUZXN0IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE/onzzlOSnp4zzZgTK3XCGxwBgZDB17UrgQ0wVQ1V
F7RzTnR2OaxpwHjLexEzZAI7LXBu4jBcIpEAX8ZYlFG4LKNjMGEwDwYDVR0TAQH/
BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwHQYDVR0OBBYEFFdoEK3jFwi+bz3G+Bzn
UBdsnr69MB8GA1UdIwQYMBaAFFdoEK3jFwi+bz3G+BznUBdsnr69MAoGCCqGSM49
BAMCA0kAMEYCIQCLp/yGQqBcK5g+wjNnN8ktBn/SLteyOXVAeSC/BbuWzAIhAI04
pgJOWkRDt2SzvtLQBZwP9EXq/Y5GkayLjHKsnQ6o
-----END CERTIFICATE-----
`
// An unrelated self-signed "Other Test CA".
const OTHER_CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBljCCAT2gAwIBAgIUCnpTQWWnhGqyoErLbfVSQGMHjokwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNT3RoZXIgVGVzdCBDQTAgFw0yNjExMjcyMjEwMzhaGA8yMTI2
MTEwMzIyMTAzOFowGDEWMBQGA1UEAwwNT3RoZXIgVGVzdCBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABEe8KcDmwUmBBTedV6tQAw6N4hjCC+ydh5PaWWrTSwSJ
D2AIhv0j+x9f8RCBxxC/yTu915DE+RQ5z8vndRbNuoyjYzBhMA8GA1UdEwEB/wQF
MAMBAf8wDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBRx4QEiA8N7iW8B3ZU6Ii54
JLIU6zAfBgNVHSMEGDAWgBRx4QEiA8N7iW8B3ZU6Ii54JLIU6zAKBggqhkjOPQQD
AgNHADBEAiAmVi5WE+t2g+LHI3O7oPpGTGXLb7M792mzb6LQYtaUBAIgPv0T+TQh
o1PHJTrR2H0++GpsF70Kawfedt8fJQ1d5QI=
-----END CERTIFICATE-----
`
// Leaf CN=0011223344556677 signed by Expiry Test CA, serial 0x0102,
// notBefore Nov 27 22:10:38 2026 GMT, notAfter Dec  4 22:10:38 2026 GMT (UTCTime, one-digit day).
const LEAF_DER = Buffer.from(
  'MIIBkzCCATmgAwIBAgICAQIwCgYIKoZIzj0EAwIwGTEXMBUGA1UEAwwORXhwaXJ5IFRlc3QgQ0Ew' +
    'HhcNMjYxMTI3MjIxMDM4WhcNMjYxMjA0MjIxMDM4WjAbMRkwFwYDVQQDDBAwMDExMjIzMzQ0NTU2' +
    'Njc3MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPigoE0yt+NfmYvx6mTyliQ3E/ivEtvVYmi/V' +
    'ps8GYoaChOVS2uVfm6q3X1f9MYk+1+jZWzNJA4j7wQMzSJMj0qNvMG0wCQYDVR0TBAIwADALBgNV' +
    'HQ8EBAMCBaAwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0OBBYEFEnLHfuGjasNjAWlU/URWcib' +
    'ABlNMB8GA1UdIwQYMBaAFFdoEK3jFwi+bz3G+BznUBdsnr69MAoGCCqGSM49BAMCA0gAMEUCICcI' +
    'O/OufQYVMqT6r4P0UZVPcsIJ6nbg7CEiPmuSUCMcAiEAoFhoZSVF5wrTjEWw85T6887hmzfJaB9C' +
    '4e2MlPShBvc=',
  'base64',
)
const LEAF_NOT_AFTER = new Date('2026-12-04T22:10:38Z')
const DAY_MS = 86_400_000

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
}

describe('certificateNotAfter', () => {
  it('reads a UTCTime notAfter with a one-digit day', () => {
    expect(certificateNotAfter(LEAF_DER)).toEqual(LEAF_NOT_AFTER)
  })

  it('reads a GeneralizedTime notAfter past 2049', () => {
    expect(certificateNotAfter(pemToDer(CA_PEM))).toEqual(new Date('2126-11-03T22:10:38Z'))
  })

  it('throws on bytes that are not a certificate', () => {
    expect(() => certificateNotAfter(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]))).toThrow()
  })
})

describe('expiresWithin', () => {
  const before = (ms: number): Date => new Date(LEAF_NOT_AFTER.getTime() - ms)

  it.each([
    ['10 days before expiry, window 11 days', before(10 * DAY_MS), 11, true],
    ['10 days before expiry, window 10 days (boundary counts)', before(10 * DAY_MS), 10, true],
    ['10 days before expiry, window 9 days', before(10 * DAY_MS), 9, false],
    ['1 ms before expiry, window 0 days', before(1), 0, false],
    ['at expiry, window 0 days', before(0), 0, true],
    ['after expiry, window 0 days', before(-DAY_MS), 0, true],
  ])('%s -> %s', (_name, now, days, expected) => {
    expect(expiresWithin(certificateNotAfter(LEAF_DER), days, now)).toBe(expected)
  })
})

describe('isIssuedBy', () => {
  it('accepts the issuing CA as PEM string, PEM buffer and DER', () => {
    expect(isIssuedBy(LEAF_DER, CA_PEM)).toBe(true)
    expect(isIssuedBy(LEAF_DER, Buffer.from(CA_PEM))).toBe(true)
    expect(isIssuedBy(LEAF_DER, pemToDer(CA_PEM))).toBe(true)
  })

  it('refuses a different CA', () => {
    expect(isIssuedBy(LEAF_DER, OTHER_CA_PEM)).toBe(false)
  })

  it('refuses a certificate whose names match but whose signature does not verify', () => {
    const tampered = Buffer.from(LEAF_DER)
    // The last byte is inside the ECDSA s value: the DER stays well-formed, the signature breaks.
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x01
    expect(isIssuedBy(tampered, CA_PEM)).toBe(false)
  })

  it('throws when the CA is not a certificate', () => {
    expect(() => isIssuedBy(LEAF_DER, 'not a certificate')).toThrow()
  })
})

describe('parseCertificateTime', () => {
  it.each([
    ['Dec  4 22:10:38 2026 GMT', '2026-12-04T22:10:38.000Z'],
    ['Jan 31 00:00:00 2050 GMT', '2050-01-31T00:00:00.000Z'],
    ['Feb 29 23:59:59 2028 GMT', '2028-02-29T23:59:59.000Z'],
  ])('%s', (text, iso) => {
    expect(parseCertificateTime(text).toISOString()).toBe(iso)
  })

  it.each(['', 'Dec 4 22:10:38 2026', 'Foo  4 22:10:38 2026 GMT', '2026-12-04T22:10:38Z', 'Feb 31 00:00:00 2027 GMT'])(
    'refuses "%s"',
    (text) => {
      expect(() => parseCertificateTime(text)).toThrow(/unrecognised certificate time/)
    },
  )
})
