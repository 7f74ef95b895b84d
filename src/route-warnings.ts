// routeWarningsToLog: process warnings and dependencies' console output become pino lines, never raw text on stdout/stderr.
import { Writable } from 'node:stream'
import { format } from 'node:util'
import type { Logger as PinoLogger } from 'pino'

export type WarningLog = Pick<PinoLogger, 'debug' | 'info' | 'warn' | 'error' | 'isLevelEnabled'>

type Level = 'debug' | 'info' | 'warn' | 'error'
type ConsoleMethod = 'log' | 'info' | 'debug' | 'warn' | 'error'

const CONSOLE_LEVELS: Record<ConsoleMethod, Level> = { log: 'info', info: 'info', debug: 'debug', warn: 'warn', error: 'error' }
const CONSOLE_METHODS = Object.keys(CONSOLE_LEVELS) as ConsoleMethod[]

/** The global console's streams; Node reads them on every write, so replacing them catches every console method. */
interface ConsoleStreams {
  _stdout: NodeJS.WritableStream
  _stderr: NodeJS.WritableStream
}

/**
 * Installs the routing and returns its undo (for tests). Call it once the logger exists, before anything that may
 * warn is built (the S3 client warns when it is constructed). index.ts's own process.stderr.write is untouched.
 *
 * - Process warnings (Node's DeprecationWarning, ExperimentalWarning, MaxListenersExceededWarning, the AWS SDK's
 *   NodeVersionSupportWarning, Fastify's FSTDEP…): Node's printer is removed, each becomes one warn line with
 *   the message as msg and warning.name, warning.code; warning.stack only at debug.
 * - console.log/info/debug/warn/error: one line each at the matching level, arguments joined by util.format.
 * - Anything else reaching the console's streams (console.trace, console.dir, and console.warn captured before this
 *   ran, as @smithy/core's serde logger does at require time): info from stdout, warn from stderr.
 */
export function routeWarningsToLog(log: WarningLog): () => void {
  let busy = false
  const emit = (level: Level, fields: Record<string, unknown>, message: string): void => {
    // Only a logger that itself used the console could get here re-entrantly; say it once, raw, rather than loop.
    if (busy) {
      process.stderr.write(`${message}\n`)
      return
    }
    busy = true
    try {
      log[level](fields, message)
    } finally {
      busy = false
    }
  }

  const printers = process.listeners('warning')
  for (const printer of printers) process.removeListener('warning', printer)
  const onWarning = (warning: Error): void => {
    const { name, message } = described(warning)
    const { code, detail } = warning as Error & { code?: unknown; detail?: unknown }
    // Nested: a top-level "name" reads as the logger's name to pino-pretty and bunyan-style tools.
    const fields: Record<string, unknown> = { name }
    if (code !== undefined) fields.code = code
    if (detail !== undefined) fields.detail = detail
    if (log.isLevelEnabled('debug') && warning.stack !== undefined) fields.stack = warning.stack
    emit('warn', { source: 'process-warning', warning: fields }, message)
  }
  process.on('warning', onWarning)

  const methods = CONSOLE_METHODS.map((method) => [method, Object.getOwnPropertyDescriptor(console, method)] as const)
  for (const method of CONSOLE_METHODS) {
    console[method] = (...args: unknown[]) => {
      emit(CONSOLE_LEVELS[method], { source: `console.${method}` }, format(...args))
    }
  }

  const streams = console as unknown as ConsoleStreams
  const { _stdout: stdout, _stderr: stderr } = streams
  streams._stdout = lineSink((text) => {
    emit('info', { source: 'console.stdout' }, text)
  })
  streams._stderr = lineSink((text) => {
    emit('warn', { source: 'console.stderr' }, text)
  })

  return () => {
    process.removeListener('warning', onWarning)
    for (const printer of printers) if (!process.listeners('warning').includes(printer)) process.on('warning', printer)
    for (const [method, original] of methods) {
      if (original === undefined) Reflect.deleteProperty(console, method)
      else Object.defineProperty(console, method, original)
    }
    streams._stdout = stdout
    streams._stderr = stderr
  }
}

/**
 * Prose warnings (the AWS SDK's spans eight lines) read as one line; a name the emitter put in the text, as
 * "NodeVersionSupportWarning: …" with the generic name Warning, becomes the name.
 */
function described(warning: Error): { name: string; message: string } {
  let { name } = warning
  let message = warning.message.replace(/\s*\n\s*/g, ' ').trim()
  const named = /^([A-Z][A-Za-z]*Warning):\s*/.exec(message)
  if (name === 'Warning' && named?.[1] !== undefined) {
    name = named[1]
    message = message.slice(named[0].length)
  }
  return { name, message }
}

// console.dir and friends colour their output when FORCE_COLOR is set (or the console was made with colorMode: true).
const COLOURS = /\u001b\[[0-9;]*m/g

/** The console writes each call as one string ending in a newline, synchronously; each becomes one line. */
function lineSink(line: (text: string) => void): Writable {
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, callback) {
      line(String(chunk).replace(/\n$/, '').replace(COLOURS, ''))
      callback()
    },
  })
}
