// OpensslCredentialMinter and runOpenssl against real OpenSSL: what a station needs, and every failure as MintingError.
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { MintingError } from '../../../src/errors'
import type { ClientCredential } from '../../../src/pki/credential-minter'
import { ensureDevPki } from '../../../src/pki/dev-pki'
import { isIssuedBy } from '../../../src/pki/certificates'
import type { OpensslCredentialMinterOptions } from '../../../src/pki/openssl-credential-minter'
import { OpensslCredentialMinter } from '../../../src/pki/openssl-credential-minter'
import { runOpenssl } from '../../../src/pki/run-openssl'
import { opensslCheck } from '../../support/openssl-cli'
import { expectStationReadyKey } from '../../support/credential-checks'

const execFileAsync = promisify(execFile)
const DAY_MS = 86_400_000
const EUI = '0011223344556677'


/** Wraps the real runOpenssl to record argv and how many processes overlap. */
function instrumentedRun(delayMs = 0) {
  const calls: string[][] = []
  let inFlight = 0
  const stats = { calls, maxInFlight: 0 }
  const run: typeof runOpenssl = async (args, options) => {
    calls.push([...args])
    inFlight++
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight)
    try {
      // Widens the window in which processes overlap, so a broken limit would show.
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
      return await runOpenssl(args, options)
    } finally {
      inFlight--
    }
  }
  return { run, stats }
}

async function rejection(promise: Promise<unknown>): Promise<MintingError> {
  const err: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(err).toBeInstanceOf(MintingError)
  return err as MintingError
}

let root: string
let pki: string
let tmpRoot: string
let caPem: Buffer
let caKeyBase64Lines: string[]

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'cups-minter-test-'))
  pki = path.join(root, 'pki')
  await ensureDevPki(pki, { log: () => undefined })
  caPem = await readFile(path.join(pki, 'ca.crt'))
  caKeyBase64Lines = (await readFile(path.join(pki, 'ca.key'), 'utf8')).split('\n').filter((line) => /^[A-Za-z0-9+/=]{16,}$/.test(line))
  tmpRoot = path.join(root, 'tmp')
  await mkdir(tmpRoot)
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

afterEach(async () => {
  // Every mint, failed or not, removes its private directory.
  expect(await readdir(tmpRoot)).toEqual([])
})

function minter(overrides: Partial<OpensslCredentialMinterOptions> = {}): OpensslCredentialMinter {
  return new OpensslCredentialMinter({
    caCertPath: path.join(pki, 'ca.crt'),
    caKeyPath: path.join(pki, 'ca.key'),
    validityDays: 365,
    tmpRoot,
    ...overrides,
  })
}

describe('a minted credential', () => {
  let credential: ClientCredential
  let argv: string[]
  let mintedAt: number

  beforeAll(async () => {
    const { run, stats } = instrumentedRun()
    mintedAt = Date.now()
    credential = await minter({ runOpenssl: run }).mint(EUI)
    expect(stats.calls).toHaveLength(1)
    argv = stats.calls[0] ?? []
  })

  it('passes openssl verify -purpose sslclient against the CA', async () => {
    const certFile = path.join(root, 'minted.pem')
    await writeFile(certFile, new X509Certificate(credential.certificate).toString())
    await expect(opensslCheck(['verify', '-CAfile', path.join(pki, 'ca.crt'), '-purpose', 'sslclient', certFile])).resolves.toEqual({
      code: 0,
      output: `${certFile}: OK\n`,
    })
  })

  it('is issued and signed by the CA according to node:crypto', () => {
    const certificate = new X509Certificate(credential.certificate)
    const ca = new X509Certificate(caPem)
    expect(certificate.checkIssued(ca)).toBe(true)
    expect(certificate.verify(ca.publicKey)).toBe(true)
    expect(isIssuedBy(credential.certificate, caPem)).toBe(true)
  })

  it('has CN = the EUI, notAfter about now + validityDays, and that notAfter reported', () => {
    const certificate = new X509Certificate(credential.certificate)
    expect(certificate.subject).toBe(`CN=${EUI}`)
    expect(certificate.ca).toBe(false)
    expect(Math.abs(credential.notAfter.getTime() - (mintedAt + 365 * DAY_MS))).toBeLessThan(60_000)
    expect(credential.notAfter.getTime()).toBe(Date.parse(certificate.validTo))
  })

  it('carries the leaf extensions a client certificate needs', async () => {
    const { code, output } = await opensslCheck(['x509', '-inform', 'DER', '-noout', '-text', '-in', await derFile(credential.certificate)])
    expect(code).toBe(0)
    expect(output).toMatch(/Basic Constraints:\s+CA:FALSE/)
    expect(output).toMatch(/Key Usage:\s+Digital Signature, Key Encipherment/)
    expect(output).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication/)
    expect(output).toContain('Subject Key Identifier')
    expect(output).toContain('Authority Key Identifier')
    expect(output).toContain('ASN1 OID: prime256v1')
    expect(output).toContain('ecdsa-with-SHA256')
  })

  it('has a 121-byte SEC1 key (30 77) whose public key is the certificate key', async () => {
    await expectStationReadyKey(credential)
  })

  it('reports the serial it asked for: 16 random bytes, top bit clear, uppercase hex', () => {
    const serialArg = argv[argv.indexOf('-set_serial') + 1] ?? ''
    expect(serialArg).toMatch(/^0x[0-7][0-9a-f]{31}$/)
    expect(credential.serial).toBe(new X509Certificate(credential.certificate).serialNumber)
    expect(BigInt(`0x${credential.serial}`)).toBe(BigInt(serialArg))
    expect(credential.serial).toMatch(/^[0-9A-F]+$/)
  })

  it('is minted by one argv-only openssl req process that never writes the key to a file', () => {
    expect(argv.slice(0, 3)).toEqual(['req', '-x509', '-new'])
    expect(argv[argv.indexOf('-subj') + 1]).toBe(`/CN=${EUI}`)
    expect(argv[argv.indexOf('-keyout') + 1]).toBe('-')
  })
})

