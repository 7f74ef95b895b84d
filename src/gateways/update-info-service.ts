// UpdateInfoService: one update-info request in, the CUPS response body out (the flow in design.md §2).
import type { BootstrapPolicy } from '../config'
import { crc32 } from '../cups/crc32'
import { planUpdate } from '../cups/plan-update'
import type { DesiredGatewayState } from '../cups/plan-update'
import type { UpdateInfoRequest } from '../cups/update-info-request'
import { encodeUpdateInfoResponse, NO_CHANGE } from '../cups/update-info-response'
import { AppError, MintingError, StorageUnavailableError } from '../errors'
import type { Logger } from '../logger'
import type { Metrics } from '../metrics'
import type { CertificateCheck } from '../pki/client-certificate-check'
import type { StoredBlob } from '../storage/blob-store'
import { authorizeCaller } from './access-policy'
import type { Authorization, Caller, Proof } from './access-policy'
import type { CredentialKind, CredentialService, EnsureContext } from './credential-service'
import type { GatewayRegistry, Registration } from './gateway-registry'
import type { LastAuthentication, LastAuthentications } from './last-authentication'

export interface UpdateInfoServiceOptions {
  readonly credentials: CredentialService
  readonly cupsUri: string | undefined
  readonly tcUri: string | undefined
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

/** What the decision reads before it acts: the record, the stored CUPS bundle, and for certificate callers
 * their last authentication, read alongside (the policy may need it, and remembering reads it anyway). */
interface Gathered {
  readonly registration: Registration
  readonly storedCups: StoredBlob | undefined
  readonly lastAuthentication: Promise<LastAuthentication | undefined> | undefined
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
    const undoCreations: (() => Promise<void>)[] = []
    const work = { signal: abandoned.signal, onCreated: (undo: () => Promise<void>) => undoCreations.push(undo) }
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        abandoned.abort()
        // E.g. the CUPS bundle was stored in time but the TC mint was not: the station gets neither.
        void Promise.all(undoCreations.map((undo) => undo()))
        reject(new DeadlineExceeded())
      }, this.options.deadlineMs)
    })
    try {
      return await Promise.race([this.decide(request, caller, log, work), deadline])
    } catch (err) {
      if (err instanceof AppError) throw err
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

  private async decide(request: UpdateInfoRequest, caller: Caller, log: Logger, work: EnsureContext): Promise<Buffer> {
    const { cupsUri, tcUri } = this.options
    const eui = request.eui
    let gathered = await this.gather(eui, caller, false)
    let { proof, authenticatedWith } = await this.authorize(caller, eui, gathered, false)
    if (proof === 'bootstrap') {
      // A cached "no bundle" or "active" can be CACHE_TTL_SECONDS old; before handing keys to a caller who
      // proved nothing, make sure the gateway was not provisioned or revoked meanwhile (another replica, a tool).
      gathered = await this.gather(eui, caller, true)
      ;({ proof, authenticatedWith } = await this.authorize(caller, eui, gathered, true))
    }
    const storedCups = gathered.storedCups
    await this.rememberAuthentication(eui, storedCups, authenticatedWith, log)

    // One after the other: at most one mint per gateway at a time, also within a request.
    const cupsCredentials = await this.credential('cups', eui, log, { ...work, known: storedCups })
    // A caller who proved nothing gets the TC key only together with its own CUPS identity: otherwise,
    // while CUPS minting fails, every anonymous request would walk away with the TC key.
    const tcWanted = tcUri !== undefined && (proof !== 'bootstrap' || cupsCredentials !== undefined)
    const tcCredentials = tcWanted ? await this.credential('tc', eui, log, work) : undefined
    const desired: { -readonly [K in keyof DesiredGatewayState]: DesiredGatewayState[K] } = {}
    if (cupsUri !== undefined) desired.cupsUri = cupsUri
    if (cupsCredentials !== undefined) desired.cupsCredentials = cupsCredentials
    // Without credentials a new LNS URI would only fail; with no tc.uri the station keeps polling us.
    if (tcUri !== undefined && tcCredentials !== undefined) {
      desired.tcUri = tcUri
      desired.tcCredentials = tcCredentials
    }

    const response = planUpdate(request, desired)
    // Past the deadline the station already has "no change": these deliveries never happened.
    work.signal?.throwIfAborted()
    this.auditDelivery(proof, 'cups', response.cupsCredentials, log)
    this.auditDelivery(proof, 'tc', response.tcCredentials, log)
    return encodeUpdateInfoResponse(response)
  }

  private async gather(eui: string, caller: Caller, fresh: boolean): Promise<Gathered> {
    const lastAuthentication = caller.certificate === undefined ? undefined : this.options.lastAuthentications.get(eui)
    // Awaited only where the policy needs it, which is where its failure surfaces; never an unhandled rejection.
    lastAuthentication?.catch(() => undefined)
    const [registration, storedCups] = await Promise.all([
      this.options.registry.lookup(eui, { fresh }),
      this.options.credentials.stored('cups', eui, { fresh }),
    ])
    return { registration, storedCups, lastAuthentication }
  }

  private authorize(caller: Caller, eui: string, gathered: Gathered, fresh: boolean): Promise<Authorization> {
    const { credentials, bootstrapPolicy, lastAuthentications, checkCertificate } = this.options
    return authorizeCaller(caller, eui, {
      policy: bootstrapPolicy,
      now: this.options.now?.() ?? new Date(),
      registration: gathered.registration,
      storedCupsBundle: gathered.storedCups?.body,
      storedTcBundle: async () => (await credentials.stored('tc', eui, { fresh }))?.body,
      lastAuthentication: () => gathered.lastAuthentication ?? lastAuthentications.get(eui),
      checkCertificate,
    })
  }

  /**
   * A first bundle starts the gateway's credentials afresh, so nothing it authenticated with before counts
   * (deleting the bundles locks a stolen certificate out for good). Otherwise, once it shows its current
   * credential, that becomes the one a missed renewal falls back to. A failure here is logged and changes
   * nothing about the answer: at worst the previous certificate stays accepted until the next poll.
   */
  private async rememberAuthentication(
    eui: string,
    storedCups: StoredBlob | undefined,
    authenticatedWith: Authorization['authenticatedWith'],
    log: Logger,
  ): Promise<void> {
    const { lastAuthentications } = this.options
    try {
      if (storedCups === undefined) await lastAuthentications.forget(eui)
      else if (authenticatedWith !== undefined) await lastAuthentications.remember(eui, authenticatedWith)
    } catch (err) {
      if (storedCups === undefined) throw err // never mint a first bundle while an old certificate still counts
      this.countFailure(err, 'last-authentication', log)
    }
  }

  /** One credential; a failure loses only this segment, the rest of the answer still goes out. */
  private async credential(
    kind: CredentialKind,
    eui: string,
    log: Logger,
    context: EnsureContext,
  ): Promise<Buffer | undefined> {
    try {
      const blob = await this.options.credentials.ensure(kind, eui, context)
      if (blob === undefined) this.options.metrics.increment('unusable_bundles_total', { kind })
      return blob
    } catch (err) {
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
