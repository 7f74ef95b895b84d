// redactSecrets: the censor every log line and every child logger's bindings pass (design.md §5: never log keys or tokens).
/** Field names that could ever hold key material or tokens; code logs CRCs and lengths instead. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(['authorization', 'privateKey', 'key', 'token', 'blob', 'cupsCred', 'tcCred'])
export const CENSOR = '[redacted]'

/**
 * A copy of `object` with every secret field censored at the top level and one level down, and req.headers'
 * authorization and cookie; `object` itself when there is nothing to censor (the usual case: no copy). The caller's
 * object is never changed.
 *
 * Hand-written instead of pino's `redact` option: for a wildcard path such as `*.key`, pino runs every top-level
 * value of every line and of every child logger's bindings through @pinojs/redact, which parses each path again on
 * every call. That made a request's two child loggers and its line cost ~20 µs instead of ~2 µs (npm run
 * bench:profile), about a tenth of a keep-alive poll; these rules need one Set lookup per key.
 */
export function redactSecrets(object: Record<string, unknown>): Record<string, unknown> {
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
      // A copy of an error stays an error (type, message and stack come from the original, for pino's err serialiser).
      copy ??= value instanceof Error ? (Object.assign(Object.create(value), value) as Record<string, unknown>) : { ...fields }
      copy[key] = censored
    }
  }
  return copy ?? value
}

function censorHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  if (headers.authorization === undefined && headers.cookie === undefined) return headers
  return {
    ...headers,
    ...(headers.authorization === undefined ? {} : { authorization: CENSOR }),
    ...(headers.cookie === undefined ? {} : { cookie: CENSOR }),
  }
}
