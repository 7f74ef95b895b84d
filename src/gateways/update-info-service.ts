// UpdateInfoService: one update-info request in, the CUPS response body out (the flow in design.md §2).
import type { BootstrapPolicy } from '../config'
import { X509Certificate } from 'node:crypto'
import { buildCredentialBlob, credentialBlobCertificate } from '../cups/credential-blob'
import { crc32 } from '../cups/crc32'
import type { UpdateInfoRequest } from '../cups/update-info-request'
import { encodeUpdateInfoHead, encodeUpdateInfoResponse, NO_CHANGE } from '../cups/update-info-response'
import type { UpdateInfoResponse } from '../cups/update-info-response'
import type { FirmwareService } from '../firmware/firmware-service'
import { selectFirmware } from '../firmware/select-firmware'
import type { FirmwareChoice, FirmwareOffer } from '../firmware/select-firmware'
import { AppError, MintingError, StorageUnavailableError } from '../errors'
import type { Logger } from '../logger'
import type { Metrics } from '../observability/metrics'
import type { CertificateCheck } from '../pki/client-certificate-check'
import { certificateNotAfter } from '../pki/certificate-expiry'
import type { CredentialMinter } from '../pki/credential-minter'
import { bundleMaterial } from './access-policy'
import type { Caller, Proof } from './access-policy'
import type { BundleVerdict, CredentialKind, CredentialPlan, CredentialService, EnsureContext, StoredWrite } from './credential-service'
import { decideUpdate, wantsTcCredentials } from './decide-update'
import type { BundleChoice, Decision } from './decide-update'
import { BOOTSTRAP_ONCE } from './gateway-record'
import { effectiveSettings } from './gateway-settings'
import type { GatewaySettings } from './gateway-settings'
import type { GatewayRegistry } from './gateway-registry'
import { needsRecording } from './last-authentication'
import type { LastAuthentications } from './last-authentication'
import { SEGMENTS } from './inventory'
import type { InventoryEntry, Observation, Segment } from './inventory'
import type { InventoryRecorder } from './inventory-recorder'
import { RequestAccess } from './request-access'

/** A second CA that mints TC credentials for gateways whose record says `"source": "lns-ca"`. */
export interface LnsCa {
  readonly minter: CredentialMinter
  readonly issued: (certificate: Buffer) => boolean
}

export interface UpdateInfoServiceOptions {
  readonly credentials: CredentialService
  /** Fleet defaults (CUPS_URI, TC_URI); a gateway record overrides them. */
  readonly cupsUri: string | undefined
  readonly tcUri: string | undefined
  /** LNS_CA_CERT_PATH + LNS_CA_KEY_PATH, when configured. */
  readonly lnsCa?: LnsCa | undefined
  /** The fleet inventory and its loop guard; written after each answer. */
  readonly inventory?: InventoryRecorder | undefined
  /** Firmware updates; without it no answer carries one. */
  readonly firmware?: FirmwareService | undefined
  readonly bootstrapPolicy: BootstrapPolicy
  readonly registry: GatewayRegistry
  readonly lastAuthentications: LastAuthentications
  /** Verifies a client certificate against the CAs accepted right now (ClientCertificateChecker). */
  readonly checkCertificate: (der: Buffer) => CertificateCheck
  /** A request that takes longer (slow storage, stuck mint) is answered "no change" instead. */
  readonly deadlineMs: number
  readonly metrics: Metrics
  readonly now?: () => Date
}

/** What `gateway preview` shows: the status a caller would get, or the segments of the answer and why. */
export type Preview =
  | { readonly outcome: 'refused'; readonly status: number; readonly reason: string }
  | { readonly outcome: 'no-change'; readonly proof: Proof; readonly reason: string }
  | {
      readonly outcome: 'answer'
      readonly proof: Proof
      readonly cupsUri: string | undefined
      readonly tcUri: string | undefined
      readonly decision: Decision
      /** The firmware update it would get, or why none; undefined without a firmware catalogue. */
      readonly firmware: FirmwareChoice | undefined
      /** What the server would do besides answering (mint, record, ...), in words. */
      readonly actions: readonly string[]
    }

/** One segment of an answer as logs may show it: never the bytes, only which, their CRC-32 and length. */
export interface SentSegment {
  readonly segment: Segment
  readonly crc: number
  readonly length: number
}

