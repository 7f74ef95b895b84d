// validityCheck: one certificate's dates against this host's clock: expired or not yet valid fails, expiring soon warns.
import type { X509Certificate } from 'node:crypto'
import { expiresWithin, parseCertificateTime } from '../pki/certificate-expiry'
import { dayOf, fail, ok, warn } from './doctor-check'
import type { DoctorCheck } from './doctor-check'

/** Long enough to renew by hand and roll the file out, short enough not to nag for a year. */
export const EXPIRY_WARNING_DAYS = 30

const DAY_MS = 86_400_000

/**
 * check names the certificate ("server certificate"); effect says what happens once it has expired, as the end
 * of "renew it before then, or ..." (e.g. "stations refuse to connect").
 */
export function validityCheck(check: string, certificate: X509Certificate, file: string, now: Date, effect: string): DoctorCheck {
  const notBefore = parseCertificateTime(certificate.validFrom)
  const notAfter = parseCertificateTime(certificate.validTo)
  // The same comparisons as preflightTrust, so doctor fails exactly where start does.
  if (now.getTime() > notAfter.getTime()) return fail(check, `expired ${dayOf(notAfter)} (${file}): ${effect}`)
  if (now.getTime() < notBefore.getTime()) {
    return fail(
      check,
      `not valid before ${dayOf(notBefore)} (${file}): nothing accepts it until then ` +
        '(is the clock of the host that issued it, or of this one, wrong?)',
    )
  }
  if (expiresWithin(notAfter, EXPIRY_WARNING_DAYS, now)) {
    const days = Math.ceil((notAfter.getTime() - now.getTime()) / DAY_MS)
    return warn(check, `expires ${dayOf(notAfter)}, in ${days} day${days === 1 ? '' : 's'} (${file}): renew it before then, or ${effect}`)
  }
  return ok(check, `valid until ${dayOf(notAfter)} (${file})`)
}
