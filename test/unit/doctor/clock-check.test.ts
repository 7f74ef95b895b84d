// clockChecks: this host's clock against the storage's stamp on the probe, and against the gateway CA's notBefore.
import { describe, expect, it } from 'vitest'
import { clockChecks, clockSkewMs, formatDuration } from '../../../src/doctor/clock-check'
import type { ClockReading } from '../../../src/doctor/clock-check'

const T = Date.parse('2026-06-01T12:00:00Z')

function reading(storageOffsetMs: number, writeMs = 40): ClockReading {
  return { before: new Date(T), after: new Date(T + writeMs), storage: new Date(T + storageOffsetMs), source: "the probe's S3 Last-Modified" }
}

describe('clockSkewMs', () => {
  it('is zero while the stamp falls inside the write, give or take the stamp resolution (whole seconds on S3)', () => {
    expect(clockSkewMs(reading(20))).toBe(0)
    expect(clockSkewMs(reading(-1_999))).toBe(0)
    expect(clockSkewMs(reading(2_040))).toBe(0)
  })

  it('is positive when this host is ahead of the storage, negative when behind', () => {
    expect(clockSkewMs(reading(-10 * 60_000))).toBe(10 * 60_000)
    expect(clockSkewMs(reading(7 * 60_000 + 40))).toBe(-7 * 60_000)
  })
})

describe('clockChecks', () => {
  it('ok within the resolution, naming where the storage time came from', () => {
    expect(clockChecks(reading(0), undefined, undefined, new Date(T))).toEqual([
      { check: 'clock', status: 'ok', detail: "this host's clock agrees with the storage's (the probe's S3 Last-Modified) to within 2 s" },
    ])
  })

  it('ok under a minute off, warn beyond, FAIL beyond five minutes', () => {
    expect(clockChecks(reading(-30_000), undefined, undefined, new Date(T))[0]).toMatchObject({ status: 'ok', detail: expect.stringMatching(/30 s ahead of/) as unknown })
    expect(clockChecks(reading(-90_000), undefined, undefined, new Date(T))[0]).toMatchObject({ status: 'warn', detail: expect.stringMatching(/1 min 30 s ahead of/) as unknown })
    const failed = clockChecks(reading(7 * 60_000 + 40), undefined, undefined, new Date(T))[0]
    expect(failed).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^this host's clock is 7 min behind the storage's .*NTP/) as unknown })
  })

  it('warns when the storage time could not be read, and says nothing when the storage keeps none', () => {
    expect(clockChecks(undefined, 'HeadObject 403', undefined, new Date(T))).toEqual([
      { check: 'clock', status: 'warn', detail: "the storage's clock could not be read (HeadObject 403), so this host's clock was not compared with it" },
    ])
    expect(clockChecks(undefined, undefined, undefined, new Date(T))).toEqual([])
  })

  it("fails a clock before the gateway CA's notBefore, whatever the storage says", () => {
    const checks = clockChecks(reading(0), undefined, new Date(T + 1000), new Date(T))
    expect(checks.map((check) => check.status)).toEqual(['ok', 'fail'])
    expect(checks[1]?.detail).toMatch(/^this host's clock says 2026-06-01T12:00:00.000Z, before the gateway CA's notBefore 2026-06-01T12:00:01.000Z/)
  })
})

describe('formatDuration', () => {
  it.each([
    [400, '400 ms'],
    [3_000, '3 s'],
    [423_000, '7 min 3 s'],
    [7_500_000, '2 h 5 min'],
    [2 * 86_400_000 + 3_600_000, '2 d 1 h'],
    [86_400_000 + 59_000, '1 d'],
  ])('%d ms is %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })
})
