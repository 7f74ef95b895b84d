// startTestServer: the real server (startServer) on 127.0.0.1:0 with a fresh dev PKI and data dir.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import type { Logger } from 'pino'
import { loadConfig } from '../../src/config'
import type { Config } from '../../src/config'
import { startServer } from '../../src/server'
import type { RunningServer } from '../../src/server'

export interface TestServer extends RunningServer {
  readonly config: Config
  readonly dir: string
  readonly caPem: Buffer
  readonly logLines: string[]
  stop(): Promise<void>
}

/** env entries override the test defaults; the log is captured in memory, never printed. */
export async function startTestServer(env: Record<string, string> = {}, reuseDir?: string): Promise<TestServer> {
  const dir = reuseDir ?? (await mkdtemp(path.join(os.tmpdir(), 'cups-e2e-')))
  const config = loadConfig(
    {
      HOST: '127.0.0.1',
      PORT: '0',
      ADMIN_PORT: '0',
      CERT_PATH: path.join(dir, 'certs'),
      DATA_DIR: path.join(dir, 'data'),
      TC_URI: 'wss://localhost:8887',
      // Most tests provision many throwaway EUIs; the registered policy has its own tests.
      BOOTSTRAP_POLICY: 'open',
      LOG_LEVEL: 'info',
      ...env,
    },
    dir,
  )
  const logLines: string[] = []
  const log: Logger = pino({ level: config.logLevel }, { write: (line: string) => logLines.push(line) })
  const server = await startServer(config, log)
  const caPem = await readFile(config.tls.caCertFile)
  return {
    ...server,
    config,
    dir,
    caPem,
    logLines,
    stop: async () => {
      await server.close()
      if (reuseDir === undefined) await rm(dir, { recursive: true, force: true })
    },
  }
}
