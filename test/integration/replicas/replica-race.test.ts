// Owns issue 3's replica race: two server instances, each with its own cache, share one store (filesystem, radosgw) while 100 new gateways race their first contacts.
//
// Both replicas run the real startServer in this process, each with its own CachedBlobStore (CACHE_TTL_SECONDS=30,
// so a replica keeps believing "absent" long after the other one wrote). For every gateway, CONTACTS anonymous first
// contacts are opened over TLS first and then sent in the same tick, spread over both replicas, so every one of them
// reads the store before any mint lands and the conditional write alone decides which bundle survives.
//
// The radosgw variant is gated like test/integration/storage/radosgw-blob-store.test.ts: under CI=true it always
// runs and fails when radosgw is unreachable; without CI it skips with a message.
import { mkdtemp, rm } from 'node:fs/promises'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { crc32 } from '../../../src/cups/crc32'
import { formatId6 } from '../../../src/cups/router-id'
import type { BlobStore } from '../../../src/storage/blob-store'
import { FsBlobStore } from '../../../src/storage/fs-blob-store'
import { createS3Client } from '../../../src/storage/s3-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'
import { makeS3TestStore } from '../storage/s3-test-bucket'
import { decodeUpdateInfoResponse, splitBlobLikeStation } from '../../support/station-decoder'
import type { DecodedUpdateInfoResponse } from '../../support/station-decoder'
import { StationSimulator } from '../../support/station-simulator'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'
import { RADOSGW, radosgwGate } from '../../support/radosgw'

const GATEWAYS = 100
const CONTACTS = 3
/** Gateways whose contacts are in flight at once: enough to overlap mints on both replicas, few enough for 2 cores. */
const GATEWAYS_AT_ONCE = 8
const TC_URI = 'wss://localhost:8887'
const NO_CHANGE = Buffer.alloc(14)
/** crc32 of three empty credential files (4 zero bytes each): what a station with no credentials reports. */
const EMPTY_SET_CRC = 2077607535

const { endpoint, accessKeyId, secretAccessKey } = RADOSGW
const { reachable: radosgwUp, enabled } = radosgwGate('the replica race on radosgw')

/** The shared store both replicas use: their env, an independent view for checking it, and its removal. */
interface SharedStore {
  readonly env: Record<string, string>
  /** A plain adapter (no cache) on the same objects, for listing and reading what really got stored. */
  readonly store: BlobStore
  readonly cleanup: () => Promise<void>
}

interface Contact {
  readonly replica: 0 | 1
  readonly status: number
  readonly body: Buffer
  readonly decoded: DecodedUpdateInfoResponse | undefined
}

interface GatewayRun {
  readonly eui: string
  readonly station: StationSimulator
  readonly contacts: readonly Contact[]
}

function euiOf(index: number): string {
  return `0a11ce00000f${(index + 1).toString(16).padStart(4, '0')}`
}

/** Which replica the n-th contact of gateway g goes to: both replicas get at least one, and who goes first alternates. */
function replicaFor(gateway: number, contact: number): 0 | 1 {
  return ((gateway + contact) % 2) as 0 | 1
}

/** A TLS 1.2 connection with only our CA (anonymous, like a station without cups.crt), ready to carry one request. */
function connect(port: number, ca: Buffer): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, maxVersion: 'TLSv1.2' }, () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

/** POST /update-info over an already connected socket, so that sending costs no handshake. */
function post(socket: tls.TLSSocket, body: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        method: 'POST',
        path: '/update-info',
        createConnection: () => socket,
        headers: { host: 'localhost', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' },
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          socket.destroy()
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) })
        })
        response.on('error', reject)
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}

async function inPool<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker))
  return results
}

function logEntries(server: TestServer): Record<string, unknown>[] {
  return server.logLines.map((line) => JSON.parse(line) as Record<string, unknown>)
}

function isLostRace(entry: Record<string, unknown>): boolean {
  return typeof entry.msg === 'string' && entry.msg.startsWith('lost credential write race')
}

