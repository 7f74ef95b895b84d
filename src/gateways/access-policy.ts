// authorizeCaller: may this caller act for this router EUI? (design.md §5, README "Security")
import { timingSafeEqual } from 'node:crypto'
import type { BootstrapPolicy } from '../config'
import { credentialBlobCertificate, credentialBlobToken } from '../cups/credential-blob'
import { parseRouterId } from '../cups/router-id'
import { ForbiddenError, UnknownGatewayError } from '../errors'

export interface PeerCertificate {
  /** true only when the chain verified against one of our client CAs (socket.authorized). */
  readonly authorized: boolean
  /** Subject CN and DNS SANs, as presented. */
  readonly names: readonly string[]
  readonly serial: string
  readonly authorizationError: string | undefined
  /** The certificate itself (DER), to tell our CA's certificates from the factory CA's. */
  readonly der: Buffer
}

export interface Caller {
  readonly certificate: PeerCertificate | undefined
  /** A request header by lower-case name. */
  readonly header: (name: string) => string | undefined
  /** Remote address, for refusal logs. */
  readonly peer: string
}

/** How the caller proved itself; logged with every delivery. */
export type Proof = 'certificate' | 'factory-certificate' | 'token' | 'bootstrap'

export interface AccessContext {
  readonly policy: BootstrapPolicy
  /** The gateway's current CUPS blob: its token or certificate marks the gateway as provisioned. */
  readonly storedCupsBlob: Buffer | undefined
  /** Asked only for anonymous callers under the registered policy (it costs a storage read). */
  readonly isRegistered: () => Promise<boolean>
  /** True for a certificate issued by the factory CA (BOOTSTRAP_CA_PATH) rather than ours. */
  readonly isFactoryCertificate: (der: Buffer) => boolean
}

/** Resolves how the caller proved itself; throws ForbiddenError (403) or UnknownGatewayError (404). */
export async function authorizeCaller(caller: Caller, eui: string, context: AccessContext): Promise<Proof> {
  const certificate = caller.certificate
  if (certificate !== undefined) {
    // rejectUnauthorized is off so that token and bootstrap callers can connect; a self-signed
    // certificate with the right CN passes the handshake, so `authorized` is the real check.
    if (!certificate.authorized) {
      // Expired, self-signed, unknown issuer, ...: the code from the TLS layer says which.
      throw new ForbiddenError(`client certificate rejected (${certificate.authorizationError ?? 'unverified'})`)
    }
    if (!certificate.names.some((name) => namesEui(name, eui))) {
      throw new ForbiddenError(`client certificate is not for router ${eui}`)
    }
    // A factory certificate survives a factory reset, so it may always fetch the gateway's credentials again.
    return context.isFactoryCertificate(certificate.der) ? 'factory-certificate' : 'certificate'
  }

  const { token, provisioned } = storedCredentials(context.storedCupsBlob)
  if (token !== undefined && tokenPresented(caller, token)) return 'token'
  if (provisioned) throw new ForbiddenError(`router ${eui} is provisioned; it must present its credentials`)
  switch (context.policy) {
    case 'open':
      return 'bootstrap'
    case 'registered':
      if (await context.isRegistered()) return 'bootstrap'
      throw new UnknownGatewayError(eui)
    case 'off':
      throw new ForbiddenError('anonymous bootstrap is not allowed (BOOTSTRAP_POLICY=off)')
  }
}

/** What the stored CUPS bundle says about the gateway; a bundle we cannot read fails closed, as provisioned. */
function storedCredentials(blob: Buffer | undefined): { token: string | undefined; provisioned: boolean } {
  if (blob === undefined) return { token: undefined, provisioned: false }
  try {
    const token = credentialBlobToken(blob)
    return { token, provisioned: token !== undefined || credentialBlobCertificate(blob) !== undefined }
  } catch {
    return { token: undefined, provisioned: true }
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
  const lines = token.split(/\r?\n/).filter((line) => line !== '')
  if (lines.length === 0) return false
  return lines.every((line) => {
    const separator = line.indexOf(': ')
    const expected = Buffer.from(line.slice(separator + 2))
    const actual = Buffer.from(caller.header(line.slice(0, separator).toLowerCase()) ?? '')
    // Compare equal-length buffers so the time taken does not reveal how much of the token matched.
    const padded = Buffer.alloc(expected.length)
    actual.copy(padded, 0, 0, expected.length)
    return timingSafeEqual(padded, expected) && actual.length === expected.length
  })
}
