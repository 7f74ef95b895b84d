// checkPki: what start refuses in CERT_PATH (the four files, readPkiFiles, readTlsMaterial, preflightTrust), one line each.
import type { X509Certificate } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { Config } from '../config'
import { readTlsMaterial } from '../http/tls-reloader'
import type { TlsMaterial } from '../http/tls-reloader'
import { parseCertificates } from '../pki/certificates'
import { DEV_PKI_FILES } from '../pki/dev-pki'
import { readPkiFiles } from '../pki/pki-files'
import type { PkiCertificates } from '../pki/pki-files'
import { checkServerHost, cupsHost, hostMismatchMessage, preflightTrust } from '../pki/trust-preflight'
import { serverTlsFiles, startupFiles, toStartupError } from '../startup-checks'
import type { Blame } from '../startup-checks'
import { fail, ok, subjectOf, warn } from './doctor-check'
import type { DoctorCheck } from './doctor-check'

/** Reads CERT_PATH (and the trusts) only; never creates the development PKI the server would generate. */
export async function checkPki(config: Config, now: Date): Promise<DoctorCheck[]> {
  const { tls } = config
  const place = `CERT_PATH ${tls.certPath}${tls.certHostPath === undefined ? '' : ` (${tls.certHostPath} on the host)`}`
  const present = DEV_PKI_FILES.filter((file) => existsSync(path.join(tls.certPath, file)))
  if (present.length === 0) {
    const none = fail(
      'cert path',
      `${place} holds none of ${DEV_PKI_FILES.join(', ')}; the server generates a development PKI there at its first start ` +
        '(a throwaway CA, not for production: put your own CA and server certificate there instead)',
    )
    return [none]
  }
  const checks: DoctorCheck[] = [presenceCheck(place, present)]

  // Start names the variable to fix and the file, and so does every line here (the same StartupError wording).
  const named = startupFiles(config)
  const blamed = (err: unknown, otherwise?: Blame['otherwise']): string => {
    const mapped = toStartupError(err, { files: named, ...(otherwise === undefined ? {} : { otherwise }) })
    return mapped instanceof Error ? mapped.message : String(mapped)
  }
  const onServerCertificate = { variable: 'CERT_PATH', path: tls.serverCertFile }

  let pki: PkiCertificates | undefined
  try {
    pki = readPkiFiles(tls)
    checks.push(ok('pki files', describePki(pki, config)))
  } catch (err) {
    checks.push(fail('pki files', blamed(err)))
  }

  let material: TlsMaterial | undefined
  try {
    material = await readTlsMaterial(serverTlsFiles(config))
    checks.push(ok('tls files', describeTls(material, config)))
  } catch (err) {
    checks.push(fail('tls files', blamed(err)))
  }

  // Without its key (tls files failed) the certificate file alone still shows chain, names and dates.
  const served = material?.cert ?? readOrUndefined(tls.serverCertFile)
  const leaf = served === undefined ? undefined : certificatesOrEmpty(served, tls.serverCertFile)[0]
  let chainOk = false
  if (pki !== undefined && served !== undefined) {
    const trust = certificatesOrEmpty(pki.cups, tls.cupsTrustFile)[0]
    try {
      preflightTrust({ cupsTrust: pki.cups, serverCertificatePem: served, cupsUri: undefined, now })
      chainOk = true
      checks.push(
        ok(
          'trust chain',
          `the server certificate verifies against cups.trust${trust === undefined ? '' : ` ${subjectOf(trust)}`} the way a ` +
            'station (mbedTLS 2.28) checks it: chain, validity, key size and key usage',
        ),
      )
    } catch (err) {
      checks.push(fail('trust chain', blamed(err, onServerCertificate)))
    }
  }

  const { cupsUri } = config.cups
  const host = cupsHost(cupsUri)
  if (cupsUri === undefined || host === undefined) {
    checks.push(
      warn(
        'cups uri host',
        'CUPS_URI is not set, so neither start nor doctor can check that the server certificate names the host stations ' +
          'connect to (they check it against their cups.uri, DNS names only); set CUPS_URI to the URI stations use',
      ),
    )
  } else if (leaf !== undefined) {
    try {
      // With the chain good the full preflight is exactly start's check, and the name is all it has left to refuse.
      if (chainOk && pki !== undefined && served !== undefined) preflightTrust({ cupsTrust: pki.cups, serverCertificatePem: served, cupsUri, now })
      else if (!checkServerHost(leaf, host)) throw new Error(hostMismatchMessage(leaf, host))
      checks.push(ok('cups uri host', `${host} (CUPS_URI) is a name of the server certificate ${subjectOf(leaf)} as a station matches it (DNS names only)`))
    } catch (err) {
      checks.push(fail('cups uri host', blamed(err, onServerCertificate)))
    }
  }
  return checks
}

function presenceCheck(place: string, present: readonly string[]): DoctorCheck {
  const missing = DEV_PKI_FILES.filter((file) => !present.includes(file))
  if (missing.length === 0) return ok('cert path', `${place} holds ${DEV_PKI_FILES.join(', ')}`)
  // ensureDevPki refuses this at start: a new CA beside an old key would break every gateway.
  return fail(
    'cert path',
    `${place} is incomplete: found ${present.join(', ')}; missing ${missing.join(', ')}. The server refuses to start: restore ` +
      'the missing files, or empty the directory to have a development PKI generated (every gateway credential from the old CA then stops working)',
  )
}

function describePki(pki: PkiCertificates, config: Config): string {
  const { tls } = config
  const trust = (der: Buffer, file: string): string => (der.equals(pki.ca) ? 'the gateway CA' : `${nameOf(der, file)} (${file})`)
  const previous = pki.previousCa === undefined ? '' : `; previous CA ${nameOf(pki.previousCa, tls.previousCaCertFile)} (a CA rotation is under way)`
  return (
    `gateway CA ${nameOf(pki.ca, tls.caCertFile)} matches ca.key; cups.trust handed out: ${trust(pki.cups, tls.cupsTrustFile)}; ` +
    `tc.trust handed out: ${trust(pki.tc, tls.tcTrustFile)}${previous}`
  )
}

function describeTls(material: TlsMaterial, config: Config): string {
  const chain = certificatesOrEmpty(material.cert, config.tls.serverCertFile)
  const intermediates = chain.length - 1
  const clientCas = [
    'ca.crt',
    ...(config.cups.bootstrapCaFile === undefined ? [] : [`BOOTSTRAP_CA_PATH ${config.cups.bootstrapCaFile}`]),
    ...(existsSync(config.tls.previousCaCertFile) ? ['ca-previous.crt'] : []),
  ]
  const leaf = chain[0]
  return (
    `server certificate ${leaf === undefined ? '' : `${subjectOf(leaf)} `}` +
    `${intermediates > 0 ? `with ${intermediates} intermediate${intermediates === 1 ? '' : 's'} ` : ''}matches cups.key; ` +
    `client certificates verified against ${clientCas.join(', ')}`
  )
}

function nameOf(der: Buffer, file: string): string {
  const certificate = certificatesOrEmpty(der, file)[0]
  return certificate === undefined ? '(unreadable)' : subjectOf(certificate)
}

function certificatesOrEmpty(content: Buffer, source: string): X509Certificate[] {
  try {
    return parseCertificates(content, source)
  } catch {
    return []
  }
}

function readOrUndefined(file: string): Buffer | undefined {
  try {
    return readFileSync(file)
  } catch {
    return undefined
  }
}
