// GatewayRegistry: is a gateway registered (gateway.json or the allowlist), and in which state?
import type { Logger } from '../logger'
import type { BlobStore, StoredBlob } from '../storage/blob-store'
import { InvalidRecordError, parseGatewayRecord } from './gateway-record'
import type { GatewayState } from './gateway-record'

/** A store that can also read past any cache (CachedBlobStore). */
type RecordStore = BlobStore & { getFresh?(key: string): Promise<StoredBlob | undefined> }

export interface Registration {
  readonly registered: boolean
  readonly state: GatewayState
  /** Set when the stored record is not one (it registers nothing). */
  readonly problem?: string
}

export class GatewayRegistry {
  private readonly allowlist: ReadonlySet<string>
  /** Problems already logged, per stored copy (the read cache hands out the same Buffer at every poll). */
  private readonly reported = new WeakSet<Buffer>()

  constructor(
    private readonly store: RecordStore,
    private readonly recordKey: (eui: string) => string,
    allowlist: Iterable<string>,
    private readonly log?: Pick<Logger, 'warn'>,
  ) {
    this.allowlist = new Set(allowlist)
  }

  /**
   * Registered = listed in BOOTSTRAP_ALLOWLIST, or a `<prefix><eui>/gateway.json` JSON object exists.
   * `fresh` reads past the cache: before anonymous bootstrap, a revoke made a moment ago must count.
   */
  async lookup(eui: string, options: { fresh?: boolean } = {}): Promise<Registration> {
    const key = this.recordKey(eui)
    const stored = options.fresh === true && this.store.getFresh ? await this.store.getFresh(key) : await this.store.get(key)
    const allowlisted = this.allowlist.has(eui)
    if (stored === undefined) return { registered: allowlisted, state: 'active' }
    try {
      const record = parseGatewayRecord(stored.body)
      return { registered: true, state: record.state }
    } catch (err) {
      if (!(err instanceof InvalidRecordError)) throw err
      const problem = stored.unusable ?? err.message
      if (!this.reported.has(stored.body)) {
        this.reported.add(stored.body)
        this.log?.warn({ eui, problem }, 'gateway record ignored: it registers nothing')
      }
      // A state we cannot read must not serve a gateway someone meant to disable or revoke.
      return { registered: allowlisted, state: err.field === 'state' ? 'disabled' : 'active', problem }
    }
  }

  /** Registered = listed in BOOTSTRAP_ALLOWLIST, or a gateway.json object exists. */
  async isRegistered(eui: string): Promise<boolean> {
    return (await this.lookup(eui)).registered
  }
}
