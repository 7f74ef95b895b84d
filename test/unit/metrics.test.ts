// Metrics: counters kept elsewhere are read at every render; counted ones render per label set.
import { describe, expect, it } from 'vitest'
import { Metrics } from '../../src/metrics'

describe('Metrics', () => {
  it('renders an observed counter from its callback at every scrape', () => {
    const metrics = new Metrics()
    let dropped = 0
    metrics.observe('log_lines_dropped_total', () => dropped)
    expect(metrics.render()).toMatch(/^cups_log_lines_dropped_total 0$/m)
    dropped = 42
    expect(metrics.render()).toMatch(/^cups_log_lines_dropped_total 42$/m)
    expect(metrics.value('log_lines_dropped_total')).toBe(42)
  })

  it('renders 0 for a counter nobody observes or increments, and each label set once counted', () => {
    const metrics = new Metrics()
    expect(metrics.render()).toMatch(/^cups_log_lines_dropped_total 0$/m)
    metrics.increment('connections_refused_total', { reason: 'per_address' })
    metrics.increment('connections_refused_total', { reason: 'per_address' })
    const text = metrics.render()
    expect(text).toMatch(/^# TYPE cups_connections_refused_total counter$/m)
    expect(text).toMatch(/^cups_connections_refused_total\{reason="per_address"\} 2$/m)
  })
})
