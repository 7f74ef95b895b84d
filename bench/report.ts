// Owns the results document: the machine description, the Markdown tables printed for the README, and the JSON file.
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { CacheMemory } from './cache-memory'
import type { MicroResult } from './codec'
import { renderFirmware } from './firmware'
import type { FirmwareResults } from './firmware'
import { renderGoals } from './goals'
import type { Goal } from './goals'
import type { X509LibraryComparison } from './x509-library'
import type { ImportBench } from './import'
import type { PhaseResult } from './phase'
import type { ServerRun } from './server-load'
import { median, mib, sig3 } from './stats'

export interface Machine {
  readonly cores: number
  readonly cpuModel: string
  readonly node: string
  /** The OpenSSL Node links (TLS, X509Certificate, createPrivateKey). */
  readonly nodeOpenssl: string
  /** The openssl CLI the server runs to mint. */
  readonly opensslCli: string
  readonly kernel: string
  readonly tmpFilesystem: string
  /** 1-minute load average when the run began: other work on the machine skews every number. */
  readonly loadAverageAtStart: number
}

export interface Results {
  readonly startedAt: string
  readonly durationMs: number
  readonly machine: Machine
  readonly build: { readonly ms: number }
  readonly micro: {
    readonly bodySource: string
    readonly results: readonly MicroResult[]
    /** A GET of a missing path (404) at warn and info: the one request line on an otherwise empty request. */
    readonly health: readonly MicroResult[]
  }
  readonly server: {
    /** LOG_LEVEL=warn: first contacts, steady polls, cache fill. */
    readonly main: ServerRun
    /** A fresh server with MINT_ENGINE=node, LOG_LEVEL=warn: the first contacts alone. */
    readonly nodeMint: ServerRun
    /** Two fresh servers polled in alternating blocks, identical but for the log level. */
    readonly loggingWarn: ServerRun
    readonly loggingInfo: ServerRun
  }
  readonly cacheMemory: CacheMemory
  /** `gateway import` of 10,000-row files through the built CLI, filesystem store. */
  readonly cliImport: ImportBench
  /** 200 stations downloading one 16 MiB signed update at once, against a bare node:https floor. */
  readonly firmware: FirmwareResults
  /** Issue 12's goals, each against its floor measured in the same run. */
  readonly goals: readonly Goal[]
  /** @peculiar/x509 against our hand-written DER writer (issue 12, item 4). */
  readonly x509Library: X509LibraryComparison
  readonly loadAverageAtEnd: number
  readonly errors: number
}

export function describeMachine(): Machine {
  const run = (command: string, args: string[]): string => {
    try {
      return execFileSync(command, args, { encoding: 'utf8', timeout: 5000 }).trim()
    } catch {
      return 'unknown'
    }
  }
  const cpus = os.cpus()
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    nodeOpenssl: process.versions.openssl,
    opensslCli: run('openssl', ['version']).split(' ').slice(0, 2).join(' '),
    kernel: `${os.type()} ${os.release()}`,
    tmpFilesystem: run('stat', ['-f', '-c', '%T', os.tmpdir()]),
    loadAverageAtStart: Number((os.loadavg()[0] ?? 0).toFixed(2)),
  }
}

export function writeResults(file: string, results: Results): void {
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
}

const ms = (value: number): string => `${sig3(value)} ms`

function cpuCell(phase: PhaseResult): string {
  const split = phase.serverOpensslCpuMsPerOp > 0 ? ` (node ${sig3(phase.serverNodeCpuMsPerOp)} + openssl ${sig3(phase.serverOpensslCpuMsPerOp)})` : ''
  return `${ms(phase.serverCpuMsPerOp)}${split} · ${phase.serverCores.toFixed(2)} cores busy`
}

function phaseRow(phase: PhaseResult): string {
  const { load } = phase
  const suffix = phase.logLevel === 'warn' ? '' : ` (LOG_LEVEL=${phase.logLevel})`
  const unit = phase.unit === 'gateway' ? 'gateways' : 'requests'
  const capped = load.timeCapped ? ', time cap' : ''
  const errors = load.errors > 0 ? `, **${load.errors} errors**` : ''
  return `| ${phase.scenario}${suffix} | ${load.ok.toLocaleString('en-US')} ${unit}${capped}${errors} | ${sig3(load.perSecond)} ${phase.unit === 'gateway' ? 'gateways' : 'req'}/s | ${ms(load.p50Ms)} | ${ms(load.p99Ms)} | ${cpuCell(phase)} | ${mib(phase.rssAfterKiB)} |`
}