/** A firmware update going out with the answer: `body` is then every byte before it, and `stream` all of it. */
export interface SentUpdate {
  readonly firmware: string
  readonly version: string
  /** The key CRC of the signature sent; undefined for an unsigned update (a keyless station). */
  readonly keyCrc: number | undefined
  readonly length: number
  /** The whole answer (body, then the update as storage streams it), `total` bytes. */
  readonly stream: NodeJS.ReadableStream & { destroy(error?: Error): void; readonly readableEnded: boolean }
  readonly total: number
}

/** The response body, and what the request's log line says about it. */
export interface Answer {
  readonly body: Buffer
  /** Empty for "no change". */
  readonly sent: readonly SentSegment[]
  /** How the caller proved who it is, once that is known. */
  readonly proof?: Proof
  readonly update?: SentUpdate | undefined
}

const NO_CHANGE_ANSWER: Answer = { body: NO_CHANGE, sent: [] }

type Gathered =
  | { readonly access: RequestAccess; readonly noChange: string }
  | {
      readonly access: RequestAccess
      readonly noChange?: undefined
      readonly cupsUri: string | undefined
      readonly tcUri: string | undefined
      readonly tcPlan: CredentialPlan | undefined
    }

class DeadlineExceeded extends Error {}

export class UpdateInfoService {
  constructor(private readonly options: UpdateInfoServiceOptions) {}

