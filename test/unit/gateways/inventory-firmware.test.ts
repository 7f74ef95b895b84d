// The inventory's firmware records: deliveries counted when a download completes, success seen in the reported package, failure marked once and kept.
import { describe, expect, it } from 'vitest'
import type { FirmwareDeliveryRecord } from '../../../src/firmware/select-firmware'
import { deliveredEntry, nextEntry } from '../../../src/gateways/inventory'
import type { InventoryEntry, Observation } from '../../../src/gateways/inventory'

const HOUR = 3_600_000
const RULES = { stuckAfterSends: 3, stuckBackoffMs: 24 * HOUR, refreshMs: 24 * HOUR }
const T0 = new Date('2026-12-02T00:00:00.000Z')
const at = (hours: number): Date => new Date(T0.getTime() + hours * HOUR)
const iso = (hours: number): string => at(hours).toISOString()

const FW = { id: '1.0.1-0123456789ab', version: '1.0.1' }

/** A poll (what the station reported, and the loop guard's verdict if any) or a completed download. */
type Step =
  | { readonly hours: number; readonly package: string | null; readonly failed?: typeof FW }
  | { readonly hours: number; readonly package: string | null; readonly delivered: typeof FW }

function observation(step: { hours: number; package: string | null; failed?: typeof FW }): Observation {
  return {
    now: at(step.hours),
    reported: { cupsUri: 'https://cups:443', tcUri: null, cupsCredCrc: 7, tcCredCrc: 0, keys: [3420020549], station: '2.0.6', model: 'linux', package: step.package },
    desired: {},
    sent: [],
    certificate: () => undefined,
    ...(step.failed === undefined ? {} : { firmware: { ...step.failed, failed: true as const } }),
  }
}

/** Runs the steps from `start` (a first poll by default), keeping what would be written. */
function run(steps: readonly Step[], start?: InventoryEntry): { entry: InventoryEntry | undefined; writes: boolean[]; failed: string[][] } {
  let entry = start ?? nextEntry(undefined, observation({ hours: 0, package: '1.0.0' }), RULES).entry
  const writes: boolean[] = []
  const failed: string[][] = []
  for (const step of steps) {
    const next =
      'delivered' in step
        ? deliveredEntry(entry, { now: at(step.hours), ...step.delivered, package: step.package })
        : nextEntry(entry, observation(step), RULES)
    if (next === undefined) throw new Error('no entry to count a delivery in')
    writes.push(next.write)
    failed.push([...(next.newlyFailed ?? [])])
    if (next.write) entry = next.entry
  }
  return { entry, writes, failed }
}

const pending = (overrides: Partial<FirmwareDeliveryRecord> = {}): FirmwareDeliveryRecord => ({
  version: FW.version,
  from: '1.0.0',
  deliveries: 1,
  lastDeliveredAt: iso(0),
  state: 'pending',
  ...overrides,
})

function entryWith(firmware: Record<string, FirmwareDeliveryRecord>): InventoryEntry {
  return { ...nextEntry(undefined, observation({ hours: 0, package: '1.0.0' }), RULES).entry, firmware }
}

describe('the inventory firmware records', () => {
  it('counts each completed download as a delivery, from the package it found, and each is a write', () => {
    const { entry, writes } = run([
      { hours: 0.1, package: '1.0.0', delivered: FW },
      { hours: 0.2, package: '1.0.0', delivered: FW },
    ])
    expect(writes).toEqual([true, true])
    expect(entry?.firmware?.[FW.id]).toEqual({ version: '1.0.1', from: '1.0.0', deliveries: 2, lastDeliveredAt: iso(0.2), state: 'pending' })
  })

  it('starts the count over when the gateway moved to another version since the first delivery', () => {
    const { entry } = run([
      { hours: 0.1, package: '1.0.0', delivered: FW },
      { hours: 0.2, package: '1.0.0-rc2', delivered: FW },
    ])
    expect(entry?.firmware?.[FW.id]).toMatchObject({ from: '1.0.0-rc2', deliveries: 1 })
  })

  it('reporting the version marks the record succeeded, with the time it was seen; other records keep what they said', () => {
    const done = pending({ version: '0.9.0', state: 'succeeded', settledAt: iso(0) })
    const { entry, failed } = run([{ hours: 1, package: '1.0.1' }], entryWith({ [FW.id]: pending(), old: done }))
    expect(entry?.firmware?.[FW.id]).toEqual({ ...pending(), state: 'succeeded', settledAt: iso(1) })
    expect(entry?.firmware?.old).toEqual(done)
    expect(failed.flat()).toEqual([])
  })

  it("the loop guard's verdict marks it failed once, lists it in newlyFailed once, and a later delivery never revives it", () => {
    const { entry, failed, writes } = run(
      [
        { hours: 1, package: '1.0.0', failed: FW },
        { hours: 2, package: '1.0.0', failed: FW },
        // Another replica, its cache older than the failure, sent it once more: still failed, not counted again.
        { hours: 3, package: '1.0.0', delivered: FW },
      ],
      entryWith({ [FW.id]: pending({ deliveries: 2 }) }),
    )
    expect(failed).toEqual([[FW.id], [], []])
    expect(writes[2]).toBe(false)
    expect(entry?.firmware?.[FW.id]).toEqual({ ...pending({ deliveries: 2 }), state: 'failed', settledAt: iso(1) })
  })

  it('a failure verdict without a record still leaves a failed record (and counts once)', () => {
    const { entry, failed } = run([{ hours: 1, package: '1.0.0', failed: FW }])
    expect(failed).toEqual([[FW.id]])
    expect(entry?.firmware?.[FW.id]).toMatchObject({ version: '1.0.1', from: '1.0.0', state: 'failed', settledAt: iso(1) })
  })

  it('a delivery needs an entry to count in, and an entry without firmware records stays without the firmware key', () => {
    expect(deliveredEntry(undefined, { now: at(0), ...FW, package: '1.0.0' })).toBeUndefined()
    const { entry } = run([{ hours: 25, package: '1.0.0' }])
    expect(entry).not.toHaveProperty('firmware')
  })
})
