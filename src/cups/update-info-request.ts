// The JSON body a station POSTs to /update-info (src/cups.c cups_update_info), validated field by field.
import { InvalidRequestError } from '../errors'
import { InvalidRouterIdError, parseRouterId } from './router-id'

/** What the station reports about its REG credential set (rule 9), even when it connected with bak or boot. */
export interface UpdateInfoRequest {
  /** The router EUI as 16 lowercase hex digits. */
  readonly eui: string
  /** The router id as sent (ID6 from a real station). */
  readonly router: string
  readonly cupsUri: string | null
  readonly tcUri: string | null
  /** crc32 over cups.trust ‖ cups.crt ‖ cups.key, 4 zero bytes per missing file; unsigned, often above 2^31. */
  readonly cupsCredCrc: number
  readonly tcCredCrc: number
  readonly station: string | null
  readonly model: string | null
  /** Contents of version.txt; null when the file is missing. This is what firmware versions compare against. */
  readonly package: string | null
  /** crc32 of each sig-N.key file. */
  readonly keys: readonly number[]
}

const MAX_STRING_LENGTH = 1024
const MAX_KEYS = 1000

/** Validates a parsed JSON body; throws InvalidRequestError naming the offending field. Unknown fields are ignored. */
export function parseUpdateInfoRequest(body: unknown): UpdateInfoRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError('body: must be a JSON object')
  }
  const fields = body as Record<string, unknown>
  // Named fields rather than a spread: V8 (Node 20) takes a slow path for a spread followed by more properties.
  const { router, eui } = parseRouter(fields.router)
  return {
    router,
    eui,
    // The reported URIs are whatever the station has on disk: only type and length are checked, never their shape.
    cupsUri: optionalString('cupsUri', fields.cupsUri),
    tcUri: optionalString('tcUri', fields.tcUri),
    cupsCredCrc: requiredUint32('cupsCredCrc', fields.cupsCredCrc),
    tcCredCrc: requiredUint32('tcCredCrc', fields.tcCredCrc),
    station: optionalString('station', fields.station),
    model: optionalString('model', fields.model),
    package: optionalString('package', fields.package),
    keys: parseKeys(fields.keys),
  }
}

/** A real station sends ID6 text; like the reference server's Id6 we also take the EUI as a JSON integer. */
function parseRouter(value: unknown): { eui: string; router: string } {
  if (value === undefined) throw new InvalidRequestError('router: is required')
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new InvalidRequestError('router: a numeric router id must be a non-negative safe integer')
    return { eui: value.toString(16).padStart(16, '0'), router: String(value) }
  }
  if (typeof value !== 'string') throw new InvalidRequestError('router: must be a string (ID6 or EUI-64) or a number')
  if (value.length > MAX_STRING_LENGTH) throw new InvalidRequestError(`router: must be at most ${MAX_STRING_LENGTH} characters`)
  try {
    return { eui: parseRouterId(value), router: value }
  } catch (err) {
    if (err instanceof InvalidRouterIdError) throw new InvalidRequestError(`router: ${err.message}`)
    throw err
  }
}

/** v2.0.x always sends these keys, but an absent one is taken as null. */
function optionalString(name: string, value: unknown): string | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string') throw new InvalidRequestError(`${name}: must be a string or null`)
  if (value.length > MAX_STRING_LENGTH) throw new InvalidRequestError(`${name}: must be at most ${MAX_STRING_LENGTH} characters`)
  return value
}

function requiredUint32(name: string, value: unknown): number {
  if (value === undefined) throw new InvalidRequestError(`${name}: is required`)
  if (!isUint32(value)) throw new InvalidRequestError(`${name}: must be an unsigned 32-bit integer`)
  return value
}

function parseKeys(value: unknown): number[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new InvalidRequestError('keys: must be an array')
  if (value.length > MAX_KEYS) throw new InvalidRequestError(`keys: must have at most ${MAX_KEYS} entries`)
  return value.map((key: unknown, index) => {
    if (!isUint32(key)) throw new InvalidRequestError(`keys[${index}]: must be an unsigned 32-bit integer`)
    return key
  })
}

function isUint32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff
}
