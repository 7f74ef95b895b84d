// Owns the proof that logs carry no secrets: every line of a full provisioning run at LOG_LEVEL=trace, plus the audit lines.
import { randomBytes, X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { crc32 } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import { storageKeys } from '../../../src/storage/storage-keys'
import { postUpdateInfo } from '../../support/https-client'
import { StationSimulator } from '../../support/station-simulator'
import type { ContactResult } from '../../support/station-simulator'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'

const CERT_GATEWAY = { router: '16:c001:ff10:a235', eui: '0016c001ff10a235' }
const TOKEN_GATEWAY = { router: 'b0b::7', eui: '0b0b000000000007' }

/** A secret and a name for it that is safe to print. */
interface Needle {
  readonly label: string
  readonly text: string
}

/**
 * Every printable form a byte string could take in a JSON log line: hex (both cases), base64 and base64url at each of
 * the three alignments it can have inside a longer encoding, and the decimal list JSON.stringify makes of a Buffer.
 */
function encodings(label: string, bytes: Buffer): Needle[] {
  const needles: Needle[] = [
    { label: `${label} hex`, text: bytes.toString('hex') },
    { label: `${label} HEX`, text: bytes.toString('hex').toUpperCase() },
    { label: `${label} as a JSON Buffer`, text: [...bytes].join(',') },
  ]
  for (const offset of [0, 1, 2]) {
    // Encoded after `offset` leading bytes, the first and last 4 characters depend on the neighbours; the middle does not.
    for (const form of ['base64', 'base64url'] as const) {
      const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString(form)
      const middle = encoded.slice(offset === 0 ? 0 : 4, encoded.length - 4)
      needles.push({ label: `${label} ${form} at alignment ${offset}`, text: middle })
    }
  }
  return needles
}

/** The 32-byte private scalar of a SEC1 P-256 key: 30 77 02 01 01 04 20 <scalar>. */
function privateScalar(sec1: Buffer): Buffer {
  expect(sec1.subarray(0, 7).toString('hex')).toBe('30770201010420')
  return sec1.subarray(7, 39)
}

describe('no secret reaches the log', () => {
  let server: TestServer
  let homes: string
  const secret = randomBytes(12).toString('hex')
  const token = `Authorization: Bearer tok-${secret}`
  const wrongToken = `Bearer tok-${randomBytes(12).toString('hex')}`
  const contacts: ContactResult[] = []
  const statuses: number[] = []
  let certStation: StationSimulator
  let tokenStation: StationSimulator

  beforeAll(async () => {
    server = await startTestServer({ LOG_LEVEL: 'trace', BOOTSTRAP_POLICY: 'registered', BOOTSTRAP_ALLOWLIST: CERT_GATEWAY.eui })
    homes = await mkdtemp(path.join(os.tmpdir(), 'cups-logs-'))
    const uri = `https://localhost:${server.port}`
    const caDer = Buffer.from(new X509Certificate(server.caPem).raw)

    // A certificate gateway: anonymous first contact, then its minted certificate, then a TC bundle fetched again with it.
    certStation = new StationSimulator({ router: CERT_GATEWAY.router, home: path.join(homes, 'cert') })
    await certStation.setFile('cups.uri', uri)
    await certStation.setFile('cups.trust', server.caPem)
    contacts.push(await certStation.contact())
    contacts.push(await certStation.contact())
    for (const part of ['uri', 'trust', 'crt', 'key']) await rm(path.join(certStation.home, `tc.${part}`))
    contacts.push(await certStation.contact())

    // A token gateway: its bundle dropped in by another tool; the station sends the token lines as headers.
    const bundleFile = path.join(server.config.storage.dataDir, storageKeys(server.config.storage.prefix, TOKEN_GATEWAY.eui).cupsCredentials)
    await mkdir(path.dirname(bundleFile), { recursive: true })
    await writeFile(bundleFile, buildCredentialBlob({ trust: caDer, token }))
    tokenStation = new StationSimulator({ router: TOKEN_GATEWAY.router, home: path.join(homes, 'token') })
    await tokenStation.setFile('cups.uri', uri)
    await tokenStation.setFile('cups.trust', caDer)
    await tokenStation.setFile('cups.key', `${token}\r\n`)
    contacts.push(await tokenStation.contact())

    // Refusals and bad requests, each carrying a token header.
    const body = (router: string): string => JSON.stringify({ router, cupsCredCrc: 0, tcCredCrc: 0 })
    const tokenValue = token.slice('Authorization: '.length)
    const requests: [string | Buffer, Record<string, string>][] = [
      [body(TOKEN_GATEWAY.router), { authorization: wrongToken }], // 403: wrong token
      [body(CERT_GATEWAY.router), { authorization: tokenValue }], // 403: provisioned, someone else's token
      [body('::dead'), { authorization: tokenValue }], // 404: not registered
      ['{"router":', { authorization: tokenValue }], // 400: not JSON
      [body('not-a-router'), { authorization: wrongToken }], // 400: bad router
      [Buffer.alloc(20000, 0x20), { authorization: tokenValue }], // 413
    ]
    for (const [payload, headers] of requests) statuses.push((await postUpdateInfo(server.port, payload, { ca: server.caPem, headers })).status)
  })
  afterAll(async () => {
    await server.stop()
    await rm(homes, { recursive: true, force: true })
  })

  it('ran the whole scenario', async () => {
    expect(contacts.map((contact) => [contact.mode, contact.status])).toEqual([
      ['server', 200],
      ['both', 200],
      ['both', 200],
      ['token', 200],
    ])
    expect(contacts[0]?.segments?.cupsCredentials).toBeDefined()
    expect(contacts[0]?.segments?.tcCredentials).toBeDefined()
    expect(contacts[1]?.body.toString('hex')).toBe('00'.repeat(14))
    expect(contacts[2]?.segments?.tcCredentials).toBeDefined()
    expect(contacts[3]?.segments?.tcCredentials).toBeDefined()
    expect(statuses).toEqual([403, 403, 404, 400, 400, 413])
    // Every request left its line (with what it sent and why it was refused), and all of them were scanned.
    // (Each is written once its response has gone out, so the last may trail the client by a moment.)
    await vi.waitFor(() => {
      expect(server.logLines.filter((line) => line.includes('"msg":"update-info"'))).toHaveLength(contacts.length + statuses.length)
    })
    const requestLines = server.logLines.filter((line) => line.includes('"msg":"update-info"'))
    expect(requestLines.some((line) => line.includes('"sent":["'))).toBe(true)
  })

  it('no line holds PEM, a private key, a scalar, a bundle, the token or an Authorization value', async () => {
    const needles: Needle[] = [{ label: 'PEM armour', text: '-----BEGIN' }, { label: 'PEM armour (end)', text: '-----END' }]
    const stations = [
      ['cert gateway cups', certStation, 'cups'],
      ['cert gateway tc', certStation, 'tc'],
      ['token gateway tc', tokenStation, 'tc'],
    ] as const
    for (const [label, station, kind] of stations) {
      const key = await station.file(`${kind}.key`)
      expect(key.length, `${label}.key`).toBe(121)
      needles.push(...encodings(`${label} private key`, key), ...encodings(`${label} private scalar`, privateScalar(key)))
    }
    const blobs = contacts.flatMap((contact, index) =>
      [contact.segments?.cupsCredentials, contact.segments?.tcCredentials]
        .filter((blob) => blob !== undefined)
        .map((blob, part) => [`bundle ${index}.${part}`, blob] as const),
    )
    expect(blobs.length).toBe(4)
    for (const [label, blob] of blobs) needles.push(...encodings(label, blob))
    const tokenValue = token.slice('Authorization: '.length)
    needles.push(
      { label: 'token secret', text: secret },
      { label: 'token header value', text: tokenValue },
      { label: 'token line', text: token },
      { label: 'wrong token value', text: wrongToken },
      { label: 'wrong token secret', text: wrongToken.slice('Bearer tok-'.length) },
    )

    expect(server.logLines.length).toBeGreaterThan(20)
    const leaks = server.logLines.flatMap((line, index) =>
      needles
        .filter((needle) => line.includes(needle.text))
        // Names the line by its keys, never by its text: the text holds the secret.
        .map((needle) => `line ${index} {${Object.keys(JSON.parse(line) as object).join(',')}}: ${needle.label}`),
    )
    expect(leaks).toEqual([])
  })

  it('writes the audit lines: credential-minted and credential-delivered with how the caller proved itself', async () => {
    const lines = server.logLines.map((line) => JSON.parse(line) as Record<string, unknown>)
    // CUPS and TC are minted side by side, so their lines come in either order.
    const byGatewayAndKind = (a: Record<string, unknown>, b: Record<string, unknown>): number =>
      `${String(a.eui)}:${String(a.kind)}`.localeCompare(`${String(b.eui)}:${String(b.kind)}`)
    const minted = lines.filter((line) => line.audit === 'credential-minted').sort(byGatewayAndKind)
    const delivered = lines.filter((line) => line.audit === 'credential-delivered')

    const expectedMint = async (station: StationSimulator, eui: string, kind: 'cups' | 'tc'): Promise<Record<string, unknown>> => {
      const certificate = new X509Certificate(await station.file(`${kind}.crt`))
      return expect.objectContaining({
        eui,
        kind,
        serial: certificate.serialNumber.toUpperCase(),
        notAfter: new Date(certificate.validTo).toISOString(),
        why: 'first-contact',
      }) as Record<string, unknown>
    }
    // The cert gateway's TC bundle was fetched again, not minted again: three mints in all.
    const expectedMints = [
      [CERT_GATEWAY.eui, await expectedMint(certStation, CERT_GATEWAY.eui, 'cups'), 'cups'],
      [CERT_GATEWAY.eui, await expectedMint(certStation, CERT_GATEWAY.eui, 'tc'), 'tc'],
      [TOKEN_GATEWAY.eui, await expectedMint(tokenStation, TOKEN_GATEWAY.eui, 'tc'), 'tc'],
    ] as const
    expect(minted).toEqual(
      [...expectedMints].sort((a, b) => `${a[0]}:${a[2]}`.localeCompare(`${b[0]}:${b[2]}`)).map(([, matcher]) => matcher),
    )

    const crcOf = async (station: StationSimulator, kind: 'cups' | 'tc'): Promise<number> => {
      // After applying a bundle the station's file CRC is crc32 of the bundle itself.
      const files = await Promise.all(['trust', 'crt', 'key'].map((part) => station.file(`${kind}.${part}`)))
      return crc32(Buffer.concat(files.map((file) => (file.length > 0 ? file : Buffer.alloc(4)))))
    }
    const delivery = (eui: string, kind: string, crc: number, proof: string): unknown =>
      expect.objectContaining({ eui, kind, crc, proof, length: expect.any(Number) as unknown })
    expect(delivered).toEqual([
      delivery(CERT_GATEWAY.eui, 'cups', await crcOf(certStation, 'cups'), 'bootstrap'),
      delivery(CERT_GATEWAY.eui, 'tc', await crcOf(certStation, 'tc'), 'bootstrap'),
      delivery(CERT_GATEWAY.eui, 'tc', await crcOf(certStation, 'tc'), 'certificate'),
      delivery(TOKEN_GATEWAY.eui, 'tc', await crcOf(tokenStation, 'tc'), 'token'),
    ])
  })
})
