// compareVersions and stationVersion: how package versions are ordered and the station's own version is read.
import { describe, expect, it } from 'vitest'
import { compareVersions, stationVersion } from '../../../src/firmware/versions'

const sign = (a: string, b: string): number => Math.sign(compareVersions(a, b))

describe('compareVersions', () => {
  it.each([
    ['1.10.0', '1.9.2', 1],
    ['1.9.2', '1.10.0', -1],
    ['2.0', '2.0.1', -1],
    ['2.0.1', '2.0', 1],
    ['2.0.6', '2.0.6', 0],
    ['10.0.0', '9.99.99', 1],
    ['1.0.0', '1.0.1', -1],
  ] as const)('orders digit runs numerically: %s vs %s -> %i', (a, b, expected) => {
    expect(sign(a, b)).toBe(expected)
  })

  it.each([
    ['v1.10', 'v1.2', 1],
    ['1.0-beta', '1.0-alpha', 1],
    ['fw-2.0', 'fw-2.0', 0],
    ['2.0.6-rc2', '2.0.6-rc10', -1],
  ] as const)('compares text parts as text and the digits after them as numbers: %s vs %s -> %i', (a, b, expected) => {
    expect(sign(a, b)).toBe(expected)
  })

  it('is antisymmetric over a mixed set of versions', () => {
    const versions = ['1.0', '1.0.0', '1.0.1', '1.10.0', '1.9.2', '2.0.6-rc1', '2.0.6', 'v1.2', 'abc']
    for (const a of versions) {
      for (const b of versions) expect(sign(a, b)).toBe(-sign(b, a) || 0)
    }
  })

  it('ignores surrounding white space (version.txt often ends in a newline)', () => {
    expect(compareVersions('1.0.1\n', '1.0.1')).toBe(0)
  })
})

describe('stationVersion', () => {
  it.each([
    ['2.0.6(linux/testsim) 2026-11-23 19:46:54', '2.0.6'],
    ['2.0.5(rpi/std) 2021-01-01 00:00:00', '2.0.5'],
    ['  2.0.6 (linux)', '2.0.6'],
    ['2.1', '2.1'],
    ['2.0.6-rc1(linux/std)', '2.0.6'],
  ])('reads the leading version of %j as %j', (station, expected) => {
    expect(stationVersion(station)).toBe(expected)
  })

  it.each([
    ['no station field', null],
    ['an empty string', ''],
    ['no leading digits', 'linux 2.0.6'],
    ['a leading v', 'v2.0.6'],
    ['only text', 'unknown'],
  ])('is undefined for %s', (_case, station) => {
    expect(stationVersion(station)).toBeUndefined()
  })
})
