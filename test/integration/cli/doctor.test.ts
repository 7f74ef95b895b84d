// `cups-server doctor` as an operator runs it (dist/cli.js) on each storage: its lines, its JSON, its exit status, and what it leaves alone.
import { X509Certificate } from 'node:crypto'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXIT, runCli } from '../../../src/cli/run-cli'
import type { DoctorCheck } from '../../../src/doctor/doctor-check'
import { parseCertificateTime } from '../../../src/pki/certificate-expiry'
import { ensureDevPki } from '../../../src/pki/dev-pki'
import { storageKeys } from '../../../src/storage/storage-keys'
import { CLI_STORAGES, runCliBinary } from '../../support/cli-binary'
import type { CliStorage } from '../../support/cli-binary'
import { issue } from '../../support/test-certificates'
import { makeS3TestStore } from '../storage/s3-test-bucket'
import type { S3TestHarness } from '../storage/s3-test-bucket'
import { startS3rver } from '../storage/s3rver-server'
import type { RunningS3rver } from '../storage/s3rver-server'

const DAY_MS = 86_400_000
const quiet = { log: () => undefined }
const eui = (n: number): string => n.toString(16).padStart(16, '0')

function need(env: Readonly<Record<string, string>>, name: string): string {
  const value = env[name]
  if (value === undefined) throw new Error(`the storage sets no ${name}`)
  return value
}

function parseChecks(stdout: string): DoctorCheck[] {
  const checks = JSON.parse(stdout) as DoctorCheck[]
  for (const check of checks) {
    expect(Object.keys(check).sort()).toEqual(['check', 'detail', 'status'])
    expect(['ok', 'warn', 'fail']).toContain(check.status)
  }
  return checks
}

/** A copy of the dev PKI whose server certificate (CN and DNS localhost, from the same CA) expired yesterday. */
async function expiredServerPki(devPki: string, dir: string): Promise<string> {
  const certs = path.join(dir, 'certs')
  await mkdir(certs, { recursive: true })
  for (const file of ['ca.crt', 'ca.key']) await copyFile(path.join(devPki, file), path.join(certs, file))
  const leaf = await issue(path.join(dir, 'issue'), { cert: path.join(certs, 'ca.crt'), key: path.join(certs, 'ca.key') }, {
    subject: '/CN=localhost',
    dnsNames: ['localhost'],
    extendedKeyUsage: 'serverAuth',
    notBefore: new Date(Date.now() - 30 * DAY_MS),
    notAfter: new Date(Date.now() - DAY_MS),
  })
  await writeFile(path.join(certs, 'cups.crt'), leaf.cert)
  await writeFile(path.join(certs, 'cups.key'), leaf.key)
  return certs
}

