// Every series name the server exports (from the metrics table), and the metric names a PromQL expression uses.
import { COUNTERS, GAUGES, HISTOGRAMS } from '../../src/observability/metrics'

/** prom-client's default process metrics that dashboards and alerts here use. */
const PROCESS_METRICS = ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']

export const EXPORTED_METRICS: readonly string[] = [
  ...Object.keys(COUNTERS).map((name) => `cups_${name}`),
  ...Object.keys(GAUGES).map((name) => `cups_${name}`),
  ...Object.keys(HISTOGRAMS).flatMap((name) => ['_bucket', '_sum', '_count'].map((suffix) => `cups_${name}${suffix}`)),
  'cups_build_info',
  ...PROCESS_METRICS,
  // Prometheus's own series for every target.
  'up',
]

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, label names or label values. */
export function metricsIn(expr: string): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""')
  const withoutLabels = withoutStrings.replace(/\{[^}]*\}/g, '').replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
  const names = [...withoutLabels.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((match) => match[1] ?? '')
  return names.filter((name) => !/^(and|or|unless|bool|offset|time|le|[0-9]+[smhdwy]?|[smhdwy])$/.test(name) && !/^\d/.test(name))
}
