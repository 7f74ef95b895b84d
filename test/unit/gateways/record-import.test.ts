// The CSV import's pure part: header columns, rows checked against the record schema, the edit a row makes, and the file as a stream.
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { changedFields, formatProblem, importEdit, parseImportHeader, parseImportRow, readImport } from '../../../src/gateways/record-import'
import type { ImportHeader, ImportItem } from '../../../src/gateways/record-import'

const EUI = '0016c001ff10a235'

function header(...cells: string[]): ImportHeader {
  const parsed = parseImportHeader(cells)
  if (!('header' in parsed)) throw new Error(`bad header: ${parsed.problems.map(formatProblem).join('; ')}`)
  return parsed.header
}

function problemsOf(cells: string[]): string[] {
  const parsed = parseImportHeader(cells)
  return 'problems' in parsed ? parsed.problems.map(formatProblem) : []
}

async function readAll(text: string | Buffer | Readable): Promise<ImportItem[]> {
  const input = text instanceof Readable ? text : Readable.from([typeof text === 'string' ? Buffer.from(text) : text])
  const items: ImportItem[] = []
  for await (const item of readImport(input)) items.push(item)
  return items
}

function report(items: readonly ImportItem[]): string[] {
  return items.map((item) => ('problems' in item ? item.problems.map(formatProblem).join(' | ') : `ok line ${item.line} ${item.eui} ${JSON.stringify(item.fields)}`))
}

describe('parseImportHeader', () => {
  it.each([
    [['eui'], [{ kind: 'eui' }]],
    [
      ['name', 'eui', 'cupsUri', 'tcUri'],
      [{ kind: 'field', field: 'name' }, { kind: 'eui' }, { kind: 'field', field: 'cupsUri' }, { kind: 'field', field: 'tcUri' }],
    ],
    [
      ['eui', 'label.site', 'label.rack-2.b_c'],
      [{ kind: 'eui' }, { kind: 'label', key: 'site' }, { kind: 'label', key: 'rack-2.b_c' }],
    ],
  ])('%j maps to columns', (cells, columns) => {
    expect(header(...cells).columns).toEqual(columns)
  })

  it.each([
    [['name'], /line 1: there is no eui column: it is required/],
    [['eui', 'nmae'], /line 1: column "nmae" is not a column import knows \(the columns are eui, name, cupsUri, tcUri and label\.<key>\)$/],
    [['eui', 'cupsuri'], /column "cupsuri" is not a column import knows .*; did you mean cupsUri\?/],
    [['eui', 'labels.site'], /column "labels.site" .*; did you mean label\.site\?/],
    [['eui;name'], /column "eui;name" .*the file must be comma-separated/],
    [['eui', 'state'], /column "state": state is not imported: change it with `gateway enable`, `disable`, `revoke` or `reset`/],
    [['eui', 'labels'], /column "labels": write each label as its own column, label\.<key>/],
    [['eui', 'tcCredentials'], /column "tcCredentials": is not imported/],
    [['eui', 'firmware'], /column "firmware": is not imported/],
    [['eui', 'revokedAt'], /column "revokedAt": is written by `gateway revoke`/],
    [['eui', 'label.'], /column "label\.": label names are/],
    [['eui', 'label.a b'], /column "label\.a b": label names are/],
    [['eui', `label.${'x'.repeat(64)}`], /label names are/],
    [['eui', ''], /line 1: column 2 has no name/],
    [['eui', 'constructor'], /column "constructor" is not a column import knows/],
    [['eui', '__proto__'], /column "__proto__" is not a column import knows/],
    [['eui', 'name', 'name'], /column "name" appears twice \(columns 2 and 3\)/],
  ])('%j is refused', (cells, reason) => {
    expect(problemsOf(cells).join('\n')).toMatch(reason)
  })

  it('lists every problem of the header at once', () => {
    expect(problemsOf(['nmae', 'state', 'label.b@d'])).toHaveLength(4)
  })
})