for (const kind of CLI_STORAGES) {
  describe.skipIf(!kind.enabled)(`cups-server doctor on ${kind.name}`, () => {
    let storage: CliStorage
    let certPath: string
    const keys = (n: number) => storageKeys('cups/', eui(n))
    const doctor = (env: Readonly<Record<string, string>> = {}, args: readonly string[] = []) =>
      runCliBinary(['doctor', ...args], {
        env: { ...storage.env, CUPS_URI: 'https://localhost:8443', TC_URI: 'wss://localhost:8887', ...env },
        cwd: storage.dir,
      })

    beforeAll(async () => {
      storage = await kind.create()
      certPath = need(storage.env, 'CERT_PATH')
    })
    afterAll(() => storage.cleanup())

    it('without a PKI: a FAIL naming CERT_PATH, and neither the dev PKI nor DATA_DIR is created', async () => {
      const result = await doctor()
      expect(result.status).toBe(EXIT.failed)
      expect(result.stdout).toMatch(
        new RegExp(`^FAIL  cert path: CERT_PATH ${certPath} holds none of ca\\.crt, ca\\.key, cups\\.crt, cups\\.key; the server generates a development PKI there at its first start`, 'm'),
      )
      expect(existsSync(certPath)).toBe(false)
      if (kind.name === 'fs') {
        expect(result.stdout).toMatch(/^warn  storage: filesystem DATA_DIR .* does not exist yet; the server creates it at its first start/m)
        expect(existsSync(need(storage.env, 'DATA_DIR'))).toBe(false)
      } else {
        expect(result.stdout).toMatch(/^ok {4}storage: S3 bucket /m)
      }
    })

    it('with the development PKI and a valid record: ok lines and warnings only (exit 0), and only the record stays', async () => {
      await ensureDevPki(certPath, quiet)
      await storage.store.put(keys(1).settings, Buffer.from('{"name":"roof"}\n'))
      const result = await doctor()
      expect(result.status).toBe(EXIT.ok)
      const lines = result.stdout.split('\n').filter((line) => line !== '')
      expect(lines.every((line) => /^(ok {4}|warn {2})[a-z ]+: /.test(line))).toBe(true)
      expect(result.stdout).toMatch(/^ok {4}configuration: the environment is valid: /m)
      expect(result.stdout).toMatch(/^ok {4}storage: .* is readable and writable \(probe cups\/doctor-probe-[0-9a-f]{12} written, read back and deleted\)$/m)
      expect(result.stdout).toMatch(/^ok {4}clock: this host's clock agrees with the storage's \(the probe/m)
      expect(result.stdout).toMatch(/^ok {4}pki files: gateway CA "CN=CUPS Development CA \(NOT FOR PRODUCTION\)" matches ca\.key/m)
      expect(result.stdout).toMatch(/^ok {4}tls files: server certificate "CN=localhost" matches cups\.key/m)
      expect(result.stdout).toMatch(/^ok {4}trust chain: the server certificate verifies against cups\.trust/m)
      expect(result.stdout).toMatch(/^ok {4}cups uri host: localhost \(CUPS_URI\) is a name of the server certificate/m)
      expect(result.stdout).toMatch(new RegExp(`^ok {4}server certificate: valid until \\d{4}-\\d\\d-\\d\\d \\(${certPath}/cups\\.crt\\)$`, 'm'))
      expect(result.stdout).toMatch(/^ok {4}ca certificate: valid until /m)
      expect(result.stdout).toMatch(/^warn  development pki: CERT_PATH .* holds the generated DEVELOPMENT PKI .*NOT FOR PRODUCTION/m)
      expect(result.stdout).toMatch(/^ok {4}gateway records: 1 record, all valid$/m)
      expect(await storage.store.list('')).toEqual([keys(1).settings])
    })

    it('--json: an array of {check, status, detail}', async () => {
      const result = await doctor({}, ['--json'])
      expect(result.status).toBe(EXIT.ok)
      const checks = parseChecks(result.stdout)
      expect(checks.map((check) => check.check)).toEqual(expect.arrayContaining(['configuration', 'cert path', 'trust chain', 'storage', 'clock', 'gateway records']))
      expect(checks).toContainEqual(expect.objectContaining({ check: 'development pki', status: 'warn' }))
      expect(checks.filter((check) => check.status === 'fail')).toEqual([])
    })

    it('records that do not count: a warning with each EUI and its first problem, still exit 0', async () => {
      await storage.store.put(keys(0xaa).settings, Buffer.from('not json'))
      await storage.store.put(keys(0xbb).settings, Buffer.from('{"cupsUri":"https://cups.example.com:443/path"}'))
      const result = await doctor()
      expect(result.status).toBe(EXIT.ok)
      expect(result.stdout).toMatch(
        /^warn {2}gateway records: 2 of 3 records do not count, .*: 00000000000000aa \(gateway\.json is not valid JSON\); 00000000000000bb \(cupsUri: must not have a path/m,
      )
      await storage.store.delete(keys(0xaa).settings)
      await storage.store.delete(keys(0xbb).settings)
    })

    it('a CUPS_URI host the server certificate does not name: FAIL (exit 1), in the words start uses', async () => {
      const result = await doctor({ CUPS_URI: 'https://cups.example.com:8443' })
      expect(result.status).toBe(EXIT.failed)
      expect(result.stdout).toMatch(/^ok {4}trust chain: /m)
      expect(result.stdout).toMatch(
        new RegExp(`^FAIL  cups uri host: CERT_PATH: ${certPath}/cups\\.crt: the cups uri host "cups\\.example\\.com" does not match the server certificate`, 'm'),
      )
    })

    it('an expired server certificate: FAIL with its date and file, and the trust chain fails as at start', async () => {
      const expired = await expiredServerPki(certPath, path.join(storage.dir, 'expired'))
      const result = await doctor({ CERT_PATH: expired })
      expect(result.status).toBe(EXIT.failed)
      const notAfter = new X509Certificate(await readFile(path.join(expired, 'cups.crt'))).validTo
      const day = parseCertificateTime(notAfter).toISOString().slice(0, 10)
      expect(result.stdout).toMatch(new RegExp(`^FAIL  server certificate: expired ${day} \\(${expired}/cups\\.crt\\): stations refuse to connect$`, 'm'))
      expect(result.stdout).toMatch(new RegExp(`^FAIL  trust chain: CERT_PATH: ${expired}/cups\\.crt: the server certificate .* expired at `, 'm'))
      // The name is still checked on its own.
      expect(result.stdout).toMatch(/^ok {4}cups uri host: /m)
    })

    it('a bad environment: one FAIL per problem and no other check (exit 1)', async () => {
      const result = await doctor({ PORT: 'eighty', STORAGE_PREFIX: '../up' })
      expect(result.status).toBe(EXIT.failed)
      const lines = result.stdout.split('\n').filter((line) => line !== '')
      expect(lines).toHaveLength(2)
      expect(lines).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^FAIL  configuration: PORT: must be a whole number/) as unknown,
          expect.stringMatching(/^FAIL  configuration: STORAGE_PREFIX: /) as unknown,
        ]),
      )
    })
  })
}

