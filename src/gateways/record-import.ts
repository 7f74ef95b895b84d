// Gateway records from a CSV file (`gateway import`): the header's columns, each row as a checked RecordEdit, and the file read as a stream.
//
// CSV is read with csv-parse (the csv project) rather than split by hand: spreadsheets quote cells that
// hold commas, quotes or line breaks, write CRLF, and Excel starts UTF-8 files with a byte order mark;
// a naive split would turn each of those into a wrong value instead of an error.
import type { Readable } from 'node:stream'
import { parse } from 'csv-parse'
import { parseRouterId } from '../cups/router-id'
import { DEFAULT_MAX_OBJECT_BYTES } from '../storage/blob-store'
import { GATEWAY_RECORD_SCHEMA } from './gateway-record'
import type { RecordEdit } from './record-edits'

/** The record fields a column may set; each is a string in the record, so a cell is its value as written. */
export const IMPORT_FIELDS = ['name', 'cupsUri', 'tcUri'] as const
export type ImportField = (typeof IMPORT_FIELDS)[number]

export const LABEL_PREFIX = 'label.'

export type ImportColumn =
  | { readonly kind: 'eui' }
  | { readonly kind: 'field'; readonly field: ImportField }
  | { readonly kind: 'label'; readonly key: string }

export interface ImportHeader {
  /** One per cell of the header row, in order. */
  readonly columns: readonly ImportColumn[]
}

/** One problem with the file, as the operator fixes it: `line N: <eui>: <reason>` (no eui for the header or the CSV syntax). */
export interface ImportProblem {
  readonly line: number
  /** The row's EUI: canonical when it parses, else the cell as written ('' when empty); absent for the header and CSV syntax. */
  readonly eui?: string
  readonly reason: string
}

/** One line of the report; an EUI that does not parse is shown quoted (and cut short), an empty one as "(no eui)". */
export function formatProblem({ line, eui, reason }: ImportProblem): string {
  if (eui === undefined) return `line ${line}: ${reason}`
  const shown = CANONICAL_EUI.test(eui) ? eui : eui === '' ? '(no eui)' : JSON.stringify(eui.length > 40 ? `${eui.slice(0, 40)}...` : eui)
  return `line ${line}: ${shown}: ${reason}`
}

const CANONICAL_EUI = /^[0-9a-f]{16}$/

/** What one row sets; a field that is absent (an empty cell) is left as stored. */
export interface ImportFields {
  readonly name?: string
  readonly cupsUri?: string
  readonly tcUri?: string
  readonly labels?: Readonly<Record<string, string>>
}

/** Why a row (or the header, or the CSV syntax) cannot be applied. */
export interface RowProblems {
  /** The row's EUI when it parses, so a later row for the same gateway is still found out. */
  readonly eui?: string
  readonly problems: readonly ImportProblem[]
}

export interface ImportRow {
  readonly line: number
  /** Canonical: 16 lowercase hex digits. */
  readonly eui: string
  readonly fields: ImportFields
}

const COLUMNS_HELP = `the columns are eui, ${IMPORT_FIELDS.join(', ')} and ${LABEL_PREFIX}<key>`

/**
 * Record fields that are no column, and why. State is refused rather than imported: enable, disable,
 * revoke and reset each do more than set it (revoke and reset delete credentials, reset allows one first
 * contact), and a spreadsheet column must not re-enable or revoke gateways as a side effect.
 */
const REFUSED: ReadonlyMap<string, string> = new Map(
  Object.entries({
    state: 'state is not imported: change it with `gateway enable`, `disable`, `revoke` or `reset`',
    revokedAt: 'is written by `gateway revoke`, not imported',
    revokedReason: 'is written by `gateway revoke --reason`, not imported',
    labels: `write each label as its own column, ${LABEL_PREFIX}<key> (e.g. ${LABEL_PREFIX}site)`,
    tcTrust: 'is not imported (a PEM certificate does not belong in a CSV cell)',
    tcCredentials: 'is not imported (it may hold a token; edit gateway.json)',
    firmware: 'is not imported (edit gateway.json)',
    version: 'is not imported (it is the record format, written as needed)',
  }),
)

/** Maps the header row to columns; every problem is reported (line 1), so one run shows them all. */
export function parseImportHeader(cells: readonly string[]): { readonly header: ImportHeader } | { readonly problems: readonly ImportProblem[] } {
  const problems: string[] = []
  const columns: ImportColumn[] = []
  const seen = new Map<string, number>()
  cells.forEach((name, index) => {
    const position = index + 1
    const earlier = seen.get(name)
    if (name !== '' && earlier !== undefined) problems.push(`column ${JSON.stringify(name)} appears twice (columns ${earlier} and ${position})`)
    seen.set(name, position)
    const column = columnOf(name, position)
    if (typeof column === 'string') problems.push(column)
    else columns.push(column)
  })
  if (!cells.includes('eui')) problems.push(`there is no eui column: it is required (${COLUMNS_HELP})`)
  if (problems.length > 0) return { problems: problems.map((reason) => ({ line: 1, reason })) }
  return { header: { columns } }
}

