// Owns issue 3's "a process killed in the middle of a mint leaves no partial object", on the filesystem store.
//
// The child is the real server process (index.ts under ts-node) on a DATA_DIR; this test plays a fleet of new
// gateways against it and SIGKILLs it (its whole process group, OpenSSL included) at chosen moments, seen through
// inotify: the instant a new gateway's directory appears (FsBlobStore.put has begun: mkdir, temp file, write, fsync,
// link), the instant a file is created in one (the put's temp file was just opened), a millisecond or three later,
// or at a random time. After every kill each object under DATA_DIR/cups/ must be a complete, valid bundle,
// FsBlobStore.list must show no temp file, and everything the child logged as minted or delivered must be stored.
// Finally a fresh server on the same DATA_DIR serves every gateway normally. MINT_CRASH_SEED replays a run.
//
// An implementation that wrote objects in place fails here: a kill right after the open leaves an empty or
// truncated cups_cred.bin (checked by making FsBlobStore.put write in place in a scratch copy).
//
// S3 needs no such test: a single PutObject is atomic by definition (the object appears whole or not at all), and
// S3BlobStore writes each bundle with exactly one PUT of a Buffer with its Content-Length.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto'
import { watch } from 'node:fs'
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { checkCredentialBlob, credentialBlobCertificate, splitCredentialBlob } from '../../../src/cups/credential-blob'
import { formatId6 } from '../../../src/cups/router-id'
import { FsBlobStore } from '../../../src/storage/fs-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'
import { postUpdateInfo } from '../../support/https-client'
import { seededRandom } from '../../support/seeded-random'
import { decodeUpdateInfoResponse } from '../../support/station-decoder'
import { StationSimulator } from '../../support/station-simulator'
import { startTestServer } from '../../support/test-server'

const repoRoot = path.resolve(__dirname, '..', '..', '..')
const TC_URI = 'wss://localhost:8887'
const NO_CHANGE = Buffer.alloc(14)
/** Requests in flight against the child: enough to keep both OpenSSL slots and some puts busy. */
const REQUESTS_AT_ONCE = 4
/** More gateways per round than the child can mint before it is killed. */
const GATEWAYS_PER_ROUND = 120
const KEY_SHAPE = /^cups\/([0-9a-f]{16})\/(cups|tc)_cred\.bin$/
const TEMP_SHAPE = /^\.((cups|tc)_cred\.bin|inventory\.json|last-auth\.json)\.tmp-[0-9a-f]{16}$/

type KillPlan =
  /** SIGKILL when the n-th new gateway directory appears (a first put has begun), after delayMs (0: in the watch callback). */
  | { readonly at: 'new-gateway'; readonly nth: number; readonly delayMs: number }
  /** SIGKILL at the n-th name appearing or vanishing in a gateway directory: the first one is a put's freshly opened file. */
  | { readonly at: 'new-file'; readonly nth: number; readonly delayMs: number }
  /** SIGKILL ms after the first request, wherever the child is (OpenSSL, put, response). */
  | { readonly at: 'time'; readonly ms: number }

interface RoundResult {
  readonly plan: KillPlan
  readonly euis: readonly string[]
  /** Bundles the child delivered before it died, by EUI. */
  readonly served: ReadonlyMap<string, { cups?: Buffer; tc?: Buffer }>
  /** Keys whose mint the child logged as complete (after the put resolved). */
  readonly reportedMinted: readonly string[]
  readonly survivedUntilKill: boolean
}

interface StoreState {
  readonly keys: readonly string[]
  readonly tempFiles: readonly string[]
  /** Gateway directories without a single bundle: the kill landed between mkdir and the link. */
  readonly emptyGatewayDirs: readonly string[]
}

