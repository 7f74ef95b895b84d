// `cups-server firmware ...` on the filesystem store: publish and sign the captured update, export its key, roll it out, count it.
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXIT, runCli } from '../../../src/cli/run-cli'
import { firmwareKeys } from '../../../src/firmware/firmware-catalogue'
import { firmwareIdOf, parseManifest, parseRollout, sha256Of } from '../../../src/firmware/firmware-manifest'
import type { FirmwareManifest, Rollout } from '../../../src/firmware/firmware-manifest'
import type { FirmwareStatus } from '../../../src/firmware/firmware-status'
import type { FirmwareDeliveryRecord } from '../../../src/firmware/select-firmware'
import type { InventoryEntry } from '../../../src/gateways/inventory'
import { FsBlobStore } from '../../../src/storage/fs-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'
import { runCliBinary } from '../../support/cli-binary'
import { fixturesDir, readFixture } from '../../support/fixtures'

// The captured response the station verified: sigLen (u32 LE at 6) = 4-byte key CRC + DER signature, then updLen and the update.
const RESPONSE = readFixture('response-signed-update.bin')
const SIG_LEN = RESPONSE.readUInt32LE(6)
const FIXTURE_KEY_CRC = RESPONSE.readUInt32LE(10)
const FIXTURE_DER = RESPONSE.subarray(14, 10 + SIG_LEN)
const UPDATE = RESPONSE.subarray(14 + SIG_LEN)
const STATION_KEY = readFixture('sig-0.key')
const PRIVATE_PEM = path.join(fixturesDir(), 'fw-sig.private.pem')
const SIG_0_KEY = path.join(fixturesDir(), 'sig-0.key')
const EUI = '0016c001ff10a235'

interface Run {
  readonly status: number
  readonly stdout: string
  readonly stderr: string
}

/** A temp DATA_DIR, the CLI run in-process on it (with a clock the test sets), and the store to check with. */
async function workspace(): Promise<{ dir: string; store: FsBlobStore; env: Record<string, string>; clock: { now: Date }; cli: (...args: string[]) => Promise<Run> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cups-firmware-cli-'))
  const env = { DATA_DIR: path.join(dir, 'data'), CERT_PATH: path.join(dir, 'certs') }
  const clock = { now: new Date('2026-12-02T12:00:00.000Z') }
  const cli = async (...args: string[]): Promise<Run> => {
    let stdout = ''
    let stderr = ''
    const status = await runCli(args, {
      env,
      cwd: dir,
      now: () => clock.now,
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
    })
    return { status, stdout, stderr }
  }
  return { dir, store: new FsBlobStore(env.DATA_DIR), env, clock, cli }
}

const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1) ?? ''

function auditLines(run: Run): Record<string, unknown>[] {
  return run.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

async function writeKey(dir: string, name: string, type: 'p256' | 'ed25519' | 'rsa'): Promise<string> {
  const { privateKey } =
    type === 'p256'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : type === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const file = path.join(dir, name)
  await writeFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }))
  return file
}

