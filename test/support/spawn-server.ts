// spawnServer: the real server (index.ts under ts-node) as a child process, with its stdout wherever the test puts it.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import https from 'node:https'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { adminGet } from './admin-get'

const repoRoot = path.resolve(__dirname, '..', '..')

export interface SpawnOptions {
  /** Working directory; it holds no .env, so nothing but env reaches the server. */
  readonly cwd: string
  /** On top of PATH and TS_NODE_PROJECT; HOST is always 127.0.0.1. */
  readonly env: Readonly<Record<string, string>>
  /** The child's fd 1: 'pipe' (read by this helper), 'ignore', or an open descriptor (/dev/full, a FIFO). */
  readonly stdout?: 'pipe' | 'ignore' | number
}

export interface SpawnedServer {
  readonly child: ChildProcess
  /** stdout as read so far (only with stdout: 'pipe'). */
  stdout(): string
  stderr(): string
  /** Resolves when the process has exited and its pipes are closed. */
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGTERM, then SIGKILL after 5 s. */
  stop(): Promise<void>
}

export function spawnServer(options: SpawnOptions): SpawnedServer {
  const child = spawn(process.execPath, ['--require', require.resolve('ts-node/register/transpile-only'), path.join(repoRoot, 'index.ts')], {
    cwd: options.cwd,
    stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      TS_NODE_PROJECT: path.join(repoRoot, 'tsconfig.json'),
      ...options.env,
      HOST: '127.0.0.1',
    },
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      resolve({ code, signal })
    })
  })
  // Never leave a server behind, whatever happens to the test run.
  const killOnExit = (): void => {
    child.kill('SIGKILL')
  }
  process.once('exit', killOnExit)
  void closed.then(() => process.removeListener('exit', killOnExit))
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    closed,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const stopped = await Promise.race([closed.then(() => true), sleep(5000).then(() => false)])
      if (!stopped) {
        child.kill('SIGKILL')
        await closed
      }
    },
  }
}

/** Polls the admin listener's GET /readyz until it answers 200; throws with the child's stderr if it exits or takes too long. */
export async function waitUntilReady(server: SpawnedServer, adminPort: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  // An object, not a let: control-flow analysis does not see the callback set it.
  const state = { exited: false }
  void server.closed.then(() => (state.exited = true))
  for (;;) {
    if (state.exited) throw new Error(`the server exited before it was ready; stderr:\n${server.stderr()}`)
    if (Date.now() > deadline) throw new Error(`the server was not ready within ${timeoutMs} ms; stderr:\n${server.stderr()}`)
    const status = await adminGet(adminPort, '/readyz').then(
      (response) => response.status,
      () => 0,
    )
    if (status === 200) return
    await sleep(100)
  }
}

export interface GetResult {
  readonly status: number
  readonly body: string
}

/** One GET over a fresh TLS connection to 127.0.0.1, verifying the server as localhost. */
export function httpsGet(port: number, urlPath: string, ca: Buffer): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const request = https.get({ host: '127.0.0.1', port, servername: 'localhost', path: urlPath, ca, agent: false, timeout: 10_000 }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, body })
      })
      response.on('error', reject)
    })
    request.on('timeout', () => request.destroy(new Error('request timed out')))
    request.on('error', reject)
  })
}

/** One counter series from Prometheus text; NaN when absent. */
export function counterValue(metrics: string, series: string): number {
  const line = metrics.split('\n').find((candidate) => candidate.startsWith(`${series} `))
  if (line === undefined) return Number.NaN
  const value = line.slice(series.length + 1)
  // Prometheus writes infinities as +Inf and -Inf, which Number() does not read.
  return value === '+Inf' ? Number.POSITIVE_INFINITY : value === '-Inf' ? Number.NEGATIVE_INFINITY : Number(value)
}