/** The column a header cell names, or why it names none. */
function columnOf(name: string, position: number): ImportColumn | string {
  if (name === '') return `column ${position} has no name (${COLUMNS_HELP})`
  if (name === 'eui') return { kind: 'eui' }
  if ((IMPORT_FIELDS as readonly string[]).includes(name)) return { kind: 'field', field: name as ImportField }
  const quoted = `column ${JSON.stringify(name)}`
  if (name.startsWith(LABEL_PREFIX)) {
    const key = name.slice(LABEL_PREFIX.length)
    // The record's own rule for label names, so the header and the stored record never disagree.
    const checked = GATEWAY_RECORD_SCHEMA.shape.labels.safeParse({ [key]: '' })
    return checked.success ? { kind: 'label', key } : `${quoted}: label names are [A-Za-z0-9_.-]{1,63}`
  }
  // A Map, not an object: a column named constructor or __proto__ must not find Object.prototype's.
  const refused = REFUSED.get(name)
  if (refused !== undefined) return `${quoted}: ${refused}`
  return `${quoted} is not a column import knows (${COLUMNS_HELP})${suggestion(name)}`
}

/** A likely meant column for a typo in case or in the label prefix. */
function suggestion(name: string): string {
  const lower = name.toLowerCase()
  const known = ['eui', ...IMPORT_FIELDS].find((field) => field.toLowerCase() === lower)
  if (known !== undefined) return `; did you mean ${known}?`
  const label = /^labels?[._:-](.+)$/i.exec(name)
  if (label?.[1] !== undefined) return `; did you mean ${LABEL_PREFIX}${label[1]}?`
  // Spreadsheets in some locales save with ';' or tabs: the whole header is then one cell.
  return /[;\t]/.test(name) ? '; the file must be comma-separated' : ''
}

/**
 * Checks one row against the header and the record's schema (the same rules as gateway.json, so a row that
 * passes here fails later only on what is stored). Empty cells set nothing.
 */
export function parseImportRow(header: ImportHeader, line: number, cells: readonly string[]): ImportRow | RowProblems {
  const euiIndex = header.columns.findIndex((column) => column.kind === 'eui')
  const euiText = cells[euiIndex] ?? ''
  let eui: string | undefined
  try {
    if (euiText !== '') eui = parseRouterId(euiText)
  } catch {
    // The parser's own message repeats the text; this one is shorter in a list of problems.
  }
  const problems: string[] = []
  if (euiText === '') problems.push('the eui cell is empty: every row names its gateway')
  else if (eui === undefined) problems.push('not a gateway EUI: expected ID6 (e.g. 16:c001:ff10:a235), 16 hex digits or an EUI-64 like 00-16-c0-01-ff-10-a2-35')
  if (cells.length !== header.columns.length) {
    problems.push(`has ${cells.length} cells, the header has ${header.columns.length} (a value with a comma needs "quotes")`)
  }
  const fields = fieldsOf(header, cells)
  const checked = GATEWAY_RECORD_SCHEMA.safeParse(fields)
  if (!checked.success) {
    for (const issue of checked.error.issues) problems.push(`${columnName(issue.path)}: ${issue.message}`)
  }
  if (problems.length > 0 || eui === undefined) return { ...(eui === undefined ? {} : { eui }), problems: problems.map((reason) => ({ line, eui: eui ?? euiText, reason })) }
  return { line, eui, fields }
}

function fieldsOf(header: ImportHeader, cells: readonly string[]): ImportFields {
  const fields: { -readonly [K in keyof ImportFields]: ImportFields[K] } = {}
  const labels: [string, string][] = []
  header.columns.forEach((column, index) => {
    const cell = cells[index] ?? ''
    if (cell === '' || column.kind === 'eui') return
    if (column.kind === 'field') fields[column.field] = cell
    else labels.push([column.key, cell])
  })
  // fromEntries defines own properties, so even a label named __proto__ stays a label.
  if (labels.length > 0) fields.labels = Object.fromEntries(labels)
  return fields
}

/** A schema path as the column the operator wrote: labels.site is column label.site. */
function columnName(path: readonly PropertyKey[]): string {
  const [first, second] = path
  if (first === 'labels' && typeof second === 'string') return `${LABEL_PREFIX}${second}`
  return path.map(String).join('.')
}