describe('cups-server doctor on an S3 endpoint nothing answers', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cups-doctor-s3-'))
    await ensureDevPki(path.join(dir, 'certs'), quiet)
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('FAILs the storage naming bucket, endpoint and probe; the checks that need storage are not run', async () => {
    const env = {
      S3_BUCKET_NAME: 'cups-doctor',
      S3_BUCKET_ENDPOINT: 'http://127.0.0.1:1',
      S3_ACCESS_KEY_ID: 'key',
      S3_SECRET_ACCESS_KEY: 'secret',
      STORAGE_TIMEOUT_MS: '1000',
      CERT_PATH: path.join(dir, 'certs'),
      CUPS_URI: 'https://localhost:8443',
    }
    const result = await runCliBinary(['doctor'], { env, cwd: dir })
    expect(result.status).toBe(EXIT.failed)
    expect(result.stdout).toMatch(
      /^FAIL  storage: S3 bucket cups-doctor at http:\/\/127\.0\.0\.1:1: the probe object cups\/doctor-probe-[0-9a-f]{12} could not be written: s3 storage: put cups-doctor\/cups\/doctor-probe-.*ECONNREFUSED/m,
    )
    expect(result.stdout).toMatch(/^ok {4}trust chain: /m)
    expect(result.stdout).not.toMatch(/^\S+ +(gateway records|clock): /m)
  })
})

// radosgw runs only in CI; s3rver (in this process) takes the binary through the S3 code path here too.
describe('cups-server doctor on s3rver', () => {
  let dir: string
  let s3rver: RunningS3rver
  let bucket: S3TestHarness
  let env: Record<string, string>
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cups-doctor-s3rver-'))
    await ensureDevPki(path.join(dir, 'certs'), quiet)
    s3rver = await startS3rver('cups-doctor-s3rver-data-', 5000)
    bucket = await makeS3TestStore(s3rver.client)
    const endpoint = await s3rver.client.config.endpoint?.()
    env = {
      S3_BUCKET_NAME: bucket.bucket,
      S3_BUCKET_ENDPOINT: `http://${endpoint?.hostname ?? ''}:${String(endpoint?.port ?? '')}`,
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      CERT_PATH: path.join(dir, 'certs'),
      CUPS_URI: 'https://localhost:8443',
      TC_URI: 'wss://localhost:8887',
    }
  })
  afterAll(async () => {
    await bucket.cleanup()
    await s3rver.close()
    await rm(dir, { recursive: true, force: true })
  })

  it("round-trips the probe, compares the clock with the probe's Last-Modified and reads the records", async () => {
    await bucket.store.put(storageKeys('cups/', eui(7)).settings, Buffer.from('{"state":"paused"}'))
    const result = await runCliBinary(['doctor', '--json'], { env, cwd: dir })
    expect(result.status).toBe(EXIT.ok)
    const checks = parseChecks(result.stdout)
    expect(checks).toContainEqual({ check: 'storage', status: 'ok', detail: expect.stringMatching(/^S3 bucket cups-test-[0-9a-f]+ at http:\/\/127\.0\.0\.1:\d+ is readable and writable/) as unknown })
    expect(checks).toContainEqual({ check: 'clock', status: 'ok', detail: expect.stringMatching(/\(the probe's S3 Last-Modified\)/) as unknown })
    expect(checks).toContainEqual(expect.objectContaining({ check: 'gateway records', status: 'warn', detail: expect.stringContaining(`${eui(7)} (gateway.json: state must be one of`) as unknown }))
    expect(await bucket.store.list('')).toEqual([storageKeys('cups/', eui(7)).settings])
  })
})

describe('cups-server doctor, the clock (in process, on the filesystem store)', () => {
  let dir: string
  let env: Record<string, string>
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cups-doctor-clock-'))
    await ensureDevPki(path.join(dir, 'certs'), quiet)
    await mkdir(path.join(dir, 'data'))
    env = { DATA_DIR: path.join(dir, 'data'), CERT_PATH: path.join(dir, 'certs'), CUPS_URI: 'https://localhost:8443', TC_URI: 'wss://localhost:8887' }
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  async function doctorAt(now: () => Date): Promise<{ status: number; checks: DoctorCheck[] }> {
    let stdout = ''
    const status = await runCli(['doctor', '--json'], { env, cwd: dir, now, stdout: { write: (text: string) => (stdout += text) }, stderr: { write: () => true } })
    return { status, checks: parseChecks(stdout) }
  }

  it("FAILs a clock ten minutes ahead of the storage's (the probe file's mtime)", async () => {
    const { status, checks } = await doctorAt(() => new Date(Date.now() + 10 * 60_000))
    expect(status).toBe(EXIT.failed)
    expect(checks).toContainEqual({
      check: 'clock',
      status: 'fail',
      detail: expect.stringMatching(/^this host's clock is (10 min|9 min 5\d s) ahead of the storage's \(the probe file's mtime\): /) as unknown,
    })
  })

  it("FAILs a clock before the gateway CA's notBefore", async () => {
    const { status, checks } = await doctorAt(() => new Date('2001-01-01T00:00:00Z'))
    expect(status).toBe(EXIT.failed)
    expect(checks).toContainEqual({ check: 'clock', status: 'fail', detail: expect.stringMatching(/^this host's clock says 2001-01-01T00:00:00\.000Z, before the gateway CA's notBefore /) as unknown })
    expect(checks).toContainEqual({ check: 'ca certificate', status: 'fail', detail: expect.stringMatching(/^not valid before /) as unknown })
  })
})
