// describeBundle: what a stored credential bundle holds, as plain data for people: never key bytes, a token only on request.
import { X509Certificate, createPrivateKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { crc32 } from '../cups/crc32'
import { checkCredentialBlob, splitCredentialBlob } from '../cups/credential-blob'
import { parseCertificateTime } from '../pki/certificate-expiry'
import { redacted } from './redaction'

export interface CertificateDescription {
  /** RDNs joined with ", ", e.g. `CN=0016c001ff10a235`. */
  readonly subject: string
  readonly issuer: string
  /** Uppercase hex, as the inventory entry and the server's logs write it. */
  readonly serial: string
  /** ISO 8601. */
  readonly notBefore: string
  readonly notAfter: string
}

/** A part that is there but is not what it should be. */
export interface UnreadablePart {
  readonly problem: string
}

export interface TokenHeader {
  /** Null for a line that is not `Name: value`: the whole line is then the secret. */
  readonly name: string | null
  /** The value (the whole line when name is null) only when asked for and the bundle is usable; else its size. */
  readonly value: string
}

export type KeyDescription =
  | { readonly kind: 'none' }
  | { readonly kind: 'private-key'; readonly type: string; readonly encoding: 'PKCS#8' | 'SEC1' | 'PKCS#1' }
  | ({ readonly kind: 'private-key' } & UnreadablePart)
  | { readonly kind: 'token'; readonly headers: readonly TokenHeader[]; readonly revealed: boolean }

export interface BundleDescription {
  readonly length: number
  /** crc32 of the bundle: what the station reports as cupsCredCrc/tcCredCrc once it holds it. */
  readonly crc32: number
  /** A station would parse it, and report crc32 afterwards (checkCredentialBlob). */
  readonly usable: boolean
  /** Why a station could not use it; null when it could. */
  readonly problem: string | null
  /** The parts as the station would split them; all null when it could not split the bundle at all. */
  readonly trust: CertificateDescription | UnreadablePart | null
  /** Null also when the bundle has the placeholder instead of a client certificate. */
  readonly certificate: CertificateDescription | UnreadablePart | null
  readonly key: KeyDescription | null
}

export interface DescribeOptions {
  /** Include the token's values (`--show-token`); only for a usable bundle, whose key part is header lines. */
  readonly revealToken?: boolean
}

const CURVES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }
// As the station parses it (src/sys.c): 0x30 starts a DER key, any other byte but 0 a token.
const SEQUENCE = 0x30
// The station's token line (credential-blob.ts); a line of any other shape may be nothing but secret.
const TOKEN_LINE = /^([A-Za-z0-9_-]+): ([\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)$/

export function describeBundle(blob: Buffer, options: DescribeOptions = {}): BundleDescription {
  const problem = stationProblem(blob)
  const base = { length: blob.length, crc32: crc32(blob), usable: problem === null, problem }
  let parts
  try {
    parts = splitCredentialBlob(blob)
  } catch {
    return { ...base, trust: null, certificate: null, key: null }
  }
  return {
    ...base,
    trust: describeCertificate(parts.trust),
    certificate: parts.certificate.length === 0 ? null : describeCertificate(parts.certificate),
    key: describeKey(parts.key, options.revealToken === true && problem === null),
  }
}

/** Subject, issuer, serial and validity of one DER certificate, or why it is not one. */
export function describeCertificate(der: Buffer): CertificateDescription | UnreadablePart {
  try {
    const certificate = new X509Certificate(der)
    return {
      subject: distinguishedName(certificate.subject),
      issuer: distinguishedName(certificate.issuer),
      serial: certificate.serialNumber.toUpperCase(),
      notBefore: parseCertificateTime(certificate.validFrom).toISOString(),
      notAfter: parseCertificateTime(certificate.validTo).toISOString(),
    }
  } catch {
    return { problem: 'not an X.509 certificate' }
  }
}

function stationProblem(blob: Buffer): string | null {
  try {
    checkCredentialBlob(blob)
    return null
  } catch (err) {
    return (err as Error).message
  }
}

function describeKey(key: Buffer, reveal: boolean): KeyDescription {
  if (key.length === 0) return { kind: 'none' }
  if (key[0] === SEQUENCE) return describePrivateKey(key)
  const lines = key.toString('latin1').replace(/\r?\n$/, '').split(/\r?\n/)
  const headers = lines.map((line): TokenHeader => {
    const match = TOKEN_LINE.exec(line)
    const name = match?.[1] ?? null
    const value = match?.[2] ?? line
    return { name, value: reveal ? value : redacted(value.length) }
  })
  return { kind: 'token', headers, revealed: reveal }
}

function describePrivateKey(der: Buffer): KeyDescription {
  // PKCS#8 first: OpenSSL's SEC1 and PKCS#1 decoders also accept PKCS#8, which would hide the encoding.
  for (const [type, encoding] of [['pkcs8', 'PKCS#8'], ['sec1', 'SEC1'], ['pkcs1', 'PKCS#1']] as const) {
    let parsed: KeyObject
    try {
      parsed = createPrivateKey({ key: der, format: 'der', type })
    } catch {
      continue // not this encoding; try the next one
    }
    // SEC1 is for EC keys and PKCS#1 for RSA only, but some OpenSSL builds (Node 24's) decode either as "sec1".
    if ((type === 'sec1' && parsed.asymmetricKeyType !== 'ec') || (type === 'pkcs1' && parsed.asymmetricKeyType !== 'rsa')) continue
    return { kind: 'private-key', type: keyType(parsed), encoding }
  }
  return { kind: 'private-key', problem: 'not a DER private key (PKCS#8, SEC1 or PKCS#1)' }
}

function keyType(key: KeyObject): string {
  const details = key.asymmetricKeyDetails
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = details?.namedCurve ?? 'unknown curve'
      return `EC ${CURVES[curve] ?? curve}`
    }
    case 'rsa':
      return `RSA ${details?.modulusLength ?? '?'}`
    default:
      return (key.asymmetricKeyType ?? 'unknown').toUpperCase()
  }
}

/** X509Certificate puts one RDN per line. */
function distinguishedName(text: string): string {
  return text.split('\n').join(', ')
}