/** The edit a row makes: its fields over the stored ones, its labels over the stored labels; nothing else changes. */
export function importEdit(fields: ImportFields): RecordEdit {
  return (current) => {
    const next: Record<string, unknown> = { ...current }
    for (const field of IMPORT_FIELDS) {
      const value = fields[field]
      if (value !== undefined) next[field] = value
    }
    if (fields.labels !== undefined) {
      const stored = next.labels
      const existing = typeof stored === 'object' && stored !== null && !Array.isArray(stored) ? stored : {}
      next.labels = { ...existing, ...fields.labels }
    }
    return next
  }
}

/** Which fields an edit changed (labels one by one, as label.<key>), for `--dry-run`'s report. */
export function changedFields(before: Readonly<Record<string, unknown>> | undefined, after: Readonly<Record<string, unknown>>): string[] {
  const changed: string[] = []
  for (const field of IMPORT_FIELDS) if (after[field] !== before?.[field]) changed.push(field)
  const labelsOf = (fields: Readonly<Record<string, unknown>> | undefined): Readonly<Record<string, unknown>> => {
    const labels = fields?.labels
    return typeof labels === 'object' && labels !== null ? (labels as Record<string, unknown>) : {}
  }
  const [old, now] = [labelsOf(before), labelsOf(after)]
  for (const key of Object.keys(now)) if (now[key] !== old[key]) changed.push(`${LABEL_PREFIX}${key}`)
  return changed
}

/** One item of the file: a row to apply, or the problems of a row (or of the header, or the CSV syntax). */
export type ImportItem = ImportRow | RowProblems

/**
 * Reads the CSV as a stream and yields its rows, checked, one at a time, in file order: memory stays the
 * size of one row plus one entry per EUI (duplicates are problems: which of two rows should win is the
 * operator's call). A row that is not valid CSV (a stray quote) is a problem of its own, and reading goes on,
 * so one run lists every problem. A header problem is yielded last: no row can be read without the header.
 * Rows whose cells are all empty (a spreadsheet's trailing ",,,") are skipped like empty lines.
 */
export async function* readImport(input: Readable): AsyncGenerator<ImportItem> {
  const syntax: ImportProblem[] = []
  const parser = parse({
    bom: true,
    info: true,
    // Cell counts are checked per row, so a bad row is one problem among others instead of the end of the file.
    relax_column_count: true,
    skip_empty_lines: true,
    // Spaces around a cell are dropped (a quoted cell keeps the ones inside its quotes).
    trim: true,
    // A quote left open would otherwise buffer the rest of the file; no record is this big (the stores read at most this much).
    max_record_size: DEFAULT_MAX_OBJECT_BYTES,
    skip_records_with_error: true,
    on_skip: (err) => {
      if (err !== undefined) syntax.push({ line: typeof err.lines === 'number' ? err.lines : 0, reason: `not valid CSV: ${err.message}` })
    },
  })
  input.on('error', (err) => parser.destroy(err))
  input.pipe(parser)
  let header: ImportHeader | undefined
  const lineOf = new Map<string, number>()
  try {
    for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const { record, info } = item
      // info.lines is where the record ends; a quoted cell may hold line breaks, so it starts that many lines before.
      const line = info.lines - record.reduce((breaks, cell) => breaks + (cell.match(/\n/g)?.length ?? 0), 0)
      // The parser runs ahead of us: problems it skipped before this row come out first, in file order.
      let skipped = false
      while (syntax[0] !== undefined && syntax[0].line < line) {
        skipped = true
        yield { problems: syntax.splice(0, 1) }
      }
      if (header === undefined) {
        // The header itself was not valid CSV: a row read as the header would only add confusing problems.
        if (skipped) return
        const parsed = parseImportHeader(record)
        if ('problems' in parsed) {
          yield parsed
          return
        }
        header = parsed.header
        continue
      }
      if (record.every((cell) => cell === '')) continue
      const row = parseImportRow(header, line, record)
      const first = row.eui === undefined ? undefined : lineOf.get(row.eui)
      if (row.eui !== undefined && first === undefined) lineOf.set(row.eui, line)
      if (row.eui !== undefined && first !== undefined) {
        const duplicate = { line, eui: row.eui, reason: `the same gateway as line ${first}: give each gateway one row` }
        yield { eui: row.eui, problems: [duplicate, ...('problems' in row ? row.problems : [])] }
      } else {
        yield row
      }
    }
  } finally {
    input.unpipe(parser)
    input.destroy()
    parser.destroy()
  }
  for (const problem of syntax) yield { problems: [problem] }
  if (header === undefined && syntax.length === 0) yield { problems: [{ line: 1, reason: `the file is empty: its first line names the columns (${COLUMNS_HELP})` }] }
}
