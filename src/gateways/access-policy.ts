// authorizeCaller: may this caller act for this router EUI? (design.md §5, README "Who gets an answer")
import { timingSafeEqual } from 'node:crypto'
import type { BootstrapPolicy } from '../config'
import { checkCredentialBlob, credentialBlobCertificate, credentialBlobToken, splitCredentialBlob } from '../cups/credential-blob'
import { parseRouterId } from '../cups/router-id'
import { ForbiddenError, UnknownGatewayError } from '../errors'
import type { CertificateCheck } from '../pki/client-certificate-check'
import { BOOTSTRAP_ONCE } from './gateway-record'
import type { Registration } from './gateway-registry'
import type { AuthenticatedWith, LastAuthentication } from './last-authentication'

export interface PeerCertificate {
  /** The leaf certificate the TLS connection carries now (DER); verified here, never trusted from TLS state. */
  readonly der: Buffer
}

export interface Caller {
  readonly certificate: PeerCertificate | undefined
  /** A request header by lower-case name. */
  readonly header: (name: string) => string | undefined
  /** Remote address, for refusal logs. */
  readonly peer: string
}

/**
 * How the caller proved itself; logged with every delivery.
 * - certificate: the client certificate in the gateway's stored CUPS bundle
 * - previous-certificate: the one it last authenticated with, while it has not yet shown the stored one
 * - expired-certificate: one of those two, expired: it may fetch its renewal, so expiry never locks it out
 * - factory-certificate: issued by BOOTSTRAP_CA_PATH for this EUI
 * - token: the token in the gateway's stored CUPS bundle
 * - bootstrap: nothing; allowed by BOOTSTRAP_POLICY for an unprovisioned gateway
 */
export type Proof = 'certificate' | 'previous-certificate' | 'expired-certificate' | 'factory-certificate' | 'token' | 'bootstrap'

export interface Authorization {
  readonly proof: Proof
  /** What to remember as the gateway's last authentication, when it showed its current credential. */
  readonly authenticatedWith?: AuthenticatedWith
}

export interface AccessContext {
  readonly policy: BootstrapPolicy
  readonly now: Date
  readonly registration: Registration
  /** The gateway's stored CUPS bundle: what it holds decides which certificate or token counts. */
  readonly storedCupsBundle: Buffer | undefined
  /** The stored TC bundle; asked only for callers that present nothing (a key in it means provisioned). */
  readonly storedTcBundle: () => Promise<Buffer | undefined>
  /** Asked only when a certificate of ours is not the one in the stored bundle. */
  readonly lastAuthentication: () => Promise<LastAuthentication | undefined>
  /** Chain, CA flag and key usage of the very certificate the request carries (time is checked here). */
  readonly checkCertificate: (der: Buffer) => CertificateCheck
}

/** Resolves how the caller proved itself; throws ForbiddenError (403) or UnknownGatewayError (404). */
export async function authorizeCaller(caller: Caller, eui: string, context: AccessContext): Promise<Authorization> {
  const { state, problem } = context.registration
  if (state !== 'active') throw new ForbiddenError(`gateway ${eui} is ${state}${problem === undefined ? '' : ` (${problem})`}`)
  if (caller.certificate !== undefined) return authorizeCertificate(caller.certificate.der, eui, context)

  const cups = bundleMaterial(context.storedCupsBundle)
  if (cups.token !== undefined && tokenPresented(caller, cups.token)) return { proof: 'token', authenticatedWith: { via: 'token' } }
  if (cups.provisioned || bundleMaterial(await context.storedTcBundle()).provisioned) {
    throw new ForbiddenError(`router ${eui} is provisioned; it must present its credentials`)
  }
  // `gateway reset` allows one anonymous first contact whatever the policy: the operator vouched for it, and
  // once that caller's identity is stored the gateway is provisioned again.
  if (context.registration.record?.fields.bootstrap === BOOTSTRAP_ONCE) return { proof: 'bootstrap' }
  switch (context.policy) {
    case 'open':
      return { proof: 'bootstrap' }
    case 'registered':
      if (context.registration.registered) return { proof: 'bootstrap' }
      throw new UnknownGatewayError(eui)
    case 'off':
      throw new ForbiddenError('anonymous bootstrap is not allowed (BOOTSTRAP_POLICY=off)')
  }
}

