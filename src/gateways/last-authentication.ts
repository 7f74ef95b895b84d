// LastAuthentications: what each gateway last proved itself with, so a renewal it missed cannot lock it out.
import { PreconditionFailedError } from '../errors'
import type { BlobStore, StoredBlob } from '../storage/blob-store'

/**
 * Stored as `cups/<eui>/last-auth.json` (README "Storage layout"). A certificate is kept by its SHA-256
 * fingerprint, a token only as the fact that one was used (never its value).
 */
export type AuthenticatedWith =
  | { readonly via: 'certificate'; readonly sha256: string; readonly serial: string }
  | { readonly via: 'token' }

export type LastAuthentication = AuthenticatedWith & { readonly at: string }

type AuthStore = BlobStore & { getFresh?(key: string): Promise<StoredBlob | undefined> }

const FINGERPRINT = /^[0-9a-f]{64}$/

export class LastAuthentications {
  constructor(
    private readonly store: AuthStore,
    private readonly keyFor: (eui: string) => string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Undefined when none is stored or the stored one is not ours to read (it then vouches for nothing). */
  async get(eui: string, options: { fresh?: boolean } = {}): Promise<LastAuthentication | undefined> {
    const key = this.keyFor(eui)
    return parseLastAuthentication(options.fresh === true && this.store.getFresh ? await this.store.getFresh(key) : await this.store.get(key))
  }

  /**
   * Records `value` unless it is already what is stored (or, for a token, unless nothing is). The write is conditional, so two replicas seeing
   * the same gateway never interleave a stale value over a newer one; a lost race re-reads once.
   */
  async remember(eui: string, value: AuthenticatedWith): Promise<void> {
    const key = this.keyFor(eui)
    let current = await this.store.get(key)
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!needsRecording(parseLastAuthentication(current), value)) return
      const body = Buffer.from(`${JSON.stringify({ version: 1, ...value, at: this.now().toISOString() })}\n`)
      try {
        await this.store.put(key, body, current === undefined ? { ifNoneMatch: '*' } : { ifMatch: current.etag })
        return
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err
        current = this.store.getFresh ? await this.store.getFresh(key) : await this.store.get(key)
      }
    }
    // Two lost races in a row: say so, so that the caller renews nothing while this is not on record.
    if (needsRecording(parseLastAuthentication(current), value)) throw new Error(`last authentication of ${eui} not recorded: lost the write race twice`)
  }

  /** Forget it: after a revoke, or when the gateway starts over with a first bundle. */
  forget(eui: string): Promise<void> {
    return this.store.delete(this.keyFor(eui))
  }
}

/** The stored value; undefined when absent or not ours to read (a token's value is never in it). */
export function parseLastAuthentication(stored: StoredBlob | undefined): LastAuthentication | undefined {
  if (stored === undefined || stored.unusable !== undefined) return undefined
  try {
    const value = JSON.parse(stored.body.toString('utf8')) as Record<string, unknown>
    const at = typeof value.at === 'string' ? value.at : ''
    if (value.via === 'token') return { via: 'token', at }
    if (value.via === 'certificate' && typeof value.sha256 === 'string' && FINGERPRINT.test(value.sha256)) {
      return { via: 'certificate', sha256: value.sha256, serial: typeof value.serial === 'string' ? value.serial : '', at }
    }
  } catch {
    // not JSON: vouches for nothing
  }
  return undefined
}

/**
 * False when `value` is already what is stored. A token needs no record of its own either: it only has to end
 * a certificate's standing, and with nothing stored no certificate stands, so a token gateway's polls never write.
 */
export function needsRecording(stored: LastAuthentication | undefined, value: AuthenticatedWith): boolean {
  if (value.via === 'token') return stored?.via === 'certificate'
  return stored?.via !== 'certificate' || stored.sha256 !== value.sha256
}
