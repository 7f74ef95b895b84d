// createLogger: the one pino instance; JSON to stdout, secrets redacted by path as a second line of defence.
import pino from 'pino'
import type { Logger as PinoLogger } from 'pino'

/** The logging the domain needs; satisfied by pino and by Fastify's request.log. */
export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug'>

/** Paths that could ever hold key material or tokens; code logs CRCs and lengths instead. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  '*.authorization',
  '*.privateKey',
  '*.key',
  '*.token',
  '*.blob',
  '*.cupsCred',
  '*.tcCred',
]

export function createLogger(level: string, destination?: pino.DestinationStream): PinoLogger {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination)
}
