// Owns the gateway-state contract every BlobStore adapter must pass: records, revoke, inventory and last authentications through CachedBlobStore.
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'

import { crc32 } from '../../src/cups/crc32'
import { GatewayRegistry } from '../../src/gateways/gateway-registry'
import { effectiveSettings } from '../../src/gateways/gateway-settings'
import { parseInventoryEntry } from '../../src/gateways/inventory'
import type { InventoryEntry, InventoryRules, Observation } from '../../src/gateways/inventory'
import { InventoryRecorder } from '../../src/gateways/inventory-recorder'
import { LastAuthentications } from '../../src/gateways/last-authentication'
import { revokeGateway } from '../../src/gateways/revoke'
import { PromMetrics } from '../../src/observability/prom-metrics'
import type { BlobStore } from '../../src/storage/blob-store'
import { CachedBlobStore } from '../../src/storage/cached-blob-store'
import { storageKeys } from '../../src/storage/storage-keys'
import { RecordingBlobStore } from '../support/recording-blob-store'
import { newAuthority } from '../support/test-certificates'
import type { BlobStoreHarness } from './blob-store.contract'

const PREFIX = 'cups/'
const EUI = '0016c001ff10a235'
const OTHER_EUI = 'aa555a0000000101'
const KEYS = storageKeys(PREFIX, EUI)
const TTL_MS = 30_000
const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS
const T0 = new Date('2026-12-02T12:00:00.000Z')
const at = (offsetMs: number): Date => new Date(T0.getTime() + offsetMs)
const RULES: InventoryRules = { stuckAfterSends: 3, stuckBackoffMs: DAY_MS, refreshMs: DAY_MS }
const FINGERPRINT_A = 'a'.repeat(64)
const FINGERPRINT_B = 'b'.repeat(64)

const CUPS_BUNDLE = Buffer.from('the cups bundle this server wants the gateway to hold')
const TC_BUNDLE = Buffer.from('the tc bundle this server wants the gateway to hold')
const TC_URI = 'wss://lns.example.com:8887'

/** A converged gateway's poll (it holds what it should, nothing sent), with `change` laid over its report. */
/** A refused EUI that is not registered: the recorder must create no entry for it. */
const unregistered = (): Promise<boolean> => Promise.resolve(false)

function observation(now: Date, change: Partial<Observation['reported']> = {}): Observation {
  return {
    now,
    reported: {
      station: '2.0.6(rpi/std) 2024-01-01 00:00:00',
      model: 'linux',
      package: '1.0.0',
      cupsUri: 'https://cups.example.com:443',
      tcUri: TC_URI,
      cupsCredCrc: crc32(CUPS_BUNDLE),
      tcCredCrc: crc32(TC_BUNDLE),
      keys: [crc32(Buffer.from('sig-0.key'))],
      ...change,
    },
    desired: { tcUri: TC_URI, cupsCredentials: CUPS_BUNDLE, tcCredentials: TC_BUNDLE },
    sent: [],
    certificate: () => ({ serial: '1A2B3C', notAfter: '2027-12-02T12:00:00.000Z' }),
  }
}

const json = (value: unknown): Buffer => Buffer.from(`${JSON.stringify(value, null, 2)}\n`)

/**
 * `makeHarness` gives a fresh, empty adapter per test (the BlobStore contract's harness). Each "replica" here is
 * its own CachedBlobStore over that adapter, as src/server.ts builds it; "another tool" writes to the adapter.
 */
