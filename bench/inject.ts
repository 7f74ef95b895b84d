// Owns the in-process cost of one poll through the real app (startServer + app.inject, no sockets, no TLS) at warn vs info.
import { X509Certificate } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import pino from 'pino'
import { loadConfig } from '../src/config'
import { crc32 } from '../src/cups/crc32'
import { createLogger } from '../src/logger'
import { startServer } from '../src/server'
import type { RunningServer } from '../src/server'
import { storageKeys } from '../src/storage/storage-keys'
import { decodeUpdateInfoResponse } from '../test/support/station-decoder'
import type { MicroResult, Round } from './codec'
import { endRound, microResult } from './codec'
import { stationBody, tokenBundle } from './station'

const WARMUP = 300
const COUNT = 300
const ROUNDS = 7
/** A GET of a path that does not exist (404) does almost nothing but its one request line: the logging cost stands out. */
const HEALTH_COUNT = 2000
/** Each alternate() gives up after this long (counts normally finish in a few seconds). */
const MAX_MS = 60_000
const TC_URI = 'wss://localhost:8887'

interface App {
  readonly level: string
  readonly server: RunningServer
}

async function start(dir: string, level: string): Promise<App> {
  const config = loadConfig(
    {
      HOST: '127.0.0.1',
      PORT: '0',
      ADMIN_PORT: '0',
      CERT_PATH: path.join(dir, 'certs'),
      DATA_DIR: path.join(dir, 'data'),
      TC_URI,
      BOOTSTRAP_POLICY: 'open',
      LOG_LEVEL: level,
    },
    dir,
  )
  // Synchronous writes to a file, as pino writes to stdout by default.
  const log = createLogger(config.logLevel, pino.destination({ dest: path.join(dir, `${level}.log`), sync: true }))
  return { level, server: await startServer(config, log) }
}

/** `op` on both apps: a warm-up, then ROUNDS rounds of `count` each, in the order A B, B A, ... */
async function alternate(apps: readonly [App, App], op: (app: App) => Promise<void>, count: number): Promise<[Round[], Round[]]> {
  const deadline = Date.now() + MAX_MS
  const check = (): void => {
    if (Date.now() > deadline) throw new Error(`in-process benchmark still running after ${MAX_MS} ms`)
  }
  for (const app of apps) {
    for (let i = 0; i < WARMUP; i++) await op(app)
    check()
  }
  const rounds: [Round[], Round[]] = [[], []]
  for (let round = 0; round < ROUNDS; round++) {
    check()
    const order: readonly (0 | 1)[] = round % 2 === 0 ? [0, 1] : [1, 0]
    for (const i of order) {
      const t0 = process.hrtime.bigint()
      const cpu0 = process.cpuUsage()
      for (let n = 0; n < count; n++) await op(apps[i])
      rounds[i].push(endRound(count, t0, cpu0))
    }
  }
  return rounds
}

async function post(app: App, body: string, headers: Record<string, string> = {}): Promise<Buffer> {
  const response = await app.server.app.inject({
    method: 'POST',
    url: '/update-info',
    payload: body,
    headers: { 'content-type': 'application/json', ...headers },
  })
  if (response.statusCode !== 200) throw new Error(`${app.level}: HTTP ${response.statusCode} ${response.body.slice(0, 200)}`)
  return response.rawPayload
}

/**
 * Two instances of the real server in this process (LOG_LEVEL=warn and info, same certs and data); a token gateway
 * (no client certificate needed, so app.inject can prove it) polls with "no change" through each in alternating
 * rounds. The difference is what logging at info costs per request; the warn figure is the app's own cost without
 * TCP, TLS and the HTTP parser.
 */
export async function injectBenchmarks(dir: string): Promise<{ polls: MicroResult[]; health: MicroResult[] }> {
  await mkdir(dir, { recursive: true })
  const apps: [App, App] = [await start(dir, 'warn'), await start(dir, 'info')]
  try {
    const [warn] = apps
    // A first contact (anonymous, mints) gives a real TC bundle and the size of a real CUPS bundle.
    const trust = new X509Certificate(await readFile(path.join(dir, 'certs', 'ca.crt'))).raw
    const seedEui = 'd000000000000001'
    const first = decodeUpdateInfoResponse(
      await post(warn, stationBody(seedEui, { cupsUri: null, tcUri: null, cupsCredCrc: 0, tcCredCrc: 0 })),
    )
    if (first.cupsCredentials === undefined || first.tcCredentials === undefined) throw new Error('first contact brought no credentials')

    const eui = 'd000000000000002'
    const bundle = tokenBundle(trust, eui, first.cupsCredentials.length)
    const keys = storageKeys('cups/', eui)
    const dataDir = path.join(dir, 'data')
    await mkdir(path.join(dataDir, path.dirname(keys.cupsCredentials)), { recursive: true, mode: 0o700 })
    await writeFile(path.join(dataDir, keys.cupsCredentials), bundle.blob, { mode: 0o600 })
    await writeFile(path.join(dataDir, keys.tcCredentials), first.tcCredentials, { mode: 0o600 })
    const body = stationBody(eui, { cupsUri: null, tcUri: TC_URI, cupsCredCrc: crc32(bundle.blob), tcCredCrc: crc32(first.tcCredentials) })
    const headers = { [bundle.headerName]: bundle.headerValue }
    const poll = async (app: App): Promise<void> => {
      const answer = await post(app, body, headers)
      if (answer.length !== 14 || answer.some((byte) => byte !== 0)) throw new Error(`${app.level}: expected "no change"`)
    }

    const health = async (app: App): Promise<void> => {
      const response = await app.server.app.inject({ method: 'GET', url: '/not-here' })
      if (response.statusCode !== 404) throw new Error(`${app.level}: GET /not-here answered ${response.statusCode}`)
    }
    const pollRounds = await alternate(apps, poll, COUNT)
    const healthRounds = await alternate(apps, health, HEALTH_COUNT)
    const method = (level: string): string =>
      `startServer in this process, LOG_LEVEL=${level} (pino to a file, sync); app.inject POST /update-info for a token gateway, answer "no change": ` +
      `Fastify routing, body parsing, access check, both bundles checked, plan + encode, logging; no TCP, TLS or HTTP parsing; ` +
      `warm-up ${WARMUP}, then ${ROUNDS} rounds alternating with the other level`
    const healthMethod = (level: string): string => `app.inject GET /not-here (404) at LOG_LEVEL=${level}, ${ROUNDS} rounds alternating with the other level`
    return {
      polls: [
        microResult('one poll through the app, LOG_LEVEL=warn', method('warn'), COUNT, pollRounds[0]),
        microResult('one poll through the app, LOG_LEVEL=info', method('info'), COUNT, pollRounds[1]),
      ],
      health: [
        microResult('GET of a missing path (404) through the app, LOG_LEVEL=warn', healthMethod('warn'), HEALTH_COUNT, healthRounds[0]),
        microResult('GET of a missing path (404) through the app, LOG_LEVEL=info', healthMethod('info'), HEALTH_COUNT, healthRounds[1]),
      ],
    }
  } finally {
    for (const app of apps) await app.server.close()
  }
}
