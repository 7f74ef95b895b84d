// CredentialService: a gateway's CUPS or TC credential blob, minted on first need and renewed before it expires.
import { buildCredentialBlob, checkCredentialBlob, credentialBlobCertificate, splitCredentialBlob } from '../cups/credential-blob'
import { crc32 } from '../cups/crc32'
import { PreconditionFailedError } from '../errors'
import { certificateNotAfter, expiresWithin } from '../pki/certificate-expiry'
import type { Logger } from '../logger'
import type { Metrics } from '../observability/metrics'
import type { CredentialMinter } from '../pki/credential-minter'
import type { BlobStore, StoredBlob } from '../storage/blob-store'
import { SingleFlight } from './single-flight'

export type CredentialKind = 'cups' | 'tc'

/** One bundle a request stored: what it replaced can be put back. */
export interface StoredWrite {
  readonly kind: CredentialKind
  readonly etag: string
  readonly first: boolean
  readonly undo: () => Promise<void>
}

/**
 * Why a credential was minted (audit line): none stored, the stored one expires, it holds no identity, or
 * the gateway record names another source for it (e.g. the gateway moved to an LNS with its own CA).
 */
export type MintReason = 'first-contact' | 'expiring' | 'no-identity' | 'source-changed'

/**
 * Where one gateway's bundle of one kind comes from (its record; see effectiveSettings). Without a plan:
 * our CA and the configured trust, and bundles other tools stored are served as they are.
 */
export type CredentialPlan =
  | {
      readonly source: 'minted'
      /** DER trust for the bundle; default the configured one for the kind. */
      readonly trust?: Buffer | undefined
      readonly minter?: CredentialMinter | undefined
      /** True for certificates this source issued (what it renews); default our CA. */
      readonly issuedBy?: ((certificate: Buffer) => boolean) | undefined
      /** The record chose this source: a stored bundle from anywhere else is replaced. */
      readonly enforce: boolean
    }
  /** A bundle the record fully determines (a token, or the trust alone): stored when it differs, then served. */
  | { readonly source: 'fixed'; readonly bundle: Buffer }

/**
 * What a gateway's bundle of one kind needs now, and why (`reason`, in words an operator reads in
 * `gateway preview`): serve it as stored, withhold it (a station could not use it), set the one the record
 * determines, rewrap it with a new trust, or mint a new one.
 */
export type BundleVerdict =
  | { readonly do: 'serve'; readonly bundle: Buffer; readonly reason: string }
  | { readonly do: 'withhold'; readonly reason: string }
  | { readonly do: 'set'; readonly bundle: Buffer; readonly stored: StoredBlob | undefined; readonly reason: string }
  | { readonly do: 'rewrap'; readonly stored: StoredBlob; readonly trust: Buffer; readonly reason: string }
  | { readonly do: 'mint'; readonly why: MintReason; readonly stored: StoredBlob | undefined; readonly issuer: Issuer; readonly reason: string }

/** What a mint uses: its minter, the trust it wraps, and which certificates count as its own. */
interface Issuer {
  readonly minter: CredentialMinter
  readonly trust: Buffer
  readonly issued: (certificate: Buffer) => boolean
}

/** A store that can also read past any cache (CachedBlobStore); a plain BlobStore reads fresh anyway. */
export type CredentialStore = BlobStore & { getFresh?(key: string): Promise<StoredBlob | undefined> }

export interface CredentialServiceOptions {
  readonly store: CredentialStore
  readonly minter: CredentialMinter
  /** Current DER trust certificate per kind (our CA for CUPS, the LNS CA for TC); reloads may change it. */
  readonly trust: () => Readonly<Record<CredentialKind, Buffer>>
  /** True for a certificate our CA issued; only our own bundles are rebuilt when the trust changes. */
  readonly issuedByUs: (certificate: Buffer) => boolean
  /** True for a client certificate this server's TLS accepts; a CUPS bundle with any other would lock its gateway out. */
  readonly acceptsClientCertificate: (certificate: Buffer) => boolean
  readonly keyFor: (kind: CredentialKind, eui: string) => string
  readonly minValidDays: number
  readonly log: Logger
  readonly metrics?: Metrics
  readonly now?: () => Date
}

