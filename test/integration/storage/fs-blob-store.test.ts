// Owns FsBlobStore's tests: the shared contract plus what only a filesystem can get wrong (paths, crashes, modes).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { PreconditionFailedError, StorageUnavailableError } from '../../../src/errors'
import { FsBlobStore } from '../../../src/storage/fs-blob-store'
import { describeBlobStoreContract } from '../../contracts/blob-store.contract'

const REPO_ROOT = resolve(__dirname, '../../..')

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'cups-fs-store-'))
}

describeBlobStoreContract(
  'fs',
  async () => {
    const dir = await tempRoot()
    return { store: new FsBlobStore(join(dir, 'data')), cleanup: () => rm(dir, { recursive: true, force: true }) }
  },
  { conditionalWrites: true },
)

describe('FsBlobStore on the filesystem', () => {
  let dir: string
  let root: string
  let store: FsBlobStore

  beforeEach(async () => {
    dir = await tempRoot()
    root = join(dir, 'data')
    store = new FsBlobStore(root)
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  describe('keys that could leave rootDir or clash with temp files are refused', () => {
    const badKeys = ['', '../escape', 'a/../../escape', '/etc/escape', 'a\\b', 'a//b', 'a/', './a', 'a/.tmp-x', 'a\0b']

    it.each(badKeys)('put/get/delete of %j reject with a plain Error and touch nothing', async (key) => {
      for (const op of [() => store.put(key, Buffer.from('x')), () => store.get(key), () => store.delete(key)]) {
        const attempt = op()
        await expect(attempt).rejects.toThrow(/invalid storage key/)
        await expect(attempt).rejects.not.toBeInstanceOf(StorageUnavailableError)
      }
      // Nothing was created, neither inside the root nor next to it.
      expect(existsSync(root)).toBe(false)
      expect(await readdir(dir)).toEqual([])
    })

    it('lists nothing for prefixes that point outside rootDir', async () => {
      await writeFile(join(dir, 'outside'), 'not a key')
      await store.put('inside', Buffer.from('k'))
      expect(await store.list('../')).toEqual([])
      expect(await store.list('/')).toEqual([])
      expect(await store.list('')).toEqual(['inside'])
    })
  })

  it('ignores a leftover temp file in get and list, and a later put still works', async () => {
    await store.put('cups/0016c001ff10a235/cups_cred.bin', Buffer.from('complete'))
    const leftover = join(root, 'cups/0016c001ff10a235/.cups_cred.bin.tmp-0123456789abcdef')
    await writeFile(leftover, 'half a wri')

    expect(await store.list('')).toEqual(['cups/0016c001ff10a235/cups_cred.bin'])
    expect((await store.get('cups/0016c001ff10a235/cups_cred.bin'))?.body.toString()).toBe('complete')
    await store.put('cups/0016c001ff10a235/cups_cred.bin', Buffer.from('newer'))
    expect((await store.get('cups/0016c001ff10a235/cups_cred.bin'))?.body.toString()).toBe('newer')
    expect(await store.list('cups/')).toEqual(['cups/0016c001ff10a235/cups_cred.bin'])
  })

  it('leaves no temp file behind after successful and refused puts', async () => {
    await store.put('k/v', Buffer.from('1'))
    await store.put('k/v', Buffer.from('2'))
    await expect(store.put('k/v', Buffer.from('3'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError)
    await expect(store.put('k/v', Buffer.from('4'), { ifMatch: 'stale' })).rejects.toBeInstanceOf(PreconditionFailedError)
    expect(await readdir(join(root, 'k'))).toEqual(['v'])
  })

  it('creates files 0600 and directories 0700 (the blobs hold private keys)', async () => {
    await store.put('cups/0016c001ff10a235/tc_cred.bin', Buffer.from('secret'))
    await store.put('cups/0016c001ff10a235/tc_cred.bin', Buffer.from('renewed secret'))
    const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777
    expect(await mode(join(root, 'cups/0016c001ff10a235/tc_cred.bin'))).toBe(0o600)
    for (const d of ['', 'cups', 'cups/0016c001ff10a235']) expect(await mode(join(root, d))).toBe(0o700)
  })

  it('makes ifNoneMatch "*" atomic across separate store instances (link, not the in-process lock)', async () => {
    // Ten instances share no lock, like ten processes on one directory.
    const stores = Array.from({ length: 10 }, () => new FsBlobStore(root))
    const results = await Promise.allSettled(stores.map((s, i) => s.put('race/k', Buffer.from(`writer ${i}`), { ifNoneMatch: '*' })))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError)
  })

  describe('unexpected filesystem errors become StorageUnavailableError with the cause', () => {
    it('rootDir is a regular file', async () => {
      await writeFile(root, 'not a directory')
      const attempt = store.put('a/b', Buffer.from('x'))
      await expect(attempt).rejects.toBeInstanceOf(StorageUnavailableError)
      await expect(attempt).rejects.toMatchObject({ cause: { code: 'ENOTDIR' } })
    })

    it('a key whose path is taken by a directory', async () => {
      await store.put('taken/child', Buffer.from('x'))
      const attempt = store.put('taken', Buffer.from('y'))
      await expect(attempt).rejects.toBeInstanceOf(StorageUnavailableError)
      await expect(attempt).rejects.toHaveProperty('cause.code', expect.stringMatching(/^E[A-Z]+$/))
      // Reading that key is still plain absence: there is no object called 'taken'.
      expect(await store.get('taken')).toBeUndefined()
    })
  })

  it('does not follow symlinks when listing, so a link out of rootDir or a loop lists nothing', async () => {
    await store.put('d/k', Buffer.from('x'))
    await mkdir(join(dir, 'elsewhere'))
    await writeFile(join(dir, 'elsewhere', 'secret'), 'not ours')
    await symlink(join(dir, 'elsewhere'), join(root, 'link'))
    await symlink(join(root, 'loop'), join(root, 'loop'))
    expect(await store.list('')).toEqual(['d/k'])
  })

  it(
    'never shows a partial object after the writing process is SIGKILLed mid-put',
    async () => {
      const size = 16 * 1024 * 1024
      // The child overwrites one key forever with bodies of one repeated byte, so a torn write is detectable.
      const child = `
        const { FsBlobStore } = require(process.env.FS_STORE_MODULE)
        const store = new FsBlobStore(process.env.CRASH_ROOT)
        ;(async () => {
          process.stdout.write('ready\\n')
          for (let i = 1; ; i++) await store.put('crash/blob', Buffer.alloc(${size}, i % 256))
        })()
      `
      let sawLeftoverTemp = false
      for (let round = 0; round < 5; round++) {
        const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', child], {
          cwd: REPO_ROOT,
          env: { ...process.env, FS_STORE_MODULE: join(REPO_ROOT, 'src/storage/fs-blob-store.ts'), CRASH_ROOT: root },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let stderr = ''
        proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
        const exited = new Promise<NodeJS.Signals | null>((done) => {
          proc.on('exit', (_code, signal) => {
            done(signal)
          })
        })
        await new Promise<void>((ready, failed) => {
          proc.stdout.once('data', () => {
            ready()
          })
          proc.on('exit', () => {
            failed(new Error(`child exited before writing: ${stderr}`))
          })
        })
        if (round < 3) {
          // Kill the moment a temp file exists, so some rounds surely land inside a write, however
          // fast or slow this machine is right now.
          const deadline = Date.now() + 10_000
          while (Date.now() < deadline) {
            const names = await readdir(join(root, 'crash')).catch(() => [] as string[])
            if (names.some((n) => n.startsWith('.'))) break
            await sleep(1)
          }
        } else {
          // Somewhere in the next few puts (each takes tens of ms): during write, fsync, or rename.
          await sleep(20 + Math.random() * 200)
        }
        proc.kill('SIGKILL')
        expect(await exited).toBe('SIGKILL')

        const got = await store.get('crash/blob')
        if (got !== undefined) {
          expect(got.body.length).toBe(size)
          const first = got.body[0] ?? -1
          expect(got.body.every((b) => b === first)).toBe(true)
        }
        expect(await store.list('')).toEqual(got === undefined ? [] : ['crash/blob'])
        if ((await readdir(join(root, 'crash')).catch(() => [])).some((n) => n.startsWith('.'))) sawLeftoverTemp = true
      }
      // Proof that at least one kill landed mid-write; otherwise this test would have tested nothing.
      expect(sawLeftoverTemp).toBe(true)
    },
    60_000,
  )
})
