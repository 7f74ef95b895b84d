// checkCertificates: the dates of the certificates start reads from CERT_PATH, and whether they are the generated development PKI.
import type { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Config } from '../config'
import { parseCertificates } from '../pki/certificates'
import { DEV_CA_COMMON_NAME } from '../pki/dev-pki'
import { ok, subjectOf, warn } from './doctor-check'
import type { DoctorCheck } from './doctor-check'
import { validityCheck } from './validity-check'

export interface CertificateFindings {
  readonly checks: readonly DoctorCheck[]
  /** The gateway CA (ca.crt) when it parses: the clock check compares this host's clock with its notBefore. */
  readonly ca: X509Certificate | undefined
}

/**
 * One line per distinct certificate (a trust that is the gateway CA, the default, gets none of its own). A file
 * that does not read gets no line here: checkPki already says why.
 */
export function checkCertificates(config: Config, now: Date): CertificateFindings {
  const { tls } = config
  const ca = firstCertificate(tls.caCertFile)
  const cupsTrust = firstCertificate(tls.cupsTrustFile)
  const tcTrust = firstCertificate(tls.tcTrustFile)
  const server = firstCertificate(tls.serverCertFile)
  const checks: DoctorCheck[] = []
  if (ca !== undefined) checks.push(validityCheck('ca certificate', ca, tls.caCertFile, now, 'the gateway certificates it issued no longer verify'))
  if (cupsTrust !== undefined && !same(cupsTrust, ca)) {
    checks.push(validityCheck('cups trust', cupsTrust, tls.cupsTrustFile, now, 'stations cannot verify this server'))
  }
  if (tcTrust !== undefined && !same(tcTrust, ca) && !same(tcTrust, cupsTrust)) {
    checks.push(validityCheck('tc trust', tcTrust, tls.tcTrustFile, now, 'stations cannot verify the LNS'))
  }
  if (server !== undefined) checks.push(validityCheck('server certificate', server, tls.serverCertFile, now, 'stations refuse to connect'))
  if (ca !== undefined) checks.push(developmentPkiCheck(config, ca, cupsTrust))
  return { checks, ca }
}

/** The generated CA is marked by its name (dev-pki.ts); stations accept it like any other CA, so only we can tell. */
function developmentPkiCheck(config: Config, ca: X509Certificate, cupsTrust: X509Certificate | undefined): DoctorCheck {
  const generated = [ca, cupsTrust].some((certificate) => certificate?.subject.split('\n').includes(`CN=${DEV_CA_COMMON_NAME}`) === true)
  if (!generated) return ok('development pki', `the gateway CA ${subjectOf(ca)} is not the generated development CA`)
  const { certPath, certHostPath } = config.tls
  return warn(
    'development pki',
    `CERT_PATH ${certPath}${certHostPath === undefined ? '' : ` (${certHostPath} on the host)`} holds the generated DEVELOPMENT PKI ` +
      `("${DEV_CA_COMMON_NAME}"), NOT FOR PRODUCTION: anyone holding its ca.key can mint credentials this server accepts, and ` +
      'every gateway provisioned with it must be provisioned again when it is replaced. Put your own ca.crt, ca.key, cups.crt ' +
      'and cups.key there before gateways go out',
  )
}

function same(a: X509Certificate, b: X509Certificate | undefined): boolean {
  return b !== undefined && a.raw.equals(b.raw)
}

/** The first certificate of a file (the leaf of the server certificate file), or undefined when it does not read. */
function firstCertificate(file: string): X509Certificate | undefined {
  try {
    return parseCertificates(readFileSync(file), file)[0]
  } catch {
    return undefined
  }
}
