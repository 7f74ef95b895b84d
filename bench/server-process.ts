// Owns the server under test as a child process: compile it once, start it on a free 127.0.0.1 port, stop it.
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { sampleProcess } from './proc-stats'
import type { ProcSample } from './proc-stats'
import type { MintEngine } from '../src/config'
import { freePort } from '../test/support/free-port'

export interface Build {
  readonly entry: string
  readonly ms: number
}

/**
 * `tsc -p tsconfig.build.json` into outDir, the same JS `npm run build` makes for `npm start`. --noCheck: types
 * are `npm run check-types`'s job, and emitting without checking takes ~3 s instead of ~6 s.
 */
export async function buildServer(repoRoot: string, outDir: string): Promise<Build> {
  const started = Date.now()
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc')
  await new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      [tsc, '-p', path.join(repoRoot, 'tsconfig.build.json'), '--outDir', outDir, '--noCheck', '--sourceMap', 'false'],
      { cwd: repoRoot, timeout: 120_000 },
      (error, stdout) => {
        if (error) reject(new Error(`tsc failed: ${error.message}\n${stdout}`))
        else resolve()
      },
    )
  })
  return { entry: path.join(outDir, 'index.js'), ms: Date.now() - started }
}

export interface ServerOptions {
  readonly entry: string
  readonly repoRoot: string
  /** cwd of the child (holds no .env, so nothing leaks in) and home of certs/, data/ and the log. */
  readonly workDir: string
  readonly logLevel: string
  readonly logFile: string
  /** MINT_ENGINE for the child; unset = the server's default (openssl). */
  readonly mintEngine?: MintEngine
  /** Extra node flags for investigations, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  readonly nodeArgs?: readonly string[]
  /** More variables for the child (e.g. CACHE_TTL_SECONDS for the firmware run). */
  readonly env?: Readonly<Record<string, string>>
}

export interface ServerProcess {
  readonly pid: number
  readonly port: number
  /** The admin listener (plain HTTP): /readyz, /metrics. */
  readonly adminPort: number
  readonly caPem: Buffer
  readonly dataDir: string
  readonly startMs: number
  sample(): ProcSample
  stop(): Promise<void>
}

const READY_TIMEOUT_MS = 30_000

/**
 * The node flags the server ships with (`npm start`, the Dockerfile's CMD): V8's young generation capped at 8 MiB per
 * semi-space. Node 24's default let it reserve ~100 MiB it rarely used: 3,000 new gateways peaked at 257 MiB RSS with
 * it, 172 MiB without, in about the same time.
 */
export const SHIPPED_NODE_FLAGS = ['--max-semi-space-size=8'] as const

/** The environment is built from scratch: only PATH (for openssl) and the variables the run is about. */
export async function startServerProcess(options: ServerOptions): Promise<ServerProcess> {
  const port = await freePort()
  const adminPort = await freePort()
  const dataDir = path.join(options.workDir, 'data')
  const certPath = path.join(options.workDir, 'certs')
  const env = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    // The compiled JS lives outside the repository; dependencies resolve from its node_modules.
    NODE_PATH: path.join(options.repoRoot, 'node_modules'),
    HOST: '127.0.0.1',
    PORT: String(port),
    ADMIN_PORT: String(adminPort),
    DATA_DIR: dataDir,
    CERT_PATH: certPath,
    TC_URI: 'wss://localhost:8887',
    BOOTSTRAP_POLICY: 'open',
    LOG_LEVEL: options.logLevel,
    ...(options.mintEngine === undefined ? {} : { MINT_ENGINE: options.mintEngine }),
    ...options.env,
  }
  const started = Date.now()
  const log = openSync(options.logFile, 'a')
  let child: ChildProcess
  try {
    child = spawn(process.execPath, [...SHIPPED_NODE_FLAGS, ...(options.nodeArgs ?? []), options.entry], { cwd: options.workDir, env, stdio: ['ignore', log, log] })
  } finally {
    closeSync(log)
  }
  const pid = child.pid
  if (pid === undefined) throw new Error('could not spawn the server')
  let exited: string | undefined
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? String(code)}`
      resolve()
    })
  })
  // Never leave the server running behind us, whatever happens to this process.
  const killOnExit = (): void => {
    if (exited === undefined) child.kill('SIGKILL')
  }
  process.once('exit', killOnExit)

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit)
    if (exited !== undefined) return
    child.kill('SIGTERM')
    const stopped = await Promise.race([exit.then(() => true), sleep(5000).then(() => false)])
    if (!stopped) {
      child.kill('SIGKILL')
      await exit
    }
  }

  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (exited !== undefined) throw new Error(`server ${exited} before it was ready:\n${tail(options.logFile)}`)
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`server not ready within ${READY_TIMEOUT_MS} ms:\n${tail(options.logFile)}`)
    }
    if (await ready(adminPort)) break
    await sleep(50)
  }
  return {
    pid,
    port,
    adminPort,
    caPem: readFileSync(path.join(certPath, 'ca.crt')),
    dataDir,
    startMs: Date.now() - started,
    sample: () => sampleProcess(pid),
    stop,
  }
}


/** The admin listener's GET /readyz answers 200. */
function ready(adminPort: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port: adminPort, path: '/readyz', agent: false, timeout: 1000 }, (response) => {
      response.resume()
      resolve(response.statusCode === 200)
    })
    request.on('timeout', () => request.destroy())
    request.on('error', () => {
      resolve(false)
    })
  })
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n')
  } catch {
    return '(no log)'
  }
}

export interface LogSummary {
  readonly lines: number
  readonly bytes: number
  readonly byLevel: Readonly<Record<string, number>>
  /** The msg of the first few lines at warn or above. */
  readonly notable: readonly string[]
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

/** Counts pino JSON lines by level from byte offset `from` (so one log file can hold several phases). */
export function summariseLog(file: string, from = 0): LogSummary & { readonly end: number } {
  const content = readFileSync(file).subarray(from)
  const byLevel: Record<string, number> = {}
  const notable: string[] = []
  let lines = 0
  for (const line of content.toString('utf8').split('\n')) {
    if (line === '') continue
    lines++
    let level = 'text'
    let message = line
    try {
      const parsed = JSON.parse(line) as { level?: unknown; msg?: unknown }
      level = typeof parsed.level === 'number' ? (LEVEL_NAMES[parsed.level] ?? String(parsed.level)) : 'text'
      message = typeof parsed.msg === 'string' ? parsed.msg : line
    } catch {
      // not JSON: counted as text
    }
    byLevel[level] = (byLevel[level] ?? 0) + 1
    if (['warn', 'error', 'fatal', 'text'].includes(level) && notable.length < 5) notable.push(`${level}: ${message.split('\n')[0] ?? ''}`)
  }
  return { lines, bytes: content.length, byLevel, notable, end: from + content.length }
}
