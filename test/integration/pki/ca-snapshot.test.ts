// CaSnapshot: no copy of the CA key with a name, not even after kill -9; stale copies swept; rotation for both engines.
import { execFile, spawn } from 'node:child_process'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { fstatSync } from 'node:fs'
import { chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CaSnapshot } from '../../../src/pki/ca-snapshot'
import type { CaSnapshotOptions } from '../../../src/pki/ca-snapshot'
import { isIssuedBy } from '../../../src/pki/certificates'
import type { CredentialMinter } from '../../../src/pki/credential-minter'
import { NodeCredentialMinter } from '../../../src/pki/node-credential-minter'
import { OpensslCredentialMinter } from '../../../src/pki/openssl-credential-minter'
import { runOpenssl } from '../../../src/pki/run-openssl'
import { StationSimulator } from '../../support/station-simulator'

const execFileAsync = promisify(execFile)
const repoRoot = path.resolve(__dirname, '..', '..', '..')
const EUI = '0011223344556677'

interface TestCa {
  readonly der: Buffer
  readonly pem: Buffer
  readonly keyPem: Buffer
}

let root: string
let first: TestCa
let second: TestCa

/** A fresh CA whose files are deleted at once: from then on, any file holding its key is a copy. */
async function makeCa(name: string): Promise<TestCa> {
  const dir = await mkdtemp(path.join(root, 'make-ca-'))
  try {
    await execFileAsync('openssl', [
      'req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
      '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.crt'), '-subj', `/CN=${name}`, '-days', '30',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ])
    const pem = await readFile(path.join(dir, 'ca.crt'))
    return { der: new X509Certificate(pem).raw, pem, keyPem: await readFile(path.join(dir, 'ca.key')) }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** What a copy of the key would contain, PEM or DER: the first base64 line and the private scalar. */
function keyNeedles(keyPem: Buffer): Buffer[] {
  const base64Line = keyPem.toString('latin1').split('\n').find((line) => /^[A-Za-z0-9+/=]{40,}$/.test(line))
  const scalar = createPrivateKey(keyPem).export({ format: 'jwk' }).d
  if (base64Line === undefined || scalar === undefined) throw new Error('unexpected key shape')
  return [Buffer.from(base64Line), Buffer.from(scalar, 'base64url')]
}

/** Regular files under dir (symlinks not followed, FIFOs never opened) that contain any needle. */
async function filesHolding(dir: string, needles: readonly Buffer[], skip: readonly string[] = []): Promise<string[]> {
  const found: string[] = []
  const walk = async (current: string, depth: number): Promise<void> => {
    let names: string[]
    try {
      names = await readdir(current)
    } catch {
      return // gone meanwhile, or another user's
    }
    for (const name of names) {
      const file = path.join(current, name)
      if (skip.includes(file)) continue
      const stats = await lstat(file).catch(() => undefined)
      if (stats?.isDirectory() === true && depth < 12) await walk(file, depth + 1)
      else if (stats?.isFile() === true && stats.size < 4 * 1024 * 1024) {
        const content = await readFile(file).catch(() => undefined)
        if (content !== undefined && needles.some((needle) => content.includes(needle))) found.push(file)
      }
    }
  }
  await walk(dir, 0)
  return found
}

/** A private tmpRoot per test, so no sweep here touches what other processes keep in os.tmpdir(). */
async function freshRoot(): Promise<string> {
  return mkdtemp(path.join(root, 'tmp-'))
}

async function snapshot(ca: TestCa, options: CaSnapshotOptions): Promise<CaSnapshot> {
  return CaSnapshot.create(ca.der, ca.keyPem, options)
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'cups-snapshot-test-'))
  ;[first, second] = await Promise.all([makeCa('First gateway CA'), makeCa('Second gateway CA')])
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe.runIf(process.platform === 'linux')('on Linux: anonymous files', () => {
  it('leaves no file holding the key in the temp dir, and no directory at all', async () => {
    const tmpRoot = await freshRoot()
    const ca = await snapshot(first, { tmpRoot })
    try {
      await new OpensslCredentialMinter({ ca, validityDays: 1, tmpRoot }).mint(EUI)
      expect(await readdir(tmpRoot)).toEqual([])
      expect(await filesHolding(os.tmpdir(), keyNeedles(first.keyPem))).toEqual([])
      // The check can fail: the needles are found in a file that does hold the key.
      await writeFile(path.join(tmpRoot, 'planted.pem'), first.keyPem)
      expect(await filesHolding(os.tmpdir(), keyNeedles(first.keyPem))).toEqual([path.join(tmpRoot, 'planted.pem')])
    } finally {
      await ca.remove()
    }
  })

  it('gives an OpenSSL child read-only descriptors of unlinked files, reached as /proc/self/fd/3 and 4', async () => {
    const ca = await snapshot(first, { tmpRoot: await freshRoot() })
    const lease = ca.lease()
    try {
      expect([lease.certPath, lease.keyPath]).toEqual(['/proc/self/fd/3', '/proc/self/fd/4'])
      const [certFd, keyFd] = lease.fds
      if (certFd === undefined || keyFd === undefined) throw new Error('no descriptors')
      expect(fstatSync(keyFd).nlink).toBe(0)
      expect(fstatSync(keyFd).mode & 0o777).toBe(0o400)
      expect(await readlink(`/proc/self/fd/${keyFd}`)).toMatch(/\/ca\.key \(deleted\)$/)
      // What OpenSSL reads through them, twice: each open starts at offset 0.
      for (let i = 0; i < 2; i++) {
        const { stdout } = await runOpenssl(['pkey', '-in', lease.keyPath, '-pubout'], { timeoutMs: 5_000, fds: lease.fds })
        expect(stdout.toString()).toContain('BEGIN PUBLIC KEY')
      }
    } finally {
      lease.release()
      await ca.remove()
    }
  })

  it('closes a replaced version once its last lease is released, not before', async () => {
    const ca = await snapshot(first, { tmpRoot: await freshRoot() })
    try {
      const lease = ca.lease()
      const keyFd = lease.fds[1] ?? -1
      const inode = fstatSync(keyFd).ino
      await ca.write(second.der, second.keyPem)
      expect(fstatSync(keyFd).ino).toBe(inode)
      const next = ca.lease()
      expect(next.fds).not.toContain(keyFd)
      next.release()
      lease.release()
      lease.release()
      // Closed: either EBADF or, should the number be reused already, another file.
      let after: bigint | number | undefined
      try {
        after = fstatSync(keyFd).ino
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('EBADF')
      }
      expect(after).not.toBe(inode)
    } finally {
      await ca.remove()
    }
  })

  it('leaves nothing after kill -9 of the real server: not in TMPDIR, not anywhere in the temp dir', { timeout: 60_000 }, async () => {
    for (const engine of ['openssl', 'node'] as const) {
      const home = await mkdtemp(path.join(root, `server-${engine}-`))
      const tmpdir = path.join(home, 'tmp')
      await mkdir(tmpdir)
      const server = await startServerProcess(home, tmpdir, engine)
      try {
        const station = new StationSimulator({ router: '::1', home: path.join(home, 'station') })
        await station.setFile('cups.uri', `https://localhost:${server.port}`)
        await station.setFile('cups.trust', await readFile(path.join(home, 'certs', 'ca.crt')))
        expect((await station.contact()).status).toBe(200)
        const needles = keyNeedles(await readFile(path.join(home, 'certs', 'ca.key')))
        const sourceKey = path.join(home, 'certs', 'ca.key')

        // Alive and minted: the key is held as deleted files only, and nothing of ours in TMPDIR has a name
        // (ts-node keeps a v8-compile-cache there).
        const ours = async (): Promise<string[]> => (await readdir(tmpdir)).filter((name) => name.startsWith('cups-'))
        expect(await ours()).toEqual([])
        const links = await Promise.all((await readdir(`/proc/${server.pid}/fd`)).map((fd) => readlink(`/proc/${server.pid}/fd/${fd}`).catch(() => '')))
        expect(links.filter((link) => link.startsWith(path.join(tmpdir, 'cups-ca-'))).sort()).toEqual([
          expect.stringMatching(/\/ca\.crt \(deleted\)$/),
          expect.stringMatching(/\/ca\.key \(deleted\)$/),
        ])

        await server.kill()
        expect(await ours()).toEqual([])
        expect(await filesHolding(tmpdir, needles)).toEqual([])
        expect(await filesHolding(os.tmpdir(), needles, [sourceKey])).toEqual([])
      } finally {
        await server.kill()
      }
    }
  })
})

