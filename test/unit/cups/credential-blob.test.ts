import { createPrivateKey, generateKeyPairSync } from 'node:crypto'
import { describe, it, expect } from 'vitest'
import { EncodingError } from '../../../src/errors'
import { crc32 } from '../../../src/cups/crc32'
import {
  buildCredentialBlob,
  checkCredentialBlob,
  credentialBlobCertificate,
  credentialBlobToken,
  splitCredentialBlob,
} from '../../../src/cups/credential-blob'
import type { CredentialBlobInput } from '../../../src/cups/credential-blob'
import { readFixture } from '../../support/fixtures'

const TRUST = readFixture('tc-files-written/tc.trust')
const CERT = readFixture('tc-files-written/tc.crt')
const SEC1_KEY = readFixture('tc-files-written/tc.key')
const PKCS8_PEM = readFixture('pkcs8-key-station-rejects.pem')
const PKCS8_KEY = createPrivateKey(PKCS8_PEM).export({ format: 'der', type: 'pkcs8' }) // 30 81 87 ..., 138 bytes
const ZERO4 = Buffer.alloc(4)
const TOKEN_BYTES = Buffer.from('Authorization: Bearer abc\r\n', 'latin1')

const MTLS_BLOB = Buffer.concat([TRUST, CERT, SEC1_KEY])
const TOKEN_BLOB = Buffer.concat([TRUST, ZERO4, TOKEN_BYTES])
const SERVER_ONLY_BLOB = Buffer.concat([TRUST, ZERO4, ZERO4])

function codeOf(run: () => unknown): string | undefined {
  try {
    run()
  } catch (err) {
    if (err instanceof EncodingError) return err.code
    throw err
  }
  return undefined
}

/** sys_crcCred over the files the station writes from the blob: 4 zero bytes per empty file. */
function stationFileCrc(blob: Buffer): number {
  const { trust, certificate, key } = splitCredentialBlob(blob)
  return crc32(...[trust, certificate, key].map((file) => (file.length > 0 ? file : ZERO4)))
}

