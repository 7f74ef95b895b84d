// Firmware manifests and rollouts as stored documents: ids, serialise/parse round trips, and what parsing refuses.
import { describe, expect, it } from 'vitest'
import type { FirmwareManifest, Rollout } from '../../../src/firmware/firmware-manifest'
import { FIRMWARE_ID, firmwareIdOf, InvalidFirmwareDocumentError, parseManifest, parseRollout, serialise, sha256Of } from '../../../src/firmware/firmware-manifest'
import { keyCrcOf, signingKey, signUpdate } from '../../../src/firmware/signing-keys'
import { readFixture } from '../../support/fixtures'

const STATION_KEY = readFixture('sig-0.key')
const UPDATE = Buffer.from('#!/bin/sh\necho 1.0.1 > /opt/station/version.txt\nrm -f /tmp/update.bin\n')
const SHA = sha256Of(UPDATE)
const DER = signUpdate(UPDATE, signingKey(readFixture('fw-sig.private.pem')))
const T0 = '2026-12-02T12:00:00.000Z'

const signature = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  keyCrc: keyCrcOf(STATION_KEY),
  stationKey: STATION_KEY.toString('base64'),
  signature: DER.toString('base64'),
  ...overrides,
})

const manifest = (overrides: Partial<FirmwareManifest> = {}): FirmwareManifest => ({
  format: 1,
  id: firmwareIdOf('1.0.1', SHA),
  version: '1.0.1',
  from: ['1.0.0'],
  models: ['linux'],
  stations: ['2.0.6'],
  size: UPDATE.length,
  sha256: SHA,
  signatures: [{ keyCrc: keyCrcOf(STATION_KEY), stationKey: STATION_KEY.toString('base64'), signature: DER.toString('base64') }],
  publishedAt: T0,
  description: 'fixture update',
  ...overrides,
})

const rollout = (overrides: Partial<Rollout> = {}): Rollout => ({
  format: 1,
  firmware: firmwareIdOf('1.0.1', SHA),
  state: 'active',
  percent: 10,
  maxConcurrentDownloads: 20,
  allowUnsigned: false,
  allowDowngrade: false,
  maxDeliveries: 2,
  haltAfterFailures: 5,
  failures: 0,
  createdAt: T0,
  updatedAt: T0,
  ...overrides,
})

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))
const withSignature = (overrides: Record<string, unknown>): Buffer => json({ ...manifest(), signatures: [signature(overrides)] })

describe('firmwareIdOf', () => {
  it('is stable: the same version and sha256 give the same id, another sha256 another one', () => {
    expect(firmwareIdOf('1.0.1', SHA)).toBe(firmwareIdOf('1.0.1', SHA))
    expect(firmwareIdOf('1.0.1', SHA)).toBe(`1.0.1-${SHA.slice(0, 12)}`)
    expect(firmwareIdOf('1.0.1', sha256Of(Buffer.from('other')))).not.toBe(firmwareIdOf('1.0.1', SHA))
    expect(firmwareIdOf('1.0.2', SHA)).not.toBe(firmwareIdOf('1.0.1', SHA))
  })

  it.each(['1.0.1', '../../etc/passwd', '..', '.', '/abs/path', 'a\\b', 'v 2.0 (beta)', 'ünïcödé-1', '-leading-dash', '_x', 'x'.repeat(300), ''])(
    'is one safe path segment for version %j',
    (version) => {
      const id = firmwareIdOf(version, SHA)
      expect(id).toMatch(FIRMWARE_ID)
      expect(id).not.toMatch(/[/\\]/)
      expect(id).not.toMatch(/^\.+$/)
      // Never mistaken for an EUI key under cups/.
      expect(id).not.toMatch(/^[0-9a-f]{16}$/)
    },
  )
})