function microRow(result: MicroResult): string {
  return `| ${result.name} | ${result.rounds} × ${result.count.toLocaleString('en-US')} | ${sig3(result.opsPerSec)} ops/s | ${sig3(result.usPerOp)} µs/op | — | in-process: ${sig3(result.cpuUsPerOp)} µs CPU | — |`
}

/** The Markdown block for the README: machine line, the results table, memory, and how each row was measured. */
export function renderMarkdown(results: Results): string {
  return `${renderGoals(results.goals)}\n\n${renderMain(results)}\n\n${renderFirmware(results.firmware)}`
}

function renderMain(results: Results): string {
  const { machine, server, cacheMemory } = results
  // The warn half of the logging comparison repeats the main rows; it is in the JSON and the logging note.
  const phases = [
    ...server.main.phases.flatMap((phase) => (phase.id === 'first-contact' ? [phase, ...server.nodeMint.phases] : [phase])),
    ...server.loggingInfo.phases,
  ]
  const cacheRow =
    `| read cache, in-process: ${cacheMemory.gateways.toLocaleString('en-US')} gateways | ${mib(cacheMemory.retainedBytes / 1024)} retained | — | ` +
    `${sig3(cacheMemory.bytesPerGateway / 1024)} KiB per gateway (${Math.round(cacheMemory.blobBytesPerGateway)} B of it bundles); ` +
    `at the cache's entry cap (50,000 gateways) ≈ ${sig3(cacheMemory.projectedAtCapMiB)} MiB |`
  return [
    `Machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.kernel}, Node ${machine.node} (OpenSSL ${machine.nodeOpenssl}), ` +
      `${machine.opensslCli} CLI for minting, data on ${machine.tmpFilesystem}. Load average ${machine.loadAverageAtStart} at start, ` +
      `${results.loadAverageAtEnd} at end (other work on the machine slows everything). ${results.startedAt.slice(0, 10)}, whole run ${Math.round(results.durationMs / 1000)} s.`,
    '',
    '| scenario | count | throughput | p50 | p99 | server CPU per op | server RSS after |',
    '|---|---|---|---|---|---|---|',
    ...results.micro.results.map(microRow),
    ...phases.map(phaseRow),
    '',
    '| server memory | RSS | peak RSS | what it means |',
    '|---|---|---|---|',
    ...[...server.main.memory, ...server.loggingWarn.memory, ...server.loggingInfo.memory].map((point) => `| ${point.label} | ${mib(point.rssKiB)} | ${mib(point.peakRssKiB)} | ${point.meaning} |`),
    cacheRow,
    '',
    ...importTable(results.cliImport),
    '',
    'How each row was measured:',
    '',
    `- In-process rows (${results.micro.bodySource} body; blobs = dev CA + minted P-256 cert + SEC1 key): warm-up, then rounds × operations as in the count column; ` +
      'median round; µs/op from wall time, µs CPU = CPU of the whole process (GC threads included) per operation.',
    ...results.micro.results.map((result) => `  - ${result.name}: ${result.method}.`),
    `- Server rows: the compiled server (\`tsc -p tsconfig.build.json\`, \`node index.js\`) as a child process on 127.0.0.1, filesystem store, ` +
      'dev PKI (EC P-256), `BOOTSTRAP_POLICY=open`, `TC_URI` set, `LOG_LEVEL=warn` unless marked. The client is this Node process; ' +
      `client and server share the ${machine.cores} cores, so throughput is a lower bound. Latency is per request at the client, ` +
      'including TCP connect and TLS handshake where the connection is new. Server CPU = utime+stime from /proc/<pid>/stat ' +
      '(plus reaped children, i.e. openssl) over the measured phase, divided by successful operations; "cores busy" = server CPU / wall time. ' +
      `Client CPU per op: ${dedupe(phases).map((phase) => `${phase.id} ${sig3(phase.clientCpuMsPerOp)} ms`).join(', ')}.`,
    ...dedupe(phases).map((phase) => `  - ${phase.scenario}: ${phase.method}.`),
    `- Logging: ${loggingCost(results)}`,
    '- Memory: RSS = VmRSS from /proc/<pid>/status, what the OS charges the process; it includes garbage not yet collected, JIT code ' +
      'and allocator free lists, so RSS differences only roughly track retained data. The read-cache row is precise: ' +
      `${cacheMemory.method}. Cache entries are dropped only when the cap is reached (oldest first), not when their TTL ends.`,
    `- \`gateway import\`: ${results.cliImport.method}.`,
    ...(results.errors > 0 ? ['', `**${results.errors} requests failed; see bench/results/latest.json.**`] : []),
  ].join('\n')
}

