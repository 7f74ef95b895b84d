// Owns the firmware download benchmark: N stations fetching one signed update at once from the server, against a bare node:https floor.
import { spawn } from 'node:child_process'
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { FirmwareCatalogue } from '../src/firmware/firmware-catalogue'
import { activeRollout } from '../src/firmware/firmware-manifest'
import { keyCrcOf, signUpdate, stationKeyOf } from '../src/firmware/signing-keys'
import { FsBlobStore } from '../src/storage/fs-blob-store'
import { freePort } from '../test/support/free-port'
import { postUpdateInfo, stationTlsContext } from './load-client'
import { sampleProcess } from './proc-stats'
import { buildServer, startServerProcess } from './server-process'
import type { ServerOptions } from './server-process'
import { applyFirstAnswer, firstContactReport, stationBody } from './station'
import type { ProvisionedStation } from './station'

export interface DownloadRun {
  readonly downloads: number
  readonly updateBytes: number
  readonly wallMs: number
  /** Update bytes delivered per second, all downloads together. */
  readonly mbPerSecond: number
  readonly cpuMs: number
  readonly rssBeforeMiB: number
  readonly rssPeakMiB: number
  readonly rssGrowthMiB: number
  readonly failed: number
}

export interface FirmwareResults {
  readonly server: DownloadRun
  readonly floor: DownloadRun
  /** server throughput / floor throughput (P7 wants ≥ 0.8). */
  readonly throughputRatio: number
}

const MiB = 1024 * 1024

/** One download as a station makes it: a POST, then the body read and counted (never kept) up to Content-Length. */
function download(port: number, context: tls.SecureContext, body: string, updateBytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', secureContext: context }, () => {
      socket.write(`POST /update-info HTTP/1.1\r\nHost: localhost:${String(port)}\r\nContent-Type: application/json\r\nContent-Length: ${String(Buffer.byteLength(body))}\r\n\r\n${body}`)
    })
    let head = Buffer.alloc(0)
    let expected = -1
    let received = 0
    socket.on('data', (chunk: Buffer) => {
      if (expected < 0) {
        head = Buffer.concat([head, chunk])
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head.subarray(0, end).toString('latin1'))
        if (!head.subarray(0, 12).toString('latin1').includes(' 200') || length === null) {
          socket.destroy()
          reject(new Error(`unexpected answer: ${head.subarray(0, end).toString('latin1').split('\r\n')[0] ?? ''}`))
          return
        }
        expected = Number(length[1])
        if (expected < updateBytes) {
          socket.destroy()
          reject(new Error(`the answer carries no update (Content-Length ${String(expected)})`))
          return
        }
        received = head.length - end - 4
      } else {
        received += chunk.length
      }
      if (received >= expected) {
        socket.end()
        resolve(received)
      }
    })
    socket.on('error', reject)
    socket.on('close', () => {
      if (received < expected || expected < 0) reject(new Error(`closed after ${String(received)} of ${String(expected)} bytes`))
    })
  })
}

async function measureDownloads(pid: number, count: number, updateBytes: number, run: (index: number) => Promise<number>): Promise<DownloadRun> {
  const before = sampleProcess(pid)
  let peak = before.rssKiB
  const sampler = setInterval(() => {
    peak = Math.max(peak, sampleProcess(pid).rssKiB)
  }, 50)
  const started = Date.now()
  const outcomes = await Promise.allSettled(Array.from({ length: count }, (_, index) => run(index)))
  const wallMs = Date.now() - started
  clearInterval(sampler)
  const after = sampleProcess(pid)
  peak = Math.max(peak, after.rssKiB)
  const rejected = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected')
  const failed = rejected.length
  const reasons = new Map<string, number>()
  for (const { reason } of rejected) reasons.set((reason as Error).message, (reasons.get((reason as Error).message) ?? 0) + 1)
  if (failed > 0) process.stderr.write(`[bench firmware] ${String(failed)} downloads failed: ${JSON.stringify([...reasons])}\n`)
  return {
    downloads: count,
    updateBytes,
    wallMs,
    mbPerSecond: ((count - failed) * updateBytes) / MiB / (wallMs / 1000),
    cpuMs: after.cpuSelfMs - before.cpuSelfMs,
    rssBeforeMiB: before.rssKiB / 1024,
    rssPeakMiB: peak / 1024,
    rssGrowthMiB: (peak - before.rssKiB) / 1024,
    failed,
  }
}

/** The floor: a bare node:https server with the same certificate, answering every POST with the same file, streamed. */
const FLOOR_SERVER = `
const https = require('node:https'); const fs = require('node:fs')
const [port, cert, key, file] = process.argv.slice(2)
const size = fs.statSync(file).size
https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }, (req, res) => {
  req.resume(); req.on('end', () => { res.writeHead(200, { 'content-length': size }); fs.createReadStream(file).pipe(res) })
}).listen(Number(port), '127.0.0.1', () => process.send && process.send('ready'))
`