describe('buildCredentialBlob', () => {
  it('builds trust ‖ 00000000 ‖ 00000000 for server authentication only', () => {
    expect(buildCredentialBlob({ trust: TRUST }).equals(SERVER_ONLY_BLOB)).toBe(true)
  })

  it('builds trust ‖ cert ‖ key for mutual TLS', () => {
    expect(buildCredentialBlob({ trust: TRUST, certificate: CERT, privateKey: SEC1_KEY }).equals(MTLS_BLOB)).toBe(true)
  })

  it('treats empty Buffers as absent parts', () => {
    const blob = buildCredentialBlob({ trust: TRUST, certificate: Buffer.alloc(0), privateKey: Buffer.alloc(0) })
    expect(blob.equals(SERVER_ONLY_BLOB)).toBe(true)
  })

  it.each([
    ['Authorization: Bearer abc', 'Authorization: Bearer abc\r\n'],
    ['Authorization: Bearer abc\r\n', 'Authorization: Bearer abc\r\n'],
    ['Authorization: Bearer abc\n', 'Authorization: Bearer abc\r\n'],
    ['A: 1\nB: 2', 'A: 1\r\nB: 2\r\n'],
    ['A: 1\r\nB: 2\n', 'A: 1\r\nB: 2\r\n'],
    ['X-Gw_id-9: a b:c ~', 'X-Gw_id-9: a b:c ~\r\n'],
  ])('writes token %j as trust ‖ 00000000 ‖ %j', (token, bytes) => {
    const blob = buildCredentialBlob({ trust: TRUST, token })
    expect(blob.equals(Buffer.concat([TRUST, ZERO4, Buffer.from(bytes, 'latin1')]))).toBe(true)
  })

  it.each([
    ['a bare token', 'abc'],
    ['no space after the colon', 'Authorization:Bearer'],
    ['an empty value', 'Authorization: '],
    ['no colon', 'Authorization Bearer abc'],
    ['an empty name', ': abc'],
    ['a space in the name', 'X Token: abc'],
    ['a value starting with a space', 'Authorization:  abc'],
    // HTTP servers strip trailing whitespace from header values: such a token could never be matched.
    ['a value ending in a space', 'Authorization: Bearer abc '],
    ['an empty line between lines', 'A: 1\n\nB: 2'],
    ['a bare CR', 'A: 1\rB: 2'],
    ['a tab', 'A: 1\t2'],
    ['non-ASCII text', 'A: grüße'],
    ['an empty token', ''],
    ['a leading 0, which the station reads as a DER key', '0-Token: abc'],
  ])('refuses a token with %s', (_why, token) => {
    expect(codeOf(() => buildCredentialBlob({ trust: TRUST, token }))).toBe('CRED_BAD_TOKEN')
  })

  it('never echoes the token in its error message', () => {
    expect(() => buildCredentialBlob({ trust: TRUST, token: 'secret-token-value' })).toThrow(/^token line 1 must be/)
    expect(() => buildCredentialBlob({ trust: TRUST, token: 'secret-token-value' })).not.toThrow(/secret/)
  })

  it.each<readonly [string, CredentialBlobInput, string]>([
    ['a key and a token', { trust: TRUST, certificate: CERT, privateKey: SEC1_KEY, token: 'A: 1' }, 'CRED_KEY_AND_TOKEN'],
    ['a token with a certificate', { trust: TRUST, certificate: CERT, token: 'A: 1' }, 'CRED_TOKEN_WITH_CERT'],
    ['a key without a certificate', { trust: TRUST, privateKey: SEC1_KEY }, 'CRED_CERT_KEY_PAIR'],
    ['a certificate without a key', { trust: TRUST, certificate: CERT }, 'CRED_CERT_KEY_PAIR'],
    ['a PEM trust', { trust: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB') }, 'CRED_NOT_DER'],
    ['an empty trust', { trust: Buffer.alloc(0) }, 'CRED_NOT_DER'],
    ['a certificate chain as trust', { trust: Buffer.concat([TRUST, CERT]) }, 'CRED_DER_LENGTH_MISMATCH'],
    ['a truncated trust', { trust: TRUST.subarray(0, 200) }, 'CRED_DER_LENGTH_MISMATCH'],
    ['a 0x81 length (128-255 bytes)', { trust: Buffer.concat([Buffer.from([0x30, 0x81, 0x80]), Buffer.alloc(128)]) }, 'CRED_DER_LENGTH_FORM'],
    ['a 0x83 length', { trust: Buffer.concat([Buffer.from([0x30, 0x83, 0x00, 0x00, 0x04]), Buffer.alloc(4)]) }, 'CRED_DER_LENGTH_FORM'],
    ['a trust that is no certificate', { trust: Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]) }, 'CRED_NOT_CERTIFICATE'],
    ['a client certificate that is a key', { trust: TRUST, certificate: SEC1_KEY, privateKey: SEC1_KEY }, 'CRED_NOT_CERTIFICATE'],
    ['a PKCS#8 EC key', { trust: TRUST, certificate: CERT, privateKey: PKCS8_KEY }, 'CRED_KEY_PKCS8'],
    ['a PEM key', { trust: TRUST, certificate: CERT, privateKey: PKCS8_PEM }, 'CRED_NOT_DER'],
    ['a key that is no key', { trust: TRUST, certificate: CERT, privateKey: Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]) }, 'CRED_NOT_PRIVATE_KEY'],
    ['a key with trailing bytes', { trust: TRUST, certificate: CERT, privateKey: Buffer.concat([SEC1_KEY, ZERO4]) }, 'CRED_DER_LENGTH_MISMATCH'],
    ['a blob over 65535 bytes', { trust: TRUST, token: `X-Big: ${'a'.repeat(65536)}` }, 'CRED_TOO_LONG'],
  ])('refuses %s', (_why, input, code) => {
    expect(codeOf(() => buildCredentialBlob(input))).toBe(code)
  })

  it('tells to use SEC1 for the PKCS#8 key the station rejected', () => {
    expect(() => buildCredentialBlob({ trust: TRUST, certificate: CERT, privateKey: PKCS8_KEY })).toThrow(/SEC1/)
    expect(PKCS8_KEY.subarray(0, 3).toString('hex')).toBe('308187')
  })

  it('accepts the same key as SEC1 DER (30 77, 121 bytes), byte-identical to the tc.key the station wrote', () => {
    const sec1 = createPrivateKey(PKCS8_PEM).export({ format: 'der', type: 'sec1' })
    expect(sec1.equals(SEC1_KEY)).toBe(true)
    expect(buildCredentialBlob({ trust: TRUST, certificate: CERT, privateKey: sec1 }).equals(MTLS_BLOB)).toBe(true)
  })

  it('accepts an RSA key (0x82 length) and refuses key types mbedTLS lacks', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs1' })
    expect(codeOf(() => buildCredentialBlob({ trust: TRUST, certificate: CERT, privateKey: rsa }))).toBeUndefined()
    const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' })
    expect(codeOf(() => buildCredentialBlob({ trust: TRUST, certificate: CERT, privateKey: ed25519 }))).toBe('CRED_KEY_UNSUPPORTED')
  })

  it('makes the station file CRC equal crc32(blob) for every kind of blob', () => {
    for (const blob of [SERVER_ONLY_BLOB, MTLS_BLOB, TOKEN_BLOB, buildCredentialBlob({ trust: TRUST, token: 'A: 1\nB: 2' })]) {
      expect(stationFileCrc(blob)).toBe(crc32(blob))
    }
  })
})

