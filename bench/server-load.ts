// Owns the load scenarios against the server: first contact, steady polls (fresh TLS, keep-alive), cache fill, logging A/B.
import { X509Certificate } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'
import type { MintEngine } from '../src/config'
import { crc32 } from '../src/cups/crc32'
import { storageKeys } from '../src/storage/storage-keys'
import type { LoadPlan, Reply } from './load-client'
import { postUpdateInfo, stationTlsContext } from './load-client'
import { measure, measureInterleaved } from './phase'
import type { PhaseMeta, PhaseResult, Target, Task } from './phase'
import type { ProcSample } from './proc-stats'
import { summariseLog } from './server-process'
import type { LogSummary } from './server-process'
import { applyFirstAnswer, firstContactReport, stationBody, tokenBundle } from './station'
import type { ProvisionedStation } from './station'

export interface MemoryPoint {
  readonly label: string
  readonly rssKiB: number
  readonly peakRssKiB: number
  readonly meaning: string
}

export interface ServerRun {
  readonly logLevel: string
  readonly startMs: number
  readonly phases: PhaseResult[]
  readonly memory: MemoryPoint[]
  readonly metrics: Readonly<Record<string, number>>
  readonly log: LogSummary
}

/** Every load is bounded by a count and a wall-clock cap. */
export const PLAN = {
  firstContact: { count: 300, maxMs: 45_000, concurrency: 4 },
  fresh: { count: 3000, maxMs: 20_000, concurrency: 4 },
  keepAlive: { count: 3000, maxMs: 20_000, concurrency: 4 },
  keepAliveWarmup: 300,
  tokenGateways: { count: 5000, maxMs: 30_000, concurrency: 4 },
  /** Per server, split into loggingBlocks turns. */
  loggingFresh: { count: 800, maxMs: 15_000, concurrency: 4 },
  loggingKeepAlive: { count: 3000, maxMs: 10_000, concurrency: 4 },
  loggingBlocks: 6,
} as const

const NO_CHANGE = Buffer.alloc(14)
const TC_URI = 'wss://localhost:8887'

function at<T>(items: readonly T[], index: number): T {
  const item = items[index]
  if (item === undefined) throw new RangeError(`no item ${index} of ${items.length}`)
  return item
}

function memoryPoint(sample: ProcSample, label: string, meaning: string): MemoryPoint {
  return { label, rssKiB: sample.rssKiB, peakRssKiB: sample.peakRssKiB, meaning }
}

function expectNoChange(reply: Reply): Reply {
  if (reply.status !== 200) throw new Error(`HTTP ${reply.status}: ${reply.body.toString('utf8').slice(0, 200)}`)
  if (!reply.body.equals(NO_CHANGE)) throw new Error(`expected 14 zero bytes, got ${reply.body.length} bytes`)
  return reply
}

/** Gateway i of a set as 16 hex digits; `family` keeps the sets apart. */
function euiOf(family: number, index: number): string {
  return `${family.toString(16).padStart(2, '0')}${index.toString(16).padStart(14, '0')}`
}

/**
 * LOG_LEVEL=warn: 300 first contacts, "no change" polls over fresh TLS and over keep-alive, then 5,000 more
 * gateways into the cache. Returns the provisioned stations for the logging comparison.
 */
