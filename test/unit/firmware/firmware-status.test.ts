// firmwareStatus: targeted / delivered / succeeded / failed / pending per firmware, over a hand-made fleet and catalogue.
import { describe, expect, it } from 'vitest'
import type { FirmwareManifest, Rollout } from '../../../src/firmware/firmware-manifest'
import { activeRollout } from '../../../src/firmware/firmware-manifest'
import { firmwareStatus } from '../../../src/firmware/firmware-status'
import type { FirmwareCounts, StatusGateway } from '../../../src/firmware/firmware-status'
import type { FirmwareDeliveryRecord, FirmwareOffer } from '../../../src/firmware/select-firmware'
import type { InventoryEntry } from '../../../src/gateways/inventory'

const NOW = new Date('2026-12-02T12:00:00.000Z')
const KEY_CRC = 3420020549
const STATION = '2.0.6(linux/testsim) 2026-11-23 19:46:54'

function manifest(id: string, version: string, overrides: Partial<FirmwareManifest> = {}): FirmwareManifest {
  return {
    format: 1,
    id,
    version,
    from: ['1.0.0'],
    size: 73,
    sha256: 'ab'.repeat(32),
    // Selection compares CRCs only; the key and signature bytes are the catalogue's concern.
    signatures: [{ keyCrc: KEY_CRC, stationKey: 'a2V5', signature: 'c2ln' }],
    publishedAt: '2026-12-01T00:00:00.000Z',
    ...overrides,
  }
}

function rollout(firmware: string, overrides: Partial<Rollout> = {}): Rollout {
  return activeRollout(firmware, new Date('2026-12-01T00:00:00.000Z'), overrides)
}

function catalogue(...offers: { manifest: FirmwareManifest; rollout?: Rollout }[]): Map<string, FirmwareOffer> {
  return new Map(offers.map(({ manifest, rollout }) => [manifest.id, { manifest, rollout, signatures: manifest.signatures }]))
}

function delivery(state: FirmwareDeliveryRecord['state'], deliveries = 1): FirmwareDeliveryRecord {
  return { version: '1.0.1', from: '1.0.0', deliveries, lastDeliveredAt: '2026-12-02T00:00:00.000Z', state }
}

function inventory(pkg: string | null, firmware?: Record<string, FirmwareDeliveryRecord>, keys: readonly number[] = [KEY_CRC]): InventoryEntry {
  return {
    version: 1,
    firstSeen: '2026-11-01T00:00:00.000Z',
    lastSeen: '2026-12-02T00:00:00.000Z',
    station: STATION,
    model: 'linux',
    package: pkg,
    reported: { cupsUri: null, tcUri: null, cupsCredCrc: 0, tcCredCrc: 0, keys },
    desired: {},
    converged: true,
    ...(firmware === undefined ? {} : { firmware }),
  }
}

let serial = 0
function gateway(entry: InventoryEntry | undefined, overrides: Partial<StatusGateway> = {}): StatusGateway {
  serial++
  return { eui: `0016c001ff10${serial.toString(16).padStart(4, '0')}`, labels: {}, preference: undefined, inventory: entry, ...overrides }
}

const counts = (targeted: number, delivered: number, succeeded: number, failed: number, pending: number): FirmwareCounts => ({ targeted, delivered, succeeded, failed, pending })

