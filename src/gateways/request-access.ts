// RequestAccess: who is calling, decided on cached reads and confirmed on fresh ones before anything is written or sent.
import type { BootstrapPolicy } from '../config'
import { ForbiddenError, UnknownGatewayError } from '../errors'
import type { CertificateCheck } from '../pki/client-certificate-check'
import type { StoredBlob } from '../storage/blob-store'
import { authorizeCaller } from './access-policy'
import type { Authorization, Caller } from './access-policy'
import type { CredentialService } from './credential-service'
import type { GatewayRegistry, Registration } from './gateway-registry'
import type { LastAuthentication, LastAuthentications } from './last-authentication'

export interface RequestAccessDeps {
  readonly policy: BootstrapPolicy
  readonly registry: GatewayRegistry
  readonly credentials: Pick<CredentialService, 'stored'>
  readonly lastAuthentications: LastAuthentications
  readonly checkCertificate: (der: Buffer) => CertificateCheck
  readonly now: () => Date
}

interface Reads {
  readonly registration: Registration
  readonly storedCups: StoredBlob | undefined
  /** For certificate callers, read alongside: the policy may need it, and remembering reads it anyway. */
  readonly lastAuthentication: Promise<LastAuthentication | undefined> | undefined
}

/**
 * A poll that changes nothing is answered from the read cache. Anything that would write (a mint, a renewal,
 * the last authentication) or hand out key material first calls confirm(): the record and the bundles are read
 * again past the cache and the caller is authorized again, so a revoke or deleted bundles count at once on
 * the path where it matters, not CACHE_TTL_SECONDS later. Callers who proved nothing are confirmed from the
 * start, whether admitted or refused, and so is a 404 (a record or reset written after it counts at the next contact).
 */
export class RequestAccess {
  private reads!: Reads
  private authorization!: Authorization
  private confirmation: Promise<void> | undefined

  private constructor(
    private readonly deps: RequestAccessDeps,
    private readonly caller: Caller,
    readonly eui: string,
  ) {}

  /** Throws ForbiddenError (403) or UnknownGatewayError (404). */
  static async open(deps: RequestAccessDeps, caller: Caller, eui: string): Promise<RequestAccess> {
    const access = new RequestAccess(deps, caller, eui)
    const cached = await access.evaluate(false).catch((err: unknown) => {
      // A record (or a reset) written a moment ago lets a caller who presents nothing in at once: its
      // refusal is checked again on fresh reads, as its admission would be.
      if (err instanceof UnknownGatewayError || (err instanceof ForbiddenError && caller.certificate === undefined)) return undefined
      throw err
    })
    if (cached === undefined || cached.authorization.proof === 'bootstrap') await access.confirm()
    else ({ reads: access.reads, authorization: access.authorization } = cached)
    return access
  }

  get proof(): Authorization['proof'] {
    return this.authorization.proof
  }

  get authenticatedWith(): Authorization['authenticatedWith'] {
    return this.authorization.authenticatedWith
  }

  /** The record as last read (fresh after confirm()). */
  get registration(): Registration {
    return this.reads.registration
  }

  /** The stored CUPS bundle as last read (fresh after confirm()). */
  get storedCups(): StoredBlob | undefined {
    return this.reads.storedCups
  }

  /** The last authentication as read with the rest; the cached copy unless confirmed. */
  lastAuthentication(): Promise<LastAuthentication | undefined> {
    return this.reads.lastAuthentication ?? this.deps.lastAuthentications.get(this.eui)
  }

  /** Fresh reads and a fresh authorization, once per request; rejects with an AppError when no longer allowed. */
  confirm(): Promise<void> {
    this.confirmation ??= this.evaluate(true).then(({ reads, authorization }) => {
      this.reads = reads
      this.authorization = authorization
    })
    return this.confirmation
  }

  /**
   * After a write: a revoke that landed while this request ran undoes what it wrote and refuses the answer
   * (revoke writes the record before it deletes, so either it deletes our write or we see the record).
   */
  async assertStillActive(undo: () => Promise<void>): Promise<void> {
    const { state } = await this.deps.registry.lookup(this.eui, { fresh: true })
    if (state === 'active') return
    if (state === 'revoked') await undo()
    throw new ForbiddenError(`gateway ${this.eui} is ${state}`)
  }

  private async evaluate(fresh: boolean): Promise<{ reads: Reads; authorization: Authorization }> {
    const { registry, credentials, lastAuthentications, checkCertificate, policy, now } = this.deps
    const { eui } = this
    const lastAuthentication = this.caller.certificate === undefined ? undefined : lastAuthentications.get(eui, { fresh })
    // Awaited only where the policy needs it, which is where its failure surfaces; never an unhandled rejection.
    lastAuthentication?.catch(() => undefined)
    const [registration, storedCups] = await Promise.all([registry.lookup(eui, { fresh }), credentials.stored('cups', eui, { fresh })])
    const reads = { registration, storedCups, lastAuthentication }
    const authorization = await authorizeCaller(this.caller, eui, {
      policy,
      now: now(),
      registration,
      storedCupsBundle: storedCups?.body,
      storedTcBundle: async () => (await credentials.stored('tc', eui, { fresh }))?.body,
      lastAuthentication: () => lastAuthentication ?? lastAuthentications.get(eui, { fresh }),
      checkCertificate,
    })
    return { reads, authorization }
  }
}
