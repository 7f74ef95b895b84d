// Owns issue 3's storage faults on radosgw: a server whose radosgw is stopped, then frozen, answers 200 "no change" within a bounded time, logs and counts it, and recovers without a restart.
//
// The server talks to a radosgw daemon of its own (`radosgw.sh start-gateway` with a private RGW_NAME and port,
// same cluster): stopping or freezing it never disturbs the shared gateway on 7480 that other suites use at the
// same time. Mon and OSD keep running, so the data survives the outage, as with a real S3 endpoint going away.
//
// Gated like test/integration/storage/radosgw-blob-store.test.ts: under CI=true it always runs and fails when
// radosgw is unreachable; without CI it skips with a message.
import { execFile } from 'node:child_process'
import { readFile, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

import type { S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'

import { formatId6 } from '../../../src/cups/router-id'
import { createS3Client } from '../../../src/storage/s3-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'
import { makeS3TestStore } from '../storage/s3-test-bucket'
import type { S3TestHarness } from '../storage/s3-test-bucket'
import type { ContactResult } from '../../support/station-simulator'
import { StationSimulator } from '../../support/station-simulator'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'
import { isReachable, RADOSGW, radosgwGate } from '../../support/radosgw'
import { freePort } from '../../support/free-port'
import { adminGet } from '../../support/admin-get'

const { endpoint, accessKeyId, secretAccessKey } = RADOSGW
const { reachable: up, enabled } = radosgwGate('the storage outage suite')

const script = path.resolve(__dirname, '..', '..', 's3', 'radosgw.sh')
const cephDir = process.env.CEPH_DIR ?? '/tmp/cups-ceph'

const STORAGE_TIMEOUT_MS = 500
/** The second server's whole-request deadline, far below its storage timeout, so the deadline is what answers. */
const DEADLINE_MS = 600
/** What "bounded" means here: a station's CUPS session gives up far later, and the server's deadline is 10.5 s. */
const ANSWER_BOUND_MS = 5000
const NO_CHANGE = Buffer.alloc(14)

const run = promisify(execFile)

/** update-info answers by outcome, from the latency histogram's counts. */
const outcomeCount = (text: string, outcome: string): number => counter(text, `cups_update_info_duration_seconds_count{outcome="${outcome}"}`)
const answered200 = (text: string): number => outcomeCount(text, 'updated') + outcomeCount(text, 'no_change')
const answeredOtherThan200 = (text: string): number =>
  ['bad_request', 'forbidden', 'not_registered', 'error'].reduce((sum, outcome) => sum + outcomeCount(text, outcome), 0)

async function getMetrics(server: TestServer): Promise<string> {
  return (await adminGet(server.adminPort, '/metrics')).body
}

/** One counter series from the Prometheus text, 0 when absent. */
function counter(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

interface Timed {
  readonly result: ContactResult
  readonly ms: number
}

async function timedContact(station: StationSimulator): Promise<Timed> {
  const started = performance.now()
  const result = await station.contact()
  return { result, ms: performance.now() - started }
}

describe.skipIf(!enabled)('storage outage on radosgw', () => {
  let dir: string | undefined
  let s3: S3Client | undefined
  let bucket: S3TestHarness | undefined
  let server: TestServer | undefined
  let gatewayEnv: NodeJS.ProcessEnv | undefined
  let privatePort = 0
  let s3Env: Record<string, string> = {}
  let gatewayRunning = false

  const gateway = async (command: 'start-gateway' | 'stop-gateway' | 'remove-gateway'): Promise<void> => {
    await run('bash', [script, command], { env: gatewayEnv, timeout: 60_000 })
    gatewayRunning = command === 'start-gateway'
  }
  const gatewayPid = async (): Promise<number> =>
    Number((await readFile(path.join(cephDir, 'pids', `rgw.${String(gatewayEnv?.RGW_NAME)}.pid`), 'utf8')).trim())

  const srv = (): TestServer => {
    if (server === undefined) throw new Error('the server did not start (see the first failure)')
    return server
  }
  const readyz = async (): Promise<{ status: number; json: { status: string; checks: Record<string, string> } }> => {
    const response = await adminGet(srv().adminPort, '/readyz')
    return { status: response.status, json: JSON.parse(response.body) as { status: string; checks: Record<string, string> } }
  }
  const newStation = async (eui: string): Promise<StationSimulator> => {
    const station = new StationSimulator({ router: formatId6(eui), home: path.join(srv().dir, 'stations', eui) })
    await station.setFile('cups.uri', `https://localhost:${srv().port}`)
    await station.setFile('cups.trust', srv().caPem)
    return station
  }
  /** Error lines (pino level 50) that name this gateway. */
  const errorLines = (eui: string): Record<string, unknown>[] =>
    srv()
      .logLines.map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.level === 50 && entry.eui === eui)

  /** Contacts until the station converges: credentials first, then 14 zero bytes. */
  const expectProvisions = async (station: StationSimulator, eui: string): Promise<void> => {
    const first = await station.contact()
    expect(first.status).toBe(200)
    expect(first.segments?.cupsCredentials, `${eui} got no CUPS credentials`).toBeDefined()
    expect(first.segments?.tcCredentials, `${eui} got no TC credentials`).toBeDefined()
    const next = await station.contact()
    expect(next.mode).toBe('both')
    expect(next.status).toBe(200)
    expect(next.body.equals(NO_CHANGE), `${eui} did not converge: ${next.body.toString('hex')}`).toBe(true)
  }

  /** The stopped or frozen radosgw: 200 with exactly 14 zero bytes, in bounded time, station files untouched. */
  const expectNoChangeInTime = async (station: StationSimulator, eui: string): Promise<number> => {
    const before = await station.requestBody()
    const { result, ms } = await timedContact(station)
    expect(result.status, `${eui}: ${result.body.toString()}`).toBe(200)
    expect(result.body.equals(NO_CHANGE), `${eui}: ${result.body.toString('hex')}`).toBe(true)
    expect(ms, `${eui} answered after ${Math.round(ms)} ms`).toBeLessThan(ANSWER_BOUND_MS)
    expect(await station.requestBody()).toBe(before)
    return ms
  }

  beforeAll(async () => {
    // Unreachable under CI: the first test fails and says so; nothing here would work.
    if (!up) return
    const port = await freePort()
    privatePort = port
    gatewayEnv = { ...process.env, CEPH_DIR: cephDir, RGW_NAME: `outage${port}`, RGW_PORT: String(port) }
    await gateway('start-gateway')
    // The bucket is made and removed through the shared gateway, which stays up throughout.
    s3 = createS3Client({ region: 'us-east-1', endpoint, accessKeyId, secretAccessKey, forcePathStyle: true, timeoutMs: 10_000, maxAttempts: 1 })
    bucket = await makeS3TestStore(s3)
    s3Env = {
      S3_BUCKET_NAME: bucket.bucket,
      S3_BUCKET_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_ACCESS_KEY_ID: accessKeyId,
      S3_SECRET_ACCESS_KEY: secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
      CACHE_TTL_SECONDS: '0',
    }
    dir = await mkdtemp(path.join(os.tmpdir(), 'cups-outage-'))
    server = await startTestServer({ ...s3Env, STORAGE_TIMEOUT_MS: String(STORAGE_TIMEOUT_MS) }, dir)
  })

  afterAll(async () => {
    // A failed test may leave the daemon frozen; it must be able to handle SIGTERM.
    if (gatewayRunning) {
      try {
        process.kill(await gatewayPid(), 'SIGCONT')
      } catch {
        // already gone
      }
    }
    await server?.stop()
    // Stops the private daemon and forgets its cephx key, so runs do not pile up gateways in the cluster.
    if (gatewayEnv !== undefined) await gateway('remove-gateway')
    await bucket?.cleanup()
    s3?.destroy()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  const provisioned = '0a11ce0000a10001'
  const newcomer = '0a11ce0000a10002'
  const frozenNewcomer = '0a11ce0000a10003'
  let provisionedStation: StationSimulator
  let newcomerStation: StationSimulator

  it('can reach radosgw (required under CI=true)', () => {
    expect(up, `radosgw is not reachable at ${endpoint}; start it with: bash test/s3/radosgw.sh start`).toBe(true)
  })

  it('provisions a gateway while storage is up', async () => {
    provisionedStation = await newStation(provisioned)
    await expectProvisions(provisionedStation, provisioned)
    expect(await srv().metrics.value('storage_failures_total')).toBe(0)
    const ready = await readyz()
    expect(ready.status).toBe(200)
    expect(ready.json).toEqual({ status: 'ready', checks: { storage: 'ok', pki: 'ok', shutdown: 'ok' } })
  })

  it('answers 200 "no change" within the bound while radosgw is stopped, and logs and counts every failure', async () => {
    const metricsBefore = await getMetrics(srv())
    await gateway('stop-gateway')
    expect(isReachable(`http://127.0.0.1:${privatePort}`), 'the private radosgw still answers').toBe(false)

    newcomerStation = await newStation(newcomer)
    await expectNoChangeInTime(newcomerStation, newcomer)
    await expectNoChangeInTime(provisionedStation, provisioned)
    // A second round: the failure is not a one-off that the first request used up.
    await expectNoChangeInTime(newcomerStation, newcomer)

    // The last answer is counted once it has gone out, which may trail the client by a moment.
    await vi.waitFor(async () => {
      expect(answered200(await getMetrics(srv()))).toBe(5)
    })
    const metricsAfter = await getMetrics(srv())
    const failures = (text: string): number =>
      counter(text, 'cups_storage_failures_total') + counter(text, 'cups_deadline_exceeded_total')
    expect(failures(metricsAfter) - failures(metricsBefore)).toBeGreaterThanOrEqual(3)
    expect(await srv().metrics.value('storage_failures_total')).toBeGreaterThanOrEqual(3)
    // Never 5xx: every update-info answer so far was a 200.
    expect(answeredOtherThan200(metricsAfter)).toBe(0)
    expect(answered200(metricsAfter)).toBe(5)
    for (const eui of [newcomer, provisioned]) {
      const lines = errorLines(eui)
      expect(lines.length, `no error logged for ${eui}`).toBeGreaterThanOrEqual(1)
      expect(JSON.stringify(lines[0]?.err)).toContain('s3 storage')
    }
  })

  it('is unready while radosgw is stopped: /readyz answers 503 naming the storage, and cups_ready is 0', async () => {
    // Past the one second a readiness report is reused for.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const unready = await readyz()
    expect(unready.status).toBe(503)
    expect(unready.json.status).toBe('unready')
    expect(unready.json.checks.storage).toMatch(/s3 storage|no answer within/)
    expect(unready.json.checks.pki).toBe('ok')
    expect(counter(await getMetrics(srv()), 'cups_ready')).toBe(0)
    // Alive all the same: a restart would not bring the storage back.
    expect((await adminGet(srv().adminPort, '/healthz')).status).toBe(200)
  })

  it('serves again once radosgw is back, without a restart: the new gateway provisions and converges', async () => {
    const portBefore = srv().port
    await gateway('start-gateway')
    await new Promise((resolve) => setTimeout(resolve, 1100))
    expect((await readyz()).status).toBe(200)
    expect(counter(await getMetrics(srv()), 'cups_ready')).toBe(1)
    await expectProvisions(newcomerStation, newcomer)
    const { result } = await timedContact(provisionedStation)
    expect(result.status).toBe(200)
    expect(result.body.equals(NO_CHANGE)).toBe(true)
    // The same server instance all along, exactly one bundle of each kind for the newcomer, and the record of
    // the certificate it converged with.
    expect(srv().port).toBe(portBefore)
    const keys = await bucket?.store.list(`cups/${newcomer}/`)
    const expected = storageKeys('cups/', newcomer)
    expect(keys).toEqual([expected.cupsCredentials, expected.inventory, expected.lastAuthentication, expected.tcCredentials])
  })

  it('answers 200 "no change" within the bound while radosgw is frozen (slow storage), then recovers', async () => {
    const failuresBefore = await srv().metrics.value('storage_failures_total')
    // A second server on the same bucket and CA whose storage calls would wait 5 s: its response deadline answers first.
    const patient = await startTestServer({ ...s3Env, STORAGE_TIMEOUT_MS: '5000', RESPONSE_DEADLINE_MS: String(DEADLINE_MS) }, srv().dir)
    try {
      const pid = await gatewayPid()
      const station = await newStation(frozenNewcomer)
      process.kill(pid, 'SIGSTOP')
      try {
        // Each answer waited for the S3 client's own timeout: the requests reached a daemon that never replied.
        expect(await expectNoChangeInTime(station, frozenNewcomer)).toBeGreaterThanOrEqual(STORAGE_TIMEOUT_MS)
        expect(await expectNoChangeInTime(provisionedStation, provisioned)).toBeGreaterThanOrEqual(STORAGE_TIMEOUT_MS)
        // The provisioned gateway (its bundle is stored, so the abandoned request can do no harm later) on the
        // patient server: answered by the deadline, not by storage.
        await provisionedStation.setFile('cups.uri', `https://localhost:${patient.port}`)
        const ms = await expectNoChangeInTime(provisionedStation, provisioned)
        expect(ms).toBeGreaterThanOrEqual(DEADLINE_MS - 20)
        expect(ms).toBeLessThan(DEADLINE_MS + 2000)
      } finally {
        process.kill(pid, 'SIGCONT')
        await provisionedStation.setFile('cups.uri', `https://localhost:${srv().port}`)
      }
      expect(await srv().metrics.value('storage_failures_total') - failuresBefore).toBeGreaterThanOrEqual(2)
      expect(errorLines(frozenNewcomer).length).toBeGreaterThanOrEqual(1)
      expect(await patient.metrics.value('deadline_exceeded_total')).toBe(1)
      const deadlineLines = patient.logLines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((entry) => entry.level === 40 && entry.eui === provisioned && String(entry.msg).includes('deadline'))
      expect(deadlineLines, 'no warning logged for the deadline').toHaveLength(1)
      expect(answeredOtherThan200(await getMetrics(patient))).toBe(0)
    } finally {
      await patient.stop()
    }
    // Thawed: the gateway that got "no change" while storage hung now provisions, with no restart.
    await expectProvisions(await newStation(frozenNewcomer), frozenNewcomer)
  })
})
