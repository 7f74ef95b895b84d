// Owns lockout across replicas: after a revoke or deleted bundles, no replica honours the old certificate past its cache TTL.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { revokeGateway } from '../../../src/gateways/revoke'
import { FsBlobStore } from '../../../src/storage/fs-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'
import { postUpdateInfo } from '../../support/https-client'
import type { PostResult } from '../../support/https-client'
import { decodeUpdateInfoResponse, splitBlobLikeStation } from '../../support/station-decoder'
import { stationBody } from '../../support/station-request'
import type { PemIdentity } from '../../support/test-certificates'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'

const TTL_MS = 1000
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('two replicas on one store lock an old certificate out within CACHE_TTL_SECONDS', () => {
  let home: string
  let replicas: TestServer[]

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'cups-lockout-'))
    const first = await startTestServer({ BOOTSTRAP_POLICY: 'open', CACHE_TTL_SECONDS: String(TTL_MS / 1000) }, home)
    const second = await startTestServer({ BOOTSTRAP_POLICY: 'open', CACHE_TTL_SECONDS: String(TTL_MS / 1000) }, home)
    replicas = [first, second]
  })
  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()))
    await rm(home, { recursive: true, force: true })
  })

  const post = (replica: TestServer, router: string, identity?: PemIdentity): Promise<PostResult> =>
    postUpdateInfo(replica.port, stationBody({ router }), { ca: replica.caPem, ...identity })

  async function provisionAndShow(router: string): Promise<PemIdentity> {
    const [first] = replicas
    if (first === undefined) throw new Error('no replica')
    const blob = decodeUpdateInfoResponse((await post(first, router)).body).cupsCredentials
    if (blob === undefined) throw new Error('not provisioned')
    const parts = splitBlobLikeStation(blob)
    const identity = {
      cert: new X509Certificate(parts.certificate).toString(),
      key: createPrivateKey({ key: parts.key, format: 'der', type: 'sec1' }).export({ format: 'pem', type: 'sec1' }).toString(),
    }
    // Both replicas now hold the gateway's bundle and record in their read caches.
    for (const replica of replicas) expect((await post(replica, router, identity)).status).toBe(200)
    return identity
  }

  it('after a revoke: every caller, on every replica', async () => {
    const identity = await provisionAndShow('::f01')
    const dataDir = replicas[0]?.config.storage.dataDir ?? ''
    await revokeGateway(new FsBlobStore(dataDir), '0000000000000f01', { prefix: 'cups/' })
    await sleep(TTL_MS + 300)
    for (const replica of replicas) {
      for (const caller of [identity, undefined]) {
        const result = await post(replica, '::f01', caller)
        expect(result.status).toBe(403)
        expect(result.body.toString()).toMatch(/is revoked/)
      }
    }
  })

  it('after its bundles were deleted: the old certificate gets no fresh keys anywhere', async () => {
    const identity = await provisionAndShow('::f02')
    const dataDir = replicas[0]?.config.storage.dataDir ?? ''
    const keys = storageKeys('cups/', '0000000000000f02')
    const store = new FsBlobStore(dataDir)
    await store.delete(keys.cupsCredentials)
    await store.delete(keys.tcCredentials)
    await sleep(TTL_MS + 300)
    const from = replicas.map((replica) => replica.logLines.length)
    for (const replica of replicas) {
      const result = await post(replica, '::f02', identity)
      expect(result.status).toBe(403)
      expect(result.body.toString()).toMatch(/holds no CUPS bundle/)
    }
    replicas.forEach((replica, i) => {
      expect(replica.logLines.slice(from[i]).some((line) => line.includes('"credential-minted"'))).toBe(false)
    })
    expect(await store.get(keys.cupsCredentials)).toBeUndefined()
  })
})