/** The `gateway import` table: one row per run, what it did, and what it cost the CLI process. */
export function importTable(bench: ImportBench): string[] {
  const count = (value: number): string => value.toLocaleString('en-US')
  return [
    '| `gateway import` (built CLI, fs store) | result | wall | rows/s | CPU | peak RSS |',
    '|---|---|---|---|---|---|',
    ...bench.runs.map((run) => {
      const { created, updated, unchanged } = run.summary
      const dryRun = run.scenario.includes('--dry-run')
      const result = [
        created > 0 ? `${count(created)} ${dryRun ? 'would be created' : 'created'}` : '',
        updated > 0 ? `${count(updated)} ${dryRun ? 'would be updated' : 'updated'}` : '',
        unchanged > 0 ? `${count(unchanged)} unchanged` : '',
      ]
        .filter((part) => part !== '')
        .join(', ')
      const seconds = run.wallMs / 1000
      return `| ${run.scenario} | ${result} | ${sig3(seconds)} s | ${sig3(run.rows / seconds)} | ${sig3(run.cpuMs / 1000)} s | ${mib(run.peakRssKiB)} |`
    }),
  ]
}

function dedupe(phases: readonly PhaseResult[]): PhaseResult[] {
  const seen = new Set<string>()
  return phases.filter((phase) => !seen.has(phase.id) && seen.add(phase.id))
}

/** info minus warn: in-process (precise), and between the two server processes per pair of back-to-back blocks (noisy). */
function loggingCost(results: Results): string {
  const signed = (value: number): string => `${value >= 0 ? '+' : ''}${sig3(value)}`
  const parts: string[] = []
  const inProcess = (label: string, rows: readonly MicroResult[], unit: string): void => {
    const warn = rows.find((row) => row.name.endsWith('LOG_LEVEL=warn'))
    const info = rows.find((row) => row.name.endsWith('LOG_LEVEL=info'))
    if (warn === undefined || info === undefined) return
    const pairs = info.roundCpuUsPerOp.map((value, i) => value - (warn.roundCpuUsPerOp[i] ?? Number.NaN))
    parts.push(
      `${label}: ${signed(median(pairs))} µs CPU per ${unit} at info (median of ${pairs.length} back-to-back round pairs, ` +
        `range ${signed(Math.min(...pairs))} to ${signed(Math.max(...pairs))}; ${sig3(info.cpuUsPerOp)} vs ${sig3(warn.cpuUsPerOp)} µs)`,
    )
  }
  inProcess("in-process, GET of a missing path (404: little but its one request line; a poll logs 1 line)", results.micro.health, 'request')
  inProcess('in-process, one poll', results.micro.results, 'poll')
  const { loggingWarn, loggingInfo } = results.server
  for (const info of loggingInfo.phases) {
    const warn = loggingWarn.phases.find((phase) => phase.id === info.id)
    if (warn === undefined) continue
    const pairs = info.blockServerCpuMsPerOp.map((value, i) => value - (warn.blockServerCpuMsPerOp[i] ?? Number.NaN))
    parts.push(
      `${info.scenario}, two server processes in turns: ${signed(median(pairs))} ms server CPU per request at info ` +
        `(median of ${pairs.length} block pairs, range ${signed(Math.min(...pairs))} to ${signed(Math.max(...pairs))}; ${sig3(info.serverCpuMsPerOp)} vs ${sig3(warn.serverCpuMsPerOp)} ms overall; ` +
        `${Math.round(info.logBytesPerOp)} vs ${Math.round(warn.logBytesPerOp)} bytes of log per request)`,
    )
  }
  return parts.length === 0
    ? 'not measured.'
    : 'rows marked LOG_LEVEL=info come from two fresh servers on the same certs and data, one at warn and one at info, polled in ' +
        `${results.server.loggingInfo.phases[0]?.blocks ?? 0} alternating blocks each (A B B A ...). Info minus warn: ${parts.join('; ')}. ` +
        'A range that spans 0 means the difference is within the noise of this machine.'
}