describe('parseImportRow', () => {
  const all = header('eui', 'name', 'cupsUri', 'tcUri', 'label.site')

  it.each([
    [[EUI, '', '', '', ''], {}],
    [['0016C001FF10A235', 'roof', '', '', ''], { name: 'roof' }],
    [['00-16-c0-01-ff-10-a2-35', '', 'https://cups.example.com:443', '', ''], { cupsUri: 'https://cups.example.com:443' }],
    [['00:16:c0:01:ff:10:a2:35', '', '', 'wss://lns.example.com:8887', ''], { tcUri: 'wss://lns.example.com:8887' }],
    [['16:c001:ff10:a235', 'Cellar, west', '', '', 'north'], { name: 'Cellar, west', labels: { site: 'north' } }],
  ])('%j sets %j', (cells, fields) => {
    expect(parseImportRow(all, 7, cells)).toEqual({ line: 7, eui: EUI, fields })
  })

  it.each([
    [['nope', '', '', '', ''], 'line 3: "nope": not a gateway EUI: expected ID6'],
    [['', 'roof', '', '', ''], 'line 3: (no eui): the eui cell is empty'],
    [[EUI, '', 'http://cups.example.com:80', '', ''], `line 3: ${EUI}: cupsUri: must be https://host:port`],
    [[EUI, '', 'https://cups.example.com', '', ''], `line 3: ${EUI}: cupsUri: `],
    [[EUI, '', '', 'ftp://lns.example.com:21', ''], `line 3: ${EUI}: tcUri: `],
    [[EUI, 'x'.repeat(201), '', '', ''], `line 3: ${EUI}: name: `],
    [[EUI, '', '', '', 'y'.repeat(201)], `line 3: ${EUI}: label.site: `],
    [[EUI, 'roof'], `line 3: ${EUI}: has 2 cells, the header has 5 (a value with a comma needs "quotes")`],
    [[EUI, 'roof', '', '', '', 'extra'], `line 3: ${EUI}: has 6 cells, the header has 5`],
  ])('%j is refused: %s', (cells, reason) => {
    const row = parseImportRow(all, 3, cells)
    expect('problems' in row ? row.problems.map(formatProblem).join('\n') : 'accepted').toContain(reason)
  })

  it('a label named __proto__ stays a label, through the edit too', () => {
    const row = parseImportRow(header('eui', 'label.__proto__'), 2, [EUI, 'x'])
    expect('fields' in row && JSON.stringify(importEdit(row.fields)({ labels: { site: 'a' } }))).toBe('{"labels":{"site":"a","__proto__":"x"}}')
  })

  it('reports every problem of a row, and its EUI when it parses (for duplicates)', () => {
    const row = parseImportRow(all, 4, [EUI, '', 'http://a:1', 'ftp://b:2', ''])
    expect(row).toMatchObject({ eui: EUI, problems: [{ line: 4, eui: EUI }, { line: 4, eui: EUI }] })
  })

  it('a long bad EUI is cut short in the report, and not in the data', () => {
    const text = 'z'.repeat(100)
    const row = parseImportRow(all, 2, [text, '', '', '', ''])
    expect('problems' in row && row.problems[0]?.eui).toBe(text)
    expect('problems' in row && formatProblem(row.problems[0] ?? { line: 0, reason: '' })).toMatch(/^line 2: "z{40}\.\.\.": /)
  })
})

describe('importEdit', () => {
  it.each([
    ['creates a record of the given fields', undefined, { name: 'roof' }, { name: 'roof' }],
    ['an empty row creates an empty record', undefined, {}, {}],
    ['keeps fields without a column', { state: 'disabled', firmware: { channel: 'beta' } }, { name: 'roof' }, { state: 'disabled', firmware: { channel: 'beta' }, name: 'roof' }],
    ['replaces the fields given', { name: 'old', cupsUri: 'https://a:1' }, { name: 'new' }, { name: 'new', cupsUri: 'https://a:1' }],
    ['merges labels over the stored ones', { labels: { site: 'a', rack: '1' } }, { labels: { site: 'b' } }, { labels: { site: 'b', rack: '1' } }],
    ['stored labels that are not an object are replaced', { labels: 'junk' }, { labels: { site: 'b' } }, { labels: { site: 'b' } }],
  ])('%s', (_title, current, fields, expected) => {
    expect(importEdit(fields)(current)).toEqual(expected)
  })

  it('does not change the stored fields it is given', () => {
    const current = Object.freeze({ labels: Object.freeze({ site: 'a' }) })
    importEdit({ labels: { site: 'b' } })(current)
    expect(current).toEqual({ labels: { site: 'a' } })
  })
})

