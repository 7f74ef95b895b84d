// createLogger: the one pino instance; JSON lines by default or pino-pretty for a person, secrets redacted by path either way.
import pino from 'pino'
import type { Logger as PinoLogger } from 'pino'
import { isColorSupported, prettyFactory } from 'pino-pretty'
import type { PrettyOptions } from 'pino-pretty'
import type { LogFormat } from './config'

/** The logging the domain needs; satisfied by pino and by Fastify's request.log. */
export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug'>

/** Field names that could ever hold key material or tokens; code logs CRCs and lengths instead. */
const SECRET_FIELDS = ['authorization', 'privateKey', 'key', 'token', 'blob', 'cupsCred', 'tcCred']

/** Each secret field at the top level of a line and one level down (`*.x` alone does not cover a top-level `x`). */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((field) => `*.${field}`),
]

export interface LoggerOptions {
  /** 'json' (the default): one JSON object per line. 'pretty': readable lines for a terminal. */
  readonly format?: LogFormat
  /** Pretty only. Default: what colorette finds (a TTY on fd 1, NO_COLOR and FORCE_COLOR honoured). */
  readonly colorize?: boolean
}

// Shown after the message on the first line, so a request line reads "update-info eui=… status=200 latencyMs=3.1".
const INLINE_KEYS = ['eui', 'status', 'latencyMs'] as const
const WARN_LEVEL = 40
// What pino-pretty itself strips from messages; a messageFormat function bypasses that, and msg may carry station input.
const UNSAFE_CONTROL_CHARS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g

export function createLogger(level: string, destination?: pino.DestinationStream, options: LoggerOptions = {}): PinoLogger {
  const settings = { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }
  if (options.format !== 'pretty') return pino(settings, destination)
  // Prettified in the write call, after pino has redacted and serialised: the destination still gets one write per
  // line (LogDestination counts drops by line), and no transport worker becomes a second writer to fd 1.
  const out = destination ?? pino.destination({ dest: 1, sync: true })
  const prettify = prettyLine(options.colorize ?? isColorSupported)
  return pino(settings, {
    write(line: string) {
      out.write(prettify(line))
    },
  })
}

/**
 * Info and debug lines stay on one line (one per request, even under load); warnings and errors put each field on a
 * line of its own under the message, since they are rare and meant to be read, and stacks stay readable.
 */
function prettyLine(colorize: boolean): (line: string) => string {
  const common: PrettyOptions = {
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: ['pid', 'hostname', ...INLINE_KEYS].join(','),
    messageFormat: (log, messageKey) => {
      const parts = [stringOf(log[messageKey])]
      for (const key of INLINE_KEYS) if (log[key] !== undefined) parts.push(`${key}=${stringOf(log[key])}`)
      return parts.join(' ').replace(UNSAFE_CONTROL_CHARS, '')
    },
  }
  const oneLine = prettyFactory({ ...common, singleLine: true })
  const expanded = prettyFactory(common)
  return (line) => {
    let entry: unknown
    try {
      entry = JSON.parse(line)
    } catch {
      return line
    }
    const level = typeof entry === 'object' && entry !== null ? (entry as { level?: unknown }).level : undefined
    return (typeof level === 'number' && level >= WARN_LEVEL ? expanded : oneLine)(entry)
  }
}

function stringOf(value: unknown): string {
  if (value === undefined) return ''
  return typeof value === 'string' ? value : JSON.stringify(value)
}