/** What a station would need to use this blob: canonical layout, a certificate for this EUI from our CA, and its key. */
function expectCompleteBundle(key: string, blob: Buffer, ca: X509Certificate): void {
  const match = KEY_SHAPE.exec(key)
  expect(match, `unexpected object ${key}`).not.toBeNull()
  expect(() => {
    checkCredentialBlob(blob)
  }, `${key} is not a valid bundle (${blob.length} bytes)`).not.toThrow()
  const der = credentialBlobCertificate(blob)
  if (der === undefined) throw new Error(`${key} carries no certificate`)
  const certificate = new X509Certificate(der)
  expect(certificate.subject).toBe(`CN=${match?.[1] ?? ''}`)
  expect(certificate.verify(ca.publicKey), `${key}: certificate not signed by our CA`).toBe(true)
  const { key: privateKey } = splitCredentialBlob(blob)
  const publicFromKey = createPublicKey(createPrivateKey({ key: privateKey, format: 'der', type: 'sec1' }))
  expect(publicFromKey.export({ format: 'der', type: 'spki' }).equals(certificate.publicKey.export({ format: 'der', type: 'spki' })), `${key}: key does not match certificate`).toBe(true)
}

/** Walks DATA_DIR/cups on the raw filesystem, checks every object, and compares with what FsBlobStore lists. */
async function inspectStore(dataDir: string, ca: X509Certificate): Promise<StoreState> {
  const keys: string[] = []
  const tempFiles: string[] = []
  const emptyGatewayDirs: string[] = []
  const cupsDir = path.join(dataDir, 'cups')
  for (const gateway of await readdir(cupsDir, { withFileTypes: true })) {
    expect(gateway.isDirectory(), `cups/${gateway.name} is not a gateway directory`).toBe(true)
    const entries = await readdir(path.join(cupsDir, gateway.name), { withFileTypes: true })
    let objects = 0
    for (const entry of entries) {
      const relative = `cups/${gateway.name}/${entry.name}`
      expect(entry.isFile(), `${relative} is not a regular file`).toBe(true)
      if (entry.name.startsWith('.')) {
        expect(entry.name, `unexpected hidden file ${relative}`).toMatch(TEMP_SHAPE)
        tempFiles.push(relative)
        continue
      }
      keys.push(relative)
      if (entry.name === 'inventory.json') {
        expect(JSON.parse(await readFile(path.join(dataDir, relative), 'utf8'))).toMatchObject({ version: 1 })
        continue
      }
      if (entry.name === 'last-auth.json') {
        // Written once a gateway shows its certificate: complete JSON naming a fingerprint, or nothing.
        expect(JSON.parse(await readFile(path.join(dataDir, relative), 'utf8'))).toMatchObject({ version: 1, via: 'certificate', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown })
        continue
      }
      objects++
      expectCompleteBundle(relative, await readFile(path.join(dataDir, relative)), ca)
    }
    if (objects === 0) emptyGatewayDirs.push(gateway.name)
  }
  const store = new FsBlobStore(dataDir)
  const listed = await store.list('cups/')
  // Every object the raw walk found, and nothing else: no temp file, complete or not, is ever visible.
  expect(listed).toEqual([...keys].sort())
  for (const key of listed) expect(key).toMatch(/^cups\/[0-9a-f]{16}\/((cups|tc)_cred\.bin|last-auth\.json|inventory\.json)$/)
  return { keys: listed, tempFiles, emptyGatewayDirs }
}

function euiFor(round: number, index: number): string {
  return `0c4a5800${round.toString(16).padStart(2, '0')}00${index.toString(16).padStart(4, '0')}`
}

/** Lines of JSON from a stream, as they complete. */
function onJsonLines(stream: NodeJS.ReadableStream, handle: (entry: Record<string, unknown>) => void): void {
  let pending = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    pending += chunk
    let newline: number
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline)
      pending = pending.slice(newline + 1)
      let entry: Record<string, unknown>
      try {
        entry = JSON.parse(line) as Record<string, unknown>
      } catch {
        continue // not a log line (ts-node or Node warnings)
      }
      handle(entry)
    }
  })
}

