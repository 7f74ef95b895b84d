// editRecord: change one gateway's record (gateway.json) safely: validated first, conditional write, nothing else touched.
import { PreconditionFailedError } from '../errors'
import type { BlobStore, StoredBlob } from '../storage/blob-store'
import { storageKeys } from '../storage/storage-keys'
import { InvalidRecordError, parseGatewayRecord } from './gateway-record'
import type { GatewayRecord } from './gateway-record'

type RecordStore = BlobStore & { getFresh?(key: string): Promise<StoredBlob | undefined> }

/** The record's fields as stored (undefined: no record yet) in, the fields to store out; undefined leaves it as it is. */
export type RecordEdit = (current: Readonly<Record<string, unknown>> | undefined) => Record<string, unknown> | undefined

export interface RecordEditResult {
  /** created: there was no record; unchanged: the edit changed nothing, so nothing was written. */
  readonly outcome: 'created' | 'updated' | 'unchanged'
  readonly record: GatewayRecord
  /** Whether a record existed before. */
  readonly existed: boolean
}

export interface EditOptions {
  readonly prefix: string
  /** Compute and validate only: nothing is written (`--dry-run`). */
  readonly dryRun?: boolean
}

/** How a record is stored: two-space JSON and a final newline, so hand edits and diffs stay readable. */
export function serializeRecord(fields: Readonly<Record<string, unknown>>): Buffer {
  return Buffer.from(`${JSON.stringify(fields, null, 2)}\n`)
}

/**
 * Applies edit to the stored record and writes the result only when it passes the schema: a record the
 * server would answer "no change" for is never written by us. A stored record that is not a JSON object is
 * refused (InvalidRecordError): overwriting it could drop what its author meant (fix it by hand, or revoke).
 * The write is conditional on the version read, and a concurrent edit is merged by running edit again.
 */
export function editRecord(store: RecordStore, eui: string, edit: RecordEdit, options: EditOptions): Promise<RecordEditResult> {
  return editRecordAt(store, storageKeys(options.prefix, eui).settings, edit, options)
}

/** editRecord for a caller that holds the record's key (the registry). */
export async function editRecordAt(store: RecordStore, key: string, edit: RecordEdit, options: { readonly dryRun?: boolean } = {}): Promise<RecordEditResult> {
  for (let attempt = 0; ; attempt++) {
    const current = await (store.getFresh ? store.getFresh(key) : store.get(key))
    const before = current === undefined ? undefined : parseGatewayRecord(current.body)
    const fields = edit(before?.fields)
    if (fields === undefined) {
      if (before === undefined) throw new InvalidRecordError('there is no record to leave as it is')
      return { outcome: 'unchanged', record: before, existed: true }
    }
    const body = serializeRecord(fields)
    const record = parseGatewayRecord(body)
    if (record.problems.length > 0) throw new InvalidRecordError(`the record would not validate: ${record.problems.join('; ')}`)
    const existed = current !== undefined
    if (current !== undefined && sameFields(before?.fields, fields)) return { outcome: 'unchanged', record: before ?? record, existed }
    if (options.dryRun === true) return { outcome: existed ? 'updated' : 'created', record, existed }
    try {
      await store.put(key, body, current === undefined ? { ifNoneMatch: '*' } : { ifMatch: current.etag })
      return { outcome: existed ? 'updated' : 'created', record, existed }
    } catch (err) {
      // Someone (another operator, the server consuming a reset) wrote meanwhile: edit their version instead.
      if (!(err instanceof PreconditionFailedError) || attempt >= 4) throw err
    }
  }
}

/** Equal as JSON values, key order aside: reordering alone is no reason to write. */
function sameFields(a: Readonly<Record<string, unknown>> | undefined, b: Readonly<Record<string, unknown>>): boolean {
  return a !== undefined && canonical(a) === canonical(b)
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}