let derCount = 0
async function derFile(bytes: Buffer): Promise<string> {
  const file = path.join(root, `blob-${++derCount}.der`)
  await writeFile(file, bytes)
  return file
}

describe('mint() refusals and scheduling', () => {
  it.each(['', '001122334455667', '00112233445566778', '0011223344556G77', 'A011223344556677', '-CAkey /etc/x', '0011223344556677\n'])(
    'refuses EUI %j without running openssl',
    async (eui) => {
      const { run, stats } = instrumentedRun()
      const err = await rejection(minter({ runOpenssl: run }).mint(eui))
      expect(err.message).toMatch(/16 lowercase hex digits/)
      expect(stats.calls).toEqual([])
    },
  )

  it('gives concurrent mints of the same EUI distinct identities (CUPS and TC must not share a key)', async () => {
    const { run, stats } = instrumentedRun(50)
    const m = minter({ runOpenssl: run })
    const results = await Promise.all([m.mint(EUI), m.mint(EUI)])
    expect(stats.calls).toHaveLength(2)
    expect(new Set(results.map((r) => r.serial)).size).toBe(2)
    expect(results[0].privateKey.equals(results[1].privateKey)).toBe(false)
  })

  it('skips a queued mint whose request was answered meanwhile', async () => {
    const { run, stats } = instrumentedRun(100)
    const m = minter({ runOpenssl: run, maxConcurrent: 1 })
    const answered = new AbortController()
    const running = m.mint(EUI)
    const queued = m.mint('0011223344556678', answered.signal)
    answered.abort()
    await running
    await expect(queued).rejects.toThrow()
    expect(stats.calls).toHaveLength(1)
  })

  it.each([1, 2, 3])('runs at most maxConcurrent = %i processes at once, and uses them all', async (maxConcurrent) => {
    const { run, stats } = instrumentedRun(50)
    const m = minter({ runOpenssl: run, maxConcurrent })
    const euis = Array.from({ length: 7 }, (_, i) => `00000000000000${i.toString(16).padStart(2, '0')}`)
    const results = await Promise.all(euis.map((eui) => m.mint(eui)))
    expect(stats.calls).toHaveLength(7)
    expect(stats.maxInFlight).toBe(maxConcurrent)
    expect(results.map((r) => new X509Certificate(r.certificate).subject)).toEqual(euis.map((eui) => `CN=${eui}`))
    expect(new Set(results.map((r) => r.serial)).size).toBe(7)
  })
})

