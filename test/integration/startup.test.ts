// Startup and reload checks of the real server: refuse what a station could not use, reload on demand.
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixturesDir } from '../support/fixtures'
import { StationSimulator } from '../support/station-simulator'
import { startTestServer } from '../support/test-server'

const run = promisify(execFile)

describe('startup refuses what a station could not use', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cups-startup-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses a CERT_PATH holding only part of a PKI, naming what is missing', async () => {
    const certs = path.join(dir, 'partial', 'certs')
    await mkdir(certs, { recursive: true })
    await writeFile(path.join(certs, 'ca.crt'), 'x')
    await expect(startTestServer({}, path.join(dir, 'partial'))).rejects.toThrow(/ca\.key|cups\.crt|cups\.key/)
  })

  it('refuses a TC trust file with more than one certificate', async () => {
    const home = path.join(dir, 'tc-chain')
    const server = await startTestServer({}, home)
    await server.stop()
    const ca = await readFile(path.join(home, 'certs', 'ca.crt'))
    await writeFile(path.join(home, 'lns-chain.pem'), Buffer.concat([ca, ca]))
    await expect(startTestServer({ TC_TRUST_PATH: path.join(home, 'lns-chain.pem') }, home)).rejects.toThrow(
      /2 certificates; a station trusts exactly one/,
    )
  })

  it('refuses an LNS CA that is also our gateway CA: its TC certificates would prove CUPS identities', async () => {
    const home = path.join(dir, 'lns-ca')
    await (await startTestServer({}, home)).stop()
    const certs = path.join(home, 'certs')
    await expect(
      startTestServer({ LNS_CA_CERT_PATH: path.join(certs, 'ca.crt'), LNS_CA_KEY_PATH: path.join(certs, 'ca.key') }, home),
    ).rejects.toThrow(/LNS_CA_CERT_PATH: .*is also a CA whose client certificates this server accepts/)
  })

  it('refuses a CUPS_URI whose host is not a DNS name in the server certificate', async () => {
    await expect(startTestServer({ CUPS_URI: 'https://cups.example.com:443' }, path.join(dir, 'host'))).rejects.toThrow(
      /cups\.example\.com/,
    )
  })
})

