// Readiness: whether this replica can serve gateways now (storage reachable, PKI usable, not shutting down).

/** One condition: resolves with nothing when it holds, with the problem in words when not; a throw counts as not. */
export type ReadinessCheck = () => Promise<string | undefined> | string | undefined

export interface ReadinessReport {
  readonly ready: boolean
  /** "ok" or the problem, per check, plus shutdown. */
  readonly checks: Readonly<Record<string, string>>
}

export interface ReadinessOptions {
  /** A check that has not answered after this long fails (a storage call that hangs). */
  readonly timeoutMs: number
  /**
   * A report younger than this is reused: a load balancer, Prometheus and a curl loop together cost at most
   * one round of checks (one storage read) per interval. Default 1000 ms.
   */
  readonly reuseMs?: number
  readonly now?: () => number
}

export class Readiness {
  private shuttingDown = false
  private last: { readonly at: number; readonly report: ReadinessReport } | undefined
  private running: Promise<ReadinessReport> | undefined

  constructor(
    private readonly checks: Readonly<Record<string, ReadinessCheck>>,
    private readonly options: ReadinessOptions,
  ) {}

  /** From now on not ready: a load balancer stops sending new gateways while in-flight requests finish. */
  shutDown(): void {
    this.shuttingDown = true
    this.last = undefined
  }

  async report(): Promise<ReadinessReport> {
    const now = this.options.now ?? Date.now
    if (this.last !== undefined && now() - this.last.at < (this.options.reuseMs ?? 1000)) return this.last.report
    // Concurrent callers share one round of checks.
    this.running ??= this.evaluate().finally(() => {
      this.running = undefined
    })
    const report = await this.running
    this.last = { at: now(), report }
    return report
  }

  private async evaluate(): Promise<ReadinessReport> {
    const entries = Object.entries(this.checks)
    const results = await Promise.all(entries.map(([, check]) => this.run(check)))
    const checks: Record<string, string> = {}
    entries.forEach(([name], i) => (checks[name] = results[i] ?? 'ok'))
    checks.shutdown = this.shuttingDown ? 'shutting down' : 'ok'
    return { ready: Object.values(checks).every((value) => value === 'ok'), checks }
  }

  private async run(check: ReadinessCheck): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => { resolve(`no answer within ${this.options.timeoutMs} ms`); }, this.options.timeoutMs)
    })
    try {
      return await Promise.race([Promise.resolve().then(check), timeout])
    } catch (err) {
      return (err as Error).message
    } finally {
      clearTimeout(timer)
    }
  }
}
