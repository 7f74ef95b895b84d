// The real server process refusing to start: one line on stderr naming the variable and the path, no stack, exit 1.
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnServer } from '../support/spawn-server'
import { startTestServer } from '../support/test-server'

interface Refusal {
  readonly code: number | null
  readonly stderr: string
  readonly stdout: string
}

describe('startup errors name the variable and the path, without a stack', () => {
  let root: string
  let pki: string

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'cups-startup-errors-'))
    // A complete PKI, generated once in-process; each case copies it and breaks one thing.
    const first = await startTestServer({}, path.join(root, 'pki'))
    await first.stop()
    pki = path.join(root, 'pki', 'certs')
  })
  afterAll(async () => {
    await rm(root, { recursive: true, force: true })
  })

  /** A directory with its own copy of the PKI; prepare breaks it before the server starts there. */
  const refuse = async (name: string, env: Record<string, string>, prepare: (dir: string) => Promise<void> = () => Promise.resolve()): Promise<Refusal & { dir: string }> => {
    const dir = path.join(root, name)
    await cp(pki, path.join(dir, 'certs'), { recursive: true })
    await prepare(dir)
    const server = spawnServer({
      cwd: dir,
      env: { PORT: '0', ADMIN_PORT: '0', CERT_PATH: path.join(dir, 'certs'), DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'info', ...env },
    })
    const { code } = await server.closed
    return { code, stderr: server.stderr(), stdout: server.stdout(), dir }
  }

  const expectOneLine = (refusal: Refusal, line: string | RegExp): void => {
    expect(refusal.code).toBe(1)
    expect(refusal.stderr).not.toMatch(/^\s+at /m)
    expect(refusal.stdout).not.toMatch(/could not start|\\n\s+at /)
    const lines = refusal.stderr.trimEnd().split('\n')
    expect(lines).toHaveLength(1)
    if (typeof line === 'string') expect(lines[0]).toBe(line)
    else expect(lines[0]).toMatch(line)
  }

  it('CERT_PATH: ca.key is a directory', async () => {
    const refusal = await refuse('ca-key-dir', {}, async (dir) => {
      await rm(path.join(dir, 'certs', 'ca.key'))
      await mkdir(path.join(dir, 'certs', 'ca.key'))
    })
    expectOneLine(refusal, `CERT_PATH: ${path.join(refusal.dir, 'certs', 'ca.key')}: cannot be read (EISDIR)`)
  })

  it('CERT_PATH: ca.key is missing', async () => {
    const refusal = await refuse('ca-key-missing', {}, (dir) => rm(path.join(dir, 'certs', 'ca.key')))
    const certs = path.join(refusal.dir, 'certs')
    expectOneLine(refusal, new RegExp(`^CERT_PATH: incomplete certificate set in ${certs}: .*missing ca\\.key`))
  })

  it('CERT_PATH: cups.crt holds no certificate', async () => {
    const refusal = await refuse('cups-crt-garbage', {}, (dir) => writeFile(path.join(dir, 'certs', 'cups.crt'), 'not a certificate\n'))
    expectOneLine(refusal, new RegExp(`^CERT_PATH: ${path.join(refusal.dir, 'certs', 'cups.crt')}: holds no certificate`))
  })

  it.each(['TC_TRUST_PATH', 'CUPS_TRUST_PATH', 'BOOTSTRAP_CA_PATH'])('%s: the file is missing', async (variable) => {
    const missing = path.join(root, `no-such-${variable}.crt`)
    const refusal = await refuse(`missing-${variable}`, { [variable]: missing })
    expectOneLine(refusal, `${variable}: ${missing}: cannot be read (ENOENT)`)
  })

  it('BOOTSTRAP_ALLOWLIST: the file is missing (relative to the working directory)', async () => {
    const refusal = await refuse('allowlist', { BOOTSTRAP_ALLOWLIST: './gateways.txt' })
    expectOneLine(refusal, `BOOTSTRAP_ALLOWLIST: ${path.join(refusal.dir, 'gateways.txt')}: cannot be read (ENOENT)`)
  })

  it('DATA_DIR: a regular file where the directory should be', async () => {
    const refusal = await refuse('data-file', {}, (dir) => writeFile(path.join(dir, 'data'), 'in the way'))
    expectOneLine(refusal, `DATA_DIR: ${path.join(refusal.dir, 'data')}: is not a directory (EEXIST)`)
  })

  it('PORT: already in use', async () => {
    const holder = net.createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const address = holder.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    try {
      const refusal = await refuse('port', { PORT: String(port) })
      expectOneLine(refusal, `PORT: 127.0.0.1:${port}: is already in use (EADDRINUSE)`)
    } finally {
      await new Promise((resolve) => holder.close(resolve))
    }
  })

  it('ADMIN_PORT: already in use', async () => {
    const holder = net.createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const address = holder.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    try {
      const refusal = await refuse('admin-port', { ADMIN_PORT: String(port) })
      expectOneLine(refusal, `ADMIN_PORT: 127.0.0.1:${port}: is already in use (EADDRINUSE)`)
    } finally {
      await new Promise((resolve) => holder.close(resolve))
    }
  })

  it('an invalid configuration is listed without a stack', async () => {
    const refusal = await refuse('config', { IDLE_TIMEOUT_MS: '2000', TLS_HANDSHAKE_TIMEOUT_MS: '3000' })
    expect(refusal.code).toBe(1)
    expect(refusal.stderr).not.toMatch(/^\s+at /m)
    expect(refusal.stderr.trimEnd()).toBe(
      'invalid configuration:\n- TLS_HANDSHAKE_TIMEOUT_MS (3000) must be less than IDLE_TIMEOUT_MS (2000): ' +
        'an unfinished handshake should be cut off sooner than an idle connection',
    )
  })
})
