// createLogger: the one pino instance; JSON lines by default or pino-pretty for a person, secrets censored either way.
import pino from 'pino'
import type { Logger as PinoLogger } from 'pino'
import { isColorSupported, prettyFactory } from 'pino-pretty'
import type { PrettyOptions } from 'pino-pretty'
import type { LogFormat } from './config'
import { censoredError, redactSecrets } from './log-redaction'

/** The logging the domain needs; satisfied by pino and by Fastify's request.log. */
export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug'>

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
  // Every line passes the censor (log-redaction.ts), and so do child loggers' bindings (censorBindings), errors after
  // pino's serialiser, and objects given as the message or as %o/%j arguments (which formatters.log never sees).
  const settings: pino.LoggerOptions = {
    level,
    formatters: { log: redactSecrets },
    serializers: { err: censoredError },
    hooks: {
      logMethod(args, method) {
        const censored = args.map((arg: unknown, index) => (index > 0 && typeof arg === 'object' && arg !== null ? redactSecrets(arg as Record<string, unknown>) : arg))
        method.apply(this, censored as Parameters<typeof method>)
      },
    },
  }
  if (options.format !== 'pretty') return censorBindings(pino(settings, destination))
  // Prettified in the write call, after the censor and pino's serialisers: the destination still gets one write per
  // line (LogDestination counts drops by line), and no transport worker becomes a second writer to fd 1.
  const out = destination ?? pino.destination({ dest: 1, sync: true })
  const prettify = prettyLine(options.colorize ?? isColorSupported)
  return censorBindings(
    pino(settings, {
      write(line: string) {
        out.write(prettify(line))
      },
    }),
  )
}

/**
 * pino applies formatters.bindings to the root logger's base only, not to child loggers (Fastify makes one per request),
 * so their bindings pass the censor here. Children inherit these methods from the root, so theirs do too.
 */
interface PinoBindingMethods {
  child(this: PinoLogger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions): PinoLogger
  setBindings(this: PinoLogger, bindings: pino.Bindings): void
}

function censorBindings(logger: PinoLogger): PinoLogger {
  // pino's own methods live on the prototype; these shadow them on the root, and children inherit the shadows.
  const pinoMethods = Object.getPrototypeOf(logger) as PinoBindingMethods
  return Object.assign(logger, {
    child(this: PinoLogger, bindings: pino.Bindings, childOptions?: pino.ChildLoggerOptions): PinoLogger {
      return pinoMethods.child.call(this, redactSecrets(bindings), childOptions)
    },
    setBindings(this: PinoLogger, bindings: pino.Bindings): void {
      pinoMethods.setBindings.call(this, redactSecrets(bindings))
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
