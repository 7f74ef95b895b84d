// nextEntry's firmware records: deliveries counted, success seen in the reported package, failure marked and counted once.
import { describe, expect, it } from 'vitest'
import type { FirmwareDeliveryRecord } from '../../../src/firmware/select-firmware'
import { nextEntry } from '../../../src/gateways/inventory'
import type { InventoryEntry, Observation } from '../../../src/gateways/inventory'

const HOUR = 3_600_000
const RULES = { stuckAfterSends: 3, stuckBackoffMs: 24 * HOUR, refreshMs: 24 * HOUR }
const T0 = new Date('2026-12-02T00:00:00.000Z')
const at = (hours: number): Date => new Date(T0.getTime() + hours * HOUR)
const iso = (hours: number): string => at(hours).toISOString()

const FW = { id: '1.0.1-0123456789ab', version: '1.0.1' }
const OTHER = { id: '1.0.2-ba9876543210', version: '1.0.2' }

interface Step {
  readonly hours: number
  readonly package: string | null
  readonly firmware?: { readonly id: string; readonly version: string; readonly sent?: boolean; readonly failed?: boolean }
}

function observation(step: Step): Observation {
  return {
    now: at(step.hours),
    reported: { cupsUri: 'https://cups:443', tcUri: null, cupsCredCrc: 7, tcCredCrc: 0, keys: [3420020549], station: '2.0.6', model: 'linux', package: step.package },
    desired: {},
    sent: [],
    certificate: () => undefined,
    ...(step.firmware === undefined ? {} : { firmware: { sent: false, failed: false, ...step.firmware } }),
  }
}

/** Runs the steps from `start`, keeping what would be written; returns the entry, writes and newlyFailed per step. */
function run(steps: readonly Step[], start?: InventoryEntry): { entry: InventoryEntry | undefined; writes: boolean[]; failed: string[][] } {
  let entry = start
  const writes: boolean[] = []
  const failed: string[][] = []
  for (const step of steps) {
    const next = nextEntry(entry, observation(step), RULES)
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

/** An entry as written after a first poll, carrying these firmware records. */
function entryWith(firmware: Record<string, FirmwareDeliveryRecord>): InventoryEntry {
  const first = nextEntry(undefined, observation({ hours: 0, package: '1.0.0' }), RULES).entry
  return { ...first, firmware }
}

describe('nextEntry firmware records', () => {
  it('counts each sent update as a delivery, pending, from the package reported at the first delivery', () => {
    const first = run([{ hours: 0, package: '1.0.0', firmware: { ...FW, sent: true } }])
    expect(first.entry?.firmware).toEqual({ [FW.id]: { version: '1.0.1', from: '1.0.0', deliveries: 1, lastDeliveredAt: iso(0), state: 'pending' } })
    const second = run([
      { hours: 0, package: '1.0.0', firmware: { ...FW, sent: true } },
      { hours: 0.1, package: '1.0.0', firmware: { ...FW, sent: true } },
    ])
    // A second delivery inside the refresh period is still a change worth a write.
    expect(second.writes).toEqual([true, true])
    expect(second.entry?.firmware?.[FW.id]).toEqual({ version: '1.0.1', from: '1.0.0', deliveries: 2, lastDeliveredAt: iso(0.1), state: 'pending' })
  })

  it('starts the count over when the gateway moved to another version since the first delivery', () => {
    const { entry } = run([
      { hours: 0, package: '1.0.0', firmware: { ...FW, sent: true } },
      { hours: 0.1, package: '1.0.0-rc2', firmware: { ...FW, sent: true } },
    ])
    expect(entry?.firmware?.[FW.id]).toEqual({ version: '1.0.1', from: '1.0.0-rc2', deliveries: 1, lastDeliveredAt: iso(0.1), state: 'pending' })
  })

  it('an update due but not sent (held back) records no delivery', () => {
    const { entry } = run([{ hours: 0, package: '1.0.0', firmware: { ...FW, sent: false } }])
    expect(entry).not.toHaveProperty('firmware')
  })

  it('reporting the version marks the record succeeded, with the time it was seen', () => {
    const { entry, failed } = run([
      { hours: 0, package: '1.0.0', firmware: { ...FW, sent: true } },
      { hours: 0.1, package: '1.0.1' },
    ])
    expect(entry?.firmware?.[FW.id]).toEqual({ version: '1.0.1', from: '1.0.0', deliveries: 1, lastDeliveredAt: iso(0), state: 'succeeded', settledAt: iso(0.1) })
    expect(failed.flat()).toEqual([])
  })

  it('reporting the version marks it succeeded also while the poll is about another firmware', () => {
    const { entry } = run([{ hours: 1, package: '1.0.1', firmware: { ...OTHER, sent: true } }], entryWith({ [FW.id]: pending() }))
    expect(entry?.firmware?.[FW.id]).toMatchObject({ state: 'succeeded', settledAt: iso(1), deliveries: 1 })
    expect(entry?.firmware?.[OTHER.id]).toMatchObject({ state: 'pending', deliveries: 1, from: '1.0.1', version: '1.0.2' })
  })

  it('reporting the version of the observed firmware settles it as succeeded, not as another delivery', () => {
    const { entry } = run([{ hours: 1, package: '1.0.1', firmware: { ...FW, sent: true } }], entryWith({ [FW.id]: pending() }))
    expect(entry?.firmware?.[FW.id]).toMatchObject({ state: 'succeeded', deliveries: 1 })
  })

  it('records of other firmware keep what they said', () => {
    const done = pending({ version: '0.9.0', state: 'succeeded', settledAt: iso(0) })
    const { entry } = run([{ hours: 1, package: '1.0.0', firmware: { ...FW, sent: true } }], entryWith({ old: done }))
    expect(entry?.firmware?.old).toEqual(done)
  })

  it('failed: true marks it failed once and lists it in newlyFailed exactly once', () => {
    const { entry, failed } = run(
      [
        { hours: 1, package: '1.0.0', firmware: { ...FW, failed: true } },
        { hours: 2, package: '1.0.0', firmware: { ...FW, failed: true } },
        { hours: 3, package: '1.0.0', firmware: { ...FW, failed: true } },
      ],
      entryWith({ [FW.id]: pending({ deliveries: 2 }) }),
    )
    expect(failed).toEqual([[FW.id], [], []])
    expect(entry?.firmware?.[FW.id]).toEqual({ version: '1.0.1', from: '1.0.0', deliveries: 2, lastDeliveredAt: iso(0), state: 'failed', settledAt: iso(1) })
  })

  it('a failure verdict without a record still leaves a failed record (and counts once)', () => {
    const { entry, failed } = run([{ hours: 0, package: '1.0.0', firmware: { ...FW, failed: true } }])
    expect(failed).toEqual([[FW.id]])
    expect(entry?.firmware?.[FW.id]).toMatchObject({ version: '1.0.1', from: '1.0.0', state: 'failed', settledAt: iso(0) })
  })

  it('an entry without firmware records stays without the firmware key', () => {
    const { entry, failed } = run([
      { hours: 0, package: '1.0.0' },
      { hours: 25, package: '1.0.0' },
      { hours: 26, package: '1.0.1', firmware: { ...FW, sent: false } },
    ])
    expect(entry).toBeDefined()
    expect(entry).not.toHaveProperty('firmware')
    expect(failed.flat()).toEqual([])
  })
})
