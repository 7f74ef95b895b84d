// Owns access under caches and races: a revoke, deleted bundles or a concurrent first contact never leak keys.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import { revokeGateway } from '../../../src/gateways/revoke'
import type { BlobStore } from '../../../src/storage/blob-store'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'
import { anonymous, certificateOf, EUI, FakeClock, KEYS, makeReplica, poll, presenting } from '../../support/test-gateways'
import { createTestPki } from '../../support/test-pki'
import type { TestPki } from '../../support/test-pki'

describe('access under caches and races (a 30 s read cache per replica, a revoke from the CLI)', () => {
  let pki: TestPki
  beforeAll(async () => {
    pki = await createTestPki('cups-races-')
  })
  afterAll(() => pki.remove())

  async function registered(): Promise<MemoryBlobStore> {
    const storage = new MemoryBlobStore()
    await storage.put(KEYS.settings, Buffer.from('{}'))
    return storage
  }

  it('a revoke counts at once where keys would leave or be written, whatever the cache still says', async () => {
    const storage = await registered()
    const clock = new FakeClock()
    const { service } = makeReplica(storage, pki, { clock })
    const first = await poll(service, anonymous)
    const stolen = certificateOf(first.cups)
    clock.advance(31_000)
    expect((await poll(service, presenting(stolen), first)).status).toBe(200)
    // The thief warms the cache with the record and the CUPS bundle, leaving the TC bundle cold.
    clock.advance(31_000)
    expect((await poll(service, anonymous)).status).toBe(403)
    await revokeGateway(storage, EUI, { prefix: 'cups/' })
    clock.advance(1_000)

    const afterRevoke = await poll(service, presenting(stolen), first)
    expect(afterRevoke).toMatchObject({ status: 403, error: expect.stringMatching(/is revoked/) as unknown })
    // Nothing was minted or remembered for it: the revoke's deletes stand.
    expect(await storage.list(`cups/${EUI}/`)).toEqual([KEYS.settings])

    // The operator re-provisions: the gateway starts over, and the stolen certificate never counts again.
    await storage.put(KEYS.settings, Buffer.from('{"state":"active"}'))
    clock.advance(31_000)
    expect((await poll(service, anonymous)).status).toBe(200)
    clock.advance(31_000)
    expect((await poll(service, presenting(stolen), first)).status).toBe(403)
  })

  it('a revoke landing while a request is under way undoes what that request writes', async () => {
    const storage = await registered()
    let revokeOnTcRead = false
    const racing: BlobStore = {
      get: async (key) => {
        if (revokeOnTcRead && key === KEYS.tcCredentials) {
          revokeOnTcRead = false
          await revokeGateway(storage, EUI, { prefix: 'cups/' })
        }
        return storage.get(key)
      },
      put: (key, body, condition) => storage.put(key, body, condition),
      delete: (key) => storage.delete(key),
      list: (prefix) => storage.list(prefix),
    }
    const { service } = makeReplica(racing, pki, { ttlMs: 0 })
    const first = await poll(service, anonymous)
    revokeOnTcRead = true
    // It reports no TC bundle, so this request would mint one right after the revoke deleted it.
    expect((await poll(service, presenting(certificateOf(first.cups)), { cups: first.cups })).status).toBe(403)
    expect(await storage.list(`cups/${EUI}/`)).toEqual([KEYS.settings])
  })

  it('after its bundles were deleted, a stolen certificate gets none of the keys the real gateway bootstraps with, on any replica', async () => {
    const storage = await registered()
    const clock = new FakeClock()
    const a = makeReplica(storage, pki, { clock })
    const b = makeReplica(storage, pki, { clock })
    const first = await poll(a.service, anonymous)
    const stolen = certificateOf(first.cups)
    expect((await poll(a.service, presenting(stolen), first)).status).toBe(200)
    clock.advance(31_000)
    expect((await poll(b.service, anonymous)).status).toBe(403) // the thief warms replica B's cache
    await storage.delete(KEYS.cupsCredentials)
    await storage.delete(KEYS.tcCredentials)
    clock.advance(1_000)
    const fresh = await poll(a.service, anonymous) // the real gateway, from its boot set
    expect(fresh.status).toBe(200)
    expect(certificateOf(fresh.cups).equals(stolen)).toBe(false)

    const onB = await poll(b.service, presenting(stolen), first)
    expect(onB.status).toBe(403)
    expect(onB.tc).toBeUndefined()
    clock.advance(31_000)
    for (const replica of [a, b]) expect((await poll(replica.service, presenting(stolen), first)).status).toBe(403)
  })

  it.each(['one replica', 'two replicas'])('two anonymous first contacts at once (%s): one identity, and an audit line says it was shared', async (mode) => {
    const storage = await registered()
    const audits: unknown[] = []
    const log = { info: () => undefined, debug: () => undefined, error: () => undefined, warn: (fields: unknown) => audits.push(fields) }
    const a = makeReplica(storage, pki, { log: log as never })
    const b = mode === 'one replica' ? a : makeReplica(storage, pki, { log: log as never })
    // The audit line goes to the request's log (it carries the request id).
    const [first, second] = await Promise.all([poll(a.service, anonymous, {}, log as never), poll(b.service, anonymous, {}, log as never)])
    // Replicas agree on one identity (a station retrying on another replica must converge)...
    expect(first.cups).toBeDefined()
    expect(second.cups?.equals(first.cups ?? Buffer.alloc(0))).toBe(true)
    // ...and the operator can see that two callers who proved nothing got it.
    expect(audits).toContainEqual(expect.objectContaining({ audit: 'first-identity-shared', eui: EUI }))
    expect((await poll(b.service, anonymous)).status).toBe(403)
  })

  it('a first identity abandoned at the deadline goes even when a TC bundle was already there (no lockout)', async () => {
    const storage = await registered()
    await storage.put(KEYS.settings, Buffer.from('{"tcCredentials":{"source":"none"}}'))
    // A trust-only TC bundle stays from before; the CUPS bundle was deleted for a re-bootstrap.
    await storage.put(KEYS.tcCredentials, buildCredentialBlob({ trust: pki.trust }))
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
    let slowTcRead = false
    const slow: BlobStore = {
      get: async (key) => {
        if (slowTcRead && key === KEYS.tcCredentials) {
          slowTcRead = false
          await sleep(800)
        }
        return storage.get(key)
      },
      put: async (key, body, condition) => {
        const result = await storage.put(key, body, condition)
        if (key === KEYS.cupsCredentials) slowTcRead = true
        return result
      },
      delete: (key) => storage.delete(key),
      list: (prefix) => storage.list(prefix),
    }
    const { service } = makeReplica(slow, pki, { deadlineMs: 500, ttlMs: 0 })
    expect((await poll(service, anonymous)).cups).toBeUndefined()
    await sleep(1200)
    expect(await storage.get(KEYS.cupsCredentials)).toBeUndefined()
    const again = makeReplica(storage, pki, { ttlMs: 0 })
    expect((await poll(again.service, anonymous)).status).toBe(200)
  })

  it('the first-contact winner missing its deadline does not take back an identity another replica delivered', async () => {
    const storage = await registered()
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
    let aMints = 0
    let bMints = 0
    // A mints CUPS fast and TC slowly (past its deadline); B mints CUPS late, loses the create race, serves A's.
    const a = makeReplica(storage, pki, {
      deadlineMs: 1000,
      minter: { mint: async (eui, signal) => ((aMints++ === 1 ? await sleep(1500) : undefined, pki.minter.mint(eui, signal))) },
    })
    const b = makeReplica(storage, pki, {
      minter: { mint: async (eui, signal) => ((bMints++ === 0 ? await sleep(300) : undefined, pki.minter.mint(eui, signal))) },
    })
    const [onA, onB] = await Promise.all([poll(a.service, anonymous), poll(b.service, anonymous)])
    expect(onA.cups).toBeUndefined() // "no change" at the deadline
    expect(onB.cups).toBeDefined()
    await sleep(1800)
    // B's station holds both bundles, and storage still does: it is not locked out.
    expect((await storage.get(KEYS.cupsCredentials))?.body.equals(onB.cups ?? Buffer.alloc(0))).toBe(true)
    expect(await storage.get(KEYS.tcCredentials)).toBeDefined()
    const c = makeReplica(storage, pki, { ttlMs: 0 })
    expect((await poll(c.service, presenting(certificateOf(onB.cups)), onB)).status).toBe(200)
  })

  it('a CUPS bundle with a trust only gets the gateway an identity; an old certificate never fetches it', async () => {
    const storage = await registered()
    const { service } = makeReplica(storage, pki, { ttlMs: 0 })
    const first = await poll(service, anonymous)
    const old = certificateOf(first.cups)
    expect((await poll(service, presenting(old), first)).status).toBe(200)
    // Another tool switches the gateway to server-only CUPS authentication.
    await storage.put(KEYS.cupsCredentials, buildCredentialBlob({ trust: pki.trust }))
    expect((await poll(service, presenting(old), first)).status).toBe(403)
    await storage.delete(KEYS.tcCredentials)
    const restart = await poll(service, anonymous)
    expect(restart.status).toBe(200)
    const identity = certificateOf(restart.cups)
    expect(identity.equals(old)).toBe(false)
    // It can authenticate from now on, instead of being locked out as "provisioned" with nothing to show.
    expect((await poll(service, presenting(identity), restart)).status).toBe(200)
  })

  it('renews nothing while the certificate a renewal replaces could not be put on record', async () => {
    const storage = await registered()
    const { service } = makeReplica(storage, pki, { ttlMs: 0 })
    const first = await poll(service, anonymous)
    const certificate = certificateOf(first.cups)
    const failing: BlobStore = {
      get: (key) => storage.get(key),
      put: (key, body, condition) =>
        key === KEYS.lastAuthentication ? Promise.reject(new Error('disk full')) : storage.put(key, body, condition),
      delete: (key) => storage.delete(key),
      list: (prefix) => storage.list(prefix),
    }
    // A second server on the failing store, with a clock a year ahead: the certificate is due for renewal.
    const later = makeReplica(failing, pki, { ttlMs: 0 })
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 400 * 86_400_000 })
    try {
      const answer = await poll(later.service, presenting(certificate), first)
      expect(answer.status).toBe(200)
      expect(answer.cups).toBeUndefined()
    } finally {
      vi.useRealTimers()
    }
    expect((await storage.get(KEYS.cupsCredentials))?.body.equals(first.cups ?? Buffer.alloc(0))).toBe(true)
  })
})