describe('changedFields', () => {
  it.each([
    [undefined, { name: 'roof', labels: { site: 'a' } }, ['name', 'label.site']],
    [{ name: 'roof' }, { name: 'roof' }, []],
    [{ name: 'roof', tcUri: 'wss://a:1' }, { name: 'attic', tcUri: 'wss://a:1', cupsUri: 'https://b:2' }, ['name', 'cupsUri']],
    [{ labels: { site: 'a', rack: '1' } }, { labels: { site: 'a', rack: '2', row: 'x' } }, ['label.rack', 'label.row']],
  ])('%j -> %j changes %j', (before, after, changed) => {
    expect(changedFields(before, after)).toEqual(changed)
  })
})

describe('readImport', () => {
  it('reads quoting, CRLF and a byte order mark as a spreadsheet writes them, with the line each row starts on', async () => {
    const text = '\ufeffeui,name,label.site\r\n' + `${EUI},"Cellar, ""west""",north\r\n` + '\r\n' + '::2,"two\nlines",\r\n' + ' ::3 , spaced ,\r\n' + ',,\r\n' + '::4,,south'
    expect(report(await readAll(text))).toEqual([
      `ok line 2 ${EUI} {"name":"Cellar, \\"west\\"","labels":{"site":"north"}}`,
      'ok line 4 0000000000000002 {"name":"two\\nlines"}',
      'ok line 6 0000000000000003 {"name":"spaced"}',
      'ok line 8 0000000000000004 {"labels":{"site":"south"}}',
    ])
  })

  it('a gateway twice, in any spelling, is a problem naming the first line', async () => {
    const items = await readAll(`eui,name\n${EUI},a\n::9,b\n16:c001:ff10:a235,c\n00-16-c0-01-ff-10-a2-35,http://x\n`)
    expect(report(items).slice(2)).toEqual([
      `line 4: ${EUI}: the same gateway as line 2: give each gateway one row`,
      `line 5: ${EUI}: the same gateway as line 2: give each gateway one row`,
    ])
  })

  it('a bad row whose EUI parses still counts for duplicates', async () => {
    const items = await readAll(`eui,cupsUri\n${EUI},http://x:1\n${EUI},https://x:1\n`)
    expect(report(items)).toEqual([`line 2: ${EUI}: cupsUri: must be https://host:port: this server only speaks TLS`, `line 3: ${EUI}: the same gateway as line 2: give each gateway one row`])
  })

  it.each([
    ['', ['line 1: the file is empty: its first line names the columns (the columns are eui, name, cupsUri, tcUri and label.<key>)']],
    ['\n\n', ['line 1: the file is empty: its first line names the columns (the columns are eui, name, cupsUri, tcUri and label.<key>)']],
    ['eui,name\n', []],
    ['eui,nmae\n::1,x\n', ['line 1: column "nmae" is not a column import knows (the columns are eui, name, cupsUri, tcUri and label.<key>)']],
  ])('%j reads as %j', async (text, expected) => {
    expect(report(await readAll(text))).toEqual(expected)
  })

  it('a row that is not valid CSV is a problem naming its line, and reading goes on', async () => {
    const items = await readAll(`eui,name\n::1,a\n::2,a"b\n::3,c\n::4,"open\n`)
    expect(report(items)).toEqual([
      'ok line 2 0000000000000001 {"name":"a"}',
      expect.stringMatching(/^line 3: not valid CSV: Invalid Opening Quote/) as unknown,
      'ok line 4 0000000000000003 {"name":"c"}',
      expect.stringMatching(/^line \d: not valid CSV: Quote Not Closed/) as unknown,
    ])
  })

  it('a header that is not valid CSV ends the file there: no row is read as the header', async () => {
    const reported = report(await readAll(`eui,"na"me\n::1,a\n::2,b\n`))
    expect(reported[0]).toMatch(/^line 1: not valid CSV: Invalid Closing Quote/)
    // What follows depends on how the parser recovers; it is never a row, nor a column problem.
    for (const line of reported) expect(line).toMatch(/not valid CSV/)
  })

  it('a quote left open does not buffer the rest of the file', async () => {
    const items = await readAll(Buffer.concat([Buffer.from('eui,name\n::1,"open\n'), Buffer.alloc(200_000, 'a')]))
    expect(report(items).at(-1)).toMatch(/^line 3: not valid CSV: Max Record Size/)
  })

  it('a read error is thrown, not reported as CSV', async () => {
    const failing = new Readable({
      read() {
        this.destroy(new Error('EIO: i/o error'))
      },
    })
    await expect(readAll(failing)).rejects.toThrow(/EIO/)
  })
})
