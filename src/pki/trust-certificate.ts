// parseTrustCertificate: the single CA certificate that goes into a credential blob, as DER.
import { X509Certificate } from 'node:crypto'

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g

/**
 * The station takes exactly one trust certificate per blob (cups-protocol.md §3, §4), so a file
 * with a chain is refused rather than silently truncated to its first certificate.
 */
export function parseTrustCertificate(content: Buffer, source: string): Buffer {
  const text = content.toString('latin1')
  const pems = [...text.matchAll(PEM_CERTIFICATE)]
  let der: Buffer
  if (pems.length > 1) throw new Error(`${source}: holds ${pems.length} certificates; a station trusts exactly one`)
  if (pems.length === 1) der = Buffer.from((pems[0]?.[1] ?? '').replace(/\s+/g, ''), 'base64')
  else if (content[0] === 0x30) der = content
  else throw new Error(`${source}: is neither a PEM nor a DER certificate`)
  try {
    new X509Certificate(der)
  } catch (err) {
    throw new Error(`${source}: is not a valid X.509 certificate (${(err as Error).message})`)
  }
  return der
}
