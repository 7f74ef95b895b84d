// checkClientCertificate: does this exact certificate chain to a CA we accept for gateways, as a client leaf?
import { createHash, X509Certificate } from 'node:crypto'
import { parseCertificateTime } from './certificate-expiry'
import { parseCertificates } from './certificates'
import type { PkiCertificates } from './pki-files'

/** The CAs whose client certificates prove a gateway's identity right now (they change on a TLS reload). */
export interface ClientAuthorities {
  /** ca.crt and, during a rotation, ca-previous.crt: certificates of ours are bound to the gateway's bundle. */
  readonly ours: readonly X509Certificate[]
  /** BOOTSTRAP_CA_PATH: factory certificates prove identity on their own. */
  readonly factory: readonly X509Certificate[]
}

/** Ours (the CA and, during a rotation, the previous one) and the factory CA file's certificates. */
export function clientAuthoritiesOf(pki: Pick<PkiCertificates, 'ca' | 'previousCa'>, factoryCaPem: Buffer | undefined): ClientAuthorities {
  return {
    ours: [pki.ca, ...(pki.previousCa === undefined ? [] : [pki.previousCa])].map((der) => new X509Certificate(der)),
    factory: factoryCaPem === undefined ? [] : parseCertificates(factoryCaPem, 'BOOTSTRAP_CA_PATH'),
  }
}

export type CertificateCheck =
  | {
      readonly ok: true
      readonly authority: 'ours' | 'factory'
      /** Subject CN and DNS SANs, exactly as in the certificate. */
      readonly names: readonly string[]
      readonly sha256: string
      readonly serial: string
      readonly notBefore: Date
      readonly notAfter: Date
    }
  | { readonly ok: false; readonly reason: string }

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0'

/**
 * Verifies the certificate the request actually carries, independently of any TLS-layer state
 * (`socket.authorized` survives renegotiation and resumption; this does not depend on either): it must be
 * signed directly by one of the authorities, not be a CA itself, and allow client authentication. Time
 * is left to the caller (notBefore/notAfter), because an expired but current certificate may still fetch
 * its own renewal. Never throws.
 */
export function checkClientCertificate(der: Buffer, authorities: ClientAuthorities): CertificateCheck {
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(der)
  } catch {
    return { ok: false, reason: 'not an X.509 certificate' }
  }
  // DER with trailing bytes would be checked as its first certificate only.
  if (!certificate.raw.equals(der)) return { ok: false, reason: 'trailing bytes after the certificate' }
  let times: { notBefore: Date; notAfter: Date }
  try {
    times = { notBefore: parseCertificateTime(certificate.validFrom), notAfter: parseCertificateTime(certificate.validTo) }
  } catch {
    return { ok: false, reason: 'unreadable validity dates' }
  }
  const authority = authorities.ours.some((ca) => issued(ca, certificate))
    ? 'ours'
    : authorities.factory.some((ca) => issued(ca, certificate))
      ? 'factory'
      : undefined
  if (authority === undefined) return { ok: false, reason: 'not issued by a CA this server accepts for gateways' }
  if (certificate.ca) return { ok: false, reason: 'a CA certificate is not a client certificate' }
  const usages = certificate.keyUsage as string[] | undefined
  if (usages !== undefined && !usages.includes(CLIENT_AUTH) && !usages.includes(ANY_EXTENDED_KEY_USAGE)) {
    return { ok: false, reason: 'its extended key usage does not allow client authentication' }
  }
  return {
    ok: true,
    authority,
    names: namesOf(certificate),
    sha256: createHash('sha256').update(der).digest('hex'),
    serial: certificate.serialNumber,
    ...times,
  }
}

/**
 * checkClientCertificate with a memo: a gateway shows the same certificate at every poll, and the ECDSA
 * verification is most of the check's cost. The memo holds only what does not depend on time, is keyed by
 * the SHA-256 of the DER bytes, holds at most maxEntries, and starts afresh whenever the authorities object
 * changes (a reload).
 */
export class ClientCertificateChecker {
  private memo = new Map<string, CertificateCheck>()
  private memoFor: ClientAuthorities | undefined

  constructor(
    private readonly authorities: () => ClientAuthorities,
    private readonly maxEntries = 10_000,
  ) {}

  check(der: Buffer): CertificateCheck {
    const authorities = this.authorities()
    if (authorities !== this.memoFor) {
      this.memo = new Map()
      this.memoFor = authorities
    }
    // A digest, not the bytes: a flood of large distinct certificates must not grow the memo by their size.
    const key = createHash('sha256').update(der).digest('base64')
    const known = this.memo.get(key)
    if (known !== undefined) return known
    const result = checkClientCertificate(der, authorities)
    if (this.memo.size >= this.maxEntries) this.memo.clear()
    this.memo.set(key, result)
    return result
  }
}

function issued(ca: X509Certificate, certificate: X509Certificate): boolean {
  return certificate.checkIssued(ca) && certificate.verify(ca.publicKey)
}

function namesOf(certificate: X509Certificate): string[] {
  // Node prints the subject one attribute per line and escapes control characters inside values.
  const commonNames = certificate.subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3))
  const dnsNames = (certificate.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4))
  return [...commonNames, ...dnsNames]
}