describe('sweeping copies older versions and crashed processes left', () => {
  it('removes our stale directories at create and nothing else', async () => {
    const tmpRoot = await freshRoot()
    const at = (name: string): string => path.join(tmpRoot, name)
    const dead = await deadPid()
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' })
    try {
      // Stale: an older version's layout (cups-ca-XXXXXX/ca.crt, ca.key), and a dead process's tagged directory.
      for (const name of ['cups-ca-Ab3xYz', `cups-ca-${dead}-Qw9rTy`]) {
        await mkdir(at(name), { mode: 0o700 })
        await writeFile(path.join(at(name), 'ca.key'), first.keyPem, { mode: 0o600 })
        await writeFile(path.join(at(name), 'ca.crt'), first.pem)
      }
      // Kept: a live process's directory, a file, a symlink (not followed), look-alike names, another user's directory.
      await mkdir(at(`cups-ca-${String(sleeper.pid)}-Live01`))
      await writeFile(at('cups-ca-File01'), 'x')
      const elsewhere = await mkdtemp(path.join(root, 'elsewhere-'))
      await writeFile(path.join(elsewhere, 'keep'), 'x')
      await symlink(elsewhere, at('cups-ca-Link01'))
      await mkdir(at('cups-cakes'))
      await mkdir(at('cups-ca-backup-of-2024'))
      await mkdir(at('cups-mint-Xy12Zz'))
      const foreign = process.getuid?.() === 0
      if (foreign) {
        await mkdir(at('cups-ca-Other1'))
        await chown(at('cups-ca-Other1'), 65534, 65534)
      }

      const ca = await snapshot(first, { tmpRoot })
      await ca.remove()
      expect((await readdir(tmpRoot)).sort()).toEqual(
        [`cups-ca-${String(sleeper.pid)}-Live01`, 'cups-ca-Link01', 'cups-ca-backup-of-2024', 'cups-ca-File01', 'cups-cakes', 'cups-mint-Xy12Zz', ...(foreign ? ['cups-ca-Other1'] : [])].sort(),
      )
      expect(await readdir(elsewhere)).toEqual(['keep'])
      expect(await filesHolding(tmpRoot, keyNeedles(first.keyPem))).toEqual([])
    } finally {
      sleeper.kill('SIGKILL')
    }
  })

  it('does not break a snapshot of a live process: a second create in the same root sweeps around it', async () => {
    const tmpRoot = await freshRoot()
    for (const namedFiles of [false, true]) {
      const running = await snapshot(first, { tmpRoot, namedFiles })
      const starting = await snapshot(second, { tmpRoot, namedFiles })
      try {
        const { certificate } = await new OpensslCredentialMinter({ ca: running, validityDays: 1, tmpRoot }).mint(EUI)
        expect(isIssuedBy(certificate, first.der)).toBe(true)
      } finally {
        await Promise.all([running.remove(), starting.remove()])
      }
    }
    expect(await readdir(tmpRoot)).toEqual([])
  })
})