export interface EnsureContext {
  /** The stored blob if the caller already read it. */
  readonly known?: StoredBlob | undefined
  /** Fires when the request was answered without waiting for this work (the response deadline). */
  readonly signal?: AbortSignal | undefined
  /**
   * Told of every bundle this work stores, with how to undo it, should the request be answered without it:
   * `first` marks a gateway's first identity (nothing stored before, or a trust only), which must reach the
   * gateway or be undone; the caller decides which writes go with it.
   */
  readonly onWritten?: ((write: StoredWrite) => void) | undefined
  /** Runs before any write; rejects (with an AppError) when the caller may no longer have it. */
  readonly beforeWrite?: (() => Promise<void>) | undefined
  /** Runs after a write with a way to undo it; rejects when the gateway was revoked meanwhile. */
  readonly afterWrite?: ((undo: () => Promise<void>) => Promise<void>) | undefined
  /**
   * A caller who proved nothing. Concurrent first contacts still share one identity (replicas must agree on
   * it), but when an anonymous caller is handed a first identity another request created, an audit line says
   * so: two anonymous callers at once is how trust on first use is raced.
   */
  readonly anonymous?: boolean | undefined
  /** False: serve an expiring bundle as it is this time (the request could not record what it authenticated with). */
  readonly renew?: boolean | undefined
  /** The request's logger, so audit lines carry its request id; the service's own otherwise (the CLI). */
  readonly log?: Logger | undefined
}

/** What a usable stored blob holds, as far as renewal decisions go. */
interface Inspection {
  readonly trust: Buffer
  readonly certificate: Buffer | undefined
  /** Bytes of the key part: a DER key or a token; 0 for a bundle with a trust only. */
  readonly keyLength: number
  readonly notAfter: Date | undefined
  /** A foreign bundle's coming expiry has been logged. */
  expiryReported?: boolean
}

export class CredentialService {
  private readonly minting = new SingleFlight<Buffer | undefined>()
  /** Keyed by the blob object itself, so entries die with the cache entry that holds the blob. */
  private readonly inspections = new WeakMap<Buffer, Inspection | undefined>()
  private readonly now: () => Date

  constructor(private readonly options: CredentialServiceOptions) {
    this.now = options.now ?? (() => new Date())
  }

  /** The trust a bundle of this kind carries unless a gateway record says otherwise. */
  defaultTrust(kind: CredentialKind): Buffer {
    return this.options.trust()[kind]
  }

  /** The stored blob as it is, for deciding who may ask (no minting); `fresh` reads past any cache. */
  stored(kind: CredentialKind, eui: string, options: { fresh?: boolean } = {}): Promise<StoredBlob | undefined> {
    const { store, keyFor } = this.options
    const key = keyFor(kind, eui)
    return options.fresh === true && store.getFresh ? store.getFresh(key) : store.get(key)
  }

  /**
   * The blob this gateway should hold: the stored one if a station can parse it and its certificate
   * stays valid for minValidDays, else a freshly minted one. Undefined when the stored blob is one a
   * station cannot use (sent to nobody; logged). Rejects on storage or minting failure.
   */
  async ensure(kind: CredentialKind, eui: string, context: EnsureContext = {}, plan?: CredentialPlan): Promise<Buffer | undefined> {
    const stored = context.known ?? (await this.stored(kind, eui))
    return this.act(kind, eui, this.assess(kind, eui, stored, plan, context), context)
  }

