// Composition root: load .env, read the config once, start the server, shut down cleanly on a signal.
import { config as loadDotenv } from 'dotenv'
import { loadConfig } from './src/config'
import { ConfigError } from './src/errors'
import { createLogger } from './src/logger'
import { startServer } from './src/server'

async function main(): Promise<void> {
  loadDotenv({ quiet: true })
  let config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    process.exit(1)
  }
  const log = createLogger(config.logLevel)
  try {
    const server = await startServer(config, log)
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down: finishing in-flight requests')
      server.close().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed')
          process.exit(1)
        },
      )
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    // The companion tool renews our certificates in place; file events reload them, and so does SIGHUP.
    process.on('SIGHUP', () => void server.reload('SIGHUP'))
  } catch (err) {
    log.fatal({ err }, 'could not start')
    process.exit(1)
  }
}

void main()
