// Version strings as gateways report them: package (version.txt) ordering, and the station's own version.

/**
 * Orders versions part by part: runs of digits numerically, anything else as text ("1.10.0" > "1.9.2",
 * "2.0.6" > "2.0.6-rc1" is not assumed: "-rc1" is just more text). Negative, zero or positive like a comparator.
 */
export function compareVersions(a: string, b: string): number {
  const left = parts(a)
  const right = parts(b)
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const x = left[i]
    const y = right[i]
    if (x === undefined) return -1
    if (y === undefined) return 1
    if (typeof x === 'number' && typeof y === 'number') {
      if (x !== y) return x < y ? -1 : 1
      continue
    }
    const order = String(x).localeCompare(String(y), 'en')
    if (order !== 0) return order
  }
  return 0
}

/** The station's version from its `station` field, e.g. "2.0.6(linux/testsim) 2026-11-23 19:46:54" → "2.0.6". */
export function stationVersion(station: string | null): string | undefined {
  return station === null ? undefined : /^\d+(?:\.\d+)*/.exec(station.trim())?.[0]
}

function parts(version: string): (number | string)[] {
  return (version.trim().match(/\d+|[^\d.]+/g) ?? []).map((part) => (/^\d+$/.test(part) ? Number(part) : part))
}
