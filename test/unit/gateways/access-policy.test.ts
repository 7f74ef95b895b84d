// authorizeCaller as a table: who proves what, with plain values (no TLS, no storage).
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { BootstrapPolicy } from '../../../src/config'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import { authorizeCaller } from '../../../src/gateways/access-policy'
import type { AccessContext, Authorization, Caller } from '../../../src/gateways/access-policy'
import type { GatewayState } from '../../../src/gateways/gateway-record'
import type { LastAuthentication } from '../../../src/gateways/last-authentication'
import type { CertificateCheck } from '../../../src/pki/client-certificate-check'
import { fixturesDir } from '../../support/fixtures'

const EUI = '0016c001ff10a235'
const tcFiles = path.join(fixturesDir(), 'tc-files-written')
const trust = readFileSync(path.join(tcFiles, 'tc.trust'))
const key = readFileSync(path.join(tcFiles, 'tc.key'))
/** The certificate in the gateway's stored CUPS bundle. */
const CUPS_CERT = readFileSync(path.join(tcFiles, 'tc.crt'))
/** Any other certificate of ours for the same EUI: a renewed-away one, or the gateway's TC certificate. */
const OTHER_CERT = trust
const FACTORY_CERT = Buffer.from('factory certificate')
const REJECTED_CERT = Buffer.from('self-signed certificate')

const cupsBundle = buildCredentialBlob({ trust, certificate: CUPS_CERT, privateKey: key })
const tokenBundle = buildCredentialBlob({ trust, token: 'Authorization: Bearer s3cret-token' })
const trustOnly = buildCredentialBlob({ trust })
const tcWithKey = buildCredentialBlob({ trust, certificate: OTHER_CERT, privateKey: key })
const PLACEHOLDER = Buffer.alloc(4)
/** Token bundles a station would refuse ("malformed auth token"): they must never match a missing header. */
const emptyToken = Buffer.concat([trust, PLACEHOLDER, Buffer.from('Authorization: \r\n')])
const noSeparator = Buffer.concat([trust, PLACEHOLDER, Buffer.from('Authorization\r\n')])
const unusable = Buffer.from('not a bundle')

const DAY = 86_400_000
const NOW = new Date('2026-12-02T12:00:00Z')
const sha256 = (der: Buffer): string => createHash('sha256').update(der).digest('hex')

function checked(der: Buffer, overrides: Partial<Extract<CertificateCheck, { ok: true }>> = {}): CertificateCheck {
  if (der.equals(REJECTED_CERT)) return { ok: false, reason: 'not issued by a CA this server accepts for gateways' }
  return {
    ok: true,
    authority: der.equals(FACTORY_CERT) ? 'factory' : 'ours',
    names: [EUI],
    sha256: sha256(der),
    serial: '01',
    notBefore: new Date(NOW.getTime() - DAY),
    notAfter: new Date(NOW.getTime() + 300 * DAY),
    ...overrides,
  }
}

interface Given {
  readonly policy?: BootstrapPolicy
  readonly state?: GatewayState
  readonly registered?: boolean
  readonly cups?: Buffer
  readonly tc?: Buffer
  readonly last?: LastAuthentication
  readonly certificate?: Buffer
  readonly check?: Partial<Extract<CertificateCheck, { ok: true }>>
  readonly headers?: Record<string, string>
}

function authorize(given: Given): Promise<Authorization> {
  const caller: Caller = {
    certificate: given.certificate === undefined ? undefined : { der: given.certificate },
    header: (name) => given.headers?.[name],
    peer: '127.0.0.1',
  }
  const context: AccessContext = {
    policy: given.policy ?? 'open',
    now: NOW,
    registration: { registered: given.registered ?? false, state: given.state ?? 'active' },
    storedCupsBundle: given.cups,
    storedTcBundle: () => Promise.resolve(given.tc),
    lastAuthentication: () => Promise.resolve(given.last),
    checkCertificate: (der) => checked(der, given.check),
  }
  return authorizeCaller(caller, EUI, context)
}

const lastCert = (der: Buffer): LastAuthentication => ({ via: 'certificate', sha256: sha256(der), serial: '02', at: NOW.toISOString() })
const expiredCheck = { notAfter: new Date(NOW.getTime() - DAY) }

const ACCEPTED: readonly (readonly [string, Given, Authorization['proof']])[] = [
  ['the certificate in the stored CUPS bundle', { certificate: CUPS_CERT, cups: cupsBundle }, 'certificate'],
  ['the same, EUI dashed as a DNS SAN after an unrelated CN', { certificate: CUPS_CERT, cups: cupsBundle, check: { names: ['gw-17', '00-16-C0-01-FF-10-A2-35'] } }, 'certificate'],
  ['the same, EUI as ID6', { certificate: CUPS_CERT, cups: cupsBundle, check: { names: ['16:c001:ff10:a235'] } }, 'certificate'],
  ['expired but current: it may fetch its renewal', { certificate: CUPS_CERT, cups: cupsBundle, check: expiredCheck }, 'expired-certificate'],
  ['the previous certificate while the renewed bundle was not yet shown', { certificate: OTHER_CERT, cups: cupsBundle, last: lastCert(OTHER_CERT) }, 'previous-certificate'],
  ['the previous certificate, expired (it missed the renewal that expiry caused)', { certificate: OTHER_CERT, cups: cupsBundle, last: lastCert(OTHER_CERT), check: expiredCheck }, 'expired-certificate'],
  ['the previous certificate after another tool switched the bundle to a token', { certificate: OTHER_CERT, cups: tokenBundle, last: lastCert(OTHER_CERT) }, 'previous-certificate'],
  ['the previous certificate while the stored bundle is unusable', { certificate: OTHER_CERT, cups: unusable, last: lastCert(OTHER_CERT) }, 'previous-certificate'],
  ['a factory certificate, provisioned gateway', { certificate: FACTORY_CERT, cups: cupsBundle, policy: 'off' }, 'factory-certificate'],
  ['a factory certificate, no bundle at all', { certificate: FACTORY_CERT, policy: 'off' }, 'factory-certificate'],
  ['the stored token', { cups: tokenBundle, headers: { authorization: 'Bearer s3cret-token' }, policy: 'off' }, 'token'],
  ['nobody, unprovisioned, open', {}, 'bootstrap'],
  ['nobody, unprovisioned, registered', { policy: 'registered', registered: true }, 'bootstrap'],
  ['nobody, trust-only CUPS bundle and no TC bundle', { cups: trustOnly }, 'bootstrap'],
  ['nobody, trust-only CUPS and trust-only TC bundles', { cups: trustOnly, tc: trustOnly }, 'bootstrap'],
  ['a garbage Authorization header counts as nothing', { headers: { authorization: 'Basic x' } }, 'bootstrap'],
]

