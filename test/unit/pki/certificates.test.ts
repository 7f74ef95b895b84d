import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseTrustCertificate } from '../../../src/pki/certificates'
import { fixturesDir } from '../../support/fixtures'

const der = readFileSync(path.join(fixturesDir(), 'tc-files-written', 'tc.trust'))
const pem = Buffer.from(new X509Certificate(der).toString())

describe('parseTrustCertificate', () => {
  it.each([
    ['a DER certificate', der],
    ['a PEM certificate', pem],
  ])('takes %s and returns its DER', (_name, content) => {
    expect(parseTrustCertificate(content, 'trust.pem')).toEqual(der)
  })

  it.each([
    ['two PEM certificates', Buffer.concat([pem, pem]), /holds 2 certificates/],
    ['two DER certificates back to back', Buffer.concat([der, der]), /bytes after its certificate/],
    ['DER with trailing garbage', Buffer.concat([der, Buffer.from([0])]), /1 bytes after its certificate/],
    ['a private key', Buffer.from('-----BEGIN PRIVATE KEY-----\nMC4=\n-----END PRIVATE KEY-----\n'), /holds no certificate/],
    ['nothing', Buffer.alloc(0), /holds no certificate/],
  ])('refuses %s, naming the file', (_name, content, reason) => {
    expect(() => parseTrustCertificate(content, 'trust.pem')).toThrow(reason)
    expect(() => parseTrustCertificate(content, 'trust.pem')).toThrow(/^trust\.pem: /)
  })
})