  /**
   * What ensure would do with this stored bundle, without doing it (the pure half: `gateway preview` shows
   * it, ensure acts on it). Logs a bundle a station could not use, once per stored copy.
   */
  assess(kind: CredentialKind, eui: string, stored: StoredBlob | undefined, plan?: CredentialPlan, context: Pick<EnsureContext, 'renew'> = {}): BundleVerdict {
    if (plan?.source === 'fixed') {
      return stored?.body.equals(plan.bundle) === true
        ? { do: 'serve', bundle: stored.body, reason: 'the bundle its record determines, as stored' }
        : { do: 'set', bundle: plan.bundle, stored, reason: `its record determines the bundle (${stored === undefined ? 'none stored yet' : 'the stored one differs'})` }
    }
    const issuer: Issuer = {
      minter: plan?.minter ?? this.options.minter,
      trust: plan?.trust ?? this.options.trust()[kind],
      issued: plan?.issuedBy ?? this.options.issuedByUs,
    }
    const enforce = plan?.enforce === true
    const mint = (why: MintReason, reason: string): BundleVerdict => ({ do: 'mint', why, stored, issuer, reason })
    if (stored === undefined) return mint('first-contact', 'none is stored: a first identity is minted')
    const inspection = this.inspect(kind, eui, stored.body)
    // A bundle the record's source did not make is replaced (a gateway moved to another LNS); otherwise what
    // a station could not use is withheld.
    if (inspection === undefined) {
      return enforce
        ? mint('source-changed', 'the stored bundle is not usable, and its record names the source that mints it')
        : { do: 'withhold', reason: 'the stored bundle is not one a station can use (see `gateway show`); replace or delete it' }
    }
    const { certificate, notAfter, trust } = inspection
    // A CUPS bundle with a trust only gives the gateway no identity: once its TC bundle holds a key it could
    // never authenticate again (it is provisioned, and has nothing to present), so it gets one now.
    if (kind === 'cups' && certificate === undefined && inspection.keyLength === 0) {
      return mint('no-identity', 'the stored bundle holds a trust only: the gateway gets an identity')
    }
    if (enforce && (certificate === undefined || !issuer.issued(certificate))) {
      return mint('source-changed', 'its record names another source than the one that made the stored bundle')
    }
    if (certificate === undefined || notAfter === undefined) return { do: 'serve', bundle: stored.body, reason: 'the stored bundle (a token or a key without certificate)' }
    if (expiresWithin(notAfter, this.options.minValidDays, this.now())) {
      const expiry = `its certificate expires ${notAfter.toISOString()}, within CREDENTIAL_MIN_VALID_DAYS=${String(this.options.minValidDays)}`
      if (issuer.issued(certificate)) {
        return context.renew === false
          ? { do: 'serve', bundle: stored.body, reason: `${expiry}, but what the gateway authenticated with could not be recorded: renewed next time` }
          : mint('expiring', `${expiry}: renewed`)
      }
      // Another tool's bundle (its own CA, maybe its LNS's): replacing it with ours could lock the gateway
      // out there, so renewing it stays that tool's job. Said once per stored copy.
      if (!inspection.expiryReported) {
        inspection.expiryReported = true
        this.logOf(context).warn({ eui, kind, notAfter: notAfter.toISOString() }, 'a bundle another CA issued expires soon; not renewed here')
      }
      return { do: 'serve', bundle: stored.body, reason: `${expiry}, but another CA issued it: renewing it is that CA's job` }
    }
    if (!trust.equals(issuer.trust) && issuer.issued(certificate)) {
      return { do: 'rewrap', stored, trust: issuer.trust, reason: 'the trust certificate changed: same certificate and key, new trust' }
    }
    // Bundles another tool dropped in are served as they are, whatever their trust.
    return { do: 'serve', bundle: stored.body, reason: 'the stored bundle: its certificate stays valid beyond CREDENTIAL_MIN_VALID_DAYS' }
  }

  /** Carries out a verdict: serve as is, or mint / rewrap / set with a conditional write. */
  private act(kind: CredentialKind, eui: string, verdict: BundleVerdict, context: EnsureContext): Promise<Buffer | undefined> {
    switch (verdict.do) {
      case 'serve':
        return Promise.resolve(verdict.bundle)
      case 'withhold':
        return Promise.resolve(undefined)
      case 'set':
        return this.setFixed(kind, eui, verdict.stored, verdict.bundle, context)
      case 'rewrap':
        return this.rewrapOnce(kind, eui, verdict.stored, verdict.trust, context)
      case 'mint':
        if (verdict.why === 'first-contact' || verdict.why === 'no-identity') this.auditShared(kind, eui, context)
        return this.mintOnce(kind, eui, verdict.stored, context, verdict.issuer, verdict.why)
    }
  }

