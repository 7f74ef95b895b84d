import { createPublicKey, verify } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { describe, it, expect, vi } from 'vitest'
import { crc32 } from '../../../src/cups/crc32'
import {
  buildCredentialBlob,
  checkCredentialBlob,
  credentialBlobToken,
  splitCredentialBlob,
} from '../../../src/cups/credential-blob'
import { planUpdate } from '../../../src/cups/plan-update'
import type { DesiredGatewayState } from '../../../src/cups/plan-update'
import { parseUpdateInfoRequest } from '../../../src/cups/update-info-request'
import { NO_CHANGE, encodeUpdateInfoHead, encodeUpdateInfoResponse } from '../../../src/cups/update-info-response'
import { fixturesDir, readFixture } from '../../support/fixtures'
import { decodeUpdateInfoResponse, splitBlobLikeStation } from '../../support/station-decoder'

// Bytes a real Basics Station 2.0.6 sent or accepted (see fixtures/basicstation-2.0.6/README.md).

interface RawRequest {
  requestLine: string
  headerLines: string[]
  body: Buffer
}

function readRawRequest(name: string): RawRequest {
  const raw = readFixture(name)
  const headEnd = raw.indexOf('\r\n\r\n')
  const [requestLine = '', ...headerLines] = raw.subarray(0, headEnd).toString('latin1').split('\r\n')
  return { requestLine, headerLines, body: raw.subarray(headEnd + 4) }
}

function header(request: RawRequest, name: string): string | undefined {
  const line = request.headerLines.find((candidate) => candidate.toLowerCase().startsWith(`${name.toLowerCase()}:`))
  return line?.slice(name.length + 1).trim()
}

const SIG_KEY_CRC = 3420020549
const TC_FILES = ['tc.trust', 'tc.crt', 'tc.key'].map((file) => readFixture(`tc-files-written/${file}`))

// [file, Host, cupsUri, tcUri, cupsCredCrc, tcCredCrc, Authorization]
const requests: readonly (readonly [string, string, string, string | null, number, number, string | undefined])[] = [
  ['request-mtls-first-contact.raw', 'localhost:6040', 'https://localhost:6040', null, 3435451239, 2077607535, undefined],
  ['request-before-tc-update.raw', 'localhost:6040', 'https://localhost:6040', null, 3435451239, 2077607535, undefined],
  ['request-after-tc-update.raw', 'localhost:6040', 'https://localhost:6040', 'wss://localhost:6042', 3435451239, 1707252318, undefined],
  ['request-token-auth.raw', 'localhost:6041', 'https://localhost:6041', null, 2388544803, 2077607535, 'Bearer tok-for-cups-B'],
  ['request-before-signed-update.raw', 'localhost:6040', 'https://localhost:6040', null, 3435451239, 2077607535, undefined],
  // Sent to cups-boot over plain http, yet cupsUri and the CRCs still describe the REG set (rule 9).
  ['request-boot-plain-http.raw', 'localhost:6041', 'https://localhost:6040', null, 3435451239, 2077607535, undefined],
]

describe('fixturesDir', () => {
  it('is shared/fixtures/basicstation-2.0.6 beside the repository unless FIXTURES_DIR says otherwise', () => {
    try {
      vi.stubEnv('FIXTURES_DIR', '')
      expect(fixturesDir()).toMatch(/[\\/]shared[\\/]fixtures[\\/]basicstation-2\.0\.6$/)
      vi.stubEnv('FIXTURES_DIR', '/elsewhere/fixtures')
      expect(fixturesDir()).toBe('/elsewhere/fixtures')
    } finally {
      vi.unstubAllEnvs()
    }
  })
})

