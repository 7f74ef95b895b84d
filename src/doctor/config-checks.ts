// configurationChecks: the environment as loadConfig reads it: each problem a FAIL, and the warnings start logs.
import type { Config } from '../config'
import { ConfigError } from '../errors'
import { fail, ok, warn } from './doctor-check'
import type { DoctorCheck } from './doctor-check'
import { describeStorage } from './storage-probe'

export interface ConfigOutcome {
  /** Undefined when the environment does not load. */
  readonly config: Config | undefined
  readonly checks: DoctorCheck[]
}

/** Every other check needs a config, so a ConfigError ends the run here (its problems, one line each). */
export function configurationChecks(load: () => Config): ConfigOutcome {
  let config: Config
  try {
    config = load()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    return { config: undefined, checks: err.problems.map((problem) => fail('configuration', problem)) }
  }
  const { cups, storage, tls } = config
  const checks = [
    ok(
      'configuration',
      `the environment is valid: CERT_PATH ${tls.certPath}; storage ${describeStorage(storage)}, prefix ${JSON.stringify(storage.prefix)}; ` +
        `CUPS_URI ${cups.cupsUri ?? '(not set)'}; BOOTSTRAP_POLICY ${cups.bootstrapPolicy}`,
    ),
  ]
  // The same warnings the server logs at start.
  if (cups.bootstrapPolicy === 'open') {
    checks.push(warn('configuration', 'BOOTSTRAP_POLICY=open: any caller without credentials can claim any unprovisioned gateway EUI. For labs only'))
  }
  if (cups.tcUri === undefined) checks.push(warn('configuration', 'TC_URI is not set: gateways get no LNS URI and no TC credentials'))
  return { config, checks }
}
