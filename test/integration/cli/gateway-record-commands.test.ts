// `gateway add|disable|enable|revoke|reset` through the built binary, on the filesystem store and radosgw.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storageKeys } from '../../../src/storage/storage-keys'
import { CLI_STORAGES, runCliBinary } from '../../support/cli-binary'
import type { CliRun, CliStorage } from '../../support/cli-binary'
import { postUpdateInfo } from '../../support/https-client'
import { decodeUpdateInfoResponse } from '../../support/station-decoder'
import { stationBody } from '../../support/station-request'
import { startTestServer } from '../../support/test-server'

const EUI = '0016c001ff10a235'
const KEYS = storageKeys('cups/', EUI)

for (const kind of CLI_STORAGES) {
  describe.skipIf(!kind.enabled)(`gateway record commands on ${kind.name}`, () => {
    let storage: CliStorage
    const cli = (...args: string[]): Promise<CliRun> => runCliBinary(args, { env: storage.env })
    const record = async (key = KEYS.settings): Promise<Record<string, unknown> | undefined> => {
      const stored = await storage.store.get(key)
      return stored === undefined ? undefined : (JSON.parse(stored.body.toString('utf8')) as Record<string, unknown>)
    }

    beforeAll(async () => {
      storage = await kind.create()
    })
    afterAll(() => storage.cleanup())

    it('add registers a gateway named in any EUI form, with name, labels and URIs', async () => {
      const run = await cli('gateway', 'add', '16:c001:ff10:a235', '--name', 'roof', '--label', 'site=berlin', '--label', 'floor=7', '--tc-uri', 'wss://lns.example.com:8887', '--json')
      expect(run.status).toBe(0)
      expect(JSON.parse(run.stdout)).toMatchObject({ eui: EUI, outcome: 'created', state: 'active' })
      expect(await record()).toEqual({ name: 'roof', labels: { site: 'berlin', floor: '7' }, tcUri: 'wss://lns.example.com:8887' })
      // One audit line on stderr, as JSON.
      expect(JSON.parse(run.stderr.split('\n').find((line) => line.startsWith('{')) ?? '{}')).toMatchObject({ audit: 'gateway-record-written', eui: EUI, outcome: 'created' })
    })

    it('add again changes only what it is given, and the same add twice writes nothing', async () => {
      const before = await storage.store.get(KEYS.settings)
      const same = await cli('gateway', 'add', EUI, '--name', 'roof')
      expect(same).toMatchObject({ status: 0, stdout: `unchanged ${EUI}: active (roof)\n` })
      expect((await storage.store.get(KEYS.settings))?.etag).toBe(before?.etag)
      const changed = await cli('gateway', 'add', EUI, '--cups-uri', 'https://cups.example.com:443', '--remove-label', 'floor')
      expect(changed.stdout).toBe(`updated ${EUI}: active (roof)\n`)
      expect(await record()).toEqual({ name: 'roof', labels: { site: 'berlin' }, tcUri: 'wss://lns.example.com:8887', cupsUri: 'https://cups.example.com:443' })
    })

    it('add refuses what the server could not honour, naming the EUI and the field, and writes nothing', async () => {
      const before = await storage.store.get(KEYS.settings)
      const http = await cli('gateway', 'add', EUI, '--cups-uri', 'http://cups.example.com:80')
      expect(http.status).toBe(1)
      expect(http.stderr).toMatch(/0016c001ff10a235: the record would not validate: cupsUri: must be https/)
      const label = await cli('gateway', 'add', EUI, '--label', 'no spaces allowed=x')
      expect(label.status).toBe(1)
      expect(label.stderr).toMatch(/labels/)
      const noValue = await cli('gateway', 'add', EUI, '--label', 'site')
      expect(noValue.stderr).toMatch(/--label "site": write it as key=value/)
      expect((await storage.store.get(KEYS.settings))?.etag).toBe(before?.etag)
    })

    it('add refuses to overwrite a gateway.json that is not a record', async () => {
      const other = storageKeys('cups/', '0016c001ff10a236').settings
      await storage.store.put(other, Buffer.from('{"name": broken'))
      const run = await cli('gateway', 'add', '0016c001ff10a236', '--name', 'x')
      expect(run.status).toBe(1)
      expect(run.stderr).toMatch(/0016c001ff10a236: gateway.json is not valid JSON/)
      expect((await storage.store.get(other))?.body.toString()).toBe('{"name": broken')
    })

    it('disable and enable flip the state and keep everything else; enable of an unknown gateway says how to add it', async () => {
      expect((await cli('gateway', 'disable', EUI)).stdout).toBe(`updated ${EUI}: disabled (roof)\n`)
      expect(await record()).toMatchObject({ state: 'disabled', name: 'roof' })
      expect((await cli('gateway', 'enable', EUI, '--json')).stdout).toMatch(/"outcome":"updated","state":"active"/)
      const unknown = await cli('gateway', 'enable', '0016c001ff10a2ff')
      expect(unknown.status).toBe(1)
      expect(unknown.stderr).toMatch(/0016c001ff10a2ff has no record: register it with `cups-server gateway add 0016c001ff10a2ff`/)
    })

    it('revoke deletes the credentials; enable then refuses and points at reset', async () => {
      await storage.store.put(KEYS.cupsCredentials, Buffer.from('cups bundle'))
      await storage.store.put(KEYS.tcCredentials, Buffer.from('tc bundle'))
      const revoked = await cli('gateway', 'revoke', EUI, '--reason', 'stolen')
      expect(revoked).toMatchObject({ status: 0, stdout: `revoked ${EUI}: deleted ${KEYS.cupsCredentials}, ${KEYS.tcCredentials}\n` })
      expect(await record()).toMatchObject({ state: 'revoked', revokedReason: 'stolen', name: 'roof' })
      expect(await storage.store.get(KEYS.cupsCredentials)).toBeUndefined()
      const enable = await cli('gateway', 'enable', EUI)
      expect(enable.status).toBe(1)
      expect(enable.stderr).toMatch(/is revoked: its credentials are gone; `cups-server gateway reset 0016c001ff10a235` lets it start over/)
      expect((await cli('gateway', 'disable', EUI)).status).toBe(1)
    })

    it('reset: active again with one anonymous bootstrap, old credentials gone, the record kept', async () => {
      await storage.store.put(KEYS.cupsCredentials, Buffer.from('a bundle written meanwhile'))
      const run = await cli('gateway', 'reset', EUI, '--json')
      expect(run.status).toBe(0)
      expect(JSON.parse(run.stdout)).toMatchObject({ eui: EUI, state: 'active', bootstrap: 'once', deleted: [KEYS.cupsCredentials] })
      const fields = await record()
      expect(fields).toMatchObject({ state: 'active', bootstrap: 'once', name: 'roof' })
      expect(fields).not.toHaveProperty('revokedAt')
      expect(await storage.store.get(KEYS.cupsCredentials)).toBeUndefined()
    })

    it('usage errors exit 2; a bad EUI exits 1 naming it', async () => {
      expect((await cli('gateway', 'add')).status).toBe(2)
      expect((await cli('gateway', 'frobnicate', EUI)).status).toBe(2)
      const bad = await cli('gateway', 'disable', 'not-an-eui')
      expect(bad.status).toBe(1)
      expect(bad.stderr).toMatch(/"not-an-eui" is not a gateway EUI/)
    })
  })
}

