// selectFirmware and inRamp: which update, with which signature, one gateway gets now, one rule per case.
import { generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { FirmwareManifest, FirmwareSignature, Rollout } from '../../../src/firmware/firmware-manifest'
import { activeRollout, firmwareIdOf, sha256Of } from '../../../src/firmware/firmware-manifest'
import { inRamp, selectFirmware } from '../../../src/firmware/select-firmware'
import type { FirmwareChoice, FirmwareDeliveryRecord, FirmwareOffer, SelectFirmwareInput } from '../../../src/firmware/select-firmware'
import { keyCrcOf, SignatureCheck, signUpdate, stationKeyOf } from '../../../src/firmware/signing-keys'
import { seededRandom } from '../../support/seeded-random'

const NOW = new Date('2026-12-02T12:00:00.000Z')
const EUI = '0016c001ff10a235'
const STATION = '2.0.6(linux/testsim) 2026-11-23 19:46:54'

interface Signer {
  readonly key: KeyObject
  readonly stationKey: Buffer
  readonly crc: number
}
const signer = (): Signer => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const stationKey = stationKeyOf(privateKey)
  return { key: privateKey, stationKey, crc: keyCrcOf(stationKey) }
}
const A = signer()
const B = signer()

const updateFor = (version: string): Buffer => Buffer.from(`#!/bin/sh\necho ${version} > /opt/station/version.txt\nrm -f /tmp/update.bin\n`)
const signatureOf = (version: string, by: Signer): FirmwareSignature => ({
  keyCrc: by.crc,
  stationKey: by.stationKey.toString('base64'),
  signature: signUpdate(updateFor(version), by.key).toString('base64'),
})
const idOf = (version: string): string => firmwareIdOf(version, sha256Of(updateFor(version)))

function manifest(version: string, overrides: Partial<FirmwareManifest> = {}): FirmwareManifest {
  const update = updateFor(version)
  return {
    format: 1,
    id: idOf(version),
    version,
    from: ['1.0.0'],
    size: update.length,
    sha256: sha256Of(update),
    signatures: [],
    publishedAt: '2026-12-01T00:00:00.000Z',
    ...overrides,
  }
}

function rollout(firmware: string, overrides: Partial<Rollout> = {}): Rollout {
  return activeRollout(firmware, new Date('2026-12-01T00:00:00.000Z'), overrides)
}

interface OfferOptions {
  readonly manifest?: Partial<FirmwareManifest>
  /** null: no rollout at all. */
  readonly rollout?: Partial<Rollout> | null
  readonly signedBy?: readonly Signer[]
}

/** A firmware of this version signed by A unless told otherwise, with a 100 % rollout unless told otherwise. */
function offer(version: string, options: OfferOptions = {}): FirmwareOffer {
  const m = manifest(version, options.manifest)
  const signatures = (options.signedBy ?? [A]).map((by) => signatureOf(version, by))
  return { manifest: { ...m, signatures }, rollout: options.rollout === null ? undefined : rollout(m.id, options.rollout ?? {}), signatures }
}

type InputOverrides = Partial<Omit<SelectFirmwareInput, 'request' | 'catalogue'>> & { readonly request?: Partial<SelectFirmwareInput['request']> }

function choose(offers: readonly FirmwareOffer[], overrides: InputOverrides = {}): FirmwareChoice {
  const { request, ...rest } = overrides
  return selectFirmware({
    eui: EUI,
    labels: {},
    preference: undefined,
    deliveries: undefined,
    now: NOW,
    ...rest,
    request: { model: 'linux', package: '1.0.0', station: STATION, keys: [A.crc], ...request },
    catalogue: new Map(offers.map((o) => [o.manifest.id, o])),
  })
}

const sentVersion = (choice: FirmwareChoice): string | undefined => ('send' in choice ? choice.send.manifest.version : undefined)
const keyOf = (choice: FirmwareChoice): number | undefined => ('send' in choice ? choice.signature?.keyCrc : undefined)
const reasonOf = (choice: FirmwareChoice): string => ('send' in choice ? choice.reason : choice.none)
const failedOf = (choice: FirmwareChoice): { id: string; version: string } | undefined => ('none' in choice ? choice.failed : undefined)

