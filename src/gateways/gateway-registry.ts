// GatewayRegistry: is a gateway registered (gateway.json or the allowlist), and in which state?
import type { Logger } from '../logger'
import type { BlobStore, StoredBlob } from '../storage/blob-store'
import { InvalidRecordError, parseGatewayRecord } from './gateway-record'
import type { GatewayRecord, GatewayState } from './gateway-record'
import { editRecordAt } from './record-edits'

/** A store that can also read past any cache (CachedBlobStore). */
type RecordStore = BlobStore & { getFresh?(key: string): Promise<StoredBlob | undefined> }

export interface Registration {
  readonly registered: boolean
  readonly state: GatewayState
  /** Set when the stored record is not one (it registers nothing). */
  readonly problem?: string
  /** The stored record, when it is one (it may still have schema problems). */
  readonly record?: GatewayRecord
}

export class GatewayRegistry {
  private allowlist: ReadonlySet<string>
  /** Problems already logged, by gateway and stored version (a fresh read hands out another Buffer of it). */
  private readonly reported = new Set<string>()
  /** Parsed once per stored copy: schema validation is not free, and polls repeat. */
  private readonly parsed = new WeakMap<Buffer, GatewayRecord>()

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
      const record = this.parsed.get(stored.body) ?? parseGatewayRecord(stored.body)
      this.parsed.set(stored.body, record)
      if (record.problems.length > 0 && this.firstReport(eui, stored)) {
        this.log?.warn({ eui, problems: record.problems }, 'gateway record does not validate: the gateway gets "no change" until it is fixed')
      }
      return { registered: true, state: record.state, record }
    } catch (err) {
      if (!(err instanceof InvalidRecordError)) throw err
      const problem = stored.unusable ?? err.message
      if (this.firstReport(eui, stored)) {
        this.log?.warn({ eui, problem }, 'gateway record ignored: it registers nothing')
      }
      // A state we cannot read must not serve a gateway someone meant to disable or revoke.
      return { registered: allowlisted, state: err.field === 'state' ? 'disabled' : 'active', problem }
    }
  }

  /** Replaces BOOTSTRAP_ALLOWLIST's EUIs (its file is read again on SIGHUP). */
  replaceAllowlist(euis: Iterable<string>): void {
    this.allowlist = new Set(euis)
  }

  private firstReport(eui: string, stored: StoredBlob): boolean {
    const id = `${eui}:${stored.etag}`
    if (this.reported.has(id)) return false
    if (this.reported.size >= 10_000) this.reported.clear()
    this.reported.add(id)
    return true
  }

  /** Removes a reset's `bootstrap: "once"` from the record (a conditional write; a concurrent edit is merged). */
  async consumeBootstrapOnce(eui: string): Promise<void> {
    await editRecordAt(this.store, this.recordKey(eui), (fields) => {
      if (fields?.bootstrap === undefined) return fields === undefined ? undefined : { ...fields }
      const kept = { ...fields }
      Reflect.deleteProperty(kept, 'bootstrap')
      return kept
    })
  }

  /** Registered = listed in BOOTSTRAP_ALLOWLIST, or a gateway.json object exists. */
  async isRegistered(eui: string): Promise<boolean> {
    return (await this.lookup(eui)).registered
  }
}
