// Owns `npm run bench`: builds the server, runs every benchmark, prints the Markdown and writes bench/results/latest.json.
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { measureCacheMemory } from './cache-memory'
import { codecFixtures, runCodecBenchmarks } from './codec'
import { IMPORT_ROWS, importBenchmarks } from './import'
import { injectBenchmarks } from './inject'
import { firmwareBenchmark } from './firmware'
import { comparePeers, goals, inProcessMintRate } from './goals'
import { newGatewayStorm, rebootStorm } from './storms'
import { compareX509Library } from './x509-library'
import { describeMachine, renderMarkdown, writeResults } from './report'
import type { Results } from './report'
import type { Target } from './phase'
import { firstContactRun, loggingComparison, mainRun } from './server-load'
import { buildServer, startServerProcess } from './server-process'
import type { ServerOptions } from './server-process'

/** The whole run normally takes about 8 minutes; past this something is stuck. */
const HARD_LIMIT_MS = 20 * 60_000

const repoRoot = path.resolve(__dirname, '..')
const resultsFile = path.join(repoRoot, 'bench', 'results', 'latest.json')

/** Progress goes to stderr, so stdout is only the Markdown. */
function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

async function main(): Promise<void> {
  const started = Date.now()
  const startedAt = new Date().toISOString()
  const machine = describeMachine()
  const work = await mkdtemp(path.join(os.tmpdir(), 'cups-bench-'))
  try {
    progress(`compiling the server into ${work}/build`)
    const build = await buildServer(repoRoot, path.join(work, 'build'))

    progress('micro-benchmarks of the protocol core')
    const fixtures = await codecFixtures(repoRoot)
    const micro = { bodySource: fixtures.bodySource, results: runCodecBenchmarks(fixtures) }

    const serverOptions = { entry: build.entry, repoRoot, workDir: path.join(work, 'server') }
    await mkdir(serverOptions.workDir, { recursive: true })

    progress('server at LOG_LEVEL=warn: first contacts, steady polls, cache fill')
    const main = await withTargets(serverOptions, work, ['warn'], ([warn]) => mainRun(warn))

    progress('fresh server at MINT_ENGINE=node: first contacts')
    const nodeMintDir = path.join(work, 'server-node-mint')
    await mkdir(nodeMintDir, { recursive: true })
    const nodeMint = await withTargets({ ...serverOptions, workDir: nodeMintDir, mintEngine: 'node' }, work, ['warn'], ([warn]) => firstContactRun(warn, 'node'))

    progress('two fresh servers, LOG_LEVEL=warn and info: steady polls in turns')
    const logging = await withTargets(serverOptions, work, ['warn', 'info'], ([warn, info]) => loggingComparison(warn, info, main.stations))

    progress('in-process: one poll through the app at warn and info')
    const inject = await injectBenchmarks(path.join(work, 'inject'))

    progress('read-cache memory per gateway, in-process')
    const cacheMemory = await measureCacheMemory(path.join(serverOptions.workDir, 'data'))

    progress(`gateway import: ${IMPORT_ROWS.toLocaleString('en-US')}-row CSV files through the built CLI`)
    const cliImport = await importBenchmarks(path.join(path.dirname(build.entry), 'cli.js'), repoRoot, path.join(work, 'import'))

    progress('goals: the server at LOG_LEVEL=info against a bare node:https server and a bare Fastify route, in alternating blocks')
    const certPath = path.join(serverOptions.workDir, 'certs')
    const peers = await withTargets(serverOptions, work, ['info'], ([info]) => comparePeers(info, main.stations, { workDir: work, certPath, repoRoot }))
    progress('goals: in-process minting, 1,000 credentials in a row')
    const inProcessMintsPerCoreSecond = await inProcessMintRate(certPath)
    progress('goals: @peculiar/x509 against our DER writer, the same certificates')
    const x509Library = await compareX509Library(certPath)

    progress('firmware: 200 stations download a 16 MiB signed update at once; then a bare node:https floor')
    const firmwareDir = path.join(work, 'server-firmware')
    await mkdir(firmwareDir, { recursive: true })
    const firmware = await firmwareBenchmark({ ...serverOptions, workDir: firmwareDir })

    progress('goals: 10,000 new gateways at concurrency 50 (P4)')
    const newDir = path.join(work, 'server-new-gateways')
    await mkdir(newDir, { recursive: true })
    const newGateways = await newGatewayStorm({ ...serverOptions, workDir: newDir })
    progress('goals: reboot storm, 5,000 provisioned gateways at concurrency 200 (P6)')
    const stormDir = path.join(work, 'server-reboot-storm')
    await mkdir(path.join(stormDir, 'certs'), { recursive: true })
    // The same CA as the main server, so the bundles minted beforehand are ones this server accepts.
    for (const file of ['ca.crt', 'ca.key', 'cups.crt', 'cups.key']) await copyFile(path.join(certPath, file), path.join(stormDir, 'certs', file))
    const storm = await rebootStorm({ ...serverOptions, workDir: stormDir })

    const results: Results = {
      startedAt,
      durationMs: Date.now() - started,
      machine,
      build: { ms: build.ms },
      micro: { ...micro, results: [...micro.results, ...inject.polls], health: inject.health },
      server: { main: main.run, nodeMint, loggingWarn: logging.warn, loggingInfo: logging.info },
      cacheMemory,
      cliImport,
      firmware,
      x509Library,
      goals: goals({ peers, firstContact: main.run.phases.find((phase) => phase.id === 'first-contact'), inProcessMintsPerCoreSecond, firmware, newGateways, rebootStorm: storm, x509Library }),
      loadAverageAtEnd: Number((os.loadavg()[0] ?? 0).toFixed(2)),
      errors: [main.run, nodeMint, logging.warn, logging.info].flatMap((run) => run.phases).reduce((sum, phase) => sum + phase.load.errors, 0) + firmware.server.failed + firmware.floor.failed,
    }
    writeResults(resultsFile, results)
    process.stdout.write(`${renderMarkdown(results)}\n`)
    reportProblems(results)
    progress(`done in ${Math.round(results.durationMs / 1000)} s; results in ${path.relative(process.cwd(), resultsFile)}`)
  } finally {
    if (process.env.BENCH_KEEP === '1') progress(`kept ${work}`)
    else await rm(work, { recursive: true, force: true })
  }
}

