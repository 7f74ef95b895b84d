// Owns FsBlobStore's tests: the shared contract plus what only a filesystem can get wrong (paths, crashes, modes).
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import { afterEach, beforeEach, describe, expect, it, type Mock, vi } from 'vitest'

import { PreconditionFailedError, StorageUnavailableError } from '../../../src/errors'
import { DEFAULT_MAX_OBJECT_BYTES, type StoredBlob } from '../../../src/storage/blob-store'
import { FsBlobStore } from '../../../src/storage/fs-blob-store'
import { describeBlobStoreContract } from '../../contracts/blob-store.contract'
import { describeGatewayStateContract } from '../../contracts/gateway-state.contract'

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
  { conditionalWrites: true, maxObjectBytes: DEFAULT_MAX_OBJECT_BYTES },
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

  describe('only regular files inside rootDir are read; anything else is unusable, promptly (2 s timeouts)', () => {
    const KEY = 'cups/0016c001ff10a235/cups_cred.bin'
    const CAP = 1024
    // A hang would show as a timeout: readFile on a FIFO without a writer never returns.
    const PROMPT = 2000
    let warn: Mock<(...args: unknown[]) => void>
    let capped: FsBlobStore
    let path: string

    beforeEach(async () => {
      warn = vi.fn<(...args: unknown[]) => void>()
      capped = new FsBlobStore(root, { maxObjectBytes: CAP, log: { warn } })
      path = join(root, KEY)
      await mkdir(dirname(path), { recursive: true })
    })

    /** get resolves the unusable shape, logs key and reason once per read, and the etag is stable. */
    async function expectUnusable(reason: RegExp, key = KEY): Promise<StoredBlob> {
      warn.mockClear()
      const got = await capped.get(key)
      expect(got?.body.length).toBe(0)
      expect(got?.unusable).toMatch(reason)
      expect(got?.etag).toMatch(/^unusable-[0-9a-f]{16}$/)
      expect(warn).toHaveBeenCalledTimes(1)
      expect(warn).toHaveBeenCalledWith({ objectKey: key, reason: got?.unusable }, expect.any(String))
      expect((await capped.get(key))?.etag).toBe(got?.etag)
      if (got === undefined) throw new Error(`${key} read as absent`)
      return got
    }

    async function outsideFile(name: string, body: string): Promise<string> {
      const file = join(dir, name)
      await writeFile(file, body)
      return file
    }

    it('a FIFO with no writer', async () => {
      execFileSync('mkfifo', [path])
      await expectUnusable(/FIFO/)
    }, PROMPT)

    it('a socket', async () => {
      const server: Server = createServer()
      await new Promise<void>((listening) => server.listen(path, listening))
      try {
        await expectUnusable(/socket/)
      } finally {
        await new Promise((closed) => server.close(closed))
      }
    }, PROMPT)

    it.skipIf(process.getuid?.() !== 0)('a character device node (mknod of /dev/zero: never ends)', async () => {
      execFileSync('mknod', [path, 'c', '1', '5'])
      await expectUnusable(/character device/)
    }, PROMPT)

    it('a symlink to /dev/zero', async () => {
      await symlink('/dev/zero', path)
      await expectUnusable(/symbolic link/)
    }, PROMPT)

    it('a symlink to a file outside rootDir: not followed, its contents appear neither in the body nor the log', async () => {
      await symlink(await outsideFile('shadow', 'root:secret-hash:'), path)
      await expectUnusable(/symbolic link/)
      expect(JSON.stringify(warn.mock.calls)).not.toContain('secret')
    }, PROMPT)

    it('a symlink to another key inside rootDir (all symlinks are refused), and a dangling one', async () => {
      await capped.put('cups/0016c001ff10a235/tc_cred.bin', Buffer.from('inside'))
      await symlink('tc_cred.bin', path)
      await expectUnusable(/symbolic link/)
      await symlink(join(dir, 'nowhere'), join(root, 'dangling'))
      await expectUnusable(/symbolic link/, 'dangling')
    }, PROMPT)

    it('a key below a symlinked directory that leads outside rootDir, at any depth', async () => {
      const elsewhere = join(dir, 'elsewhere')
      await mkdir(join(elsewhere, '0016c001ff10a235'), { recursive: true })
      await writeFile(join(elsewhere, '0016c001ff10a235', 'cups_cred.bin'), 'secret')
      await writeFile(join(elsewhere, 'cups_cred.bin'), 'secret')
      // cups/<eui> -> elsewhere: the file itself is regular, the directory is the way out.
      await symlink(elsewhere, join(root, 'cups/00000000000000ee'))
      await expectUnusable(/outside/, 'cups/00000000000000ee/cups_cred.bin')
      // cups -> elsewhere, one level up.
      await rm(join(root, 'cups'), { recursive: true })
      await symlink(elsewhere, join(root, 'cups'))
      await expectUnusable(/outside/)
      // What is not there is still absent, and listing the linked prefix shows nothing of elsewhere.
      expect(await capped.get('cups/0016c001ff10a235/missing')).toBeUndefined()
      expect(await capped.list('cups/')).toEqual([])
      expect(await capped.list('cups/0016c001ff10a235/')).toEqual([])
    }, PROMPT)

    it('a key below a symlinked directory that stays inside rootDir', async () => {
      await capped.put(KEY, Buffer.from('real'))
      await symlink(join(root, 'cups/0016c001ff10a235'), join(root, 'cups/alias'))
      await expectUnusable(/symlinked directory/, 'cups/alias/cups_cred.bin')
    }, PROMPT)

    it('a symlink loop among the directories', async () => {
      await symlink(join(root, 'cups/loop'), join(root, 'cups/loop'))
      await expectUnusable(/loop/, 'cups/loop/cups_cred.bin')
    }, PROMPT)

    it('a regular file one byte over the cap is unusable; one exactly at the cap is read', async () => {
      await writeFile(path, Buffer.alloc(CAP + 1, 1))
      await expectUnusable(new RegExp(`${CAP + 1} bytes, over the ${CAP}-byte cap`))
      const exact = Buffer.alloc(CAP, 2)
      await writeFile(path, exact)
      warn.mockClear()
      const got = await capped.get(KEY)
      expect(got?.unusable).toBeUndefined()
      expect(got?.body.equals(exact)).toBe(true)
      expect(warn).not.toHaveBeenCalled()
    }, PROMPT)

    it('the default cap is 64 KiB', async () => {
      await writeFile(path, Buffer.alloc(64 * 1024 + 1))
      expect((await store.get(KEY))?.unusable).toMatch(/65537 bytes, over the 65536-byte cap/)
    }, PROMPT)

    it('a rootDir that is itself a symlink is fine: only links below it are refused', async () => {
      await capped.put(KEY, Buffer.from('via the real path'))
      await symlink(root, join(dir, 'root-link'))
      const viaLink = new FsBlobStore(join(dir, 'root-link'), { log: { warn } })
      expect((await viaLink.get(KEY))?.body.toString()).toBe('via the real path')
      await viaLink.put('cups/0016c001ff10a235/tc_cred.bin', Buffer.from('written via the link'))
      expect(await viaLink.list('cups/0016c001ff10a235/')).toEqual([KEY, 'cups/0016c001ff10a235/tc_cred.bin'])
      expect(warn).not.toHaveBeenCalled()
    }, PROMPT)

    describe('puts over an unusable object', () => {
      it('ifNoneMatch "*" fails (something exists), for a FIFO and a dangling symlink', async () => {
        execFileSync('mkfifo', [path])
        await expect(capped.put(KEY, Buffer.from('x'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError)
        await symlink(join(dir, 'nowhere'), join(root, 'dangling'))
        await expect(capped.put('dangling', Buffer.from('x'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError)
        expect((await lstat(join(root, 'dangling'))).isSymbolicLink()).toBe(true)
        expect(existsSync(join(dir, 'nowhere'))).toBe(false)
      }, PROMPT)

      it('ifMatch with the unusable etag replaces a FIFO; a stale etag does not', async () => {
        execFileSync('mkfifo', [path])
        await expect(capped.put(KEY, Buffer.from('x'), { ifMatch: 'unusable-0000000000000000' })).rejects.toBeInstanceOf(
          PreconditionFailedError,
        )
        const { etag } = await expectUnusable(/FIFO/)
        const put = await capped.put(KEY, Buffer.from('replaced'), { ifMatch: etag })
        expect(await capped.get(KEY)).toEqual({ body: Buffer.from('replaced'), etag: put.etag })
        expect((await lstat(path)).isFile()).toBe(true)
      }, PROMPT)

      it('ifMatch and plain puts replace a symlink itself, never the file it points to', async () => {
        const target = await outsideFile('target', 'outside, untouched')
        await symlink(target, path)
        const { etag } = await expectUnusable(/symbolic link/)
        await capped.put(KEY, Buffer.from('replaced'), { ifMatch: etag })
        expect((await lstat(path)).isSymbolicLink()).toBe(false)
        expect((await capped.get(KEY))?.body.toString()).toBe('replaced')
        expect(await readFile(target, 'utf8')).toBe('outside, untouched')

        await symlink(target, join(root, 'plain'))
        await capped.put('plain', Buffer.from('replaced too'))
        expect((await lstat(join(root, 'plain'))).isFile()).toBe(true)
        expect(await readFile(target, 'utf8')).toBe('outside, untouched')
      }, PROMPT)

      it('a plain put replaces an oversized file', async () => {
        await writeFile(path, Buffer.alloc(CAP + 1))
        const { etag } = await capped.put(KEY, Buffer.from('small'))
        expect(await capped.get(KEY)).toEqual({ body: Buffer.from('small'), etag })
      }, PROMPT)

      it('puts and deletes below a symlinked directory are refused and touch nothing outside rootDir', async () => {
        const elsewhere = join(dir, 'elsewhere')
        await mkdir(elsewhere)
        await writeFile(join(elsewhere, 'cups_cred.bin'), 'outside, untouched')
        await symlink(elsewhere, join(root, 'cups/00000000000000ee'))
        const linked = 'cups/00000000000000ee/cups_cred.bin'
        await expect(capped.put(linked, Buffer.from('x'))).rejects.toBeInstanceOf(StorageUnavailableError)
        await expect(capped.put(linked, Buffer.from('x'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(StorageUnavailableError)
        await expect(capped.delete(linked)).rejects.toBeInstanceOf(StorageUnavailableError)
        // Deeper than what exists: no directory may be created through the link either.
        await expect(capped.put('cups/00000000000000ee/new/deeper', Buffer.from('x'))).rejects.toBeInstanceOf(
          StorageUnavailableError,
        )
        expect(await readdir(elsewhere)).toEqual(['cups_cred.bin'])
        expect(await readFile(join(elsewhere, 'cups_cred.bin'), 'utf8')).toBe('outside, untouched')
      }, PROMPT)
    })
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
      // The 16 MiB bodies are far over the default read cap; this test is about atomicity, not the cap.
      const reader = new FsBlobStore(root, { maxObjectBytes: size })
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

        const got = await reader.get('crash/blob')
        if (got !== undefined) {
          expect(got.unusable).toBeUndefined()
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

describeGatewayStateContract('fs', async () => {
  const dir = await tempRoot()
  return { store: new FsBlobStore(join(dir, 'data')), cleanup: () => rm(dir, { recursive: true, force: true }) }
})
