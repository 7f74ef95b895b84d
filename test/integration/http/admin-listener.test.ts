// The admin listener of a real server: health, readiness and every metric on plain HTTP; the gateway port serves /update-info only; one log line per request.
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import https from 'node:https'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { COUNTERS, GAUGES, HISTOGRAMS } from '../../../src/observability/metrics'
import { adminGet } from '../../support/admin-get'
import { counterValue, httpsGet } from '../../support/spawn-server'
import { StationSimulator } from '../../support/station-simulator'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'

const EUI = 'a0b1c2d3e4f50607'

/** POSTs a raw body to /update-info over TLS without a client certificate. */
function postUpdateInfo(server: TestServer, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      { host: '127.0.0.1', port: server.port, servername: 'localhost', path: '/update-info', method: 'POST', ca: server.caPem, agent: false },
      (response) => {
        response.resume()
        response.on('end', () => {
          resolve(response.statusCode ?? 0)
        })
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}

const outcomes = async (server: TestServer): Promise<Record<string, number>> => {
  const text = (await adminGet(server.adminPort, '/metrics')).body
  return Object.fromEntries(
    ['updated', 'no_change', 'bad_request', 'forbidden', 'not_registered', 'error'].map((outcome) => [
      outcome,
      counterValue(text, `cups_update_info_duration_seconds_count{outcome="${outcome}"}`),
    ]),
  )
}

const lines = (server: TestServer): Record<string, unknown>[] => server.logLines.map((line) => JSON.parse(line) as Record<string, unknown>)

describe('the admin listener', () => {
  let server: TestServer
  let station: StationSimulator

  beforeAll(async () => {
    server = await startTestServer()
    station = new StationSimulator({ router: EUI, home: path.join(server.dir, 'station') })
    await station.setFile('cups.uri', `https://localhost:${server.port}`)
    await station.setFile('cups.trust', server.caPem)
  })
  afterAll(async () => {
    await server.stop()
  })

  it('answers /healthz and /readyz on its own plain-HTTP port, 127.0.0.1 by default', async () => {
    expect(server.config.admin.host).toBe('127.0.0.1')
    expect(server.adminPort).not.toBe(server.port)
    const health = await adminGet(server.adminPort, '/healthz')
    expect(health.status).toBe(200)
    expect(JSON.parse(health.body)).toEqual({ status: 'ok' })
    const ready = await adminGet(server.adminPort, '/readyz')
    expect(ready.status).toBe(200)
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready', checks: { storage: 'ok', pki: 'ok', shutdown: 'ok' } })
  })

  it('leaves nothing but /update-info on the gateway port', async () => {
    for (const urlPath of ['/healthz', '/readyz', '/metrics']) expect((await httpsGet(server.port, urlPath, server.caPem)).status).toBe(404)
  })

  it('exports every declared metric, the build and Node process metrics, in the Prometheus text format', async () => {
    const metrics = await adminGet(server.adminPort, '/metrics')
    expect(metrics.status).toBe(200)
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/)
    const types: Record<string, string> = {}
    for (const match of metrics.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types[match[1] ?? ''] = match[2] ?? ''
    for (const name of Object.keys(COUNTERS)) expect(types[`cups_${name}`], name).toBe('counter')
    for (const name of Object.keys(HISTOGRAMS)) expect(types[`cups_${name}`], name).toBe('histogram')
    for (const name of Object.keys(GAUGES)) expect(types[`cups_${name}`], name).toBe('gauge')
    expect(metrics.body).toMatch(new RegExp(`^cups_build_info\\{version="\\d+\\.\\d+\\.\\d+",node_version="${process.version}",mint_engine="openssl",storage="filesystem"\\} 1$`, 'm'))
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(types[name], name).toBeDefined()
    }
    expect(counterValue(metrics.body, 'cups_ready')).toBe(1)
  })

  it('shows when the server certificate and the CA expire', async () => {
    const text = (await adminGet(server.adminPort, '/metrics')).body
    const notAfter = async (file: string): Promise<number> => Date.parse(new X509Certificate(await readFile(file)).validTo) / 1000
    expect(counterValue(text, 'cups_server_certificate_expiry_timestamp_seconds')).toBe(await notAfter(server.config.tls.serverCertFile))
    expect(counterValue(text, 'cups_ca_certificate_expiry_timestamp_seconds')).toBe(await notAfter(server.config.tls.caCertFile))
    // No gateway certificate at all yet: +Inf, so an "expires within" alert stays quiet.
    expect(text).toMatch(/^cups_gateway_certificate_soonest_expiry_timestamp_seconds\{kind="cups"\} \+Inf$/m)
  })

  it('counts polls by outcome with their latency, mints by engine and storage calls by operation', async () => {
    const before = await outcomes(server)
    const first = await station.contact()
    expect(first.segments?.cupsCredentials).toBeDefined()
    const second = await station.contact()
    expect(second.body.equals(Buffer.alloc(14))).toBe(true)
    expect(await postUpdateInfo(server, '{not json')).toBe(400)
    // The gateway holds credentials now: a caller without them may not act for it.
    expect(await postUpdateInfo(server, JSON.stringify(await station.requestBody().then((body) => JSON.parse(body) as unknown)))).toBe(403)
    // Counted once the response has gone out, which may be a moment after the client has read it.
    await vi.waitFor(async () => {
      const after = await outcomes(server)
      expect({
        updated: (after.updated ?? 0) - (before.updated ?? 0),
        no_change: (after.no_change ?? 0) - (before.no_change ?? 0),
        bad_request: (after.bad_request ?? 0) - (before.bad_request ?? 0),
        forbidden: (after.forbidden ?? 0) - (before.forbidden ?? 0),
        error: (after.error ?? 0) - (before.error ?? 0),
      }).toEqual({ updated: 1, no_change: 1, bad_request: 1, forbidden: 1, error: 0 })
    })
    const text = (await adminGet(server.adminPort, '/metrics')).body
    expect(counterValue(text, 'cups_mint_duration_seconds_count{engine="openssl"}')).toBe(2)
    expect(counterValue(text, 'cups_mint_duration_seconds_count{engine="node"}')).toBe(0)
    expect(counterValue(text, 'cups_credentials_minted_total{kind="cups"}')).toBe(1)
    expect(counterValue(text, 'cups_storage_operation_duration_seconds_count{operation="put"}')).toBeGreaterThanOrEqual(2)
    expect(counterValue(text, 'cups_storage_operation_duration_seconds_count{operation="get"}')).toBeGreaterThanOrEqual(1)
    expect(counterValue(text, 'cups_storage_errors_total{operation="get"}')).toBe(0)
    expect(counterValue(text, 'cups_update_info_duration_seconds_sum{outcome="updated"}')).toBeGreaterThan(0)
  })

  it('logs one line per request: EUI, proof, segments with the CRCs the station then reports, status, latency, a request id', async () => {
    const updateInfo = lines(server).filter((entry) => entry.msg === 'update-info')
    const provisioning = updateInfo.find((entry) => entry.outcome === 'updated')
    expect(provisioning).toMatchObject({ level: 30, eui: EUI, proof: 'bootstrap', status: 200 })
    expect(typeof provisioning?.latencyMs).toBe('number')
    const sent = provisioning?.sent as string[]
    expect(sent.map((entry) => entry.split(' ')[0])).toEqual(['cupsUri', 'tcUri', 'cupsCredentials', 'tcCredentials'].filter((segment) => sent.some((entry) => entry.startsWith(`${segment} `))))
    const cupsCredentials = sent.find((entry) => entry.startsWith('cupsCredentials '))
    const files = await Promise.all(['cups.trust', 'cups.crt', 'cups.key'].map((name) => station.file(name)))
    const length = files.reduce((sum, file) => sum + file.length, 0)
    expect(cupsCredentials).toBe(`cupsCredentials ${(await station.credentialCrc('cups')).toString(16).padStart(8, '0')}/${String(length)}`)
    expect(updateInfo.find((entry) => entry.outcome === 'no_change')).toMatchObject({ eui: EUI, proof: 'certificate', status: 200 })
    expect(updateInfo.find((entry) => entry.outcome === 'forbidden')).toMatchObject({ level: 40, eui: EUI, status: 403, code: 'FORBIDDEN' })
    expect(updateInfo.find((entry) => entry.outcome === 'bad_request')).toMatchObject({ level: 40, status: 400 })
    // Nothing else was logged about these requests: no Fastify request lines, no separate refusal line.
    expect(lines(server).filter((entry) => ['incoming request', 'request completed', 'request refused', 'bad request'].includes(String(entry.msg)))).toEqual([])
    const ids = updateInfo.map((entry) => String(entry.reqId))
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{8}-[0-9a-z]+$/)
    // The lines a request causes carry its id: the mint and the delivery both belong to the provisioning request.
    const audit = lines(server).filter((entry) => entry.audit === 'credential-minted' || entry.audit === 'credential-delivered')
    expect(audit.length).toBeGreaterThanOrEqual(2)
    for (const entry of audit) expect(entry, String(entry.audit)).toMatchObject({ reqId: provisioning?.reqId, eui: EUI })
  })

  it('finds the soonest gateway certificate in storage when it scans (at start, then every EXPIRY_SCAN_HOURS)', async () => {
    const restarted = await startTestServer({}, server.dir)
    try {
      const certificate = new X509Certificate(await station.file('cups.crt'))
      const expected = Date.parse(certificate.validTo) / 1000
      let value = Number.POSITIVE_INFINITY
      for (let i = 0; i < 50 && value === Number.POSITIVE_INFINITY; i++) {
        const text = (await adminGet(restarted.adminPort, '/metrics')).body
        value = counterValue(text, 'cups_gateway_certificate_soonest_expiry_timestamp_seconds{kind="cups"}')
        if (value === Number.POSITIVE_INFINITY) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(value).toBe(expected)
      expect(lines(restarted).some((entry) => entry.msg === 'gateway certificates scanned for expiry' && entry.gateways === 1)).toBe(true)
    } finally {
      await restarted.stop()
    }
  })
})

describe('the admin listener of a server that only serves registered gateways', () => {
  it('counts an unregistered gateway as not_registered', async () => {
    const server = await startTestServer({ BOOTSTRAP_POLICY: 'registered' })
    try {
      const station = new StationSimulator({ router: EUI, home: path.join(server.dir, 'station') })
      await station.setFile('cups.uri', `https://localhost:${server.port}`)
      await station.setFile('cups.trust', server.caPem)
      expect((await station.contact()).status).toBe(404)
      await vi.waitFor(async () => {
        expect((await outcomes(server)).not_registered).toBe(1)
      })
    } finally {
      await server.stop()
    }
  })
})
