// authorizeCaller: may this caller act for this router EUI? (design.md §5)
import { timingSafeEqual } from 'node:crypto'
import type { BootstrapPolicy } from '../config'
import { credentialBlobCertificate, credentialBlobToken } from '../cups/credential-blob'
import { parseRouterId } from '../cups/router-id'
import { ForbiddenError } from '../errors'

export interface PeerCertificate {
  /** true only when the chain verified against our client CA (socket.authorized). */
  readonly authorized: boolean
  /** Subject CN and DNS SANs, as presented. */
  readonly names: readonly string[]
  readonly serial: string
  readonly authorizationError: string | undefined
}

export interface Caller {
  readonly certificate: PeerCertificate | undefined
  /** A request header by lower-case name. */
  readonly header: (name: string) => string | undefined
  /** Remote address, for refusal logs. */
  readonly peer: string
}

export type Proof = 'certificate' | 'token' | 'bootstrap'

/** Resolves how the caller proved itself, or throws ForbiddenError with the reason. */
export function authorizeCaller(
  caller: Caller,
  eui: string,
  storedCupsBlob: Buffer | undefined,
  policy: BootstrapPolicy,
): Proof {
  const certificate = caller.certificate
  if (certificate !== undefined) {
    // rejectUnauthorized is off so that token and bootstrap callers can connect; a self-signed
    // certificate with the right CN passes the handshake, so `authorized` is the real check.
    if (!certificate.authorized) {
      throw new ForbiddenError(`client certificate not issued by our CA (${certificate.authorizationError ?? 'unverified'})`)
    }
    if (!certificate.names.some((name) => namesEui(name, eui))) {
      throw new ForbiddenError(`client certificate is not for router ${eui}`)
    }
    return 'certificate'
  }

  const token = storedCupsBlob === undefined ? undefined : credentialBlobToken(storedCupsBlob)
  if (token !== undefined && tokenPresented(caller, token)) return 'token'

  const provisioned = storedCupsBlob !== undefined && (token !== undefined || credentialBlobCertificate(storedCupsBlob) !== undefined)
  if (provisioned) throw new ForbiddenError(`router ${eui} is provisioned; it must present its credentials`)
  if (policy === 'open') return 'bootstrap'
  throw new ForbiddenError(`anonymous bootstrap is not allowed (BOOTSTRAP_POLICY=${policy})`)
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
