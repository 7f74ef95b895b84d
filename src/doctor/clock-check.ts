// clockChecks: is this host's clock right? Against the storage's time stamp on the probe, and against the gateway CA's notBefore.
import { fail, ok, warn } from './doctor-check'
import type { DoctorCheck } from './doctor-check'

/** This host's clock just before and just after the probe was written, and the storage's stamp on it. */
export interface ClockReading {
  readonly before: Date
  readonly after: Date
  readonly storage: Date
  /** Where the stamp comes from, for the line ("the probe's S3 Last-Modified"). */
  readonly source: string
}

// S3 Last-Modified has whole seconds, and some filesystems keep mtimes in 1-2 s steps.
export const CLOCK_RESOLUTION_MS = 2_000
export const CLOCK_WARN_MS = 60_000
// Certificates are minted with notBefore = now; stations and replicas several minutes off start to disagree.
export const CLOCK_FAIL_MS = 5 * 60_000

/**
 * Certificate validity, renewal windows and expiry are all judged by this clock: a wrong one fails fresh
 * certificates as "not yet valid" and renews too early or too late. reading is undefined when the storage
 * gives no time stamp (problem says why, when it failed).
 */
export function clockChecks(reading: ClockReading | undefined, problem: string | undefined, caNotBefore: Date | undefined, now: Date): DoctorCheck[] {
  const checks: DoctorCheck[] = []
  if (reading !== undefined) checks.push(skewCheck(reading))
  else if (problem !== undefined) checks.push(warn('clock', `the storage's clock could not be read (${problem}), so this host's clock was not compared with it`))
  if (caNotBefore !== undefined && now.getTime() < caNotBefore.getTime()) {
    checks.push(
      fail(
        'clock',
        `this host's clock says ${now.toISOString()}, before the gateway CA's notBefore ${caNotBefore.toISOString()}: ` +
          'the clock is wrong (no CA is made in the future), and every certificate is judged by it; fix the time (NTP)',
      ),
    )
  }
  return checks
}

/** Positive: this host is ahead of the storage. Zero within the stamp's resolution around the write. */
export function clockSkewMs(reading: ClockReading): number {
  const stamp = reading.storage.getTime()
  if (stamp < reading.before.getTime() - CLOCK_RESOLUTION_MS) return reading.before.getTime() - stamp
  if (stamp > reading.after.getTime() + CLOCK_RESOLUTION_MS) return reading.after.getTime() - stamp
  return 0
}

function skewCheck(reading: ClockReading): DoctorCheck {
  const skew = clockSkewMs(reading)
  const size = Math.abs(skew)
  if (size === 0) return ok('clock', `this host's clock agrees with the storage's (${reading.source}) to within ${formatDuration(CLOCK_RESOLUTION_MS)}`)
  const how = `this host's clock is ${formatDuration(size)} ${skew > 0 ? 'ahead of' : 'behind'} the storage's (${reading.source})`
  if (size > CLOCK_FAIL_MS) {
    return fail('clock', `${how}: certificate validity, renewal and expiry are judged by it; fix the time (NTP) on this host or on the storage`)
  }
  if (size > CLOCK_WARN_MS) return warn('clock', `${how}; keep both in sync (NTP) before it grows past ${formatDuration(CLOCK_FAIL_MS)}`)
  return ok('clock', how)
}

/** "3 s", "7 min 3 s", "2 h 5 min", "3 d 4 h": two units at most, whole numbers. */
export function formatDuration(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1_000],
  ]
  const total = Math.round(ms / 1000) * 1000
  const first = units.findIndex(([, size]) => total >= size)
  if (first === -1) return `${Math.round(ms)} ms`
  const parts: string[] = []
  let rest = total
  for (const [name, size] of units.slice(first, first + 2)) {
    const count = Math.floor(rest / size)
    rest -= count * size
    if (count > 0) parts.push(`${count} ${name}`)
  }
  return parts.join(' ')
}
