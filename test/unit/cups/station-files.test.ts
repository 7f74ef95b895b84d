// buildStationFiles and stationReadsUri: the two files a gateway image starts with, judged by the station's own reading rules.
import { X509Certificate } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { splitCredentialBlob } from '../../../src/cups/credential-blob'
import { crc32 } from '../../../src/cups/crc32'
import { buildStationFiles, stationReadsUri } from '../../../src/cups/station-files'
import { createTestPki } from '../../support/test-pki'
import type { TestPki } from '../../support/test-pki'

let pki: TestPki
beforeAll(async () => {
  pki = await createTestPki()
})
afterAll(() => pki.remove())

describe('buildStationFiles', () => {
  it('writes the URI without a newline and the trust as the one DER certificate, trust first', () => {
    const { files } = buildStationFiles('https://cups.example.com:443', pki.trust)
    expect(files.map((file) => file.name)).toEqual(['cups.trust', 'cups.uri'])
    const [trust, uri] = files
    expect(uri.content.toString('latin1')).toBe('https://cups.example.com:443')
    expect(trust.content.equals(pki.trust)).toBe(true)
    expect(new X509Certificate(trust.content).raw.equals(trust.content)).toBe(true)
    // The station splits a CUPS bundle carrying it back into exactly this file.
    expect(splitCredentialBlob(Buffer.concat([trust.content, Buffer.alloc(8)])).trust.equals(trust.content)).toBe(true)
  })

  it('gives the cupsCredCrc the station reports before its first update: trust, then 4 zero bytes for each missing file', () => {
    const { cupsCredCrc } = buildStationFiles('https://localhost:8443', pki.trust)
    expect(cupsCredCrc).toBe(crc32(pki.trust, Buffer.alloc(4), Buffer.alloc(4)))
  })

  it.each([
    ['http://cups.example.com:80', /https:\/\/host:port: this server only speaks TLS/],
    ['https://cups.example.com', /mandatory numeric port/],
    ['https://cups.example.com:443/', /must not have a path/],
    ['https://cups.example.com:443 ', /printable ASCII without whitespace/],
    [`https://${'a'.repeat(120)}:443`, /at most 127/],
  ])('refuses the URI %j, which the station would refuse or read differently', (uri, message) => {
    expect(() => buildStationFiles(uri, pki.trust)).toThrow(message)
  })

  it('refuses a PEM trust, a chain of two DER certificates and bytes that are no certificate', () => {
    const pem = Buffer.from(new X509Certificate(pki.trust).toString())
    expect(() => buildStationFiles('https://localhost:8443', pem)).toThrow(/DER/)
    expect(() => buildStationFiles('https://localhost:8443', Buffer.concat([pki.trust, pki.trust]))).toThrow(/exactly one DER element/)
    expect(() => buildStationFiles('https://localhost:8443', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]))).toThrow(/not an X.509 certificate/)
  })

  it('refuses a DER element whose length form (0x81) the station mis-measures', () => {
    const element = Buffer.concat([Buffer.from([0x30, 0x81, 0x80]), Buffer.alloc(0x80)])
    expect(() => buildStationFiles('https://localhost:8443', element)).toThrow(/length form 0x81/)
  })
})

describe('stationReadsUri', () => {
  it('strips trailing spaces, tabs, CR and LF like the station, and nothing else', () => {
    expect(stationReadsUri(Buffer.from('https://localhost:8443\r\n \t'))).toBe('https://localhost:8443')
    expect(stationReadsUri(Buffer.from(' https://localhost:8443'))).toBe(' https://localhost:8443')
  })

  it('reads an empty file, or one of 128 characters or more, as no URI', () => {
    expect(stationReadsUri(Buffer.from('\n'))).toBeUndefined()
    expect(stationReadsUri(Buffer.from('x'.repeat(128)))).toBeUndefined()
    expect(stationReadsUri(Buffer.from('x'.repeat(127)))).toBe('x'.repeat(127))
  })
})
