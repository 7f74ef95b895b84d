// End to end over TLS: a gateway record (cups/<eui>/gateway.json) overrides the fleet defaults for its gateway, and each change reaches the station once.
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
// crc32 as the station computes it (zlib's), never the server's own.
import { crc32 } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFixture } from '../../support/fixtures'
import { opensslCheck } from '../../support/openssl-cli'
import { decodeUpdateInfoResponse, splitBlobLikeStation } from '../../support/station-decoder'
import { StationSimulator } from '../../support/station-simulator'
import type { ContactResult } from '../../support/station-simulator'
import { newAuthority } from '../../support/test-certificates'
import type { Authority } from '../../support/test-certificates'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'

const NO_CHANGE = '00'.repeat(14)
const FOUR_ZEROS = Buffer.alloc(4)
/** The fleet default TC_URI of startTestServer. */
const FLEET_TC_URI = 'wss://localhost:8887'
/** Every server here: registration by gateway.json only, and no read cache, so a record change counts at the next contact. */
const ENV = { BOOTSTRAP_POLICY: 'registered', CACHE_TTL_SECONDS: '0' }

/** The router id a station sends for `eui` (ID6); the EUIs here have no all-zero 16-bit group, so no `::`. */
function routerOf(eui: string): string {
  const groups = (eui.match(/.{4}/g) ?? []).map((group) => group.replace(/^0+/, ''))
  if (groups.length !== 4 || groups.includes('')) throw new Error(`pick an EUI without zero groups, not ${eui}`)
  return groups.join(':')
}

/** Writes DATA_DIR/cups/<eui>/gateway.json like an operator's tool should: a temp file, then rename. */
async function writeRecord(server: TestServer, eui: string, record: unknown): Promise<void> {
  const dir = path.join(server.config.storage.dataDir, 'cups', eui)
  await mkdir(dir, { recursive: true })
  const temp = path.join(dir, `.gateway.json.${String(process.pid)}.tmp`)
  await writeFile(temp, typeof record === 'string' ? record : `${JSON.stringify(record, null, 2)}\n`)
  await rename(temp, path.join(dir, 'gateway.json'))
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch {
    return false
  }
}

function derOf(pem: Buffer | string): Buffer {
  return Buffer.from(new X509Certificate(pem).raw)
}

/** The segments of a 200 by name (without `trailing`), so a test can say exactly which ones came. */
function segmentNames(result: ContactResult): string[] {
  return Object.keys(result.segments ?? {})
    .filter((name) => name !== 'trailing')
    .sort()
}

/** Remembers every segment a station received; receiving one twice fails the test (it would restart the station's links). */
class SegmentLog {
  private readonly seen = new Set<string>()

  add(result: ContactResult): void {
    expect(result.status, result.body.toString('latin1').slice(0, 300)).toBe(200)
    expect(result.segments?.trailing).toBe(0)
    expect(result.rejectedCredentials).toEqual([])
    for (const [name, value] of Object.entries(result.segments ?? {})) {
      if (name === 'trailing') continue
      const fingerprint = `${name}:${Buffer.isBuffer(value) ? value.toString('hex') : String(value)}`
      expect(this.seen.has(fingerprint), `${name} sent twice`).toBe(false)
      this.seen.add(fingerprint)
    }
  }
}

/** A JSON log line, parsed. */
type LogLine = Record<string, unknown> & { level?: number }

function logLinesSince(server: TestServer, from: number): { line: LogLine; text: string }[] {
  return server.logLines.slice(from).map((text) => ({ line: JSON.parse(text) as LogLine, text }))
}