export async function mainRun(target: Target): Promise<{ run: ServerRun; stations: ProvisionedStation[] }> {
  const { server } = target
  const memory: MemoryPoint[] = [memoryPoint(server.sample(), 'after start', 'idle: nothing cached, no gateway seen yet')]
  const phases: PhaseResult[] = []

  const stations: ProvisionedStation[] = []
  phases.push(await firstContacts(target, stations))
  if (stations.length === 0) throw new Error('no gateway was provisioned; nothing to poll with')
  memory.push(
    memoryPoint(server.sample(), `after ${stations.length} first contacts`, `${stations.length} gateways provisioned (2 mints each); their 2 bundles each are in the read cache`),
  )

  phases.push(await measure(target, freshMeta(stations.length, PLAN.fresh), PLAN.fresh, freshTask(target, stations), stations.length))
  memory.push(memoryPoint(server.sample(), `after ${PLAN.fresh.count.toLocaleString('en-US')} fresh-TLS polls`, '"no change" answers to the same 300 gateways: steady polling should not grow it'))

  const agent = new https.Agent({ keepAlive: true, maxSockets: PLAN.keepAlive.concurrency })
  try {
    phases.push(await measure(target, keepAliveMeta(PLAN.keepAlive), PLAN.keepAlive, keepAliveTask(target, at(stations, 0), agent), PLAN.keepAliveWarmup))
  } finally {
    agent.destroy()
  }
  memory.push(memoryPoint(server.sample(), `after ${PLAN.keepAlive.count.toLocaleString('en-US')} keep-alive polls`, 'the same over keep-alive'))

  const cacheFill = await tokenGateways(target, at(stations, 0))
  phases.push(cacheFill.phase)
  memory.push(cacheFill.memory)

  return { run: { logLevel: target.logLevel, startMs: server.startMs, phases, memory, metrics: await fetchMetrics(target), log: summariseLog(target.logFile) }, stations }
}

/** A fresh server with another MINT_ENGINE: the first-contact phase alone, the same load as in the main run. */
export async function firstContactRun(target: Target, mintEngine: MintEngine): Promise<ServerRun> {
  const { server } = target
  const memory: MemoryPoint[] = [memoryPoint(server.sample(), `after start (MINT_ENGINE=${mintEngine})`, 'idle: nothing cached, no gateway seen yet')]
  const stations: ProvisionedStation[] = []
  const phase = await firstContacts(target, stations, mintEngine)
  memory.push(memoryPoint(server.sample(), `after ${stations.length} first contacts (MINT_ENGINE=${mintEngine})`, `${stations.length} gateways provisioned (2 mints each)`))
  return { logLevel: target.logLevel, startMs: server.startMs, phases: [phase], memory, metrics: await fetchMetrics(target), log: summariseLog(target.logFile) }
}

/**
 * LOG_LEVEL=info against warn: two fresh servers on the main run's certs and data, identical but for the level,
 * polled in alternating blocks so that other work on the machine weighs on both alike.
 */
export async function loggingComparison(
  warn: Target,
  info: Target,
  stations: readonly ProvisionedStation[],
): Promise<{ warn: ServerRun; info: ServerRun }> {
  const started = [warn, info].map((target) =>
    memoryPoint(target.server.sample(), `after start (LOG_LEVEL=${target.logLevel})`, 'fresh server for the logging comparison, idle, same certs and data'),
  )
  const blocks = PLAN.loggingBlocks
  const fresh = await measureInterleaved([warn, info], freshMeta(stations.length, PLAN.loggingFresh, blocks), PLAN.loggingFresh, blocks, (target) => freshTask(target, stations), stations.length)
  const agents: https.Agent[] = []
  let keepAlive: [PhaseResult, PhaseResult]
  try {
    keepAlive = await measureInterleaved(
      [warn, info],
      keepAliveMeta(PLAN.loggingKeepAlive, blocks),
      PLAN.loggingKeepAlive,
      blocks,
      (target) => {
        const agent = new https.Agent({ keepAlive: true, maxSockets: PLAN.loggingKeepAlive.concurrency })
        agents.push(agent)
        return keepAliveTask(target, at(stations, 0), agent)
      },
      PLAN.keepAliveWarmup,
    )
  } finally {
    for (const agent of agents) agent.destroy()
  }
  const finish = async (target: Target, phases: PhaseResult[], memory: MemoryPoint): Promise<ServerRun> => ({
    logLevel: target.logLevel,
    startMs: target.server.startMs,
    phases,
    memory: [memory, memoryPoint(target.server.sample(), `after the comparison (LOG_LEVEL=${target.logLevel})`, 'its 300 gateways cached')],
    metrics: await fetchMetrics(target),
    log: summariseLog(target.logFile),
  })
  return {
    warn: await finish(warn, [fresh[0], keepAlive[0]], at(started, 0)),
    info: await finish(info, [fresh[1], keepAlive[1]], at(started, 1)),
  }
}

