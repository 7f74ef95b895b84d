// GatewayRegistry: which gateways the operator registered (gateway.json in storage, or the allowlist).
import type { BlobStore } from '../storage/blob-store'

export class GatewayRegistry {
  private readonly allowlist: ReadonlySet<string>

  constructor(
    private readonly store: BlobStore,
    private readonly settingsKey: (eui: string) => string,
    allowlist: Iterable<string>,
  ) {
    this.allowlist = new Set(allowlist)
  }

  /** Registered = listed in BOOTSTRAP_ALLOWLIST, or a `<prefix><eui>/gateway.json` object exists. */
  async isRegistered(eui: string): Promise<boolean> {
    if (this.allowlist.has(eui)) return true
    return (await this.store.get(this.settingsKey(eui))) !== undefined
  }
}
