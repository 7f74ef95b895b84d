// makeReplica: the domain (UpdateInfoService) of one server replica over a shared store, with a fake clock, for race tests.
import { X509Certificate } from 'node:crypto'
import pino from 'pino'
import type { BootstrapPolicy } from '../../src/config'
import { credentialBlobCertificate } from '../../src/cups/credential-blob'
import { crc32 } from '../../src/cups/crc32'
import { parseUpdateInfoRequest } from '../../src/cups/update-info-request'
import type { Caller } from '../../src/gateways/access-policy'
import { CredentialService } from '../../src/gateways/credential-service'
import { GatewayRegistry } from '../../src/gateways/gateway-registry'
import { InventoryRecorder } from '../../src/gateways/inventory-recorder'
import { LastAuthentications } from '../../src/gateways/last-authentication'
import { UpdateInfoService } from '../../src/gateways/update-info-service'
import type { LnsCa } from '../../src/gateways/update-info-service'
import { PromMetrics } from '../../src/observability/prom-metrics'
import { isIssuedBy } from '../../src/pki/certificates'
import { ClientCertificateChecker } from '../../src/pki/client-certificate-check'
import type { CredentialMinter } from '../../src/pki/credential-minter'
import type { Logger } from '../../src/logger'
import type { BlobStore } from '../../src/storage/blob-store'
import { CachedBlobStore } from '../../src/storage/cached-blob-store'
import { storageKeys } from '../../src/storage/storage-keys'
import { decodeUpdateInfoResponse } from './station-decoder'
import { stationRequest } from './station-request'
import type { TestPki } from './test-pki'

export const EUI = '0016c001ff10a235'
export const KEYS = storageKeys('cups/', EUI)
const log = pino({ level: 'silent' })

/** A clock the read caches of every replica share; advance() moves it. */
export class FakeClock {
  now = 1_000_000
  advance(ms: number): void {
    this.now += ms
  }
}

export interface ReplicaOptions {
  readonly policy?: BootstrapPolicy
  readonly ttlMs?: number
  readonly deadlineMs?: number
  readonly minter?: CredentialMinter
  readonly clock?: FakeClock
  readonly log?: Logger
  readonly tcUri?: string
  readonly lnsCa?: LnsCa
  /** Keep a fleet inventory (the defaults: 3 sends, 24 h back-off, 24 h refresh). */
  readonly inventory?: boolean
}

/** One replica: its own read cache over `storage`, our test CA, TC_URI set. */
export function makeReplica(
  storage: BlobStore,
  pki: TestPki,
  options: ReplicaOptions = {},
): { service: UpdateInfoService; metrics: PromMetrics; inventory: InventoryRecorder | undefined } {
  const clock = options.clock ?? new FakeClock()
  const store = new CachedBlobStore(storage, options.ttlMs ?? 30_000, () => clock.now)
  const metrics = new PromMetrics({ processMetrics: false })
  const authorities = { ours: [new X509Certificate(pki.trust)], factory: [] }
  const checker = new ClientCertificateChecker(() => authorities)
  const ours = (certificate: Buffer): boolean => isIssuedBy(certificate, pki.trust)
  const credentials = new CredentialService({
    store,
    minter: options.minter ?? pki.minter,
    trust: () => ({ cups: pki.trust, tc: pki.trust }),
    issuedByUs: ours,
    acceptsClientCertificate: ours,
    keyFor: (kind, eui) => (kind === 'cups' ? storageKeys('cups/', eui).cupsCredentials : storageKeys('cups/', eui).tcCredentials),
    minValidDays: 7,
    log: options.log ?? log,
    metrics,
  })
  const inventory =
    options.inventory === true
      ? new InventoryRecorder({
          store,
          keyFor: (eui) => storageKeys('cups/', eui).inventory,
          rules: { stuckAfterSends: 3, stuckBackoffMs: 24 * 3_600_000, refreshMs: 24 * 3_600_000 },
          log,
          metrics,
        })
      : undefined
  const service = new UpdateInfoService({
    credentials,
    cupsUri: undefined,
    tcUri: options.tcUri ?? 'wss://lns.example.com:8887',
    lnsCa: options.lnsCa,
    inventory,
    bootstrapPolicy: options.policy ?? 'registered',
    registry: new GatewayRegistry(store, (eui) => storageKeys('cups/', eui).settings, []),
    lastAuthentications: new LastAuthentications(store, (eui) => storageKeys('cups/', eui).lastAuthentication),
    checkCertificate: (der) => checker.check(der),
    deadlineMs: options.deadlineMs ?? 20_000,
    metrics,
  })
  return { service, metrics, inventory }
}

export const anonymous: Caller = { certificate: undefined, header: () => undefined, peer: '127.0.0.1' }
export const presenting = (certificate: Buffer): Caller => ({ certificate: { der: certificate }, header: () => undefined, peer: '127.0.0.1' })

export interface Poll {
  readonly status: number
  readonly cups?: Buffer | undefined
  readonly tc?: Buffer | undefined
  readonly error?: string
}

/** One poll of EUI reporting the CRCs of the bundles it holds; the status a station would see. */
export async function poll(
  service: UpdateInfoService,
  caller: Caller,
  held: { cups?: Buffer | undefined; tc?: Buffer | undefined; tcUri?: string } = {},
  requestLog: Logger = log,
): Promise<Poll> {
  const request = parseUpdateInfoRequest(
    stationRequest({
      router: '16:c001:ff10:a235',
      cupsCredCrc: held.cups ? crc32(held.cups) : 0,
      tcCredCrc: held.tc ? crc32(held.tc) : 0,
      tcUri: held.tcUri ?? null,
    }),
  )
  try {
    const segments = decodeUpdateInfoResponse((await service.respond(request, caller, requestLog)).body)
    return { status: 200, cups: segments.cupsCredentials, tc: segments.tcCredentials }
  } catch (err) {
    return { status: (err as { statusCode?: number }).statusCode ?? 500, error: (err as Error).message }
  }
}

export function certificateOf(bundle: Buffer | undefined): Buffer {
  const certificate = bundle === undefined ? undefined : credentialBlobCertificate(bundle)
  if (certificate === undefined) throw new Error('the bundle carries no certificate')
  return certificate
}
