// Certificate dates read with node:crypto X509Certificate (no OpenSSL process), and the renewal rule.
import { X509Certificate } from 'node:crypto'

const DAY_MS = 86_400_000
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
// Node 20 has no validToDate; validTo is OpenSSL's ASN1_TIME_print text, e.g. "Nov  7 22:09:03 2027 GMT".
// Parsed by hand because Date's parsing of that shape is implementation-defined.
const ASN1_TIME_TEXT = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4}) GMT$/

/** The certificate's notAfter; throws if der is not a certificate. */
export function certificateNotAfter(der: Buffer): Date {
  return parseCertificateTime(new X509Certificate(der).validTo)
}

/** True when notAfter has passed or comes at or before now + days: time to renew. */
export function expiresWithin(notAfter: Date, days: number, now: Date): boolean {
  return notAfter.getTime() <= now.getTime() + days * DAY_MS
}

/** Parses X509Certificate.validFrom/validTo text. Exported for tests. */
export function parseCertificateTime(text: string): Date {
  const match = ASN1_TIME_TEXT.exec(text)
  const month = match ? MONTHS.indexOf(match[1] ?? '') : -1
  if (!match || month < 0) throw new Error(`unrecognised certificate time "${text}"`)
  const [day, hours, minutes, seconds, year] = match.slice(2).map(Number) as [number, number, number, number, number]
  const date = new Date(Date.UTC(year, month, day, hours, minutes, seconds))
  // Date.UTC rolls "Feb 31" over into March; a real certificate never says that.
  if (date.getUTCDate() !== day) throw new Error(`unrecognised certificate time "${text}"`)
  return date
}
