// revokeGateway: what revoking does: the record says revoked, and every credential the gateway held stops counting.
import { PreconditionFailedError } from '../errors'
import type { Logger } from '../logger'
import type { BlobStore, StoredBlob } from '../storage/blob-store'
import { storageKeys } from '../storage/storage-keys'
import { InvalidRecordError, parseGatewayRecord } from './gateway-record'

type RevokeStore = BlobStore & { getFresh?(key: string): Promise<StoredBlob | undefined> }

export interface RevokeOptions {
  readonly prefix: string
  readonly now?: Date
  /** Kept in the record for the operator (e.g. "stolen", "ticket 1234"). */
  readonly reason?: string
  readonly log?: Pick<Logger, 'info'>
}

export interface RevokeResult {
  /** The record as written. */
  readonly record: Readonly<Record<string, unknown>>
  /** Storage keys that held credentials or authentication state and were deleted. */
  readonly deleted: readonly string[]
}

/**
 * 1. gateway.json gets `state: "revoked"` and `revokedAt` (other fields kept), so every replica refuses the
 *    gateway within CACHE_TTL_SECONDS whatever it presents: its certificate, its token, a factory
 *    certificate, or nothing. The gateway stays registered.
 * 2. Its CUPS and TC bundles and its last authentication are deleted, so none of its old credentials can
 *    count again, even once an operator sets the state back to active: it then starts over with a first
 *    contact (a factory certificate, or an anonymous bootstrap where BOOTSTRAP_POLICY allows it).
 * The record is written first: a revoke interrupted half-way has already locked the gateway out.
 */
export async function revokeGateway(store: RevokeStore, eui: string, options: RevokeOptions): Promise<RevokeResult> {
  const keys = storageKeys(options.prefix, eui)
  const revokedAt = (options.now ?? new Date()).toISOString()
  const read = (key: string): Promise<StoredBlob | undefined> => (store.getFresh ? store.getFresh(key) : store.get(key))
  let record: Record<string, unknown> = {}
  for (let attempt = 0; ; attempt++) {
    const current = await read(keys.settings)
    record = { ...fieldsOf(current), state: 'revoked', revokedAt, ...(options.reason === undefined ? {} : { revokedReason: options.reason }) }
    try {
      await store.put(keys.settings, Buffer.from(`${JSON.stringify(record, null, 2)}\n`), current === undefined ? { ifNoneMatch: '*' } : { ifMatch: current.etag })
      break
    } catch (err) {
      // Someone edited the record meanwhile: merge with their version rather than overwrite it.
      if (!(err instanceof PreconditionFailedError) || attempt >= 4) throw err
    }
  }
  const deleted: string[] = []
  for (const key of [keys.lastAuthentication, keys.cupsCredentials, keys.tcCredentials]) {
    if ((await read(key)) !== undefined) deleted.push(key)
    await store.delete(key)
  }
  options.log?.info({ audit: 'gateway-revoked', eui, deleted, ...(options.reason === undefined ? {} : { reason: options.reason }) }, 'gateway revoked')
  return { record, deleted }
}

/** The record's fields to keep; an unreadable record is replaced (a revoke must never fail on it). */
function fieldsOf(stored: StoredBlob | undefined): Record<string, unknown> {
  if (stored === undefined) return {}
  try {
    return { ...parseGatewayRecord(stored.body).fields }
  } catch (err) {
    if (err instanceof InvalidRecordError) return {}
    throw err
  }
}
