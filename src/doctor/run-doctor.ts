// runDoctor: every check of `cups-server doctor`, in order; reads everything and writes only its storage probe.
import type { Config } from '../config'
import type { BlobStore } from '../storage/blob-store'
import { parseCertificateTime } from '../pki/certificate-expiry'
import { checkCertificates } from './certificate-checks'
import { clockChecks } from './clock-check'
import { configurationChecks } from './config-checks'
import type { DoctorCheck } from './doctor-check'
import { checkPki } from './pki-checks'
import { checkRecords } from './record-checks'
import { checkStartFiles } from './start-file-checks'
import { probeStorage } from './storage-probe'

export interface DoctorDeps {
  /** Throws ConfigError for a bad environment. */
  readonly config: () => Config
  /** The configured storage, uncached: doctor asks what is stored now. */
  readonly store: () => BlobStore
  readonly now: () => Date
}

/** Configuration first (the rest needs it), then what start refuses, the storage, the clock and the records. */
export async function runDoctor(deps: DoctorDeps): Promise<DoctorCheck[]> {
  const { config, checks } = configurationChecks(deps.config)
  if (config === undefined) return checks
  const now = deps.now()
  checks.push(...(await checkPki(config, now)))
  const certificates = checkCertificates(config, now)
  checks.push(...certificates.checks, ...(await checkStartFiles(config, now)))

  const store = deps.store()
  const storage = await probeStorage(config.storage, store, deps.now)
  checks.push(storage.check)
  const caNotBefore = certificates.ca === undefined ? undefined : parseCertificateTime(certificates.ca.validFrom)
  checks.push(...clockChecks(storage.clock, storage.clockProblem, caNotBefore, now))
  if (storage.usable) checks.push(await checkRecords(store, config.storage.prefix))
  return checks
}