export async function firmwareBenchmark(options: Omit<ServerOptions, 'logLevel' | 'logFile'>, count = 200, updateMiB = 16): Promise<FirmwareResults> {
  const server = await startServerProcess({ ...options, logLevel: 'warn', logFile: path.join(options.workDir, 'firmware-server.log'), env: { CACHE_TTL_SECONDS: '1', MAX_CONNECTIONS_PER_ADDRESS: String(count + 10) } })
  try {
    // Provision the stations first (one first contact each), then publish: the downloads are all that is measured.
    const trustDer = new X509Certificate(server.caPem).raw
    const bootstrap = stationTlsContext(server.caPem)
    const stations: ProvisionedStation[] = []
    for (let i = 0; i < count; i++) {
      const eui = `00f1${i.toString(16).padStart(12, '0')}`
      const reply = await postUpdateInfo({ port: server.port, body: stationBody(eui, firstContactReport(server.port, trustDer)), tls: bootstrap, agent: false })
      stations.push(applyFirstAnswer(eui, server.port, reply.body))
    }
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
    const update = Buffer.concat([Buffer.from('#!/bin/sh\nrm -f /tmp/update.bin\nexit 0\n'), randomBytes(updateMiB * MiB - 38)])
    const catalogue = new FirmwareCatalogue(new FsBlobStore(server.dataDir), 'cups/')
    const { manifest } = await catalogue.publish({
      update,
      version: '2.0.0',
      from: ['1.0.0'],
      signatures: [{ stationKey: stationKeyOf(key).toString('base64'), signature: signUpdate(update, key).toString('base64') }],
      now: new Date(),
    })
    await catalogue.changeRollout(manifest.id, () => activeRollout(manifest.id, new Date(), { maxConcurrentDownloads: count }))
    // The server's background read of the catalogue (every second) must have hashed the 16 MiB update before the
    // polls start, or they get the view from before it; 1.5 s was too short on a busy machine (12 of 200 got none).
    await new Promise((resolve) => setTimeout(resolve, 4000))
    const keyCrc = keyCrcOf(stationKeyOf(key))
    const requests = stations.map((station) => ({ tls: station.tls, body: station.noChangeBody.replace('"keys":[]', `"keys":[${String(keyCrc)}]`) }))
    const measured = await measureDownloads(server.pid, count, update.length, (index) => {
      const request = requests[index]
      if (request === undefined) throw new Error(`no station ${String(index)}`)
      return download(server.port, request.tls, request.body, update.length)
    })

    // The floor, in a process of its own like the server.
    const file = path.join(options.workDir, 'floor-update.bin')
    await writeFile(file, update)
    const floorPort = await freePort()
    const certs = path.join(options.workDir, 'certs')
    const script = path.join(options.workDir, 'floor-server.js')
    await writeFile(script, FLOOR_SERVER)
    const floorProcess = spawn(process.execPath, [script, String(floorPort), path.join(certs, 'cups.crt'), path.join(certs, 'cups.key'), file], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    try {
      await new Promise<void>((resolve, reject) => {
        floorProcess.once('message', () => {
          resolve()
        })
        floorProcess.once('exit', () => {
          reject(new Error('the floor server exited'))
        })
      })
      const anonymous = stationTlsContext(server.caPem)
      const pid = floorProcess.pid ?? 0
      const body = requests[0]?.body ?? ''
      const floor = await measureDownloads(pid, count, update.length, () => download(floorPort, anonymous, body, update.length))
      return { server: measured, floor, throughputRatio: measured.mbPerSecond / floor.mbPerSecond }
    } finally {
      floorProcess.kill()
    }
  } finally {
    await server.stop()
  }
}

export function renderFirmware(results: FirmwareResults): string {
  const row = (name: string, run: DownloadRun): string =>
    `| ${name} | ${String(run.downloads)} × ${(run.updateBytes / MiB).toFixed(0)} MiB | ${(run.wallMs / 1000).toFixed(1)} s | ${run.mbPerSecond.toFixed(0)} MiB/s | ${(run.cpuMs / 1000).toFixed(1)} s | ${run.rssBeforeMiB.toFixed(0)} → ${run.rssPeakMiB.toFixed(0)} MiB (+${run.rssGrowthMiB.toFixed(0)}) | ${String(run.failed)} |`
  return [
    '| firmware downloads at once | size | wall | throughput | CPU | RSS before → peak | failed |',
    '|---|---|---|---|---|---|---|',
    row('CUPS server (signed update, mTLS)', results.server),
    row('bare node:https floor (same file)', results.floor),
    '',
    `Throughput ratio server / floor: ${results.throughputRatio.toFixed(2)} (target ≥ 0.80: ${results.throughputRatio >= 0.8 ? 'pass' : 'FAIL'}); RSS growth ${results.server.rssGrowthMiB.toFixed(0)} MiB (target ≤ 64 MiB: ${results.server.rssGrowthMiB <= 64 ? 'pass' : 'FAIL'}).`,
  ].join('\n')
}

/** `npx ts-node bench/firmware.ts [downloads] [MiB]`: this benchmark alone. */
async function main(): Promise<void> {
  const repoRoot = path.resolve(__dirname, '..')
  const work = await mkdtemp(path.join(os.tmpdir(), 'cups-bench-firmware-'))
  try {
    const build = await buildServer(repoRoot, path.join(work, 'build'))
    const workDir = path.join(work, 'server')
    await mkdir(workDir, { recursive: true })
    const results = await firmwareBenchmark({ entry: build.entry, repoRoot, workDir }, Number(process.argv[2] ?? 200), Number(process.argv[3] ?? 16))
    process.stdout.write(`${renderFirmware(results)}\n`)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

if (require.main === module) {
  void main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = 1
  })
}

