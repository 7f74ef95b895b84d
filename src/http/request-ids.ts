// Request ids unique across replicas and restarts: a random prefix per process, then a counter.
import { randomBytes } from 'node:crypto'

/**
 * "q3Xz9KpL-1", "q3Xz9KpL-2", ...: 48 random bits tell replicas (and restarts) apart, the counter the
 * requests of one process; cheaper than a UUID per request, and short in every log line.
 */
export function requestIds(): () => string {
  const prefix = randomBytes(6).toString('base64url')
  let counter = 0
  return () => `${prefix}-${(++counter).toString(36)}`
}