describe('parseManifest', () => {
  it('round-trips a manifest through serialise', () => {
    const document = manifest()
    expect(parseManifest(serialise(document))).toEqual(document)
    const minimal: FirmwareManifest = { format: 1, id: 'fw-1', version: '1.0.1', from: ['1.0.0'], size: 1, sha256: SHA, signatures: [], publishedAt: T0 }
    expect(parseManifest(serialise(minimal))).toEqual(minimal)
  })

  it('refuses unknown keys, at the top and inside a signature', () => {
    expect(() => parseManifest(json({ ...manifest(), channel: 'beta' }))).toThrow(InvalidFirmwareDocumentError)
    expect(() => parseManifest(withSignature({ keyId: 0 }))).toThrow(InvalidFirmwareDocumentError)
  })

  it('refuses a keyCrc that is not crc32 of stationKey', () => {
    expect(() => parseManifest(withSignature({ keyCrc: keyCrcOf(STATION_KEY) ^ 1 }))).toThrow(/keyCrc is not crc32 of stationKey/)
  })

  it.each([
    ['stationKey without its padding', { stationKey: STATION_KEY.toString('base64').replace(/=+$/, '') }],
    ['stationKey in base64url', { stationKey: STATION_KEY.toString('base64url') + '==' }],
    ['stationKey with a line break', { stationKey: `${STATION_KEY.toString('base64').slice(0, 40)}\n${STATION_KEY.toString('base64').slice(40)}` }],
    ['signature with trailing garbage', { signature: `${DER.toString('base64')}!` }],
  ])('refuses non-canonical base64: %s', (_case, overrides) => {
    expect(() => parseManifest(withSignature(overrides))).toThrow(/canonical base64/)
  })

  it('refuses a station key that is not 64 bytes', () => {
    const short = STATION_KEY.subarray(0, 63)
    expect(() => parseManifest(withSignature({ stationKey: short.toString('base64'), keyCrc: keyCrcOf(short) }))).toThrow(InvalidFirmwareDocumentError)
  })

  it('refuses a signature over 128 bytes (the station keeps 128), and one that is not DER', () => {
    const long = Buffer.concat([Buffer.from([0x30, 0x81, 0x7e]), Buffer.alloc(126, 1)])
    expect(long.length).toBe(129)
    expect(() => parseManifest(withSignature({ signature: long.toString('base64') }))).toThrow(/signatures\.0\.signature/)
    expect(() => parseManifest(withSignature({ signature: Buffer.alloc(70, 1).toString('base64') }))).toThrow(/signatures\.0\.signature/)
    const atLimit = Buffer.concat([Buffer.from([0x30, 0x7e]), Buffer.alloc(126, 1)])
    expect(parseManifest(withSignature({ signature: atLimit.toString('base64') })).signatures[0]?.signature).toBe(atLimit.toString('base64'))
  })

  it('refuses what is not JSON, and an id that is not a path segment', () => {
    expect(() => parseManifest(Buffer.from('{'))).toThrow(InvalidFirmwareDocumentError)
    expect(() => parseManifest(json(manifest({ id: '../x' })))).toThrow(InvalidFirmwareDocumentError)
  })
})

describe('parseRollout', () => {
  it('round-trips a rollout through serialise', () => {
    const document = rollout({ channel: 'beta', labels: { site: 'north' }, euis: ['0016c001ff10a235'], notBefore: T0 })
    expect(parseRollout(serialise(document))).toEqual(document)
  })

  it('refuses percent 101 (and below 0), takes 0 and 100', () => {
    expect(() => parseRollout(json(rollout({ percent: 101 })))).toThrow(InvalidFirmwareDocumentError)
    expect(() => parseRollout(json(rollout({ percent: -1 })))).toThrow(InvalidFirmwareDocumentError)
    expect(parseRollout(json(rollout({ percent: 0 }))).percent).toBe(0)
    expect(parseRollout(json(rollout({ percent: 100 }))).percent).toBe(100)
  })

  it('refuses unknown keys', () => {
    expect(() => parseRollout(json({ ...rollout(), pin: 'x' }))).toThrow(InvalidFirmwareDocumentError)
  })
})
