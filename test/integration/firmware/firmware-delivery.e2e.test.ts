// Firmware end to end over TLS: a station simulator that verifies signatures like Basics Station 2.0.6 against the real server.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { FirmwareCatalogue } from '../../../src/firmware/firmware-catalogue'
import type { Rollout } from '../../../src/firmware/firmware-manifest'
import { activeRollout } from '../../../src/firmware/firmware-manifest'
import { signingKey, signUpdate, stationKeyOf } from '../../../src/firmware/signing-keys'
import { inRamp } from '../../../src/firmware/select-firmware'
import { parseInventoryEntry } from '../../../src/gateways/inventory'
import { FsBlobStore } from '../../../src/storage/fs-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'
import { adminGet } from '../../support/admin-get'
import { readFixture } from '../../support/fixtures'
import { StationSimulator } from '../../support/station-simulator'
import { counterValue } from '../../support/spawn-server'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'

const FIXTURE_KEY = signingKey(readFixture('fw-sig.private.pem'))
const newKey = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
const script = (version: string): Buffer => Buffer.from(`#!/bin/sh\necho ${version} > version.txt\nrm -f /tmp/update.bin\n`)

let server: TestServer
let catalogue: FirmwareCatalogue
let homes: string
let euiCounter = 0x10

/** A fresh gateway (EUI) with its own home: provisioned on its first contact (BOOTSTRAP_POLICY=open). */
async function station(options: { keys?: readonly KeyObject[]; package?: string; runUpdate?: (update: Buffer) => string | undefined; stallAfterBytes?: number; readDelayMs?: number } = {}): Promise<StationSimulator> {
  const low = (euiCounter++).toString(16).padStart(4, '0')
  const simulator = new StationSimulator({
    router: `16:c001:ff10:${low}`,
    home: path.join(homes, low),
    package: options.package ?? '1.0.0',
    ...(options.runUpdate === undefined ? {} : { runUpdate: options.runUpdate }),
    ...(options.stallAfterBytes === undefined ? {} : { stallAfterBytes: options.stallAfterBytes }),
    ...(options.readDelayMs === undefined ? {} : { readDelayMs: options.readDelayMs }),
  })
  await simulator.setFile('cups.uri', `https://localhost:${String(server.port)}`)
  await simulator.setFile('cups.trust', server.caPem)
  for (const [index, key] of (options.keys ?? []).entries()) await simulator.setFile(`sig-${String(index)}.key`, stationKeyOf(key))
  return simulator
}

const euiOf = (simulator: StationSimulator): string => `0016c001ff10${path.basename(simulator.home)}`

async function publish(version: string, from: string[], keys: readonly KeyObject[], update = script(version)): Promise<string> {
  const signatures = keys.map((key) => ({ stationKey: stationKeyOf(key).toString('base64'), signature: signUpdate(update, key).toString('base64') }))
  const { manifest } = await catalogue.publish({ update, version, from, signatures, now: new Date() })
  return manifest.id
}

async function rollout(id: string, fields: Partial<Rollout> = {}): Promise<void> {
  await catalogue.changeRollout(id, () => activeRollout(id, new Date(), fields))
  // The server has checked the update (a 48 MB one takes a while under load) before the next poll: a poll waits
  // only 250 ms for a read of the catalogue and otherwise takes the view from before.
  await server.settle()
}

async function inventoryOf(simulator: StationSimulator): Promise<ReturnType<typeof parseInventoryEntry>> {
  await server.settle()
  return parseInventoryEntry(await readFile(path.join(server.config.storage.dataDir, storageKeys('cups/', euiOf(simulator)).inventory)))
}

async function start(dir?: string): Promise<void> {
  // CACHE_TTL_SECONDS=0: each poll sees the catalogue as this test just wrote it.
  server = await startTestServer({ CACHE_TTL_SECONDS: '0', DOWNLOAD_STALL_TIMEOUT_MS: '1500' }, dir)
  catalogue = new FirmwareCatalogue(new FsBlobStore(server.config.storage.dataDir), 'cups/')
}