describe('CA rotation: write()', () => {
  const engines: [string, (ca: CaSnapshot, tmpRoot: string) => CredentialMinter][] = [
    ['openssl', (ca, tmpRoot) => new OpensslCredentialMinter({ ca, validityDays: 1, tmpRoot })],
    ['node', (ca) => new NodeCredentialMinter({ ca, validityDays: 1 })],
  ]
  const layouts = process.platform === 'linux' ? [false, true] : [true]

  for (const namedFiles of layouts) {
    it.each(engines)(`the next %s mint comes from the new CA (${namedFiles ? 'named files' : 'anonymous files'})`, async (_engine, make) => {
      const tmpRoot = await freshRoot()
      const ca = await snapshot(first, { tmpRoot, namedFiles })
      try {
        const minter = make(ca, tmpRoot)
        expect(isIssuedBy((await minter.mint(EUI)).certificate, first.der)).toBe(true)
        await ca.write(second.der, second.keyPem)
        const rotated = new X509Certificate((await minter.mint(EUI)).certificate)
        expect(rotated.issuer).toBe('CN=Second gateway CA')
        expect(rotated.verify(new X509Certificate(second.pem).publicKey)).toBe(true)
        await ca.write(first.der, first.keyPem)
        expect(new X509Certificate((await minter.mint(EUI)).certificate).issuer).toBe('CN=First gateway CA')
      } finally {
        await ca.remove()
      }
      expect(await readdir(tmpRoot)).toEqual([])
    })

    it.each(engines)(`%s mints during repeated swaps each use one whole pair (${namedFiles ? 'named files' : 'anonymous files'})`, async (_engine, make) => {
      const tmpRoot = await freshRoot()
      const ca = await snapshot(first, { tmpRoot, namedFiles })
      try {
        const minter = make(ca, tmpRoot)
        let swaps = 0
        const swapping = setInterval(() => {
          const next = ++swaps % 2 === 0 ? first : second
          void ca.write(next.der, next.keyPem)
        }, 2)
        const results = await Promise.all(Array.from({ length: 24 }, () => minter.mint(EUI))).finally(() => {
          clearInterval(swapping)
        })
        expect(swaps).toBeGreaterThan(2)
        for (const { certificate } of results) {
          expect(isIssuedBy(certificate, first.der) !== isIssuedBy(certificate, second.der)).toBe(true)
        }
      } finally {
        await ca.remove()
      }
      expect(await readdir(tmpRoot)).toEqual([])
    })
  }

  it('finishes an OpenSSL mint that took its lease before the swap with the old CA', async () => {
    const tmpRoot = await freshRoot()
    const ca = await snapshot(first, { tmpRoot })
    try {
      let entered: () => void = () => undefined
      const inRun = new Promise<void>((resolve) => (entered = resolve))
      // Holds the lease across a swap before the process starts: the descriptors must still be open.
      const slowRun: typeof runOpenssl = async (args, options) => {
        entered()
        await new Promise((resolve) => setTimeout(resolve, 100))
        return runOpenssl(args, options)
      }
      const minter = new OpensslCredentialMinter({ ca, validityDays: 1, tmpRoot, runOpenssl: slowRun })
      const before = minter.mint(EUI)
      await inRun
      await ca.write(second.der, second.keyPem)
      expect(isIssuedBy((await before).certificate, first.der)).toBe(true)
      expect(isIssuedBy((await minter.mint(EUI)).certificate, second.der)).toBe(true)
    } finally {
      await ca.remove()
    }
  })

  it('refuses write() and lease() after remove()', async () => {
    const ca = await snapshot(first, { tmpRoot: await freshRoot() })
    await ca.remove()
    await expect(ca.write(second.der, second.keyPem)).rejects.toThrow(/removed/)
    expect(() => ca.lease()).toThrow(/removed/)
  })
})