describe('splitCredentialBlob (the station parser)', () => {
  const hex = (parts: { trust: Buffer; certificate: Buffer; key: Buffer }): string[] =>
    [parts.trust, parts.certificate, parts.key].map((part) => part.toString('hex'))

  it('splits the three canonical layouts, absent parts empty', () => {
    expect(hex(splitCredentialBlob(MTLS_BLOB))).toEqual(hex({ trust: TRUST, certificate: CERT, key: SEC1_KEY }))
    expect(hex(splitCredentialBlob(TOKEN_BLOB))).toEqual([TRUST.toString('hex'), '', TOKEN_BYTES.toString('hex')])
    expect(hex(splitCredentialBlob(SERVER_ONLY_BLOB))).toEqual([TRUST.toString('hex'), '', ''])
  })

  it('hands out each part as a copy of its own, never a slice of a shared pool slab (parts are kept in caches)', () => {
    const parts = splitCredentialBlob(MTLS_BLOB)
    for (const part of [parts.trust, parts.certificate, parts.key]) {
      expect(part.buffer.byteLength).toBe(part.length)
      expect(part.buffer).not.toBe(MTLS_BLOB.buffer)
    }
  })

  it('fails on the PKCS#8 key exactly as the real station logged it', () => {
    expect(() => splitCredentialBlob(Buffer.concat([TRUST, CERT, PKCS8_KEY]))).toThrow(
      'Lengths do not align segment_len=909 parsed_len=35337',
    )
  })

  it.each([
    ['an empty blob', Buffer.alloc(0), 'ASN.1 SEQ expected for trust (0x00)'],
    ['PEM', Buffer.from('-----BEGIN CERTIFICATE-----'), 'ASN.1 SEQ expected for trust (0x2d)'],
    ['a bare token (TTS#812)', Buffer.from('NNSXS.ABC'), 'ASN.1 SEQ expected for trust (0x4e)'],
    ['trust followed by nothing', TRUST, 'expecting more data (key_offset=391, total_len=387)'],
    ['a cert that is not a SEQUENCE', Buffer.concat([TRUST, Buffer.from([0x31, 0x00]), ZERO4]), 'ASN.1 SEQ expected for cert (0x31)'],
    ['a 0x81 trust', Buffer.concat([Buffer.from([0x30, 0x81, 0x80, 0x02]), Buffer.alloc(127), ZERO4, ZERO4]), 'past the end'],
    ['a key header past the end', Buffer.concat([TRUST, ZERO4, Buffer.from([0x30, 0x05, 0x01])]), 'past the end'],
  ])('fails on %s', (_why, blob, message) => {
    expect(codeOf(() => splitCredentialBlob(blob))).toBe('CRED_PARSE_FAILED')
    expect(() => splitCredentialBlob(blob)).toThrow(message)
  })

  it('skips a cert placeholder without looking at its other 3 bytes', () => {
    const parts = splitCredentialBlob(Buffer.concat([TRUST, Buffer.from([0x00, 0x01, 0x02, 0x03]), TOKEN_BYTES]))
    expect(hex(parts)).toEqual([TRUST.toString('hex'), '', TOKEN_BYTES.toString('hex')])
  })

  it('reads no key when the blob ends at the key offset', () => {
    expect(hex(splitCredentialBlob(Buffer.concat([TRUST, ZERO4])))).toEqual([TRUST.toString('hex'), '', ''])
    expect(hex(splitCredentialBlob(Buffer.concat([TRUST, CERT])))).toEqual([TRUST.toString('hex'), CERT.toString('hex'), ''])
  })

  it('takes everything after the key offset as a token, trailing bytes included', () => {
    const parts = splitCredentialBlob(Buffer.concat([TOKEN_BLOB, ZERO4]))
    expect(parts.key.toString('latin1')).toBe('Authorization: Bearer abc\r\n\0\0\0\0')
  })

  it('ignores bytes after a DER key', () => {
    expect(hex(splitCredentialBlob(Buffer.concat([MTLS_BLOB, ZERO4])))).toEqual(hex({ trust: TRUST, certificate: CERT, key: SEC1_KEY }))
  })

  it('counts part lengths, not offsets, so a key may end on the NUL terminator', () => {
    // trust + placeholder + one byte 0x30: the key length byte is the terminator, so the key is 30 00.
    expect(splitCredentialBlob(Buffer.concat([TRUST, ZERO4, Buffer.from([0x30])])).key.toString('hex')).toBe('3000')
  })
})