describe('requests captured from a real station', () => {
  it('covers every captured request', () => {
    const captured = readdirSync(fixturesDir()).filter((file) => file.endsWith('.raw'))
    expect(captured.sort()).toEqual(requests.map(([file]) => file).sort())
  })

  it.each(requests)('%s parses to the reported state', (file, host, cupsUri, tcUri, cupsCredCrc, tcCredCrc, authorization) => {
    const request = readRawRequest(file)
    expect(request.requestLine).toBe('POST /update-info HTTP/1.1')
    expect(header(request, 'Host')).toBe(host)
    expect(header(request, 'Content-Type')).toBe('application/json')
    expect(header(request, 'Authorization')).toBe(authorization)
    // Content-Length is right-aligned in a 5-character field: "Content-Length:   233".
    expect(request.headerLines[2]).toBe(`Content-Length: ${String(request.body.length).padStart(5)}`)

    expect(parseUpdateInfoRequest(JSON.parse(request.body.toString('utf8')))).toEqual({
      eui: '0016c001ff10a235',
      router: '16:c001:ff10:a235',
      cupsUri,
      tcUri,
      cupsCredCrc,
      tcCredCrc,
      station: '2.0.6(linux/testsim) 2026-11-23 19:46:54',
      model: 'linux',
      package: '1.0.0',
      keys: [SIG_KEY_CRC],
    })
  })

  it('reports keys[0] = crc32(sig-0.key)', () => {
    expect(crc32(readFixture('sig-0.key'))).toBe(SIG_KEY_CRC)
  })
})

describe('response-tc-update.bin (tc uri + tc credentials)', () => {
  const body = readFixture('response-tc-update.bin')
  const decoded = decodeUpdateInfoResponse(body)
  const blob = decoded.tcCredentials ?? Buffer.alloc(0)

  it('decodes like the station: tc uri and an 892-byte blob, nothing else', () => {
    expect(body).toHaveLength(926)
    expect(Object.keys(decoded).sort()).toEqual(['tcCredentials', 'tcUri', 'trailing'])
    expect(decoded.tcUri).toBe(readFixture('tc-files-written/tc.uri').toString('latin1'))
    expect(blob).toHaveLength(892)
    expect(decoded.trailing).toBe(0)
  })

  it('splits into exactly the tc.trust, tc.crt and tc.key files the station wrote', () => {
    for (const files of [splitCredentialBlob(blob), splitBlobLikeStation(blob)]) {
      expect([files.trust, files.certificate, files.key].map((file) => file.toString('hex'))).toEqual(
        TC_FILES.map((file) => file.toString('hex')),
      )
    }
  })

  it('gives tcCredCrc 1707252318 both over the written files and over the blob', () => {
    expect(crc32(...TC_FILES)).toBe(1707252318)
    expect(crc32(blob)).toBe(1707252318)
  })

  it('is reproduced byte for byte by buildCredentialBlob and encodeUpdateInfoResponse', () => {
    const [trust, certificate, privateKey] = TC_FILES as [Buffer, Buffer, Buffer]
    expect(buildCredentialBlob({ trust, certificate, privateKey }).equals(blob)).toBe(true)
    expect(() => { checkCredentialBlob(blob) }).not.toThrow()
    expect(encodeUpdateInfoResponse({ tcUri: decoded.tcUri ?? '', tcCredentials: blob }).toString('hex')).toBe(body.toString('hex'))
  })

  it('is what planUpdate sends before the update, and nothing after it', () => {
    const desired: DesiredGatewayState = { tcUri: 'wss://localhost:6042', tcCredentials: blob }
    const before = parseUpdateInfoRequest(JSON.parse(readRawRequest('request-before-tc-update.raw').body.toString('utf8')))
    const after = parseUpdateInfoRequest(JSON.parse(readRawRequest('request-after-tc-update.raw').body.toString('utf8')))
    expect(encodeUpdateInfoResponse(planUpdate(before, desired)).equals(body)).toBe(true)
    expect(encodeUpdateInfoResponse(planUpdate(after, desired)).equals(NO_CHANGE)).toBe(true)
  })
})