describe('cups-server firmware publish, sign and export-key', () => {
  let ws: Awaited<ReturnType<typeof workspace>>
  let updateFile: string
  const signedId = firmwareIdOf('1.0.1', sha256Of(UPDATE))
  const manifestOf = async (id: string): Promise<{ manifest: FirmwareManifest; etag: string } | undefined> => {
    const stored = await ws.store.get(firmwareKeys('cups/', id).manifest)
    return stored === undefined ? undefined : { manifest: parseManifest(stored.body), etag: stored.etag }
  }

  beforeAll(async () => {
    ws = await workspace()
    updateFile = path.join(ws.dir, 'update.bin')
    await writeFile(updateFile, UPDATE)
  })
  afterAll(() => rm(ws.dir, { recursive: true, force: true }))

  it('the fixture is what the brief says: a 76-byte signature segment for key CRC 3420020549, then a 73-byte script', () => {
    expect(SIG_LEN).toBe(76)
    expect(FIXTURE_KEY_CRC).toBe(3420020549)
    expect(RESPONSE.readUInt32LE(10 + SIG_LEN)).toBe(73)
    expect(UPDATE.length).toBe(73)
    expect(UPDATE.subarray(0, 9).toString()).toBe('#!/bin/sh')
  })

  it('publish --sign stores update and manifest, signed for the key CRC the station reports, and prints the id last', async () => {
    const run = await ws.cli('firmware', 'publish', 'update.bin', '--version', '1.0.1', '--from', '1.0.0,0.9.9', '--from', '0.9.8', '--sign', PRIVATE_PEM)
    expect(run.status).toBe(EXIT.ok)
    expect(lastLine(run.stdout)).toBe(signedId)
    expect(run.stdout).toMatch(/: published\n/)
    expect(run.stdout).toMatch(/key CRC 3420020549/)
    expect(run.stdout).toContain(sha256Of(UPDATE))
    const stored = await manifestOf(signedId)
    expect(stored?.manifest).toMatchObject({ id: signedId, version: '1.0.1', from: ['1.0.0', '0.9.9', '0.9.8'], size: 73, sha256: sha256Of(UPDATE) })
    const [signature] = stored?.manifest.signatures ?? []
    expect(signature).toMatchObject({ keyCrc: 3420020549, stationKey: STATION_KEY.toString('base64') })
    // ECDSA is randomised: not the fixture's bytes, but one the station's key verifies.
    const stationPublic = createPublicKey({ key: Buffer.concat([Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), Buffer.from([4]), STATION_KEY]), format: 'der', type: 'spki' })
    expect(verify('sha512', UPDATE, { key: stationPublic, dsaEncoding: 'der' }, Buffer.from(signature?.signature ?? '', 'base64'))).toBe(true)
    const opened = await ws.store.openRead(firmwareKeys('cups/', signedId).update)
    opened?.stream.destroy()
    expect(opened?.length).toBe(73)
    expect(auditLines(run)).toEqual([expect.objectContaining({ audit: 'firmware-published', id: signedId, added: [3420020549] })])
  })

  it('publishing again (the built binary, as a script would) finds the same entry and writes nothing', async () => {
    const before = await manifestOf(signedId)
    const run = await runCliBinary(['firmware', 'publish', 'update.bin', '--version', '1.0.1', '--from', '1.0.0,0.9.9,0.9.8', '--sign', PRIVATE_PEM], { env: ws.env, cwd: ws.dir })
    expect(run.status).toBe(EXIT.ok)
    expect(lastLine(run.stdout)).toBe(signedId)
    expect(run.stdout).toMatch(/already published; 0 signatures added/)
    expect(run.stderr).toBe('')
    expect((await manifestOf(signedId))?.etag).toBe(before?.etag)
  })

  it('a re-publish asking for other targeting says the stored entry keeps its own', async () => {
    const run = await ws.cli('firmware', 'publish', 'update.bin', '--version', '1.0.1', '--from', '1.0.0')
    expect(run.status).toBe(EXIT.ok)
    expect(run.stderr).toMatch(/warning: --from differs from the published entry, which keeps 0\.9\.8, 0\.9\.9, 1\.0\.0/)
    expect((await manifestOf(signedId))?.manifest.from).toEqual(['1.0.0', '0.9.9', '0.9.8'])
  })

  it('sign --key with a second P-256 key adds a second signature; signing again with it adds none', async () => {
    const second = await writeKey(ws.dir, 'second.pem', 'p256')
    const run = await ws.cli('firmware', 'sign', signedId, '--key', second)
    expect(run.status).toBe(EXIT.ok)
    const signatures = (await manifestOf(signedId))?.manifest.signatures ?? []
    expect(signatures).toHaveLength(2)
    expect(signatures[0]?.keyCrc).toBe(3420020549)
    expect(run.stdout).toBe(`${signedId}: 1 signature added; signed for key CRCs 3420020549, ${String(signatures[1]?.keyCrc)}\n`)
    expect(auditLines(run)).toEqual([expect.objectContaining({ audit: 'firmware-signed', id: signedId, added: [signatures[1]?.keyCrc] })])
    const again = await ws.cli('firmware', 'sign', signedId, '--key', second)
    expect(again.stdout).toMatch(/: 0 signatures added/)
  })

  it('an unsigned publish says who will not get it; sign --signature with sig-0.key stores exactly the fixture DER', async () => {
    const published = await ws.cli('firmware', 'publish', 'update.bin', '--version', '1.0.2', '--from', '1.0.0')
    expect(published.status).toBe(EXIT.ok)
    const id = lastLine(published.stdout)
    expect(id).toBe(firmwareIdOf('1.0.2', sha256Of(UPDATE)))
    expect(published.stderr).toMatch(/note: .* is unsigned: gateways that report signing keys will not get it until it is signed/)
    expect((await manifestOf(id))?.manifest.signatures).toEqual([])

    await writeFile(path.join(ws.dir, 'fixture.der'), FIXTURE_DER)
    const run = await ws.cli('firmware', 'sign', id, '--signature', 'fixture.der', '--public-key', SIG_0_KEY)
    expect(run.status).toBe(EXIT.ok)
    expect(run.stdout).toBe(`${id}: 1 signature added; signed for key CRCs 3420020549\n`)
    const [signature] = (await manifestOf(id))?.manifest.signatures ?? []
    expect(Buffer.from(signature?.signature ?? '', 'base64').equals(FIXTURE_DER)).toBe(true)
    // keyCrc (LE) ‖ DER: the captured response's signature segment, byte for byte.
    const segment = Buffer.alloc(4)
    segment.writeUInt32LE(signature?.keyCrc ?? 0)
    expect(Buffer.concat([segment, FIXTURE_DER]).equals(RESPONSE.subarray(10, 10 + SIG_LEN))).toBe(true)
  })

  it('a signature that does not verify is refused (1) and nothing is written; a file that is no DER signature is a usage error (2)', async () => {
    const id = lastLine((await ws.cli('firmware', 'publish', 'update.bin', '--version', '1.0.3', '--from', '1.0.0')).stdout)
    const before = await manifestOf(id)
    const tampered = Buffer.from(FIXTURE_DER)
    tampered[tampered.length - 1] = (tampered.at(-1) ?? 0) ^ 0x01
    await writeFile(path.join(ws.dir, 'tampered.der'), tampered)
    const bad = await ws.cli('firmware', 'sign', id, '--signature', 'tampered.der', '--public-key', SIG_0_KEY)
    expect(bad.status).toBe(EXIT.failed)
    expect(bad.stderr).toMatch(/tampered\.der does not verify against the update of .* with the key in .*sig-0\.key; nothing was written/)
    // The right signature with another key's public half.
    const otherPublic = path.join(ws.dir, 'other.pub.pem')
    await writeFile(otherPublic, createPublicKey(await readFile(path.join(ws.dir, 'second.pem'))).export({ format: 'pem', type: 'spki' }))
    expect((await ws.cli('firmware', 'sign', id, '--signature', 'fixture.der', '--public-key', otherPublic)).status).toBe(EXIT.failed)
    expect((await manifestOf(id))?.etag).toBe(before?.etag)

    await writeFile(path.join(ws.dir, 'base64.der'), FIXTURE_DER.toString('base64'))
    const notDer = await ws.cli('firmware', 'sign', id, '--signature', 'base64.der', '--public-key', SIG_0_KEY)
    expect(notDer.status).toBe(EXIT.usage)
    expect(notDer.stderr).toMatch(/base64\.der is not a DER ECDSA signature/)
    expect((await ws.cli('firmware', 'sign', id, '--signature', 'fixture.der')).status).toBe(EXIT.usage)
    expect((await ws.cli('firmware', 'sign', id)).status).toBe(EXIT.usage)

    // A public key in PEM works as well as the station's file.
    const publicPem = path.join(ws.dir, 'fw-sig.pub.pem')
    await writeFile(publicPem, createPublicKey(await readFile(PRIVATE_PEM)).export({ format: 'pem', type: 'spki' }))
    const good = await ws.cli('firmware', 'sign', id, '--signature', 'fixture.der', '--public-key', publicPem)
    expect(good.status).toBe(EXIT.ok)
    expect((await manifestOf(id))?.manifest.signatures.map((signature) => signature.keyCrc)).toEqual([3420020549])
  })

  it('sign of an unknown firmware exits 1 naming it', async () => {
    const run = await ws.cli('firmware', 'sign', 'nothing-000000000000', '--key', PRIVATE_PEM)
    expect(run).toMatchObject({ status: EXIT.failed, stderr: 'cups-server: firmware nothing-000000000000 is not in the catalogue\n' })
  })

  it('export-key writes sig-0.key byte for byte and prints its CRC; an existing other key stays unless --force', async () => {
    const run = await ws.cli('firmware', 'export-key', PRIVATE_PEM, 'station/sig-0.key')
    const target = path.join(ws.dir, 'station', 'sig-0.key')
    expect(run).toMatchObject({ status: EXIT.ok, stdout: `${target}: written; key CRC 3420020549 (what the station reports in \`keys\`)\n`, stderr: '' })
    expect((await readFile(target)).equals(STATION_KEY)).toBe(true)
    expect((await ws.cli('firmware', 'export-key', PRIVATE_PEM, 'station/sig-0.key')).stdout).toMatch(/: unchanged; key CRC 3420020549/)

    const second = path.join(ws.dir, 'second.pem')
    const refused = await ws.cli('firmware', 'export-key', second, 'station/sig-0.key')
    expect(refused.status).toBe(EXIT.failed)
    expect(refused.stderr).toMatch(/exists with different content; --force replaces it/)
    expect((await readFile(target)).equals(STATION_KEY)).toBe(true)
    const forced = await ws.cli('firmware', 'export-key', second, 'station/sig-0.key', '--force', '--json')
    expect(JSON.parse(forced.stdout)).toMatchObject({ path: target, outcome: 'replaced' })
    expect((await readFile(target)).length).toBe(64)
  })

  it('keys the station cannot verify with (Ed25519, RSA) are refused with 2, naming the file, before anything is stored', async () => {
    const ed = await writeKey(ws.dir, 'ed25519.pem', 'ed25519')
    const rsa = await writeKey(ws.dir, 'rsa.pem', 'rsa')
    for (const key of [ed, rsa]) {
      const run = await ws.cli('firmware', 'publish', 'update.bin', '--version', '9.9.9', '--from', '1.0.0', '--sign', key)
      expect(run.status).toBe(EXIT.usage)
      expect(run.stderr).toContain(`cups-server: ${key}: the station verifies P-256 (prime256v1) keys only`)
      expect((await ws.cli('firmware', 'export-key', key, 'sig-9.key')).status).toBe(EXIT.usage)
      expect((await ws.cli('firmware', 'sign', signedId, '--key', key)).status).toBe(EXIT.usage)
    }
    expect(await manifestOf(firmwareIdOf('9.9.9', sha256Of(UPDATE)))).toBeUndefined()
    const missing = await ws.cli('firmware', 'publish', 'update.bin', '--version', '9.9.9', '--from', '1.0.0', '--sign', 'no-such.pem')
    expect(missing).toMatchObject({ status: EXIT.usage, stderr: expect.stringMatching(/cannot read no-such\.pem/) as unknown })
  })

  it('an empty update, a missing --from and a bad version are usage errors', async () => {
    await writeFile(path.join(ws.dir, 'empty.bin'), '')
    const empty = await ws.cli('firmware', 'publish', 'empty.bin', '--version', '1.0.4', '--from', '1.0.0')
    expect(empty).toMatchObject({ status: EXIT.usage, stderr: expect.stringMatching(/empty\.bin is empty/) as unknown })
    expect((await ws.cli('firmware', 'publish', 'update.bin', '--version', '1.0.4')).status).toBe(EXIT.usage)
    expect((await ws.cli('firmware', 'publish', 'update.bin', '--version', 'has space', '--from', '1.0.0')).status).toBe(EXIT.usage)
  })
})

