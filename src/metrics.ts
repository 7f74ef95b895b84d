// Metrics: a handful of process-wide counters, rendered in the Prometheus text format at GET /metrics.

export const COUNTERS = {
  update_info_requests_total: 'update-info requests answered, by HTTP status',
  storage_failures_total: 'storage reads or writes that failed (answered with "no change")',
  mint_failures_total: 'credential mints that failed (answered with "no change" for that segment)',
  deadline_exceeded_total: 'requests that hit the response deadline and got "no change"',
  credentials_minted_total: 'credentials minted, by kind',
  credentials_delivered_total: 'credential blobs sent to a gateway, by kind',
  unusable_bundles_total: 'stored bundles a station could not parse, withheld',
  invalid_records_total: 'requests answered "no change" because the gateway record does not validate',
  stuck_segments_total: 'segments marked stuck by the loop guard (sent repeatedly, reports unchanged), by segment',
  inventory_write_failures_total: 'inventory updates that failed (answers are never affected)',
  connections_refused_total: 'connections closed as soon as they were accepted, by reason (per_address, max_connections)',
  log_lines_dropped_total: 'log lines dropped because the log destination was full, failing or too slow',
} as const

export type CounterName = keyof typeof COUNTERS

export class Metrics {
  private readonly values = new Map<string, number>()
  /** Counters kept elsewhere (e.g. by the log destination), read at every scrape. */
  private readonly observed = new Map<CounterName, () => number>()

  /** Renders name (without labels) from read() instead of from increment calls. */
  observe(name: CounterName, read: () => number): void {
    this.observed.set(name, read)
  }

  increment(name: CounterName, labels: Readonly<Record<string, string | number>> = {}): void {
    const id = name + formatLabels(labels)
    this.values.set(id, (this.values.get(id) ?? 0) + 1)
  }

  value(name: CounterName, labels: Readonly<Record<string, string | number>> = {}): number {
    const read = this.observed.get(name)
    if (read !== undefined && Object.keys(labels).length === 0) return read()
    return this.values.get(name + formatLabels(labels)) ?? 0
  }

  render(): string {
    const lines: string[] = []
    for (const [name, help] of Object.entries(COUNTERS)) {
      lines.push(`# HELP cups_${name} ${help}`, `# TYPE cups_${name} counter`)
      const read = this.observed.get(name as CounterName)
      if (read !== undefined) {
        lines.push(`cups_${name} ${read()}`)
        continue
      }
      const series = [...this.values].filter(([id]) => id === name || id.startsWith(`${name}{`))
      if (series.length === 0) lines.push(`cups_${name} 0`)
      for (const [id, value] of series) lines.push(`cups_${id} ${value}`)
    }
    return `${lines.join('\n')}\n`
  }
}

function formatLabels(labels: Readonly<Record<string, string | number>>): string {
  const entries = Object.entries(labels)
  if (entries.length === 0) return ''
  return `{${entries.map(([key, value]) => `${key}="${String(value).replace(/["\\\n]/g, '_')}"`).join(',')}}`
}
