import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import { ForbiddenError } from '../../../src/errors'
import { authorizeCaller } from '../../../src/gateways/access-policy'
import type { Caller, PeerCertificate } from '../../../src/gateways/access-policy'
import { fixturesDir } from '../../support/fixtures'

const EUI = '0016c001ff10a235'
const tcFiles = path.join(fixturesDir(), 'tc-files-written')
const trust = readFileSync(path.join(tcFiles, 'tc.trust'))
const certificateBlob = buildCredentialBlob({
  trust,
  certificate: readFileSync(path.join(tcFiles, 'tc.crt')),
  privateKey: readFileSync(path.join(tcFiles, 'tc.key')),
})
const tokenBlob = buildCredentialBlob({ trust, token: 'Authorization: Bearer s3cret-token' })
const serverOnlyBlob = buildCredentialBlob({ trust })

function caller(options: { certificate?: Partial<PeerCertificate>; headers?: Record<string, string> } = {}): Caller {
  return {
    certificate:
      options.certificate === undefined
        ? undefined
        : { authorized: true, names: [], serial: '01', authorizationError: undefined, ...options.certificate },
    header: (name) => options.headers?.[name],
    peer: '127.0.0.1',
  }
}

describe('authorizeCaller', () => {
  it.each([
    ['CN as 16 hex digits', [EUI]],
    ['CN dashed', ['00-16-C0-01-FF-10-A2-35']],
    ['CN as ID6', ['16:c001:ff10:a235']],
    ['a DNS SAN after an unrelated CN', ['gateway-17', EUI]],
  ])('accepts an authorized certificate naming the EUI by %s', (_name, names) => {
    expect(authorizeCaller(caller({ certificate: { names } }), EUI, certificateBlob, 'off')).toBe('certificate')
  })

  it('refuses an authorized certificate for another EUI', () => {
    expect(() => authorizeCaller(caller({ certificate: { names: ['0016c001ff10a236'] } }), EUI, undefined, 'open')).toThrow(
      ForbiddenError,
    )
  })

  it('refuses an unauthorized certificate with the right CN, even under the open policy', () => {
    const selfSigned = caller({
      certificate: { names: [EUI], authorized: false, authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
    })
    expect(() => authorizeCaller(selfSigned, EUI, undefined, 'open')).toThrow(/not issued by our CA/)
  })

  it('accepts the stored token and refuses a wrong, partial or longer one', () => {
    const withToken = (value: string) => caller({ headers: { authorization: value } })
    expect(authorizeCaller(withToken('Bearer s3cret-token'), EUI, tokenBlob, 'off')).toBe('token')
    expect(() => authorizeCaller(withToken('Bearer s3cret-tokeX'), EUI, tokenBlob, 'open')).toThrow(ForbiddenError)
    expect(() => authorizeCaller(withToken('Bearer s3cret'), EUI, tokenBlob, 'open')).toThrow(ForbiddenError)
    expect(() => authorizeCaller(withToken('Bearer s3cret-token2'), EUI, tokenBlob, 'open')).toThrow(ForbiddenError)
    expect(() => authorizeCaller(withToken('s3cret-token'), EUI, tokenBlob, 'open')).toThrow(ForbiddenError)
  })

  it('lets an anonymous caller bootstrap only an unprovisioned gateway under the open policy', () => {
    expect(authorizeCaller(caller(), EUI, undefined, 'open')).toBe('bootstrap')
    expect(authorizeCaller(caller(), EUI, serverOnlyBlob, 'open')).toBe('bootstrap')
    expect(() => authorizeCaller(caller(), EUI, certificateBlob, 'open')).toThrow(/provisioned/)
    expect(() => authorizeCaller(caller(), EUI, tokenBlob, 'open')).toThrow(/provisioned/)
    expect(() => authorizeCaller(caller(), EUI, undefined, 'off')).toThrow(/BOOTSTRAP_POLICY=off/)
  })
})