export function describeGatewayStateContract(name: string, makeHarness: () => Promise<BlobStoreHarness>): void {
  describe(`gateway state contract: ${name}`, () => {
    let harness: BlobStoreHarness | undefined
    /** The adapter itself: what other tools and replicas see. */
    let adapter: BlobStore
    /** What reaches the adapter from the replicas. */
    let observed: RecordingBlobStore
    /** The shared clock of every replica's read cache. */
    let clock: number
    let lnsCaPem: string
    let pkiDir: string

    const replica = (): CachedBlobStore => new CachedBlobStore(observed, TTL_MS, () => clock)
    const storedJson = async (key: string): Promise<unknown> => {
      const stored = await adapter.get(key)
      return stored === undefined ? undefined : JSON.parse(stored.body.toString('utf8'))
    }

    beforeAll(async () => {
      pkiDir = await mkdtemp(join(tmpdir(), 'cups-state-contract-'))
      lnsCaPem = await readFile((await newAuthority(pkiDir, 'LNS test CA')).cert, 'utf8')
    })

    afterAll(async () => {
      await rm(pkiDir, { recursive: true, force: true })
    })

    beforeEach(async () => {
      harness = await makeHarness()
      adapter = harness.store
      observed = new RecordingBlobStore(adapter)
      clock = 1_000_000
    })

    afterEach(async () => {
      await harness?.cleanup()
      harness = undefined
    })

    describe('gateway records (GatewayRegistry.lookup)', () => {
      const registryOf = (store: CachedBlobStore, allowlist: string[] = []) => {
        const warn = vi.fn()
        return { registry: new GatewayRegistry(store, (eui) => storageKeys(PREFIX, eui).settings, allowlist, { warn }), warn }
      }

      it('no record: not registered unless allowlisted, active either way', async () => {
        expect(await registryOf(replica()).registry.lookup(EUI)).toEqual({ registered: false, state: 'active' })
        expect(await registryOf(replica(), [EUI]).registry.lookup(EUI)).toEqual({ registered: true, state: 'active' })
      })

      it('{} registers an active gateway without problems', async () => {
        await adapter.put(KEYS.settings, Buffer.from('{}'))
        const registration = await registryOf(replica()).registry.lookup(EUI)
        expect(registration).toMatchObject({ registered: true, state: 'active', record: { state: 'active', problems: [], overrides: {} } })
        expect(registration.problem).toBeUndefined()
      })

      it('a full record comes back validated, its tcTrust PEM as the certificate it names', async () => {
        const fields = {
          version: 1,
          name: 'roof',
          cupsUri: 'https://cups2.example.com:8443',
          tcUri: 'wss://lns2.example.com:8887',
          tcTrust: lnsCaPem,
          tcCredentials: { source: 'lns-ca' },
        }
        await adapter.put(KEYS.settings, json(fields))
        const { registry, warn } = registryOf(replica())
        const registration = await registry.lookup(EUI)
        expect(registration).toMatchObject({ registered: true, state: 'active', record: { problems: [], fields, overrides: fields } })
        const settings = effectiveSettings({ cupsUri: undefined, tcUri: undefined }, registration.record?.overrides)
        expect(settings).toEqual({
          cupsUri: fields.cupsUri,
          tcUri: fields.tcUri,
          tcTrust: new X509Certificate(lnsCaPem).raw,
          tcSource: { source: 'lns-ca' },
        })
        expect(warn).not.toHaveBeenCalled()
      })

      it('{"state":"revoked"} keeps the gateway registered, revoked', async () => {
        await adapter.put(KEYS.settings, Buffer.from('{"state":"revoked"}'))
        expect(await registryOf(replica()).registry.lookup(EUI)).toMatchObject({ registered: true, state: 'revoked', record: { problems: [] } })
      })

      it('a record with schema problems lists each by field and keeps its state; logged once per stored version', async () => {
        await adapter.put(KEYS.settings, json({ state: 'disabled', name: 'roof', cupsUri: 'http://cups.example.com:80', tcUri: 'wss://lns.example.com' }))
        const { registry, warn } = registryOf(replica())
        const registration = await registry.lookup(EUI)
        expect(registration).toMatchObject({ registered: true, state: 'disabled', record: { overrides: undefined, fields: { name: 'roof' } } })
        expect(registration.record?.problems).toEqual([expect.stringMatching(/^cupsUri: must be https/), expect.stringMatching(/^tcUri: /)])
        await registry.lookup(EUI)
        await registry.lookup(EUI, { fresh: true })
        expect(warn).toHaveBeenCalledTimes(1)
      })

      it('a JSON array registers nothing and says why, whatever it contains', async () => {
        await adapter.put(KEYS.settings, Buffer.from('[{"state":"revoked"}]'))
        const { registry, warn } = registryOf(replica())
        const registration = await registry.lookup(EUI)
        expect(registration).toEqual({ registered: false, state: 'active', problem: expect.stringMatching(/not an array/) as unknown })
        expect(warn).toHaveBeenCalledTimes(1)
        expect(await registryOf(replica(), [EUI]).registry.lookup(EUI)).toMatchObject({ registered: true, state: 'active' })
      })

      it('a cached "absent" hides a new record until the TTL, except from a fresh lookup', async () => {
        const { registry } = registryOf(replica())
        expect((await registry.lookup(EUI)).registered).toBe(false)
        await adapter.put(KEYS.settings, Buffer.from('{"state":"disabled"}'))
        expect((await registry.lookup(EUI)).registered).toBe(false)
        expect(await registry.lookup(EUI, { fresh: true })).toMatchObject({ registered: true, state: 'disabled' })
        // The fresh read refilled the cache, so plain lookups agree from now on.
        expect(await registry.lookup(EUI)).toMatchObject({ registered: true, state: 'disabled' })

        const other = registryOf(replica()).registry
        expect((await other.lookup(OTHER_EUI)).registered).toBe(false)
        await adapter.put(storageKeys(PREFIX, OTHER_EUI).settings, Buffer.from('{}'))
        clock += TTL_MS
        expect((await other.lookup(OTHER_EUI)).registered).toBe(true)
      })

      it('polls within the TTL reach the adapter once', async () => {
        await adapter.put(KEYS.settings, Buffer.from('{}'))
        const { registry } = registryOf(replica())
        for (let i = 0; i < 5; i++) await registry.lookup(EUI)
        expect(observed.reads.filter((key) => key === KEYS.settings)).toHaveLength(1)
      })
    })

    describe.each([
      ['through a replica\'s CachedBlobStore', () => replica()],
      ['on the bare adapter, as the CLI runs it', () => observed],
    ] as const)('revokeGateway %s', (_how, storeFor) => {
      const bundlesAndAuth = async (): Promise<void> => {
        await adapter.put(KEYS.cupsCredentials, Buffer.from('cups bundle'))
        await adapter.put(KEYS.tcCredentials, Buffer.from('tc bundle'))
        await new LastAuthentications(adapter, () => KEYS.lastAuthentication).remember(EUI, { via: 'certificate', sha256: FINGERPRINT_A, serial: '01' })
      }

      it('keeps the record\'s fields, sets revoked, deletes the bundles and the last authentication', async () => {
        const fields = { name: 'roof', labels: { site: 'a' }, tcUri: TC_URI, firmware: { channel: 'stable' } }
        await adapter.put(KEYS.settings, json(fields))
        await bundlesAndAuth()
        const before = await adapter.get(KEYS.settings)

        const result = await revokeGateway(storeFor(), EUI, { prefix: PREFIX, now: T0, reason: 'stolen' })

        const revoked = { ...fields, state: 'revoked', revokedAt: T0.toISOString(), revokedReason: 'stolen' }
        expect(result).toEqual({ record: revoked, deleted: [KEYS.lastAuthentication, KEYS.cupsCredentials, KEYS.tcCredentials] })
        expect(await storedJson(KEYS.settings)).toEqual(revoked)
        expect(await adapter.list(`${PREFIX}${EUI}/`)).toEqual([KEYS.settings])
        expect(observed.putsTo(KEYS.settings)).toEqual([{ key: KEYS.settings, condition: { ifMatch: before?.etag }, outcome: 'ok' }])
        expect(await new LastAuthentications(replica(), () => KEYS.lastAuthentication).get(EUI)).toBeUndefined()
        const registry = new GatewayRegistry(replica(), () => KEYS.settings, [])
        expect(await registry.lookup(EUI)).toMatchObject({ registered: true, state: 'revoked', record: { problems: [] } })
      })

      it('creates the record with If-None-Match for a gateway that had none', async () => {
        await bundlesAndAuth()
        await revokeGateway(storeFor(), EUI, { prefix: PREFIX, now: T0 })
        expect(await storedJson(KEYS.settings)).toEqual({ state: 'revoked', revokedAt: T0.toISOString() })
        expect(observed.putsTo(KEYS.settings)).toEqual([{ key: KEYS.settings, condition: { ifNoneMatch: '*' }, outcome: 'ok' }])
        expect(await adapter.list(`${PREFIX}${EUI}/`)).toEqual([KEYS.settings])
      })

      it('merges with an edit that lands between its read and its conditional write', async () => {
        await adapter.put(KEYS.settings, json({ name: 'roof', labels: { site: 'a' } }))
        await bundlesAndAuth()
        const edit = { name: 'roof', labels: { site: 'b' }, firmware: { channel: 'beta' } }
        observed.onceAfterGet(KEYS.settings, () => adapter.put(KEYS.settings, json(edit)))

        const result = await revokeGateway(storeFor(), EUI, { prefix: PREFIX, now: T0 })

        const merged = { ...edit, state: 'revoked', revokedAt: T0.toISOString() }
        expect(result.record).toEqual(merged)
        expect(await storedJson(KEYS.settings)).toEqual(merged)
        expect(observed.putsTo(KEYS.settings).map((put) => put.outcome)).toEqual(['precondition-failed', 'ok'])
        expect(await adapter.list(`${PREFIX}${EUI}/`)).toEqual([KEYS.settings])
      })
    })

    it('revoke: another replica refuses at once on a fresh lookup, and on cached ones once the TTL passed', async () => {
      await adapter.put(KEYS.settings, Buffer.from('{}'))
      const elsewhere = new GatewayRegistry(replica(), () => KEYS.settings, [])
      expect((await elsewhere.lookup(EUI)).state).toBe('active')
      await revokeGateway(replica(), EUI, { prefix: PREFIX, now: T0 })
      // What "every replica refuses within CACHE_TTL_SECONDS" means: a cached read may still say active.
      expect((await elsewhere.lookup(EUI)).state).toBe('active')
      clock += TTL_MS
      expect((await elsewhere.lookup(EUI)).state).toBe('revoked')
      const another = new GatewayRegistry(replica(), () => KEYS.settings, [])
      expect((await another.lookup(EUI, { fresh: true })).state).toBe('revoked')
    })

    describe('the fleet inventory (InventoryRecorder)', () => {
      const recorderOn = (store: CachedBlobStore) => {
        const log = { warn: vi.fn(), error: vi.fn() }
        const metrics = new PromMetrics({ processMetrics: false })
        const recorder = new InventoryRecorder({ store, keyFor: (eui) => storageKeys(PREFIX, eui).inventory, rules: RULES, log, metrics })
        return { recorder, log, metrics }
      }
      const storedEntry = async (eui = EUI): Promise<InventoryEntry | undefined> => {
        const stored = await adapter.get(storageKeys(PREFIX, eui).inventory)
        return stored === undefined ? undefined : parseInventoryEntry(stored.body)
      }
      const outcomes = (): string[] => observed.putsTo(KEYS.inventory).map((put) => put.outcome)

      it('the first observe creates the entry with If-None-Match', async () => {
        const { recorder, log } = recorderOn(replica())
        recorder.observe(EUI, observation(T0))
        await recorder.drain()
        expect(observed.putsTo(KEYS.inventory)).toEqual([{ key: KEYS.inventory, condition: { ifNoneMatch: '*' }, outcome: 'ok' }])
        const entry = await storedEntry()
        expect(entry).toMatchObject({
          version: 1,
          firstSeen: T0.toISOString(),
          lastSeen: T0.toISOString(),
          model: 'linux',
          package: '1.0.0',
          converged: true,
          desired: { tcUri: TC_URI, cupsCredCrc: crc32(CUPS_BUNDLE), tcCredCrc: crc32(TC_BUNDLE) },
          certificate: { crc: crc32(CUPS_BUNDLE), serial: '1A2B3C' },
        })
        expect(await recorder.entry(EUI)).toEqual(entry)
        expect(log.error).not.toHaveBeenCalled()
      })

      it('a repeated identical observe within the refresh period writes nothing; after it, lastSeen moves (If-Match)', async () => {
        const { recorder } = recorderOn(replica())
        recorder.observe(EUI, observation(T0))
        await recorder.drain()
        const first = await adapter.get(KEYS.inventory)
        for (const offset of [HOUR_MS, 2 * HOUR_MS, DAY_MS - 1]) recorder.observe(EUI, observation(at(offset)))
        await recorder.drain()
        expect(observed.putsTo(KEYS.inventory)).toHaveLength(1)
        expect((await adapter.get(KEYS.inventory))?.etag).toBe(first?.etag)

        recorder.observe(EUI, observation(at(DAY_MS)))
        await recorder.drain()
        expect(observed.putsTo(KEYS.inventory)[1]).toEqual({ key: KEYS.inventory, condition: { ifMatch: first?.etag }, outcome: 'ok' })
        expect(await storedEntry()).toMatchObject({ firstSeen: T0.toISOString(), lastSeen: at(DAY_MS).toISOString() })
      })

      it('a change writes with If-Match of the stored ETag, keeping firstSeen and (inside the period) lastSeen', async () => {
        const { recorder } = recorderOn(replica())
        recorder.observe(EUI, observation(T0))
        await recorder.drain()
        const first = await adapter.get(KEYS.inventory)
        recorder.observe(EUI, observation(at(HOUR_MS), { package: '1.0.1' }))
        await recorder.drain()
        expect(observed.putsTo(KEYS.inventory)[1]).toEqual({ key: KEYS.inventory, condition: { ifMatch: first?.etag }, outcome: 'ok' })
        expect(await storedEntry()).toMatchObject({ package: '1.0.1', firstSeen: T0.toISOString(), lastSeen: T0.toISOString() })
      })

      it('two replicas observing different changes at once: no error, the loser re-reads and the last write wins', async () => {
        const a = recorderOn(replica())
        const b = recorderOn(replica())
        a.recorder.observe(EUI, observation(T0))
        await a.recorder.drain()
        // Both replicas now hold the same stored version in their read caches.
        expect(await b.recorder.entry(EUI)).toBeDefined()

        const fromA = observation(at(HOUR_MS), { package: '1.0.1' })
        const fromB = observation(at(HOUR_MS), { model: 'corecell' })
        a.recorder.observe(EUI, fromA)
        b.recorder.observe(EUI, fromB)
        await Promise.all([a.recorder.drain(), b.recorder.drain()])

        // Created, then one conditional write lost and was computed again from the winner's entry.
        expect(outcomes()[0]).toBe('ok')
        expect(outcomes().slice(1).sort()).toEqual(['ok', 'ok', 'precondition-failed'])
        const entry = await storedEntry()
        expect(entry).toBeDefined()
        const shown = ({ model, package: pkg }: { model: string | null; package: string | null }) => ({ model, package: pkg })
        expect([shown(fromA.reported), shown(fromB.reported)]).toContainEqual(entry && shown(entry))
        expect(entry).toMatchObject({ firstSeen: T0.toISOString(), lastSeen: T0.toISOString(), converged: true })
        for (const { log, metrics } of [a, b]) {
          expect(log.error).not.toHaveBeenCalled()
          expect(await metrics.value('inventory_write_failures_total')).toBe(0)
        }
      })

      it('an observe and a refusal from two replicas at once both end up in the entry', async () => {
        const a = recorderOn(replica())
        const b = recorderOn(replica())
        a.recorder.observe(EUI, observation(T0))
        await a.recorder.drain()
        expect(await b.recorder.entry(EUI)).toBeDefined()

        a.recorder.observe(EUI, observation(at(HOUR_MS), { package: '1.0.1' }))
        b.recorder.refused(EUI, { now: at(HOUR_MS), status: 403, reason: `gateway ${EUI} is disabled` }, unregistered)
        await Promise.all([a.recorder.drain(), b.recorder.drain()])

        expect(outcomes().slice(1).sort()).toEqual(['ok', 'ok', 'precondition-failed'])
        expect(await storedEntry()).toMatchObject({
          package: '1.0.1',
          lastRefusal: { at: at(HOUR_MS).toISOString(), status: 403, reason: `gateway ${EUI} is disabled` },
        })
        expect(a.log.error).not.toHaveBeenCalled()
        expect(b.log.error).not.toHaveBeenCalled()
      })

      it('refused() on a gateway without an entry writes nothing; with one, it records the refusal once', async () => {
        const { recorder } = recorderOn(replica())
        recorder.refused(EUI, { now: T0, status: 404, reason: `unknown gateway ${EUI}` }, unregistered)
        await recorder.drain()
        expect(observed.puts).toEqual([])
        expect(await adapter.list(PREFIX)).toEqual([])

        recorder.observe(EUI, observation(T0))
        for (let i = 0; i < 3; i++) {
          recorder.refused(EUI, { now: at(HOUR_MS + i), status: 403, reason: `gateway ${EUI} is disabled` }, unregistered)
        }
        await recorder.drain()
        expect(outcomes()).toEqual(['ok', 'ok'])
        expect((await storedEntry())?.lastRefusal).toEqual({ at: at(HOUR_MS).toISOString(), status: 403, reason: `gateway ${EUI} is disabled` })
      })

      it('drain() settles once every queued update has been written, per gateway in order', async () => {
        const { recorder } = recorderOn(replica())
        await recorder.drain()
        const packages = ['1.0.0', '1.0.1', '1.0.2', '1.0.3', '1.0.4']
        for (const [i, version] of packages.entries()) recorder.observe(EUI, observation(at(i * HOUR_MS), { package: version }))
        recorder.observe(OTHER_EUI, observation(T0))
        await recorder.drain()
        expect(outcomes()).toEqual(packages.map(() => 'ok'))
        expect((await storedEntry())?.package).toBe('1.0.4')
        expect(await storedEntry(OTHER_EUI)).toMatchObject({ package: '1.0.0', firstSeen: T0.toISOString() })
      })

      it('drain() settles when the store fails: logged and counted, nothing stored', async () => {
        const { recorder, log, metrics } = recorderOn(replica())
        observed.failPuts = true
        recorder.observe(EUI, observation(T0))
        recorder.observe(EUI, observation(at(HOUR_MS), { package: '1.0.1' }))
        await recorder.drain()
        expect(outcomes()).toEqual(['failed', 'failed'])
        expect(await metrics.value('inventory_write_failures_total')).toBe(2)
        expect(log.error).toHaveBeenCalledTimes(2)
        expect(await adapter.get(KEYS.inventory)).toBeUndefined()
      })
    })

    describe('last authentications (LastAuthentications)', () => {
      const authOn = (store: CachedBlobStore, now: Date = T0) => new LastAuthentications(store, (eui) => storageKeys(PREFIX, eui).lastAuthentication, () => now)
      const certA = { via: 'certificate', sha256: FINGERPRINT_A, serial: '01' } as const
      const certB = { via: 'certificate', sha256: FINGERPRINT_B, serial: '02' } as const

      it('remember / get / forget, writing only on change and conditionally', async () => {
        const auth = authOn(replica())
        await auth.remember(EUI, certA)
        expect(await auth.get(EUI)).toEqual({ ...certA, at: T0.toISOString() })
        expect(await storedJson(KEYS.lastAuthentication)).toEqual({ version: 1, ...certA, at: T0.toISOString() })
        const first = await adapter.get(KEYS.lastAuthentication)

        await auth.remember(EUI, certA)
        await auth.remember(EUI, { via: 'token' })
        expect(observed.putsTo(KEYS.lastAuthentication)).toEqual([
          { key: KEYS.lastAuthentication, condition: { ifNoneMatch: '*' }, outcome: 'ok' },
          { key: KEYS.lastAuthentication, condition: { ifMatch: first?.etag }, outcome: 'ok' },
        ])
        expect(await authOn(replica()).get(EUI)).toEqual({ via: 'token', at: T0.toISOString() })

        await auth.forget(EUI)
        expect(await auth.get(EUI)).toBeUndefined()
        expect(await adapter.get(KEYS.lastAuthentication)).toBeUndefined()
        await expect(auth.forget(EUI)).resolves.toBeUndefined()
      })

      it('a token with nothing stored writes nothing', async () => {
        await authOn(replica()).remember(EUI, { via: 'token' })
        expect(observed.puts).toEqual([])
        expect(await adapter.list(PREFIX)).toEqual([])
      })

      it('a fresh get sees what another replica wrote after a cached read', async () => {
        const here = authOn(replica())
        expect(await here.get(EUI)).toBeUndefined()
        await authOn(replica()).remember(EUI, certA)
        expect(await here.get(EUI)).toBeUndefined()
        expect(await here.get(EUI, { fresh: true })).toEqual({ ...certA, at: T0.toISOString() })
      })

      it('a write that lands between its read and its conditional put: it re-reads and writes over it', async () => {
        const auth = authOn(replica())
        observed.onceAfterGet(KEYS.lastAuthentication, () => adapter.put(KEYS.lastAuthentication, Buffer.from('{"version":1,"via":"token","at":"x"}\n')))
        await auth.remember(EUI, certB)
        expect(observed.putsTo(KEYS.lastAuthentication).map((put) => [put.condition, put.outcome])).toEqual([
          [{ ifNoneMatch: '*' }, 'precondition-failed'],
          [{ ifMatch: expect.any(String) as unknown }, 'ok'],
        ])
        expect(await authOn(replica()).get(EUI)).toEqual({ ...certB, at: T0.toISOString() })
      })

      it('two replicas remembering different certificates at once: both resolve and a whole record is stored', async () => {
        const a = authOn(replica())
        const b = authOn(replica(), at(1))
        expect(await a.get(EUI)).toBeUndefined()
        expect(await b.get(EUI)).toBeUndefined()
        await Promise.all([a.remember(EUI, certA), b.remember(EUI, certB)])

        const puts = observed.putsTo(KEYS.lastAuthentication)
        expect(puts.map((put) => put.outcome).sort()).toEqual(['ok', 'ok', 'precondition-failed'])
        const stored = await authOn(replica()).get(EUI)
        expect([
          { ...certA, at: T0.toISOString() },
          { ...certB, at: at(1).toISOString() },
        ]).toContainEqual(stored)
      })
    })
  })
}