/** Whether the chosen signature verifies the update the way the station checks it. */
function verifies(choice: FirmwareChoice): boolean {
  if (!('send' in choice) || choice.signature === undefined) return false
  const check = new SignatureCheck([{ stationKey: Buffer.from(choice.signature.stationKey, 'base64'), der: Buffer.from(choice.signature.signature, 'base64') }])
  check.update(updateFor(choice.send.manifest.version))
  return check.results()[0] === true
}

const record = (version: string, overrides: Partial<FirmwareDeliveryRecord> = {}): FirmwareDeliveryRecord => ({
  version,
  from: '1.0.0',
  deliveries: 1,
  lastDeliveredAt: '2026-12-02T11:00:00.000Z',
  state: 'pending',
  ...overrides,
})

const randomEuis = (count: number, seed: number): string[] => {
  const random = seededRandom(seed)
  return Array.from({ length: count }, () => random.bytes(8).toString('hex'))
}

describe('selectFirmware: signatures and keys', () => {
  it('a rollout at 100 % sends the update with the signature whose keyCrc is in the request keys', () => {
    const choice = choose([offer('1.0.1', { signedBy: [B, A] })])
    expect(sentVersion(choice)).toBe('1.0.1')
    expect(keyOf(choice)).toBe(A.crc)
    expect(verifies(choice)).toBe(true)
  })

  it('a station holding keys [A, B] and a manifest signed by B only gets B’s signature', () => {
    const choice = choose([offer('1.0.1', { signedBy: [B] })], { request: { keys: [A.crc, B.crc] } })
    expect(keyOf(choice)).toBe(B.crc)
    expect(verifies(choice)).toBe(true)
  })

  it('key rotation: a station holding only the new key gets the new key’s signature', () => {
    const choice = choose([offer('1.0.1', { signedBy: [A, B] })], { request: { keys: [B.crc] } })
    expect(keyOf(choice)).toBe(B.crc)
    expect(verifies(choice)).toBe(true)
  })

  it('key rotation: a station holding both keys gets one of them, and either verifies', () => {
    for (const keys of [[A.crc, B.crc], [B.crc, A.crc]]) {
      const choice = choose([offer('1.0.1', { signedBy: [A, B] })], { request: { keys } })
      expect([A.crc, B.crc]).toContain(keyOf(choice))
      expect(verifies(choice)).toBe(true)
    }
  })

  it('no signature for any station key: nothing sent, and the reason names the station’s keys', () => {
    const other = signer()
    const choice = choose([offer('1.0.1', { signedBy: [B] })], { request: { keys: [A.crc, other.crc] } })
    expect(sentVersion(choice)).toBeUndefined()
    expect(reasonOf(choice)).toContain(String(A.crc))
    expect(reasonOf(choice)).toContain(String(other.crc))
  })

  it('a keyless station gets the update unsigned only when the rollout allows unsigned', () => {
    const allowed = choose([offer('1.0.1', { rollout: { allowUnsigned: true } })], { request: { keys: [] } })
    expect(sentVersion(allowed)).toBe('1.0.1')
    expect(allowed).toMatchObject({ signature: undefined })
    const refused = choose([offer('1.0.1')], { request: { keys: [] } })
    expect(sentVersion(refused)).toBeUndefined()
  })

  it('never an unsigned update to a station with keys, even where the rollout allows unsigned', () => {
    const choice = choose([offer('1.0.1', { signedBy: [], rollout: { allowUnsigned: true } })])
    expect(sentVersion(choice)).toBeUndefined()
    const wrongKey = choose([offer('1.0.1', { signedBy: [B], rollout: { allowUnsigned: true } })])
    expect(sentVersion(wrongKey)).toBeUndefined()
  })
})

