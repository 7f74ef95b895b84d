// Owns the performance goals (issue 12): each measured against its floor in the same run, in alternating blocks, as a ratio with a pass mark.
import { writeFileSync } from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { TLS_CONTEXT_OPTIONS } from '../src/http/tls-options'
import { NodeCredentialMinter } from '../src/pki/node-credential-minter'
import type { FirmwareResults } from './firmware'
import { runLoad } from './load-client'
import { measureInterleaved } from './phase'
import type { PhaseResult, Target } from './phase'
import { startPeer } from './peers'
import { fetchMetrics, freshMeta, freshTask, keepAliveMeta, keepAliveTask } from './server-load'
import type { ProvisionedStation } from './station'
import type { StormRun } from './storms'
import type { X509LibraryComparison } from './x509-library'

export interface Goal {
  readonly id: string
  readonly goal: string
  /** The figure, as printed: a ratio, a rate, a count. */
  readonly measured: string
  readonly target: string
  /** undefined: not measured in this run (the note says why). */
  readonly pass: boolean | undefined
  /** Printed instead of pass/FAIL for a row that decides something rather than meets a target. */
  readonly verdict?: string
  readonly note: string
}

const BLOCKS = 6
const FRESH = { count: 1200, maxMs: 40_000, concurrency: 4 }
const KEEP_ALIVE = { count: 6000, maxMs: 30_000, concurrency: 4 }

export interface PeerComparison {
  readonly fresh: readonly [PhaseResult, PhaseResult]
  readonly keepAlive: readonly [PhaseResult, PhaseResult]
  /** The server's storage calls during the fresh polls (from its own metrics). */
  readonly storage: { readonly gets: number; readonly puts: number; readonly gateways: number; readonly seconds: number; readonly cacheTtlSeconds: number }
}

/**
 * P1 and P2: the server at LOG_LEVEL=info (`info`, already serving `stations`) against a bare node:https server and a
 * bare Fastify route on the same certificates, polled in alternating blocks (A B B A ...), so whatever else the
 * machine does weighs on both alike.
 */
export async function comparePeers(info: Target, stations: readonly ProvisionedStation[], options: { workDir: string; certPath: string; repoRoot: string }): Promise<PeerComparison> {
  const ciphers = String(TLS_CONTEXT_OPTIONS.ciphers)
  const bareHttps = await startPeer('bare-https', { ...options, ciphers })
  const bareFastify = await startPeer('bare-fastify', { ...options, ciphers })
  const agents: https.Agent[] = []
  try {
    // A peer logs nothing; its (empty) log file keeps the phases' log accounting the same for both sides.
    const peer = (server: typeof bareHttps, name: string): Target => {
      const logFile = path.join(options.workDir, `${name}.log`)
      writeFileSync(logFile, '')
      return { server, logFile, logLevel: name }
    }
    // A fresh server reads every gateway's bundles once at start (the expiry scan); measure after it, not across it.
    await scanned(info)
    const fresh = await measureInterleaved([info, peer(bareHttps, 'bare-https')], freshMeta(stations.length, FRESH, BLOCKS), FRESH, BLOCKS, (target) => freshTask(target, stations), stations.length)
    // P5 on a steady block of its own: every gateway polled 3 times within one cache TTL, caches warm.
    const before = await fetchMetrics(info)
    const started = performance.now()
    const steady = await runLoad({ count: stations.length * 3, maxMs: 25_000, concurrency: 4 }, freshTask(info, stations))
    if (steady.errors > 0) throw new Error(`P5 steady polls failed: ${steady.errorSamples.join('; ')}`)
    const seconds = (performance.now() - started) / 1000
    const after = await fetchMetrics(info)
    const keepAlive = await measureInterleaved([info, peer(bareFastify, 'bare-fastify')], keepAliveMeta(KEEP_ALIVE, BLOCKS), KEEP_ALIVE, BLOCKS, (target) => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: KEEP_ALIVE.concurrency })
      agents.push(agent)
      const station = stations[0]
      if (station === undefined) throw new Error('no station to poll with')
      return keepAliveTask(target, station, agent)
    }, 300)
    const count = (metrics: Record<string, number>, operation: string): number => metrics[`cups_storage_operation_duration_seconds_count{operation="${operation}"}`] ?? 0
    return {
      fresh,
      keepAlive,
      storage: { gets: count(after, 'get') - count(before, 'get'), puts: count(after, 'put') - count(before, 'put'), gateways: stations.length, seconds, cacheTtlSeconds: 30 },
    }
  } finally {
    for (const agent of agents) agent.destroy()
    await bareHttps.stop()
    await bareFastify.stop()
  }
}

