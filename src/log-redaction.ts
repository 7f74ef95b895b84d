// redactSecrets: the censor every log line, every child logger's bindings and every logged error pass (design.md §5: never log keys or tokens).
import { stdSerializers } from 'pino'

/** Field names that could ever hold key material or tokens; code logs CRCs and lengths instead. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(['authorization', 'privateKey', 'key', 'token', 'blob', 'cupsCred', 'tcCred'])
export const CENSOR = '[redacted]'

/** What a line holds when censoring it failed: nothing of the original, which may hold a secret. */
const UNCENSORABLE = { censor: 'this line could not be censored and was left out' }

/**
 * A copy of `object` with every secret field censored at the top level and one level down, and req.headers'
 * authorization and cookie; `object` itself when there is nothing to censor (the usual case: no copy). The caller's
 * object is never changed, and this never throws (a log call must not).
 *
 * Hand-written instead of pino's `redact` option: for a wildcard path such as `*.key`, pino runs every top-level
 * value of every line and of every child logger's bindings through @pinojs/redact, which parses each path again on
 * every call. That made a request's two child loggers and its line cost ~20 µs instead of ~2 µs (npm run
 * bench:profile), about a tenth of a keep-alive poll; these rules need one Set lookup per key.
 */
export function redactSecrets(object: Record<string, unknown>): Record<string, unknown> {
  try {
    let copy: Record<string, unknown> | undefined
    for (const key of Object.keys(object)) {
      const value = object[key]
      let censored: unknown = value
      if (SECRET_FIELDS.has(key)) censored = CENSOR
      else if (typeof value === 'object' && value !== null) censored = censorOneLevel(value, key)
      if (censored !== value) {
        copy ??= { ...object }
        copy[key] = censored
      }
    }
    return copy ?? object
  } catch {
    return UNCENSORABLE
  }
}

/** pino's err serialiser, censored: it runs after formatters.log and copies inherited fields the censor did not see. */
export function censoredError(error: unknown): unknown {
  try {
    const serialised: unknown = stdSerializers.err(error as Error)
    return typeof serialised === 'object' && serialised !== null ? censorOneLevel(serialised, 'err') : serialised
  } catch {
    return UNCENSORABLE
  }
}

/** `value` with its own secret fields censored (a copy), or `value` itself. */
function censorOneLevel(value: object, parentKey: string): unknown {
  let copy: Record<string, unknown> | undefined
  const fields = value as Record<string, unknown>
  for (const key of Object.keys(value)) {
    const field = fields[key]
    let censored: unknown = field
    if (SECRET_FIELDS.has(key)) censored = CENSOR
    else if (parentKey === 'req' && key === 'headers' && typeof field === 'object' && field !== null) censored = censorHeaders(field as Record<string, unknown>)
    if (censored !== field) {
      copy ??= likeOf(value)
      Object.defineProperty(copy, key, { value: censored, enumerable: true, writable: true, configurable: true })
    }
  }
  return copy ?? value
}

/**
 * A copy that stays what the original was: same prototype (an error stays an error for pino's serialiser, a class
 * keeps its toJSON) and the same own properties, read-only and accessor ones included.
 */
function likeOf(value: object): Record<string, unknown> {
  const copy = Object.create(Object.getPrototypeOf(value) as object | null, Object.getOwnPropertyDescriptors(value)) as Record<string, unknown>
  // V8's stack is an accessor bound to the original error's internal slot: on the copy it would read as nothing.
  if (value instanceof Error) Object.defineProperty(copy, 'stack', { value: value.stack, enumerable: false, writable: true, configurable: true })
  return copy
}

function censorHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  if (headers.authorization === undefined && headers.cookie === undefined) return headers
  return {
    ...headers,
    ...(headers.authorization === undefined ? {} : { authorization: CENSOR }),
    ...(headers.cookie === undefined ? {} : { cookie: CENSOR }),
  }
}
