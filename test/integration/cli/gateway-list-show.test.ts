// `cups-server gateway list|show` as an operator runs them (dist/cli.js), on every storage the CLI supports.
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crc32 } from '../../../src/cups/crc32'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import type { FleetRow } from '../../../src/gateways/fleet-view'
import type { GatewayDetail } from '../../../src/gateways/gateway-detail'
import type { InventoryEntry } from '../../../src/gateways/inventory'
import { certificateNotAfter } from '../../../src/pki/certificate-expiry'
import { storageKeys } from '../../../src/storage/storage-keys'
import { CLI_STORAGES, runCliBinary } from '../../support/cli-binary'
import type { CliRun, CliStorage } from '../../support/cli-binary'
import { issue, newAuthority } from '../../support/test-certificates'

const DAY = 86_400_000
const PREFIX = 'cups/'
/** The TC token in the TC bundle, and the bearer key in the record: neither may appear without --show-token. */
const TOKEN_SECRET = 'Bearer tok.Zq8Hf3LmW2pXr9TcV1bN'
const BEARER_SECRET = 'NNSXS.K7M4Q2RZT5.YV8W3PDLX6JHC9XX'
const TOKEN_REDACTED = `<redacted, ${TOKEN_SECRET.length} bytes>`
const BEARER_REDACTED = `<redacted, ${BEARER_SECRET.length} bytes>`

/** Every kind of gateway the commands must tell apart. */
const G = {
  provisioned: '0016c001ff10a235',
  disabled: '0016c001ff10a236',
  expiredStuck: '0016c001ff10a237',
  schemaProblem: '0016c001ff10a238',
  notAnObject: '0016c001ff10a239',
  corruptBundle: '0016c001ff10a23a',
  revoked: '0016c001ff10a23b',
} as const
const UNKNOWN = '0016c001ff10a2ff'

interface Identity {
  readonly certificate: Buffer
  readonly key: Buffer
  /** Every encoding of the private key an output could leak. */
  readonly keyForms: readonly string[]
}