describe('selectFirmware: versions, models and stations', () => {
  it('a package not in the manifest’s from gets nothing', () => {
    expect(sentVersion(choose([offer('1.0.1')], { request: { package: '0.9.0' } }))).toBeUndefined()
    expect(sentVersion(choose([offer('1.0.1')], { request: { package: null } }))).toBeUndefined()
  })

  it('a package equal to the version gets nothing', () => {
    expect(sentVersion(choose([offer('1.0.1', { manifest: { from: ['1.0.0', '1.0.1'] } })], { request: { package: '1.0.1' } }))).toBeUndefined()
  })

  it('no downgrade: from includes the newer running version, but the version is older: nothing unless allowDowngrade', () => {
    const older = { manifest: { from: ['1.0.0', '1.10.0'] } }
    expect(sentVersion(choose([offer('1.9.0', older)], { request: { package: '1.10.0' } }))).toBeUndefined()
    expect(sentVersion(choose([offer('1.9.0', { ...older, rollout: { allowDowngrade: true } })], { request: { package: '1.10.0' } }))).toBe('1.9.0')
  })

  it('a manifest restricted to models reaches only those models', () => {
    const forRpi = offer('1.0.1', { manifest: { models: ['rpi'] } })
    expect(sentVersion(choose([forRpi], { request: { model: 'linux' } }))).toBeUndefined()
    expect(sentVersion(choose([forRpi], { request: { model: null } }))).toBeUndefined()
    expect(sentVersion(choose([forRpi], { request: { model: 'rpi' } }))).toBe('1.0.1')
  })

  it('a manifest restricted to station versions reads "2.0.6(linux/testsim) 2026-11-23 19:46:54" as 2.0.6', () => {
    expect(sentVersion(choose([offer('1.0.1', { manifest: { stations: ['2.0.6'] } })]))).toBe('1.0.1')
    expect(sentVersion(choose([offer('1.0.1', { manifest: { stations: ['2.0.5'] } })]))).toBeUndefined()
    expect(sentVersion(choose([offer('1.0.1', { manifest: { stations: ['2.0.6'] } })], { request: { station: null } }))).toBeUndefined()
  })
})

describe('selectFirmware: rollouts', () => {
  it('a halted rollout sends nothing', () => {
    expect(sentVersion(choose([offer('1.0.1', { rollout: { state: 'halted', haltedReason: '5 failures' } })]))).toBeUndefined()
  })

  it('a rollout whose notBefore is in the future sends nothing, one in the past does', () => {
    expect(sentVersion(choose([offer('1.0.1', { rollout: { notBefore: '2026-12-02T12:00:01.000Z' } })]))).toBeUndefined()
    expect(sentVersion(choose([offer('1.0.1', { rollout: { notBefore: '2026-12-02T11:59:59.000Z' } })]))).toBe('1.0.1')
  })

  it('a firmware without a rollout is sent to nobody', () => {
    const choice = choose([offer('1.0.1', { rollout: null })])
    expect(sentVersion(choice)).toBeUndefined()
  })

  it('a rollout’s models filter narrows the gateways', () => {
    expect(sentVersion(choose([offer('1.0.1', { rollout: { models: ['rpi'] } })]))).toBeUndefined()
    expect(sentVersion(choose([offer('1.0.1', { rollout: { models: ['rpi', 'linux'] } })]))).toBe('1.0.1')
  })

  it('a rollout’s from filter narrows the versions upgraded', () => {
    const both = { from: ['1.0.0', '0.9.0'] }
    expect(sentVersion(choose([offer('1.0.1', { manifest: both, rollout: { from: ['0.9.0'] } })]))).toBeUndefined()
    expect(sentVersion(choose([offer('1.0.1', { manifest: both, rollout: { from: ['0.9.0'] } })], { request: { package: '0.9.0' } }))).toBe('1.0.1')
  })

  it('a rollout’s labels must all be on the gateway’s record', () => {
    const north = offer('1.0.1', { rollout: { labels: { site: 'north', tier: 'canary' } } })
    expect(sentVersion(choose([north]))).toBeUndefined()
    expect(sentVersion(choose([north], { labels: { site: 'north' } }))).toBeUndefined()
    expect(sentVersion(choose([north], { labels: { site: 'south', tier: 'canary' } }))).toBeUndefined()
    expect(sentVersion(choose([north], { labels: { site: 'north', tier: 'canary', extra: 'x' } }))).toBe('1.0.1')
  })

  it('explicit euis are selected at percent 0, no other gateway is', () => {
    const canary = offer('1.0.1', { rollout: { percent: 0, euis: [EUI] } })
    expect(sentVersion(choose([canary]))).toBe('1.0.1')
    expect(sentVersion(choose([canary], { eui: '0016c001ff10a236' }))).toBeUndefined()
  })

  it('explicit euis still go through the other filters', () => {
    const canary = offer('1.0.1', { rollout: { percent: 0, euis: [EUI], models: ['rpi'] } })
    expect(sentVersion(choose([canary]))).toBeUndefined()
  })

  it('among two applicable rollouts the higher version wins, whatever their order', () => {
    const low = offer('1.9.0')
    const high = offer('1.10.0')
    expect(sentVersion(choose([low, high]))).toBe('1.10.0')
    expect(sentVersion(choose([high, low]))).toBe('1.10.0')
  })

  it('the higher version that cannot go to this gateway leaves the lower one', () => {
    const high = offer('1.10.0', { manifest: { from: ['0.9.0'] } })
    expect(sentVersion(choose([high, offer('1.9.0')]))).toBe('1.9.0')
  })
})

