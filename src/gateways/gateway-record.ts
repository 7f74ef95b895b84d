// The gateway record (cups/<eui>/gateway.json): registration, lifecycle state and per-gateway overrides, parsed in one place.
import { z } from 'zod'
import { buildCredentialBlob, checkTokenLines } from '../cups/credential-blob'
import { checkStationUri } from '../cups/station-uri'
import { parseTrustCertificate } from '../pki/certificates'

/**
 * active: served normally. disabled: refused (403) while it stays so; its credentials are kept.
 * revoked: refused (403), and `revokeGateway` has deleted its bundles and its last authentication, so no
 * old credential counts again even after the state changes back (README "Revoking a gateway").
 */
export type GatewayState = 'active' | 'disabled' | 'revoked'
export const GATEWAY_STATES: readonly GatewayState[] = ['active', 'disabled', 'revoked']

/** The record's `bootstrap` value after `gateway reset`. */
export const BOOTSTRAP_ONCE = 'once'

const stationUri = (kind: 'cups' | 'tc') =>
  z.string().superRefine((uri, ctx) => {
    try {
      checkStationUri(uri, kind)
      // We only listen on TLS, so a station sent to http:// here would fail every contact after the redirect.
      if (kind === 'cups' && !/^https:/i.test(uri)) throw new Error('must be https://host:port: this server only speaks TLS')
    } catch (err) {
      // Without the URI itself: a malformed one may carry a secret (userinfo, a query) into the log.
      ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^(cups|tc) uri ".*?": /, '') })
    }
  })

const pemCertificate = z.string().superRefine((pem, ctx) => {
  try {
    // One certificate, and one the station's DER parser measures right (a bundle built with it as the trust).
    buildCredentialBlob({ trust: parseTrustCertificate(Buffer.from(pem, 'utf8'), 'tcTrust') })
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
  }
})

/** Header lines as the station sends them (its token rules). */
const tokenLines = z.string().superRefine((token, ctx) => {
  try {
    checkTokenLines(token)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
  }
})

const tcCredentials = z.discriminatedUnion('source', [
  z.strictObject({ source: z.literal('ours') }),
  z.strictObject({ source: z.literal('lns-ca') }),
  z.strictObject({ source: z.literal('none') }),
  z
    .strictObject({
      source: z.literal('token'),
      /** Header lines, e.g. `Authorization: Bearer NNSXS...` */
      token: tokenLines.optional(),
      /** Just the bearer token (The Things Stack's API key): becomes `Authorization: Bearer <bearer>`. */
      bearer: z.string().regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces').optional(),
    })
    .refine((value) => (value.token === undefined) !== (value.bearer === undefined), 'give exactly one of token and bearer'),
])

/** The record's schema (README "Gateway records" prints it as JSON Schema). Unknown keys are refused: a typo must not pass silently. */
export const GATEWAY_RECORD_SCHEMA = z.strictObject({
  version: z.literal(1).optional(),
  name: z.string().max(200).optional(),
  labels: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'label names are [A-Za-z0-9_.-]{1,63}'), z.string().max(200)).optional(),
  state: z.enum(['active', 'disabled', 'revoked']).optional(),
  revokedAt: z.string().optional(),
  revokedReason: z.string().optional(),
  /** Set by `gateway reset`: one anonymous first contact may fetch a new identity; removed by the server once used. */
  bootstrap: z.literal(BOOTSTRAP_ONCE).optional(),
  resetAt: z.string().optional(),
  cupsUri: stationUri('cups').optional(),
  tcUri: stationUri('tc').optional(),
  tcTrust: pemCertificate.optional(),
  tcCredentials: tcCredentials.optional(),
  /** Firmware: follow the rollouts of a channel, or run exactly the pinned firmware id (README "Firmware updates"). */
  firmware: z
    .union([
      z.strictObject({ channel: z.string().min(1) }),
      // allowUnsigned: a gateway without signing keys may get the pinned update unsigned (it runs whatever it gets).
      z.strictObject({ pin: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/, 'a firmware id, as `firmware publish` prints it'), allowUnsigned: z.boolean().optional() }),
    ])
    .optional(),
})

export type GatewayRecordFields = z.infer<typeof GATEWAY_RECORD_SCHEMA>

export interface GatewayRecord {
  readonly state: GatewayState
  /** When revokeGateway ran (ISO 8601); informational. */
  readonly revokedAt?: string
  /** Every field as stored, so a rewrite (revoke) keeps what it does not know. */
  readonly fields: Readonly<Record<string, unknown>>
  /** The validated overrides; undefined when the document does not pass the schema (see `problem`). */
  readonly overrides: GatewayRecordFields | undefined
  /** `field: reason` for every problem when the document does not pass the schema. */
  readonly problems: readonly string[]
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
 * Only a JSON object is a record: `null`, an array, a number or unparseable bytes register nothing (throws).
 * An unknown `state` is refused rather than read as active, so a typo never re-enables a gateway (throws).
 * An object with a readable state but another field that fails the schema is a record with `problems`:
 * the gateway keeps its state, and the caller answers "no change" until the record is fixed.
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
  const parsed = GATEWAY_RECORD_SCHEMA.safeParse(fields)
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.length === 0 ? (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '(record)') : issue.path.join('.')}: ${issue.message}`)
  return { state: state as GatewayState, ...revokedAt, fields, overrides: parsed.success ? parsed.data : undefined, problems }
}
