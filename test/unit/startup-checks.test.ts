// Startup checks: file errors blamed on the variable that named the file, the DATA_DIR probe, listen failures.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StartupError } from '../../src/errors'
import { listenError, probeWritableDirectory, startupStep, toStartupError } from '../../src/startup-checks'

const files = [
  { variable: 'CERT_PATH', file: '/certs/ca.crt' },
  { variable: 'TC_TRUST_PATH', file: '/etc/lns/ca.crt' },
]

describe('toStartupError', () => {
  it('names the variable of the file an error message starts with', () => {
    const err = toStartupError(new Error('/etc/lns/ca.crt: cannot be read (ENOENT)'), { files })
    expect(err).toBeInstanceOf(StartupError)
    expect(err).toMatchObject({ variable: 'TC_TRUST_PATH', path: '/etc/lns/ca.crt', message: 'TC_TRUST_PATH: /etc/lns/ca.crt: cannot be read (ENOENT)' })
  })

  it('matches whole file names only', () => {
    const err = new Error('/certs/ca.crt.bak: cannot be read (ENOENT)')
    expect(toStartupError(err, { files })).toBe(err)
  })

  it('blames the fallback for other failures, in a few words for a failed system call', () => {
    const failure = Object.assign(new Error("EACCES: permission denied, mkdir '/certs'"), { code: 'EACCES', syscall: 'mkdir', path: '/certs' })
    expect((toStartupError(failure, { otherwise: { variable: 'CERT_PATH' } }) as Error).message).toBe('CERT_PATH: mkdir failed on /certs (EACCES)')
    const missing = Object.assign(new Error('ENOENT'), { code: 'ENOENT', syscall: 'open', path: '/factory.pem' })
    expect((toStartupError(missing, { otherwise: { variable: 'BOOTSTRAP_CA_PATH', path: '/factory.pem' } }) as Error).message).toBe(
      'BOOTSTRAP_CA_PATH: /factory.pem: cannot be read (ENOENT)',
    )
  })

  it('leaves programming errors alone, so they keep their stack', () => {
    const bug = new TypeError('/certs/ca.crt: x is not a function')
    expect(toStartupError(bug, { files, otherwise: { variable: 'CERT_PATH' } })).toBe(bug)
  })

  it('startupStep passes results through and converts failures', async () => {
    expect(await startupStep(() => 42, { files })).toBe(42)
    await expect(startupStep(() => Promise.reject(new Error('/certs/ca.crt: holds no certificate')), { files })).rejects.toThrow(
      'CERT_PATH: /certs/ca.crt: holds no certificate',
    )
  })
})

describe('probeWritableDirectory', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cups-probe-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('creates a missing directory and leaves nothing behind', async () => {
    const data = path.join(dir, 'new', 'data')
    await probeWritableDirectory('DATA_DIR', data)
    expect(await readdir(data)).toEqual([])
  })

  it('names the variable and the path when a regular file is in the way, or a parent is one', async () => {
    const file = path.join(dir, 'file')
    await writeFile(file, 'x')
    await expect(probeWritableDirectory('DATA_DIR', file)).rejects.toThrow(`DATA_DIR: ${file}: is not a directory (EEXIST)`)
    await expect(probeWritableDirectory('DATA_DIR', path.join(file, 'data'))).rejects.toThrow(
      `DATA_DIR: ${path.join(file, 'data')}: is not a directory (ENOTDIR)`,
    )
  })
})

describe('listenError', () => {
  it('names PORT for a port in use, from a real listen', async () => {
    const holder = net.createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const address = holder.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    const second = net.createServer()
    const failure = await new Promise<Error>((resolve) => {
      second.once('error', resolve)
      second.listen(port, '127.0.0.1')
    })
    await new Promise((resolve) => holder.close(resolve))
    expect((listenError(failure, '127.0.0.1', port) as Error).message).toBe(`PORT: 127.0.0.1:${port}: is already in use (EADDRINUSE)`)
  })

  it('names HOST for an address that is not ours, and leaves other errors alone', () => {
    const notOurs = Object.assign(new Error('x'), { code: 'EADDRNOTAVAIL' })
    expect((listenError(notOurs, '::2', 8443) as Error).message).toBe('HOST: [::2]:8443: is not an address of this machine (EADDRNOTAVAIL)')
    const other = new Error('something else')
    expect(listenError(other, '127.0.0.1', 8443)).toBe(other)
  })
})
