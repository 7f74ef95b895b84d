// checkStartFiles: the files start reads besides CERT_PATH (the BOOTSTRAP_ALLOWLIST file, the LNS CA), as start judges them.
import { X509Certificate } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import type { Config } from '../config'
import { StartupError } from '../errors'
import { readAllowlist } from '../gateways/bootstrap-allowlist'
import { parseCertificates } from '../pki/certificates'
import { readCaPair } from '../pki/pki-files'
import { startupFiles, toStartupError } from '../startup-checks'
import { fail, ok, subjectOf } from './doctor-check'
import type { DoctorCheck } from './doctor-check'
import { validityCheck } from './validity-check'

/** Only for what is configured: no lines for an inline allowlist or without LNS_CA_*. */
export async function checkStartFiles(config: Config, now: Date): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = []
  const { bootstrapAllowlist, lnsCa } = config.cups
  if ('file' in bootstrapAllowlist) {
    try {
      const euis = await readAllowlist(bootstrapAllowlist)
      checks.push(ok('bootstrap allowlist', `${euis.length} EUI${euis.length === 1 ? '' : 's'} in ${bootstrapAllowlist.file}`))
    } catch (err) {
      checks.push(fail('bootstrap allowlist', (err as Error).message))
    }
  }
  if (lnsCa === undefined) return checks

  let pair: { readonly ca: Buffer; readonly caKey: Buffer }
  try {
    pair = readCaPair(lnsCa.certFile, lnsCa.keyFile)
  } catch (err) {
    const mapped = toStartupError(err, { files: startupFiles(config) })
    checks.push(fail('lns ca', mapped instanceof Error ? mapped.message : String(mapped)))
    return checks
  }
  const certificate = new X509Certificate(pair.ca)
  // Start refuses this too: every TC certificate the LNS CA signs would then also be a CUPS credential here.
  if (clientCaCertificates(config).some((der) => der.equals(pair.ca))) {
    const problem =
      'is also a CA whose client certificates this server accepts (CERT_PATH/ca.crt, ca-previous.crt or BOOTSTRAP_CA_PATH); use a separate CA'
    checks.push(fail('lns ca', new StartupError('LNS_CA_CERT_PATH', lnsCa.certFile, problem).message))
  } else {
    checks.push(ok('lns ca', `${subjectOf(certificate)} matches its key; it signs the TC certificates of records with "tcCredentials": {"source": "lns-ca"}`))
  }
  checks.push(validityCheck('lns ca certificate', certificate, lnsCa.certFile, now, 'the LNS no longer accepts the TC certificates it issued'))
  return checks
}

/** Our CA, the previous one and the factory CA, as far as they read (their own lines say when they do not). */
function clientCaCertificates(config: Config): Buffer[] {
  const { tls, cups } = config
  const files = [tls.caCertFile, tls.previousCaCertFile, ...(cups.bootstrapCaFile === undefined ? [] : [cups.bootstrapCaFile])]
  return files.flatMap((file) => {
    if (!existsSync(file)) return []
    try {
      return parseCertificates(readFileSync(file), file).map((certificate) => certificate.raw)
    } catch {
      return []
    }
  })
}
