// TimedMinter: a CredentialMinter whose mints are timed by engine (cups_mint_duration_seconds).
import type { MintEngine } from '../config'
import { secondsSince } from '../observability/metrics'
import type { Metrics } from '../observability/metrics'
import type { ClientCredential, CredentialMinter } from './credential-minter'

export class TimedMinter implements CredentialMinter {
  constructor(
    private readonly inner: CredentialMinter,
    private readonly engine: MintEngine,
    private readonly metrics: Metrics,
  ) {}

  async mint(eui: string, signal?: AbortSignal): Promise<ClientCredential> {
    const start = process.hrtime.bigint()
    const credential = await this.inner.mint(eui, signal)
    // Successful mints only: a failure is counted as such, and a skipped one never ran.
    this.metrics.observe('mint_duration_seconds', secondsSince(start), { engine: this.engine })
    return credential
  }
}
