// readRecordState: a stored gateway.json as the operator CLI reports it: a state for every gateway, its fields, its problems.
import type { StoredBlob } from '../storage/blob-store'
import { GATEWAY_STATES, InvalidRecordError, parseGatewayRecord } from './gateway-record'
import type { GatewayState } from './gateway-record'

/** A record's state, `unregistered` without gateway.json, `invalid` for one that is not an object or fails the schema. */
export type FleetState = GatewayState | 'unregistered' | 'invalid'
export const FLEET_STATES: readonly FleetState[] = [...GATEWAY_STATES, 'unregistered', 'invalid']

export interface RecordState {
  readonly state: FleetState
  /** As stored; null when the document is not a JSON object. */
  readonly fields: Readonly<Record<string, unknown>> | null
  /** `field: reason` for each schema problem, or why the document is no record at all. */
  readonly problems: readonly string[]
}

/** Undefined without a stored record (the gateway is then `unregistered`). */
export function readRecordState(stored: StoredBlob | undefined): RecordState | undefined {
  if (stored === undefined) return undefined
  try {
    const record = parseGatewayRecord(stored.body)
    return { state: record.problems.length > 0 ? 'invalid' : record.state, fields: record.fields, problems: record.problems }
  } catch (err) {
    if (!(err instanceof InvalidRecordError)) throw err
    return { state: 'invalid', fields: null, problems: [stored.unusable === undefined ? err.message : unusableObject(stored.unusable)] }
  }
}

/** Why an object the store would not read (a symlink, over the size cap) counts as empty. */
export function unusableObject(reason: string): string {
  return `the stored object ${reason}; the server reads it as empty`
}
