// Owns the HTTPS load client: one POST /update-info, and closed-loop workers bounded in count and time.
import https from 'node:https'
import type { ConnectionOptions, SecureContext } from 'node:tls'
import { TLSSocket, createSecureContext } from 'node:tls'
import { percentile } from './stats'

/** Every request goes to 127.0.0.1; the server certificate is checked against the name below. */
const HOST = '127.0.0.1'
const SERVERNAME = 'localhost'

export interface Reply {
  readonly status: number
  readonly body: Buffer
  /** From writing the request to the last response byte; for a fresh connection it includes TCP connect and the TLS handshake. */
  readonly latencyMs: number
  readonly newConnection: boolean
  readonly sessionReused: boolean
}

export interface PostSpec {
  readonly port: number
  readonly body: string
  /** CA (to verify us) and, for a provisioned gateway, its client certificate; TLS 1.2 like the station. */
  readonly tls: SecureContext
  /**
   * false = a fresh connection per request (full handshake: no agent, no session cache).
   * An Agent pools by host and TLS *options*, not by secureContext: give each client identity its own Agent.
   */
  readonly agent: https.Agent | false
  readonly headers?: Readonly<Record<string, string>>
  readonly timeoutMs?: number
}

/** A TLS 1.2 client context as the station has it: our CA as trust, optionally its certificate and key (PEM). */
export function stationTlsContext(ca: string | Buffer, identity?: { cert: string; key: string }): SecureContext {
  return createSecureContext({ ca, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ...identity })
}

export function postUpdateInfo(spec: PostSpec): Promise<Reply> {
  const started = process.hrtime.bigint()
  // secureContext is a tls.connect option that https passes through; its RequestOptions type just omits it.
  const options: https.RequestOptions & Pick<ConnectionOptions, 'secureContext'> = {
    host: HOST,
    port: spec.port,
    servername: SERVERNAME,
    method: 'POST',
    path: '/update-info',
    agent: spec.agent,
    secureContext: spec.tls,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(spec.body), ...spec.headers },
  }
  return new Promise((resolve, reject) => {
    let socket: TLSSocket | undefined
    const request = https.request(options, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks),
          latencyMs: Number(process.hrtime.bigint() - started) / 1e6,
          newConnection: !request.reusedSocket,
          sessionReused: socket?.isSessionReused() ?? false,
        })
      })
      response.on('error', reject)
    })
    request.on('socket', (assigned) => {
      if (assigned instanceof TLSSocket) socket = assigned
    })
    request.setTimeout(spec.timeoutMs ?? 15_000, () => request.destroy(new Error('request timed out')))
    request.on('error', reject)
    request.end(spec.body)
  })
}

export interface LoadPlan {
  /** Requests to make at most. */
  readonly count: number
  /** Stop starting new requests after this long (wall clock). */
  readonly maxMs: number
  readonly concurrency: number
}

/** The raw outcome of one bounded run; several can be merged into one LoadRun. */
export interface LoadSamples {
  readonly started: number
  readonly errors: number
  readonly errorSamples: readonly string[]
  readonly wallMs: number
  readonly latenciesMs: readonly number[]
  /** CPU of this (client) process during the run. */
  readonly clientCpuMs: number
  readonly newConnections: number
  readonly resumedSessions: number
  /** True when maxMs, not count, ended the run. */
  readonly timeCapped: boolean
}

/** What a phase reports: counts, rates and latency percentiles (nearest rank). */
export interface LoadRun {
  readonly started: number
  readonly ok: number
  readonly errors: number
  readonly errorSamples: readonly string[]
  readonly wallMs: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly perSecond: number
  readonly clientCpuMs: number
  readonly newConnections: number
  readonly resumedSessions: number
  readonly timeCapped: boolean
}

/**
 * `concurrency` workers, each sending its next request as soon as the previous one finished (closed loop).
 * `task(i)` sends request i (counting from firstIndex) and throws when the reply is not the expected one;
 * failures are counted, not retried.
 */
export async function runLoad(plan: LoadPlan, task: (index: number) => Promise<Reply>, firstIndex = 0): Promise<LoadSamples> {
  const latencies: number[] = []
  const errorSamples: string[] = []
  let next = 0
  let errors = 0
  let newConnections = 0
  let resumedSessions = 0
  let timeCapped = false
  const cpuBefore = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  const elapsedMs = (): number => Number(process.hrtime.bigint() - t0) / 1e6

  const worker = async (): Promise<void> => {
    for (;;) {
      if (next >= plan.count) return
      if (elapsedMs() >= plan.maxMs) {
        timeCapped = true
        return
      }
      const index = firstIndex + next++
      try {
        const reply = await task(index)
        latencies.push(reply.latencyMs)
        if (reply.newConnection) newConnections++
        if (reply.newConnection && reply.sessionReused) resumedSessions++
      } catch (err) {
        errors++
        if (errorSamples.length < 5) errorSamples.push(`#${index}: ${(err as Error).message}`)
      }
    }
  }
  await Promise.all(Array.from({ length: plan.concurrency }, worker))

  const cpu = process.cpuUsage(cpuBefore)
  return {
    started: next,
    errors,
    errorSamples,
    wallMs: elapsedMs(),
    latenciesMs: latencies,
    clientCpuMs: (cpu.user + cpu.system) / 1000,
    newConnections,
    resumedSessions,
    timeCapped,
  }
}

/** Merges runs (e.g. interleaved blocks) into one summary: sums, and percentiles over all latencies. */
export function summarise(runs: readonly LoadSamples[]): LoadRun {
  const sum = (pick: (run: LoadSamples) => number): number => runs.reduce((total, run) => total + pick(run), 0)
  const latencies = runs.flatMap((run) => run.latenciesMs)
  const wallMs = sum((run) => run.wallMs)
  return {
    started: sum((run) => run.started),
    ok: latencies.length,
    errors: sum((run) => run.errors),
    errorSamples: runs.flatMap((run) => run.errorSamples).slice(0, 5),
    wallMs,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: percentile(latencies, 100),
    perSecond: wallMs > 0 ? (latencies.length / wallMs) * 1000 : 0,
    clientCpuMs: sum((run) => run.clientCpuMs),
    newConnections: sum((run) => run.newConnections),
    resumedSessions: sum((run) => run.resumedSessions),
    timeCapped: runs.some((run) => run.timeCapped),
  }
}