describe('the named-files fallback', () => {
  it('keeps each version in a 0700 directory of 0400 files, deleted on remove()', async () => {
    const tmpRoot = await freshRoot()
    const ca = await snapshot(first, { tmpRoot, namedFiles: true })
    const lease = ca.lease()
    expect(lease.fds).toEqual([])
    expect((await stat(path.dirname(lease.keyPath))).mode & 0o777).toBe(0o700)
    expect((await stat(lease.keyPath)).mode & 0o777).toBe(0o400)
    expect(await readFile(lease.keyPath)).toEqual(first.keyPem)
    lease.release()
    await ca.remove()
    expect(await readdir(tmpRoot)).toEqual([])
  })

  it('deletes its files when the process exits without remove(); after kill -9 the next create sweeps them', async () => {
    const tmpRoot = await freshRoot()
    const script = `
      const { CaSnapshot } = require(${JSON.stringify(path.join(repoRoot, 'src', 'pki', 'ca-snapshot'))})
      const fs = require('node:fs')
      CaSnapshot.create(fs.readFileSync(process.argv[1]), fs.readFileSync(process.argv[2]), { tmpRoot: process.argv[3], namedFiles: true })
        .then(() => {
          process.stdout.write('ready\\n')
          if (process.argv[4] === 'exit') process.exit(0)
          else setInterval(() => undefined, 1000)
        })`
    const der = path.join(root, 'first.der')
    const keyFile = path.join(root, 'first.key')
    await writeFile(der, first.der)
    await writeFile(keyFile, first.keyPem)
    try {
      const child = (how: string): Promise<{ pid: number; exited: Promise<unknown> }> =>
        new Promise((resolve, reject) => {
          const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script, der, keyFile, tmpRoot, how], {
            cwd: repoRoot,
            stdio: ['ignore', 'pipe', 'inherit'],
          })
          const exited = new Promise((done) => proc.once('exit', done))
          proc.once('error', reject)
          proc.stdout.once('data', () => {
            resolve({ pid: proc.pid ?? -1, exited })
          })
        })
      const exiting = await child('exit')
      await exiting.exited
      expect(await readdir(tmpRoot)).toEqual([])

      const killed = await child('wait')
      expect(await readdir(tmpRoot)).toEqual([expect.stringMatching(new RegExp(`^cups-ca-${killed.pid}-`))])
      process.kill(killed.pid, 'SIGKILL')
      await killed.exited
      expect(await filesHolding(tmpRoot, keyNeedles(first.keyPem))).toHaveLength(1)
      await (await snapshot(second, { tmpRoot })).remove()
      expect(await readdir(tmpRoot)).toEqual([])
    } finally {
      await rm(keyFile, { force: true })
    }
  })
})