function firstContacts(target: Target, stations: ProvisionedStation[], mintEngine: MintEngine = 'openssl'): Promise<PhaseResult> {
  const { server } = target
  const plan = PLAN.firstContact
  const anonymous = stationTlsContext(server.caPem)
  const report = firstContactReport(server.port, new X509Certificate(server.caPem).raw)
  const engine =
    mintEngine === 'openssl'
      ? { id: '', scenario: '', cpu: 'server CPU = node process + its reaped openssl children' }
      : {
          id: `-${mintEngine}-mint`,
          scenario: `, MINT_ENGINE=${mintEngine}`,
          cpu: `a fresh server with MINT_ENGINE=${mintEngine} (own certs and data), minting in-process: server CPU = the node process alone (its thread pool included), no children`,
        }
  return measure(
    target,
    {
      id: `first-contact${engine.id}`,
      scenario: `first contact (mints CUPS + TC credentials)${engine.scenario}`,
      method: `${plan.count} new EUIs, anonymous, each a fresh TLS 1.2 connection (agent:false), concurrency ${plan.concurrency}; every answer must carry tcUri and both credential blobs; ${engine.cpu}; MINT_CONCURRENCY=2 (default)`,
      unit: 'gateway',
    },
    plan,
    async (i) => {
      const eui = euiOf(0xb0, i)
      const reply = await postUpdateInfo({ port: server.port, body: stationBody(eui, report), tls: anonymous, agent: false })
      if (reply.status !== 200) throw new Error(`HTTP ${reply.status}: ${reply.body.toString('utf8').slice(0, 200)}`)
      stations.push(applyFirstAnswer(eui, server.port, reply.body))
      return reply
    },
  )
}

export function freshMeta(gateways: number, plan: LoadPlan, blocks = 1): PhaseMeta {
  return {
    id: 'poll-fresh-tls',
    scenario: 'steady poll, fresh TLS + client cert',
    method: `the ${gateways} provisioned gateways in turn, each poll a new TLS 1.2 connection presenting the gateway's certificate (agent:false: full handshake, no resumption), concurrency ${plan.concurrency}; answer must be 14 zero bytes; warm-up one poll per gateway${interleavedNote(blocks)}`,
    unit: 'request',
  }
}

export function keepAliveMeta(plan: LoadPlan, blocks = 1): PhaseMeta {
  return {
    id: 'poll-keep-alive',
    scenario: 'steady poll, keep-alive',
    method: `one gateway's certificate over one https.Agent (keepAlive, maxSockets ${plan.concurrency}), concurrency ${plan.concurrency}; the server closes a connection after 100 requests (maxRequestsPerSocket), so ~1 % of requests reconnect with a resumed TLS session; warm-up ${PLAN.keepAliveWarmup}${interleavedNote(blocks)}`,
    unit: 'request',
  }
}

function interleavedNote(blocks: number): string {
  return blocks > 1 ? `; two fresh servers, LOG_LEVEL=warn and info, measured in ${blocks} alternating blocks each (A B B A ...)` : ''
}

export function freshTask(target: Target, stations: readonly ProvisionedStation[]): Task {
  return async (i) => {
    const station = at(stations, i % stations.length)
    return expectNoChange(await postUpdateInfo({ port: target.server.port, body: station.noChangeBody, tls: station.tls, agent: false }))
  }
}

/** One Agent per client identity and server: an Agent pools by TLS options, and secureContext is not one of them. */
export function keepAliveTask(target: Target, station: ProvisionedStation, agent: https.Agent): Task {
  return async () => expectNoChange(await postUpdateInfo({ port: target.server.port, body: station.noChangeBody, tls: station.tls, agent }))
}

/**
 * 5,000 more gateways, each polled once, so the cache holds 2 more bundles per gateway. Minting them would take
 * minutes, so their bundles are written into DATA_DIR as another tool would (README, storage layout): a CUPS bundle
 * whose key part is an `Authorization` token padded to the size of a real certificate bundle, and a copy of a real
 * TC bundle. The stations prove themselves with the token, over keep-alive (a token needs no client certificate).
 */