describe('gateway records end to end', () => {
  let work: string
  let lnsCa: Authority
  let lnsCaPem: string
  /** One server for every use but the redirect: LNS_CA_* set from a second CA (the LNS's gateway CA, e.g. ChirpStack's). */
  let server: TestServer

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'cups-records-'))
    lnsCa = await newAuthority(path.join(work, 'lns-ca'), 'LNS Gateway CA')
    lnsCaPem = await readFile(lnsCa.cert, 'utf8')
    server = await startTestServer({ ...ENV, LNS_CA_CERT_PATH: lnsCa.cert, LNS_CA_KEY_PATH: lnsCa.key })
  })
  afterAll(async () => {
    await server.stop()
    await rm(work, { recursive: true, force: true })
  })

  /** A station that holds only our CA and the URL of `target`, like a new gateway out of the box. */
  async function newStation(target: TestServer, eui: string): Promise<StationSimulator> {
    const station = new StationSimulator({ router: routerOf(eui), home: path.join(work, 'stations', eui) })
    await station.setFile('cups.uri', `https://localhost:${target.port}`)
    await station.setFile('cups.trust', target.caPem)
    return station
  }

  /** Registers, provisions and converges a gateway on `server` with an empty record (fleet defaults). */
  async function convergedStation(eui: string, segments: SegmentLog): Promise<StationSimulator> {
    await writeRecord(server, eui, {})
    const station = await newStation(server, eui)
    const first = await station.contact()
    segments.add(first)
    expect(segmentNames(first)).toEqual(['cupsCredentials', 'tcCredentials', 'tcUri'])
    const second = await station.contact()
    segments.add(second)
    expect(second.mode).toBe('both')
    expect(second.body.toString('hex')).toBe(NO_CHANGE)
    return station
  }

  describe('redirect: a record cupsUri moves the gateway to another instance', () => {
    it('sends the cupsUri once; the next contact goes to the second instance and converges there', async () => {
      const eui = '0016c001ff10e201'
      // Two instances over one storage and one PKI (the second reuses the dev PKI the first generated).
      const shared = path.join(work, 'shared-instances')
      const first = await startTestServer(ENV, shared)
      let firstRunning = true
      const second = await startTestServer(ENV, shared)
      try {
        expect(second.port).not.toBe(first.port)
        expect(second.caPem.equals(first.caPem)).toBe(true)
        const target = `https://localhost:${second.port}`
        await writeRecord(first, eui, { cupsUri: target })
        const station = await newStation(first, eui)
        const segments = new SegmentLog()

        const redirected = await station.contact()
        segments.add(redirected)
        expect(redirected.mode).toBe('server')
        expect(redirected.segments?.cupsUri).toBe(target)
        expect(segmentNames(redirected)).toEqual(['cupsCredentials', 'cupsUri', 'tcCredentials', 'tcUri'])
        expect(await station.uri('cups')).toBe(target)

        // Nobody answers on the first instance any more: whatever answers now is the second one.
        await first.stop()
        firstRunning = false
        for (let contact = 0; contact < 2; contact++) {
          const there = await station.contact()
          segments.add(there)
          expect(there.mode).toBe('both')
          expect(there.body.toString('hex')).toBe(NO_CHANGE)
        }
      } finally {
        await second.stop()
        if (firstRunning) await first.stop()
      }
    })
  })

  describe('move to another LNS: tcUri, lns-ca credentials and tcTrust from the record', () => {
    it('sends the new tcUri and a TC bundle from the LNS CA once, then no change', async () => {
      const eui = '0016c001ff10e202'
      const segments = new SegmentLog()
      const station = await convergedStation(eui, segments)
      const cupsCrt = await station.file('cups.crt')
      // Provisioned with the defaults: a TC certificate of ours.
      expect(new X509Certificate(await station.file('tc.crt')).checkIssued(new X509Certificate(server.caPem))).toBe(true)

      await writeRecord(server, eui, { tcUri: 'wss://lns2.example.com:8887', tcTrust: lnsCaPem, tcCredentials: { source: 'lns-ca' } })
      const moved = await station.contact()
      segments.add(moved)
      expect(segmentNames(moved)).toEqual(['tcCredentials', 'tcUri'])
      expect(moved.segments?.tcUri).toBe('wss://lns2.example.com:8887')

      // The station's files: trust = the LNS CA, a certificate it issued for CN = EUI, the matching SEC1 key.
      const blob = moved.segments?.tcCredentials ?? Buffer.alloc(0)
      const trust = await station.file('tc.trust')
      const crt = await station.file('tc.crt')
      const key = await station.file('tc.key')
      expect(trust.toString('hex')).toBe(derOf(lnsCaPem).toString('hex'))
      expect(Buffer.concat([trust, crt, key]).toString('hex')).toBe(blob.toString('hex'))
      const certificate = new X509Certificate(crt)
      expect(certificate.subject).toBe(`CN=${eui}`)
      expect(certificate.checkIssued(new X509Certificate(lnsCaPem))).toBe(true)
      expect(certificate.checkIssued(new X509Certificate(server.caPem))).toBe(false)
      expect(key.subarray(0, 2).toString('hex')).toBe('3077')
      const publicKey = createPublicKey(createPrivateKey({ key, format: 'der', type: 'sec1' }))
      expect(publicKey.equals(certificate.publicKey)).toBe(true)
      const pemFile = path.join(work, `${eui}-tc.crt`)
      await writeFile(pemFile, certificate.toString())
      const verified = await opensslCheck(['verify', '-purpose', 'sslclient', '-CAfile', lnsCa.cert, pemFile])
      expect(verified.output).toMatch(/: OK/)
      expect(verified.code).toBe(0)
      // The CUPS identity stays as it was.
      expect((await station.file('cups.crt')).equals(cupsCrt)).toBe(true)

      const after = await station.contact()
      segments.add(after)
      expect(after.mode).toBe('both')
      expect(after.body.toString('hex')).toBe(NO_CHANGE)
    })
    it('a record tcTrust alone re-wraps the TC bundle with that trust (same certificate and key), sent once', async () => {
      const eui = '0016c001ff10e20e'
      const segments = new SegmentLog()
      const station = await convergedStation(eui, segments)
      const crt = await station.file('tc.crt')
      const key = await station.file('tc.key')

      await writeRecord(server, eui, { tcTrust: lnsCaPem })
      const rewrapped = await station.contact()
      segments.add(rewrapped)
      expect(segmentNames(rewrapped)).toEqual(['tcCredentials'])
      expect((await station.file('tc.trust')).equals(derOf(lnsCaPem))).toBe(true)
      expect((await station.file('tc.crt')).equals(crt)).toBe(true)
      expect((await station.file('tc.key')).equals(key)).toBe(true)
      const converged = await station.contact()
      segments.add(converged)
      expect(converged.body.toString('hex')).toBe(NO_CHANGE)
    })
  })

  describe('token TC bundle: trust, no certificate, the token as header lines', () => {
    /** trust ‖ 00000000 ‖ token: the bytes a station splits into tc.trust, an empty tc.crt and tc.key = the token. */
    function tokenShape(blob: Buffer): { certificateMarker: string; token: string; trustLength: number } {
      const parts = splitBlobLikeStation(blob)
      expect(parts.certificate.length).toBe(0)
      expect(blob.length).toBe(parts.trust.length + 4 + parts.key.length)
      return {
        trustLength: parts.trust.length,
        certificateMarker: blob.subarray(parts.trust.length, parts.trust.length + 4).toString('hex'),
        token: parts.key.toString('latin1'),
      }
    }

    it('the captured real-station answer has that shape', () => {
      const blob = decodeUpdateInfoResponse(readFixture('response-cups-redirect-token.bin')).cupsCredentials
      if (blob === undefined) throw new Error('the fixture carries a cupsCred segment')
      const shape = tokenShape(blob)
      expect(shape.certificateMarker).toBe('00000000')
      expect(shape.token).toBe('Authorization: Bearer tok-for-cups-B\r\n')
    })

    it.each([
      { form: 'bearer', tcCredentials: { source: 'token', bearer: 'NNSXS.TESTKEY' }, line: 'Authorization: Bearer NNSXS.TESTKEY\r\n', eui: '0016c001ff10e203' },
      {
        form: 'token (header lines)',
        tcCredentials: { source: 'token', token: 'Authorization: Bearer NNSXS.OTHERKEY' },
        line: 'Authorization: Bearer NNSXS.OTHERKEY\r\n',
        eui: '0016c001ff10e204',
      },
    ])('$form: the bundle is trust ‖ 00000000 ‖ the token line, byte for byte, and the station converges', async ({ tcCredentials, line, eui }) => {
      const logFrom = server.logLines.length
      await writeRecord(server, eui, { tcCredentials })
      const station = await newStation(server, eui)
      const segments = new SegmentLog()

      const first = await station.contact()
      segments.add(first)
      expect(segmentNames(first)).toEqual(['cupsCredentials', 'tcCredentials', 'tcUri'])
      expect(first.segments?.tcUri).toBe(FLEET_TC_URI)
      const blob = first.segments?.tcCredentials ?? Buffer.alloc(0)
      // The fleet TC trust (TC_TRUST_PATH defaults to our ca.crt), four zero bytes for the certificate, the token with CRLF.
      const expected = Buffer.concat([derOf(server.caPem), FOUR_ZEROS, Buffer.from(line, 'latin1')])
      expect(blob.toString('hex')).toBe(expected.toString('hex'))
      const fixture = decodeUpdateInfoResponse(readFixture('response-cups-redirect-token.bin')).cupsCredentials ?? Buffer.alloc(0)
      const ours = tokenShape(blob)
      const captured = tokenShape(fixture)
      expect(ours.certificateMarker).toBe(captured.certificateMarker)
      expect(ours.token).toMatch(/^Authorization: Bearer [\x21-\x7e]+\r\n$/)
      expect(captured.token).toMatch(/^Authorization: Bearer [\x21-\x7e]+\r\n$/)

      expect((await station.file('tc.trust')).equals(derOf(server.caPem))).toBe(true)
      expect((await station.file('tc.crt')).length).toBe(0)
      expect((await station.file('tc.key')).toString('latin1')).toBe(line)
      const request = JSON.parse(await station.requestBody()) as { tcCredCrc: number }
      expect(request.tcCredCrc).toBe(crc32(expected))

      const second = await station.contact()
      segments.add(second)
      expect(second.body.toString('hex')).toBe(NO_CHANGE)
      // Tokens are never logged.
      const secret = line.slice('Authorization: Bearer '.length).trim()
      expect(server.logLines.slice(logFrom).filter((text) => text.includes(secret))).toEqual([])
    })
    it('switched from a token to "ours", the gateway gets a TC certificate of ours once', async () => {
      const eui = '0016c001ff10e20d'
      await writeRecord(server, eui, { tcCredentials: { source: 'token', bearer: 'NNSXS.SWITCHKEY' } })
      const station = await newStation(server, eui)
      const segments = new SegmentLog()
      segments.add(await station.contact())
      expect((await station.file('tc.crt')).length).toBe(0)

      await writeRecord(server, eui, { tcCredentials: { source: 'ours' } })
      const switched = await station.contact()
      segments.add(switched)
      expect(segmentNames(switched)).toEqual(['tcCredentials'])
      const certificate = new X509Certificate(await station.file('tc.crt'))
      expect(certificate.subject).toBe(`CN=${eui}`)
      expect(certificate.checkIssued(new X509Certificate(server.caPem))).toBe(true)
      expect((await station.file('tc.key')).subarray(0, 2).toString('hex')).toBe('3077')
      const converged = await station.contact()
      segments.add(converged)
      expect(converged.body.toString('hex')).toBe(NO_CHANGE)
    })
  })

  describe('"none": server authentication only', () => {
    it('the TC bundle is trust ‖ 00000000 ‖ 00000000 and the station converges', async () => {
      const eui = '0016c001ff10e205'
      await writeRecord(server, eui, { tcCredentials: { source: 'none' } })
      const station = await newStation(server, eui)
      const segments = new SegmentLog()

      const first = await station.contact()
      segments.add(first)
      expect(segmentNames(first)).toEqual(['cupsCredentials', 'tcCredentials', 'tcUri'])
      const expected = Buffer.concat([derOf(server.caPem), FOUR_ZEROS, FOUR_ZEROS])
      expect(first.segments?.tcCredentials?.toString('hex')).toBe(expected.toString('hex'))
      expect((await station.file('tc.crt')).length).toBe(0)
      expect((await station.file('tc.key')).length).toBe(0)
      expect(await station.credentialCrc('tc')).toBe(crc32(expected))
      // The CUPS side still gets its own identity.
      expect(new X509Certificate(await station.file('cups.crt')).subject).toBe(`CN=${eui}`)

      const second = await station.contact()
      segments.add(second)
      expect(second.mode).toBe('both')
      expect(second.body.toString('hex')).toBe(NO_CHANGE)
    })
  })

  describe('disabled: refused while the record says so', () => {
    /** A refusal: a small JSON error, nothing a station could take credentials from. */
    function expectRefusal(result: ContactResult): void {
      expect(result.status).toBe(403)
      expect(result.segments).toBeUndefined()
      expect(result.headers['content-type']).not.toBe('application/octet-stream')
      const error = JSON.parse(result.body.toString('utf8')) as { code: unknown }
      expect(error.code).toBe('FORBIDDEN')
      expect(result.body.length).toBeLessThan(400)
      expect(result.body.includes('-----BEGIN')).toBe(false)
    }

    it('a provisioned gateway gets 403 and no key material; back to active it is served again as before', async () => {
      const eui = '0016c001ff10e206'
      const segments = new SegmentLog()
      const station = await convergedStation(eui, segments)
      const files = await Promise.all(['cups.crt', 'cups.key', 'tc.crt', 'tc.key'].map((name) => station.file(name)))

      await writeRecord(server, eui, { state: 'disabled' })
      const logFrom = server.logLines.length
      const refused = await station.contact()
      expect(refused.mode).toBe('both')
      expectRefusal(refused)
      for (const file of files) expect(refused.body.includes(file)).toBe(false)
      const delivered = logLinesSince(server, logFrom).filter(({ line }) => line.audit === 'credential-delivered' && line.eui === eui)
      expect(delivered).toEqual([])

      await writeRecord(server, eui, { state: 'active' })
      const again = await station.contact()
      segments.add(again)
      expect(again.body.toString('hex')).toBe(NO_CHANGE)
      // Its credentials were kept.
      const after = await Promise.all(['cups.crt', 'cups.key', 'tc.crt', 'tc.key'].map((name) => station.file(name)))
      expect(after.map((file) => file.toString('hex'))).toEqual(files.map((file) => file.toString('hex')))
    })

    it('an unprovisioned gateway gets 403 and nothing is minted; back to active it gets its credentials', async () => {
      const eui = '0016c001ff10e207'
      await writeRecord(server, eui, { state: 'disabled' })
      const station = await newStation(server, eui)
      expectRefusal(await station.contact())
      const bundles = ['cups_cred.bin', 'tc_cred.bin'].map((name) => path.join(server.config.storage.dataDir, 'cups', eui, name))
      for (const bundle of bundles) expect(await exists(bundle), bundle).toBe(false)

      await writeRecord(server, eui, { state: 'active' })
      const segments = new SegmentLog()
      const served = await station.contact()
      segments.add(served)
      expect(segmentNames(served)).toEqual(['cupsCredentials', 'tcCredentials', 'tcUri'])
      const converged = await station.contact()
      segments.add(converged)
      expect(converged.body.toString('hex')).toBe(NO_CHANGE)
    })
    it('a disabled record with another field that does not validate still answers 403', async () => {
      const eui = '0016c001ff10e20f'
      const segments = new SegmentLog()
      const station = await convergedStation(eui, segments)
      await writeRecord(server, eui, { state: 'disabled', tcUri: 'wss://lns.example.com' })
      expectRefusal(await station.contact())
    })
  })

  describe('a record that does not validate: "no change" until it is fixed', () => {
    /** A warning (or worse) for this gateway that names the field at fault and, where given, says why. */
    function expectProblemLogged(from: number, eui: string, field: string, reason?: RegExp): void {
      const lines = logLinesSince(server, from).filter(({ line, text }) => (line.level ?? 0) >= 40 && text.includes(eui))
      const naming = lines.filter(({ text }) => text.includes(field) && (reason === undefined || reason.test(text)))
      expect(naming.length, `log lines for ${eui}:\n${lines.map(({ text }) => text).join('')}`).toBeGreaterThan(0)
    }

    it.each([
      { problem: 'a tcUri without a port', eui: '0016c001ff10e208', record: { tcUri: 'wss://lns.example.com' }, field: 'tcUri', reason: /port/i },
      { problem: 'an unknown key', eui: '0016c001ff10e209', record: { tcUri: 'wss://lns.example.com:8887', colour: 'red' }, field: 'colour', reason: undefined },
    ])('$problem: a new gateway gets 14 zero bytes and a log line naming $field; fixed, it gets its segments', async ({ eui, record, field, reason }) => {
      const logFrom = server.logLines.length
      await writeRecord(server, eui, record)
      const station = await newStation(server, eui)

      for (let contact = 0; contact < 2; contact++) {
        const held = await station.contact()
        expect(held.status).toBe(200)
        expect(held.body.toString('hex')).toBe(NO_CHANGE)
      }
      expectProblemLogged(logFrom, eui, field, reason)
      // Nothing was minted for it meanwhile.
      expect(await exists(path.join(server.config.storage.dataDir, 'cups', eui, 'cups_cred.bin'))).toBe(false)

      await writeRecord(server, eui, { tcUri: 'wss://lns.example.com:8887' })
      const segments = new SegmentLog()
      const served = await station.contact()
      segments.add(served)
      expect(segmentNames(served)).toEqual(['cupsCredentials', 'tcCredentials', 'tcUri'])
      expect(served.segments?.tcUri).toBe('wss://lns.example.com:8887')
      const converged = await station.contact()
      segments.add(converged)
      expect(converged.body.toString('hex')).toBe(NO_CHANGE)
    })

    it('a provisioned gateway is held at "no change" by a broken record, and gets the fixed change once', async () => {
      const eui = '0016c001ff10e20a'
      const segments = new SegmentLog()
      const station = await convergedStation(eui, segments)

      const logFrom = server.logLines.length
      await writeRecord(server, eui, { tcUri: 'wss://lns3.example.com' })
      const held = await station.contact()
      segments.add(held)
      expect(held.body.toString('hex')).toBe(NO_CHANGE)
      expectProblemLogged(logFrom, eui, 'tcUri', /port/i)

      await writeRecord(server, eui, { tcUri: 'wss://lns3.example.com:8887' })
      const fixed = await station.contact()
      segments.add(fixed)
      expect(segmentNames(fixed)).toEqual(['tcUri'])
      expect(fixed.segments?.tcUri).toBe('wss://lns3.example.com:8887')
      const converged = await station.contact()
      segments.add(converged)
      expect(converged.body.toString('hex')).toBe(NO_CHANGE)
    })

    it('the example record of the spec (every field) validates and applies', async () => {
      const eui = '0016c001ff10e20b'
      await writeRecord(server, eui, {
        version: 1,
        name: 'roof-01',
        labels: { site: 'north' },
        state: 'active',
        cupsUri: 'https://cups2.example.com:443',
        tcUri: 'wss://lns2.example.com:8887',
        tcTrust: lnsCaPem,
        tcCredentials: { source: 'ours' },
      })
      const station = await newStation(server, eui)
      const first = await station.contact()
      new SegmentLog().add(first)
      expect(segmentNames(first)).toEqual(['cupsCredentials', 'cupsUri', 'tcCredentials', 'tcUri'])
      expect(first.segments?.cupsUri).toBe('https://cups2.example.com:443')
      expect(first.segments?.tcUri).toBe('wss://lns2.example.com:8887')
      // "ours": our CA's certificate, wrapped with the record's trust.
      expect((await station.file('tc.trust')).equals(derOf(lnsCaPem))).toBe(true)
      const tcCertificate = new X509Certificate(await station.file('tc.crt'))
      expect(tcCertificate.subject).toBe(`CN=${eui}`)
      expect(tcCertificate.checkIssued(new X509Certificate(server.caPem))).toBe(true)
    })

    it('a record the revoke CLI left behind, set back to active, validates (revokedAt and revokedReason are known keys)', async () => {
      const eui = '0016c001ff10e20c'
      await writeRecord(server, eui, { state: 'active', revokedAt: '2026-01-02T03:04:05.000Z', revokedReason: 'stolen from site 12' })
      const station = await newStation(server, eui)
      const first = await station.contact()
      new SegmentLog().add(first)
      expect(segmentNames(first)).toEqual(['cupsCredentials', 'tcCredentials', 'tcUri'])
    })
  })
})