describe('reload on demand (SIGHUP)', () => {
  it('rotates the gateway CA without downtime: old certificates still work, new ones come from the new CA', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'cups-rotate-'))
    const first = await startTestServer({}, home)
    await first.stop()
    const certs = path.join(home, 'certs')
    // The trusts gateways hold (ours and the LNS's) stay put: pin them before rotating the CA that signs gateways.
    await writeFile(path.join(home, 'server-ca.pem'), await readFile(path.join(certs, 'ca.crt')))
    const pinned = path.join(home, 'server-ca.pem')
    const server = await startTestServer({ CUPS_TRUST_PATH: pinned, TC_TRUST_PATH: pinned }, home)
    try {
      const station = async (router: string): Promise<StationSimulator> => {
        const simulated = new StationSimulator({ router, home: path.join(home, router.replace(/:/g, '_')) })
        await simulated.setFile('cups.uri', `https://localhost:${server.port}`)
        await simulated.setFile('cups.trust', server.caPem)
        return simulated
      }
      const veteran = await station('::a1')
      expect((await veteran.contact()).status).toBe(200)

      await writeFile(path.join(certs, 'ca-previous.crt'), await readFile(path.join(certs, 'ca.crt')))
      await run('openssl', [
        'req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
        '-keyout', path.join(certs, 'ca.key'), '-out', path.join(certs, 'ca.crt'), '-subj', '/CN=Rotated gateway CA', '-days', '30',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ])
      expect(await server.reload('SIGHUP')).toBe(true)

      const again = await veteran.contact()
      expect([again.mode, again.status]).toEqual(['both', 200])
      expect(again.segments).toEqual({ trailing: 0 })
      const newcomer = await station('::a2')
      await newcomer.contact()
      const issuer = new X509Certificate(await newcomer.file('cups.crt')).issuer
      expect(issuer).toBe('CN=Rotated gateway CA')
      expect((await newcomer.contact()).body).toEqual(Buffer.alloc(14))
    } finally {
      await server.stop()
      await rm(home, { recursive: true, force: true })
    }
  })

  it('hands each gateway its TC bundle once with a new LNS trust, same certificate and key', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'cups-trust-'))
    const lnsTrust = path.join(home, 'lns-ca.pem')
    const first = await startTestServer({}, home)
    await first.stop()
    await writeFile(lnsTrust, first.caPem)
    const server = await startTestServer({ TC_TRUST_PATH: lnsTrust }, home)
    try {
      const station = new StationSimulator({ router: '::e1', home: path.join(home, 'station') })
      await station.setFile('cups.uri', `https://localhost:${server.port}`)
      await station.setFile('cups.trust', server.caPem)
      expect((await station.contact()).segments?.tcCredentials).toBeDefined()
      const tcCertificate = await station.file('tc.crt')

      // The LNS moved to another CA: a real station's LNS CA from the fixtures.
      const newLnsCa = await readFile(path.join(fixturesDir(), 'tc-files-written', 'tc.trust'))
      await writeFile(lnsTrust, newLnsCa)
      expect(await server.reload('SIGHUP')).toBe(true)

      const afterReload = await station.contact()
      expect(Object.keys(afterReload.segments ?? {}).sort()).toEqual(['tcCredentials', 'trailing'])
      expect(await station.file('tc.trust')).toEqual(newLnsCa)
      expect(await station.file('tc.crt')).toEqual(tcCertificate)
      expect((await station.contact()).body).toEqual(Buffer.alloc(14))
    } finally {
      await server.stop()
      await rm(home, { recursive: true, force: true })
    }
  })

  it('serves a renewed server certificate to new connections without a restart', async () => {
    const server = await startTestServer()
    try {
      const certs = server.config.tls.certPath
      const serial = (): Promise<string> =>
        new Promise((resolve, reject) => {
          const socket = tls.connect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: server.caPem }, () => {
            resolve(socket.getPeerCertificate().serialNumber)
            socket.end()
          })
          socket.on('error', reject)
        })
      const before = await serial()
      // Renew the server certificate from the same CA, as a renewal tool would, then signal.
      await run('openssl', [
        'req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
        '-keyout', path.join(certs, 'new.key'), '-out', path.join(certs, 'new.crt'), '-subj', '/CN=localhost',
        '-CA', path.join(certs, 'ca.crt'), '-CAkey', path.join(certs, 'ca.key'), '-days', '30',
        '-addext', 'subjectAltName=DNS:localhost,DNS:127.0.0.1', '-addext', 'extendedKeyUsage=serverAuth',
        '-addext', 'basicConstraints=CA:FALSE',
      ])
      const renewed = new X509Certificate(await readFile(path.join(certs, 'new.crt'))).serialNumber
      await writeFile(path.join(certs, 'cups.key'), await readFile(path.join(certs, 'new.key')))
      await writeFile(path.join(certs, 'cups.crt'), await readFile(path.join(certs, 'new.crt')))
      expect(await server.reload('SIGHUP')).toBe(true)
      expect(await serial()).toBe(renewed)
      expect(renewed).not.toBe(before)
    } finally {
      await server.stop()
    }
  })
})

describe('the allowlist file on SIGHUP', () => {
  it('is read again: an EUI added to it may bootstrap without a restart', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'cups-allowlist-'))
    const list = path.join(home, 'allowlist.txt')
    await writeFile(list, '# none yet\n')
    const server = await startTestServer({ BOOTSTRAP_POLICY: 'registered', BOOTSTRAP_ALLOWLIST: list, CACHE_TTL_SECONDS: '0' }, home)
    try {
      const station = new StationSimulator({ router: '::ab1', home: path.join(home, 'station') })
      await station.setFile('cups.uri', `https://localhost:${server.port}`)
      await station.setFile('cups.trust', server.caPem)
      expect((await station.contact()).status).toBe(404)
      await writeFile(list, '# the new site\n00-00-00-00-00-00-0a-b1\n')
      await server.reload('SIGHUP')
      expect((await station.contact()).status).toBe(200)
    } finally {
      await server.stop()
      await rm(home, { recursive: true, force: true })
    }
  })
})