async function tokenGateways(target: Target, model: ProvisionedStation): Promise<{ phase: PhaseResult; memory: MemoryPoint }> {
  const { server } = target
  const plan = PLAN.tokenGateways
  const trustDer = new X509Certificate(server.caPem).raw
  const gateways = Array.from({ length: plan.count }, (_unused, i) => {
    const eui = euiOf(0xc0, i)
    const bundle = tokenBundle(trustDer, eui, model.cupsBlob.length)
    return { eui, bundle, cupsCrc: crc32(bundle.blob) }
  })
  await writeBundles(server.dataDir, gateways, model.tcBlob)
  const tcCrc = crc32(model.tcBlob)
  const tls = stationTlsContext(server.caPem)
  const agent = new https.Agent({ keepAlive: true, maxSockets: plan.concurrency })
  const before = server.sample()
  try {
    const phase = await measure(
      target,
      {
        id: 'cache-fill-token',
        scenario: `${plan.count.toLocaleString('en-US')} more gateways, first poll each`,
        method: `${plan.count} EUIs whose bundles were written into DATA_DIR beforehand (CUPS: token bundle padded to ${model.cupsBlob.length} bytes; TC: copy of a real ${model.tcBlob.length}-byte bundle); each polls once with its token over keep-alive (maxSockets ${plan.concurrency}); cold cache: 2 file reads and the bundle checks per request`,
        unit: 'request',
      },
      plan,
      async (i) => {
        const { eui, bundle, cupsCrc } = at(gateways, i)
        const body = stationBody(eui, { cupsUri: `https://localhost:${server.port}`, tcUri: TC_URI, cupsCredCrc: cupsCrc, tcCredCrc: tcCrc })
        return expectNoChange(await postUpdateInfo({ port: server.port, body, tls, agent, headers: { [bundle.headerName]: bundle.headerValue } }))
      },
    )
    const after = server.sample()
    const perGateway = (after.rssKiB - before.rssKiB) / Math.max(1, phase.load.ok)
    const meaning = `+${phase.load.ok.toLocaleString('en-US')} gateways, 2 more ~1 KB bundles each in the cache: RSS ${perGateway >= 0 ? '+' : ''}${perGateway.toFixed(2)} KiB per gateway`
    return { phase, memory: memoryPoint(after, `after ${phase.load.ok.toLocaleString('en-US')} more gateways`, meaning) }
  } finally {
    agent.destroy()
  }
}

async function writeBundles(dataDir: string, gateways: readonly { eui: string; bundle: { blob: Buffer } }[], tcBlob: Buffer): Promise<void> {
  const batch = 200
  for (let start = 0; start < gateways.length; start += batch) {
    await Promise.all(
      gateways.slice(start, start + batch).map(async ({ eui, bundle }) => {
        const keys = storageKeys('cups/', eui)
        await mkdir(path.join(dataDir, path.dirname(keys.cupsCredentials)), { recursive: true, mode: 0o700 })
        await writeFile(path.join(dataDir, keys.cupsCredentials), bundle.blob, { mode: 0o600 })
        await writeFile(path.join(dataDir, keys.tcCredentials), tcBlob, { mode: 0o600 })
      }),
    )
  }
}

/** The server's own counters (GET /metrics on the admin listener), to confirm nothing failed behind a "no change". */
export async function fetchMetrics(target: Target): Promise<Record<string, number>> {
  const { server } = target
  const text = await new Promise<string>((resolve, reject) => {
    const request = http.get(
      { host: '127.0.0.1', port: server.adminPort, path: '/metrics', agent: false, timeout: 5000 },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          resolve(Buffer.concat(chunks).toString('utf8'))
        })
      },
    )
    request.on('timeout', () => request.destroy(new Error('GET /metrics timed out')))
    request.on('error', reject)
  })
  const metrics: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const match = /^(cups_\S+) (\d+(?:\.\d+)?)$/.exec(line)
    if (match?.[1] !== undefined) metrics[match[1]] = Number(match[2])
  }
  return metrics
}
