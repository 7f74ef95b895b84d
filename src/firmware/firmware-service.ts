// FirmwareService: the server's view of the catalogue (refreshed, each update checked once), download slots and the stream it sends.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { Logger } from '../logger'
import type { Metrics } from '../observability/metrics'
import type { BlobStore, ObjectStream } from '../storage/blob-store'
import { FirmwareCatalogue, firmwareKeys } from './firmware-catalogue'
import type { FirmwareManifest, FirmwareSignature, Rollout } from './firmware-manifest'
import { ROLLOUT_DEFAULTS } from './firmware-manifest'
import type { FirmwareOffer } from './select-firmware'
import { SignatureCheck } from './signing-keys'

export interface FirmwareServiceOptions {
  /** Manifests and rollouts are read through it (the read cache is fine: they change rarely). */
  readonly store: BlobStore
  readonly prefix: string
  /** How long one view of the catalogue serves before it is read again (CACHE_TTL_SECONDS). */
  readonly refreshMs: number
  readonly log: Pick<Logger, 'info' | 'warn' | 'error'>
  readonly metrics: Metrics
  readonly now?: () => Date
}

/** How long a poll waits for a due refresh of the catalogue before it takes the last view. */
const FRESH_WAIT_MS = 250
const NO_OFFERS: ReadonlyMap<string, FirmwareOffer> = new Map()

type Check =
  | { readonly usable: true; readonly signatures: readonly FirmwareSignature[] }
  | { readonly usable: false; readonly problem: string; readonly missing: boolean }

/** An update on its way to a station: the answer's bytes up to updLen, then the update as storage streams it. */
export interface UpdateStream {
  readonly stream: Readable
  readonly length: number
}