  /**
   * The response body for this request. Throws an AppError (403 ...) when the caller may not act for the
   * gateway; trouble on our side never throws: the station would rotate to its backup credentials
   * (design.md §6), so it gets "no change" and tries again later. `log` is the request's logger, which
   * already names the gateway.
   */
  async respond(request: UpdateInfoRequest, caller: Caller, log: Logger): Promise<Answer> {
    // Past the deadline the station has its answer; the abandoned work must not store bundles it never got.
    const abandoned = new AbortController()
    const writes: StoredWrite[] = []
    let tcAtStart: string | undefined
    let undone = false
    const work = {
      signal: abandoned.signal,
      onWritten: (write: StoredWrite) => {
        writes.push(write)
        // A write landing after the undo ran (storage that answered very late) goes the same way.
        if (undone && writes.some((other) => other.first)) void write.undo()
      },
      onTcSeen: (etag: string | undefined) => (tcAtStart = etag),
    }
    const decided = this.decide(request, caller, log, work)
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        abandoned.abort()
        // Once the abandoned work has settled (no write of it still landing), or another deadline later at
        // the latest, take back what the station never got: e.g. the CUPS bundle stored in time, the TC one not.
        // A firmware stream opened for an answer that was never sent holds a download slot and a file: close it.
        void decided.then((late) => late.update?.stream.destroy(), noop)
        const settled = decided.then(noop, noop)
        void Promise.race([settled, delay(this.options.deadlineMs)]).then(async () => {
          undone = true
          await this.undoAbandoned(request.eui, writes, tcAtStart)
        })
        reject(new DeadlineExceeded())
      }, this.options.deadlineMs)
    })
    try {
      return await Promise.race([decided, deadline])
    } catch (err) {
      if (err instanceof AppError) {
        this.options.inventory?.refused(request.eui, { now: this.now(), status: err.statusCode, reason: err.message }, () =>
          this.options.registry.isRegistered(request.eui),
        )
        throw err
      }
      if (err instanceof DeadlineExceeded) {
        this.options.metrics.increment('deadline_exceeded_total')
        log.warn({ deadlineMs: this.options.deadlineMs }, 'response deadline exceeded; answering no change')
      } else {
        this.countFailure(err, 'request', log)
      }
      return { ...NO_CHANGE_ANSWER, body: Buffer.from(NO_CHANGE) }
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * A first identity the station never got must go, with every other bundle the same request stored, or the
   * gateway is locked out as "provisioned". Renewals alone stay (the old certificate still works). The CUPS
   * identity stays only if a TC bundle appeared that neither this request wrote nor was there when it began:
   * another replica then delivered both to the gateway, and taking one away would lock it out.
   */
  private async undoAbandoned(eui: string, writes: readonly StoredWrite[], tcAtStart: string | undefined): Promise<void> {
    if (!writes.some((write) => write.first)) return
    for (const write of [...writes].reverse()) {
      if (write.kind === 'cups' && write.first) {
        const tc = await this.options.credentials.stored('tc', eui, { fresh: true }).catch(() => undefined)
        if (tc !== undefined && tc.etag !== tcAtStart && !writes.some((other) => other.etag === tc.etag && other.kind === 'tc')) continue
      }
      await write.undo()
    }
  }

  /**
   * What the next answer would be, decided by the same code as respond() on the same storage, but nothing is
   * minted, written, counted or recorded (`cups-server gateway preview`). A refusal is a result, not a throw.
   */
  async preview(request: UpdateInfoRequest, caller: Caller): Promise<Preview> {
    const { credentials } = this.options
    let gathered: Gathered
    try {
      gathered = await this.gather(request, caller)
    } catch (err) {
      if (err instanceof AppError) return { outcome: 'refused', status: err.statusCode, reason: err.message }
      throw err
    }
    const { access } = gathered
    if (gathered.noChange !== undefined) return { outcome: 'no-change', proof: access.proof, reason: gathered.noChange }
    const { eui } = access
    const { cupsUri, tcUri, tcPlan } = gathered
    const actions: string[] = []
    const wanted = access.authenticatedWith
    if (wanted !== undefined && needsRecording(await access.lastAuthentication(), wanted)) actions.push(`record what it authenticated with (${wanted.via}) as its last authentication`)
    const cupsVerdict = credentials.assess('cups', eui, access.storedCups)
    const cups = choiceOf(cupsVerdict)
    const tcVerdict = wantsTcCredentials(tcUri, access.proof, cups) ? credentials.assess('tc', eui, await credentials.stored('tc', eui), tcPlan) : undefined
    for (const [kind, verdict] of [['cups', cupsVerdict], ['tc', tcVerdict]] as const) {
      if (verdict !== undefined && verdict.do !== 'serve' && verdict.do !== 'withhold') actions.push(`${verdict.do} the ${kind} bundle: ${verdict.reason}`)
    }
    const decision = decideUpdate({
      request,
      cupsUri,
      tcUri,
      proof: access.proof,
      cups,
      tc: tcVerdict === undefined ? undefined : choiceOf(tcVerdict),
      inventory: await this.options.inventory?.entry(eui),
      now: this.now(),
    })
    if (consumesBootstrapOnce(access, decision.explain().cupsCredentials.send)) actions.push('remove the reset\'s one anonymous bootstrap from its record')
    const firmware = this.options.firmware === undefined ? undefined : this.selectFor(request, access, await this.options.inventory?.entry(eui), await this.options.firmware.offers())
    return { outcome: 'answer', proof: access.proof, cupsUri, tcUri, decision, firmware, actions }
  }

  /** Who is asking and what applies to the gateway: read-only, shared by respond() and preview(). */
  private async gather(request: UpdateInfoRequest, caller: Caller): Promise<Gathered> {
    const { bootstrapPolicy, registry, credentials, lastAuthentications, checkCertificate } = this.options
    const now = this.options.now ?? (() => new Date())
    const access = await RequestAccess.open({ policy: bootstrapPolicy, registry, credentials, lastAuthentications, checkCertificate, now }, caller, request.eui)
    // A record that does not validate says something we cannot honour: neither move the gateway to defaults
    // (another tenant's LNS, say) nor push it onto its backup credentials. The registry logged why.
    // A gateway.json that is not a JSON object at all (a broken hand edit) is the same: it registers nothing,
    // but a gateway that gets this far is not moved to the defaults either.
    const { record, problem } = access.registration
    if (problem !== undefined) return { access, noChange: `its gateway.json is not a record (${problem}); answered "no change" until it is fixed` }
    if (record !== undefined && record.problems.length > 0) {
      return { access, noChange: `its record does not validate (${record.problems.join('; ')}); answered "no change" until it is fixed` }
    }
    const { cupsUri, tcUri, ...settings } = effectiveSettings(this.options, record?.overrides)
    const tcPlan = this.tcPlan(settings)
    if (tcPlan === 'unavailable') {
      return { access, noChange: 'its record says tcCredentials: lns-ca, but LNS_CA_CERT_PATH and LNS_CA_KEY_PATH are not set; answered "no change"' }
    }
    return { access, cupsUri, tcUri, tcPlan }
  }

  private async decide(
    request: UpdateInfoRequest,
    caller: Caller,
    log: Logger,
    work: EnsureContext & { readonly onTcSeen?: (etag: string | undefined) => void },
  ): Promise<Answer> {
    const { credentials, metrics } = this.options
    const eui = request.eui
    const gathered = await this.gather(request, caller)
    const { access } = gathered
    if (gathered.noChange !== undefined) {
      metrics.increment('invalid_records_total')
      if (access.registration.problem === undefined && access.registration.record?.problems.length === 0) {
        log.warn({ problem: gathered.noChange }, 'gateway record cannot be honoured; answering no change')
      }
      return { body: Buffer.from(NO_CHANGE), sent: [], proof: access.proof }
    }
    const { cupsUri, tcUri, tcPlan } = gathered
    // Read alongside the rest (through the read cache): the loop guard needs it before the answer is planned.
    const inventoryEntry = this.options.inventory?.entry(eui)
    const recorded = await this.rememberAuthentication(access, log)

    const guarded: EnsureContext = {
      ...work,
      beforeWrite: () => access.confirm(),
      afterWrite: (undo) => access.assertStillActive(undo),
      anonymous: access.proof === 'bootstrap',
      // Renewing while the certificate it replaces is not on record could strand a gateway that misses the answer.
      renew: recorded,
      log,
    }
    // What TC bundle was there before this request wrote anything (for undoing an abandoned first identity).
    work.onTcSeen?.((await credentials.stored('tc', eui).catch(() => undefined))?.etag)
    // One after the other: at most one mint per gateway at a time, also within a request.
    const cups = await this.credential('cups', eui, log, { ...guarded, known: access.storedCups })
    const tc = wantsTcCredentials(tcUri, access.proof, cups) ? await this.credential('tc', eui, log, guarded, tcPlan) : undefined
    const decision = decideUpdate({ request, cupsUri, tcUri, proof: access.proof, cups, tc, inventory: await inventoryEntry, now: this.now() })
    const { response, desired } = decision
    // Key material leaves only for a caller still allowed on fresh reads (a revoke within the cache TTL counts).
    if (response.cupsCredentials !== undefined || response.tcCredentials !== undefined) await access.confirm()
    // Past the deadline the station already has "no change": these deliveries never happened.
    work.signal?.throwIfAborted()
    if (consumesBootstrapOnce(access, response.cupsCredentials !== undefined)) await this.consumeBootstrapOnce(eui, log)
    this.auditDelivery(access.proof, 'cups', response.cupsCredentials, log)
    this.auditDelivery(access.proof, 'tc', response.tcCredentials, log)
    const inventory = await inventoryEntry
    const firmware = await this.firmwareChoice(request, access, inventory, log)
    const update = firmware === undefined || !('send' in firmware) ? undefined : await this.openUpdate(firmware, request, response, work.signal, log)
    const body = update?.head ?? encodeUpdateInfoResponse(response)
    const sent = SEGMENTS.flatMap((segment) => {
      const value = response[segment]
      if (value === undefined) return []
      const bytes = typeof value === 'string' ? Buffer.from(value) : value
      return [{ segment, crc: crc32(bytes), length: bytes.length }]
    })
    if (decision.heldBack.length > 0) log.info({ segments: decision.heldBack }, 'stuck segments held back until their back-off ends')
    this.options.inventory?.observe(eui, {
      now: this.now(),
      reported: request,
      desired,
      sent: sent.map(({ segment }) => segment),
      certificate: () => describeCertificate(desired.cupsCredentials),
      ...(firmware === undefined ? {} : { firmware: firmwareObservation(firmware) }),
    })
    return { body, sent, proof: access.proof, update: update?.sent }
  }

  /**
   * What the firmware rules say for this gateway now; undefined without a catalogue. An update due is decided again
   * on the inventory entry read past the cache (replicas count deliveries into it), and not sent at all when that
   * entry cannot be read: the loop guard fails closed.
   */
  private async firmwareChoice(request: UpdateInfoRequest, access: RequestAccess, inventory: InventoryEntry | undefined, log: Logger): Promise<FirmwareChoice | undefined> {
    const service = this.options.firmware
    if (service === undefined) return undefined
    const catalogue = await service.offers()
    const choose = (entry: InventoryEntry | undefined): FirmwareChoice => this.selectFor(request, access, entry, catalogue)
    const first = choose(inventory)
    if (!('send' in first) || this.options.inventory === undefined) return first
    const fresh = await this.options.inventory.freshEntry(request.eui)
    if (fresh === undefined) {
      this.options.metrics.increment('firmware_withheld_total', { reason: 'inventory_unreadable' })
      return { none: 'its inventory entry could not be read, so the loop guard cannot count: no update this time' }
    }
    const choice = choose(fresh.entry)
    if ('send' in choice) log.debug({ firmware: choice.send.manifest.id, reason: choice.reason }, 'firmware update due')
    return choice
  }

  /** The firmware rules for this gateway, its record and inventory entry: the one decision respond() and preview() share. */
  private selectFor(request: UpdateInfoRequest, access: RequestAccess, entry: InventoryEntry | undefined, catalogue: ReadonlyMap<string, FirmwareOffer>): FirmwareChoice {
    const overrides = access.registration.record?.overrides
    return selectFirmware({
      eui: request.eui,
      request,
      labels: overrides?.labels ?? {},
      preference: overrides?.firmware,
      catalogue,
      deliveries: entry?.firmware,
      now: this.now(),
    })
  }

  /** The answer's head with the update's signature and length, and the update streamed after it; undefined when it waits. */
  private async openUpdate(
    choice: Extract<FirmwareChoice, { send: unknown }>,
    request: UpdateInfoRequest,
    response: UpdateInfoResponse,
    signal: AbortSignal | undefined,
    log: Logger,
  ): Promise<{ head: Buffer; sent: SentUpdate } | undefined> {
    const service = this.options.firmware
    const { manifest } = choice.send
    const release = service?.acquire(choice.send, request.eui)
    if (service === undefined || release === undefined) {
      log.info({ firmware: manifest.id }, 'firmware update due, but the download cap is reached or this gateway is downloading already; sent at a later poll')
      return undefined
    }
    const signature = choice.signature === undefined ? undefined : { keyCrc: choice.signature.keyCrc, der: Buffer.from(choice.signature.signature, 'base64') }
    let head: Buffer
    try {
      signal?.throwIfAborted()
      head = encodeUpdateInfoHead({ ...response, ...(signature === undefined ? {} : { signature }) }, manifest.size)
    } catch (err) {
      release()
      throw err
    }
    // A delivery counts for the loop guard once every byte went out; a download cut short is no delivery.
    const onDelivered = (): void => {
      this.options.inventory?.delivered(request.eui, { now: this.now(), id: manifest.id, version: manifest.version, package: request.package })
    }
    const opened = await service.open(manifest, head, release, onDelivered)
    if (opened === undefined) return undefined
    if (signal?.aborted === true) {
      // Answered "no change" at the deadline while this opened: the station never gets this stream.
      opened.stream.destroy()
      return undefined
    }
    return {
      head,
      sent: { firmware: manifest.id, version: manifest.version, keyCrc: signature?.keyCrc, length: manifest.size, stream: opened.stream, total: opened.length },
    }
  }

  /**
   * A reset allows one anonymous first contact: once it takes its new identity the flag goes, so deleting
   * the bundles later does not open another one. The gateway is provisioned by then anyway (anonymous
   * callers are refused), so a failure here is logged and the answer still goes out.
   */
  private async consumeBootstrapOnce(eui: string, log: Logger): Promise<void> {
    try {
      await this.options.registry.consumeBootstrapOnce(eui)
      log.info({ audit: 'reset-bootstrap-used', eui }, 'the reset\'s one anonymous first contact took the new identity')
    } catch (err) {
      this.countFailure(err, 'reset-bootstrap', log)
    }
  }

  private now(): Date {
    return this.options.now?.() ?? new Date()
  }

  /**
   * A gateway that starts over (no CUPS bundle, or one with a trust only) gets a first identity, so nothing
   * it authenticated with before may count any more: deleting the bundles locks a stolen certificate out for
   * good. Otherwise, once it shows its current credential, that becomes the one a missed renewal falls back
   * to. Both are written only after fresh reads confirm them. False when the record could not be written:
   * this request then renews nothing (the certificate a renewal replaces would not be on record).
   */
  private async rememberAuthentication(access: RequestAccess, log: Logger): Promise<boolean> {
    const { lastAuthentications } = this.options
    const { eui } = access
    if (!bundleMaterial(access.storedCups?.body).provisioned) {
      await access.confirm()
      // Never mint a first identity while an old certificate still counts: a failure here fails the request.
      if (!bundleMaterial(access.storedCups?.body).provisioned) await lastAuthentications.forget(eui)
      return true
    }
    const wanted = access.authenticatedWith
    if (wanted === undefined || !needsRecording(await access.lastAuthentication(), wanted)) return true
    try {
      await access.confirm()
      const confirmed = access.authenticatedWith
      if (confirmed === undefined) return true
      await lastAuthentications.remember(eui, confirmed)
      await access.assertStillActive(() => lastAuthentications.forget(eui))
      return true
    } catch (err) {
      if (err instanceof AppError) throw err
      this.countFailure(err, 'last-authentication', log)
      return false
    }
  }

  /** Where this gateway's TC bundle comes from, per its record; undefined = as without a record. */
  private tcPlan(settings: Pick<GatewaySettings, 'tcTrust' | 'tcSource'>): CredentialPlan | undefined | 'unavailable' {
    const { tcTrust, tcSource } = settings
    const trust = tcTrust ?? this.options.credentials.defaultTrust('tc')
    switch (tcSource?.source) {
      case undefined:
        return tcTrust === undefined ? undefined : { source: 'minted', trust, enforce: false }
      case 'ours':
        return { source: 'minted', trust, enforce: true }
      case 'lns-ca': {
        const lnsCa = this.options.lnsCa
        if (lnsCa === undefined) return 'unavailable'
        return { source: 'minted', trust, minter: lnsCa.minter, issuedBy: lnsCa.issued, enforce: true }
      }
      case 'none':
        return { source: 'fixed', bundle: buildCredentialBlob({ trust }) }
      case 'token':
        return { source: 'fixed', bundle: buildCredentialBlob({ trust, token: tcSource.token }) }
    }
  }

  /** One credential; a failure loses only this segment, the rest of the answer still goes out. */
  private async credential(
    kind: CredentialKind,
    eui: string,
    log: Logger,
    context: EnsureContext,
    plan?: CredentialPlan,
  ): Promise<BundleChoice> {
    try {
      const blob = await this.options.credentials.ensure(kind, eui, context, plan)
      if (blob !== undefined) return { bundle: blob, reason: 'prepared' }
      this.options.metrics.increment('unusable_bundles_total', { kind })
      return { none: 'the stored bundle is not one a station can use' }
    } catch (err) {
      // No longer allowed on fresh reads (revoked meanwhile): that is the answer, not our trouble.
      if (err instanceof AppError) throw err
      // Abandoned at the deadline, which was already logged and counted once for the whole request.
      if (context.signal?.aborted !== true) this.countFailure(err, kind, log)
      return { none: 'it could not be prepared (logged)' }
    }
  }

  private countFailure(err: unknown, what: string, log: Logger): void {
    if (err instanceof StorageUnavailableError) this.options.metrics.increment('storage_failures_total')
    else if (err instanceof MintingError) this.options.metrics.increment('mint_failures_total')
    log.error({ what, err }, 'could not prepare credentials; answering no change for them')
  }

  private auditDelivery(proof: Proof, kind: CredentialKind, blob: Buffer | undefined, log: Logger): void {
    if (blob === undefined) return
    this.options.metrics.increment('credentials_delivered_total', { kind })
    log.info({ audit: 'credential-delivered', kind, crc: crc32(blob), length: blob.length, proof }, 'delivered credentials')
  }
}

