// End to end over TLS: the inventory a real-shaped station leaves behind, and no storage writes while it polls steadily.
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseInventoryEntry } from '../../src/gateways/inventory'
import { storageKeys } from '../../src/storage/storage-keys'
import { StationSimulator } from '../support/station-simulator'
import { startTestServer } from '../support/test-server'
import type { TestServer } from '../support/test-server'

const EUI = '0016c001ff10a2e5'
const POLLS = 200

describe('the inventory, end to end', () => {
  let server: TestServer
  let home: string
  const fileOf = (key: string): string => path.join(server.config.storage.dataDir, key)
  const keys = storageKeys('cups/', EUI)

  beforeAll(async () => {
    server = await startTestServer({ BOOTSTRAP_POLICY: 'registered', BOOTSTRAP_ALLOWLIST: EUI })
    home = await mkdtemp(path.join(os.tmpdir(), 'cups-inventory-e2e-'))
  })
  afterAll(async () => {
    await server.stop()
    await rm(home, { recursive: true, force: true })
  })

  it(`records provisioning and convergence, then writes nothing over ${POLLS} steady polls`, async () => {
    const station = new StationSimulator({ router: '16:c001:ff10:a2e5', home })
    await station.setFile('cups.uri', `https://localhost:${server.port}`)
    await station.setFile('cups.trust', server.caPem)
    expect((await station.contact()).status).toBe(200)
    expect((await station.contact()).body).toEqual(Buffer.alloc(14))
    await server.settle()

    const entry = parseInventoryEntry(await readFile(fileOf(keys.inventory)))
    const certificate = new X509Certificate(await station.file('cups.crt'))
    expect(entry).toMatchObject({
      converged: true,
      model: 'linux',
      reported: { tcUri: 'wss://localhost:8887', cupsCredCrc: await station.credentialCrc('cups'), tcCredCrc: await station.credentialCrc('tc') },
      certificate: { serial: certificate.serialNumber },
    })
    expect(Date.parse(entry?.certificate?.notAfter ?? '')).toBeGreaterThan(Date.now() + 300 * 86_400_000)

    // Every object this gateway has, as the filesystem store holds them: none is rewritten by steady polls.
    const objects = [keys.cupsCredentials, keys.tcCredentials, keys.lastAuthentication, keys.inventory]
    const before = await Promise.all(objects.map(async (key) => (await stat(fileOf(key))).mtimeMs))
    for (let i = 0; i < POLLS; i++) expect((await station.contact()).body).toEqual(Buffer.alloc(14))
    await server.settle()
    expect(await Promise.all(objects.map(async (key) => (await stat(fileOf(key))).mtimeMs))).toEqual(before)
  })
})
