// UpdateInfoService: one update-info request in, the CUPS response body out (the flow in design.md §2).
import type { BootstrapPolicy } from '../config'
import { X509Certificate } from 'node:crypto'
import { buildCredentialBlob, credentialBlobCertificate } from '../cups/credential-blob'
import { crc32 } from '../cups/crc32'
import { planUpdate } from '../cups/plan-update'
import type { DesiredGatewayState } from '../cups/plan-update'
import type { UpdateInfoRequest } from '../cups/update-info-request'
import { encodeUpdateInfoResponse, NO_CHANGE } from '../cups/update-info-response'
import { AppError, MintingError, StorageUnavailableError } from '../errors'
import type { Logger } from '../logger'
import type { Metrics } from '../metrics'
import type { CertificateCheck } from '../pki/client-certificate-check'
import { certificateNotAfter } from '../pki/certificate-expiry'
import type { CredentialMinter } from '../pki/credential-minter'
import { bundleMaterial } from './access-policy'
import type { Caller, Proof } from './access-policy'
import type { CredentialKind, CredentialPlan, CredentialService, EnsureContext, StoredWrite } from './credential-service'
import { effectiveSettings } from './gateway-settings'
import type { GatewaySettings } from './gateway-settings'
import type { GatewayRegistry } from './gateway-registry'
import { needsRecording } from './last-authentication'
import type { LastAuthentications } from './last-authentication'
import { isHeldBack, reportedValueCrc, SEGMENTS, valueCrc } from './inventory'
import type { InventoryEntry, Segment } from './inventory'
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

class DeadlineExceeded extends Error {}

export class UpdateInfoService {
  constructor(private readonly options: UpdateInfoServiceOptions) {}

  /**
   * The response body for this request. Throws an AppError (403 ...) when the caller may not act for the
   * gateway; trouble on our side never throws: the station would rotate to its backup credentials
   * (design.md §6), so it gets "no change" and tries again later. `log` is the request's logger, which
   * already names the gateway.
   */
  async respond(request: UpdateInfoRequest, caller: Caller, log: Logger): Promise<Buffer> {
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
      return Buffer.from(NO_CHANGE)
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

  private async decide(
    request: UpdateInfoRequest,
    caller: Caller,
    log: Logger,
    work: EnsureContext & { readonly onTcSeen?: (etag: string | undefined) => void },
  ): Promise<Buffer> {
    const { bootstrapPolicy, registry, credentials, lastAuthentications, checkCertificate, metrics } = this.options
    const eui = request.eui
    const now = this.options.now ?? (() => new Date())
    const access = await RequestAccess.open({ policy: bootstrapPolicy, registry, credentials, lastAuthentications, checkCertificate, now }, caller, eui)
    // A record that does not validate says something we cannot honour: neither move the gateway to defaults
    // (another tenant's LNS, say) nor push it onto its backup credentials. The registry logged why.
    // A gateway.json that is not a JSON object at all (a broken hand edit) is the same: it registers nothing,
    // but a gateway that gets this far is not moved to the defaults either.
    const record = access.registration.record
    if (access.registration.problem !== undefined || (record !== undefined && record.problems.length > 0)) {
      metrics.increment('invalid_records_total')
      return Buffer.from(NO_CHANGE)
    }
    const { cupsUri, tcUri, ...settings } = effectiveSettings(this.options, record?.overrides)
    const tcPlan = this.tcPlan(settings)
    if (tcPlan === 'unavailable') {
      metrics.increment('invalid_records_total')
      log.warn({ problem: 'tcCredentials: lns-ca, but LNS_CA_CERT_PATH and LNS_CA_KEY_PATH are not set' }, 'gateway record cannot be honoured; answering no change')
      return Buffer.from(NO_CHANGE)
    }
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
    }
    // What TC bundle was there before this request wrote anything (for undoing an abandoned first identity).
    work.onTcSeen?.((await credentials.stored('tc', eui).catch(() => undefined))?.etag)
    // One after the other: at most one mint per gateway at a time, also within a request.
    const cupsCredentials = await this.credential('cups', eui, log, { ...guarded, known: access.storedCups })
    // A caller who proved nothing gets the TC key only together with its own CUPS identity: otherwise,
    // while CUPS minting fails, every anonymous request would walk away with the TC key.
    const tcWanted = tcUri !== undefined && (access.proof !== 'bootstrap' || cupsCredentials !== undefined)
    const tcCredentials = tcWanted ? await this.credential('tc', eui, log, guarded, tcPlan) : undefined
    const desired: { -readonly [K in keyof DesiredGatewayState]: DesiredGatewayState[K] } = {}
    if (cupsUri !== undefined) desired.cupsUri = cupsUri
    if (cupsCredentials !== undefined) desired.cupsCredentials = cupsCredentials
    // Without credentials a new LNS URI would only fail; with no tc.uri the station keeps polling us.
    if (tcUri !== undefined && tcCredentials !== undefined) {
      desired.tcUri = tcUri
      desired.tcCredentials = tcCredentials
    }

    const held = heldBack(await inventoryEntry, request, desired, this.now())
    const response = planUpdate(request, held.desired)
    // Key material leaves only for a caller still allowed on fresh reads (a revoke within the cache TTL counts).
    if (response.cupsCredentials !== undefined || response.tcCredentials !== undefined) await access.confirm()
    // Past the deadline the station already has "no change": these deliveries never happened.
    work.signal?.throwIfAborted()
    this.auditDelivery(access.proof, 'cups', response.cupsCredentials, log)
    this.auditDelivery(access.proof, 'tc', response.tcCredentials, log)
    const body = encodeUpdateInfoResponse(response)
    if (held.segments.length > 0) log.info({ segments: held.segments }, 'stuck segments held back until their back-off ends')
    this.options.inventory?.observe(eui, {
      now: this.now(),
      reported: request,
      desired,
      sent: SEGMENTS.filter((segment) => response[segment] !== undefined),
      certificate: () => describeCertificate(desired.cupsCredentials),
    })
    return body
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
  ): Promise<Buffer | undefined> {
    try {
      const blob = await this.options.credentials.ensure(kind, eui, context, plan)
      if (blob === undefined) this.options.metrics.increment('unusable_bundles_total', { kind })
      return blob
    } catch (err) {
      // No longer allowed on fresh reads (revoked meanwhile): that is the answer, not our trouble.
      if (err instanceof AppError) throw err
      // Abandoned at the deadline, which was already logged and counted once for the whole request.
      if (context.signal?.aborted !== true) this.countFailure(err, kind, log)
      return undefined
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

/** The desired state without segments the loop guard holds back (stuck, same value, same report). */
function heldBack(
  entry: InventoryEntry | undefined,
  request: UpdateInfoRequest,
  desired: DesiredGatewayState,
  now: Date,
): { desired: DesiredGatewayState; segments: Segment[] } {
  if (entry?.segments === undefined) return { desired, segments: [] }
  const kept: { -readonly [K in keyof DesiredGatewayState]: DesiredGatewayState[K] } = { ...desired }
  const segments: Segment[] = []
  for (const segment of SEGMENTS) {
    const value = valueCrc(segment, desired)
    if (value !== undefined && isHeldBack(entry, segment, value, reportedValueCrc(segment, request), now)) {
      Reflect.deleteProperty(kept, segment)
      segments.push(segment)
    }
  }
  return { desired: kept, segments }
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
