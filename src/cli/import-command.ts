// `gateway import <file.csv>`: register or update many gateways from one CSV file, checked whole before anything is written.
import { open } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import type { Command } from 'commander'
import type { BlobStore } from '../storage/blob-store'
import { editRecord } from '../gateways/record-edits'
import { changedFields, formatProblem, importEdit, readImport } from '../gateways/record-import'
import type { ImportItem, ImportProblem, ImportRow } from '../gateways/record-import'
import type { CliDeps, CliOutput } from './cli-deps'
import { CliError } from './cli-error'
import { EXIT, ExitStatus } from './run-cli'

/**
 * Writes in flight at once: enough to hide S3 round trips (the SDK's default agent has 50 sockets), few
 * enough that 10,000 rows never hold more than a handful of records in memory or flood a shared bucket.
 */
const CONCURRENCY = 16

const HELP = `
The file: a header row naming the columns, then one row per gateway.
  eui          required; any form the server accepts (hex, dashed, colon-separated, ID6)
  name         a name for people (up to 200 characters)
  cupsUri      the CUPS URI this gateway is sent (https://host:port)
  tcUri        the LNS URI this gateway is sent (wss://host:port or ws://host:port)
  label.<key>  one column per label, e.g. label.site
An empty cell leaves that field as stored; fields without a column are kept. Other columns are refused,
state too: change it with gateway enable, disable, revoke or reset. Importing the same file again writes
nothing. If any row is bad, every problem is listed (line N: <eui>: <reason>) and nothing is written.`

interface ImportOptions {
  readonly dryRun?: boolean
  readonly json?: boolean
}

export function addImportCommand(gateway: Command, deps: CliDeps): void {
  gateway
    .command('import')
    .description('register or update gateways from a CSV file, one row per gateway; nothing is written unless every row is valid')
    .argument('<file>', 'the CSV file (relative to the current directory)')
    .option('--dry-run', 'check the file and the stored records, and list what would be created or updated; write nothing')
    .option('--json', 'print the summary as one JSON object')
    .addHelpText('after', HELP)
    .action((file: string, options: ImportOptions) => importGateways(deps, file, options))
}

interface Tally {
  created: number
  updated: number
  unchanged: number
  failed: number
}

interface Change {
  readonly line: number
  readonly eui: string
  readonly outcome: 'created' | 'updated'
  readonly fields: readonly string[]
}

async function importGateways(deps: CliDeps, file: string, options: ImportOptions): Promise<void> {
  const dryRun = options.dryRun === true
  const { prefix } = deps.config().storage
  const filePath = path.resolve(deps.cwd, file)

  // First pass: the whole file, keeping only its problems; a bad file writes nothing.
  const problems: ImportProblem[] = []
  let rows = 0
  let badItems = 0
  await readRows(filePath, file, (item) => {
    rows++
    if ('problems' in item) {
      badItems++
      problems.push(...item.problems)
    }
  })
  if (problems.length > 0) {
    for (const problem of problems) deps.stderr.write(`${formatProblem(problem)}\n`)
    deps.stderr.write(`${file}: ${plural(problems.length, 'problem')}; nothing written\n`)
    printSummary(deps, options, file, { created: 0, updated: 0, unchanged: 0, failed: badItems }, problems, dryRun ? [] : undefined)
    throw new ExitStatus(EXIT.failed)
  }

  // Second pass: read again (memory stays one row per write in flight) and apply, CONCURRENCY at a time.
  const store = deps.store()
  const tally: Tally = { created: 0, updated: 0, unchanged: 0, failed: 0 }
  const failures: ImportProblem[] = []
  const changes: Change[] = []
  const progress = deps.stderr.isTTY === true ? progressBar(deps.stderr, dryRun ? 'checking' : 'importing', rows) : undefined
  const inFlight = new Set<Promise<void>>()
  const settle = (): void => {
    progress?.advance()
  }
  let unreadable: Error | undefined
  try {
    await readRows(filePath, file, async (item) => {
      if ('problems' in item) {
        // The file changed since the first pass: this row is refused now, the others still go in.
        tally.failed++
        failures.push(...item.problems)
        settle()
        return
      }
      const task: Promise<void> = applyRow(store, prefix, item, dryRun, tally, failures, changes).finally(() => {
        inFlight.delete(task)
        settle()
      })
      inFlight.add(task)
      if (inFlight.size >= CONCURRENCY) await Promise.race(inFlight)
    })
  } catch (err) {
    // The file stopped reading halfway (it was checked whole a moment ago): what was written is still reported and audited.
    unreadable = err instanceof Error ? err : new Error(String(err))
  }
  await Promise.all(inFlight)
  progress?.done()

  failures.sort(byLine)
  changes.sort(byLine)
  for (const failure of failures) deps.stderr.write(`${formatProblem(failure)}\n`)
  if (!dryRun) deps.audit().info({ audit: 'gateways-imported', file, ...tally }, 'gateway records imported')
  printSummary(deps, options, file, tally, failures, dryRun ? changes : undefined)
  if (unreadable !== undefined) throw unreadable
  if (tally.failed > 0) throw new ExitStatus(EXIT.failed)
}