describe('mint() failures', () => {
  it('times out a stuck openssl and rejects with MintingError', async () => {
    // A FIFO nobody writes to: openssl blocks opening the CA key, like a hung network mount.
    const fifo = path.join(root, 'stuck-ca.key')
    await execFileAsync('mkfifo', [fifo])
    const started = Date.now()
    const err = await rejection(minter({ caKeyPath: fifo, timeoutMs: 300 }).mint(EUI))
    expect(err.message).toBe('openssl req: timed out after 300 ms')
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('reports a missing CA key with stderr kept for the log and a message that holds no output', async () => {
    const missing = path.join(root, 'no-such-dir', 'ca.key')
    const err = await rejection(minter({ caKeyPath: missing }).mint(EUI))
    expect(err.message).toBe('openssl req: failed with exit code 1')
    expect(err.code).toBe('MINTING_FAILED')
    expect(err.stderr).toContain(missing)
  })

  it('never puts CA key material in the message or stderr when the files are swapped', async () => {
    // The key given as the certificate: OpenSSL must not echo what it read.
    const err = await rejection(minter({ caCertPath: path.join(pki, 'ca.key'), caKeyPath: path.join(pki, 'ca.crt') }).mint(EUI))
    expect(err.message).toBe('openssl req: failed with exit code 1')
    expect(err.stderr.length).toBeGreaterThan(0)
    expect(caKeyBase64Lines.length).toBeGreaterThan(0)
    for (const line of caKeyBase64Lines) {
      expect(err.message).not.toContain(line)
      expect(err.stderr).not.toContain(line)
    }
    expect(`${err.message}${err.stderr}`).not.toContain('PRIVATE KEY')
  })

  it('fails an encrypted CA key at once instead of prompting until the timeout', async () => {
    const encrypted = path.join(root, 'encrypted-ca.key')
    const { code } = await opensslCheck(['pkey', '-in', path.join(pki, 'ca.key'), '-aes256', '-passout', 'pass:secret', '-out', encrypted])
    expect(code).toBe(0)
    const err = await rejection(minter({ caKeyPath: encrypted, timeoutMs: 20_000 }).mint(EUI))
    expect(err.message).toBe('openssl req: failed with exit code 1')
    expect(err.stderr).toMatch(/issuer private key/)
  })

  it('wraps a temp-root failure in MintingError', async () => {
    const err = await rejection(minter({ tmpRoot: path.join(root, 'no-such-tmp') }).mint(EUI))
    expect(err.message).toMatch(/^minting failed: ENOENT/)
  })

  it('refuses a nonsensical validity at construction', () => {
    expect(() => minter({ validityDays: 0 })).toThrow(RangeError)
    expect(() => minter({ validityDays: 1.5 })).toThrow(RangeError)
  })
})

describe('runOpenssl', () => {
  const saved = { PATH: process.env.PATH, OPENSSL_CONF: process.env.OPENSSL_CONF }
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) Reflect.deleteProperty(process.env, name)
      else process.env[name] = value
    }
  })

  it('returns stdout as bytes', async () => {
    const { stdout } = await runOpenssl(['version'], { timeoutMs: 5_000 })
    expect(Buffer.isBuffer(stdout)).toBe(true)
    expect(stdout.toString()).toMatch(/^OpenSSL 3\./)
  })

  it('gives the child stdin at EOF, so a command reading stdin finishes', async () => {
    const { stdout } = await runOpenssl(['dgst', '-sha256'], { timeoutMs: 5_000 })
    // SHA-256 of the empty input.
    expect(stdout.toString()).toContain('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  })

  it('does not pass the parent environment on (a broken OPENSSL_CONF there is ignored)', async () => {
    const badConf = path.join(root, 'broken-openssl.cnf')
    await writeFile(badConf, 'openssl_conf = init\n[init]\nproviders = provs\n[provs]\nbogus = bogus\n[bogus]\nmodule = /nonexistent/bogus.so\nactivate = 1\n')
    // The same command with that config inherited fails: proves the check below can fail.
    await expect(execFileAsync('openssl', ['dgst', '-sha256', badConf], { env: { ...process.env, OPENSSL_CONF: badConf } })).rejects.toThrow()
    process.env.OPENSSL_CONF = badConf
    await expect(runOpenssl(['dgst', '-sha256', badConf], { timeoutMs: 5_000 })).resolves.toBeDefined()
  })

  it('kills a child that outlives the timeout', async () => {
    const fifo = path.join(root, 'stuck-input')
    await execFileAsync('mkfifo', [fifo])
    const err = await rejection(runOpenssl(['dgst', '-sha256', fifo], { timeoutMs: 200 }))
    expect(err.message).toBe('openssl dgst: timed out after 200 ms')
  })

  it('kills a child whose output exceeds the cap', async () => {
    const err = await rejection(runOpenssl(['rand', String(2 * 1024 * 1024)], { timeoutMs: 5_000 }))
    expect(err.message).toBe('openssl rand: output exceeded 1048576 bytes')
  })

  it('reports a descriptor for the child that is not open, naming only the error code', async () => {
    const err = await rejection(runOpenssl(['version'], { timeoutMs: 5_000, fds: [987_654] }))
    expect(err.message).toBe('openssl version: could not be run (EBADF)')
  })

  it('reports a missing openssl executable', async () => {
    process.env.PATH = path.join(root, 'empty-path')
    const err = await rejection(runOpenssl(['version'], { timeoutMs: 5_000 }))
    expect(err.message).toMatch(/openssl executable was not found on PATH/)
  })

  it('keeps stderr of a failing command and names only the subcommand', async () => {
    const err = await rejection(runOpenssl(['x509', '-in', path.join(root, 'absent.pem'), '-noout'], { timeoutMs: 5_000 }))
    expect(err.message).toBe('openssl x509: failed with exit code 1')
    expect(err.stderr).toContain('absent.pem')
  })
})
