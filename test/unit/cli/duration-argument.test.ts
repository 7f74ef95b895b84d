// durationArgument as a table: the spans `--expiring-within` takes, and the usage error for anything else.
import { InvalidArgumentError } from 'commander'
import { describe, expect, it } from 'vitest'
import { durationArgument } from '../../../src/cli/duration-argument'

const HOUR = 3_600_000

describe('durationArgument', () => {
  it.each([
    ['12h', 12 * HOUR],
    ['30d', 30 * 24 * HOUR],
    ['2w', 14 * 24 * HOUR],
    ['0d', 0],
    ['1h', HOUR],
  ])('%s is %d ms', (text, ms) => {
    expect(durationArgument(text)).toBe(ms)
  })

  it.each(['', '30', 'd', '30D', '1.5d', '-1d', '30 d', ' 30d', '90m', '1y', '1234567d', '30days'])('refuses %j with a usage error', (text) => {
    expect(() => durationArgument(text)).toThrow(InvalidArgumentError)
    expect(() => durationArgument(text)).toThrow(/12h, 30d or 2w/)
  })
})