export class FirmwareService {
  private readonly catalogue: FirmwareCatalogue
  private view: { offers: ReadonlyMap<string, FirmwareOffer>; at: number } | undefined
  private loading: Promise<ReadonlyMap<string, FirmwareOffer>> | undefined
  /** By id and manifest ETag: an update is read and checked once, not per delivery. */
  private readonly checks = new Map<string, Promise<Check>>()
  private readonly inFlight = new Map<string, number>()
  /** Gateways with a download under way on this replica. */
  private readonly downloading = new Set<string>()
  private streaming = 0
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly options: FirmwareServiceOptions) {
    this.catalogue = new FirmwareCatalogue(options.store, options.prefix)
  }

  /**
   * Every usable firmware with its rollout. The first call waits for the catalogue. Once the view is older than
   * refreshMs a call starts a refresh and waits for it at most FRESH_WAIT_MS (a local or healthy storage answers
   * within that), else takes the last view; the refresh goes on in the background. Storage trouble keeps the last
   * view: an update is never worth failing a poll for.
   */
  async offers(): Promise<ReadonlyMap<string, FirmwareOffer>> {
    const view = this.view
    if (view !== undefined && Date.now() - view.at < this.options.refreshMs) return view.offers
    // Before the first load has finished (a restart) that is an empty catalogue: no poll waits for large reads.
    const fallback = view?.offers ?? NO_OFFERS
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<ReadonlyMap<string, FirmwareOffer>>((resolve) => {
      timer = setTimeout(() => {
        resolve(fallback)
      }, FRESH_WAIT_MS)
    })
    try {
      return await Promise.race([this.refresh(), late])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Reads the catalogue now and then every refreshMs (at least every second) in the background, so polls find a new
   * firmware already checked instead of reading a large update on their way. The server calls it; the CLI does not.
   */
  watch(): void {
    void this.unwatch()
    void this.refresh()
    this.timer = setInterval(() => void this.refresh(), Math.max(1000, this.options.refreshMs))
    this.timer.unref()
  }

  /** Stops watch(); resolves once a refresh under way has finished (nothing reads storage after close). */
  async unwatch(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    await this.settled()
  }

  /** Resolves once a read of the catalogue under way (the first one after a start, say) has finished. */
  async settled(): Promise<void> {
    await this.loading?.catch(() => undefined)
  }

  /** Reads the catalogue again once a read under way has finished: afterwards the view holds what storage held at the call. */
  async reread(): Promise<void> {
    await this.settled()
    await this.refresh()
  }

  /**
   * A download slot for this firmware and gateway, or undefined: when its rollout's cap is reached on this replica,
   * or this gateway is downloading already (a station fetches one update at a time; more is someone holding slots).
   */
  acquire(offer: FirmwareOffer, eui: string): (() => void) | undefined {
    const id = offer.manifest.id
    const cap = offer.rollout?.maxConcurrentDownloads ?? ROLLOUT_DEFAULTS.maxConcurrentDownloads
    const used = this.inFlight.get(id) ?? 0
    if (this.downloading.has(eui)) {
      this.options.metrics.increment('firmware_withheld_total', { reason: 'already_downloading' })
      return undefined
    }
    if (used >= cap) {
      this.options.metrics.increment('firmware_withheld_total', { reason: 'download_cap' })
      return undefined
    }
    this.inFlight.set(id, used + 1)
    this.downloading.add(eui)
    let released = false
    return () => {
      if (released) return
      released = true
      this.downloading.delete(eui)
      const left = (this.inFlight.get(id) ?? 1) - 1
      if (left === 0) this.inFlight.delete(id)
      else this.inFlight.set(id, left)
    }
  }

  /**
   * The answer as a stream: `head` (every segment up to and including updLen), then the update read from storage.
   * Every byte is hashed on the way and the last chunk is held back until the whole update matched the manifest's
   * sha256: storage can change under a stream (a file rewritten in place, another object behind the key), and then
   * the connection ends short and the station, which only runs a complete update, runs nothing. `release` is called
   * once the stream is done, however it ends; `onDelivered` once every byte of it was handed to the connection.
   */
  async open(manifest: FirmwareManifest, head: Buffer, release: () => void, onDelivered?: () => void): Promise<UpdateStream | undefined> {
    let opened: ObjectStream | undefined
    try {
      opened = await this.options.store.openRead?.(firmwareKeys(this.options.prefix, manifest.id).update)
    } catch (err) {
      this.options.log.warn({ firmware: manifest.id, error: (err as Error).message }, 'firmware update could not be opened; not sent this time')
    }
    if (opened?.length !== manifest.size) {
      opened?.stream.destroy()
      release()
      this.options.metrics.increment('firmware_withheld_total', { reason: 'storage' })
      if (opened !== undefined) this.forget(manifest.id)
      return undefined
    }
    const { metrics, log } = this.options
    const source = opened.stream
    const forget = (): void => {
      this.forget(manifest.id)
    }
    async function* body(): AsyncGenerator<Buffer> {
      yield head
      const hash = createHash('sha256')
      let held: Buffer | undefined
      let bytes = 0
      for await (const chunk of source) {
        const piece = chunk as Buffer
        bytes += piece.length
        if (bytes > manifest.size) break
        hash.update(piece)
        if (held !== undefined) yield held
        held = piece
        // Done at the last byte, without waiting for the end of the file: a station closes the connection as
        // soon as it has Content-Length bytes, and the stream has ended by then.
        if (bytes === manifest.size) break
      }
      if (bytes !== manifest.size || hash.digest('hex') !== manifest.sha256) {
        forget()
        throw new Error(`firmware ${manifest.id}: the stored update is not the one checked against its manifest; connection cut short`)
      }
      if (held !== undefined) yield held
    }
    const stream = Readable.from(body(), { objectMode: false, highWaterMark: 64 * 1024 })
    this.streaming++
    metrics.set('firmware_downloads_in_flight', this.streaming)
    let completed = false
    stream.once('end', () => {
      completed = true
      onDelivered?.()
    })
    stream.once('error', (err) => {
      log.error({ firmware: manifest.id, error: err.message }, 'firmware download aborted')
    })
    stream.once('close', () => {
      source.destroy()
      this.streaming--
      metrics.set('firmware_downloads_in_flight', this.streaming)
      metrics.increment('firmware_downloads_total', { result: completed ? 'completed' : 'aborted' })
      release()
    })
    return { stream, length: head.length + manifest.size }
  }

  /**
   * A gateway the loop guard marked failed: counted on the rollout, which halts itself at its threshold.
   * Rollout writes are conditional, so replicas counting at once lose no failure.
   */
  async recordFailure(id: string, eui: string): Promise<void> {
    const { metrics, log } = this.options
    metrics.increment('firmware_failures_total')
    log.warn({ firmware: id, eui }, 'firmware update failed on this gateway: still on its old version after the last allowed delivery; not sent again')
    const outcome = { halted: false }
    const now = (this.options.now?.() ?? new Date()).toISOString()
    await this.catalogue.changeRollout(id, (current) => {
      outcome.halted = false
      if (current === undefined) return undefined
      const failures = current.failures + 1
      const next: Rollout = { ...current, failures, updatedAt: now }
      if (current.state === 'active' && failures >= current.haltAfterFailures) {
        outcome.halted = true
        return { ...next, state: 'halted', haltedAt: now, haltedReason: `${String(failures)} gateways failed (threshold ${String(current.haltAfterFailures)})` }
      }
      return next
    })
    if (outcome.halted) {
      metrics.increment('firmware_rollouts_halted_total')
      log.error({ firmware: id, audit: 'rollout-halted' }, 'firmware rollout halted itself: too many gateways failed')
      this.stale()
    }
  }

  private refresh(): Promise<ReadonlyMap<string, FirmwareOffer>> {
    this.loading ??= this.load()
      .then((offers) => {
        this.view = { offers, at: Date.now() }
        return offers
      })
      .catch((err: unknown) => {
        this.options.log.warn({ error: (err as Error).message }, 'firmware catalogue could not be read; keeping the last view')
        const kept = this.view?.offers ?? new Map<string, FirmwareOffer>()
        this.view = { offers: kept, at: Date.now() }
        return kept
      })
      .finally(() => {
        this.loading = undefined
      })
    return this.loading
  }

  /**
   * The listing failing fails the load (the last view stays). Anything wrong with one entry (a document that does
   * not validate, an update storage will not serve, a key that is not a point) leaves that firmware out of this
   * view, never the others: a halt elsewhere in the catalogue still takes effect.
   */
  private async load(): Promise<ReadonlyMap<string, FirmwareOffer>> {
    const offers = new Map<string, FirmwareOffer>()
    for (const id of await this.catalogue.ids()) {
      try {
        const offer = await this.offerOf(id)
        if (offer !== undefined) offers.set(id, offer)
      } catch (err) {
        this.options.log.warn({ firmware: id, problem: (err as Error).message }, 'firmware entry left out of the catalogue this time')
      }
    }
    return offers
  }

  private async offerOf(id: string): Promise<FirmwareOffer | undefined> {
    const [entry, rollout] = await Promise.all([this.catalogue.manifest(id), this.catalogue.rollout(id)])
    if (entry === undefined) return undefined
    // A folder copied by hand would send one firmware's update under another's rollout and records.
    if (entry.manifest.id !== id) throw new Error(`its manifest says id ${entry.manifest.id}`)
    const check = await this.check(entry.manifest, entry.etag)
    return check.usable ? { manifest: entry.manifest, rollout: rollout?.rollout, signatures: check.signatures } : undefined
  }

  /** Reads the update once: size and sha256 as the manifest says, and which signatures the station would accept. */
  private check(manifest: FirmwareManifest, etag: string): Promise<Check> {
    const key = `${manifest.id}\n${etag}`
    let check = this.checks.get(key)
    if (check === undefined) {
      check = this.read(manifest)
      this.checks.set(key, check)
      // Storage trouble, or an update.bin not written yet, is worth another try at the next refresh; a mismatch is not.
      void check.then(
        (result) => {
          if (!result.usable && result.missing) this.checks.delete(key)
        },
        () => this.checks.delete(key),
      )
    }
    return check
  }

  private async read(manifest: FirmwareManifest): Promise<Check> {
    const { log } = this.options
    // Before anything is opened: a key that is not a point only fails its own signature.
    const checks = manifest.signatures.map((entry) => {
      try {
        return new SignatureCheck([{ stationKey: Buffer.from(entry.stationKey, 'base64'), der: Buffer.from(entry.signature, 'base64') }])
      } catch {
        return undefined
      }
    })
    const opened = await this.options.store.openRead?.(firmwareKeys(this.options.prefix, manifest.id).update)
    if (opened === undefined) return this.unusable(manifest, 'its update.bin is missing', true)
    const hash = createHash('sha256')
    let size = 0
    try {
      for await (const chunk of opened.stream) {
        const piece = chunk as Buffer
        size += piece.length
        if (size > manifest.size) break
        hash.update(piece)
        for (const check of checks) check?.update(piece)
      }
    } finally {
      opened.stream.destroy()
    }
    if (size !== manifest.size || hash.digest('hex') !== manifest.sha256) return this.unusable(manifest, 'its update.bin does not match the manifest (size or sha256)')
    const good = manifest.signatures.filter((entry, index) => {
      const verified = checks[index]?.results()[0] === true
      if (!verified) log.warn({ firmware: manifest.id, keyCrc: entry.keyCrc }, 'firmware signature does not verify with its key; never sent')
      return verified
    })
    return { usable: true, signatures: good }
  }

  private unusable(manifest: FirmwareManifest, problem: string, missing = false): Check {
    this.options.log.error({ firmware: manifest.id, problem }, 'firmware entry unusable; never sent')
    return { usable: false, problem, missing }
  }

  /** After a mismatch in delivery: check the file again at the next refresh, and drop it from the view now. */
  private forget(id: string): void {
    for (const key of this.checks.keys()) if (key.startsWith(`${id}\n`)) this.checks.delete(key)
    if (this.view === undefined) return
    const offers = new Map(this.view.offers)
    offers.delete(id)
    this.view = { offers, at: 0 }
  }

  /** The next poll refreshes the view (a rollout this replica just changed). */
  private stale(): void {
    if (this.view !== undefined) this.view = { ...this.view, at: 0 }
  }
}
