// firstContactRefusal: whether the server refuses a gateway that holds only cups.uri and cups.trust, asked of the access policy itself.
import type { Config } from '../config'
import { ForbiddenError, UnknownGatewayError } from '../errors'
import { authorizeCaller } from '../gateways/access-policy'
import { readAllowlist } from '../gateways/bootstrap-allowlist'
import { GatewayRegistry } from '../gateways/gateway-registry'
import type { BlobStore } from '../storage/blob-store'
import { storageKeys } from '../storage/storage-keys'

/**
 * Such a gateway presents nothing: no certificate, no token. The answer is the policy's own (so the CLI never
 * re-implements a rule), with what the operator can do about it; undefined when it would get its identity.
 */
export async function firstContactRefusal(store: BlobStore, config: Config, eui: string, now: Date): Promise<string | undefined> {
  const keys = storageKeys(config.storage.prefix, eui)
  // An allowlist file that cannot be read registers nobody here; doctor reports the file itself.
  const allowlist = await readAllowlist(config.cups.bootstrapAllowlist).catch(() => [])
  const registry = new GatewayRegistry(store, (gateway) => storageKeys(config.storage.prefix, gateway).settings, allowlist)
  const [registration, storedCups] = await Promise.all([registry.lookup(eui), store.get(keys.cupsCredentials)])
  try {
    await authorizeCaller({ certificate: undefined, header: () => undefined, peer: 'station-files' }, eui, {
      policy: config.cups.bootstrapPolicy,
      now,
      registration,
      storedCupsBundle: storedCups?.body,
      storedTcBundle: async () => (await store.get(keys.tcCredentials))?.body,
      lastAuthentication: () => Promise.resolve(undefined),
      checkCertificate: () => ({ ok: false, reason: 'a gateway with only cups.uri and cups.trust presents no certificate' }),
    })
    return undefined
  } catch (err) {
    if (err instanceof UnknownGatewayError) {
      return `its first contact is refused (404: ${err.message}) until it is registered: cups-server gateway add ${eui}`
    }
    if (err instanceof ForbiddenError) {
      const remedy =
        registration.state === 'disabled'
          ? `cups-server gateway enable ${eui} serves it again`
          : `cups-server gateway reset ${eui} lets one anonymous first contact fetch a new identity`
      return `its first contact is refused (403: ${err.message}); ${remedy}`
    }
    throw err
  }
}
