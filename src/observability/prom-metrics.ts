// PromMetrics: the metrics port on prom-client, one Registry per server (two replicas in one process never mix).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Metric } from 'prom-client'
import { COUNTERS, GAUGES, HISTOGRAMS } from './metrics'
import type { CounterName, GaugeName, HistogramName, LabelsOf, MetricName, Metrics, MetricSpec } from './metrics'

const PREFIX = 'cups_'

/** A value read at scrape time instead of set by calls: one number, or one per label combination. */
export type Reading = number | readonly { readonly labels: Readonly<Record<string, string>>; readonly value: number }[]

export interface PromMetricsOptions {
  /** Labels of cups_build_info (value 1): version, node_version, ... */
  readonly buildInfo?: Readonly<Record<string, string>>
  /** Node's process metrics (CPU, memory, event loop lag, GC), unprefixed as dashboards expect; default true. */
  readonly processMetrics?: boolean
}

type Labels = Readonly<Record<string, string>>

export class PromMetrics implements Metrics {
  readonly registry = new Registry()
  private readonly counters = new Map<string, Counter>()
  private readonly histograms = new Map<string, Histogram>()
  private readonly gauges = new Map<string, Gauge>()
  private readonly readings = new Map<MetricName, () => Reading | Promise<Reading>>()

  constructor(options: PromMetricsOptions = {}) {
    const readings = this.readings
    for (const [name, spec] of entries(COUNTERS)) {
      const labels = spec.labels ?? {}
      const counter = new Counter({
        name: PREFIX + name,
        help: spec.help,
        labelNames: Object.keys(labels),
        registers: [this.registry],
        async collect() {
          const read = readings.get(name as CounterName)
          if (read !== undefined) apply(this, await read(), (labels, value) => {
            this.inc(labels, value)
          })
        },
      })
      for (const combination of combinations(labels)) counter.inc(combination, 0)
      this.counters.set(name, counter)
    }
    for (const [name, spec] of entries<MetricSpec & { readonly buckets: readonly number[] }>(HISTOGRAMS)) {
      const labels = spec.labels ?? {}
      const histogram = new Histogram({ name: PREFIX + name, help: spec.help, labelNames: Object.keys(labels), buckets: [...spec.buckets], registers: [this.registry] })
      for (const combination of combinations(labels)) histogram.zero(combination)
      this.histograms.set(name, histogram)
    }
    for (const [name, spec] of entries(GAUGES)) {
      const labels = spec.labels ?? {}
      const gauge = new Gauge({
        name: PREFIX + name,
        help: spec.help,
        labelNames: Object.keys(labels),
        registers: [this.registry],
        async collect() {
          const read = readings.get(name as GaugeName)
          if (read !== undefined) apply(this, await read(), (labels, value) => {
            this.set(labels, value)
          })
        },
      })
      for (const combination of combinations(labels)) gauge.set(combination, 0)
      this.gauges.set(name, gauge)
    }
    const buildInfo = options.buildInfo ?? {}
    new Gauge({ name: `${PREFIX}build_info`, help: 'Always 1; the labels say which build runs', labelNames: Object.keys(buildInfo), registers: [this.registry] }).set(buildInfo, 1)
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry })
  }

  increment<N extends CounterName>(name: N, labels?: LabelsOf<(typeof COUNTERS)[N]>): void {
    this.counters.get(name)?.inc(labels ?? {}, 1)
  }

  observe<N extends HistogramName>(name: N, seconds: number, labels?: LabelsOf<(typeof HISTOGRAMS)[N]>): void {
    this.histograms.get(name)?.observe(labels ?? {}, seconds)
  }

  set<N extends GaugeName>(name: N, value: number, labels?: LabelsOf<(typeof GAUGES)[N]>): void {
    this.gauges.get(name)?.set(labels ?? {}, value)
  }

  /** The metric is read from `read` at every scrape (a count kept elsewhere, a state computed on demand). */
  readAtScrape(name: CounterName | GaugeName, read: () => Reading | Promise<Reading>): void {
    this.readings.set(name, read)
  }

  /** The text exposition format. */
  render(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** One series' current value (a histogram's count), for tests and benchmarks. */
  async value(name: MetricName, labels: Labels = {}): Promise<number> {
    const metric: Metric | undefined = this.registry.getSingleMetric(PREFIX + name)
    if (metric === undefined) throw new Error(`no metric ${PREFIX}${name}`)
    const { values } = await metric.get()
    const wanted = this.histograms.has(name) ? `${PREFIX}${name}_count` : PREFIX + name
    const series = values.find((entry) => ((entry as { metricName?: string }).metricName ?? PREFIX + name) === wanted && sameLabels(entry.labels, labels))
    return series?.value ?? 0
  }
}

function entries<S extends MetricSpec = MetricSpec>(table: object): [string, S][] {
  return Object.entries(table) as [string, S][]
}

/** Sets a metric from a reading; a plain number is the metric without labels. */
function apply(metric: Counter | Gauge, reading: Reading, write: (labels: Labels, value: number) => void): void {
  metric.reset()
  if (typeof reading === 'number') write({}, reading)
  else for (const { labels, value } of reading) write(labels, value)
}

/** Every combination of the declared label values; one empty combination for a metric without labels. */
function combinations(labels: Readonly<Record<string, readonly string[]>>): Labels[] {
  let result: Record<string, string>[] = [{}]
  for (const [label, values] of Object.entries(labels)) {
    result = result.flatMap((partial) => values.map((value) => ({ ...partial, [label]: value })))
  }
  return result
}

function sameLabels(actual: Partial<Record<string, string | number>>, wanted: Labels): boolean {
  const keys = Object.keys(wanted)
  return keys.length === Object.keys(actual).length && keys.every((key) => String(actual[key] ?? '') === wanted[key])
}
