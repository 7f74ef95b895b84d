// Owns resumed TLS sessions over real TLS: a resumed session never stretches what its certificate proves.
import { execFile } from 'node:child_process'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import { revokeGateway } from '../../../src/gateways/revoke'
import { FsBlobStore } from '../../../src/storage/fs-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'
import { decodeUpdateInfoResponse, splitBlobLikeStation } from '../../support/station-decoder'
import { stationBody } from '../../support/station-request'
import { issue, newAuthority } from '../../support/test-certificates'
import type { Authority, PemIdentity } from '../../support/test-certificates'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'
import { postWithSession } from '../../support/tls-session-client'
import type { SessionPost } from '../../support/tls-session-client'

const run = promisify(execFile)
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe.each(['TLSv1.2', 'TLSv1.3'] as const)('resumed %s sessions are checked at every request', (maxVersion) => {
  let home: string
  let server: TestServer
  let factory: Authority
  let ours: Authority

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'cups-resume-'))
    factory = await newAuthority(path.join(home, 'factory'), 'Gateway Factory CA')
    // First start makes the dev PKI; the trusts gateways hold are then pinned, so the CA can rotate under them.
    await (await startTestServer({}, home)).stop()
    const pinned = path.join(home, 'pinned-ca.pem')
    await writeFile(pinned, await readFile(path.join(home, 'certs', 'ca.crt')))
    server = await startTestServer(
      { BOOTSTRAP_POLICY: 'open', BOOTSTRAP_CA_PATH: factory.cert, CUPS_TRUST_PATH: pinned, TC_TRUST_PATH: pinned, CACHE_TTL_SECONDS: '0' },
      home,
    )
    ours = { cert: server.config.tls.caCertFile, key: server.config.tls.caKeyFile }
  })
  afterAll(async () => {
    await server.stop()
    await rm(home, { recursive: true, force: true })
  })

  const router = (n: number): string => `::e${maxVersion === 'TLSv1.2' ? 2 : 3}${String(n)}`
  const euiOf = (n: number): string => `0000000000000e${maxVersion === 'TLSv1.2' ? 2 : 3}${String(n)}`

  function post(n: number, identity: PemIdentity, session?: Buffer): Promise<SessionPost> {
    return postWithSession(server.port, stationBody({ router: router(n) }), {
      ca: server.caPem,
      ...identity,
      maxVersion,
      ...(session === undefined ? {} : { session }),
    })
  }

  /** Connects once to get a session, and checks that the server really resumes it while nothing changed. */
  async function establish(n: number, identity: PemIdentity): Promise<Buffer> {
    const first = await post(n, identity)
    expect(first.status).toBe(200)
    if (first.session === undefined) throw new Error('no TLS session')
    const resumed = await post(n, identity, first.session)
    expect([resumed.reused, resumed.status]).toEqual([true, 200])
    return resumed.session ?? first.session
  }

  async function provision(n: number): Promise<PemIdentity> {
    const result = await postWithSession(server.port, stationBody({ router: router(n) }), { ca: server.caPem, maxVersion })
    const blob = decodeUpdateInfoResponse(result.body).cupsCredentials
    if (blob === undefined) throw new Error('not provisioned')
    const parts = splitBlobLikeStation(blob)
    return {
      cert: new X509Certificate(parts.certificate).toString(),
      key: createPrivateKey({ key: parts.key, format: 'der', type: 'sec1' }).export({ format: 'pem', type: 'sec1' }).toString(),
    }
  }

  const proofsOf = (n: number, from: number): unknown[] =>
    server.logLines
      .slice(from)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.audit === 'credential-delivered' && line.eui === euiOf(n))
      .map((line) => line.proof)

  it('past revocation', async () => {
    const identity = await provision(1)
    const session = await establish(1, identity)
    await revokeGateway(new FsBlobStore(server.config.storage.dataDir), euiOf(1), { prefix: server.config.storage.prefix })
    const after = await post(1, identity, session)
    expect(after.reused).toBe(true)
    expect(after.status).toBe(403)
    expect(after.body.toString()).toMatch(/is revoked/)
  })

  it("past a factory certificate's expiry", async () => {
    const dir = path.join(home, `factory-${maxVersion}`)
    await mkdir(dir, { recursive: true })
    const notAfter = new Date(Date.now() + 4000)
    const identity = await issue(dir, factory, { subject: `/CN=${euiOf(2)}`, notBefore: new Date(Date.now() - 3_600_000), notAfter })
    const session = await establish(2, identity)
    await sleep(notAfter.getTime() - Date.now() + 1500)
    const after = await post(2, identity, session)
    expect(after.reused).toBe(true)
    expect(after.status).toBe(403)
    expect(after.body.toString()).toMatch(/factory certificate expired/)
  })

  it('past the expiry of its current certificate of ours: only as "expired-certificate", which fetches the renewal', async () => {
    const dir = path.join(home, `ours-${maxVersion}`)
    await mkdir(dir, { recursive: true })
    const notAfter = new Date(Date.now() + 4000)
    const identity = await issue(dir, ours, { subject: `/CN=${euiOf(3)}`, notBefore: new Date(Date.now() - 3_600_000), notAfter })
    const trust = Buffer.from(new X509Certificate(server.caPem).raw)
    const bundle = buildCredentialBlob({
      trust,
      certificate: Buffer.from(new X509Certificate(identity.cert).raw),
      privateKey: createPrivateKey(identity.key).export({ format: 'der', type: 'sec1' }),
    })
    const file = path.join(server.config.storage.dataDir, storageKeys(server.config.storage.prefix, euiOf(3)).cupsCredentials)
    await mkdir(path.dirname(file), { recursive: true })
    await writeFile(file, bundle)
    const session = await establish(3, identity)
    await sleep(notAfter.getTime() - Date.now() + 1500)
    const from = server.logLines.length
    const after = await post(3, identity, session)
    expect([after.reused, after.status]).toEqual([true, 200])
    expect(proofsOf(3, from)).toContain('expired-certificate')
    const renewal = decodeUpdateInfoResponse(after.body).cupsCredentials
    if (renewal === undefined) throw new Error('no renewal')
    expect(new X509Certificate(splitBlobLikeStation(renewal).certificate).serialNumber).not.toBe(new X509Certificate(identity.cert).serialNumber)
  })

  it("past its CA's removal from the client CAs (the end of a CA rotation)", async () => {
    const identity = await provision(4)
    const session = await establish(4, identity)
    const certs = path.join(home, 'certs')
    await writeFile(path.join(certs, 'ca-previous.crt'), await readFile(path.join(certs, 'ca.crt')))
    await run('openssl', [
      'req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
      '-keyout', path.join(certs, 'ca.key'), '-out', path.join(certs, 'ca.crt'), '-subj', `/CN=Rotated CA ${maxVersion}`, '-days', '30',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ])
    expect(await server.reload('test: rotate')).toBe(true)
    // A reload builds a new TLS context with new ticket keys, so no session outlives it (measured, both versions):
    // the first connection after it is a full handshake, and what it proves is checked again either way.
    const during = await post(4, identity, session)
    expect([during.reused, during.status]).toEqual([false, 200])
    const rotatedSession = await establish(4, identity)

    await rm(path.join(certs, 'ca-previous.crt'))
    expect(await server.reload('test: rotation done')).toBe(true)
    const after = await post(4, identity, rotatedSession)
    expect(after.status).toBe(403)
    expect(after.body.toString()).toMatch(/not issued by a CA this server accepts/)
    ours = { cert: server.config.tls.caCertFile, key: server.config.tls.caKeyFile }
  })
})