  /**
   * Parses and checks a stored blob the way a station would, once per blob object: the read cache hands
   * out the same Buffer on every poll, and the check (certificate and key parsing) is most of a poll's
   * CPU. Undefined when a station could not use it (logged once per blob).
   */
  private inspect(kind: CredentialKind, eui: string, blob: Buffer): Inspection | undefined {
    if (this.inspections.has(blob)) return this.inspections.get(blob)
    let inspection: Inspection | undefined
    try {
      checkCredentialBlob(blob)
      const certificate = credentialBlobCertificate(blob)
      if (kind === 'cups' && certificate !== undefined && !this.options.acceptsClientCertificate(certificate)) {
        throw new Error('its client certificate is from a CA this server does not accept: the gateway could not authenticate with it')
      }
      const parts = splitCredentialBlob(blob)
      inspection = {
        trust: parts.trust,
        keyLength: parts.key.length,
        certificate,
        notAfter: certificate === undefined ? undefined : certificateNotAfter(certificate),
      }
    } catch (err) {
      // A station would drop this blob and ask for it again forever (cups-protocol.md §4), so it is never sent.
      this.options.log.warn(
        { eui, kind, crc: crc32(blob), length: blob.length, reason: (err as Error).message },
        'stored credential bundle is not usable by a station; not sent',
      )
    }
    this.inspections.set(blob, inspection)
    return inspection
  }

  /** A bundle the record determines: written once when it differs from the stored one (a conditional write). */
  private setFixed(
    kind: CredentialKind,
    eui: string,
    stored: StoredBlob | undefined,
    bundle: Buffer,
    context: EnsureContext,
  ): Promise<Buffer | undefined> {
    return this.minting.run(`${kind}:${eui}`, () =>
      this.store(kind, eui, bundle, stored, { ...context, first: stored === undefined }, () => {
        this.logOf(context).info(
          { audit: 'credential-set', eui, kind, why: 'record', crc: crc32(bundle), length: bundle.length },
          'stored the gateway credential its record determines',
        )
      }),
    )
  }

  /** The trust file changed (e.g. the LNS moved to a new CA): same certificate and key, new trust. */
  private rewrapOnce(
    kind: CredentialKind,
    eui: string,
    stored: StoredBlob,
    trust: Buffer,
    context: EnsureContext,
  ): Promise<Buffer | undefined> {
    return this.minting.run(`${kind}:${eui}`, async () => {
      const { certificate, key } = splitCredentialBlob(stored.body)
      const blob = buildCredentialBlob({ trust, certificate, privateKey: key })
      return this.store(kind, eui, blob, stored, context, () => {
        this.logOf(context).info(
          { audit: 'credential-rewrapped', eui, kind, why: 'trust-changed', crc: crc32(blob), length: blob.length },
          'rebuilt gateway credential with the new trust certificate',
        )
      })
    })
  }

  /** One mint per gateway and kind at a time in this process; other replicas are settled by the conditional write. */
  private mintOnce(
    kind: CredentialKind,
    eui: string,
    previous: StoredBlob | undefined,
    context: EnsureContext,
    issuer: Issuer,
    why: MintReason = previous === undefined ? 'first-contact' : 'expiring',
  ): Promise<Buffer | undefined> {
    return this.minting.run(`${kind}:${eui}`, () => this.mint(kind, eui, previous, context, issuer, why))
  }

  private async mint(
    kind: CredentialKind,
    eui: string,
    previous: StoredBlob | undefined,
    context: EnsureContext,
    issuer: Issuer,
    why: MintReason,
  ): Promise<Buffer | undefined> {
    const credential = await issuer.minter.mint(eui, context.signal)
    const blob = buildCredentialBlob({
      trust: issuer.trust,
      certificate: credential.certificate,
      privateKey: credential.privateKey,
    })
    // A gateway's first identity (nothing stored, or a trust only) must reach it or be undone.
    const first = previous === undefined || why === 'no-identity'
    return this.store(kind, eui, blob, previous, { ...context, first }, () => {
      this.options.metrics?.increment('credentials_minted_total', { kind })
      this.logOf(context).info(
        {
          audit: 'credential-minted',
          eui,
          kind,
          serial: credential.serial,
          notAfter: credential.notAfter.toISOString(),
          why,
          crc: crc32(blob),
          length: blob.length,
        },
        'minted gateway credential',
      )
    })
  }

