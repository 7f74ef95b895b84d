// durationArgument: a span as an operator types it (`12h`, `30d`, `2w`), in milliseconds, or commander's usage error.
import { InvalidArgumentError } from 'commander'

const UNIT_MS = { h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const
// Whole units only: "1.5d" or "90m" would be guesses about what the operator meant.
const DURATION = /^(\d{1,6})([hdw])$/

/** Throws InvalidArgumentError (commander prints it and exits 2) for anything but a whole number of hours, days or weeks. */
export function durationArgument(text: string): number {
  const match = DURATION.exec(text)
  if (match === null) throw new InvalidArgumentError('write it as a whole number of hours, days or weeks, e.g. 12h, 30d or 2w')
  const [, count, unit] = match as unknown as [string, string, keyof typeof UNIT_MS]
  return Number(count) * UNIT_MS[unit]
}