describe('selectFirmware: channels', () => {
  it('a rollout with channel beta reaches only records with {channel: beta}', () => {
    const beta = offer('1.0.1', { rollout: { channel: 'beta' } })
    expect(sentVersion(choose([beta], { preference: { channel: 'beta' } }))).toBe('1.0.1')
    expect(sentVersion(choose([beta]))).toBeUndefined()
    expect(sentVersion(choose([beta], { preference: { channel: 'stable' } }))).toBeUndefined()
  })

  it('a rollout without a channel reaches only records without a channel', () => {
    const general = offer('1.0.1')
    expect(sentVersion(choose([general]))).toBe('1.0.1')
    expect(sentVersion(choose([general], { preference: { channel: 'beta' } }))).toBeUndefined()
  })
})

describe('selectFirmware: pins', () => {
  it('a pin selects the pinned firmware even without a rollout', () => {
    const pinned = offer('1.0.1', { rollout: null })
    expect(sentVersion(choose([pinned], { preference: { pin: pinned.manifest.id } }))).toBe('1.0.1')
  })

  it('a pin overrides rollouts: a newer firmware at 100 % and the pinned one’s halted rollout do not matter', () => {
    const pinned = offer('1.0.1', { rollout: { state: 'halted', percent: 0 } })
    const newer = offer('1.0.2')
    const choice = choose([pinned, newer], { preference: { pin: pinned.manifest.id } })
    expect(sentVersion(choice)).toBe('1.0.1')
    expect(keyOf(choice)).toBe(A.crc)
  })

  it('a pin allows a downgrade', () => {
    const older = offer('0.9.0', { manifest: { from: ['1.0.0'] }, rollout: null })
    expect(sentVersion(choose([older], { preference: { pin: older.manifest.id } }))).toBe('0.9.0')
  })

  it('a pin still needs the package in the manifest’s from', () => {
    const pinned = offer('1.0.1', { manifest: { from: ['0.9.0'] }, rollout: null })
    expect(sentVersion(choose([pinned], { preference: { pin: pinned.manifest.id } }))).toBeUndefined()
  })

  it('a pin goes unsigned to a keyless station only with allowUnsigned on the pin', () => {
    const pinned = offer('1.0.1', { rollout: { allowUnsigned: true } })
    const keyless = { request: { keys: [] } }
    expect(sentVersion(choose([pinned], { ...keyless, preference: { pin: pinned.manifest.id } }))).toBeUndefined()
    const allowed = choose([pinned], { ...keyless, preference: { pin: pinned.manifest.id, allowUnsigned: true } })
    expect(sentVersion(allowed)).toBe('1.0.1')
    expect(allowed).toMatchObject({ signature: undefined })
  })

  it('a pin with allowUnsigned still sends a station with keys nothing unsigned', () => {
    const pinned = offer('1.0.1', { signedBy: [B], rollout: null })
    expect(sentVersion(choose([pinned], { preference: { pin: pinned.manifest.id, allowUnsigned: true } }))).toBeUndefined()
  })

  it('a pin to an unknown id sends nothing, not even an applicable rollout', () => {
    const choice = choose([offer('1.0.1')], { preference: { pin: 'no-such-firmware' } })
    expect(sentVersion(choice)).toBeUndefined()
    expect(reasonOf(choice)).toContain('no-such-firmware')
  })
})

