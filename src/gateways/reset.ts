// resetGateway: a gateway starts over: old credentials gone for good, then exactly one anonymous first contact gets a new identity.
import type { Logger } from '../logger'
import type { BlobStore, StoredBlob } from '../storage/blob-store'
import { BOOTSTRAP_ONCE } from './gateway-record'
import { editRecord } from './record-edits'
import { revokeGateway } from './revoke'

type ResetStore = BlobStore & { getFresh?(key: string): Promise<StoredBlob | undefined> }

export interface ResetOptions {
  readonly prefix: string
  readonly now?: Date
  readonly log?: Pick<Logger, 'info'>
}

/**
 * 1. A revoke: the record says revoked (every replica refuses the gateway meanwhile), and its bundles and last
 *    authentication are deleted, so no old certificate or token counts again.
 * 2. The record says active with `bootstrap: "once"` and `resetAt`: the gateway holds nothing, so the next
 *    caller may fetch a new identity without proof, even with BOOTSTRAP_POLICY=off. Once that identity is
 *    stored the gateway is provisioned (anonymous callers are refused again) and the server removes the flag.
 */
export async function resetGateway(store: ResetStore, eui: string, options: ResetOptions): Promise<{ deleted: readonly string[] }> {
  const now = options.now ?? new Date()
  const revoked = await revokeGateway(store, eui, { prefix: options.prefix, now, reason: 'reset' })
  await editRecord(
    store,
    eui,
    (current) => {
      const kept: Record<string, unknown> = { ...current }
      Reflect.deleteProperty(kept, 'revokedAt')
      Reflect.deleteProperty(kept, 'revokedReason')
      return { ...kept, state: 'active', bootstrap: BOOTSTRAP_ONCE, resetAt: now.toISOString() }
    },
    { prefix: options.prefix },
  )
  options.log?.info({ audit: 'gateway-reset', eui, deleted: revoked.deleted }, 'gateway reset: one anonymous first contact may fetch a new identity')
  return { deleted: revoked.deleted }
}