for (const kind of CLI_STORAGES) {
  describe.skipIf(!kind.enabled)(`gateway list and show on ${kind.name}`, () => {
    let storage: CliStorage
    let trust: Buffer
    let cupsBundle: Buffer
    let tcBundle: Buffer
    let serial: string
    let soonNotAfter: string
    const secrets: string[] = []
    const cli = (...args: string[]): Promise<CliRun> => runCliBinary(args, { env: storage.env, cwd: storage.dir })
    const put = (eui: string, key: 'settings' | 'cupsCredentials' | 'tcCredentials' | 'inventory' | 'lastAuthentication', body: Buffer | string) =>
      storage.store.put(storageKeys(PREFIX, eui)[key], typeof body === 'string' ? Buffer.from(body) : body)

    beforeAll(async () => {
      storage = await kind.create()
      const ca = await newAuthority(path.join(storage.dir, 'ca'), 'Gateway CA')
      trust = new X509Certificate(await readFile(ca.cert)).raw
      const identity = async (eui: string, notBefore: Date, notAfter: Date): Promise<Identity> => {
        const pem = await issue(path.join(storage.dir, `leaf-${eui}`), ca, { subject: `/CN=${eui}`, notBefore, notAfter })
        const privateKey = createPrivateKey(pem.key)
        const key = privateKey.export({ format: 'der', type: 'sec1' })
        const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' })
        const keyForms = [key.toString('hex'), key.toString('base64').slice(0, 40), pkcs8.toString('base64').slice(0, 40), 'PRIVATE KEY']
        return { certificate: new X509Certificate(pem.cert).raw, key, keyForms }
      }
      const now = Date.now()
      const soon = await identity(G.provisioned, new Date(now - DAY), new Date(now + 10 * DAY))
      const later = await identity(G.disabled, new Date(now - DAY), new Date(now + 200 * DAY))
      const expired = await identity(G.expiredStuck, new Date(now - 30 * DAY), new Date(now - DAY))
      secrets.push(TOKEN_SECRET, BEARER_SECRET, ...soon.keyForms, ...later.keyForms, ...expired.keyForms)
      serial = new X509Certificate(soon.certificate).serialNumber.toUpperCase()
      soonNotAfter = certificateNotAfter(soon.certificate).toISOString()

      cupsBundle = buildCredentialBlob({ trust, certificate: soon.certificate, privateKey: soon.key })
      tcBundle = buildCredentialBlob({ trust, token: `Authorization: ${TOKEN_SECRET}` })
      await put(G.provisioned, 'settings', JSON.stringify({ name: 'roof-07', tcUri: 'wss://lns.example.com:8887', tcCredentials: { source: 'token', bearer: BEARER_SECRET } }))
      await put(G.provisioned, 'cupsCredentials', cupsBundle)
      await put(G.provisioned, 'tcCredentials', tcBundle)
      await put(G.provisioned, 'inventory', JSON.stringify(inventory({ reported: { ...REPORTED, cupsCredCrc: crc32(cupsBundle), tcCredCrc: crc32(tcBundle) }, converged: true })))
      await put(G.provisioned, 'lastAuthentication', JSON.stringify({ version: 1, via: 'certificate', sha256: 'ab'.repeat(32), serial, at: new Date(now).toISOString() }))

      await put(G.disabled, 'settings', '{"state":"disabled"}')
      await put(G.disabled, 'cupsCredentials', buildCredentialBlob({ trust, certificate: later.certificate, privateKey: later.key }))

      await put(G.expiredStuck, 'settings', '{}')
      await put(G.expiredStuck, 'cupsCredentials', buildCredentialBlob({ trust, certificate: expired.certificate, privateKey: expired.key }))
      const stuckUntil = new Date(now + DAY).toISOString()
      await put(G.expiredStuck, 'inventory', JSON.stringify(inventory({ converged: false, segments: { tcUri: { crc: 1, reportedCrc: 2, sends: 3, stuckSince: new Date(now).toISOString(), stuckUntil } } })))

      await put(G.schemaProblem, 'settings', JSON.stringify({ name: 'bad-uri', cupsUri: 'http://cups.example.com:80' }))
      await put(G.notAnObject, 'settings', 'null')
      // A PEM file where the DER bundle belongs: a station cannot parse it, so the server never sends it.
      await put(G.corruptBundle, 'cupsCredentials', `-----BEGIN CERTIFICATE-----\n${trust.toString('base64')}\n-----END CERTIFICATE-----\n`)
      await put(G.revoked, 'settings', JSON.stringify({ state: 'revoked', revokedAt: new Date(now).toISOString() }))
      await storage.store.put(`${PREFIX}readme.txt`, Buffer.from('not a gateway'))
    })
    afterAll(() => storage.cleanup())

    /** Output a private key or a token could have leaked into, stdout and stderr together. */
    function expectNoSecrets(run: CliRun, allowed: readonly string[] = []): void {
      for (const secret of secrets.filter((s) => !allowed.includes(s))) {
        expect(run.stdout).not.toContain(secret)
        expect(run.stderr).not.toContain(secret)
      }
    }

    const listJson = async (...args: string[]): Promise<FleetRow[]> => {
      const run = await cli('gateway', 'list', '--json', ...args)
      expect(run.status, run.stderr).toBe(0)
      return JSON.parse(run.stdout) as FleetRow[]
    }

    it('lists the fleet as a table, one row per gateway, sorted by EUI', async () => {
      const run = await cli('gateway', 'list')
      expect(run.status, run.stderr).toBe(0)
      const [header, ...rows] = run.stdout.trimEnd().split('\n')
      expect(header).toMatch(/^EUI +NAME +STATE +PROVISIONED +CERT EXPIRES +LAST SEEN \(UTC\) +STATION \/ PACKAGE +CONVERGED$/)
      expect(rows.map((row) => row.split(' ')[0])).toEqual(Object.values(G).sort())
      const cells = (eui: string): string[] => (rows.find((row) => row.startsWith(eui)) ?? '').split(/ {2,}/)
      expect(cells(G.provisioned)).toEqual([G.provisioned, 'roof-07', 'active', 'yes', soonNotAfter.slice(0, 10), '2026-12-02 07:23', '2.0.6(linux/testsim) 2026-11-23 19:46:54 / 1.0.0', 'yes'])
      expect(cells(G.expiredStuck).slice(2)).toEqual(['active', 'yes', expect.any(String), expect.any(String), expect.any(String), 'no, stuck: tcUri'])
      expect(cells(G.corruptBundle).slice(1, 4)).toEqual(['-', 'unregistered', 'unusable'])
      expect(cells(G.notAnObject).slice(1, 4)).toEqual(['-', 'invalid', 'no'])
      expectNoSecrets(run)
    })

    it('prints the same as one JSON array, null where unknown', async () => {
      const rows = await listJson()
      expect(rows.map((row) => row.eui)).toEqual(Object.values(G).sort())
      const row = (eui: string): FleetRow | undefined => rows.find((r) => r.eui === eui)
      expect(row(G.provisioned)).toEqual({
        eui: G.provisioned,
        name: 'roof-07',
        state: 'active',
        provisioned: 'yes',
        certificateNotAfter: soonNotAfter,
        lastSeen: '2026-12-02T07:23:34.277Z',
        station: '2.0.6(linux/testsim) 2026-11-23 19:46:54',
        package: '1.0.0',
        converged: true,
        stuck: [],
      })
      expect(row(G.revoked)).toEqual({ eui: G.revoked, name: null, state: 'revoked', provisioned: 'no', certificateNotAfter: null, lastSeen: null, station: null, package: null, converged: null, stuck: [] })
      expect(row(G.schemaProblem)).toMatchObject({ name: 'bad-uri', state: 'invalid' })
      expect(row(G.corruptBundle)).toMatchObject({ state: 'unregistered', provisioned: 'unusable', certificateNotAfter: null })
      expect(row(G.expiredStuck)).toMatchObject({ converged: false, stuck: ['tcUri'] })
    })

    it.each([
      [['--expiring-within', '30d'], [G.provisioned, G.expiredStuck]],
      [['--expiring-within', '2w'], [G.provisioned, G.expiredStuck]],
      [['--expiring-within', '12h'], [G.expiredStuck]],
      [['--expiring-within', '365d'], [G.provisioned, G.disabled, G.expiredStuck]],
      [['--stuck'], [G.expiredStuck]],
      [['--state', 'invalid'], [G.schemaProblem, G.notAnObject]],
      [['--state', 'unregistered'], [G.corruptBundle]],
      [['--state', 'revoked'], [G.revoked]],
      [['--state', 'disabled', '--expiring-within', '30d'], []],
      [['--state', 'active', '--expiring-within', '30d', '--stuck'], [G.expiredStuck]],
    ])('filters: %j', async (args, expected) => {
      expect((await listJson(...args)).map((row) => row.eui)).toEqual(expected)
    })

    it('says so when no gateway matches, on stderr, with an empty stdout', async () => {
      // Only the end of stderr: the AWS SDK may put a warning about the Node version before it.
      const run = await cli('gateway', 'list', '--state', 'disabled', '--stuck')
      expect(run).toMatchObject({ status: 0, stdout: '' })
      expect(run.stderr).toMatch(/(^|\n)no gateway matches\n$/)
      const elsewhere = { env: { ...storage.env, STORAGE_PREFIX: 'nothing-here/' }, cwd: storage.dir }
      const empty = await runCliBinary(['gateway', 'list'], elsewhere)
      expect(empty).toMatchObject({ status: 0, stdout: '' })
      expect(empty.stderr).toMatch(/(^|\n)no gateway has anything stored under "nothing-here\/"\n$/)
      expect(await runCliBinary(['gateway', 'list', '--json'], elsewhere)).toMatchObject({ status: 0, stdout: '[]\n' })
    })

    it.each([
      [['--expiring-within', '30x'], /'--expiring-within <duration>' argument '30x' is invalid.*12h, 30d or 2w/],
      [['--expiring-within', '1.5d'], /12h, 30d or 2w/],
      [['--state', 'paused'], /'--state <state>' argument 'paused' is invalid. Allowed choices are active, disabled, revoked, unregistered, invalid/],
    ])('refuses bad options with a usage error (2): %j', async (args, message) => {
      const run = await cli('gateway', 'list', ...args)
      expect(run.status).toBe(2)
      expect(run.stderr).toMatch(message)
      expect(run.stdout).toBe('')
    })

    it('shows a gateway in full, in sections, with the token and the keys kept out', async () => {
      const run = await cli('gateway', 'show', '16:c001:ff10:a235')
      expect(run.status, run.stderr).toBe(0)
      const { stdout } = run
      expect(stdout).toMatch(new RegExp(`^gateway ${G.provisioned}\\n  state: +active\\n`))
      expect(stdout).toMatch(/^record \(gateway\.json\)\n {2}name: +roof-07\n/m)
      expect(stdout).toContain(`  tcCredentials: {"source":"token","bearer":"${BEARER_REDACTED}"}\n`)
      expect(stdout).toContain(`CUPS credentials (cups_cred.bin)\n  length:            ${cupsBundle.length} bytes\n  crc32:             ${crc32(cupsBundle)} (0x`)
      expect(stdout).toMatch(/ {2}station can parse: yes\n {2}held by station: +yes \(cupsCredCrc matches\)\n {2}trust: +CN=Gateway CA\n {2}trust expires: +\S+ \(in \d+ days\)\n/)
      expect(stdout).toMatch(new RegExp(`  certificate: +CN=${G.provisioned}\\n  serial: +${serial}\\n  issuer: +CN=Gateway CA\\n  not before: +\\S+\\n  not after: +\\S+ \\(in (9|10) days\\)\\n  key: +EC P-256 \\(SEC1; never printed\\)\\n`))
      expect(stdout).toMatch(/TC credentials \(tc_cred\.bin\)\n(.*\n)* {2}certificate: +none\n {2}key: +token \(values redacted; --show-token prints them when the bundle is usable\)\n {2}token: +Authorization: <redacted, \d+ bytes>\n/)
      expect(stdout).toContain(`Authorization: ${TOKEN_REDACTED}\n`)
      expect(stdout).toMatch(/^inventory \(inventory\.json\)\n(.*\n)* {2}package: +1\.0\.0\n(.*\n)* {2}converged: +yes\n/m)
      expect(stdout).toMatch(new RegExp(`^last authentication \\(last-auth\\.json\\)\\n  via: +certificate\\n  serial: +${serial}\\n`, 'm'))
      expectNoSecrets(run)
    })

    it('shows the same as JSON, the token redacted there too', async () => {
      const run = await cli('gateway', 'show', G.provisioned, '--json')
      expect(run.status, run.stderr).toBe(0)
      const detail = JSON.parse(run.stdout) as GatewayDetail
      expect(detail).toMatchObject({
        eui: G.provisioned,
        state: 'active',
        objects: ['cups_cred.bin', 'gateway.json', 'inventory.json', 'last-auth.json', 'tc_cred.bin'],
        record: { fields: { name: 'roof-07', tcCredentials: { source: 'token', bearer: BEARER_REDACTED } }, problems: [] },
        cupsCredentials: {
          length: cupsBundle.length,
          crc32: crc32(cupsBundle),
          usable: true,
          problem: null,
          heldByStation: true,
          trust: { subject: 'CN=Gateway CA' },
          certificate: { subject: `CN=${G.provisioned}`, issuer: 'CN=Gateway CA', serial },
          key: { kind: 'private-key', type: 'EC P-256', encoding: 'SEC1' },
        },
        tcCredentials: { crc32: crc32(tcBundle), usable: true, certificate: null, key: { kind: 'token', headers: [{ name: 'Authorization', value: TOKEN_REDACTED }], revealed: false } },
        inventory: { readable: true, converged: true, station: '2.0.6(linux/testsim) 2026-11-23 19:46:54' },
        lastAuthentication: { readable: true, via: 'certificate', serial },
      })
      expectNoSecrets(run)
    })

    it('prints the token with --show-token, and a private key never', async () => {
      for (const args of [['--show-token'], ['--show-token', '--json']]) {
        const run = await cli('gateway', 'show', G.provisioned, ...args)
        expect(run.status, run.stderr).toBe(0)
        expect(run.stdout).toContain(TOKEN_SECRET)
        expect(run.stdout).toContain(BEARER_SECRET)
        expectNoSecrets(run, [TOKEN_SECRET, BEARER_SECRET])
      }
    })

    it('says why a station could not parse a corrupt bundle', async () => {
      const run = await cli('gateway', 'show', G.corruptBundle)
      expect(run.status, run.stderr).toBe(0)
      expect(run.stdout).toMatch(/^record \(gateway\.json\): none/m)
      expect(run.stdout).toMatch(/ {2}station can parse: no: the station cannot parse this credential blob: ASN\.1 SEQ expected for trust \(0x2d\)\n/)
      const json = JSON.parse((await cli('gateway', 'show', G.corruptBundle, '--json')).stdout) as GatewayDetail
      expect(json).toMatchObject({ state: 'unregistered', record: null, cupsCredentials: { usable: false, trust: null, key: null }, tcCredentials: null, inventory: null })
    })

    it('names the problems of an invalid record', async () => {
      const schema = await cli('gateway', 'show', G.schemaProblem)
      expect(schema.stdout).toMatch(/ {2}state: +invalid\n/)
      expect(schema.stdout).toMatch(/ {2}cupsUri: +http:\/\/cups\.example\.com:80\n {2}problem: +cupsUri: must be https:\/\/host:port/)
      const notObject = JSON.parse((await cli('gateway', 'show', G.notAnObject, '--json')).stdout) as GatewayDetail
      expect(notObject).toMatchObject({ state: 'invalid', record: { fields: null, problems: ['gateway.json must be a JSON object, not null'] } })
    })

    it('exits 1 naming an EUI nothing is stored for, and refuses a bad EUI', async () => {
      for (const args of [[UNKNOWN], [UNKNOWN, '--json']]) {
        const run = await cli('gateway', 'show', ...args)
        expect(run).toMatchObject({ status: 1, stdout: '' })
        expect(run.stderr).toContain(`${UNKNOWN}: nothing is stored for this gateway`)
      }
      const bad = await cli('gateway', 'show', 'roof-07')
      expect(bad.status).toBe(1)
      expect(bad.stderr).toMatch(/"roof-07" is not a gateway EUI/)
      expect((await cli('gateway', 'show')).status).toBe(2)
    })
  })
}

const REPORTED: InventoryEntry['reported'] = { cupsUri: 'https://cups.example.com:443', tcUri: 'wss://lns.example.com:8887', cupsCredCrc: 0, tcCredCrc: 0, keys: [] }

function inventory(overrides: Partial<InventoryEntry>): InventoryEntry {
  return {
    version: 1,
    firstSeen: '2026-12-01T07:23:34.277Z',
    lastSeen: '2026-12-02T07:23:34.277Z',
    station: '2.0.6(linux/testsim) 2026-11-23 19:46:54',
    model: 'linux',
    package: '1.0.0',
    reported: REPORTED,
    desired: {},
    converged: false,
    ...overrides,
  }
}
