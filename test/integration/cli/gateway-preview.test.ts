// `cups-server gateway preview` through the built binary: what it says the next answer is, the server then sends.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crc32 } from '../../../src/cups/crc32'
import { storageKeys } from '../../../src/storage/storage-keys'
import { CLI_STORAGES, runCliBinary } from '../../support/cli-binary'
import { readFixture } from '../../support/fixtures'
import type { CliStorage } from '../../support/cli-binary'
import { postUpdateInfo } from '../../support/https-client'
import { decodeUpdateInfoResponse, splitBlobLikeStation } from '../../support/station-decoder'
import type { DecodedUpdateInfoResponse } from '../../support/station-decoder'
import { stationRequest } from '../../support/station-request'
import type { StationRequest } from '../../support/station-request'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'

const EUI = '0016c001ff10a235'
const SEGMENT_NAMES = ['cupsUri', 'tcUri', 'cupsCredentials', 'tcCredentials'] as const

interface PreviewJson {
  readonly outcome: 'answer' | 'refused' | 'no-change'
  readonly status: number
  readonly reason?: string
  readonly proof?: string
  readonly sends?: readonly string[]
  readonly segments?: Record<string, { send: boolean; reason: string }>
  readonly actions?: readonly string[]
  readonly caller: string
  readonly request: { source: string }
}

/** A station's identity out of the CUPS bundle it was sent, as TLS options. */
function identityOf(bundle: Buffer): { cert: string; key: string } {
  const files = splitBlobLikeStation(bundle)
  return {
    cert: new X509Certificate(files.certificate).toString(),
    key: createPrivateKey({ key: files.key, format: 'der', type: 'sec1' }).export({ format: 'pem', type: 'sec1' }).toString(),
  }
}

function sentSegments(decoded: DecodedUpdateInfoResponse): string[] {
  return SEGMENT_NAMES.filter((name) => decoded[name] !== undefined)
}