const REFUSED: readonly (readonly [string, Given, RegExp])[] = [
  ['revoked: its own current certificate', { state: 'revoked', certificate: CUPS_CERT, cups: cupsBundle }, /is revoked/],
  ['revoked: a factory certificate', { state: 'revoked', certificate: FACTORY_CERT }, /is revoked/],
  ['revoked: nobody, open policy', { state: 'revoked' }, /is revoked/],
  ['disabled: its token', { state: 'disabled', cups: tokenBundle, headers: { authorization: 'Bearer s3cret-token' } }, /is disabled/],
  ['a certificate no accepted CA issued', { certificate: REJECTED_CERT, cups: cupsBundle }, /client certificate rejected/],
  ['a certificate of ours for another EUI', { certificate: CUPS_CERT, cups: cupsBundle, check: { names: ['0016c001ff10a236'] } }, /not for router/],
  ['a certificate of ours that is not yet valid', { certificate: CUPS_CERT, cups: cupsBundle, check: { notBefore: new Date(NOW.getTime() + DAY) } }, /not yet valid/],
  ['a certificate of ours with no stored CUPS bundle (deleted)', { certificate: CUPS_CERT, last: lastCert(CUPS_CERT) }, /holds no CUPS bundle/],
  ['a certificate of ours that is neither stored nor last shown (the TC certificate, an old one)', { certificate: OTHER_CERT, cups: cupsBundle, last: lastCert(CUPS_CERT) }, /current credential/],
  ['an old certificate after the gateway moved to its token', { certificate: OTHER_CERT, cups: tokenBundle, last: { via: 'token', at: '' } }, /current credential/],
  ['an expired factory certificate', { certificate: FACTORY_CERT, check: expiredCheck }, /factory certificate expired/],
  ['nobody, the gateway holds a certificate', { cups: cupsBundle }, /is provisioned/],
  ['nobody, the gateway holds a token', { cups: tokenBundle }, /is provisioned/],
  ['a wrong token', { cups: tokenBundle, headers: { authorization: 'Bearer s3cret-tokeN' } }, /is provisioned/],
  ['the token with extra characters', { cups: tokenBundle, headers: { authorization: 'Bearer s3cret-token0' } }, /is provisioned/],
  ['nobody, stored token with an empty value (fails closed, never matches a missing header)', { cups: emptyToken, policy: 'off' }, /is provisioned/],
  ['an empty header against a stored token with an empty value', { cups: emptyToken, headers: { authorization: '' } }, /is provisioned/],
  ['nobody, stored token line without ": "', { cups: noSeparator }, /is provisioned/],
  ['nobody, unusable stored CUPS bundle', { cups: unusable }, /is provisioned/],
  ['nobody, trust-only CUPS bundle but a key in the TC bundle', { cups: trustOnly, tc: tcWithKey }, /is provisioned/],
  ['nobody, no CUPS bundle but a TC token bundle', { tc: tokenBundle }, /is provisioned/],
  ['nobody, no CUPS bundle but an unusable TC bundle', { tc: unusable }, /is provisioned/],
  ['nobody, unregistered under registered', { policy: 'registered' }, /unknown gateway/],
  ['nobody under off', { policy: 'off', registered: true }, /BOOTSTRAP_POLICY=off/],
]

describe('authorizeCaller', () => {
  it.each(ACCEPTED)('accepts %s', async (_name, given, proof) => {
    expect((await authorize(given)).proof).toBe(proof)
  })

  it.each(REFUSED)('refuses %s', async (_name, given, reason) => {
    await expect(authorize(given)).rejects.toThrow(reason)
  })

  it('remembers what a gateway showed only when it is its current credential', async () => {
    expect((await authorize({ certificate: CUPS_CERT, cups: cupsBundle })).authenticatedWith).toEqual({
      via: 'certificate',
      sha256: sha256(CUPS_CERT),
      serial: '01',
    })
    expect((await authorize({ cups: tokenBundle, headers: { authorization: 'Bearer s3cret-token' } })).authenticatedWith).toEqual({ via: 'token' })
    for (const given of [
      { certificate: OTHER_CERT, cups: cupsBundle, last: lastCert(OTHER_CERT) },
      { certificate: FACTORY_CERT },
      {},
    ]) {
      expect((await authorize(given)).authenticatedWith).toBeUndefined()
    }
  })

  it('status codes: 403 for refusals, 404 for an unknown gateway', async () => {
    await expect(authorize({ policy: 'registered' })).rejects.toMatchObject({ statusCode: 404 })
    await expect(authorize({ cups: cupsBundle })).rejects.toMatchObject({ statusCode: 403 })
  })
})
