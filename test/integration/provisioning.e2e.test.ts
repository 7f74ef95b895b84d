// End to end: a simulated station with only our CA and URL gets its own credentials and converges.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { X509Certificate } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StationSimulator } from '../support/station-simulator'
import { startTestServer } from '../support/test-server'
import type { TestServer } from '../support/test-server'

const NO_CHANGE = '00'.repeat(14)

describe('a new gateway provisions itself end to end', () => {
  let server: TestServer
  let homes: string

  beforeAll(async () => {
    server = await startTestServer({
      CUPS_URI: 'https://127.0.0.1:9443',
      BOOTSTRAP_POLICY: 'registered',
      BOOTSTRAP_ALLOWLIST: '00-16-c0-01-ff-10-a2-35',
    })
    homes = await mkdtemp(path.join(os.tmpdir(), 'cups-station-'))
  })
  afterAll(async () => {
    await server.stop()
    await rm(homes, { recursive: true, force: true })
  })

  async function newStation(router: string): Promise<StationSimulator> {
    const station = new StationSimulator({ router, home: path.join(homes, router.replace(/:/g, '_')) })
    await station.setFile('cups.uri', `https://localhost:${server.port}\n`)
    await station.setFile('cups.trust', server.caPem)
    return station
  }

  it('gets cups credentials, tc uri and tc credentials, then 14 zero bytes forever', async () => {
    const station = await newStation('16:c001:ff10:a235')

    const first = await station.contact()
    expect(first.status).toBe(200)
    expect(first.mode).toBe('server')
    expect(first.headers['content-type']).toBe('application/octet-stream')
    expect(first.headers['content-length']).toBe(String(first.body.length))
    expect(first.segments?.cupsUri).toBe('https://127.0.0.1:9443')
    expect(first.segments?.tcUri).toBe('wss://localhost:8887')
    expect(first.segments?.cupsCredentials).toBeDefined()
    expect(first.segments?.tcCredentials).toBeDefined()
    expect(first.rejectedCredentials).toEqual([])

    // The minted identity: CN = EUI, issued by our CA, SEC1 key.
    const certificate = new X509Certificate(await station.file('cups.crt'))
    expect(certificate.subject).toBe('CN=0016c001ff10a235')
    expect(certificate.checkIssued(new X509Certificate(server.caPem))).toBe(true)
    expect((await station.file('cups.key')).subarray(0, 2).toString('hex')).toBe('3077')
    expect(await station.credentialCrc('tc')).not.toBe(2077607535)

    // The redirect points at a port nobody listens on in this test; point the station back at us.
    await station.setFile('cups.uri', `https://localhost:${server.port}`)
    const second = await station.contact()
    expect(second.mode).toBe('both')
    expect(second.status).toBe(200)
    // Only the URI we overwrote by hand differs; nothing else is resent.
    expect(second.segments).toEqual({ cupsUri: 'https://127.0.0.1:9443', trailing: 0 })
  })

  it.each(['openssl', 'node'])('converges within two contacts with the %s minter, and never resends a segment', async (engine) => {
    const server2 = await startTestServer({ MINT_ENGINE: engine }, undefined)
    try {
      const station = new StationSimulator({ router: '::1', home: path.join(homes, `converge-${engine}`) })
      await station.setFile('cups.uri', `https://localhost:${server2.port}`)
      await station.setFile('cups.trust', server2.caPem)
      const seen = new Set<string>()
      const bodies: string[] = []
      for (let contact = 0; contact < 4; contact++) {
        const result = await station.contact()
        expect(result.status).toBe(200)
        bodies.push(result.body.toString('hex'))
        for (const [name, value] of Object.entries(result.segments ?? {})) {
          if (name === 'trailing') continue
          const fingerprint = `${name}:${Buffer.isBuffer(value) ? value.toString('hex') : String(value)}`
          expect(seen.has(fingerprint), `resent ${name}`).toBe(false)
          seen.add(fingerprint)
        }
      }
      expect(bodies[0]).not.toBe(NO_CHANGE)
      expect(bodies.slice(1)).toEqual([NO_CHANGE, NO_CHANGE, NO_CHANGE])
      expect(await server2.metrics.value('credentials_delivered_total', { kind: 'cups' })).toBe(1)
    } finally {
      await server2.stop()
    }
  })
})
