// Composition root: load .env, read the config once, start the server, shut down cleanly on a signal.
import { config as loadDotenv } from 'dotenv'
import { loadConfig } from './src/config'
import { ConfigError, StartupError } from './src/errors'
import { LogDestination } from './src/log-destination'
import { createLogger } from './src/logger'
import { routeWarningsToLog } from './src/route-warnings'
import { startServer } from './src/server'

async function main(): Promise<void> {
  // A closed or broken stdout/stderr must never crash the server. Touching process.stdout also makes a pipe
  // or socket on fd 1 non-blocking (libuv), which the log destination relies on.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined)
  loadDotenv({ quiet: true })
  let config
  try {
    config = loadConfig(process.env, process.cwd(), { terminal: process.stdout.isTTY })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    process.exit(1)
  }
  const destination = new LogDestination()
  // Lines still queued when something else exits the process; exit() below waits for them instead.
  process.on('exit', () => {
    destination.flushSync()
  })
  // Waits (a second at most) for the log lines so far; the exit code holds even if the loop empties first.
  const exit = (code: number): void => {
    process.exitCode = code
    destination.flush(() => process.exit(code))
  }
  const log = createLogger(config.logLevel, destination, { format: config.logFormat })
  // Before anything creates the S3 client: its Node version warning and any dependency's console output
  // become log lines, not raw text in the middle of the JSON.
  routeWarningsToLog(log)
  try {
    const server = await startServer(config, log, { logLinesDropped: () => destination.dropped })
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down: finishing in-flight requests')
      server.close().then(
        () => {
          exit(0)
        },
        (err: unknown) => {
          log.error({ err }, 'shutdown failed')
          exit(1)
        },
      )
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    // The companion tool renews our certificates in place; file events reload them, and so does SIGHUP.
    process.on('SIGHUP', () => void server.reload('SIGHUP'))
  } catch (err) {
    // The operator's to fix: one line naming the variable and the file. A stack only for our own bugs.
    if (err instanceof StartupError || err instanceof ConfigError) process.stderr.write(`${err.message}\n`)
    else log.fatal({ err }, 'could not start')
    exit(1)
  }
}

void main()
