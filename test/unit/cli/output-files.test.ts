// writeOutputFiles: a directory created on demand, atomic writes, and no overwrite of different content without --force.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { writeOutputFiles } from '../../../src/cli/output-files'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cups-out-'))
})
afterEach(() => rm(dir, { recursive: true, force: true }))

const files = [
  { name: 'cups.trust', content: Buffer.from([0x30, 0x00]) },
  { name: 'cups.uri', content: Buffer.from('https://localhost:8443') },
]

describe('writeOutputFiles', () => {
  it('creates the directory and writes every file, leaving no temp file', async () => {
    const out = path.join(dir, 'a', 'b')
    expect(await writeOutputFiles(out, files, { force: false })).toEqual([
      { name: 'cups.trust', path: path.join(out, 'cups.trust'), outcome: 'written' },
      { name: 'cups.uri', path: path.join(out, 'cups.uri'), outcome: 'written' },
    ])
    expect((await readdir(out)).sort()).toEqual(['cups.trust', 'cups.uri'])
    expect(await readFile(path.join(out, 'cups.uri'), 'latin1')).toBe('https://localhost:8443')
  })

  it('leaves files that already hold the same bytes alone', async () => {
    await writeOutputFiles(dir, files, { force: false })
    expect((await writeOutputFiles(dir, files, { force: false })).map((file) => file.outcome)).toEqual(['unchanged', 'unchanged'])
  })

  it('refuses different content before writing anything, and replaces it with force', async () => {
    await writeFile(path.join(dir, 'cups.uri'), 'https://old.example.com:443\n')
    await expect(writeOutputFiles(dir, files, { force: false })).rejects.toThrow(`${path.join(dir, 'cups.uri')} exists with different content; --force replaces it`)
    expect(await readdir(dir)).toEqual(['cups.uri'])
    expect((await writeOutputFiles(dir, files, { force: true })).map((file) => file.outcome)).toEqual(['written', 'replaced'])
    expect(await readFile(path.join(dir, 'cups.uri'), 'latin1')).toBe('https://localhost:8443')
    expect((await readdir(dir)).sort()).toEqual(['cups.trust', 'cups.uri'])
  })
})
