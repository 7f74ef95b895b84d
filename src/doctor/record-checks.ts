// checkRecords: every gateway record (gateway.json) parsed as the server parses it; the ones that do not count, by EUI.
import { InvalidRecordError, parseGatewayRecord } from '../gateways/gateway-record'
import { ConcurrencyLimit } from '../pki/concurrency-limit'
import type { BlobStore } from '../storage/blob-store'
import { storageKeys } from '../storage/storage-keys'
import { fail, ok, warn } from './doctor-check'
import type { DoctorCheck } from './doctor-check'

export interface RecordProblem {
  readonly eui: string
  /** The first problem only: enough to find the record; `field: reason` like the server's log line. */
  readonly problem: string
}

/** Listed in the line; the rest are counted. */
export const LISTED_PROBLEMS = 5
// A few reads in flight: fast on S3, and no burst against a storage the server is serving from.
const READS_AT_ONCE = 8
const EUI = /^[0-9a-f]{16}$/

export async function checkRecords(store: BlobStore, prefix: string): Promise<DoctorCheck> {
  let keys: string[]
  try {
    keys = await store.list(prefix)
  } catch (err) {
    return fail('gateway records', `cannot list ${JSON.stringify(prefix)}: ${(err as Error).message}`)
  }
  // The layout belongs to storage-keys: a key counts when it is exactly some gateway's record key.
  const euis = keys.flatMap((key) => {
    const eui = key.slice(prefix.length, prefix.length + 16)
    return key.startsWith(prefix) && EUI.test(eui) && storageKeys(prefix, eui).settings === key ? [eui] : []
  })
  const limit = new ConcurrencyLimit(READS_AT_ONCE)
  let problems: (RecordProblem | undefined)[]
  try {
    problems = await Promise.all(euis.map((eui) => limit.run(() => recordProblem(store, prefix, eui))))
  } catch (err) {
    return fail('gateway records', `a record could not be read: ${(err as Error).message}`)
  }
  return recordsCheck(euis.length, problems.filter((problem) => problem !== undefined), prefix)
}

/** The line for `total` records of which `problems` do not count. Pure. */
export function recordsCheck(total: number, problems: readonly RecordProblem[], prefix: string): DoctorCheck {
  if (total === 0) return ok('gateway records', `none under ${JSON.stringify(prefix)} (gateways registered by BOOTSTRAP_ALLOWLIST need none)`)
  if (problems.length === 0) return ok('gateway records', `${total} record${total === 1 ? '' : 's'}, all valid`)
  const listed = problems.slice(0, LISTED_PROBLEMS).map(({ eui, problem }) => `${eui} (${problem})`)
  const more = problems.length - listed.length
  return warn(
    'gateway records',
    `${problems.length} of ${total} record${total === 1 ? '' : 's'} do not count, so their gateways are not served as the records ` +
      `say: the server answers them "no change" (or, for a record that is no JSON object, as unregistered) until they are fixed: ` +
      `${listed.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
  )
}

async function recordProblem(store: BlobStore, prefix: string, eui: string): Promise<RecordProblem | undefined> {
  const stored = await store.get(storageKeys(prefix, eui).settings)
  if (stored === undefined) return undefined // deleted since the listing
  if (stored.unusable !== undefined) return { eui, problem: `gateway.json ${stored.unusable}` }
  try {
    const record = parseGatewayRecord(stored.body)
    const first = record.problems[0]
    return first === undefined ? undefined : { eui, problem: first }
  } catch (err) {
    if (err instanceof InvalidRecordError) return { eui, problem: err.message }
    throw err
  }
}
