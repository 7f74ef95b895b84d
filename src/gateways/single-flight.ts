// SingleFlight: concurrent calls for the same key share one running task and its result.

/**
 * At most one task per key in flight; callers arriving while it runs get the same promise (and the
 * same rejection). Once it settles the key is free again, so a later call starts a fresh task:
 * results are never cached.
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>()

  /** Keys with a task in flight. */
  get size(): number {
    return this.inFlight.size
  }

  /** True while a task for key runs. */
  has(key: string): boolean {
    return this.inFlight.has(key)
  }

  run(key: string, task: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key)
    if (running) return running
    // Async wrapper: a task that throws synchronously still yields a rejected promise and frees the key.
    const started = (async () => task())()
    this.inFlight.set(key, started)
    const forget = (): void => {
      if (this.inFlight.get(key) === started) this.inFlight.delete(key)
    }
    // Both handlers given: the cleanup chain itself never rejects, so no unhandled rejection.
    started.then(forget, forget)
    return started
  }
}