/** Writes a served bundle into the station's files exactly like the simulator (and the station) applies one. */
async function applyLikeStation(station: StationSimulator, decoded: DecodedUpdateInfoResponse): Promise<void> {
  if (decoded.tcUri !== undefined) await station.setFile('tc.uri', decoded.tcUri)
  for (const [category, blob] of [
    ['cups', decoded.cupsCredentials],
    ['tc', decoded.tcCredentials],
  ] as const) {
    if (blob === undefined) continue
    const parts = splitBlobLikeStation(blob)
    await station.setFile(`${category}.trust`, parts.trust)
    await station.setFile(`${category}.crt`, parts.certificate)
    await station.setFile(`${category}.key`, parts.key)
  }
}

interface RaceState {
  readonly shared: SharedStore
  readonly replicas: readonly [TestServer, TestServer]
  readonly runs: readonly GatewayRun[]
}

interface Backend {
  /** False only for radosgw without CI when nothing answers: the whole suite is skipped. */
  readonly enabled: boolean
  /** False when the backend is unreachable (under CI: a failing test says so, and setup is not attempted). */
  readonly reachable: boolean
  readonly makeStore: (dir: string) => Promise<SharedStore>
}

function describeReplicaRace(name: string, backend: Backend): void {
  describe.skipIf(!backend.enabled)(`two replicas racing first contacts on ${name}`, () => {
    let dir: string | undefined
    let shared: SharedStore | undefined
    const replicas: TestServer[] = []
    let race: RaceState | undefined

    const state = (): RaceState => {
      if (race === undefined) throw new Error(`the race on ${name} did not run (see the first failure)`)
      return race
    }

    beforeAll(async () => {
      if (!backend.reachable) return
      const workDir = await mkdtemp(path.join(os.tmpdir(), 'cups-replicas-'))
      dir = workDir
      const store = await backend.makeStore(workDir)
      shared = store
      const env = { ...store.env, BOOTSTRAP_POLICY: 'open', TC_URI, CACHE_TTL_SECONDS: '30', LOG_LEVEL: 'info' }
      // One after the other: the first generates the dev PKI in dir/certs, the second finds and shares it.
      replicas.push(await startTestServer(env, workDir))
      replicas.push(await startTestServer(env, workDir))
      const [first, second] = replicas
      if (first === undefined || second === undefined) throw new Error('replicas did not start')
      const ca = first.caPem
      expect(second.caPem.equals(ca), 'both replicas must trust and sign with the same CA').toBe(true)

      const started = Date.now()
      const runs = await inPool(
        Array.from({ length: GATEWAYS }, (_, g) => g),
        GATEWAYS_AT_ONCE,
        async (g): Promise<GatewayRun> => {
          const eui = euiOf(g)
          const station = new StationSimulator({ router: formatId6(eui), home: path.join(workDir, 'stations', eui) })
          await station.setFile('cups.uri', `https://localhost:${first.port}`)
          await station.setFile('cups.trust', ca)
          const body = await station.requestBody()
          const targets = Array.from({ length: CONTACTS }, (_, c) => replicaFor(g, c))
          // Handshakes first, then every request of this gateway leaves in the same tick.
          const sockets = await Promise.all(targets.map((r) => connect((r === 0 ? first : second).port, ca)))
          const answers = await Promise.all(sockets.map((socket) => post(socket, body)))
          const contacts = answers.map((answer, c): Contact => ({
            replica: targets[c] ?? 0,
            status: answer.status,
            body: answer.body,
            decoded: answer.status === 200 ? decodeUpdateInfoResponse(answer.body) : undefined,
          }))
          return { eui, station, contacts }
        },
      )
      race = { shared: store, replicas: [first, second], runs }
      const lostRaces = replicas.flatMap((replica) => logEntries(replica)).filter((e) => isLostRace(e)).length
      console.info(
        `replica race on ${name}: ${GATEWAYS} gateways x ${CONTACTS} contacts in ${Date.now() - started} ms, ${lostRaces} lost write races`,
      )
      // ~10 s per backend on an idle 2-core machine; the margin is for a machine busy with other suites.
    }, 120_000)

    afterAll(async () => {
      // Each step on its own: a failed start must not hide the cleanup of what did start.
      for (const replica of replicas) await replica.stop()
      await shared?.cleanup()
      if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    })

    it('can reach the shared store (required under CI=true)', () => {
      expect(backend.reachable, `${name} is not reachable; start it with: bash test/s3/radosgw.sh start`).toBe(true)
    })

    it('sends the request of a station that holds only cups.uri and cups.trust', async () => {
      const station = state().runs[0]?.station
      if (station === undefined) throw new Error('no gateway ran')
      const body = JSON.parse(await station.requestBody()) as Record<string, unknown>
      // sys_crcCred: trust, then 4 zero bytes for each of the empty cups.crt and cups.key.
      const trustOnlyCrc = crc32(await station.file('cups.trust'), Buffer.alloc(4), Buffer.alloc(4))
      expect(body).toMatchObject({ cupsCredCrc: trustOnlyCrc, tcCredCrc: EMPTY_SET_CRC, tcUri: null })
    })

    it('answers every contact 200 with both bundles and the TC URI, on both replicas', () => {
      const perReplica = [0, 0]
      for (const { eui, contacts } of state().runs) {
        expect(contacts).toHaveLength(CONTACTS)
        for (const contact of contacts) {
          expect(contact.status, `${eui} on replica ${contact.replica}: ${contact.body.toString()}`).toBe(200)
          expect(contact.decoded?.cupsCredentials, `${eui}: no cupsCred`).toBeDefined()
          expect(contact.decoded?.tcCredentials, `${eui}: no tcCred`).toBeDefined()
          expect(contact.decoded?.tcUri).toBe(TC_URI)
          perReplica[contact.replica] = (perReplica[contact.replica] ?? 0) + 1
        }
        expect(new Set(contacts.map((c) => c.replica)).size, `${eui} reached only one replica`).toBe(2)
      }
      expect(perReplica.reduce((a, b) => a + b)).toBe(GATEWAYS * CONTACTS)
    })

    it('serves every contact of a gateway the same CUPS bundle and the same TC bundle, whichever replica answered', () => {
      for (const { eui, contacts } of state().runs) {
        const cupsCrcs = new Set(contacts.flatMap((c) => (c.decoded?.cupsCredentials ? [crc32(c.decoded.cupsCredentials)] : [])))
        const tcCrcs = new Set(contacts.flatMap((c) => (c.decoded?.tcCredentials ? [crc32(c.decoded.tcCredentials)] : [])))
        expect(cupsCrcs.size, `${eui}: CUPS bundles served`).toBe(1)
        expect(tcCrcs.size, `${eui}: TC bundles served`).toBe(1)
        // Byte for byte, not only by CRC: every response body is the same.
        expect(new Set(contacts.map((c) => c.body.toString('hex'))).size, `${eui}: response bodies`).toBe(1)
        // CUPS and TC are separate identities: no gateway got one key for both.
        const decoded = contacts[0]?.decoded
        expect(decoded?.cupsCredentials?.equals(decoded.tcCredentials ?? Buffer.alloc(0)), `${eui}: cups = tc`).toBe(false)
      }
    })

    it('stores exactly one CUPS and one TC bundle per gateway: the bytes that were served', async () => {
      const { shared: store, runs } = state()
      // Bundles only: each gateway's inventory entry (written after its answers) is the server's own record.
      const keys = (await store.store.list('cups/')).filter((key) => !key.endsWith('/inventory.json'))
      const expected = runs.flatMap(({ eui }) => [storageKeys('cups/', eui).cupsCredentials, storageKeys('cups/', eui).tcCredentials])
      expect(keys).toEqual([...expected].sort())
      await inPool(runs, 8, async ({ eui, contacts }) => {
        const served = contacts[0]?.decoded
        const keysOf = storageKeys('cups/', eui)
        const storedCups = await store.store.get(keysOf.cupsCredentials)
        const storedTc = await store.store.get(keysOf.tcCredentials)
        expect(storedCups?.body.equals(served?.cupsCredentials ?? Buffer.alloc(0)), `${eui}: stored CUPS bundle is not the served one`).toBe(true)
        expect(storedTc?.body.equals(served?.tcCredentials ?? Buffer.alloc(0)), `${eui}: stored TC bundle is not the served one`).toBe(true)
      })
    })

    it('lets the conditional write decide: one winning mint per gateway and kind, and the replicas really raced', async () => {
      const { replicas: both } = state()
      const entries = both.flatMap((replica) => logEntries(replica))
      // Every winning write is audited once; a second winner for the same gateway and kind would show up here.
      const winners = new Map<string, number>()
      for (const entry of entries.filter((e) => e.audit === 'credential-minted')) {
        const id = `${String(entry.kind)}:${String(entry.eui)}`
        winners.set(id, (winners.get(id) ?? 0) + 1)
      }
      expect(winners.size).toBe(GATEWAYS * 2)
      expect([...winners.values()].every((n) => n === 1), 'a gateway and kind with two winning mints').toBe(true)
      // Without lost races the scenario proved nothing: both replicas must have minted for the same gateway.
      expect(entries.filter((e) => isLostRace(e)).length, 'no replica ever lost a write race').toBeGreaterThanOrEqual(GATEWAYS / 2)
      for (const replica of both) {
        const own = logEntries(replica)
        expect(own.some((e) => e.audit === 'credential-minted'), 'a replica that never won').toBe(true)
        expect(own.some((e) => isLostRace(e)), 'a replica that never lost').toBe(true)
        expect(await replica.metrics.value('storage_failures_total')).toBe(0)
        expect(await replica.metrics.value('deadline_exceeded_total')).toBe(0)
      }
    })

    it('converges every station with its minted certificate: 14 zero bytes from either replica', async () => {
      const { replicas: both, runs } = state()
      await inPool(runs, 6, async ({ eui, station, contacts }) => {
        // Apply the answer of the last contact; they are all the same bundle anyway (checked above).
        const last = contacts[contacts.length - 1]
        if (last?.decoded === undefined) throw new Error(`${eui}: no decoded response to apply`)
        await applyLikeStation(station, last.decoded)
        // First the other replica, then the one that answered: each gateway converges on both.
        for (const r of last.replica === 0 ? [1, 0] : [0, 1]) {
          await station.setFile('cups.uri', `https://localhost:${both[r === 0 ? 0 : 1].port}`)
          const result = await station.contact()
          expect(result.mode, `${eui}: the station should use its own certificate`).toBe('both')
          expect(result.status, `${eui} on replica ${r}: ${result.body.toString()}`).toBe(200)
          expect(result.body.equals(NO_CHANGE), `${eui} on replica ${r}: ${result.body.toString('hex')}`).toBe(true)
        }
      })
    }, 60_000)
  })
}