/** What the inventory learns from this poll about firmware: the loop guard's verdict (deliveries are counted on completion). */
function firmwareObservation(choice: FirmwareChoice): Observation['firmware'] {
  return 'none' in choice && choice.failed !== undefined ? { id: choice.failed.id, version: choice.failed.version, failed: true } : undefined
}

/** A first identity that goes to a caller who proved nothing, on a gateway whose record carries a reset's flag. */
function consumesBootstrapOnce(access: RequestAccess, deliversCups: boolean): boolean {
  return deliversCups && access.proof === 'bootstrap' && access.registration.record?.fields.bootstrap === BOOTSTRAP_ONCE
}

/** A verdict as the decision sees it: bytes to compare, bytes still to be made, or nothing to send. */
function choiceOf(verdict: BundleVerdict): BundleChoice {
  switch (verdict.do) {
    case 'serve':
    case 'set':
      return { bundle: verdict.bundle, reason: verdict.reason }
    case 'withhold':
      return { none: verdict.reason }
    case 'mint':
    case 'rewrap':
      return { pending: verdict.do, reason: verdict.reason }
  }
}

function describeCertificate(bundle: Buffer | undefined): { serial: string; notAfter: string } | undefined {
  const certificate = bundle === undefined ? undefined : credentialBlobCertificate(bundle)
  if (certificate === undefined) return undefined
  return { serial: new X509Certificate(certificate).serialNumber, notAfter: certificateNotAfter(certificate).toISOString() }
}

function noop(): void {
  // settled either way
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
