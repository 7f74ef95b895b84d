// createGateways: the gateway domain composed once, for the server, `cups-server gateway preview` and tests alike.
import type { Config } from '../config'
import type { Logger } from '../logger'
import type { Metrics } from '../observability/metrics'
import type { CertificateCheck } from '../pki/client-certificate-check'
import type { CredentialMinter } from '../pki/credential-minter'
import { storageKeys } from '../storage/storage-keys'
import { CredentialService } from './credential-service'
import type { CredentialKind, CredentialStore } from './credential-service'
import { GatewayRegistry } from './gateway-registry'
import { FirmwareService } from '../firmware/firmware-service'
import { InventoryRecorder } from './inventory-recorder'
import { LastAuthentications } from './last-authentication'
import { UpdateInfoService } from './update-info-service'
import type { LnsCa } from './update-info-service'

/** What the domain needs to know about our PKI; the server swaps what is behind it on reload. */
export interface GatewayPki {
  /** Current DER trust per kind (what bundles wrap). */
  readonly trust: () => Readonly<Record<CredentialKind, Buffer>>
  /** Issued by our CA (or the previous one during a rotation): ours to renew. */
  readonly issuedByUs: (certificate: Buffer) => boolean
  /** Issued by BOOTSTRAP_CA_PATH. */
  readonly isFactoryCertificate: (certificate: Buffer) => boolean
  /** Verifies a client certificate against the CAs accepted right now. */
  readonly checkCertificate: (der: Buffer) => CertificateCheck
}

export interface GatewaysOptions {
  readonly config: Pick<Config, 'cups' | 'credentials' | 'storage' | 'inventory' | 'server'>
  /** The server's CachedBlobStore, or the CLI's plain store. */
  readonly store: CredentialStore
  readonly pki: GatewayPki
  readonly minter: CredentialMinter
  readonly lnsCa: LnsCa | undefined
  readonly allowlist: readonly string[]
  readonly metrics: Metrics
  readonly log: Logger
}

export interface Gateways {
  readonly updateInfo: UpdateInfoService
  readonly registry: GatewayRegistry
  readonly credentials: CredentialService
  readonly inventory: InventoryRecorder
  readonly lastAuthentications: LastAuthentications
  readonly firmware: FirmwareService
}

export function createGateways(options: GatewaysOptions): Gateways {
  const { config, store, pki, log, metrics } = options
  const { cups, storage } = config
  const keys = (eui: string): ReturnType<typeof storageKeys> => storageKeys(storage.prefix, eui)
  const credentials = new CredentialService({
    store,
    minter: options.minter,
    trust: pki.trust,
    issuedByUs: pki.issuedByUs,
    acceptsClientCertificate: (certificate) => pki.issuedByUs(certificate) || pki.isFactoryCertificate(certificate),
    keyFor: (kind, eui) => (kind === 'cups' ? keys(eui).cupsCredentials : keys(eui).tcCredentials),
    minValidDays: config.credentials.minValidDays,
    log,
    metrics,
  })
  const registry = new GatewayRegistry(store, (eui) => keys(eui).settings, options.allowlist, log)
  const firmware = new FirmwareService({ store, prefix: config.storage.prefix, refreshMs: config.storage.cacheTtlMs, log, metrics })
  const inventory = new InventoryRecorder({
    store,
    keyFor: (eui) => keys(eui).inventory,
    rules: config.inventory,
    log,
    metrics,
    onFirmwareFailed: (id, eui) => firmware.recordFailure(id, eui),
  })
  const lastAuthentications = new LastAuthentications(store, (eui) => keys(eui).lastAuthentication)
  const updateInfo = new UpdateInfoService({
    credentials,
    cupsUri: cups.cupsUri,
    tcUri: cups.tcUri,
    lnsCa: options.lnsCa,
    inventory,
    firmware,
    bootstrapPolicy: cups.bootstrapPolicy,
    registry,
    lastAuthentications,
    checkCertificate: pki.checkCertificate,
    deadlineMs: config.server.responseDeadlineMs,
    metrics,
  })
  return { updateInfo, registry, credentials, inventory, lastAuthentications, firmware }
}
