// The BOOTSTRAP_ALLOWLIST EUIs: listed in the environment or read from a file (again on SIGHUP).
import { readFile } from 'node:fs/promises'
import type { BootstrapAllowlist } from '../config'
import { parseEuiList } from '../config'
import { StartupError } from '../errors'
import type { Logger } from '../logger'
import { problemOf } from '../startup-checks'
import type { GatewayRegistry } from './gateway-registry'

/** The EUIs; a file that cannot be read is a StartupError naming BOOTSTRAP_ALLOWLIST. */
export async function readAllowlist(allowlist: BootstrapAllowlist): Promise<readonly string[]> {
  if ('euis' in allowlist) return allowlist.euis
  try {
    return parseEuiList(await readFile(allowlist.file, 'utf8'))
  } catch (err) {
    throw new StartupError('BOOTSTRAP_ALLOWLIST', allowlist.file, problemOf(err as Error, allowlist.file), { cause: err })
  }
}

/** The allowlist file again (SIGHUP); a file that cannot be read keeps the EUIs read before. */
export async function reloadAllowlist(allowlist: BootstrapAllowlist, registry: GatewayRegistry, log: Pick<Logger, 'info' | 'error'>): Promise<void> {
  if (!('file' in allowlist)) return
  try {
    const euis = await readAllowlist(allowlist)
    registry.replaceAllowlist(euis)
    log.info({ file: allowlist.file, euis: euis.length }, 'BOOTSTRAP_ALLOWLIST read again')
  } catch (err) {
    log.error({ file: allowlist.file, error: (err as Error).message }, 'BOOTSTRAP_ALLOWLIST could not be read again; the EUIs read before stay')
  }
}
