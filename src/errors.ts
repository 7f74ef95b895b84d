// Typed errors shared across the server; src/http/error-handler.ts is the one place that maps them to HTTP.

/** An error that carries the HTTP status a station should see. */
export abstract class AppError extends Error {
  abstract readonly statusCode: number
  abstract readonly code: string
}

/** The request body is not a valid update-info request; the message names the field. */
export class InvalidRequestError extends AppError {
  readonly statusCode = 400
  readonly code = 'INVALID_REQUEST'
}

/** The caller could not prove it may act for the router EUI in the body. */
export class ForbiddenError extends AppError {
  readonly statusCode = 403
  readonly code = 'FORBIDDEN'
}

/** The gateway is not registered and the bootstrap policy requires registration. */
export class UnknownGatewayError extends AppError {
  readonly statusCode = 404
  readonly code = 'UNKNOWN_GATEWAY'
  constructor(readonly eui: string) {
    super(`unknown gateway ${eui}`)
  }
}

/** A value would be rejected or mis-parsed by the station, so we refuse to encode it. */
export class EncodingError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

/** Storage is unreachable or failed; absence of a key is never this error. */
export class StorageUnavailableError extends Error {
  readonly code = 'STORAGE_UNAVAILABLE'
}

/** A conditional write lost: the object exists (If-None-Match) or changed (If-Match). */
export class PreconditionFailedError extends Error {
  readonly code = 'PRECONDITION_FAILED'
  constructor(readonly key: string) {
    super(`precondition failed for ${key}`)
  }
}

/** OpenSSL failed or timed out while minting; stderr is kept for the log only. */
export class MintingError extends Error {
  readonly code = 'MINTING_FAILED'
  constructor(
    message: string,
    readonly stderr = '',
  ) {
    super(message)
  }
}

/** The configuration is invalid; lists every problem at once. Startup only, never reaches HTTP. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n- ${problems.join('\n- ')}`)
  }
}

/**
 * The server cannot start with what a variable points at (a file, a directory, a port): the message names the
 * variable and the path, and index.ts prints it as one line without a stack. Startup only, never reaches HTTP.
 */
export class StartupError extends Error {
  constructor(
    readonly variable: string,
    readonly path: string | undefined,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(path === undefined ? `${variable}: ${problem}` : `${variable}: ${path}: ${problem}`, options)
  }
}
