// printable as a table: what a stored string may not send to the operator's terminal.
import { describe, expect, it } from 'vitest'
import { printable } from '../../../src/cli/printable'

describe('printable', () => {
  it.each([
    ['2.0.6(linux/testsim) 2026-11-23 19:46:54', '2.0.6(linux/testsim) 2026-11-23 19:46:54'],
    ['roof-07 ü', 'roof-07 ü'],
    ['\u001b[2J', '\\u001b[2J'],
    ['a\nb\r', 'a\\u000ab\\u000d'],
    ['\u009b31m', '\\u009b31m'],
    ['\u007f', '\\u007f'],
    ['abc\u202edcba', 'abc\\u202edcba'],
  ])('%j is %j', (text, shown) => {
    expect(printable(text)).toBe(shown)
  })
})
