// preflightTrust: refuses a server certificate that a Basics Station holding our cups.trust could not verify.
import { X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { parseCertificateTime } from './certificate-expiry'
import { parseCertificates, parseTrustCertificate, signedBy } from './certificates'

export interface TrustPreflightInput {
  /** DER of the one CA certificate gateways receive as cups.trust. */
  readonly cupsTrust: Buffer
  /** The server certificate file as served: leaf first, then optional intermediates (PEM, or one DER cert). */
  readonly serverCertificatePem: Buffer
  /** The URI gateways are told to use; its host must match the leaf the way mbedTLS matches it. */
  readonly cupsUri: string | undefined
  readonly now?: Date
}

const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
const EKU_ANY = '2.5.29.37.0'
// mbedtls_x509_crt_profile_default (2.28): RSA keys shorter than this fail with BADCERT_BAD_KEY.
const MIN_RSA_BITS = 2048

/**
 * Throws an Error that says what to fix when a station with cupsTrust as its only trust anchor would refuse
 * this server: mbedTLS 2.28 (cups-protocol.md §1.3) verifies with VERIFY_REQUIRED, never fetches a missing
 * intermediate, and matches the cups.uri host against DNS SANs (or the CN without a SAN extension) only.
 */
export function preflightTrust(input: TrustPreflightInput): void {
  const now = input.now ?? new Date()
  const trust = new X509Certificate(parseTrustCertificate(input.cupsTrust, 'CUPS trust certificate (cups.trust)'))
  const chain = parseCertificates(input.serverCertificatePem, 'server certificate file')
  const leaf = chain[0]
  if (leaf === undefined) throw new Error('server certificate file: holds no certificate')

  // Stricter than mbedTLS, which would also accept a self-signed server certificate as its own trust: then
  // every renewal of that certificate changes the trust, and gateways can only get a new trust over CUPS,
  // which they can no longer reach. The trust has to be a CA that outlives the server certificates it signs.
  if (!trust.ca) {
    throw new Error(
      `the CUPS trust certificate (${describe(trust)}) is not a CA (basicConstraints CA:TRUE is missing); ` +
        'stations need the CA that signs the server certificate as cups.trust, not a server certificate',
    )
  }
  checkValidity(trust, 'the CUPS trust certificate', now)
  checkKey(trust, 'the CUPS trust certificate')
  checkChain(chain, trust, now)
  checkServerUsage(leaf)

  const host = cupsHost(input.cupsUri)
  if (host !== undefined && !checkServerHost(leaf, host)) throw new Error(hostMismatchMessage(leaf, host))
}

/**
 * Walks leaf -> intermediates in file order as mbedTLS does with one trust anchor: each certificate must be
 * issued (name, key identifier and signature) by the trust or else by the next certificate in the file.
 * mbedTLS looks for a trusted parent first, so certificates after the one the trust issued are ignored.
 */
function checkChain(chain: readonly X509Certificate[], trust: X509Certificate, now: Date): void {
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]
    if (cert === undefined) break
    const role = i === 0 ? 'the server certificate' : `intermediate #${i} in the server certificate file`
    // The trust itself may end the file (some tools append the root): it is the anchor, already checked.
    if (cert.raw.equals(trust.raw)) return
    checkValidity(cert, role, now)
    checkKey(cert, role)
    if (signedBy(cert, trust)) return
    const next = chain[i + 1]
    if (next === undefined) throw new Error(unanchoredMessage(cert, role, trust))
    if (!signedBy(cert, next)) {
      throw new Error(
        `${role} (${describe(cert)}) is issued by "${oneLine(cert.issuer)}", but the next certificate in the file is ` +
          `${describe(next)}${cert.issuer === next.subject ? ' (same name, but its key did not sign it)' : ''}. ` +
          'mbedTLS does not reorder or search: the file must be the leaf, then its issuer, then that issuer\'s issuer',
      )
    }
    if (!next.ca) {
      throw new Error(`intermediate #${i + 1} in the server certificate file (${describe(next)}) is not a CA (basicConstraints CA:TRUE is missing); mbedTLS refuses it as an issuer`)
    }
  }
}

function unanchoredMessage(cert: X509Certificate, role: string, trust: X509Certificate): string {
  if (cert.issuer === trust.subject) {
    return (
      `${role} (${describe(cert)}) names the CUPS trust certificate's subject "${oneLine(trust.subject)}" as issuer, ` +
      'but the trust certificate\'s key did not sign it: cups.trust is a different CA with the same name ' +
      '(a regenerated CA?). Re-issue the server certificate from the CA in cups.trust, or hand out the right trust'
    )
  }
  return (
    `${role} (${describe(cert)}) is issued by "${oneLine(cert.issuer)}", which is neither the CUPS trust certificate ` +
    `(${describe(trust)}) nor a later certificate in the server certificate file. mbedTLS has only cups.trust and ` +
    'what we send and never fetches a missing intermediate: append the intermediate CA certificate(s) to the ' +
    'server certificate file after the leaf, or use the CA that issued this certificate as cups.trust'
  )
}

function checkValidity(cert: X509Certificate, role: string, now: Date): void {
  const notBefore = parseCertificateTime(cert.validFrom)
  const notAfter = parseCertificateTime(cert.validTo)
  if (now.getTime() > notAfter.getTime()) {
    throw new Error(`${role} (${describe(cert)}) expired at ${notAfter.toISOString()}; renew it`)
  }
  if (now.getTime() < notBefore.getTime()) {
    throw new Error(
      `${role} (${describe(cert)}) is not valid before ${notBefore.toISOString()}; ` +
        'stations reject it until then (check the issuing host\'s clock)',
    )
  }
}