/** Waits (up to a minute) until the server's start-up expiry scan has reported: its soonest-expiry gauge is a time. */
async function scanned(target: Target): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const metrics = await fetchMetrics(target)
    if (metrics['cups_gateway_certificate_soonest_expiry_timestamp_seconds{kind="cups"}'] !== undefined) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the expiry scan did not finish within a minute')
}

/** P3, in-process engine: credentials a single thread of mints produces per CPU-second (keygen on libuv's pool counts too). */
export async function inProcessMintRate(certPath: string, count = 1000): Promise<number> {
  const minter = new NodeCredentialMinter({ caCertPath: path.join(certPath, 'ca.crt'), caKeyPath: path.join(certPath, 'ca.key'), validityDays: 365, maxConcurrent: 1 })
  await minter.mint('00000000000000ff')
  const before = process.cpuUsage()
  for (let i = 0; i < count; i++) await minter.mint((0x100 + i).toString(16).padStart(16, '0'))
  const cpu = process.cpuUsage(before)
  return count / ((cpu.user + cpu.system) / 1e6)
}

const ratio = (value: number): string => `${value.toFixed(2)} ×`

export function goals(input: {
  peers: PeerComparison
  firstContact: PhaseResult | undefined
  inProcessMintsPerCoreSecond: number
  firmware: FirmwareResults
  newGateways: StormRun
  rebootStorm: StormRun
  x509Library: X509LibraryComparison
}): Goal[] {
  const { peers } = input
  const [serverFresh, bareFresh] = peers.fresh
  const [serverKeep, fastifyKeep] = peers.keepAlive
  const p1 = serverFresh.serverCpuMsPerOp / bareFresh.serverCpuMsPerOp
  const p2 = serverKeep.load.perSecond / fastifyKeep.load.perSecond
  const opensslRate = (input.firstContact?.load.perSecond ?? 0) * 2
  const { storage } = peers
  const windows = Math.max(1, Math.ceil(storage.seconds / storage.cacheTtlSeconds))
  const readsPerGatewayPerTtl = storage.gets / (storage.gateways * windows)
  const fw = input.firmware
  const x509 = input.x509Library
  return [
    {
      id: 'P1',
      goal: 'server CPU per fresh-mTLS poll vs a bare node:https server, LOG_LEVEL=info',
      measured: `${ratio(p1)} (${serverFresh.serverCpuMsPerOp.toFixed(2)} vs ${bareFresh.serverCpuMsPerOp.toFixed(2)} ms)`,
      target: '≤ 1.10 ×',
      pass: p1 <= 1.1,
      note: `${String(BLOCKS)} alternating blocks, ${String(serverFresh.load.ok)} polls each side; block ratios ${serverFresh.blockServerCpuMsPerOp.map((cpu, i) => (cpu / (bareFresh.blockServerCpuMsPerOp[i] ?? cpu)).toFixed(2)).join(', ')}`,
    },
    {
      id: 'P2',
      goal: 'keep-alive poll throughput vs a bare Fastify route',
      measured: `${ratio(p2)} (${serverKeep.load.perSecond.toFixed(0)} vs ${fastifyKeep.load.perSecond.toFixed(0)} req/s)`,
      target: '≥ 0.80 ×',
      pass: p2 >= 0.8,
      note: `concurrency ${String(KEEP_ALIVE.concurrency)}, client on the same 2 cores`,
    },
    {
      id: 'P3',
      goal: 'minting: OpenSSL engine (first contacts, 2 credentials each) / in-process engine per core',
      measured: `${opensslRate.toFixed(0)} credentials/s / ${input.inProcessMintsPerCoreSecond.toFixed(0)} per core-second`,
      target: '≥ 50 / ≥ 1,500',
      pass: opensslRate >= 50 && input.inProcessMintsPerCoreSecond >= 1500,
      note: 'OpenSSL: whole first contacts at concurrency 4 over TLS (a lower bound); in-process: 1,000 mints in a row, CPU of the benchmark process',
    },
    {
      id: 'P3 lib',
      goal: `${x509.library.name} ${x509.library.version} instead of our DER writer: in-process mints per CPU-second, library vs ours`,
      measured: `${ratio(x509.ratio.fullMint)} (${x509.peculiar.fullMint.perCpuSecond.toFixed(0)} vs ${x509.ours.fullMint.perCpuSecond.toFixed(0)}); certificate alone ${ratio(x509.ratio.buildAndSign)}`,
      target: '≥ 0.50 × to prefer the library',
      pass: undefined,
      verdict: x509.libraryWithin2xOnFullMint ? 'prefer the library' : 'keep ours',
      note: `same certificate either way (${x509.equivalence.differences.length === 0 ? 'no field differs' : `differs: ${x509.equivalence.differences.join('; ')}`}); ${x509.caKeyType} CA; ${x509.method}`,
    },
    {
      id: 'P4',
      goal: `${input.newGateways.gateways.toLocaleString('en-US')} new gateways at concurrency ${String(input.newGateways.concurrency)} (MINT_ENGINE=node)`,
      measured: `${input.newGateways.converged.toLocaleString('en-US')} converged, ${String(input.newGateways.load.errors)} errors, peak RSS ${input.newGateways.peakRssMiB.toFixed(0)} MiB, ${(input.newGateways.load.wallMs / 1000).toFixed(0)} s`,
      target: 'all converge, 0 errors, peak RSS ≤ 256 MB',
      pass: input.newGateways.converged === input.newGateways.gateways && input.newGateways.load.errors === 0 && input.newGateways.peakRssMiB * 1.048576 <= 256,
      note: `each: a first contact (2 mints), then the next poll, which must be "no change"; p99 of the pair ${input.newGateways.load.p99Ms.toFixed(0)} ms${input.newGateways.load.errorSamples.length > 0 ? `; errors e.g. ${input.newGateways.load.errorSamples.join('; ')}` : ''}`,
    },
    {
      id: 'P5',
      goal: 'storage calls per steady-state poll',
      measured: `${String(storage.puts)} writes; ${readsPerGatewayPerTtl.toFixed(2)} reads per gateway per cache TTL`,
      target: '0 writes, ≤ 1 read per gateway per TTL',
      pass: storage.puts === 0 && readsPerGatewayPerTtl <= 1,
      note: `${String(storage.gets)} reads for ${String(storage.gateways)} gateways polled 3 times each over ${storage.seconds.toFixed(0)} s (CACHE_TTL_SECONDS=${String(storage.cacheTtlSeconds)}, caches warm), from cups_storage_operation_duration_seconds_count`,
    },
    {
      id: 'P6',
      goal: `reboot storm: ${input.rebootStorm.gateways.toLocaleString('en-US')} provisioned gateways at concurrency ${String(input.rebootStorm.concurrency)}`,
      measured: `${input.rebootStorm.load.ok.toLocaleString('en-US')} × 200, ${String(input.rebootStorm.load.errors)} errors; p50 ${input.rebootStorm.load.p50Ms.toFixed(0)} ms, p99 ${input.rebootStorm.load.p99Ms.toFixed(0)} ms`,
      target: 'all 200, report p99',
      pass: input.rebootStorm.load.ok === input.rebootStorm.gateways && input.rebootStorm.load.errors === 0,
      note: `fresh mTLS poll each, cold cache, bundles written beforehand as another tool would; ${String(input.rebootStorm.converged)} answered "no change"; ${input.rebootStorm.load.perSecond.toFixed(0)} polls/s; peak RSS ${input.rebootStorm.peakRssMiB.toFixed(0)} MiB${input.rebootStorm.load.errorSamples.length > 0 ? `; errors e.g. ${input.rebootStorm.load.errorSamples.join('; ')}` : ''}`,
    },
    {
      id: 'P7',
      goal: '200 concurrent downloads of a 16 MiB update vs bare node:https streaming the file',
      measured: `${ratio(fw.throughputRatio)}; RSS +${fw.server.rssGrowthMiB.toFixed(0)} MiB`,
      target: '≥ 0.80 ×; RSS growth ≤ 64 MiB',
      pass: fw.throughputRatio >= 0.8 && fw.server.rssGrowthMiB <= 64,
      note: `${fw.server.mbPerSecond.toFixed(0)} vs ${fw.floor.mbPerSecond.toFixed(0)} MiB/s; the floor grows +${fw.floor.rssGrowthMiB.toFixed(0)} MiB`,
    },
  ]
}

export function renderGoals(list: readonly Goal[]): string {
  const mark = (pass: boolean | undefined): string => (pass === undefined ? '—' : pass ? 'pass' : 'FAIL')
  return [
    '| goal | what | measured | target | result |',
    '|---|---|---|---|---|',
    ...list.map((goal) => `| ${goal.id} | ${goal.goal} | ${goal.measured} | ${goal.target} | ${goal.verdict ?? mark(goal.pass)} |`),
    '',
    ...list.map((goal) => `- ${goal.id}: ${goal.note}`),
  ].join('\n')
}