describe('gateway reset against a running server with BOOTSTRAP_POLICY=off', () => {
  it('exactly one anonymous first contact gets the new identity; the flag is gone after it', async () => {
    const kind = CLI_STORAGES[0]
    if (kind === undefined) throw new Error('no storage')
    const storage = await kind.create()
    const env = { ...storage.env, TC_URI: 'wss://localhost:8887', BOOTSTRAP_POLICY: 'off' }
    const server = await startTestServer(env)
    try {
      const post = () => postUpdateInfo(server.port, stationBody({ router: EUI }), { ca: server.caPem })
      expect((await runCliBinary(['gateway', 'add', EUI], { env })).status).toBe(0)
      // Policy off: nobody gets in without proof.
      expect((await post()).status).toBe(403)
      expect((await runCliBinary(['gateway', 'reset', EUI], { env })).status).toBe(0)
      const first = await post()
      expect(first.status).toBe(200)
      expect(decodeUpdateInfoResponse(first.body).cupsCredentials).toBeDefined()
      // Provisioned now: a second anonymous caller is refused.
      expect((await post()).status).toBe(403)
      const stored = JSON.parse((await storage.store.get(KEYS.settings))?.body.toString('utf8') ?? '{}') as Record<string, unknown>
      expect(stored).not.toHaveProperty('bootstrap')
      expect(server.logLines.join('')).toMatch(/"audit":"reset-bootstrap-used"/)
      // Deleting the bundles again does not open another anonymous bootstrap.
      await storage.store.delete(KEYS.cupsCredentials)
      await storage.store.delete(KEYS.tcCredentials)
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect((await post()).status).toBe(403)
    } finally {
      await server.stop()
      await storage.cleanup()
    }
  })
})
