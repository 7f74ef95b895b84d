// The shipped Grafana dashboard: typed against Grafana's own schema (@grafana/schema), laid out on the 24-column grid, querying only metrics the server exports.
import type { Dashboard, Panel } from '@grafana/schema'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'
import shipped from '../../../deploy/grafana/dashboards/cups-server.json'
import { EXPORTED_METRICS, metricsIn } from '../../support/metric-names'

const root = path.resolve(__dirname, '../../..')
// A type error here (checked by `npm run check-types`) is a field Grafana's dashboard schema does not allow.
// JSON holds numbers where the schema has numeric enums (graphTooltip); tsc checks those numbers against the enum.
// eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
const dashboard: Dashboard = shipped
const panels = (dashboard.panels ?? []) as Panel[]

describe('the Grafana dashboard', () => {
  it('has what a provisioned dashboard needs: a uid of at most 40 characters, a title, a schema version', () => {
    expect(dashboard.uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/)
    expect(dashboard.title).toBe('CUPS server')
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36)
  })

  it('places every panel on the 24-column grid, with a unique id, and no two overlapping', () => {
    const ids = panels.map((panel) => panel.id)
    expect(new Set(ids).size).toBe(panels.length)
    const cells = new Set<string>()
    for (const panel of panels) {
      const grid = panel.gridPos
      if (grid === undefined) throw new Error(`panel ${panel.title ?? ''} has no gridPos`)
      expect(grid.x + grid.w, panel.title).toBeLessThanOrEqual(24)
      expect(grid.w).toBeGreaterThan(0)
      expect(grid.h).toBeGreaterThan(0)
      for (let x = grid.x; x < grid.x + grid.w; x++) {
        for (let y = grid.y; y < grid.y + grid.h; y++) {
          const cell = `${x},${y}`
          expect(cells.has(cell), `${panel.title ?? ''} overlaps at ${cell}`).toBe(false)
          cells.add(cell)
        }
      }
    }
  })

  it('queries the provisioned Prometheus data source, each target with a refId and an expression', () => {
    const datasources = parse(readFileSync(path.join(root, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as {
      datasources: { uid: string; type: string }[]
    }
    const [provisioned] = datasources.datasources
    for (const panel of panels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: provisioned?.uid })
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0)
      for (const target of panel.targets ?? []) {
        expect(target.refId).toMatch(/^[A-Z]$/)
        expect(String((target as { expr?: unknown }).expr)).not.toBe('')
      }
    }
  })

  it('shows polls by outcome, latency, mints, storage errors and the soonest expiry, with metrics the server exports', () => {
    const used = new Set(panels.flatMap((panel) => (panel.targets ?? []).flatMap((target) => metricsIn(String((target as { expr?: unknown }).expr)))))
    for (const metric of used) expect(EXPORTED_METRICS, metric).toContain(metric)
    for (const wanted of [
      'cups_update_info_duration_seconds_count',
      'cups_update_info_duration_seconds_bucket',
      'cups_credentials_minted_total',
      'cups_mint_duration_seconds_bucket',
      'cups_storage_errors_total',
      'cups_gateway_certificate_soonest_expiry_timestamp_seconds',
      'cups_ready',
    ]) {
      expect(used, wanted).toContain(wanted)
    }
  })
})