let serverCount = 0

/** Starts one server per log level (in turn, each with its own log file), runs `use`, and always stops them all. */
async function withTargets<T, const L extends readonly string[]>(
  options: Omit<ServerOptions, 'logLevel' | 'logFile'>,
  work: string,
  levels: L,
  use: (targets: { [K in keyof L]: Target }) => Promise<T>,
): Promise<T> {
  const targets: Target[] = []
  try {
    for (const logLevel of levels) {
      const logFile = path.join(work, `server-${String(++serverCount)}-${logLevel}.log`)
      targets.push({ server: await startServerProcess({ ...options, logLevel, logFile }), logFile, logLevel })
    }
    return await use(targets as { [K in keyof L]: Target })
  } finally {
    for (const target of targets) await target.server.stop()
  }
}

/** Failed requests, failure counters or warnings in the server log make the run fail loudly. */
function reportProblems(results: Results): void {
  const problems: string[] = []
  for (const [server, run] of Object.entries(results.server)) {
    for (const phase of run.phases) {
      if (phase.load.errors > 0) problems.push(`${phase.id} (${phase.logLevel}): ${phase.load.errors} errors, e.g. ${phase.load.errorSamples.join('; ')}`)
    }
    for (const [name, value] of Object.entries(run.metrics)) {
      if (/failures|deadline|unusable/.test(name) && value > 0) problems.push(`server ${server} (${run.logLevel}) counted ${name} = ${value}`)
    }
    const errorLines = (run.log.byLevel.error ?? 0) + (run.log.byLevel.fatal ?? 0)
    if (errorLines > 0) problems.push(`server ${server} (${run.logLevel}) logged ${errorLines} errors: ${run.log.notable.join(' | ')}`)
  }
  if (problems.length > 0) {
    process.exitCode = 1
    for (const problem of problems) progress(`PROBLEM: ${problem}`)
  }
}

setTimeout(() => {
  progress(`still running after ${HARD_LIMIT_MS / 1000} s; giving up`)
  process.exit(2)
}, HARD_LIMIT_MS).unref()

main().catch((err: unknown) => {
  progress(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exitCode = 1
})
