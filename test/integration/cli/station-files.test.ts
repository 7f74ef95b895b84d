// `cups-server gateway station-files` as an operator runs it (dist/cli.js): the files read back as the station reads them, then used.
import { X509Certificate } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXIT } from '../../../src/cli/run-cli'
import { crc32 } from '../../../src/cups/crc32'
import { checkStationUri } from '../../../src/cups/station-uri'
import { ensureDevPki } from '../../../src/pki/dev-pki'
import { storageKeys } from '../../../src/storage/storage-keys'
import { CLI_STORAGES, runCliBinary } from '../../support/cli-binary'
import type { CliStorage } from '../../support/cli-binary'
import { splitBlobLikeStation } from '../../support/station-decoder'
import { StationSimulator } from '../../support/station-simulator'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'

interface StationFilesJson {
  readonly eui: string
  readonly dir: string
  readonly cupsUri: string
  readonly cupsUriFrom: 'record' | 'CUPS_URI'
  readonly files: readonly { name: string; path: string; outcome: string; bytes: number; crc32: number }[]
  readonly cupsCredCrc: number
  readonly notes: readonly string[]
}

/** cups.uri as src/sys.c reads it: trailing spaces, tabs, CR and LF stripped. */
async function stationUri(dir: string): Promise<string> {
  return (await readFile(path.join(dir, 'cups.uri'), 'latin1')).replace(/[ \t\r\n]+$/, '')
}

