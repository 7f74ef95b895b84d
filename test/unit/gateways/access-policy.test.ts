import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { BootstrapPolicy } from '../../../src/config'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import { ForbiddenError, UnknownGatewayError } from '../../../src/errors'
import { authorizeCaller } from '../../../src/gateways/access-policy'
import type { AccessContext, Caller, PeerCertificate } from '../../../src/gateways/access-policy'
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
const FACTORY_DER = Buffer.from('factory')

function caller(options: { certificate?: Partial<PeerCertificate>; headers?: Record<string, string> } = {}): Caller {
  return {
    certificate:
      options.certificate === undefined
        ? undefined
        : { authorized: true, names: [], serial: '01', authorizationError: undefined, der: Buffer.from('ours'), ...options.certificate },
    header: (name) => options.headers?.[name],
    peer: '127.0.0.1',
  }
}

function context(policy: BootstrapPolicy, storedCupsBlob?: Buffer, registered = false): AccessContext {
  return {
    policy,
    storedCupsBlob,
    isRegistered: () => Promise.resolve(registered),
    isFactoryCertificate: (der) => der.equals(FACTORY_DER),
  }
}

describe('authorizeCaller', () => {
  it.each([
    ['CN as 16 hex digits', [EUI]],
    ['CN dashed', ['00-16-C0-01-FF-10-A2-35']],
    ['CN as ID6', ['16:c001:ff10:a235']],
    ['a DNS SAN after an unrelated CN', ['gateway-17', EUI]],
  ])('accepts an authorized certificate naming the EUI by %s', async (_name, names) => {
    expect(await authorizeCaller(caller({ certificate: { names } }), EUI, context('off', certificateBlob))).toBe('certificate')
  })

  it('tells a factory certificate apart; it may fetch a provisioned gateway again', async () => {
    const factory = caller({ certificate: { names: [EUI], der: FACTORY_DER } })
    expect(await authorizeCaller(factory, EUI, context('off', certificateBlob))).toBe('factory-certificate')
  })

  it('refuses an authorized certificate for another EUI', async () => {
    const other = caller({ certificate: { names: ['0016c001ff10a236'] } })
    await expect(authorizeCaller(other, EUI, context('open'))).rejects.toThrow(ForbiddenError)
  })

  it('refuses an unauthorized certificate with the right CN, even under the open policy', async () => {
    const selfSigned = caller({
      certificate: { names: [EUI], authorized: false, authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
    })
    await expect(authorizeCaller(selfSigned, EUI, context('open'))).rejects.toThrow(/client certificate rejected/)
  })

  it('accepts the stored token and refuses a wrong, partial or longer one', async () => {
    const withToken = (value: string) => caller({ headers: { authorization: value } })
    expect(await authorizeCaller(withToken('Bearer s3cret-token'), EUI, context('off', tokenBlob))).toBe('token')
    for (const wrong of ['Bearer s3cret-tokeX', 'Bearer s3cret', 'Bearer s3cret-token2', 's3cret-token']) {
      await expect(authorizeCaller(withToken(wrong), EUI, context('open', tokenBlob))).rejects.toThrow(ForbiddenError)
    }
  })

  it.each([
    ['open', undefined, false, 'bootstrap'],
    ['open', serverOnlyBlob, false, 'bootstrap'],
    ['registered', undefined, true, 'bootstrap'],
    ['registered', serverOnlyBlob, true, 'bootstrap'],
  ] as const)('lets an anonymous caller bootstrap under %s (stored blob %#)', async (policy, blob, registered, proof) => {
    expect(await authorizeCaller(caller(), EUI, context(policy, blob, registered))).toBe(proof)
  })

  it('refuses anonymous callers for provisioned gateways under every policy', async () => {
    for (const policy of ['open', 'registered', 'off'] as const) {
      for (const blob of [certificateBlob, tokenBlob]) {
        await expect(authorizeCaller(caller(), EUI, context(policy, blob, true))).rejects.toThrow(/provisioned/)
      }
    }
  })

  it('fails closed on a stored CUPS bundle it cannot read: no anonymous bootstrap over it', async () => {
    const unreadable = Buffer.from('-----BEGIN CERTIFICATE-----\n')
    await expect(authorizeCaller(caller(), EUI, context('open', unreadable))).rejects.toThrow(/provisioned/)
  })

  it('answers 404 for an unregistered gateway under registered, 403 under off', async () => {
    await expect(authorizeCaller(caller(), EUI, context('registered'))).rejects.toThrow(UnknownGatewayError)
    await expect(authorizeCaller(caller(), EUI, context('off', undefined, true))).rejects.toThrow(/BOOTSTRAP_POLICY=off/)
  })
})
