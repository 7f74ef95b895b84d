// Owns the fleet-scale goals: P4, many new gateways converging at once, and P6, a reboot storm of provisioned gateways.
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { buildCredentialBlob } from '../src/cups/credential-blob'
import { crc32 } from '../src/cups/crc32'
import { NodeCredentialMinter } from '../src/pki/node-credential-minter'
import { storageKeys } from '../src/storage/storage-keys'
import { postUpdateInfo, runLoad, stationTlsContext, summarise } from './load-client'
import type { LoadRun } from './load-client'
import { startServerProcess } from './server-process'
import type { ServerOptions } from './server-process'
import { applyFirstAnswer, firstContactReport, stationBody } from './station'

const TC_URI = 'wss://localhost:8887'
const NO_CHANGE = Buffer.alloc(14)

export interface StormRun {
  readonly gateways: number
  readonly concurrency: number
  readonly load: LoadRun
  /** Gateways whose second poll was "no change" (P4) / polls answered "no change" (P6). */
  readonly converged: number
  readonly peakRssMiB: number
}

const euiOf = (prefix: number, i: number): string => `${prefix.toString(16).padStart(4, '0')}${i.toString(16).padStart(12, '0')}`

/**
 * P4: `count` gateways nobody has seen, `concurrency` at a time, each a first contact (two mints, MINT_ENGINE=node)
 * and then the poll a station makes next, which must be "no change" (converged).
 */
export async function newGatewayStorm(options: Omit<ServerOptions, 'logLevel' | 'logFile'>, count = 10_000, concurrency = 50): Promise<StormRun> {
  const server = await startServerProcess({
    ...options,
    mintEngine: 'node',
    logLevel: 'warn',
    logFile: path.join(options.workDir, 'storm-new.log'),
    env: { MAX_CONNECTIONS_PER_ADDRESS: String(concurrency + 10), MINT_CONCURRENCY: '4' },
  })
  try {
    const trustDer = new X509Certificate(server.caPem).raw
    const anonymous = stationTlsContext(server.caPem)
    let converged = 0
    const samples = await runLoad({ count, maxMs: 15 * 60_000, concurrency }, async (i) => {
      const eui = euiOf(0x0d00, i)
      const first = await postUpdateInfo({ port: server.port, body: stationBody(eui, firstContactReport(server.port, trustDer)), tls: anonymous, agent: false, timeoutMs: 60_000 })
      if (first.status !== 200) throw new Error(`first contact: status ${String(first.status)}`)
      const station = applyFirstAnswer(eui, server.port, first.body)
      const second = await postUpdateInfo({ port: server.port, body: station.noChangeBody, tls: station.tls, agent: false, timeoutMs: 60_000 })
      if (second.status !== 200 || !second.body.equals(NO_CHANGE)) throw new Error(`second poll: status ${String(second.status)}, ${String(second.body.length)} bytes`)
      converged++
      return { ...second, latencyMs: first.latencyMs + second.latencyMs }
    })
    return { gateways: count, concurrency, load: summarise([samples]), converged, peakRssMiB: server.sample().peakRssKiB / 1024 }
  } finally {
    await server.stop()
  }
}

/**
 * P6: `count` provisioned gateways (their bundles minted in-process and written into DATA_DIR as another tool would,
 * before the server starts) all reconnecting at once, `concurrency` at a time, each a fresh mTLS poll.
 */
export async function rebootStorm(options: Omit<ServerOptions, 'logLevel' | 'logFile'>, count = 5_000, concurrency = 200): Promise<StormRun> {
  const certs = path.join(options.workDir, 'certs')
  const dataDir = path.join(options.workDir, 'data')
  const minter = new NodeCredentialMinter({ caCertPath: path.join(certs, 'ca.crt'), caKeyPath: path.join(certs, 'ca.key'), validityDays: 365, maxConcurrent: 4 })
  const trust = new X509Certificate(readFileSync(path.join(certs, 'ca.crt'))).raw
  const stations = []
  for (let i = 0; i < count; i++) {
    const eui = euiOf(0x0e00, i)
    const [cups, tc] = await Promise.all([minter.mint(eui), minter.mint(eui)])
    const cupsBlob = buildCredentialBlob({ trust, certificate: cups.certificate, privateKey: cups.privateKey })
    const tcBlob = buildCredentialBlob({ trust, certificate: tc.certificate, privateKey: tc.privateKey })
    const keys = storageKeys('cups/', eui)
    await mkdir(path.join(dataDir, path.dirname(keys.cupsCredentials)), { recursive: true, mode: 0o700 })
    await writeFile(path.join(dataDir, keys.cupsCredentials), cupsBlob, { mode: 0o600 })
    await writeFile(path.join(dataDir, keys.tcCredentials), tcBlob, { mode: 0o600 })
    stations.push({ eui, cupsBlob, tcBlob, certificate: cups.certificate, key: cups.privateKey })
  }
  const server = await startServerProcess({
    ...options,
    logLevel: 'warn',
    logFile: path.join(options.workDir, 'storm-reboot.log'),
    env: { MAX_CONNECTIONS_PER_ADDRESS: String(concurrency + 10), MAX_CONNECTIONS: String(concurrency * 2) },
  })
  try {
    const requests = stations.map((station) => ({
      tls: stationTlsContext(server.caPem, {
        cert: new X509Certificate(station.certificate).toString(),
        key: createPrivateKey({ key: station.key, format: 'der', type: 'sec1' }).export({ format: 'pem', type: 'sec1' }).toString(),
      }),
      body: stationBody(station.eui, { cupsUri: `https://localhost:${String(server.port)}`, tcUri: TC_URI, cupsCredCrc: crc32(station.cupsBlob), tcCredCrc: crc32(station.tcBlob) }),
    }))
    let converged = 0
    const samples = await runLoad({ count, maxMs: 10 * 60_000, concurrency }, async (i) => {
      const request = requests[i]
      if (request === undefined) throw new Error(`no station ${String(i)}`)
      const reply = await postUpdateInfo({ port: server.port, body: request.body, tls: request.tls, agent: false, timeoutMs: 60_000 })
      if (reply.status !== 200) throw new Error(`status ${String(reply.status)}`)
      if (reply.body.equals(NO_CHANGE)) converged++
      return reply
    })
    return { gateways: count, concurrency, load: summarise([samples]), converged, peakRssMiB: server.sample().peakRssKiB / 1024 }
  } finally {
    await server.stop()
  }
}