function checkKey(cert: X509Certificate, role: string): void {
  const { publicKey } = cert
  const bits = publicKey.asymmetricKeyDetails?.modulusLength
  if (publicKey.asymmetricKeyType === 'rsa' && bits !== undefined && bits < MIN_RSA_BITS) {
    throw new Error(`${role} (${describe(cert)}) has a ${bits}-bit RSA key; mbedTLS's default profile needs at least ${MIN_RSA_BITS} bits`)
  }
}

/** mbedTLS checks the extended key usage of the server's leaf when it has one (mbedtls_ssl_check_cert_usage). */
function checkServerUsage(leaf: X509Certificate): void {
  const usages = leaf.keyUsage as string[] | undefined
  if (usages !== undefined && !usages.includes(EKU_SERVER_AUTH) && !usages.includes(EKU_ANY)) {
    throw new Error(
      `the server certificate (${describe(leaf)}) has an extended key usage without serverAuth (${usages.join(', ')}); ` +
        'mbedTLS refuses it as a server certificate',
    )
  }
}

/** The host a station would send as SNI and check, or undefined when it would not check one (no URI, plain http). */
export function cupsHost(cupsUri: string | undefined): string | undefined {
  if (cupsUri === undefined) return undefined
  let url: URL
  try {
    url = new URL(cupsUri)
  } catch {
    throw new Error(`cups uri "${cupsUri}" is not a URI`)
  }
  // http:// means no TLS at all on the station (cups-protocol.md §1.2), so there is no name to match.
  if (url.protocol !== 'https:') return undefined
  return url.hostname.replace(/^\[(.*)\]$/, '$1')
}

/**
 * Whether a station connecting to host accepts leaf by name, with mbedTLS 2.28's x509_crt_verify_name rules:
 * with a subjectAltName extension only its DNS names count (an IP SAN never matches, not even for an IP host);
 * without one, any CN. Comparison ignores case; "*.example.com" matches exactly one label in front.
 */
export function checkServerHost(leaf: X509Certificate, host: string): boolean {
  const sans = subjectAltNames(leaf)
  const candidates = sans === undefined ? commonNames(leaf) : sans.filter((san) => san.type === 'DNS').map((san) => san.value)
  return candidates.some((name) => nameMatches(name, host))
}

function nameMatches(pattern: string, host: string): boolean {
  const name = pattern.toLowerCase()
  const target = host.toLowerCase()
  if (name === target) return true
  if (!name.startsWith('*.')) return false
  // mbedTLS x509_check_wildcard: the host's first label, which must not be empty, stands in for the "*".
  const dot = target.indexOf('.')
  return dot > 0 && target.slice(dot) === name.slice(1)
}

interface AltName {
  readonly type: string
  readonly value: string
}

/** undefined when the certificate has no subjectAltName extension (then mbedTLS falls back to the CN). */
function subjectAltNames(cert: X509Certificate): AltName[] | undefined {
  const text = cert.subjectAltName
  if (text === undefined) return undefined
  // Node separates entries with ", " and JSON-quotes any value that contains a comma or quote.
  return text.split(', ').map((entry) => {
    const colon = entry.indexOf(':')
    const type = entry.slice(0, colon)
    const raw = entry.slice(colon + 1)
    return { type, value: raw.startsWith('"') ? unquote(raw) : raw }
  })
}

function unquote(raw: string): string {
  try {
    const value: unknown = JSON.parse(raw)
    return typeof value === 'string' ? value : raw
  } catch {
    return raw
  }
}

function commonNames(cert: X509Certificate): string[] {
  // One "TYPE=value" per line; RFC 2253 backslash escapes inside values.
  return cert.subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3).replace(/\\(.)/g, '$1'))
}

/** What preflightTrust says when host is not a name of leaf that a station accepts (checkServerHost is false). */
export function hostMismatchMessage(leaf: X509Certificate, host: string): string {
  const sans = subjectAltNames(leaf)
  const dnsNames = sans?.filter((san) => san.type === 'DNS').map((san) => san.value) ?? []
  const ipOnly = isIP(host) !== 0 && leaf.checkIP(host) !== undefined
  if (ipOnly) {
    return (
      `the server certificate (${describe(leaf)}) has ${host} only as an IP SAN. Basics Station (mbedTLS) matches ` +
      'the cups.uri host against DNS SANs only, never IP SANs, so every station would fail with "X509 - Certificate ' +
      `verification failed". Re-issue the certificate with DNS:${host} added to subjectAltName ` +
      '(keep the IP SAN for browsers and curl)'
    )
  }
  const names =
    sans === undefined
      ? `no subjectAltName, CN ${commonNames(leaf).join(', ') || '(none)'}`
      : `DNS names ${dnsNames.join(', ') || '(none)'}`
  return (
    `the cups uri host "${host}" does not match the server certificate (${describe(leaf)}; ${names}). ` +
    `Stations check the name and would refuse the connection: re-issue the certificate with DNS:${host} in ` +
    'subjectAltName, or set CUPS_URI to a name the certificate has'
  )
}

function describe(cert: X509Certificate): string {
  return `"${oneLine(cert.subject)}", serial ${cert.serialNumber}`
}

function oneLine(name: string): string {
  return name.split('\n').join(', ')
}
