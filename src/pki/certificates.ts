// parseCertificates: PEM or DER certificate files read exactly, one place for every certificate file we load.
import { X509Certificate } from 'node:crypto'

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g

/**
 * Every certificate in content, in file order: any number of PEM blocks, or a single DER certificate.
 * Throws an Error naming source when there is none or one does not parse; DER with trailing bytes (two
 * DER certificates back to back, say) is refused, because X509Certificate would quietly read the first.
 */
export function parseCertificates(content: Buffer, source: string): X509Certificate[] {
  const pems = [...content.toString('latin1').matchAll(PEM_CERTIFICATE)]
  if (pems.length === 0) {
    // A DER certificate is one SEQUENCE; anything else is neither encoding.
    if (content[0] !== 0x30) throw new Error(`${source}: holds no certificate (expected PEM "BEGIN CERTIFICATE" blocks or one DER certificate)`)
    return [parseOne(content, source)]
  }
  return pems.map((match, i) =>
    parseOne(Buffer.from((match[1] ?? '').replace(/\s+/g, ''), 'base64'), pems.length > 1 ? `${source} (certificate #${i + 1})` : source),
  )
}

/**
 * The one CA certificate a credential blob carries, as DER. The station trusts exactly one certificate per
 * blob (cups-protocol.md §3, §4), so a file with a chain is refused rather than truncated to its first.
 */
export function parseTrustCertificate(content: Buffer, source: string): Buffer {
  const [certificate, ...more] = parseCertificates(content, source)
  if (certificate === undefined || more.length > 0) {
    throw new Error(`${source}: holds ${more.length + 1} certificates; a station trusts exactly one`)
  }
  return certificate.raw
}

/** True when issuer's subject issued cert (names and key identifiers match) and its key signed it. */
export function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey)
}

/** signedBy for encoded certificates (PEM or DER); throws if either is not a certificate. */
export function isIssuedBy(certificate: Buffer | string, ca: Buffer | string): boolean {
  return signedBy(new X509Certificate(certificate), new X509Certificate(ca))
}

function parseOne(der: Buffer, source: string): X509Certificate {
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(der)
  } catch (err) {
    throw new Error(`${source}: is not a valid X.509 certificate (${(err as Error).message})`)
  }
  if (certificate.raw.length !== der.length) {
    throw new Error(`${source}: has ${der.length - certificate.raw.length} bytes after its certificate (several DER certificates?)`)
  }
  return certificate
}