describe('checkCredentialBlob', () => {
  it.each([
    ['server authentication only', SERVER_ONLY_BLOB],
    ['mutual TLS', MTLS_BLOB],
    ['a token', TOKEN_BLOB],
  ])('accepts %s', (_why, blob) => {
    expect(codeOf(() => { checkCredentialBlob(blob) })).toBeUndefined()
  })

  it.each([
    ['a missing key placeholder', Buffer.concat([TRUST, ZERO4]), 'CRED_NOT_CANONICAL'],
    ['a missing key (cert only)', Buffer.concat([TRUST, CERT]), 'CRED_NOT_CANONICAL'],
    ['padding after a DER key', Buffer.concat([MTLS_BLOB, ZERO4]), 'CRED_NOT_CANONICAL'],
    ['padding after the placeholders', Buffer.concat([SERVER_ONLY_BLOB, ZERO4]), 'CRED_NOT_CANONICAL'],
    ['a non-zero cert placeholder', Buffer.concat([TRUST, Buffer.from([0, 0, 0, 1]), TOKEN_BYTES]), 'CRED_NOT_CANONICAL'],
    ['a key ending on the terminator', Buffer.concat([TRUST, ZERO4, Buffer.from([0x30])]), 'CRED_NOT_CANONICAL'],
    ['padding after a token', Buffer.concat([TOKEN_BLOB, ZERO4]), 'CRED_BAD_TOKEN'],
    ['a token with LF endings', Buffer.concat([TRUST, ZERO4, Buffer.from('A: 1\nB: 2\n')]), 'CRED_TOKEN_NOT_CANONICAL'],
    ['a token without its final CRLF', Buffer.concat([TRUST, ZERO4, Buffer.from('A: 1')]), 'CRED_TOKEN_NOT_CANONICAL'],
    ['a token next to a certificate', Buffer.concat([TRUST, CERT, TOKEN_BYTES]), 'CRED_TOKEN_WITH_CERT'],
    ['two certificates and no key', Buffer.concat([TRUST, TRUST, ZERO4]), 'CRED_CERT_KEY_PAIR'],
    ['a trust that is no certificate', Buffer.concat([Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]), ZERO4, ZERO4]), 'CRED_NOT_CERTIFICATE'],
    ['a PKCS#8 key', Buffer.concat([TRUST, CERT, PKCS8_KEY]), 'CRED_PARSE_FAILED'],
    ['PEM', Buffer.concat([PKCS8_PEM, ZERO4, ZERO4]), 'CRED_PARSE_FAILED'],
    ['over 65535 bytes', Buffer.alloc(65536), 'CRED_TOO_LONG'],
  ])('refuses %s', (_why, blob, code) => {
    expect(codeOf(() => { checkCredentialBlob(blob) })).toBe(code)
  })

  it('refuses what makes the station CRC differ from crc32(blob), the cause of endless resends', () => {
    const missingPlaceholder = Buffer.concat([TRUST, ZERO4])
    expect(stationFileCrc(missingPlaceholder)).not.toBe(crc32(missingPlaceholder))
    expect(codeOf(() => { checkCredentialBlob(missingPlaceholder) })).toBe('CRED_NOT_CANONICAL')
  })
})

describe('credentialBlobToken and credentialBlobCertificate', () => {
  it('read the token without its final CRLF', () => {
    expect(credentialBlobToken(TOKEN_BLOB)).toBe('Authorization: Bearer abc')
    expect(credentialBlobToken(buildCredentialBlob({ trust: TRUST, token: 'A: 1\nB: 2' }))).toBe('A: 1\r\nB: 2')
  })

  it('find no token in a blob with a DER key or no key', () => {
    expect(credentialBlobToken(MTLS_BLOB)).toBeUndefined()
    expect(credentialBlobToken(SERVER_ONLY_BLOB)).toBeUndefined()
  })

  it('read the client certificate when there is one', () => {
    expect(credentialBlobCertificate(MTLS_BLOB)?.equals(CERT)).toBe(true)
    expect(credentialBlobCertificate(TOKEN_BLOB)).toBeUndefined()
    expect(credentialBlobCertificate(SERVER_ONLY_BLOB)).toBeUndefined()
  })

  it('throw like the station parser on a blob it cannot parse', () => {
    expect(codeOf(() => credentialBlobToken(Buffer.from('garbage')))).toBe('CRED_PARSE_FAILED')
    expect(codeOf(() => credentialBlobCertificate(TRUST))).toBe('CRED_PARSE_FAILED')
  })
})