for (const kind of CLI_STORAGES) {
  describe.skipIf(!kind.enabled)(`gateway preview on ${kind.name}`, () => {
    let storage: CliStorage
    let server: TestServer
    let env: Record<string, string>
    const keys = storageKeys('cups/', EUI)

    beforeAll(async () => {
      storage = await kind.create()
      // CACHE_TTL_SECONDS=0: the server sees the firmware the CLI publishes below at once.
      env = { ...storage.env, CUPS_URI: 'https://localhost:7443', TC_URI: 'wss://localhost:8887', BOOTSTRAP_POLICY: 'registered', CACHE_TTL_SECONDS: '0' }
      server = await startTestServer(env)
    })
    afterAll(async () => {
      await server.stop()
      await storage.cleanup()
    })

    const preview = async (args: readonly string[]): Promise<PreviewJson> => {
      const run = await runCliBinary(['gateway', 'preview', EUI, '--json', ...args], { env })
      // (On Node 20 the AWS SDK warns on stderr that it will need Node 22: that is all stderr may hold.)
      expect(run.stderr).not.toMatch(/cups-server|error/i)
      expect(run.status).toBe(0)
      return JSON.parse(run.stdout) as PreviewJson
    }
    const requestFile = async (name: string, request: StationRequest): Promise<string> => {
      const file = path.join(storage.dir, name)
      await writeFile(file, JSON.stringify(request))
      return file
    }
    const post = (request: StationRequest, identity?: { cert: string; key: string }) =>
      postUpdateInfo(server.port, JSON.stringify(request), { ca: server.caPem, ...identity })

    it('an unregistered gateway: the preview says 404 and why, and so does the server', async () => {
      const first = stationRequest({ router: EUI })
      const result = await preview(['--request', await requestFile('first.json', first)])
      expect(result).toMatchObject({ outcome: 'refused', status: 404, caller: expect.stringMatching(/presents nothing/) as string })
      expect((await post(first)).status).toBe(404)
    })

    let delivered: DecodedUpdateInfoResponse
    it('a first contact: the preview names every segment and the mints; the server sends exactly those', async () => {
      expect((await runCliBinary(['gateway', 'add', EUI, '--name', 'roof'], { env })).status).toBe(0)
      const first = stationRequest({ router: EUI })
      const result = await preview(['--request', await requestFile('first.json', first)])
      expect(result).toMatchObject({ outcome: 'answer', status: 200, proof: 'bootstrap' })
      expect(result.sends).toEqual(['cupsUri', 'tcUri', 'cupsCredentials', 'tcCredentials'])
      expect(result.segments?.cupsCredentials?.reason).toMatch(/none is stored: a first identity is minted/)
      expect(result.actions).toEqual(expect.arrayContaining([expect.stringMatching(/^mint the cups bundle/), expect.stringMatching(/^mint the tc bundle/)]))
      // It minted and wrote nothing.
      expect(await storage.store.get(keys.cupsCredentials)).toBeUndefined()
      expect(await storage.store.get(keys.tcCredentials)).toBeUndefined()

      const answer = await post(first)
      expect(answer.status).toBe(200)
      delivered = decodeUpdateInfoResponse(answer.body)
      expect(sentSegments(delivered)).toEqual(result.sends)
      expect(delivered.cupsUri).toBe('https://localhost:7443')
      expect(delivered.tcUri).toBe('wss://localhost:8887')
    })

    it('from what the gateway last reported: the same request again with its new certificate gets what the preview says', async () => {
      await server.settle()
      const identity = identityOf(delivered.cupsCredentials ?? Buffer.alloc(0))
      const result = await preview([])
      expect(result.request.source).toMatch(/what it last reported/)
      expect(result.caller).toMatch(/certificate in its CUPS bundle/)
      expect(result).toMatchObject({ outcome: 'answer', proof: 'certificate' })
      // It still reports the factory state, so everything it was sent goes again.
      const answer = await post(stationRequest({ router: EUI }), identity)
      expect(sentSegments(decodeUpdateInfoResponse(answer.body))).toEqual(result.sends)
    })

    it('a converged gateway: "no change" in the preview and from the server', async () => {
      const identity = identityOf(delivered.cupsCredentials ?? Buffer.alloc(0))
      const converged = stationRequest({
        router: EUI,
        cupsUri: 'https://localhost:7443',
        tcUri: 'wss://localhost:8887',
        cupsCredCrc: crc32(delivered.cupsCredentials ?? Buffer.alloc(0)),
        tcCredCrc: crc32(delivered.tcCredentials ?? Buffer.alloc(0)),
      })
      const result = await preview(['--request', await requestFile('converged.json', converged)])
      expect(result.sends).toEqual([])
      expect(result.segments?.cupsCredentials?.reason).toMatch(/holds it already/)
      const answer = await post(converged, identity)
      expect(answer.status).toBe(200)
      expect(sentSegments(decodeUpdateInfoResponse(answer.body))).toEqual([])
    })

    it('a firmware rollout: the preview names the update and the key it is signed for; the server sends exactly that', async () => {
      const identity = identityOf(delivered.cupsCredentials ?? Buffer.alloc(0))
      const keyFile = path.join(storage.dir, 'fw-sig.private.pem')
      await writeFile(keyFile, readFixture('fw-sig.private.pem'))
      const updateFile = path.join(storage.dir, 'update.sh')
      await writeFile(updateFile, '#!/bin/sh\necho 1.0.1 > version.txt\nrm -f /tmp/update.bin\n')
      const published = await runCliBinary(['firmware', 'publish', updateFile, '--version', '1.0.1', '--from', '1.0.0', '--sign', keyFile], { env })
      expect(published.status).toBe(0)
      const id = published.stdout.trim().split('\n').at(-1) ?? ''
      expect((await runCliBinary(['firmware', 'rollout', id], { env })).status).toBe(0)
      const withKey = stationRequest({
        router: EUI,
        cupsUri: 'https://localhost:7443',
        tcUri: 'wss://localhost:8887',
        cupsCredCrc: crc32(delivered.cupsCredentials ?? Buffer.alloc(0)),
        tcCredCrc: crc32(delivered.tcCredentials ?? Buffer.alloc(0)),
        keys: [3420020549],
      })
      const result = (await preview(['--request', await requestFile('with-key.json', withKey)])) as PreviewJson & { firmware: { send: boolean; firmware: string; keyCrc: number } }
      expect(result.firmware).toMatchObject({ send: true, firmware: id, keyCrc: 3420020549 })
      const answer = await post(withKey, identity)
      const decoded = decodeUpdateInfoResponse(answer.body)
      expect(decoded.signature?.keyCrc).toBe(3420020549)
      expect(decoded.update?.toString()).toContain('echo 1.0.1 > version.txt')
      // Without a key the station could not check it: the preview says so, and nothing goes.
      const keyless = (await preview(['--request', await requestFile('keyless.json', { ...withKey, keys: [] })])) as PreviewJson & { firmware: { send: boolean; reason: string } }
      expect(keyless.firmware).toMatchObject({ send: false })
      expect(keyless.firmware.reason).toMatch(/no signing keys/)
      expect((await runCliBinary(['firmware', 'halt', id], { env })).status).toBe(0)
    })

    it('an anonymous caller once it is provisioned: 403 with the reason, in the preview and from the server', async () => {
      const first = stationRequest({ router: EUI })
      const result = await preview(['--request', await requestFile('first.json', first), '--anonymous'])
      expect(result).toMatchObject({ outcome: 'refused', status: 403, reason: expect.stringMatching(/is provisioned; it must present its credentials/) as string })
      expect((await post(first)).status).toBe(403)
    })

    it('a disabled gateway: 403 "disabled" both ways; nothing of its record or bundles changes by previewing', async () => {
      expect((await runCliBinary(['gateway', 'disable', EUI], { env })).status).toBe(0)
      const before = await storage.store.list('cups/')
      const identity = identityOf(delivered.cupsCredentials ?? Buffer.alloc(0))
      const result = await preview([])
      expect(result).toMatchObject({ outcome: 'refused', status: 403, reason: `gateway ${EUI} is disabled` })
      expect(await storage.store.list('cups/')).toEqual(before)
      // The server's read cache may still hold "active" for CACHE_TTL_SECONDS; its fresh read refuses keys.
      const answer = await post(stationRequest({ router: EUI }), identity)
      expect(answer.status).toBe(403)
      expect((await runCliBinary(['gateway', 'enable', EUI], { env })).status).toBe(0)
    })

    it('human output: a status line and one row per segment with the reason', async () => {
      const run = await runCliBinary(['gateway', 'preview', EUI], { env })
      expect(run.status).toBe(0)
      expect(run.stdout).toMatch(/^next answer to 0016c001ff10a235\n/)
      expect(run.stdout).toMatch(/status: {2}200/)
      expect(run.stdout).toMatch(/\ncupsCredentials +(yes|no) +/)
      // Never a key: the bundle is described by CRCs, nothing else.
      expect(run.stdout).not.toMatch(/PRIVATE KEY/)
    })

    it('a bad --request file names the field; a request for another router is refused', async () => {
      const bad = path.join(storage.dir, 'bad.json')
      await writeFile(bad, JSON.stringify({ router: EUI, cupsCredCrc: 'x' }))
      const badRun = await runCliBinary(['gateway', 'preview', EUI, '--request', bad], { env })
      expect(badRun.status).toBe(1)
      expect(badRun.stderr).toMatch(/cupsCredCrc/)
      const other = await requestFile('other.json', stationRequest({ router: '0016c001ff10a236' }))
      const otherRun = await runCliBinary(['gateway', 'preview', EUI, '--request', other], { env })
      expect(otherRun.status).toBe(1)
      expect(otherRun.stderr).toMatch(/is from router 0016c001ff10a236, not 0016c001ff10a235/)
    })
  })
}
