// The metrics port: every metric the server exports, with its labels' possible values, and what the domain calls.

const KINDS = ['cups', 'tc'] as const
const OPERATIONS = ['get', 'put', 'delete', 'list'] as const
/** How a POST /update-info ended; `updated` = at least one segment sent. */
export const OUTCOMES = ['updated', 'no_change', 'bad_request', 'forbidden', 'not_registered', 'error'] as const
export type Outcome = (typeof OUTCOMES)[number]

// Seconds. A poll is a few ms; a cold S3 read or an OpenSSL mint tens; the response deadline is 8 s.
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export interface MetricSpec {
  readonly help: string
  /** Every value each label can take: each combination is exported from the start, at zero. */
  readonly labels?: Readonly<Record<string, readonly string[]>>
}

/** Counters; exported as cups_<name>. */
export const COUNTERS = {
  credentials_minted_total: { help: 'Credentials minted, by kind', labels: { kind: KINDS } },
  credentials_delivered_total: { help: 'Credential bundles sent to a gateway, by kind', labels: { kind: KINDS } },
  mint_failures_total: { help: 'Credential mints that failed (that segment answered "no change")' },
  storage_errors_total: { help: 'Storage calls that failed, by operation (absent objects and lost conditional writes are not failures)', labels: { operation: OPERATIONS } },
  storage_failures_total: { help: 'Requests or segments answered "no change" because storage failed' },
  deadline_exceeded_total: { help: 'Requests that hit RESPONSE_DEADLINE_MS and got "no change"' },
  unusable_bundles_total: { help: 'Stored bundles a station could not parse, withheld, by kind', labels: { kind: KINDS } },
  invalid_records_total: { help: 'Requests answered "no change" because the gateway record does not validate' },
  stuck_segments_total: {
    help: 'Segments the loop guard marked stuck (sent repeatedly, reports unchanged), by segment',
    labels: { segment: ['cupsUri', 'tcUri', 'cupsCredentials', 'tcCredentials'] },
  },
  inventory_write_failures_total: { help: 'Inventory updates that failed (answers are never affected)' },
  connections_refused_total: { help: 'Connections closed as soon as they were accepted, by reason', labels: { reason: ['per_address', 'max_connections'] } },
  log_lines_dropped_total: { help: 'Log lines dropped because the log destination was full, failing or too slow' },
  tls_reloads_total: { help: 'Reloads of the server certificate, key and client CAs, by result', labels: { result: ['applied', 'rejected'] } },
  firmware_downloads_total: {
    help: 'Firmware updates streamed to a gateway, by result: completed, or aborted (the link stalled or broke, or the stored update did not match its manifest)',
    labels: { result: ['completed', 'aborted'] },
  },
  firmware_withheld_total: {
    help: 'Updates a gateway was due but not sent this time, by reason',
    labels: { reason: ['download_cap', 'already_downloading', 'storage', 'inventory_unreadable'] },
  },
  firmware_failures_total: { help: 'Gateways the firmware loop guard marked failed (still on the old version after the last allowed delivery)' },
  firmware_rollouts_halted_total: { help: 'Rollouts that halted themselves on too many failed gateways' },
} as const satisfies Record<string, MetricSpec>

/** Histograms in seconds; exported as cups_<name> with _bucket, _sum and _count. */
export const HISTOGRAMS = {
  update_info_duration_seconds: { help: 'POST /update-info from request to response, by outcome', labels: { outcome: OUTCOMES }, buckets: LATENCY_BUCKETS },
  mint_duration_seconds: { help: 'One credential mint, including the wait for a free mint slot, by engine', labels: { engine: ['openssl', 'node'] }, buckets: LATENCY_BUCKETS },
  storage_operation_duration_seconds: { help: 'One call to the storage (past the read cache), by operation', labels: { operation: OPERATIONS }, buckets: LATENCY_BUCKETS },
} as const satisfies Record<string, MetricSpec & { readonly buckets: readonly number[] }>

/** Gauges; exported as cups_<name>. */
export const GAUGES = {
  server_certificate_expiry_timestamp_seconds: { help: 'When the server certificate the gateways see expires (Unix time)' },
  ca_certificate_expiry_timestamp_seconds: { help: 'When the CA that signs gateway certificates expires (Unix time)' },
  gateway_certificate_soonest_expiry_timestamp_seconds: {
    help: 'When the soonest-expiring gateway certificate in storage expires (Unix time; +Inf when there is none), by kind',
    labels: { kind: KINDS },
  },
  ready: { help: '1 when /readyz answers 200 (storage reachable, PKI loaded, not shutting down), else 0' },
  firmware_downloads_in_flight: { help: 'Firmware updates being streamed right now (this replica)' },
} as const satisfies Record<string, MetricSpec>

export type CounterName = keyof typeof COUNTERS
export type HistogramName = keyof typeof HISTOGRAMS
export type GaugeName = keyof typeof GAUGES
export type MetricName = CounterName | HistogramName | GaugeName

/** The labels a metric takes, each restricted to its declared values. */
export type LabelsOf<S> = S extends { readonly labels: infer L } ? { readonly [K in keyof L]: L[K] extends readonly (infer V)[] ? V : never } : Record<string, never>

export interface Metrics {
  increment<N extends CounterName>(name: N, labels?: LabelsOf<(typeof COUNTERS)[N]>): void
  observe<N extends HistogramName>(name: N, seconds: number, labels?: LabelsOf<(typeof HISTOGRAMS)[N]>): void
  set<N extends GaugeName>(name: N, value: number, labels?: LabelsOf<(typeof GAUGES)[N]>): void
}

/** For callers that measure nothing (the CLI). */
export const NO_METRICS: Metrics = {
  increment: () => undefined,
  observe: () => undefined,
  set: () => undefined,
}

/** Seconds since `start` (a process.hrtime.bigint() reading), for observe(). */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9
}