/** A pid no process has: one that just exited. */
async function deadPid(): Promise<number> {
  const proc = spawn('true', { stdio: 'ignore' })
  await new Promise((resolve) => proc.once('exit', resolve))
  return proc.pid ?? 999_999
}

interface ServerProcess {
  readonly pid: number
  readonly port: number
  kill(): Promise<void>
}

/** The real server (index.ts under ts-node) with its own TMPDIR, in its own process group. */
function startServerProcess(home: string, tmpdir: string, engine: 'openssl' | 'node'): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--require', require.resolve('ts-node/register/transpile-only'), path.join(repoRoot, 'index.ts')], {
    cwd: home,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      TMPDIR: tmpdir,
      TS_NODE_PROJECT: path.join(repoRoot, 'tsconfig.json'),
      HOST: '127.0.0.1',
      PORT: '0',
      ADMIN_PORT: '0',
      CERT_PATH: path.join(home, 'certs'),
      DATA_DIR: path.join(home, 'data'),
      TC_URI: 'wss://localhost:8887',
      BOOTSTRAP_POLICY: 'open',
      MINT_ENGINE: engine,
      LOG_LEVEL: 'info',
    },
  })
  const pid = child.pid ?? -1
  const closed = new Promise<void>((resolve) => child.once('close', () => {
    resolve()
  }))
  let stopped = false
  const kill = async (): Promise<void> => {
    if (!stopped) {
      stopped = true
      try {
        process.kill(-pid, 'SIGKILL')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
      }
    }
    await closed
  }
  let output = ''
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void kill()
      reject(new Error(`the server did not start within 30 s:\n${output}`))
    }, 30_000)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`the server exited early (${String(code ?? signal)}):\n${output}`))
    })
    let pending = ''
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString()
      let newline: number
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline)
        pending = pending.slice(newline + 1)
        output += `${line}\n`
        let entry: { msg?: unknown; port?: unknown }
        try {
          entry = JSON.parse(line) as { msg?: unknown; port?: unknown }
        } catch {
          continue // not a log line (ts-node or Node warnings)
        }
        if (entry.msg === 'CUPS server listening' && typeof entry.port === 'number') {
          clearTimeout(timer)
          resolve({ pid, port: entry.port, kill })
        }
      }
    })
  })
}