describe('a server process killed in the middle of minting', () => {
  let dir: string
  let dataDir: string
  let ca: X509Certificate
  const rounds: RoundResult[] = []
  const states: StoreState[] = []
  const seed = Number(process.env.MINT_CRASH_SEED ?? Date.now() % 2 ** 31)
  const random = seededRandom(seed)

  /** Starts the real server (index.ts) on dir, resolves its port once it listens. */
  function startChild(): Promise<{ child: ChildProcess; port: number; log: Record<string, unknown>[] }> {
    const child = spawn(process.execPath, ['--require', require.resolve('ts-node/register/transpile-only'), path.join(repoRoot, 'index.ts')], {
      // cwd holds no .env, so index.ts loads nothing beyond this environment.
      cwd: dir,
      // Its own process group: the kill takes OpenSSL children along.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        TMPDIR: path.join(dir, 'tmp'),
        TS_NODE_PROJECT: path.join(repoRoot, 'tsconfig.json'),
        HOST: '127.0.0.1',
        PORT: '0',
        ADMIN_PORT: '0',
        CERT_PATH: path.join(dir, 'certs'),
        DATA_DIR: dataDir,
        TC_URI,
        BOOTSTRAP_POLICY: 'open',
        MINT_CONCURRENCY: '2',
        LOG_LEVEL: 'info',
      },
    })
    const log: Record<string, unknown>[] = []
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`the server process did not start within 30 s; stderr:\n${stderr}`))
      }, 30_000)
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`the server process exited early (${String(code ?? signal)}); stderr:\n${stderr}`))
      })
      onJsonLines(child.stdout, (entry) => {
        log.push(entry)
        if (entry.msg === 'CUPS server listening' && typeof entry.port === 'number') {
          clearTimeout(timer)
          resolve({ child, port: entry.port, log })
        }
      })
    })
  }

  async function runRound(round: number, plan: KillPlan, carried: readonly string[]): Promise<RoundResult> {
    const { child, port, log } = await startChild()
    const pid = child.pid
    if (pid === undefined) throw new Error('no pid')
    // 'close', not 'exit': every log line the child wrote before it died has been read by then.
    const closed = new Promise<void>((resolve) => child.once('close', () => {
      resolve()
    }))
    let killedAlready = false
    // A function, not the variable: the kill happens in callbacks, which control-flow narrowing does not see.
    const killed = (): boolean => killedAlready
    const kill = (): void => {
      if (killedAlready) return
      killedAlready = true
      try {
        process.kill(-pid, 'SIGKILL')
      } catch (err) {
        // ESRCH: the group is already gone (the child died on its own; 'close' and the checks will tell).
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
      }
    }
    const safety = setTimeout(kill, 20_000)

    const killAfter = (delayMs: number): void => {
      if (delayMs === 0) kill()
      else setTimeout(kill, delayMs)
    }
    // inotify, so the kill follows the child's mkdir or open within a fraction of a millisecond.
    let newDirs = 0
    let fileEvents = 0
    const watchers = [
      watch(path.join(dataDir, 'cups'), (event, name) => {
        if (event !== 'rename' || name === null || !/^[0-9a-f]{16}$/.test(name)) return
        newDirs++
        if (plan.at === 'new-gateway' && newDirs === plan.nth) killAfter(plan.delayMs)
        if (plan.at !== 'new-file' || killed()) return
        try {
          watchers.push(
            watch(path.join(dataDir, 'cups', name), (fileEvent) => {
              if (fileEvent === 'rename' && ++fileEvents === plan.nth) killAfter(plan.delayMs)
            }),
          )
        } catch {
          // the directory vanished or the child is gone; nothing to watch
        }
      }),
    ]

    const euis = [...carried, ...Array.from({ length: GATEWAYS_PER_ROUND }, (_, i) => euiFor(round, i))]
    const served = new Map<string, { cups?: Buffer; tc?: Buffer }>()
    const caPem = await readFile(path.join(dir, 'certs', 'ca.crt'))
    if (plan.at === 'time') setTimeout(kill, plan.ms)
    let next = 0
    const fleet = async (): Promise<void> => {
      while (!killed() && next < euis.length) {
        const eui = euis[next++] ?? ''
        const station = new StationSimulator({ router: formatId6(eui), home: path.join(dir, 'stations', eui) })
        await station.setFile('cups.uri', `https://localhost:${port}`)
        await station.setFile('cups.trust', caPem)
        try {
          const answer = await postUpdateInfo(port, await station.requestBody(), { ca: caPem, maxVersion: 'TLSv1.2' })
          if (answer.status !== 200) throw new Error(`${eui}: status ${answer.status} ${answer.body.toString()}`)
          const decoded = decodeUpdateInfoResponse(answer.body)
          served.set(eui, {
            ...(decoded.cupsCredentials === undefined ? {} : { cups: decoded.cupsCredentials }),
            ...(decoded.tcCredentials === undefined ? {} : { tc: decoded.tcCredentials }),
          })
        } catch (err) {
          // A request cut off by the kill is expected; anything before it is a failure.
          if (!killed()) throw err
        }
      }
    }
    await Promise.all(Array.from({ length: REQUESTS_AT_ONCE }, fleet))
    const survivedUntilKill = !killed()
    kill()
    await closed
    clearTimeout(safety)
    for (const watcher of watchers) watcher.close()
    const reportedMinted = log.flatMap((entry) =>
      entry.audit === 'credential-minted' && typeof entry.eui === 'string' && (entry.kind === 'cups' || entry.kind === 'tc')
        ? [entry.kind === 'cups' ? storageKeys('cups/', entry.eui).cupsCredentials : storageKeys('cups/', entry.eui).tcCredentials]
        : [],
    )
    return { plan, euis, served, reportedMinted, survivedUntilKill }
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cups-mint-crash-'))
    dataDir = path.join(dir, 'data')
    await mkdir(path.join(dataDir, 'cups'), { recursive: true, mode: 0o700 })
    await mkdir(path.join(dir, 'tmp'))
  })

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const plans: KillPlan[] = [
    { at: 'new-gateway', nth: 1, delayMs: 0 },
    { at: 'new-file', nth: 1, delayMs: 0 },
    { at: 'new-file', nth: 7, delayMs: 0 },
    { at: 'new-file', nth: 4, delayMs: 1 },
    { at: 'new-gateway', nth: 5, delayMs: 3 },
    { at: 'time', ms: 150 },
  ]

  it('leaves only complete, valid bundles and no visible temp file, however often it is killed', async () => {
    let carried: string[] = []
    for (const [round, plan] of plans.entries()) {
      const jittered: KillPlan = plan.at === 'time' ? { at: 'time', ms: plan.ms + random.int(0, 600) } : plan
      const result = await runRound(round, jittered, carried)
      rounds.push(result)
      expect(result.survivedUntilKill, `round ${round}: the child finished its fleet before the kill`).toBe(false)
      if (round === 0) ca = new X509Certificate(await readFile(path.join(dir, 'certs', 'ca.crt')))
      const state = await inspectStore(dataDir, ca)
      states.push(state)
      // What the child logged as minted had been stored before the log line: it must all be there.
      for (const key of result.reportedMinted) expect(state.keys, `round ${round}: ${key} was reported minted`).toContain(key)
      // Every bundle the child delivered is the stored one.
      const stored = new FsBlobStore(dataDir)
      for (const [eui, bundles] of result.served) {
        if (bundles.cups) expect((await stored.get(storageKeys('cups/', eui).cupsCredentials))?.body.equals(bundles.cups)).toBe(true)
        if (bundles.tc) expect((await stored.get(storageKeys('cups/', eui).tcCredentials))?.body.equals(bundles.tc)).toBe(true)
      }
      // The next round's fleet starts with the gateways whose first put this kill interrupted: they try again
      // after the crash, on a directory the dead process left behind.
      carried = [...state.emptyGatewayDirs]
      console.info(
        `mint-crash round ${round} (seed ${seed}, ${JSON.stringify(jittered)}): ${state.keys.length} objects, ` +
          `${state.tempFiles.length} temp files, ${state.emptyGatewayDirs.length} gateway dirs without a bundle, ` +
          `${result.served.size} gateways served before the kill`,
      )
    }
    // The kills really landed inside puts: a round left a new temp file, or a new gateway directory that the
    // bundle was never linked into. Otherwise this test would only prove that killing between puts is harmless.
    const interrupted = states.filter((state, i) => {
      const before = states[i - 1]
      const fresh = (now: readonly string[], then: readonly string[] = []): boolean => now.some((x) => !then.includes(x))
      return fresh(state.emptyGatewayDirs, before?.emptyGatewayDirs) || fresh(state.tempFiles, before?.tempFiles)
    })
    expect(interrupted.length, 'fewer than two kills landed between the start of a put and its link').toBeGreaterThanOrEqual(2)
  }, 120_000)

  it('serves every gateway normally from a fresh server on the same DATA_DIR', async () => {
    const server = await startTestServer({ TC_URI }, dir)
    try {
      const store = new FsBlobStore(dataDir)
      const touched = [...new Set(rounds.flatMap((r) => r.euis.filter((eui, i) => i < 12 || r.served.has(eui))))]
      const storedBefore = new Map<string, Buffer>()
      for (const key of await store.list('cups/')) storedBefore.set(key, (await store.get(key))?.body ?? Buffer.alloc(0))
      let withStoredBundle = 0
      for (const eui of touched) {
        const keys = storageKeys('cups/', eui)
        const station = new StationSimulator({ router: formatId6(eui), home: path.join(dir, 'converge', eui) })
        await station.setFile('cups.uri', `https://localhost:${server.port}`)
        await station.setFile('cups.trust', server.caPem)
        const storedCups = storedBefore.get(keys.cupsCredentials)
        if (storedCups !== undefined) {
          // The station holds what was stored (what it got, or would have got, before the crash).
          withStoredBundle++
          const parts = splitCredentialBlob(storedCups)
          await station.setFile('cups.trust', parts.trust)
          await station.setFile('cups.crt', parts.certificate)
          await station.setFile('cups.key', parts.key)
          const storedTc = storedBefore.get(keys.tcCredentials)
          if (storedTc !== undefined) {
            const tc = splitCredentialBlob(storedTc)
            await station.setFile('tc.trust', tc.trust)
            await station.setFile('tc.crt', tc.certificate)
            await station.setFile('tc.key', tc.key)
            await station.setFile('tc.uri', TC_URI)
          }
        }
        const first = await station.contact()
        expect(first.status, `${eui}: ${first.body.toString()}`).toBe(200)
        if (storedCups !== undefined) {
          expect(first.mode).toBe('both')
          // Never re-minted: the stored CUPS bundle stays the gateway's identity.
          expect(first.segments?.cupsCredentials, `${eui}: CUPS bundle re-sent`).toBeUndefined()
        } else {
          expect(first.segments?.cupsCredentials, `${eui}: no CUPS bundle`).toBeDefined()
        }
        const second = await station.contact()
        expect(second.status).toBe(200)
        expect(second.mode).toBe('both')
        expect(second.body.equals(NO_CHANGE), `${eui} did not converge: ${second.body.toString('hex')}`).toBe(true)
      }
      expect(withStoredBundle, 'no gateway had a bundle from the killed processes').toBeGreaterThan(0)
      expect(touched.length - withStoredBundle, 'no gateway was left without a bundle by the kills').toBeGreaterThan(0)
      // Bundles stored before the restart are unchanged; the fresh server only added the missing ones (its own
      // inventory entries and last authentications change as gateways report, by design).
      for (const [key, body] of storedBefore) {
        if (/\/(cups|tc)_cred\.bin$/.test(key)) expect((await store.get(key))?.body.equals(body), key).toBe(true)
      }
      await inspectStore(dataDir, ca)
    } finally {
      await server.stop()
    }
  }, 60_000)
})
