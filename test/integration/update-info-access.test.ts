// Who gets an answer over real TLS: certificate checks, anonymous bootstrap, malformed and oversize bodies.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postUpdateInfo } from '../support/https-client'
import { StationSimulator } from '../support/station-simulator'
import { startTestServer } from '../support/test-server'
import type { TestServer } from '../support/test-server'

const run = promisify(execFile)

function requestFor(router: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    router,
    cupsUri: 'https://localhost:8443',
    tcUri: null,
    cupsCredCrc: 2077607535,
    tcCredCrc: 2077607535,
    station: '2.0.6(linux/testsim) 2026-11-23 19:46:54',
    model: 'linux',
    package: '1.0.0',
    keys: [],
    ...extra,
  })
}

describe('access to /update-info over TLS', () => {
  let server: TestServer
  let work: string
  let provisioned: StationSimulator

  beforeAll(async () => {
    server = await startTestServer()
    work = await mkdtemp(path.join(os.tmpdir(), 'cups-access-'))
    provisioned = new StationSimulator({ router: '1:2:3:4', home: path.join(work, 'gw') })
    await provisioned.setFile('cups.uri', `https://localhost:${server.port}`)
    await provisioned.setFile('cups.trust', server.caPem)
    expect((await provisioned.contact()).status).toBe(200)
  })
  afterAll(async () => {
    await server.stop()
    await rm(work, { recursive: true, force: true })
  })

  const gatewayIdentity = async (): Promise<{ cert: string; key: string }> => {
    const { X509Certificate, createPrivateKey } = await import('node:crypto')
    return {
      cert: new X509Certificate(await provisioned.file('cups.crt')).toString(),
      key: createPrivateKey({ key: await provisioned.file('cups.key'), format: 'der', type: 'sec1' })
        .export({ format: 'pem', type: 'sec1' })
        .toString(),
    }
  }

  it('answers the gateway that presents its own certificate', async () => {
    const result = await postUpdateInfo(server.port, requestFor('1:2:3:4'), { ca: server.caPem, ...(await gatewayIdentity()) })
    expect(result.status).toBe(200)
    expect(result.headers['content-type']).toBe('application/octet-stream')
  })

  it('refuses a valid certificate of another gateway with 403', async () => {
    const result = await postUpdateInfo(server.port, requestFor('::9'), { ca: server.caPem, ...(await gatewayIdentity()) })
    expect(result.status).toBe(403)
    expect(result.body.toString()).not.toMatch(/BEGIN|PRIVATE/)
  })

  it('refuses a self-signed certificate with the right CN with 403', async () => {
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
      '-keyout', path.join(work, 'self.key'), '-out', path.join(work, 'self.crt'),
      '-subj', '/CN=0001000200030004', '-days', '2',
    ])
    const result = await postUpdateInfo(server.port, requestFor('1:2:3:4'), {
      ca: server.caPem,
      cert: await readFile(path.join(work, 'self.crt')),
      key: await readFile(path.join(work, 'self.key')),
    })
    expect(result.status).toBe(403)
    expect(result.body.toString()).toMatch(/client certificate rejected/)
  })

  it('refuses an anonymous request for an already provisioned gateway with 403', async () => {
    const result = await postUpdateInfo(server.port, requestFor('1:2:3:4'), { ca: server.caPem })
    expect(result.status).toBe(403)
    expect(result.body.length).toBeLessThan(200)
  })

  it('speaks TLS 1.2, the most the station can do', async () => {
    const result = await postUpdateInfo(server.port, requestFor('::77'), { ca: server.caPem, maxVersion: 'TLSv1.2' })
    expect(result.status).toBe(200)
  })

  it.each([
    ['not JSON', '{"router":'],
    ['an empty body', ''],
    ['a JSON array', '[]'],
    ['a missing router', JSON.stringify({ cupsCredCrc: 1, tcCredCrc: 1 })],
    ['a bad router id', requestFor('not-an-eui')],
    ['a negative CRC', requestFor('::5', { cupsCredCrc: -1 })],
    ['a CRC above 32 bits', requestFor('::5', { tcCredCrc: 2 ** 32 })],
    ['keys that are not numbers', requestFor('::5', { keys: ['a'] })],
  ])('answers 400 for %s', async (_name, body) => {
    const result = await postUpdateInfo(server.port, body, { ca: server.caPem })
    expect(result.status).toBe(400)
    const error = JSON.parse(result.body.toString()) as { code: unknown; message: unknown }
    expect(typeof error.code).toBe('string')
    expect(typeof error.message).toBe('string')
  })

  it('answers a station that sends no Host header (Basics Station before 2.0.2)', async () => {
    const body = requestFor('::44')
    const raw = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = []
      const socket = tls.connect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: server.caPem }, () => {
        socket.write(`POST /update-info HTTP/1.1\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
      })
      socket.on('data', (chunk: Buffer) => chunks.push(chunk))
      socket.on('end', () => { resolve(Buffer.concat(chunks).toString('latin1')); })
      socket.on('error', reject)
    })
    expect(raw.startsWith('HTTP/1.1 200')).toBe(true)
  })

  it('answers 413 for an oversize body', async () => {
    const result = await postUpdateInfo(server.port, requestFor('::5', { padding: 'x'.repeat(20000) }), { ca: server.caPem })
    expect(result.status).toBe(413)
  })

  it.each([
    ['no content type', '::41', {}],
    ['application/octet-stream', '::42', { 'content-type': 'application/octet-stream' }],
    ['text/plain', '::43', { 'content-type': 'text/plain' }],
  ])('accepts a body with %s', async (_name, router, headers) => {
    // Each case is a new gateway: after its first answer it is provisioned and anonymous calls get 403.
    const result = await postUpdateInfo(server.port, requestFor(router), { ca: server.caPem, headers })
    expect(result.status).toBe(200)
  })
})