  /**
   * Create (If-None-Match) or replace (If-Match) the stored blob; a lost race serves the winner instead.
   * Once `signal` fires the caller has answered without this blob, so nothing new is stored: a bundle the
   * gateway never received would mark it provisioned and lock its anonymous first contact out for good.
   * For the same reason a first bundle stored in time is reported to onCreated, so the caller can undo it
   * if the answer goes out without it after all.
   */
  private async store(
    kind: CredentialKind,
    eui: string,
    blob: Buffer,
    previous: StoredBlob | undefined,
    context: EnsureContext & { readonly first?: boolean },
    onStored: () => void,
  ): Promise<Buffer | undefined> {
    const { signal, onWritten, beforeWrite, afterWrite, anonymous, first = false } = context
    const { store, keyFor } = this.options
    const log = this.logOf(context)
    const key = keyFor(kind, eui)
    signal?.throwIfAborted()
    await beforeWrite?.()
    let etag: string
    try {
      ;({ etag } = await store.put(key, blob, previous === undefined ? { ifNoneMatch: '*' } : { ifMatch: previous.etag }))
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err
      // Another replica (or tool) wrote first: everyone serves the stored winner, so the gateway never flaps.
      log.info({ eui, kind }, 'lost credential write race; serving the stored bundle')
      if (anonymous === true && first) this.logShared(kind, eui, context)
      const winner = await this.stored(kind, eui, { fresh: true })
      return winner !== undefined && this.inspect(kind, eui, winner.body) !== undefined ? winner.body : undefined
    }
    // The caller undoes it if the answer goes out without it (a write landing after the deadline included):
    // a renewal may stay, but a first identity must go, or the gateway is locked out.
    onWritten?.({ kind, etag, first, undo: () => this.undoWrite(key, etag, previous, eui, kind) })
    if (signal?.aborted === true) {
      onStored() // audited as stored; the caller's undo, if it runs, logs that too
      signal.throwIfAborted()
    }
    // Revoked while this ran: what we wrote must not outlive the revoke's deletes.
    await afterWrite?.(() => store.delete(key))
    onStored()
    return blob
  }

  /** An anonymous caller joins a first mint already under way for this gateway. */
  private auditShared(kind: CredentialKind, eui: string, context: EnsureContext): void {
    if (context.anonymous === true && this.minting.has(`${kind}:${eui}`)) this.logShared(kind, eui, context)
  }

  private logOf(context: EnsureContext): Logger {
    return context.log ?? this.options.log
  }

  private logShared(kind: CredentialKind, eui: string, context: EnsureContext): void {
    this.logOf(context).warn(
      { audit: 'first-identity-shared', eui, kind },
      'a caller who proved nothing gets the first identity another concurrent request created (a retry, or a race for trust on first use)',
    )
  }

  /** Puts back what was there before this write (nothing, or the previous bundle), unless it changed since. */
  private async undoWrite(key: string, etag: string, previous: StoredBlob | undefined, eui: string, kind: CredentialKind): Promise<void> {
    const { store, log } = this.options
    try {
      const current = await this.stored(kind, eui, { fresh: true })
      if (current?.etag !== etag) return // replaced meanwhile by someone who will deliver it
      if (previous === undefined) await store.delete(key)
      else await store.put(key, previous.body, { ifMatch: etag })
      log.warn({ eui, kind }, 'credential stored for an answer the station never got (response deadline); put back what was there')
    } catch (err) {
      log.error({ eui, kind, err }, 'could not remove a credential stored after the response deadline; delete it to let the gateway bootstrap')
    }
  }
}