describeReplicaRace('the filesystem store', {
  enabled: true,
  reachable: true,
  // The replicas get DATA_DIR=dir/data from startTestServer; the checker reads the same directory.
  makeStore: (dir) => Promise.resolve({ env: {}, store: new FsBlobStore(path.join(dir, 'data')), cleanup: () => Promise.resolve() }),
})

describeReplicaRace(`radosgw at ${endpoint}`, {
  enabled,
  reachable: radosgwUp,
  makeStore: async () => {
    const client = createS3Client({ region: 'us-east-1', endpoint, accessKeyId, secretAccessKey, forcePathStyle: true, timeoutMs: 10_000, maxAttempts: 1 })
    try {
      const { bucket, store, cleanup } = await makeS3TestStore(client)
      return {
        env: {
          S3_BUCKET_NAME: bucket,
          S3_BUCKET_ENDPOINT: endpoint,
          S3_ACCESS_KEY_ID: accessKeyId,
          S3_SECRET_ACCESS_KEY: secretAccessKey,
          S3_FORCE_PATH_STYLE: 'true',
        },
        store,
        cleanup: async () => {
          try {
            await cleanup()
          } finally {
            client.destroy()
          }
        },
      }
    } catch (err) {
      client.destroy()
      throw err
    }
  },
})
