// FirmwareService on an in-memory store: only checked updates and signatures are offered, download slots, and the stream it sends.
import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { FirmwareCatalogue, firmwareKeys } from '../../../src/firmware/firmware-catalogue'
import type { FirmwareManifest, Rollout } from '../../../src/firmware/firmware-manifest'
import { activeRollout, parseManifest, serialise } from '../../../src/firmware/firmware-manifest'
import { FirmwareService } from '../../../src/firmware/firmware-service'
import { keyCrcOf, signUpdate, stationKeyOf } from '../../../src/firmware/signing-keys'
import { PromMetrics } from '../../../src/observability/prom-metrics'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined }
const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
const update = Buffer.from('#!/bin/sh\necho 1.0.1 > version.txt\nrm -f /tmp/update.bin\n'.repeat(100))
const signature = { stationKey: stationKeyOf(key).toString('base64'), signature: signUpdate(update, key).toString('base64') }

async function setUp(rollout: Partial<Rollout> = {}): Promise<{ store: MemoryBlobStore; service: FirmwareService; manifest: FirmwareManifest; metrics: PromMetrics }> {
  const store = new MemoryBlobStore()
  const catalogue = new FirmwareCatalogue(store, 'cups/')
  const { manifest } = await catalogue.publish({ update, version: '1.0.1', from: ['1.0.0'], signatures: [signature], now: new Date() })
  await catalogue.changeRollout(manifest.id, () => activeRollout(manifest.id, new Date(), rollout))
  const metrics = new PromMetrics({ processMetrics: false })
  return { store, service: new FirmwareService({ store, prefix: 'cups/', refreshMs: 0, log: quiet, metrics }), manifest, metrics }
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

describe('FirmwareService', () => {
  it('offers a checked update with the signatures that verify, and drops a signature that does not', async () => {
    const { store, service, manifest } = await setUp()
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
    // Another tool files this key's signature under another key: the station would never verify it, so it is never sent.
    const otherKey = stationKeyOf(other)
    const forged = { keyCrc: keyCrcOf(otherKey), stationKey: otherKey.toString('base64'), signature: signature.signature }
    const edited = parseManifest(serialise({ ...manifest, signatures: [...manifest.signatures, forged] }))
    await store.put(firmwareKeys('cups/', manifest.id).manifest, serialise(edited))
    const offered = (await service.offers()).get(manifest.id)
    expect(offered?.manifest.signatures).toHaveLength(2)
    expect(offered?.signatures.map((entry) => entry.keyCrc)).toEqual([manifest.signatures[0]?.keyCrc])
  })

  it('one broken entry costs only itself: a key that is not a point fails its signature, a copied folder is left out, others stay', async () => {
    const { store, service, manifest } = await setUp()
    const notAPoint = Buffer.alloc(64)
    const edited = parseManifest(serialise({ ...manifest, signatures: [...manifest.signatures, { keyCrc: keyCrcOf(notAPoint), stationKey: notAPoint.toString('base64'), signature: signature.signature }] }))
    await store.put(firmwareKeys('cups/', manifest.id).manifest, serialise(edited))
    // A folder copied by hand: its manifest names the original id.
    const copy = firmwareKeys('cups/', 'copied-by-hand')
    await store.put(copy.manifest, serialise(manifest))
    await store.put(copy.update, update)
    const offers = await service.offers()
    expect([...offers.keys()]).toEqual([manifest.id])
    expect(offers.get(manifest.id)?.signatures.map((entry) => entry.keyCrc)).toEqual([manifest.signatures[0]?.keyCrc])
  })

  it('a poll before the first read of the catalogue has finished gets none; settled() waits for that read, reread() for a new one', async () => {
    // Storage slower than a poll waits (250 ms), as on a restart against a distant S3.
    class SlowStore extends MemoryBlobStore {
      override async get(key: string): ReturnType<MemoryBlobStore['get']> {
        await new Promise((resolve) => setTimeout(resolve, 400))
        return super.get(key)
      }
    }
    const store = new SlowStore()
    const catalogue = new FirmwareCatalogue(store, 'cups/')
    const { manifest } = await catalogue.publish({ update, version: '1.0.1', from: ['1.0.0'], signatures: [signature], now: new Date() })
    await catalogue.changeRollout(manifest.id, () => activeRollout(manifest.id, new Date()))
    const service = new FirmwareService({ store, prefix: 'cups/', refreshMs: 60_000, log: quiet, metrics: new PromMetrics({ processMetrics: false }) })
    service.watch()
    try {
      expect((await service.offers()).size).toBe(0)
      await service.settled()
      expect([...(await service.offers()).keys()]).toEqual([manifest.id])
      // Published after that read, within the refresh period: offered once reread() has returned, not before.
      const next = Buffer.concat([update, Buffer.from('\n')])
      const { manifest: later } = await catalogue.publish({ update: next, version: '1.0.2', from: ['1.0.0'], signatures: [], now: new Date() })
      await catalogue.changeRollout(later.id, () => activeRollout(later.id, new Date(), { allowUnsigned: true }))
      expect([...(await service.offers()).keys()]).toEqual([manifest.id])
      await service.reread()
      expect([...(await service.offers()).keys()].sort()).toEqual([manifest.id, later.id].sort())
    } finally {
      await service.unwatch()
    }
  })

  it('offers nothing for an update that does not match its manifest', async () => {
    const { store, service, manifest } = await setUp()
    await store.put(firmwareKeys('cups/', manifest.id).update, Buffer.concat([update, Buffer.from('\n')]))
    expect((await service.offers()).has(manifest.id)).toBe(false)
  })

  it('gives out at most maxConcurrentDownloads slots per firmware, counts the refusals, and takes a slot back once', async () => {
    const { service, manifest, metrics } = await setUp({ maxConcurrentDownloads: 2 })
    const offer = (await service.offers()).get(manifest.id)
    if (offer === undefined) throw new Error('not offered')
    const first = service.acquire(offer, 'a')
    const second = service.acquire(offer, 'b')
    expect(first).toBeDefined()
    expect(second).toBeDefined()
    expect(service.acquire(offer, 'c')).toBeUndefined()
    first?.()
    first?.()
    // One download per gateway at a time: a second connection of gateway b waits, whatever the cap.
    expect(service.acquire(offer, 'b')).toBeUndefined()
    expect(service.acquire(offer, 'c')).toBeDefined()
    expect(service.acquire(offer, 'd')).toBeUndefined()
    expect(await metrics.value('firmware_withheld_total', { reason: 'download_cap' })).toBe(2)
    expect(await metrics.value('firmware_withheld_total', { reason: 'already_downloading' })).toBe(1)
  })

  it('streams head then update, releasing its slot and counting a delivery at the end; one changed since the check is cut short', async () => {
    const { store, service, manifest, metrics } = await setUp()
    await service.offers()
    let released = 0
    const head = Buffer.from('HEAD')
    let delivered = 0
    const opened = await service.open(manifest, head, () => released++, () => delivered++)
    expect(opened?.length).toBe(head.length + update.length)
    expect((await collect(opened?.stream ?? process.stdin)).equals(Buffer.concat([head, update]))).toBe(true)
    await new Promise((resolve) => setImmediate(resolve))
    expect(released).toBe(1)
    expect(delivered).toBe(1)
    expect(await metrics.value('firmware_downloads_total', { result: 'completed' })).toBe(1)

    // Same size, other bytes, a new version in storage: hashed on the way, and the last chunk never goes out.
    const tampered = Buffer.from(update)
    tampered[0] = 0x23 ^ 0xff
    await store.put(firmwareKeys('cups/', manifest.id).update, tampered)
    const second = await service.open(manifest, head, () => released++, () => delivered++)
    await expect(collect(second?.stream ?? process.stdin)).rejects.toThrow(/not the one checked/)
    await new Promise((resolve) => setImmediate(resolve))
    expect(released).toBe(2)
    expect(delivered).toBe(1)
    expect(await metrics.value('firmware_downloads_total', { result: 'aborted' })).toBe(1)
  })
})
