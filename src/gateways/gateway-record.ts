// The gateway record (cups/<eui>/gateway.json): registration and lifecycle state, parsed in one place.

/**
 * active: served normally. disabled: refused (403) while it stays so; its credentials are kept.
 * revoked: refused (403), and `revokeGateway` has deleted its bundles and its last authentication, so no
 * old credential counts again even after the state changes back (README "Revoking a gateway").
 */
export type GatewayState = 'active' | 'disabled' | 'revoked'
export const GATEWAY_STATES: readonly GatewayState[] = ['active', 'disabled', 'revoked']

export interface GatewayRecord {
  readonly state: GatewayState
  /** When revokeGateway ran (ISO 8601); informational. */
  readonly revokedAt?: string
  /** Every field as stored, so a rewrite (revoke) keeps what it does not know. */
  readonly fields: Readonly<Record<string, unknown>>
}

/** Why a stored record does not count; the gateway is then not registered by it (logged by the caller). */
export class InvalidRecordError extends Error {
  readonly code = 'INVALID_RECORD'
  constructor(
    message: string,
    /** The field at fault, when the document is an object. */
    readonly field?: string,
  ) {
    super(message)
  }
}

/**
 * Only a JSON object is a record: `null`, an array, a number or unparseable bytes register nothing. An
 * unknown `state` is refused rather than read as active, so a typo never re-enables a gateway.
 */
export function parseGatewayRecord(body: Buffer): GatewayRecord {
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    throw new InvalidRecordError('gateway.json is not valid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidRecordError(`gateway.json must be a JSON object, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`)
  }
  const fields = value as Record<string, unknown>
  // Absent means active; present, it must be one of the states (null is a state we cannot read, not active).
  const state = Object.hasOwn(fields, 'state') ? fields.state : 'active'
  if (typeof state !== 'string' || !(GATEWAY_STATES as readonly string[]).includes(state)) {
    throw new InvalidRecordError(`gateway.json: state must be one of ${GATEWAY_STATES.join(', ')}`, 'state')
  }
  const revokedAt = typeof fields.revokedAt === 'string' ? { revokedAt: fields.revokedAt } : {}
  return { state: state as GatewayState, ...revokedAt, fields }
}
