// Owns the renegotiation attack over real TLS: a connection authenticated as one gateway must not become another.
import { execFile } from 'node:child_process'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postUpdateInfo } from '../../support/https-client'
import { decodeUpdateInfoResponse, splitBlobLikeStation } from '../../support/station-decoder'
import { stationBody } from '../../support/station-request'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'

const run = promisify(execFile)
const CLIENT = path.join(__dirname, '../../support/renegotiating-client.py')

interface PemIdentity {
  readonly certFile: string
  readonly keyFile: string
}

describe('TLS renegotiation cannot swap the client certificate', () => {
  let server: TestServer
  let work: string
  let gatewayA: PemIdentity
  let selfSignedB: PemIdentity

  /** Provisions `router` anonymously (it is allowlisted) and saves the CUPS identity it got as PEM files. */
  async function provision(router: string, name: string): Promise<PemIdentity> {
    const result = await postUpdateInfo(server.port, stationBody({ router }), { ca: server.caPem })
    expect(result.status).toBe(200)
    const blob = decodeUpdateInfoResponse(result.body).cupsCredentials
    if (blob === undefined) throw new Error(`no CUPS credentials for ${router}`)
    const parts = splitBlobLikeStation(blob)
    const identity = { certFile: path.join(work, `${name}.crt`), keyFile: path.join(work, `${name}.key`) }
    await writeFile(identity.certFile, new X509Certificate(parts.certificate).toString())
    await writeFile(identity.keyFile, createPrivateKey({ key: parts.key, format: 'der', type: 'sec1' }).export({ format: 'pem', type: 'sec1' }))
    return identity
  }

  async function attack(first: PemIdentity, second: PemIdentity | undefined, router: string): Promise<{ status: number; body: Buffer; log: string }> {
    const bodyFile = path.join(work, `body-${router.replace(/:/g, '_')}.json`)
    await writeFile(bodyFile, stationBody({ router }))
    const { stdout, stderr } = await run(
      'python3',
      [CLIENT, '127.0.0.1', String(server.port), first.certFile, first.keyFile, second?.certFile ?? '-', second?.keyFile ?? '-', bodyFile],
      { encoding: 'buffer', timeout: 20_000 },
    )
    const raw = stdout
    const headerEnd = raw.indexOf('\r\n\r\n')
    const status = headerEnd < 0 ? 0 : Number(/^HTTP\/1\.1 (\d{3})/.exec(raw.subarray(0, headerEnd).toString('latin1'))?.[1] ?? 0)
    return { status, body: headerEnd < 0 ? Buffer.alloc(0) : raw.subarray(headerEnd + 4), log: stderr.toString() }
  }

  beforeAll(async () => {
    // d01 and d02 may bootstrap; d03 is registered nowhere.
    server = await startTestServer({ BOOTSTRAP_POLICY: 'registered', BOOTSTRAP_ALLOWLIST: '::d01 ::d02' })
    work = await mkdtemp(path.join(os.tmpdir(), 'cups-reneg-'))
    gatewayA = await provision('::d01', 'a')
    // The victim holds real credentials; the attacker wants them.
    await provision('::d02', 'b-real')
    selfSignedB = { certFile: path.join(work, 'b-self.crt'), keyFile: path.join(work, 'b-self.key') }
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
      '-keyout', selfSignedB.keyFile, '-out', selfSignedB.certFile, '-subj', '/CN=0000000000000d02', '-days', '2'])
  })
  afterAll(async () => {
    await server.stop()
    await rm(work, { recursive: true, force: true })
  })

  it("a client authenticated as A that renegotiates with a self-signed certificate for B gets none of B's keys", async () => {
    const result = await attack(gatewayA, selfSignedB, '::d02')
    // The server refuses the renegotiation itself; whatever the connection does next, no key of B leaves.
    expect(result.log).toMatch(/renegotiation refused/)
    if (result.status === 200) {
      const segments = decodeUpdateInfoResponse(result.body)
      expect(segments.cupsCredentials).toBeUndefined()
      expect(segments.tcCredentials).toBeUndefined()
    }
    expect(server.logLines.some((line) => line.includes('"credential-delivered"') && line.includes('0000000000000d02') && line.includes('"proof":"certificate"'))).toBe(false)
  })

  it('an unregistered EUI cannot be minted for through a renegotiated certificate either', async () => {
    const selfSignedC = { certFile: path.join(work, 'c-self.crt'), keyFile: path.join(work, 'c-self.key') }
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
      '-keyout', selfSignedC.keyFile, '-out', selfSignedC.certFile, '-subj', '/CN=0000000000000d03', '-days', '2'])
    const before = server.logLines.length
    const result = await attack(gatewayA, selfSignedC, '::d03')
    expect(result.log).toMatch(/renegotiation refused/)
    expect(server.logLines.slice(before).some((line) => line.includes('"credential-minted"'))).toBe(false)
  })

  it('control: the same client without renegotiating, as A for A, is served', async () => {
    const result = await attack(gatewayA, undefined, '::d01')
    expect(result.log).toBe('')
    expect(result.status).toBe(200)
  })

  it('the certificate file on disk is what the attacker presented (sanity)', async () => {
    expect(new X509Certificate(await readFile(selfSignedB.certFile)).subject).toBe('CN=0000000000000d02')
  })
})
