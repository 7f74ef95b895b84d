// The test radosgw (bash test/s3/radosgw.sh start): where it is, and whether a suite that needs it runs.
import { spawnSync } from 'node:child_process'

export const RADOSGW = {
  endpoint: process.env.S3_TEST_ENDPOINT ?? 'http://127.0.0.1:7480',
  accessKeyId: process.env.S3_TEST_ACCESS_KEY_ID ?? 'TESTKEY',
  secretAccessKey: process.env.S3_TEST_SECRET_ACCESS_KEY ?? 'TESTSECRET',
} as const

export interface RadosgwGate {
  /** Something answers at the endpoint. */
  readonly reachable: boolean
  /** Run the suite: radosgw answers, or CI=true, where it is required and its absence must fail. */
  readonly enabled: boolean
}

/** Whether anything answers HTTP at url, synchronously: describe.skipIf needs the answer at collection time. */
export function isReachable(url: string): boolean {
  const probe = `fetch(process.argv[1], { signal: AbortSignal.timeout(3000) }).then(() => process.exit(0), () => process.exit(1))`
  return spawnSync(process.execPath, ['-e', probe, url], { timeout: 5000, stdio: 'ignore' }).status === 0
}

/** Probes once per test file; a local run without radosgw skips and says why. */
export function radosgwGate(suite: string): RadosgwGate {
  const reachable = isReachable(RADOSGW.endpoint)
  const inCi = process.env.CI === 'true'
  if (!reachable && !inCi) {
    console.warn(
      `radosgw: nothing answers at ${RADOSGW.endpoint}; skipping ${suite} (CI is not set). ` +
        'Run `bash test/s3/radosgw.sh start` to include it; under CI=true it is required and fails instead.',
    )
  }
  return { reachable, enabled: reachable || inCi }
}