describe('firmwareStatus', () => {
  const V101 = manifest('1.0.1-aaaaaaaaaaaa', '1.0.1')

  it('counts delivered gateways by outcome, and targets those the server would send it now plus those already sent it', () => {
    const fleet = [
      gateway(inventory('1.0.0', { [V101.id]: delivery('pending') })), // sent once, polls again: targeted, pending
      gateway(inventory('1.0.1', { [V101.id]: delivery('succeeded') })), // runs it: not sent again, still targeted
      gateway(inventory('1.0.0', { [V101.id]: delivery('failed', 2) })), // the loop guard gave up on it
      gateway(inventory('1.0.0')), // selected, not yet sent
      gateway(inventory('1.0.0', undefined, [])), // keyless, and the rollout does not allow unsigned
      gateway(inventory('0.9.0')), // not an upgrade path
      gateway(undefined), // never reported
    ]
    const [status] = firmwareStatus(catalogue({ manifest: V101, rollout: rollout(V101.id) }), fleet, NOW)
    expect(status?.gateways).toEqual(counts(4, 3, 1, 1, 1))
  })

  it('describes each firmware: version, targeting, key CRCs and rollout summary (null without one)', () => {
    const V102 = manifest('1.0.2-bbbbbbbbbbbb', '1.0.2', { models: ['linux'], signatures: [] })
    const statuses = firmwareStatus(
      catalogue({ manifest: V101, rollout: rollout(V101.id, { percent: 25, channel: 'beta', failures: 2, notBefore: '2026-12-01T06:00:00.000Z' }) }, { manifest: V102 }),
      [],
      NOW,
    )
    expect(statuses).toEqual([
      {
        id: V101.id,
        version: '1.0.1',
        from: ['1.0.0'],
        models: null,
        stations: null,
        size: 73,
        publishedAt: V101.publishedAt,
        keyCrcs: [KEY_CRC],
        rollout: { state: 'active', percent: 25, channel: 'beta', notBefore: '2026-12-01T06:00:00.000Z', failures: 2, haltAfterFailures: 5, haltedAt: null, haltedReason: null },
        gateways: counts(0, 0, 0, 0, 0),
      },
      expect.objectContaining({ id: V102.id, models: ['linux'], keyCrcs: [], rollout: null, gateways: counts(0, 0, 0, 0, 0) }),
    ])
  })

  it('a gateway two rollouts select counts for the newer version only, as the server sends that one', () => {
    const V110 = manifest('1.1.0-cccccccccccc', '1.1.0')
    const statuses = firmwareStatus(catalogue({ manifest: V101, rollout: rollout(V101.id) }, { manifest: V110, rollout: rollout(V110.id) }), [gateway(inventory('1.0.0'))], NOW)
    expect(statuses.map((status) => [status.id, status.gateways.targeted])).toEqual([
      [V101.id, 0],
      [V110.id, 1],
    ])
  })

  it('a halted rollout or one not started yet targets only the gateways it was already delivered to', () => {
    const fleet = [gateway(inventory('1.0.0')), gateway(inventory('1.0.0', { [V101.id]: delivery('pending') }))]
    const halted = firmwareStatus(catalogue({ manifest: V101, rollout: rollout(V101.id, { state: 'halted', haltedAt: NOW.toISOString() }) }), fleet, NOW)
    expect(halted[0]?.gateways).toEqual(counts(1, 1, 0, 0, 1))
    const later = rollout(V101.id, { notBefore: '2026-12-03T00:00:00.000Z' })
    expect(firmwareStatus(catalogue({ manifest: V101, rollout: later }), fleet, NOW)[0]?.gateways.targeted).toBe(1)
    expect(firmwareStatus(catalogue({ manifest: V101, rollout: later }), fleet, new Date('2026-12-03T00:00:01.000Z'))[0]?.gateways.targeted).toBe(2)
  })

  it('follows the record: its labels, its channel, and a pin that needs no rollout', () => {
    const labelled = rollout(V101.id, { labels: { site: 'berlin' } })
    const fleet = [gateway(inventory('1.0.0'), { labels: { site: 'berlin' } }), gateway(inventory('1.0.0'), { labels: { site: 'paris' } })]
    expect(firmwareStatus(catalogue({ manifest: V101, rollout: labelled }), fleet, NOW)[0]?.gateways.targeted).toBe(1)

    const onChannel = [gateway(inventory('1.0.0'), { preference: { channel: 'beta' } })]
    expect(firmwareStatus(catalogue({ manifest: V101, rollout: rollout(V101.id) }), onChannel, NOW)[0]?.gateways.targeted).toBe(0)
    expect(firmwareStatus(catalogue({ manifest: V101, rollout: rollout(V101.id, { channel: 'beta' }) }), onChannel, NOW)[0]?.gateways.targeted).toBe(1)

    const pinned = [gateway(inventory('1.0.0'), { preference: { pin: V101.id } })]
    expect(firmwareStatus(catalogue({ manifest: V101 }), pinned, NOW)[0]?.gateways.targeted).toBe(1)
  })

  it('a gateway the server would not answer (disabled, revoked, invalid record) is targeted only once delivered', () => {
    const fleet = [gateway(inventory('1.0.0'), { servable: false }), gateway(inventory('1.0.0', { [V101.id]: delivery('pending') }), { servable: false })]
    expect(firmwareStatus(catalogue({ manifest: V101, rollout: rollout(V101.id) }), fleet, NOW)[0]?.gateways).toEqual(counts(1, 1, 0, 0, 1))
  })

  it('reads hand-written inventory as it is: no deliveries is not delivered, an unknown state is delivered with no outcome', () => {
    const odd = { ...delivery('pending'), state: 'exploded' } as unknown as FirmwareDeliveryRecord
    const fleet = [gateway(inventory('1.0.1', { [V101.id]: delivery('pending', 0) })), gateway(inventory('1.0.1', { [V101.id]: odd }))]
    expect(firmwareStatus(catalogue({ manifest: V101, rollout: rollout(V101.id) }), fleet, NOW)[0]?.gateways).toEqual(counts(1, 1, 0, 0, 0))
  })

  it('an entry without `reported` (written by another tool) counts as keyless instead of failing the whole status', () => {
    const bare = Object.fromEntries(Object.entries(inventory('1.0.0')).filter(([field]) => field !== 'reported'))
    const fleet = [gateway(bare as unknown as InventoryEntry)]
    const allowed = rollout(V101.id, { allowUnsigned: true })
    expect(firmwareStatus(catalogue({ manifest: V101, rollout: allowed }), fleet, NOW)[0]?.gateways.targeted).toBe(1)
  })

  it('records for firmware that is not in the catalogue are ignored', () => {
    const fleet = [gateway(inventory('1.0.0', { 'gone-000000000000': delivery('failed') }))]
    expect(firmwareStatus(catalogue({ manifest: V101 }), fleet, NOW)).toEqual([expect.objectContaining({ id: V101.id, gateways: counts(0, 0, 0, 0, 0) })])
  })
})
