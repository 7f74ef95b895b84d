// CertificateExpiries: when the soonest gateway certificate in storage expires, by kind, from a periodic scan.
import type { Logger } from '../logger'
import { certificateNotAfter } from '../pki/certificate-expiry'
import type { BlobStore } from '../storage/blob-store'
import { gatewayEuisOf, storageKeys } from '../storage/storage-keys'
import { bundleMaterial } from './access-policy'
import type { CredentialKind } from './credential-service'
import { mapBounded } from './fleet-view'

const KINDS: readonly CredentialKind[] = ['cups', 'tc']
// Bundles read at once: enough to hide storage latency, few enough to leave room for gateways' requests.
const CONCURRENCY = 8

export interface SoonestExpiry {
  readonly kind: CredentialKind
  /** Unix seconds; Infinity when no bundle of this kind holds a certificate. */
  readonly seconds: number
  readonly eui: string | undefined
}

/**
 * A gateway that stops polling never renews, and nothing in the request path notices: only reading storage
 * does. A scan reads every CUPS and TC bundle once (2 reads per gateway, past the read cache so it does not
 * evict what gateways need); its result replaces the last one whole, and a failed scan keeps the last one.
 */
export class CertificateExpiries {
  private soonest: readonly SoonestExpiry[] = KINDS.map((kind) => ({ kind, seconds: Infinity, eui: undefined }))
  private timer: NodeJS.Timeout | undefined
  private scanning: Promise<void> | undefined

  constructor(
    private readonly store: BlobStore,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  current(): readonly SoonestExpiry[] {
    return this.soonest
  }

  /** Scans now, then every intervalMs (0: only now). Scans never overlap; the timer keeps no process alive. */
  start(intervalMs: number): void {
    void this.scan()
    if (intervalMs > 0) {
      this.timer = setInterval(() => void this.scan(), intervalMs)
      this.timer.unref()
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.scanning
  }

  scan(): Promise<void> {
    this.scanning ??= this.read().finally(() => {
      this.scanning = undefined
    })
    return this.scanning
  }

  private async read(): Promise<void> {
    const started = Date.now()
    try {
      const euis = gatewayEuisOf(await this.store.list(this.prefix), this.prefix)
      const found = KINDS.map((kind) => ({ kind, seconds: Infinity, eui: undefined as string | undefined }))
      await mapBounded(euis, CONCURRENCY, async (eui) => {
        const keys = storageKeys(this.prefix, eui)
        for (const entry of found) {
          const notAfter = await this.notAfter(entry.kind === 'cups' ? keys.cupsCredentials : keys.tcCredentials)
          if (notAfter !== undefined && notAfter < entry.seconds) Object.assign(entry, { seconds: notAfter, eui })
        }
      })
      this.soonest = found
      const soonest = Object.fromEntries(found.map(({ kind, seconds, eui }) => [kind, seconds === Infinity ? null : { eui, notAfter: new Date(seconds * 1000).toISOString() }]))
      this.log.info({ gateways: euis.length, ms: Date.now() - started, soonest }, 'gateway certificates scanned for expiry')
    } catch (err) {
      this.log.warn({ err, ms: Date.now() - started }, 'gateway certificate expiry scan failed; the gauges keep the last scan')
    }
  }

  private async notAfter(key: string): Promise<number | undefined> {
    const stored = await this.store.get(key)
    const certificate = stored === undefined ? undefined : bundleMaterial(stored.body).certificate
    if (certificate === undefined) return undefined
    try {
      return certificateNotAfter(certificate).getTime() / 1000
    } catch {
      return undefined
    }
  }
}
