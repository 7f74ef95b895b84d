// PromMetrics: every declared series exported from the start, counts per label set, readings taken at scrape time.
import { describe, expect, it } from 'vitest'
import { COUNTERS, GAUGES, HISTOGRAMS } from '../../../src/observability/metrics'
import { PromMetrics } from '../../../src/observability/prom-metrics'
import { counterValue } from '../../support/spawn-server'

describe('PromMetrics', () => {
  it('exports every declared metric, each labelled series at zero, before anything happened', async () => {
    const text = await new PromMetrics({ processMetrics: false }).render()
    for (const name of Object.keys(COUNTERS)) expect(text).toMatch(new RegExp(`^# TYPE cups_${name} counter$`, 'm'))
    for (const name of Object.keys(HISTOGRAMS)) expect(text).toMatch(new RegExp(`^# TYPE cups_${name} histogram$`, 'm'))
    for (const name of Object.keys(GAUGES)) expect(text).toMatch(new RegExp(`^# TYPE cups_${name} gauge$`, 'm'))
    expect(counterValue(text, 'cups_connections_refused_total{reason="per_address"}')).toBe(0)
    expect(counterValue(text, 'cups_connections_refused_total{reason="max_connections"}')).toBe(0)
    for (const outcome of ['updated', 'no_change', 'bad_request', 'forbidden', 'not_registered', 'error']) {
      expect(counterValue(text, `cups_update_info_duration_seconds_count{outcome="${outcome}"}`)).toBe(0)
    }
    for (const operation of ['get', 'put', 'delete', 'list']) expect(counterValue(text, `cups_storage_errors_total{operation="${operation}"}`)).toBe(0)
    expect(counterValue(text, 'cups_mint_failures_total')).toBe(0)
  })

  it('counts per label set and reports a histogram through its buckets, sum and count', async () => {
    const metrics = new PromMetrics({ processMetrics: false })
    metrics.increment('credentials_minted_total', { kind: 'cups' })
    metrics.increment('credentials_minted_total', { kind: 'cups' })
    metrics.observe('update_info_duration_seconds', 0.004, { outcome: 'no_change' })
    metrics.observe('update_info_duration_seconds', 0.2, { outcome: 'no_change' })
    const text = await metrics.render()
    expect(counterValue(text, 'cups_credentials_minted_total{kind="cups"}')).toBe(2)
    expect(counterValue(text, 'cups_credentials_minted_total{kind="tc"}')).toBe(0)
    expect(counterValue(text, 'cups_update_info_duration_seconds_bucket{le="0.005",outcome="no_change"}')).toBe(1)
    expect(counterValue(text, 'cups_update_info_duration_seconds_bucket{le="+Inf",outcome="no_change"}')).toBe(2)
    expect(counterValue(text, 'cups_update_info_duration_seconds_sum{outcome="no_change"}')).toBeCloseTo(0.204)
    expect(await metrics.value('update_info_duration_seconds', { outcome: 'no_change' })).toBe(2)
    expect(await metrics.value('credentials_minted_total', { kind: 'cups' })).toBe(2)
  })

  it('reads a counter or gauge from its reading at every scrape, per label set or as one number', async () => {
    const metrics = new PromMetrics({ processMetrics: false })
    let dropped = 0
    metrics.readAtScrape('log_lines_dropped_total', () => dropped)
    metrics.readAtScrape('gateway_certificate_soonest_expiry_timestamp_seconds', () => [
      { labels: { kind: 'cups' }, value: 1_900_000_000 },
      { labels: { kind: 'tc' }, value: Infinity },
    ])
    expect(counterValue(await metrics.render(), 'cups_log_lines_dropped_total')).toBe(0)
    dropped = 42
    const text = await metrics.render()
    expect(counterValue(text, 'cups_log_lines_dropped_total')).toBe(42)
    expect(counterValue(text, 'cups_gateway_certificate_soonest_expiry_timestamp_seconds{kind="cups"}')).toBe(1_900_000_000)
    expect(text).toMatch(/^cups_gateway_certificate_soonest_expiry_timestamp_seconds\{kind="tc"\} \+Inf$/m)
  })

  it('keeps two servers in one process apart (a Registry each) and names the build', async () => {
    const a = new PromMetrics({ buildInfo: { version: '1.2.3', node_version: 'v24.0.0' } })
    const b = new PromMetrics({ buildInfo: { version: '1.2.3', node_version: 'v24.0.0' } })
    a.increment('invalid_records_total')
    expect(await a.value('invalid_records_total')).toBe(1)
    expect(await b.value('invalid_records_total')).toBe(0)
    const text = await a.render()
    expect(text).toMatch(/^cups_build_info\{version="1\.2\.3",node_version="v24\.0\.0"\} 1$/m)
    // Node's process metrics, unprefixed as the usual dashboards expect them.
    expect(text).toMatch(/^process_cpu_seconds_total /m)
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m)
    expect(a.contentType).toMatch(/^text\/plain; version=0\.0\.4/)
  })
})