describe('cups-server firmware rollout, halt and status', () => {
  let ws: Awaited<ReturnType<typeof workspace>>
  let id: string
  const rolloutOf = async (): Promise<Rollout | undefined> => {
    const stored = await ws.store.get(firmwareKeys('cups/', id).rollout)
    return stored === undefined ? undefined : parseRollout(stored.body)
  }

  beforeAll(async () => {
    ws = await workspace()
    await writeFile(path.join(ws.dir, 'update.bin'), UPDATE)
    id = lastLine((await ws.cli('firmware', 'publish', 'update.bin', '--version', '1.0.1', '--from', '1.0.0', '--sign', PRIVATE_PEM)).stdout)
  })
  afterAll(() => rm(ws.dir, { recursive: true, force: true }))

  it('rollout creates the document; halt stops it; rollout again restarts it with failures reset and createdAt kept', async () => {
    const t1 = new Date('2026-12-02T12:00:00.000Z')
    ws.clock.now = t1
    const created = await ws.cli('firmware', 'rollout', id, '--percent', '25', '--eui', '16:c001:ff10:a235', '--labels', 'site=berlin,floor=7', '--from', '1.0.0', '--not-before', '2026-12-03T07:00:00+01:00')
    expect(created.status).toBe(EXIT.ok)
    const first: Rollout = {
      format: 1,
      firmware: id,
      state: 'active',
      percent: 25,
      notBefore: '2026-12-03T06:00:00.000Z',
      from: ['1.0.0'],
      labels: { site: 'berlin', floor: '7' },
      euis: [EUI],
      maxConcurrentDownloads: 20,
      allowUnsigned: false,
      allowDowngrade: false,
      maxDeliveries: 2,
      haltAfterFailures: 5,
      failures: 0,
      createdAt: t1.toISOString(),
      updatedAt: t1.toISOString(),
    }
    expect(await rolloutOf()).toEqual(first)
    expect(created.stdout).toMatch(/^rollout of .*:\n {2}state {8}active\n {2}percent {6}25 % of the selected gateways\n/)
    expect(auditLines(created)).toEqual([expect.objectContaining({ audit: 'firmware-rollout-changed', id, state: 'active', percent: 25 })])

    // A running rollout that counted failures keeps them through a change.
    await ws.store.put(firmwareKeys('cups/', id).rollout, Buffer.from(JSON.stringify({ ...first, failures: 2 })))
    const t2 = new Date('2026-12-02T13:00:00.000Z')
    ws.clock.now = t2
    expect((await ws.cli('firmware', 'rollout', id, '--percent', '50', '--max-deliveries', '3')).status).toBe(EXIT.ok)
    const changed = await rolloutOf()
    expect(changed).toEqual({ ...first, percent: 50, notBefore: undefined, from: undefined, labels: undefined, euis: undefined, maxDeliveries: 3, failures: 2, updatedAt: t2.toISOString() })

    const t3 = new Date('2026-12-02T14:00:00.000Z')
    ws.clock.now = t3
    const halted = await ws.cli('firmware', 'halt', id, '--reason', 'boot loop on gw-7')
    expect(halted).toMatchObject({ status: EXIT.ok, stdout: `rollout of ${id} halted (since ${t3.toISOString()}: boot loop on gw-7)\n` })
    expect(await rolloutOf()).toEqual({ ...changed, state: 'halted', haltedAt: t3.toISOString(), haltedReason: 'boot loop on gw-7', updatedAt: t3.toISOString() })
    const twice = await ws.cli('firmware', 'halt', id)
    expect(twice).toMatchObject({ status: EXIT.ok, stdout: expect.stringMatching(/was halted already .*; nothing changed/) as unknown })
    expect((await rolloutOf())?.haltedReason).toBe('boot loop on gw-7')

    const t4 = new Date('2026-12-02T15:00:00.000Z')
    ws.clock.now = t4
    expect((await ws.cli('firmware', 'rollout', id, '--percent', '50', '--max-deliveries', '3')).status).toBe(EXIT.ok)
    const restarted = await rolloutOf()
    expect(restarted).toEqual({ ...changed, failures: 0, updatedAt: t4.toISOString() })
    expect(restarted).not.toHaveProperty('haltedAt')
  })

  it('defaults: 100 % without --eui, 0 % (only those) with it; halting with no rollout or an unknown firmware exits 1', async () => {
    const other = lastLine((await ws.cli('firmware', 'publish', 'update.bin', '--version', '1.0.2', '--from', '1.0.0')).stdout)
    const halt = await ws.cli('firmware', 'halt', other)
    expect(halt).toMatchObject({ status: EXIT.failed, stderr: `cups-server: firmware ${other} has no rollout to halt\n` })
    const unsigned = await ws.cli('firmware', 'rollout', other, '--eui', '00-16-c0-01-ff-10-a2-36', '--eui', EUI, '--json')
    expect(JSON.parse(unsigned.stdout)).toMatchObject({ percent: 0, euis: ['0016c001ff10a236', EUI] })
    expect(unsigned.stderr).toMatch(/warning: .* has no signatures: gateways with signing keys get nothing until it is signed/)
    const everyone = await ws.cli('firmware', 'rollout', other, '--allow-unsigned', '--channel', 'beta', '--json')
    expect(JSON.parse(everyone.stdout)).toMatchObject({ percent: 100, allowUnsigned: true, channel: 'beta' })
    expect(JSON.parse(everyone.stdout)).not.toHaveProperty('euis')
    // Out of the way of the status test below: a halted rollout selects nobody.
    expect((await ws.cli('firmware', 'halt', other)).status).toBe(EXIT.ok)

    const unknown = await ws.cli('firmware', 'rollout', 'nothing-000000000000')
    expect(unknown).toMatchObject({ status: EXIT.failed, stderr: 'cups-server: firmware nothing-000000000000 is not in the catalogue\n' })
    expect((await ws.cli('firmware', 'halt', 'nothing-000000000000')).status).toBe(EXIT.failed)
    expect((await ws.cli('firmware', 'status', 'nothing-000000000000')).status).toBe(EXIT.failed)
  })

  it('rollout refuses what it cannot store: percent, time, labels (2), an EUI (1), and writes nothing', async () => {
    const before = await ws.store.get(firmwareKeys('cups/', id).rollout)
    for (const args of [['--percent', '150'], ['--percent', 'half'], ['--not-before', 'next week'], ['--not-before', '12/01/2026'], ['--labels', 'site'], ['--max-downloads', '0']]) {
      expect((await ws.cli('firmware', 'rollout', id, ...args)).status, args.join(' ')).toBe(EXIT.usage)
    }
    const eui = await ws.cli('firmware', 'rollout', id, '--eui', 'not-an-eui')
    expect(eui).toMatchObject({ status: EXIT.failed, stderr: expect.stringMatching(/"not-an-eui" is not a gateway EUI/) as unknown })
    expect((await ws.store.get(firmwareKeys('cups/', id).rollout))?.etag).toBe(before?.etag)
  })

  it('status counts the fleet from gateway.json and inventory.json: targeted, delivered, succeeded, failed, pending', async () => {
    ws.clock.now = new Date('2026-12-03T12:00:00.000Z')
    expect((await ws.cli('firmware', 'rollout', id)).status).toBe(EXIT.ok)
    const record = (state: FirmwareDeliveryRecord['state']): Record<string, FirmwareDeliveryRecord> => ({
      [id]: { version: '1.0.1', from: '1.0.0', deliveries: state === 'failed' ? 2 : 1, lastDeliveredAt: '2026-12-03T10:00:00.000Z', state },
    })
    const gateways: [string, object | undefined, InventoryEntry][] = [
      ['0016c001ff100001', {}, inventory('1.0.0', [FIXTURE_KEY_CRC], record('pending'))],
      ['0016c001ff100002', { name: 'done' }, inventory('1.0.1', [FIXTURE_KEY_CRC], record('succeeded'))],
      ['0016c001ff100003', {}, inventory('1.0.0', [FIXTURE_KEY_CRC], record('failed'))],
      ['0016c001ff100004', undefined, inventory('1.0.0', [FIXTURE_KEY_CRC])], // selected, not sent yet
      ['0016c001ff100005', {}, inventory('1.0.0', [])], // keyless: the rollout does not allow unsigned
      ['0016c001ff100006', { state: 'disabled' }, inventory('1.0.0', [FIXTURE_KEY_CRC])], // refused by the server
      ['0016c001ff100007', { firmware: { channel: 'beta' } }, inventory('1.0.0', [FIXTURE_KEY_CRC])], // on another channel
    ]
    for (const [eui, fields, entry] of gateways) {
      const keys = storageKeys('cups/', eui)
      if (fields !== undefined) await ws.store.put(keys.settings, Buffer.from(JSON.stringify(fields)))
      await ws.store.put(keys.inventory, Buffer.from(JSON.stringify(entry)))
    }
    const run = await ws.cli('firmware', 'status', '--json')
    expect(run.status).toBe(EXIT.ok)
    const rows = JSON.parse(run.stdout) as FirmwareStatus[]
    expect(rows.map((row) => row.version)).toEqual(['1.0.1', '1.0.2'])
    expect(rows[0]).toMatchObject({
      id,
      keyCrcs: [3420020549],
      rollout: { state: 'active', percent: 100, channel: null, failures: 0 },
      gateways: { targeted: 4, delivered: 3, succeeded: 1, failed: 1, pending: 1 },
    })
    expect(rows[1]).toMatchObject({ keyCrcs: [], rollout: { state: 'halted', channel: 'beta' }, gateways: { targeted: 0, delivered: 0 } })

    const one = await ws.cli('firmware', 'status', id)
    expect(one.status).toBe(EXIT.ok)
    const [header, row, more] = one.stdout.trimEnd().split('\n')
    expect(header).toMatch(/^ID +VERSION +FROM +MODELS +SIGNED FOR +ROLLOUT +TARGETED +DELIVERED +SUCCEEDED +FAILED +PENDING$/)
    expect(row?.split(/ {2,}/)).toEqual([id, '1.0.1', '1.0.0', 'all', '3420020549', 'active 100% failures=0/5', '4', '3', '1', '1', '1'])
    expect(more).toBeUndefined()
  })

  it('status of an empty catalogue says so and exits 0', async () => {
    const empty = await workspace()
    try {
      await mkdir(empty.env.DATA_DIR ?? '', { recursive: true })
      expect(await empty.cli('firmware', 'status')).toEqual({ status: EXIT.ok, stdout: '', stderr: 'no firmware is published under "cups/"\n' })
      expect((await empty.cli('firmware', 'status', '--json')).stdout).toBe('[]\n')
    } finally {
      await rm(empty.dir, { recursive: true, force: true })
    }
  })
})

function inventory(pkg: string, keys: readonly number[], firmware?: Record<string, FirmwareDeliveryRecord>): InventoryEntry {
  return {
    version: 1,
    firstSeen: '2026-11-01T00:00:00.000Z',
    lastSeen: '2026-12-03T10:00:00.000Z',
    station: '2.0.6(linux/std) 2026-11-23 19:46:54',
    model: 'linux',
    package: pkg,
    reported: { cupsUri: null, tcUri: null, cupsCredCrc: 0, tcCredCrc: 0, keys },
    desired: {},
    converged: true,
    ...(firmware === undefined ? {} : { firmware }),
  }
}
