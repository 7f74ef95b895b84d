// nextEntry and refusedEntry as tables: when the inventory is written, and when a segment counts as stuck.
import { describe, expect, it } from 'vitest'
import { crc32 } from '../../../src/cups/crc32'
import { isHeldBack, nextEntry, parseInventoryEntry, refusedEntry } from '../../../src/gateways/inventory'
import type { InventoryEntry, Observation, Segment } from '../../../src/gateways/inventory'

const HOUR = 3_600_000
const RULES = { stuckAfterSends: 3, stuckBackoffMs: 24 * HOUR, refreshMs: 24 * HOUR }
const T0 = new Date('2026-12-02T00:00:00.000Z')
const BUNDLE = Buffer.from('a bundle')
const at = (hours: number): Date => new Date(T0.getTime() + hours * HOUR)

function observation(now: Date, options: { reportedTc?: number; sent?: Segment[] } = {}): Observation {
  return {
    now,
    reported: { cupsUri: 'https://cups:443', tcUri: null, cupsCredCrc: 7, tcCredCrc: options.reportedTc ?? 0, keys: [], station: '2.0.6', model: 'linux', package: '1.0.0' },
    desired: { tcCredentials: BUNDLE },
    sent: options.sent ?? ['tcCredentials'],
    certificate: () => undefined,
  }
}

function run(steps: { hours: number; reportedTc?: number; sent?: Segment[] }[]): { entry: InventoryEntry | undefined; writes: boolean[]; stuck: Segment[][] } {
  let entry: InventoryEntry | undefined
  const writes: boolean[] = []
  const stuck: Segment[][] = []
  for (const step of steps) {
    const next = nextEntry(entry, observation(at(step.hours), step), RULES)
    writes.push(next.write)
    stuck.push([...next.newlyStuck])
    if (next.write) entry = next.entry
  }
  return { entry, writes, stuck }
}

describe('nextEntry', () => {
  it('a converged gateway: one write, then none until lastSeen is a refresh period old', () => {
    const steps = [0, 1, 23, 24, 30].map((hours) => ({ hours, reportedTc: crc32(BUNDLE), sent: [] }))
    const { entry, writes } = run(steps)
    expect(writes).toEqual([true, false, false, true, false])
    expect(entry).toMatchObject({ converged: true, firstSeen: T0.toISOString(), lastSeen: at(24).toISOString() })
  })

  it('the same bundle sent three times with the same report: stuck once, then held back', () => {
    const { entry, stuck } = run([{ hours: 0 }, { hours: 0.1 }, { hours: 0.2 }])
    expect(stuck).toEqual([[], [], ['tcCredentials']])
    expect(entry?.segments?.tcCredentials).toMatchObject({ sends: 3, stuckUntil: at(24.2).toISOString() })
    expect(isHeldBack(entry, 'tcCredentials', crc32(BUNDLE), 0, at(1))).toBe(true)
    expect(isHeldBack(entry, 'tcCredentials', crc32(BUNDLE), 0, at(25))).toBe(false)
    expect(isHeldBack(entry, 'tcCredentials', crc32(Buffer.from('a new bundle')), 0, at(1))).toBe(false)
    expect(isHeldBack(entry, 'tcCredentials', crc32(BUNDLE), 99, at(1))).toBe(false)
  })

  it('a report that changes in between is progress, not a loop', () => {
    const { stuck } = run([{ hours: 0, reportedTc: 1 }, { hours: 0.1, reportedTc: 2 }, { hours: 0.2, reportedTc: 3 }])
    expect(stuck.flat()).toEqual([])
  })

  it('after the back-off it tries again, counting from one', () => {
    const { entry } = run([{ hours: 0 }, { hours: 0.1 }, { hours: 0.2 }, { hours: 1, sent: [] }, { hours: 25 }])
    expect(entry?.segments?.tcCredentials).toEqual({ crc: crc32(BUNDLE), reportedCrc: 0, sends: 1 })
  })

  it('once the station holds the segment, nothing is watched', () => {
    const { entry } = run([{ hours: 0 }, { hours: 0.1, reportedTc: crc32(BUNDLE), sent: [] }])
    expect(entry?.segments).toBeUndefined()
  })
})

describe('what counts as a change', () => {
  const stored = (entry: InventoryEntry, order: (keys: string[]) => string[] = (keys) => keys): Buffer => {
    const fields = entry as unknown as Record<string, unknown>
    return Buffer.from(JSON.stringify(Object.fromEntries(order(Object.keys(fields)).map((key) => [key, fields[key]]))))
  }
  const converged = nextEntry(undefined, observation(T0, { reportedTc: crc32(BUNDLE), sent: [] }), RULES).entry

  it('an entry as stored, whatever its key order, is no change; a field one level down that differs is one', () => {
    for (const order of [(keys: string[]) => keys, (keys: string[]) => [...keys].reverse()]) {
      const previous = parseInventoryEntry(stored(converged, order))
      expect(nextEntry(previous, observation(at(1), { reportedTc: crc32(BUNDLE), sent: [] }), RULES).write).toBe(false)
    }
    const elsewhere = parseInventoryEntry(stored({ ...converged, reported: { ...converged.reported, cupsUri: 'https://other:443' } }))
    expect(nextEntry(elsewhere, observation(at(1), { reportedTc: crc32(BUNDLE), sent: [] }), RULES).write).toBe(true)
    const newKey = parseInventoryEntry(stored({ ...converged, reported: { ...converged.reported, keys: [1] } }))
    expect(nextEntry(newKey, observation(at(1), { reportedTc: crc32(BUNDLE), sent: [] }), RULES).write).toBe(true)
  })

  it('parses the same stored bytes once; other bytes are parsed on their own', () => {
    const body = stored(converged)
    expect(parseInventoryEntry(body)).toBe(parseInventoryEntry(body))
    expect(parseInventoryEntry(Buffer.from(body))).toEqual(parseInventoryEntry(body))
    expect(parseInventoryEntry(Buffer.from('{"version":2}'))).toBeUndefined()
    expect(parseInventoryEntry(Buffer.from('not json'))).toBeUndefined()
  })
})

describe('refusedEntry', () => {
  const seen = nextEntry(undefined, observation(T0), RULES).entry

  it('never creates an entry for a gateway never served unless told what it reported (registered ones)', () => {
    expect(refusedEntry(undefined, { now: T0, status: 403, reason: 'x' }, RULES)).toBeUndefined()
    const first = refusedEntry(undefined, { now: T0, status: 403, reason: 'gateway is disabled' }, RULES, true)
    // What a refused caller reported is nobody's word: the entry holds the refusal alone.
    expect(first).toMatchObject({ write: true, entry: { converged: false, model: null, station: null, lastRefusal: { status: 403, reason: 'gateway is disabled' } } })
  })

  it('writes a new refusal, not the same one again within the refresh period', () => {
    const first = refusedEntry(seen, { now: at(1), status: 403, reason: 'is provisioned' }, RULES)
    expect(first).toMatchObject({ write: true, entry: { lastRefusal: { status: 403, reason: 'is provisioned' } } })
    const again = refusedEntry(first?.entry, { now: at(2), status: 403, reason: 'is provisioned' }, RULES)
    expect(again?.write).toBe(false)
    expect(refusedEntry(first?.entry, { now: at(2), status: 404, reason: 'unknown gateway' }, RULES)?.write).toBe(true)
  })
})