async function authorizeCertificate(der: Buffer, eui: string, context: AccessContext): Promise<Authorization> {
  // rejectUnauthorized is off so that token and bootstrap callers can connect, so anything may arrive here.
  const check = context.checkCertificate(der)
  if (!check.ok) throw new ForbiddenError(`client certificate rejected (${check.reason})`)
  if (!check.names.some((name) => namesEui(name, eui))) throw new ForbiddenError(`client certificate is not for router ${eui}`)
  if (check.notBefore.getTime() > context.now.getTime()) throw new ForbiddenError('client certificate rejected (not yet valid)')
  const expired = check.notAfter.getTime() < context.now.getTime()
  if (check.authority === 'factory') {
    if (expired) throw new ForbiddenError('client certificate rejected (factory certificate expired)')
    // A factory certificate survives a factory reset, so it may always fetch the gateway's credentials again.
    return { proof: 'factory-certificate' }
  }

  // Ours: it counts only while it is the gateway's current credential, so deleting the bundles (or revoking)
  // locks an old or stolen certificate out, and a TC certificate (same CA, same CN) never passes for CUPS.
  if (context.storedCupsBundle === undefined) {
    throw new ForbiddenError('client certificate is not the gateway\'s current credential (it holds no CUPS bundle)')
  }
  const stored = bundleMaterial(context.storedCupsBundle)
  if (stored.certificate?.equals(der) === true) {
    return {
      proof: expired ? 'expired-certificate' : 'certificate',
      authenticatedWith: { via: 'certificate', sha256: check.sha256, serial: check.serial },
    }
  }
  // The stored bundle was renewed or replaced, and the gateway has not shown the new one yet. A bundle with
  // no identity in it (trust only) is one this server replaces by minting: the old certificate must not fetch that.
  if (!stored.provisioned) throw new ForbiddenError('client certificate is not the gateway\'s current credential')
  const last = await context.lastAuthentication()
  if (last?.via === 'certificate' && last.sha256 === check.sha256) {
    return { proof: expired ? 'expired-certificate' : 'previous-certificate' }
  }
  throw new ForbiddenError('client certificate is not the gateway\'s current credential')
}

export interface BundleMaterial {
  /** Any key material (certificate, key or token), or a bundle we cannot read: fail closed. */
  readonly provisioned: boolean
  /** False for a bundle a station could not use. */
  readonly usable: boolean
  /** Only from a bundle a station would accept. */
  readonly token: string | undefined
  readonly certificate: Buffer | undefined
}

/**
 * Per stored copy: the read cache hands out the same Buffer at every poll, and the station-style check
 * parses a certificate and a key. Entries die with the cached copy.
 */
const materials = new WeakMap<Buffer, BundleMaterial>()

/** What a stored bundle holds, judged the way a station would parse it. */
export function bundleMaterial(blob: Buffer | undefined): BundleMaterial {
  if (blob === undefined) return { provisioned: false, usable: true, token: undefined, certificate: undefined }
  let material = materials.get(blob)
  if (material === undefined) {
    material = readBundleMaterial(blob)
    materials.set(blob, material)
  }
  return material
}

function readBundleMaterial(blob: Buffer): BundleMaterial {
  try {
    // The station-style check: an empty token value, a line without ": " or trailing bytes fail here.
    checkCredentialBlob(blob)
    const token = credentialBlobToken(blob)
    const certificate = credentialBlobCertificate(blob)
    const key = splitCredentialBlob(blob).key
    return { provisioned: key.length > 0 || certificate !== undefined, usable: true, token, certificate }
  } catch {
    return { provisioned: true, usable: false, token: undefined, certificate: undefined }
  }
}

function namesEui(name: string, eui: string): boolean {
  try {
    return parseRouterId(name) === eui
  } catch {
    return false
  }
}

/** Every `Name: value` line of the stored token must arrive as that header, compared in constant time. */
function tokenPresented(caller: Caller, token: string): boolean {
  const lines = token.split('\r\n')
  return lines.every((line) => {
    const separator = line.indexOf(': ')
    const expected = Buffer.from(line.slice(separator + 2), 'latin1')
    const header = caller.header(line.slice(0, separator).toLowerCase())
    // checkCredentialBlob guarantees a non-empty value; a missing header never matches anything.
    if (separator <= 0 || expected.length === 0 || header === undefined) return false
    const actual = Buffer.from(header, 'latin1')
    // Compare equal-length buffers so the time taken does not reveal how much of the token matched.
    const padded = Buffer.alloc(expected.length)
    actual.copy(padded, 0, 0, expected.length)
    return timingSafeEqual(padded, expected) && actual.length === expected.length
  })
}