describe('response-cups-redirect-token.bin (cups uri + token credentials)', () => {
  const body = readFixture('response-cups-redirect-token.bin')
  const decoded = decodeUpdateInfoResponse(body)
  const blob = decoded.cupsCredentials ?? Buffer.alloc(0)

  it('decodes like the station: a new cups uri and a 449-byte token blob', () => {
    expect(body).toHaveLength(485)
    expect(Object.keys(decoded).sort()).toEqual(['cupsCredentials', 'cupsUri', 'trailing'])
    expect(decoded.cupsUri).toBe('https://localhost:6041')
    expect(blob).toHaveLength(449)
    expect(decoded.trailing).toBe(0)
  })

  it('carries trust, no certificate and the token the station then sent as a header', () => {
    const files = splitBlobLikeStation(blob)
    expect(files.certificate).toHaveLength(0)
    expect(files.key.toString('latin1')).toBe('Authorization: Bearer tok-for-cups-B\r\n')
    expect(splitCredentialBlob(blob).key.equals(files.key)).toBe(true)
    const token = credentialBlobToken(blob)
    expect(token).toBe(`Authorization: ${header(readRawRequest('request-token-auth.raw'), 'Authorization') ?? ''}`)
  })

  it('gives the cupsCredCrc 2388544803 the station reported next', () => {
    expect(crc32(blob)).toBe(2388544803)
  })

  it('is reproduced byte for byte by buildCredentialBlob and encodeUpdateInfoResponse', () => {
    const { trust } = splitCredentialBlob(blob)
    expect(buildCredentialBlob({ trust, token: credentialBlobToken(blob) ?? '' }).equals(blob)).toBe(true)
    expect(() => { checkCredentialBlob(blob) }).not.toThrow()
    expect(encodeUpdateInfoResponse({ cupsUri: decoded.cupsUri ?? '', cupsCredentials: blob }).toString('hex')).toBe(body.toString('hex'))
  })

  it('is what planUpdate sends to the old server, and nothing once the station uses the new one', () => {
    const desired: DesiredGatewayState = { cupsUri: 'https://localhost:6041', cupsCredentials: blob }
    const before = parseUpdateInfoRequest(JSON.parse(readRawRequest('request-mtls-first-contact.raw').body.toString('utf8')))
    const after = parseUpdateInfoRequest(JSON.parse(readRawRequest('request-token-auth.raw').body.toString('utf8')))
    expect(encodeUpdateInfoResponse(planUpdate(before, desired)).equals(body)).toBe(true)
    expect(encodeUpdateInfoResponse(planUpdate(after, desired)).equals(NO_CHANGE)).toBe(true)
  })
})

describe('response-signed-update.bin (signature + update)', () => {
  const body = readFixture('response-signed-update.bin')
  const decoded = decodeUpdateInfoResponse(body)
  const signature = decoded.signature ?? { keyCrc: 0, der: Buffer.alloc(0) }
  const update = decoded.update ?? Buffer.alloc(0)

  it('decodes like the station: sigLen 76 = keyCrc + 72-byte DER signature, then a 73-byte update', () => {
    expect(body.readUInt32LE(6)).toBe(76)
    expect(Object.keys(decoded).sort()).toEqual(['signature', 'trailing', 'update'])
    expect(signature.keyCrc).toBe(SIG_KEY_CRC)
    expect(signature.der).toHaveLength(72)
    expect(update).toHaveLength(73)
    expect(update.toString('latin1')).toMatch(/^#!\/bin\/sh\n[\s\S]*rm -f \/tmp\/update\.bin\n$/)
  })

  it('verifies as ECDSA P-256 over SHA-512 with sig-0.key (raw X‖Y)', () => {
    const xy = readFixture('sig-0.key')
    const publicKey = createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: xy.subarray(0, 32).toString('base64url'), y: xy.subarray(32).toString('base64url') },
      format: 'jwk',
    })
    expect(verify('sha512', update, publicKey, signature.der)).toBe(true)
    expect(verify('sha512', Buffer.concat([update, Buffer.from('\n')]), publicKey, signature.der)).toBe(false)
  })

  it('was signed by fw-sig.private.pem, whose public point is sig-0.key', () => {
    const jwk = createPublicKey(readFixture('fw-sig.private.pem')).export({ format: 'jwk' })
    const xy = Buffer.concat([Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')])
    expect(xy.equals(readFixture('sig-0.key'))).toBe(true)
  })

  it('is reproduced byte for byte by encodeUpdateInfoResponse, and by the head a streamed answer starts with', () => {
    expect(encodeUpdateInfoResponse({ signature, update }).toString('hex')).toBe(body.toString('hex'))
    // The whole delivery path (catalogue, selection, stream) is test/integration/firmware/fixture-response.test.ts.
    expect(Buffer.concat([encodeUpdateInfoHead({ signature }, update.length), update]).equals(body)).toBe(true)
  })
})