/** Never rejects: a failed write is counted and reported with its line, and the other rows go on. */
async function applyRow(
  store: BlobStore,
  prefix: string,
  row: ImportRow,
  dryRun: boolean,
  tally: Tally,
  failures: ImportProblem[],
  changes: Change[],
): Promise<void> {
  const edit = importEdit(row.fields)
  let before: Readonly<Record<string, unknown>> | undefined
  try {
    const result = await editRecord(
      store,
      row.eui,
      (current) => {
        before = current
        return edit(current)
      },
      { prefix, dryRun },
    )
    tally[result.outcome]++
    if (dryRun && result.outcome !== 'unchanged') changes.push({ line: row.line, eui: row.eui, outcome: result.outcome, fields: changedFields(before, result.record.fields) })
  } catch (err) {
    // InvalidRecordError (the stored record is not an object, or other fields of it do not validate) or a storage error.
    tally.failed++
    failures.push({ line: row.line, eui: row.eui, reason: err instanceof Error ? err.message : String(err) })
  }
}

/** Streams the file through readImport, awaiting onItem before the next row (that is how writes are held back). */
async function readRows(filePath: string, shown: string, onItem: (item: ImportItem) => unknown): Promise<void> {
  let input: Readable
  try {
    input = (await open(filePath)).createReadStream()
  } catch (err) {
    throw unreadable(shown, err)
  }
  try {
    for await (const item of readImport(input)) await onItem(item)
  } catch (err) {
    // Storage errors never get here (applyRow keeps them): this is the file failing to read, e.g. a directory.
    throw unreadable(shown, err)
  }
}

function unreadable(shown: string, err: unknown): CliError {
  return new CliError(`cannot read ${shown}: ${err instanceof Error ? err.message : String(err)}`)
}

function printSummary(deps: CliDeps, options: ImportOptions, file: string, tally: Tally, problems: readonly ImportProblem[], changes: readonly Change[] | undefined): void {
  const dryRun = options.dryRun === true
  if (options.json === true) {
    deps.stdout.write(`${JSON.stringify({ file, dryRun, ...tally, problems, ...(changes === undefined ? {} : { changes }) })}\n`)
    return
  }
  for (const change of changes ?? []) {
    const fields = change.fields.length === 0 ? '' : `: ${change.fields.join(', ')}`
    deps.stdout.write(`${change.outcome === 'created' ? 'create' : 'update'} ${change.eui} (line ${change.line})${fields}\n`)
  }
  const counts = `created ${tally.created}, updated ${tally.updated}, unchanged ${tally.unchanged}, failed ${tally.failed}`
  deps.stdout.write(`${dryRun ? 'dry run (nothing written): ' : ''}${counts}\n`)
}

function byLine(a: { readonly line: number }, b: { readonly line: number }): number {
  return a.line - b.line
}

function plural(count: number, noun: string): string {
  return `${count.toLocaleString('en-US')} ${noun}${count === 1 ? '' : 's'}`
}

const BAR_WIDTH = 30
const REDRAW_MS = 100

/** One line on a terminal, redrawn in place with \r at most every REDRAW_MS, and erased when done. */
function progressBar(out: CliOutput, label: string, total: number): { advance(): void; done(): void } {
  let count = 0
  let drawnAt = 0
  const draw = (): void => {
    const filled = total === 0 ? BAR_WIDTH : Math.min(BAR_WIDTH, Math.floor((count / total) * BAR_WIDTH))
    const percent = total === 0 ? 100 : Math.min(100, Math.floor((count / total) * 100))
    out.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${count.toLocaleString('en-US')}/${total.toLocaleString('en-US')} ${percent}%`)
  }
  draw()
  return {
    advance: () => {
      count++
      const now = performance.now()
      if (now - drawnAt >= REDRAW_MS || count === total) {
        drawnAt = now
        draw()
      }
    },
    // \x1b[2K erases the line, so what follows starts on a clean one.
    done: () => out.write('\r\x1b[2K'),
  }
}
