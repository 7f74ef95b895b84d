// Owns reading another process's CPU time and memory from /proc (Linux only), for before/after deltas.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

export interface ProcSample {
  /** utime + stime of the process itself. */
  readonly cpuSelfMs: number
  /** cutime + cstime: CPU of children it has waited for (the server's OpenSSL processes). */
  readonly cpuChildrenMs: number
  /** VmRSS: resident set now. */
  readonly rssKiB: number
  /** VmHWM: peak resident set so far. */
  readonly peakRssKiB: number
  readonly at: bigint
}

export interface ProcDelta {
  readonly cpuSelfMs: number
  readonly cpuChildrenMs: number
  readonly wallMs: number
}

let clockTicks: number | undefined

/** _SC_CLK_TCK: the unit of the CPU fields in /proc/<pid>/stat (100 on every Linux we run on). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

export function sampleProcess(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Field 2 (comm) is in parentheses and may contain spaces: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state), so field N is fields[N - 3]: utime 14, stime 15, cutime 16, cstime 17.
  const tick = (field: number): number => Number(fields[field - 3] ?? 0)
  const msPerTick = 1000 / ticksPerSecond()
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0)
  return {
    cpuSelfMs: (tick(14) + tick(15)) * msPerTick,
    cpuChildrenMs: (tick(16) + tick(17)) * msPerTick,
    rssKiB: kib('VmRSS'),
    peakRssKiB: kib('VmHWM'),
    at: process.hrtime.bigint(),
  }
}

export function delta(before: ProcSample, after: ProcSample): ProcDelta {
  return {
    cpuSelfMs: after.cpuSelfMs - before.cpuSelfMs,
    cpuChildrenMs: after.cpuChildrenMs - before.cpuChildrenMs,
    wallMs: Number(after.at - before.at) / 1e6,
  }
}