describe('selectFirmware: the loop guard', () => {
  it('a pending record at maxDeliveries while the station still reports the old package: nothing, and a failed verdict', () => {
    const fw = offer('1.0.1', { rollout: { maxDeliveries: 2 } })
    const choice = choose([fw], { deliveries: { [fw.manifest.id]: record('1.0.1', { deliveries: 2 }) } })
    expect(sentVersion(choice)).toBeUndefined()
    expect(failedOf(choice)).toEqual({ id: fw.manifest.id, version: '1.0.1' })
    const beyond = choose([fw], { deliveries: { [fw.manifest.id]: record('1.0.1', { deliveries: 5 }) } })
    expect(failedOf(beyond)).toEqual({ id: fw.manifest.id, version: '1.0.1' })
  })

  it('a failed record: nothing, and no new failed verdict', () => {
    const fw = offer('1.0.1')
    const choice = choose([fw], { deliveries: { [fw.manifest.id]: record('1.0.1', { deliveries: 2, state: 'failed', settledAt: '2026-12-02T11:30:00.000Z' }) } })
    expect(sentVersion(choice)).toBeUndefined()
    expect(failedOf(choice)).toBeUndefined()
  })

  it('a record with fewer deliveries than maxDeliveries: still sent', () => {
    const fw = offer('1.0.1', { rollout: { maxDeliveries: 3 } })
    expect(sentVersion(choose([fw], { deliveries: { [fw.manifest.id]: record('1.0.1', { deliveries: 2 }) } }))).toBe('1.0.1')
  })

  it('a pinned firmware is under the loop guard too (default maxDeliveries)', () => {
    const pinned = offer('1.0.1', { rollout: null })
    const choice = choose([pinned], { preference: { pin: pinned.manifest.id }, deliveries: { [pinned.manifest.id]: record('1.0.1', { deliveries: 2 }) } })
    expect(sentVersion(choice)).toBeUndefined()
    expect(failedOf(choice)).toEqual({ id: pinned.manifest.id, version: '1.0.1' })
  })

  it('counts only while the station stays on the version the update first found: one that moved on gets it again', () => {
    const fw = offer('1.0.1', { rollout: { maxDeliveries: 2 } })
    const moved = choose([fw], { deliveries: { [fw.manifest.id]: record('1.0.1', { deliveries: 2, from: '0.9.0' }) } })
    expect(sentVersion(moved)).toBe('1.0.1')
    expect(failedOf(moved)).toBeUndefined()
  })

  it('a record of another firmware does not hold this one back', () => {
    const fw = offer('1.0.1')
    expect(sentVersion(choose([fw], { deliveries: { other: record('1.0.1', { deliveries: 9 }) } }))).toBe('1.0.1')
  })
})

describe('inRamp', () => {
  const euis = randomEuis(10_000, 20261202)
  const share = (id: string, percent: number): Set<string> => new Set(euis.filter((eui) => inRamp(eui, id, percent)))

  it('is a pure function of (eui, firmware id, percent)', () => {
    for (const eui of euis.slice(0, 200)) {
      for (const percent of [0, 1, 33.3, 50, 99.9, 100]) expect(inRamp(eui, 'fw-a', percent)).toBe(inRamp(eui, 'fw-a', percent))
    }
    expect(share('fw-a', 50)).toEqual(share('fw-a', 50))
  })

  it('selects none at 0 % and all at 100 %', () => {
    expect(share('fw-a', 0).size).toBe(0)
    expect(share('fw-a', 100).size).toBe(euis.length)
  })

  it.each([1, 5, 10, 25, 50, 75, 90])('selects about %i % of 10,000 random EUIs (within 2 points)', (percent) => {
    const selected = (share('fw-a', percent).size / euis.length) * 100
    expect(Math.abs(selected - percent)).toBeLessThanOrEqual(2)
  })

  it('raising 10 % to 20 % keeps every EUI that was in', () => {
    const ten = share('fw-a', 10)
    const twenty = share('fw-a', 20)
    expect([...ten].filter((eui) => !twenty.has(eui))).toEqual([])
    expect(twenty.size).toBeGreaterThan(ten.size)
  })

  it('two firmware ids select different sets at the same percentage', () => {
    const a = share(idOf('1.0.1'), 50)
    const b = share(idOf('1.0.2'), 50)
    const both = [...a].filter((eui) => b.has(eui)).length
    // Independent halves overlap in about a quarter of all EUIs, not in the whole half.
    expect(both / euis.length).toBeGreaterThan(0.2)
    expect(both / euis.length).toBeLessThan(0.3)
  })

  it('the ramp in selectFirmware follows inRamp', () => {
    const fw = offer('1.0.1', { rollout: { percent: 30 } })
    for (const eui of euis.slice(0, 300)) {
      expect(sentVersion(choose([fw], { eui })) !== undefined).toBe(inRamp(eui, fw.manifest.id, 30))
    }
  })
})
