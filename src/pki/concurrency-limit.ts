// ConcurrencyLimit: at most N async tasks running at once, the rest started in arrival (FIFO) order.

/**
 * Bounds how many mints run at once (OpenSSL children, or key generation on libuv's thread pool), so a
 * burst of new gateways cannot swamp the host. Hand-written because it is twenty lines; p-limit is
 * ESM-only and adds a dependency.
 */
export class ConcurrencyLimit {
  private readonly waiting: (() => void)[] = []
  private running = 0

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${max}`)
  }

  /** Tasks currently running. */
  get active(): number {
    return this.running
  }

  /** Tasks waiting for a slot. */
  get pending(): number {
    return this.waiting.length
  }

  /**
   * Runs task when a slot is free; settles as the task does. A synchronous throw counts as a rejection.
   * If `signal` has fired by the time the slot comes, the task is not started: under a burst the queue can
   * outlast the response deadline, and work nobody waits for any more only delays the rest.
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.running >= this.max) {
      // The slot is handed over by release(), so running is not decremented in between and no late
      // arrival can jump the queue.
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    } else {
      this.running++
    }
    try {
      signal?.throwIfAborted()
      return await task()
    } finally {
      this.release()
    }
  }

  private release(): void {
    const next = this.waiting.shift()
    if (next) next()
    else this.running--
  }
}
