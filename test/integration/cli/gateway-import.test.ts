// `cups-server gateway import <file.csv>` as an operator runs it (the built binary), on every storage the CLI supports.
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXIT, runCli } from '../../../src/cli/run-cli'
import type { BlobStore } from '../../../src/storage/blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'
import { CLI_STORAGES, runCliBinary } from '../../support/cli-binary'
import type { CliRun, CliStorage } from '../../support/cli-binary'

const A = '0016c001ff10a235'
const B = '0016c001ff10a236'
const C = '0016c001ff10a237'
const CUPS = 'https://cups.example.com:443'
const TC = 'wss://lns.example.com:8887'

const CSV = [
  '\ufeffeui,name,cupsUri,tcUri,label.site',
  `${A},roof,${CUPS},${TC},north`,
  `16:c001:ff10:a236,"Cellar, west",,,south`,
  `00-16-c0-01-ff-10-a2-37,,,,`,
].join('\r\n')

async function stored(store: BlobStore, eui: string): Promise<{ fields: Record<string, unknown>; etag: string } | undefined> {
  const blob = await store.get(storageKeys('cups/', eui).settings)
  return blob === undefined ? undefined : { fields: JSON.parse(blob.body.toString('utf8')) as Record<string, unknown>, etag: blob.etag }
}

