// TlsReloader on a real Fastify HTTPS server: renewed certificates served, mTLS kept, bad sets refused, fs.watch.
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { copyFileSync, renameSync } from 'node:fs'
import https from 'node:https'
import type { Server as HttpsServer } from 'node:https'
import os from 'node:os'
import path from 'node:path'
import tls, { TLSSocket } from 'node:tls'
import type { SecureContextOptions } from 'node:tls'
import { promisify } from 'node:util'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { readTlsMaterial, TlsReloader } from '../../../src/http/tls-reloader'
import type { TlsMaterialFiles, TlsReloaderOptions } from '../../../src/http/tls-reloader'
import { ensureDevPki } from '../../../src/pki/dev-pki'
import { preflightTrust } from '../../../src/pki/trust-preflight'

const execFileAsync = promisify(execFile)

const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
[server]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid,issuer
subjectAltName = DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1
[client]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid,issuer
`

interface Pair {
  readonly crt: string
  readonly key: string
  readonly serial: string
}

let root: string
let caPem: Buffer
let initial: Pair
const pairs: Pair[] = []
let client: { cert: Buffer; key: Buffer }

async function openssl(args: string[]): Promise<void> {
  await execFileAsync('openssl', args, { cwd: root, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })
}

/** A server (or client) certificate and key signed by the dev CA, as a renewal tool would produce them. */
async function mint(name: string, subject: string, extensions: string): Promise<Pair> {
  await openssl([
    'req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-config', 'openssl.cnf', '-extensions', extensions,
    '-subj', subject, '-CA', 'pki/ca.crt', '-CAkey', 'pki/ca.key', '-days', '30', '-sha256',
  ])
  const crt = path.join(root, `${name}.crt`)
  return { crt, key: path.join(root, `${name}.key`), serial: new X509Certificate(await readFile(crt)).serialNumber }
}

function pair(index: number): Pair {
  const found = pairs[index]
  if (found === undefined) throw new Error(`pair ${index} was not minted`)
  return found
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'cups-tls-reload-'))
  await ensureDevPki(path.join(root, 'pki'), { log: () => undefined })
  caPem = await readFile(path.join(root, 'pki', 'ca.crt'))
  const initialCrt = path.join(root, 'pki', 'cups.crt')
  initial = {
    crt: initialCrt,
    key: path.join(root, 'pki', 'cups.key'),
    serial: new X509Certificate(await readFile(initialCrt)).serialNumber,
  }
  await writeFile(path.join(root, 'openssl.cnf'), OPENSSL_CONFIG)
  for (let i = 0; i < 3; i++) pairs.push(await mint(`renewed${i}`, '/CN=localhost', 'server'))
  const gateway = await mint('gateway', '/CN=0011223344556677', 'client')
  client = { cert: await readFile(gateway.crt), key: await readFile(gateway.key) }
}, 60_000)

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

// Per test: a certificate directory holding the initial pair, a server on it, and a captured log.
let certDir: string
let files: TlsMaterialFiles
let app: FastifyInstance<HttpsServer>
let port: number
let logLines: string[]
let reloader: TlsReloader | undefined

/** Bound to this test's array, so a late line from an earlier test's reloader cannot land in a later test. */
function log(): pino.Logger {
  const lines = logLines
  return pino({ level: 'debug' }, { write: (line: string) => lines.push(line) })
}
const logged = (): { level: number; msg: string; [key: string]: unknown }[] =>
  logLines.map((line) => JSON.parse(line) as { level: number; msg: string })

function newReloader(overrides: Partial<TlsReloaderOptions> = {}): TlsReloader {
  reloader = new TlsReloader({
    server: app.server,
    files,
    baseOptions: { minVersion: 'TLSv1.2' },
    log: log(),
    debounceMs: 50,
    ...overrides,
  })
  return reloader
}

/** Puts a pair in place the way certbot-like tools do: write next to the target, then rename over it. */
async function install(source: Pair): Promise<void> {
  await copyFile(source.key, path.join(certDir, '.cups.key.tmp'))
  await copyFile(source.crt, path.join(certDir, '.cups.crt.tmp'))
  await rename(path.join(certDir, '.cups.key.tmp'), files.serverKeyFile)
  await rename(path.join(certDir, '.cups.crt.tmp'), files.serverCertFile)
}

async function installContent(file: string, content: Buffer | string): Promise<void> {
  const temp = path.join(certDir, `.${path.basename(file)}.tmp`)
  await writeFile(temp, content)
  await rename(temp, file)
}

/** The serial a brand-new, fully verifying TLS connection is served. */
function servedSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: caPem }, () => {
      const serial = socket.getPeerCertificate().serialNumber
      socket.end()
      resolve(serial)
    })
    socket.on('error', reject)
  })
}

interface WhoAmI {
  readonly status: number
  readonly authorized: boolean
  readonly clientSerial: string | null
  readonly serverSerial: string
  readonly reusedSocket: boolean
}

/** GET /whoami with the gateway's client certificate; agent:false (a fresh connection) unless one is given. */
function whoami(agent?: https.Agent): Promise<WhoAmI> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path: '/whoami',
        ca: caPem,
        cert: client.cert,
        key: client.key,
        agent: agent ?? false,
      },
      (response) => {
        // Read now: a keep-alive agent takes the socket back before 'end'.
        const { socket } = response
        if (!(socket instanceof TLSSocket)) throw new Error('not a TLS socket')
        const serverSerial = socket.getPeerCertificate().serialNumber
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { authorized: boolean; serial: string | null }
          resolve({
            status: response.statusCode ?? 0,
            authorized: body.authorized,
            clientSerial: body.serial,
            serverSerial,
            reusedSocket: request.reusedSocket,
          })
        })
        response.on('error', reject)
      },
    )
    request.on('error', reject)
    request.end()
  })
}

async function pollServedSerial(expected: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs
  let serial = await servedSerial()
  while (serial !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    serial = await servedSerial()
  }
  return serial
}

beforeEach(async () => {
  certDir = await mkdtemp(path.join(root, 'certs-'))
  files = {
    serverCertFile: path.join(certDir, 'cups.crt'),
    serverKeyFile: path.join(certDir, 'cups.key'),
    clientCaFiles: [path.join(certDir, 'ca.crt')],
  }
  await copyFile(initial.crt, files.serverCertFile)
  await copyFile(initial.key, files.serverKeyFile)
  await copyFile(path.join(root, 'pki', 'ca.crt'), path.join(certDir, 'ca.crt'))
  logLines = []
  app = Fastify({
    https: { ...(await readTlsMaterial(files)), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
  })
  app.get('/whoami', (request) => {
    const { socket } = request.raw
    if (!(socket instanceof TLSSocket)) throw new Error('not a TLS socket')
    const peer = socket.getPeerCertificate()
    // An empty object when the client sent no certificate.
    return { authorized: socket.authorized, serial: Object.keys(peer).length === 0 ? null : peer.serialNumber }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  port = address.port
})

afterEach(async () => {
  reloader?.close()
  reloader = undefined
  await app.close()
  await rm(certDir, { recursive: true, force: true })
})

describe('TlsReloader.reload', () => {
  it('serves the renewed certificate to new connections and logs its serial and notAfter, never the key', async () => {
    expect(await servedSerial()).toBe(initial.serial)
    await install(pair(0))
    // Nothing changes until a reload: the server holds its context, not the files.
    expect(await servedSerial()).toBe(initial.serial)

    expect(await newReloader().reload('test')).toBe(true)
    expect(await servedSerial()).toBe(pair(0).serial)

    const info = logged().find((entry) => entry.msg.startsWith('TLS context reloaded'))
    expect(info).toMatchObject({ reason: 'test', serial: pair(0).serial, clientCas: 1 })
    expect(info?.notAfter).toMatch(/^\d{4}-\d{2}-\d{2}T/)
    const keyBody = (await readFile(pair(0).key, 'utf8')).split('\n')[1] ?? 'unreachable'
    expect(logLines.join('')).not.toContain('PRIVATE KEY')
    expect(logLines.join('')).not.toContain(keyBody)
  })

  it('keeps mTLS clients authorized:true across a reload (ca is passed again)', async () => {
    const gatewaySerial = new X509Certificate(client.cert).serialNumber
    expect(await whoami()).toMatchObject({ status: 200, authorized: true, clientSerial: gatewaySerial, serverSerial: initial.serial })
    await install(pair(0))
    expect(await newReloader().reload('test')).toBe(true)
    expect(await whoami()).toMatchObject({ status: 200, authorized: true, clientSerial: gatewaySerial, serverSerial: pair(0).serial })
  })

  it('baseOptions reach the new context: a reloader given maxVersion TLSv1.2 makes TLS 1.3 clients fail', async () => {
    // Proves the spread of baseOptions into setSecureContext; without it TLS 1.3 would still be offered.
    const options: SecureContextOptions = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }
    expect(await newReloader({ baseOptions: options }).reload('test')).toBe(true)
    const version = await new Promise<string | null>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: caPem }, () => {
        const negotiated = socket.getProtocol()
        socket.end()
        resolve(negotiated)
      })
      socket.on('error', reject)
    })
    expect(version).toBe('TLSv1.2')
    await expect(
      new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: caPem, minVersion: 'TLSv1.3' }, () => {
          socket.end()
          resolve('connected')
        })
        socket.on('error', reject)
      }),
    ).rejects.toThrow()
  })

  it('leaves a keep-alive connection opened before the reload working on its old certificate', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const before = await whoami(agent)
      expect(before).toMatchObject({ status: 200, authorized: true, serverSerial: initial.serial, reusedSocket: false })
      await install(pair(1))
      expect(await newReloader().reload('test')).toBe(true)

      const after = await whoami(agent)
      expect(after).toMatchObject({ status: 200, authorized: true, serverSerial: initial.serial, reusedSocket: true })
      expect(await servedSerial()).toBe(pair(1).serial)
    } finally {
      agent.destroy()
    }
  })

  it('refuses a garbage certificate file: the old certificate stays and the error names the file', async () => {
    await installContent(files.serverCertFile, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n')
    expect(await newReloader().reload('renewal')).toBe(false)
    expect(await servedSerial()).toBe(initial.serial)
    expect(await whoami()).toMatchObject({ authorized: true, serverSerial: initial.serial })
    const error = logged().find((entry) => entry.level === 50)
    expect(error).toMatchObject({ reason: 'renewal', msg: expect.stringContaining('TLS reload refused') as unknown })
    expect(String(error?.error)).toContain(`${files.serverCertFile}: is not a valid X.509 certificate`)
  })

  it('refuses a key that does not match the certificate', async () => {
    await install(pair(0))
    await installContent(files.serverKeyFile, await readFile(pair(1).key))
    expect(await newReloader().reload('renewal')).toBe(false)
    expect(await servedSerial()).toBe(initial.serial)
    expect(String(logged().find((entry) => entry.level === 50)?.error)).toContain(
      `${files.serverKeyFile}: does not match the certificate in ${files.serverCertFile}`,
    )
    expect(logLines.join('')).not.toContain('PRIVATE KEY')
  })

  it('refuses a garbage client CA file, naming it, and keeps clients authorized', async () => {
    const [caFile] = files.clientCaFiles
    if (caFile === undefined) throw new Error('no client CA file')
    await install(pair(0))
    await installContent(caFile, 'not a certificate\n')
    expect(await newReloader().reload('renewal')).toBe(false)
    expect(await whoami()).toMatchObject({ authorized: true, serverSerial: initial.serial })
    expect(String(logged().find((entry) => entry.level === 50)?.error)).toContain(`${caFile}: holds no certificate`)
  })

  it('refuses a set its preflight rejects (a cups uri host the new certificate lacks)', async () => {
    const cupsTrust = new X509Certificate(caPem).raw
    const seen: string[] = []
    const guarded = newReloader({
      preflight: (material) => {
        seen.push(new X509Certificate(material.cert).serialNumber)
        preflightTrust({ cupsTrust, serverCertificatePem: material.cert, cupsUri: 'https://cups.example.org:443' })
      },
    })
    await install(pair(0))
    expect(await guarded.reload('renewal')).toBe(false)
    expect(seen).toEqual([pair(0).serial])
    expect(await servedSerial()).toBe(initial.serial)
    expect(String(logged().find((entry) => entry.level === 50)?.error)).toContain('"cups.example.org" does not match')
  })

  it('serialises reloads: requests made during a run coalesce into exactly one more run, which rereads the files', async () => {
    const applied: string[] = []
    let firstRun = true
    const target = {
      setSecureContext: (options: SecureContextOptions): void => {
        applied.push(new X509Certificate(options.cert as Buffer).serialNumber)
      },
    }
    const serialised = newReloader({
      server: target,
      preflight: () => {
        if (!firstRun) return
        firstRun = false
        // A renewal lands while the first run is under way (after it read the files); it must not be lost.
        copyFileSync(pair(2).key, `${files.serverKeyFile}.tmp`)
        copyFileSync(pair(2).crt, `${files.serverCertFile}.tmp`)
        renameSync(`${files.serverKeyFile}.tmp`, files.serverKeyFile)
        renameSync(`${files.serverCertFile}.tmp`, files.serverCertFile)
        void serialised.reload('during 1')
        void serialised.reload('during 2')
      },
    })
    // Requested together, before any run has read a file: one run serves all three.
    const results = await Promise.all([serialised.reload('a'), serialised.reload('b'), serialised.reload('a')])
    expect(results).toEqual([true, true, true])
    // Let the queued second run finish: it is the next reload's predecessor, so awaiting one more proves it ran.
    expect(await serialised.reload('later')).toBe(true)
    expect(applied).toEqual([initial.serial, pair(2).serial, pair(2).serial])
    const reasons = logged()
      .filter((entry) => entry.msg.startsWith('TLS context reloaded'))
      .map((entry) => entry.reason)
    expect(reasons).toEqual(['a, b', 'during 1, during 2', 'later'])
  })
})

describe('TlsReloader.watch', () => {
  it('picks up a renewal renamed into place without a manual reload', async () => {
    newReloader().watch()
    await install(pair(0))
    expect(await pollServedSerial(pair(0).serial, 5000)).toBe(pair(0).serial)
    expect(await whoami()).toMatchObject({ authorized: true, serverSerial: pair(0).serial })
    const info = logged().find((entry) => entry.msg.startsWith('TLS context reloaded'))
    expect(String(info?.reason)).toMatch(/^file change: .*cups\.(crt|key)/)
  })

  it('ignores unrelated files in the directory and stops after close()', async () => {
    const watching = newReloader()
    watching.watch()
    await writeFile(path.join(certDir, 'unrelated.txt'), 'x')
    await mkdir(path.join(certDir, 'sub'))
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(logged().filter((entry) => entry.msg.startsWith('TLS'))).toEqual([])

    watching.close()
    await install(pair(1))
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(await servedSerial()).toBe(initial.serial)
    expect(logged().filter((entry) => entry.msg.startsWith('TLS'))).toEqual([])
  })
})

describe('readTlsMaterial', () => {
  it('returns PEM certificate, the key as read and one PEM buffer per client CA file', async () => {
    const material = await readTlsMaterial(files)
    expect(new X509Certificate(material.cert).serialNumber).toBe(initial.serial)
    expect(material.key).toEqual(await readFile(files.serverKeyFile))
    expect(material.ca).toHaveLength(1)
    expect(new X509Certificate(material.ca[0] ?? Buffer.alloc(0)).raw).toEqual(new X509Certificate(caPem).raw)
  })

  it('accepts a DER client CA file and a PEM file holding several CAs', async () => {
    const derFile = path.join(certDir, 'ca.der')
    const bundle = path.join(certDir, 'bundle.pem')
    await writeFile(derFile, new X509Certificate(caPem).raw)
    await writeFile(bundle, Buffer.concat([caPem, await readFile(path.join(root, 'renewed0.crt'))]))
    const material = await readTlsMaterial({ ...files, clientCaFiles: [derFile, bundle] })
    expect(material.ca.map((ca) => (ca.toString('latin1').match(/BEGIN CERTIFICATE/g) ?? []).length)).toEqual([1, 2])
  })

  it('uses an optional client CA file when present and skips it when absent', async () => {
    const previous = path.join(certDir, 'ca-previous.crt')
    expect((await readTlsMaterial({ ...files, optionalClientCaFiles: [previous] })).ca).toHaveLength(1)
    await writeFile(previous, caPem)
    expect((await readTlsMaterial({ ...files, optionalClientCaFiles: [previous] })).ca).toHaveLength(2)
  })

  it('names a missing file', async () => {
    await expect(readTlsMaterial({ ...files, serverKeyFile: path.join(certDir, 'missing.key') })).rejects.toThrow(
      `${path.join(certDir, 'missing.key')}: cannot be read (ENOENT)`,
    )
  })

  it('names a key file that is not a key', async () => {
    await writeFile(files.serverKeyFile, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')
    await expect(readTlsMaterial(files)).rejects.toThrow(`${files.serverKeyFile}: is not an unencrypted PEM private key`)
  })
})
