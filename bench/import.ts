// Owns the `gateway import` benchmark: 10,000-row CSV files through the built CLI on the filesystem store (wall time, CPU, peak RSS).
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { importTable } from './report'
import { buildServer } from './server-process'

export const IMPORT_ROWS = 10_000

export interface ImportRun {
  readonly scenario: string
  readonly rows: number
  readonly wallMs: number
  /** user + system CPU of the CLI process (getrusage at exit). */
  readonly cpuMs: number
  /** ru_maxrss at exit: the most the process was ever resident. */
  readonly peakRssKiB: number
  readonly summary: { readonly created: number; readonly updated: number; readonly unchanged: number; readonly failed: number }
}

export interface ImportBench {
  readonly runs: readonly ImportRun[]
  readonly method: string
}

/**
 * Loaded into the CLI with `node -r`: writes the process's own getrusage at exit, which is exact where
 * sampling /proc from outside would miss the last moments (and the peak may fall there).
 */
const USAGE_PRELOAD = `process.on('exit', () => {
  const usage = process.resourceUsage()
  require('node:fs').writeFileSync(process.env.BENCH_USAGE_FILE, JSON.stringify({ cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000, maxRssKiB: usage.maxRSS }))
})
`

function csv(rows: number, name: (i: number) => string): string {
  const lines = ['eui,name,cupsUri,tcUri,label.site,label.rack']
  for (let i = 0; i < rows; i++) {
    const eui = (0x0016c00100000000n + BigInt(i)).toString(16).padStart(16, '0')
    lines.push(`${eui},${name(i)},https://cups.example.com:443,wss://lns.example.com:8887,site-${i % 50},r${i % 7}`)
  }
  return `${lines.join('\n')}\n`
}

/**
 * Runs the built CLI (cliEntry, from `tsc -p tsconfig.build.json`) as an operator does: a fresh process
 * per import, its own DATA_DIR, no .env. 100 rows first, as the baseline the 10,000-row peak is set against.
 */
export async function importBenchmarks(cliEntry: string, repoRoot: string, workDir: string): Promise<ImportBench> {
  await mkdir(workDir, { recursive: true })
  const preload = path.join(workDir, 'usage-preload.js')
  await writeFile(preload, USAGE_PRELOAD)
  const files = {
    small: path.join(workDir, 'small.csv'),
    fleet: path.join(workDir, 'fleet.csv'),
    renamed: path.join(workDir, 'renamed.csv'),
  }
  await writeFile(files.small, csv(100, (i) => `gw ${i}`))
  await writeFile(files.fleet, csv(IMPORT_ROWS, (i) => `gw ${i}`))
  await writeFile(files.renamed, csv(IMPORT_ROWS, (i) => `gateway ${i}`))

  const run = async (scenario: string, dataDir: string, file: string, rows: number, extra: string[] = []): Promise<ImportRun> => {
    const usageFile = path.join(workDir, 'usage.json')
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      // The compiled JS lives outside the repository; dependencies resolve from its node_modules.
      NODE_PATH: path.join(repoRoot, 'node_modules'),
      DATA_DIR: path.join(workDir, dataDir),
      CERT_PATH: path.join(workDir, 'certs'),
      BENCH_USAGE_FILE: usageFile,
    }
    const started = process.hrtime.bigint()
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['-r', preload, cliEntry, 'gateway', 'import', file, '--json', ...extra],
        { cwd: workDir, env, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
        (error, out, err) => {
          if (error) reject(new Error(`${scenario}: ${error.message}\n${err.slice(0, 2000)}`))
          else resolve(out)
        },
      )
    })
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6
    const usage = JSON.parse(await readFile(usageFile, 'utf8')) as { cpuMs: number; maxRssKiB: number }
    const summary = JSON.parse(stdout) as ImportRun['summary']
    return {
      scenario,
      rows,
      wallMs,
      cpuMs: usage.cpuMs,
      peakRssKiB: usage.maxRssKiB,
      summary: { created: summary.created, updated: summary.updated, unchanged: summary.unchanged, failed: summary.failed },
    }
  }

  const runs = [
    await run('100 new gateways (baseline)', 'data-small', files.small, 100),
    await run(`${IMPORT_ROWS.toLocaleString('en-US')} new gateways`, 'data', files.fleet, IMPORT_ROWS),
    await run('the same file again (all unchanged)', 'data', files.fleet, IMPORT_ROWS),
    await run('every name changed, --dry-run', 'data', files.renamed, IMPORT_ROWS, ['--dry-run']),
    await run('every name changed', 'data', files.renamed, IMPORT_ROWS),
  ]
  for (const result of runs) {
    if (result.summary.failed > 0) throw new Error(`${result.scenario}: ${result.summary.failed} rows failed`)
  }
  return {
    runs,
    method:
      'the compiled CLI (`node cli.js gateway import <file> --json`), one fresh process per row of the table, filesystem store in a temp directory ' +
      `(each write: temp file, fsync, rename, directory fsync), 16 writes in flight; rows with eui, name, cupsUri, tcUri and 2 labels; ` +
      'wall time includes Node start-up and both passes over the file (check, then apply); CPU and peak RSS from the process\'s own getrusage at exit',
  }
}

if (require.main === module) {
  // Alone: `npx ts-node bench/import.ts` compiles the CLI into a temp directory and prints the table.
  void (async () => {
    const repoRoot = path.resolve(__dirname, '..')
    const work = await mkdtemp(path.join(os.tmpdir(), 'cups-bench-import-'))
    try {
      const build = await buildServer(repoRoot, path.join(work, 'build'))
      const bench = await importBenchmarks(path.join(path.dirname(build.entry), 'cli.js'), repoRoot, path.join(work, 'import'))
      process.stdout.write(`${[...importTable(bench), '', `Measured: ${bench.method}.`].join('\n')}\n`)
    } finally {
      await rm(work, { recursive: true, force: true })
    }
  })().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  })
}