function auditLines(run: CliRun): Record<string, unknown>[] {
  return run.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

for (const kind of CLI_STORAGES) {
  describe.skipIf(!kind.enabled)(`cups-server gateway import (${kind.name})`, () => {
    let storage: CliStorage
    const cli = (...args: string[]): Promise<CliRun> => runCliBinary(['gateway', 'import', ...args], { env: storage.env, cwd: storage.dir, timeoutMs: 120_000 })
    const csv = async (name: string, text: string): Promise<string> => {
      await writeFile(path.join(storage.dir, name), text)
      return name
    }

    beforeAll(async () => {
      storage = await kind.create()
    })
    afterAll(async () => {
      await storage.cleanup()
    })

    it('registers a gateway per row (EUI in any spelling, quoting, CRLF and BOM as spreadsheets write them), with one audit line', async () => {
      const run = await cli(await csv('fleet.csv', CSV))
      expect(run).toMatchObject({ status: EXIT.ok, stdout: 'created 3, updated 0, unchanged 0, failed 0\n' })
      expect((await stored(storage.store, A))?.fields).toEqual({ name: 'roof', cupsUri: CUPS, tcUri: TC, labels: { site: 'north' } })
      expect((await stored(storage.store, B))?.fields).toEqual({ name: 'Cellar, west', labels: { site: 'south' } })
      expect((await stored(storage.store, C))?.fields).toEqual({})
      expect(auditLines(run)).toEqual([expect.objectContaining({ audit: 'gateways-imported', created: 3, updated: 0, unchanged: 0, failed: 0 })])
      // No progress bar when stderr is not a terminal.
      expect(run.stderr).not.toContain('\r')
    })

    it('importing the same file again writes nothing: every row is unchanged', async () => {
      const before = await Promise.all([A, B, C].map((eui) => stored(storage.store, eui)))
      const run = await cli('fleet.csv', '--json')
      expect(run.status).toBe(EXIT.ok)
      expect(JSON.parse(run.stdout)).toEqual({ file: 'fleet.csv', dryRun: false, created: 0, updated: 0, unchanged: 3, failed: 0, problems: [] })
      expect(await Promise.all([A, B, C].map((eui) => stored(storage.store, eui)))).toEqual(before)
    })

    it('an edited row updates that record alone, and keeps the fields and labels the CSV does not name', async () => {
      const current = await stored(storage.store, A)
      const withMore = { ...current?.fields, state: 'disabled', firmware: { channel: 'beta' }, labels: { site: 'north', rack: '7' } }
      await storage.store.put(storageKeys('cups/', A).settings, Buffer.from(JSON.stringify(withMore)))
      const [b, c] = await Promise.all([stored(storage.store, B), stored(storage.store, C)])
      const run = await cli(await csv('edited.csv', CSV.replace(`${A},roof,`, `${A},attic,`).replace(',north', ',west')))
      expect(run).toMatchObject({ status: EXIT.ok, stdout: 'created 0, updated 1, unchanged 2, failed 0\n' })
      expect((await stored(storage.store, A))?.fields).toEqual({
        name: 'attic',
        cupsUri: CUPS,
        tcUri: TC,
        state: 'disabled',
        firmware: { channel: 'beta' },
        labels: { site: 'west', rack: '7' },
      })
      expect(await Promise.all([stored(storage.store, B), stored(storage.store, C)])).toEqual([b, c])
    })

    it('--dry-run lists what would be created or updated, and writes nothing', async () => {
      const D = '0016c001ff10a238'
      const before = await stored(storage.store, B)
      const file = await csv('plan.csv', `eui,name,label.site\n${B},cellar,south\n${C},,\n${D},new,\n`)
      const run = await cli(file, '--dry-run')
      expect(run.status).toBe(EXIT.ok)
      expect(run.stdout).toBe(
        `update ${B} (line 2): name\n` + `create ${D} (line 4): name\n` + 'dry run (nothing written): created 1, updated 1, unchanged 1, failed 0\n',
      )
      expect(auditLines(run)).toEqual([])
      expect(await stored(storage.store, B)).toEqual(before)
      expect(await stored(storage.store, D)).toBeUndefined()
      const json = await cli(file, '--dry-run', '--json')
      expect(JSON.parse(json.stdout)).toMatchObject({
        dryRun: true,
        created: 1,
        updated: 1,
        unchanged: 1,
        failed: 0,
        changes: [
          { line: 2, eui: B, outcome: 'updated', fields: ['name'] },
          { line: 4, eui: D, outcome: 'created', fields: ['name'] },
        ],
      })
      expect(await stored(storage.store, D)).toBeUndefined()
    })

    it('a file with bad rows writes nothing, and every problem names its line and EUI (exit 1)', async () => {
      const E = '0016c001ff10a239'
      const before = await stored(storage.store, A)
      const file = await csv(
        'bad.csv',
        ['eui,name,cupsUri', `${E},fine,`, 'not-an-eui,x,', `${A},y,http://cups.example.com:80`, `16:c001:ff10:a239,again,`, `${B},"unclosed`].join('\n'),
      )
      const run = await cli(file)
      expect(run.status).toBe(EXIT.failed)
      expect(run.stderr).toContain('line 3: "not-an-eui": not a gateway EUI')
      expect(run.stderr).toContain(`line 4: ${A}: cupsUri: must be https://host:port`)
      expect(run.stderr).toContain(`line 5: ${E}: the same gateway as line 2`)
      expect(run.stderr).toMatch(/line 6: not valid CSV: Quote Not Closed/)
      expect(run.stderr).toContain('bad.csv: 4 problems; nothing written')
      expect(run.stdout).toBe('created 0, updated 0, unchanged 0, failed 4\n')
      expect(auditLines(run)).toEqual([])
      expect(await stored(storage.store, E)).toBeUndefined()
      expect(await stored(storage.store, A)).toEqual(before)

      const json = await cli(file, '--json')
      expect(json.status).toBe(EXIT.failed)
      expect(JSON.parse(json.stdout)).toMatchObject({ created: 0, updated: 0, failed: 4, problems: expect.arrayContaining([{ line: 3, eui: 'not-an-eui', reason: expect.stringMatching(/^not a gateway EUI/) as unknown }]) as unknown })
    })

    it('an unknown column, or state, is refused by name before any row is read (exit 1)', async () => {
      const F = '0016c001ff10a23a'
      const run = await cli(await csv('typo.csv', `eui,nmae,state\n${F},x,disabled\n`))
      expect(run.status).toBe(EXIT.failed)
      expect(run.stderr).toContain('line 1: column "nmae" is not a column import knows')
      expect(run.stderr).toContain('line 1: column "state": state is not imported: change it with `gateway enable`')
      expect(await stored(storage.store, F)).toBeUndefined()
    })

    it('a row that fails at write time is reported and counted; the other rows are written (exit 1)', async () => {
      const [G, H] = ['0016c001ff10a23b', '0016c001ff10a23c']
      await storage.store.put(storageKeys('cups/', G).settings, Buffer.from('[]'))
      const run = await cli(await csv('partly.csv', `eui,name\n${G},g\n${H},h\n`))
      expect(run.status).toBe(EXIT.failed)
      expect(run.stderr).toContain(`line 2: ${G}: gateway.json must be a JSON object, not an array`)
      expect(run.stdout).toBe('created 1, updated 0, unchanged 0, failed 1\n')
      expect(auditLines(run)).toEqual([expect.objectContaining({ audit: 'gateways-imported', created: 1, failed: 1 })])
      expect((await stored(storage.store, H))?.fields).toEqual({ name: 'h' })
    })

    it('a file that cannot be read is a failure naming it (exit 1)', async () => {
      const run = await cli('missing.csv')
      expect(run.status).toBe(EXIT.failed)
      expect(run.stderr).toMatch(/cannot read missing\.csv: ENOENT/)
    })

    // 10,000 writes to radosgw would make this suite slow; the code path is the same.
    it.skipIf(kind.name !== 'fs')('imports 10,000 rows, then finds them all unchanged', { timeout: 180_000 }, async () => {
      const lines = ['eui,name,cupsUri,label.site']
      for (let i = 0; i < 10_000; i++) lines.push(`${(0x00aa000000000000n + BigInt(i)).toString(16).padStart(16, '0')},gw ${i},${CUPS},site-${i % 50}`)
      const file = await csv('large.csv', `${lines.join('\n')}\n`)
      const first = await cli(file, '--json')
      expect(first.status).toBe(EXIT.ok)
      expect(JSON.parse(first.stdout)).toMatchObject({ created: 10_000, failed: 0 })
      expect((await stored(storage.store, '00aa00000000270f'))?.fields).toEqual({ name: 'gw 9999', cupsUri: CUPS, labels: { site: 'site-49' } })
      const again = await cli(file, '--json')
      expect(JSON.parse(again.stdout)).toMatchObject({ created: 0, updated: 0, unchanged: 10_000, failed: 0 })
    })
  })
}

describe('cups-server gateway import on a terminal (in process)', () => {
  let storage: CliStorage
  beforeAll(async () => {
    const fs = CLI_STORAGES.find((kind) => kind.name === 'fs')
    if (fs === undefined) throw new Error('no fs storage in CLI_STORAGES')
    storage = await fs.create()
  })
  afterAll(async () => {
    await storage.cleanup()
  })

  async function run(isTTY: boolean): Promise<{ status: number; stdout: string; stderr: string }> {
    const rows = Array.from({ length: 40 }, (_, i) => `::${(i + 1).toString(16)},gw ${i}`)
    await writeFile(path.join(storage.dir, 'tty.csv'), ['eui,name', ...rows].join('\n'))
    let stdout = ''
    let stderr = ''
    const status = await runCli(['gateway', 'import', 'tty.csv'], {
      env: storage.env,
      cwd: storage.dir,
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text), isTTY },
    })
    return { status, stdout, stderr }
  }

  it('draws one progress line on stderr, redrawn in place and erased before the summary', async () => {
    const { status, stdout, stderr } = await run(true)
    expect(status).toBe(EXIT.ok)
    expect(stdout).toBe('created 40, updated 0, unchanged 0, failed 0\n')
    expect(stderr).toMatch(/^\rimporting \[-{30}\] 0\/40 0%/)
    expect(stderr).toContain('\rimporting [##############################] 40/40 100%\r\x1b[2K')
    expect(stderr.split('\n')).toHaveLength(2) // the audit line and its newline: the bar never adds a line
  })

  it('draws nothing when stderr is not a terminal', async () => {
    const { stderr } = await run(false)
    expect(stderr).not.toContain('\r')
  })
})