describe('firmware updates end to end', () => {
  beforeAll(async () => {
    homes = await mkdtemp(path.join(os.tmpdir(), 'cups-firmware-e2e-'))
    await start()
  })
  afterAll(async () => {
    await server.stop()
    // A server restarted on the first one's directory (the restart test) does not remove it when it stops.
    await rm(server.dir, { recursive: true, force: true })
    await rm(homes, { recursive: true, force: true })
  })
  // Every test publishes its own versions: halt whatever rollouts it left so the next starts from none.
  afterEach(async () => {
    for (const id of await catalogue.ids()) await catalogue.changeRollout(id, (current) => (current === undefined ? undefined : { ...current, state: 'halted' }))
  })

  it('a station with the fixture key gets the signed update, verifies it, runs it, and is sent nothing more', async () => {
    const id = await publish('1.0.1', ['1.0.0'], [FIXTURE_KEY])
    await rollout(id)
    const gateway = await station({ keys: [FIXTURE_KEY], runUpdate: () => '1.0.1' })
    const first = await gateway.contact()
    expect(first.segments?.cupsCredentials).toBeDefined() // provisioned in the same answer
    expect(first.update).toMatchObject({ verdict: 'ran-verified', keyId: 0, length: script('1.0.1').length })
    expect(gateway.package).toBe('1.0.1')
    const second = await gateway.contact()
    expect(second.update).toBeUndefined()
    expect(second.body.equals(Buffer.alloc(14))).toBe(true)
    expect((await inventoryOf(gateway))?.firmware?.[id]).toMatchObject({ version: '1.0.1', from: '1.0.0', deliveries: 1, state: 'succeeded' })
    // The request line is written once the response has gone out, which may be a moment after the station read it.
    await vi.waitFor(() => {
      const line = server.logLines.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.msg === 'update-info' && (entry.sent as string[] | undefined)?.some((sent) => sent.startsWith('update ')))
      expect((line?.sent as string[] | undefined)?.at(-1)).toBe(`update ${id}/${String(script('1.0.1').length)} key 3420020549`)
    })
  })

  it('key rotation: a station holding only the new key gets its signature, one holding both verifies too', async () => {
    const rotated = newKey()
    const id = await publish('1.1.0', ['1.0.0'], [FIXTURE_KEY, rotated])
    await rollout(id)
    const onlyNew = await station({ keys: [rotated], runUpdate: () => '1.1.0' })
    expect((await onlyNew.contact()).update).toMatchObject({ verdict: 'ran-verified', keyId: 0 })
    const both = await station({ keys: [FIXTURE_KEY, rotated], runUpdate: () => '1.1.0' })
    expect((await both.contact()).update?.verdict).toBe('ran-verified')
  })

  it('a station whose keys signed nothing gets no update (never one it would discard); a keyless one only when the rollout allows unsigned', async () => {
    const id = await publish('1.2.0', ['1.0.0'], [FIXTURE_KEY])
    await rollout(id)
    const stranger = await station({ keys: [newKey()] })
    expect((await stranger.contact()).update).toBeUndefined()
    const keyless = await station({ runUpdate: () => '1.2.0' })
    expect((await keyless.contact()).update).toBeUndefined()
    await rollout(id, { allowUnsigned: true })
    const result = await keyless.contact()
    expect(result.update?.verdict).toBe('ran-unsigned')
    // Unsigned means no signature segment at all: a keyless station aborts a signed update it cannot check.
    expect(result.segments?.signature).toBeUndefined()
  })

  it('a ramp sends the update to exactly the gateways its stable hash selects, and raising it keeps them in', async () => {
    const id = await publish('1.5.0', ['1.0.0'], [FIXTURE_KEY])
    await rollout(id, { percent: 40 })
    const gateways = await Promise.all(Array.from({ length: 8 }, () => station({ keys: [FIXTURE_KEY], runUpdate: () => undefined })))
    const got = async (percent: number): Promise<boolean[]> => {
      await rollout(id, { percent, maxDeliveries: 100 })
      return Promise.all(gateways.map(async (gateway) => (await gateway.contact()).update?.verdict === 'ran-verified'))
    }
    const at40 = await got(40)
    expect(at40).toEqual(gateways.map((gateway) => inRamp(euiOf(gateway), id, 40)))
    const at80 = await got(80)
    expect(at80).toEqual(gateways.map((gateway) => inRamp(euiOf(gateway), id, 80)))
    at40.forEach((selected, index) => {
      if (selected) expect(at80[index]).toBe(true)
    })
  })

  it('no downgrade unless the rollout asks for one', async () => {
    const id = await publish('0.9.0', ['1.0.0'], [FIXTURE_KEY])
    await rollout(id)
    const gateway = await station({ keys: [FIXTURE_KEY], runUpdate: () => '0.9.0' })
    expect((await gateway.contact()).update).toBeUndefined()
    await rollout(id, { allowDowngrade: true })
    expect((await gateway.contact()).update?.verdict).toBe('ran-verified')
  })

  it('loop guard and auto-halt: a station that keeps its old version is sent the update twice, marked failed, and the rollout halts', async () => {
    const id = await publish('1.3.0', ['1.0.0'], [FIXTURE_KEY])
    await rollout(id, { maxDeliveries: 2, haltAfterFailures: 1 })
    // The update runs but forgets to change version.txt: the classic endless loop.
    const gateway = await station({ keys: [FIXTURE_KEY], runUpdate: () => undefined })
    expect((await gateway.contact()).update?.verdict).toBe('ran-verified')
    await server.settle()
    expect((await gateway.contact()).update?.verdict).toBe('ran-verified')
    await server.settle()
    expect((await gateway.contact()).update).toBeUndefined()
    expect((await inventoryOf(gateway))?.firmware?.[id]).toMatchObject({ deliveries: 2, state: 'failed' })
    expect((await catalogue.rollout(id))?.rollout).toMatchObject({ state: 'halted', failures: 1 })
    const metrics = (await adminGet(server.adminPort, '/metrics')).body
    expect(counterValue(metrics, 'cups_firmware_failures_total')).toBeGreaterThanOrEqual(1)
    expect(counterValue(metrics, 'cups_firmware_rollouts_halted_total')).toBeGreaterThanOrEqual(1)
    // Halted: another gateway on the old version gets nothing either.
    expect((await (await station({ keys: [FIXTURE_KEY] })).contact()).update).toBeUndefined()
  })

  it('streams a 4 MB update with Content-Length to a slow reader without cutting it off, and cuts a stalled one', async () => {
    const big = Buffer.concat([script('2.0.0'), randomBytes(4 * 1024 * 1024)])
    const id = await publish('2.0.0', ['1.0.0'], [FIXTURE_KEY], big)
    await rollout(id)
    // 1.5 s stall limit; the slow station pauses 20 ms after every chunk, taking longer than that in all.
    const slow = await station({ keys: [FIXTURE_KEY], readDelayMs: 20, runUpdate: () => '2.0.0' })
    const started = Date.now()
    const result = await slow.contact()
    expect(result.update).toMatchObject({ verdict: 'ran-verified', length: big.length })
    expect(Date.now() - started).toBeGreaterThan(1500)
    expect(Number(result.headers['content-length'])).toBe(result.body.length)

    // Loopback's socket buffers hold megabytes: an update larger than all of them, so the server feels the stall.
    await catalogue.changeRollout(id, (current) => (current === undefined ? undefined : { ...current, state: 'halted' }))
    const huge = Buffer.concat([script('2.0.1'), randomBytes(48 * 1024 * 1024)])
    await rollout(await publish('2.0.1', ['1.0.0'], [FIXTURE_KEY], huge))
    const stalled = await station({ keys: [FIXTURE_KEY], stallAfterBytes: 64 * 1024 })
    await expect(stalled.contact()).rejects.toThrow(/connection closed after/)
    // A download cut short is no delivery: the loop guard counts only what went out whole.
    expect((await inventoryOf(stalled))?.firmware).toBeUndefined()
    expect(server.logLines.some((line) => line.includes('firmware download cut off') && line.includes('DOWNLOAD_STALL_TIMEOUT_MS'))).toBe(true)
    await server.settle()
    const metrics = (await adminGet(server.adminPort, '/metrics')).body
    expect(counterValue(metrics, 'cups_firmware_downloads_total{result="aborted"}')).toBeGreaterThanOrEqual(1)
    expect(counterValue(metrics, 'cups_firmware_downloads_total{result="completed"}')).toBeGreaterThanOrEqual(1)
  }, 30_000)

  it('an update changed in storage after it was checked is cut short, never delivered whole, and not offered again as it is', async () => {
    const update = Buffer.concat([script('2.1.0'), randomBytes(512 * 1024)])
    const id = await publish('2.1.0', ['1.0.0'], [], update)
    await rollout(id, { allowUnsigned: true })
    const keyless = await station({ runUpdate: () => '2.1.0' })
    await keyless.contact() // provisioned; the update checked and sent whole
    // Another tool rewrites the stored update in place, same size: the manifest's sha256 no longer holds.
    const file = path.join(server.config.storage.dataDir, 'cups', 'firmware', id, 'update.bin')
    const tampered = Buffer.from(update)
    tampered.write('#!/bin/sh\necho pwned\n', 0)
    await writeFile(file, tampered)
    const victim = await station({ runUpdate: () => '2.1.0' })
    await expect(victim.contact()).rejects.toThrow(/connection closed after/)
    expect(server.logLines.some((line) => line.includes('is not the one checked against its manifest'))).toBe(true)
    // Checked again at the next read of the catalogue: it no longer matches, so it is not sent at all.
    const later = await station({ runUpdate: () => '2.1.0' })
    expect((await later.contact()).update).toBeUndefined()
  })

  it('resumes a rollout after a restart: deliveries counted before it still count', async () => {
    const id = await publish('1.4.0', ['1.0.0'], [FIXTURE_KEY])
    await rollout(id, { maxDeliveries: 2, haltAfterFailures: 100 })
    const gateway = await station({ keys: [FIXTURE_KEY], runUpdate: () => undefined })
    expect((await gateway.contact()).update?.verdict).toBe('ran-verified')
    await server.settle()
    const dir = server.dir
    await server.close()
    await start(dir)
    // A restarted server answers before its first read of the catalogue is done (no poll waits long for one).
    await server.settle()
    await gateway.setFile('cups.uri', `https://localhost:${String(server.port)}`)
    expect((await gateway.contact()).update?.verdict).toBe('ran-verified')
    await server.settle()
    expect((await gateway.contact()).update).toBeUndefined()
    expect((await inventoryOf(gateway))?.firmware?.[id]).toMatchObject({ deliveries: 2, state: 'failed' })
  })
})
