// CredentialService: a gateway's CUPS or TC credential blob, minted on first need and renewed before it expires.
import { buildCredentialBlob, checkCredentialBlob, credentialBlobCertificate, splitCredentialBlob } from '../cups/credential-blob'
import { crc32 } from '../cups/crc32'
import { PreconditionFailedError } from '../errors'
import { certificateNotAfter } from '../pki/certificate-expiry'
import type { Logger } from '../logger'
import type { CredentialMinter } from '../pki/credential-minter'
import type { BlobStore, StoredBlob } from '../storage/blob-store'
import { SingleFlight } from './single-flight'

export type CredentialKind = 'cups' | 'tc'

/** A store that can also read past any cache (CachedBlobStore); a plain BlobStore reads fresh anyway. */
export type CredentialStore = BlobStore & { getFresh?(key: string): Promise<StoredBlob | undefined> }

export interface CredentialServiceOptions {
  readonly store: CredentialStore
  readonly minter: CredentialMinter
  /** Current DER trust certificate per kind (our CA for CUPS, the LNS CA for TC); reloads may change it. */
  readonly trust: () => Readonly<Record<CredentialKind, Buffer>>
  /** True for a certificate our CA issued; only our own bundles are rebuilt when the trust changes. */
  readonly issuedByUs: (certificate: Buffer) => boolean
  readonly keyFor: (kind: CredentialKind, eui: string) => string
  readonly minValidDays: number
  readonly log: Logger
  readonly now?: () => Date
}

const DAY_MS = 86_400_000

export class CredentialService {
  private readonly minting = new SingleFlight<Buffer | undefined>()
  private readonly now: () => Date

  constructor(private readonly options: CredentialServiceOptions) {
    this.now = options.now ?? (() => new Date())
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
  async ensure(kind: CredentialKind, eui: string, known?: StoredBlob): Promise<Buffer | undefined> {
    const stored = known ?? (await this.stored(kind, eui))
    if (stored === undefined) return this.mintOnce(kind, eui, undefined)
    if (!this.usable(kind, eui, stored.body)) return undefined
    const certificate = credentialBlobCertificate(stored.body)
    if (certificate === undefined) return stored.body
    if (this.expiresSoon(certificate)) return this.mintOnce(kind, eui, stored)
    const trust = this.options.trust()[kind]
    if (!splitCredentialBlob(stored.body).trust.equals(trust) && this.options.issuedByUs(certificate)) {
      return this.rewrapOnce(kind, eui, stored, trust)
    }
    // Bundles another tool dropped in are served as they are, whatever their trust.
    return stored.body
  }

  private usable(kind: CredentialKind, eui: string, blob: Buffer): boolean {
    try {
      checkCredentialBlob(blob)
      const certificate = credentialBlobCertificate(blob)
      if (certificate !== undefined) certificateNotAfter(certificate)
      return true
    } catch (err) {
      // A station would drop this blob and ask for it again forever (cups-protocol.md §4), so it is never sent.
      this.options.log.warn(
        { eui, kind, crc: crc32(blob), length: blob.length, reason: (err as Error).message },
        'stored credential bundle is not usable by a station; not sent',
      )
      return false
    }
  }

  private expiresSoon(certificate: Buffer): boolean {
    const remainingMs = certificateNotAfter(certificate).getTime() - this.now().getTime()
    return remainingMs < this.options.minValidDays * DAY_MS
  }

  /** The trust file changed (e.g. the LNS moved to a new CA): same certificate and key, new trust. */
  private rewrapOnce(kind: CredentialKind, eui: string, stored: StoredBlob, trust: Buffer): Promise<Buffer | undefined> {
    return this.minting.run(`${kind}:${eui}`, async () => {
      const { certificate, key } = splitCredentialBlob(stored.body)
      const blob = buildCredentialBlob({ trust, certificate, privateKey: key })
      return this.store(kind, eui, blob, stored, () => {
        this.options.log.info(
          { audit: 'credential-rewrapped', eui, kind, why: 'trust-changed', crc: crc32(blob), length: blob.length },
          'rebuilt gateway credential with the new trust certificate',
        )
      })
    })
  }

  /** One mint per gateway and kind at a time in this process; other replicas are settled by the conditional write. */
  private mintOnce(kind: CredentialKind, eui: string, previous: StoredBlob | undefined): Promise<Buffer | undefined> {
    return this.minting.run(`${kind}:${eui}`, () => this.mint(kind, eui, previous))
  }

  private async mint(kind: CredentialKind, eui: string, previous: StoredBlob | undefined): Promise<Buffer | undefined> {
    const credential = await this.options.minter.mint(eui)
    const blob = buildCredentialBlob({
      trust: this.options.trust()[kind],
      certificate: credential.certificate,
      privateKey: credential.privateKey,
    })
    return this.store(kind, eui, blob, previous, () => {
      this.options.log.info(
        {
          audit: 'credential-minted',
          eui,
          kind,
          serial: credential.serial,
          notAfter: credential.notAfter.toISOString(),
          why: previous === undefined ? 'first-contact' : 'expiring',
          crc: crc32(blob),
          length: blob.length,
        },
        'minted gateway credential',
      )
    })
  }

  /** Create (If-None-Match) or replace (If-Match) the stored blob; a lost race serves the winner instead. */
  private async store(
    kind: CredentialKind,
    eui: string,
    blob: Buffer,
    previous: StoredBlob | undefined,
    onStored: () => void,
  ): Promise<Buffer | undefined> {
    const { store, keyFor, log } = this.options
    const key = keyFor(kind, eui)
    try {
      await store.put(key, blob, previous === undefined ? { ifNoneMatch: '*' } : { ifMatch: previous.etag })
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err
      // Another replica (or tool) wrote first: everyone serves the stored winner, so the gateway never flaps.
      log.info({ eui, kind }, 'lost credential write race; serving the stored bundle')
      const winner = await this.stored(kind, eui, { fresh: true })
      return winner !== undefined && this.usable(kind, eui, winner.body) ? winner.body : undefined
    }
    onStored()
    return blob
  }
}