for (const kind of CLI_STORAGES) {
  describe.skipIf(!kind.enabled)(`cups-server gateway station-files on ${kind.name}`, () => {
    let storage: CliStorage
    let server: TestServer
    let cupsUri: string
    const run = (args: readonly string[], env: Readonly<Record<string, string>> = {}) =>
      runCliBinary(['gateway', 'station-files', ...args], { env: { ...storage.env, CUPS_URI: cupsUri, BOOTSTRAP_POLICY: 'open', ...env }, cwd: storage.dir })
    const out = (name: string): string => path.join(storage.dir, name)

    beforeAll(async () => {
      storage = await kind.create()
      await ensureDevPki(storage.env.CERT_PATH ?? '', { log: () => undefined })
      // The real server on the same PKI and storage: what it mints is what the files must agree with.
      server = await startTestServer({ ...storage.env, BOOTSTRAP_POLICY: 'open' })
      cupsUri = `https://localhost:${server.port}`
    })
    afterAll(async () => {
      await server.stop()
      await storage.cleanup()
    })

    it('writes cups.uri and cups.trust that a station reads, verifies the server with, and finds in the bundle the server mints', async () => {
      const result = await run(['16:c001:ff10:a235', 'image', '--json'])
      expect(result.stderr).not.toMatch(/cups-server:/)
      expect(result.status).toBe(EXIT.ok)
      const report = JSON.parse(result.stdout) as StationFilesJson
      expect(report).toMatchObject({ eui: '0016c001ff10a235', dir: out('image'), cupsUri, cupsUriFrom: 'CUPS_URI', notes: [] })

      // cups.uri: exactly the URI, no newline, one the station accepts.
      const uriBytes = await readFile(path.join(out('image'), 'cups.uri'))
      expect(uriBytes.toString('latin1')).toBe(cupsUri)
      expect(await stationUri(out('image'))).toBe(cupsUri)
      expect(() => {
        checkStationUri(cupsUri, 'cups')
      }).not.toThrow()
      // cups.trust: one DER certificate, byte for byte (no PEM), the CA the server's certificate chains to.
      const trust = await readFile(path.join(out('image'), 'cups.trust'))
      const certificate = new X509Certificate(trust)
      expect(certificate.raw.equals(trust)).toBe(true)
      expect(certificate.ca).toBe(true)
      expect(trust.subarray(0, 5).toString('latin1')).not.toBe('-----')
      expect(report.files).toEqual([
        { name: 'cups.trust', path: path.join(out('image'), 'cups.trust'), outcome: 'written', bytes: trust.length, crc32: crc32(trust) },
        { name: 'cups.uri', path: path.join(out('image'), 'cups.uri'), outcome: 'written', bytes: uriBytes.length, crc32: crc32(uriBytes) },
      ])

      // A station with just these two files: the CRC it reports, then a real TLS contact verified with cups.trust.
      const station = new StationSimulator({ router: '16:c001:ff10:a235', home: out('image') })
      expect(await station.credentialCrc('cups')).toBe(report.cupsCredCrc)
      const contact = await station.contact()
      expect(contact.status).toBe(200)
      expect(contact.mode).toBe('server')
      const minted = contact.segments?.cupsCredentials
      if (minted === undefined) throw new Error('the server minted no CUPS bundle')
      expect(splitBlobLikeStation(minted).trust.equals(trust)).toBe(true)
      // The URI it was built with is the server's own: no redirect.
      expect(contact.segments?.cupsUri).toBeUndefined()
    })

    it("prints what it wrote with lengths and CRCs; the gateway record's cupsUri wins over CUPS_URI", async () => {
      const recordUri = `https://127.0.0.1:${server.port}`
      await storage.store.put(storageKeys('cups/', '0000000000000002').settings, Buffer.from(JSON.stringify({ cupsUri: recordUri })))
      const result = await run(['::2', 'record-image'])
      expect(result.status).toBe(EXIT.ok)
      const trust = await readFile(path.join(out('record-image'), 'cups.trust'))
      expect(result.stdout).toMatch(new RegExp(`^${out('record-image')}/cups\\.trust +written +${trust.length} +${crc32(trust)} +DER certificate "CN=CUPS Development CA`, 'm'))
      expect(result.stdout).toMatch(new RegExp(`^${out('record-image')}/cups\\.uri +written +${recordUri.length} +${crc32(Buffer.from(recordUri))} +${recordUri} \\(from its record\\)$`, 'm'))
      expect(result.stdout).toMatch(/^0000000000000002: no key material written: the gateway gets its identity at first contact, reporting cupsCredCrc \d+ until then$/m)
      expect(await stationUri(out('record-image'))).toBe(recordUri)
    })

    it('keeps files whose content differs unless --force; the same content is left unchanged', async () => {
      await mkdir(out('kept'), { recursive: true })
      await writeFile(path.join(out('kept'), 'cups.uri'), 'https://old.example.com:443\n')
      const refused = await run(['::3', 'kept'])
      expect(refused.status).toBe(EXIT.failed)
      expect(refused.stderr).toMatch(/^cups-server: 0000000000000003: nothing written: .*kept\/cups\.uri exists with different content; --force replaces it$/m)
      expect(existsSync(path.join(out('kept'), 'cups.trust'))).toBe(false)
      expect(await readFile(path.join(out('kept'), 'cups.uri'), 'latin1')).toBe('https://old.example.com:443\n')

      const forced = JSON.parse((await run(['::3', 'kept', '--force', '--json'])).stdout) as StationFilesJson
      expect(forced.files.map((file) => file.outcome)).toEqual(['written', 'replaced'])
      expect(await stationUri(out('kept'))).toBe(cupsUri)
      const again = JSON.parse((await run(['::3', 'kept', '--json'])).stdout) as StationFilesJson
      expect(again.files.map((file) => file.outcome)).toEqual(['unchanged', 'unchanged'])
    })

    it('without a CUPS URI (no record cupsUri, no CUPS_URI): exit 1 naming the EUI and both, nothing written', async () => {
      const result = await runCliBinary(['gateway', 'station-files', '::4', 'no-uri'], { env: { ...storage.env }, cwd: storage.dir })
      expect(result.status).toBe(EXIT.failed)
      expect(result.stderr).toMatch(/0000000000000004: no CUPS URI to write: its record has no cupsUri and CUPS_URI is not set/)
      expect(existsSync(out('no-uri'))).toBe(false)
    })

    it('refuses a URI whose host the server certificate does not name, as start would: exit 1, nothing written', async () => {
      const result = await run(['::5', 'wrong-host'], { CUPS_URI: 'https://cups.example.com:8443' })
      expect(result.status).toBe(EXIT.failed)
      expect(result.stderr).toMatch(/0000000000000005: a station holding this cups\.trust would refuse the server at https:\/\/cups\.example\.com:8443: the cups uri host "cups\.example\.com" does not match/)
      expect(existsSync(out('wrong-host'))).toBe(false)
    })

    it('refuses a gateway whose record does not validate', async () => {
      await storage.store.put(storageKeys('cups/', '0000000000000006').settings, Buffer.from('{"cupsUri":"https://x.example.com:1/path"}'))
      const result = await run(['::6', 'bad-record'])
      expect(result.status).toBe(EXIT.failed)
      expect(result.stderr).toMatch(/0000000000000006: its record does not validate \(cupsUri: must not have a path/)
    })

    it('notes, after writing, when the server would refuse the first contact (unregistered, BOOTSTRAP_POLICY=registered)', async () => {
      const result = await run(['::7', 'unregistered'], { BOOTSTRAP_POLICY: 'registered' })
      expect(result.status).toBe(EXIT.ok)
      expect(result.stderr).toMatch(/^note: 0000000000000007: its first contact is refused \(404: unknown gateway 0000000000000007\) until it is registered: cups-server gateway add 0000000000000007$/m)
      expect(existsSync(path.join(out('unregistered'), 'cups.trust'))).toBe(true)
    })

    it('without a PKI in CERT_PATH, and for a bad EUI: exit 1 with the reason', async () => {
      const empty = await run(['::8', 'no-pki'], { CERT_PATH: out('no-certs') })
      expect(empty.status).toBe(EXIT.failed)
      expect(empty.stderr).toMatch(/0000000000000008: CERT_PATH .*no-certs holds no certificates yet; the server generates a development PKI there at its first start/)
      expect(existsSync(out('no-certs'))).toBe(false)
      const bad = await run(['gateway-9', 'x'])
      expect(bad.status).toBe(EXIT.failed)
      expect(bad.stderr).toMatch(/"gateway-9" is not a gateway EUI/)
    })
  })
}
