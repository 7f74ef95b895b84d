// The compose files, validated against the Compose Specification's JSON schema (no Docker engine here), and the hardening and wiring they promise.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { DCLinter } from 'dclint'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'
import { EXPORTED_METRICS, metricsIn } from '../../support/metric-names'

const root = path.resolve(__dirname, '../../..')
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8')

interface Service {
  image?: string
  build?: unknown
  profiles?: string[]
  read_only?: boolean
  cap_drop?: string[]
  security_opt?: string[]
  mem_limit?: string
  restart?: string
  healthcheck?: { test: string[] }
  ports?: string[]
  volumes?: string[]
  environment?: Record<string, string>
  depends_on?: Record<string, { condition: string }>
  command?: string[]
}
interface ComposeFile {
  services: Record<string, Service>
  volumes?: Record<string, unknown>
}

// Compose applies YAML merge keys (<<: *anchor); so must the parser, or the schema sees a "<<" property.
const load = (file: string): ComposeFile => parse(read(file), { merge: true }) as ComposeFile
const FILES = ['docker-compose.yml', 'docker-compose.filesystem.yml']

// dclint validates against the current Compose Specification schema (the one compose-go embeds), then applies
// its correctness and security rules; its ordering rules are taste, not correctness.
interface LintMessage {
  line: number
  rule: string
  message: string
}
interface Linter {
  lintFiles(paths: string[], recursive: boolean): { messages: LintMessage[] }[]
}
// dclint's declaration files import each other without extensions, which NodeNext resolution cannot follow: the
// part of its API used here, typed by hand.
const Linter = DCLinter as unknown as new (config: { rules: Record<string, unknown>; quiet: boolean; debug: boolean; exclude: string[] }) => Linter
const linter = new Linter({
  rules: {
    'require-quotes-in-ports': [2, { quoteType: 'double' }],
    'service-keys-order': 0,
    'services-alphabetical-order': 0,
    'service-ports-alphabetical-order': 0,
    'service-dependencies-alphabetical-order': 0,
    'top-level-properties-order': 0,
  },
  quiet: true,
  debug: false,
  exclude: [],
})
const problems = (file: string): string[] =>
  linter.lintFiles([file], false).flatMap((result) => result.messages.map((message) => `${message.line}: ${message.rule}: ${message.message}`))

describe('docker compose files', () => {
  it.each(FILES)('%s follows the Compose Specification and passes dclint', (file) => {
    expect(problems(path.join(root, file))).toEqual([])
  })

  it('the linter is not a rubber stamp: it refuses an unknown key, a bad healthcheck and a monitoring port on every interface', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'compose-'))
    const write = (name: string, text: string): string => {
      writeFileSync(path.join(dir, name), text)
      return path.join(dir, name)
    }
    const compose = read('docker-compose.yml')
    try {
      expect(problems(write('unknown-key.yml', compose.replace('    read_only: true\n', '    readonly: true\n'))).join()).toMatch(/invalid-schema/)
      expect(problems(write('healthcheck.yml', 'services:\n  cups:\n    image: x:1\n    healthcheck:\n      test: 15\n')).join()).toMatch(/invalid-schema/)
      expect(problems(write('admin-port.yml', compose.replace('"127.0.0.1:${PROMETHEUS_PORT:-9090}:9090"', '"${PROMETHEUS_PORT:-9090}:9090"'))).join()).toMatch(/no-unbound-port-interfaces/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it.each(FILES)('%s hardens the server: read-only root, no capabilities, no-new-privileges, a memory limit, a readiness health check', (file) => {
    const cups = load(file).services.cups
    expect(cups?.read_only).toBe(true)
    expect(cups?.cap_drop).toEqual(['ALL'])
    expect(cups?.security_opt).toContain('no-new-privileges:true')
    expect(cups?.mem_limit).toMatch(/^\d+[mg]$/)
    expect(cups?.healthcheck?.test.join(' ')).toContain('http://127.0.0.1:8081/readyz')
    // Monitoring is published on loopback only; the gateways' port is the only public one.
    const published = cups?.ports ?? []
    expect(published.filter((port) => !port.startsWith('127.0.0.1:'))).toEqual(['${PORT:-8443}:8443'])
    expect(cups?.environment).toMatchObject({ ADMIN_HOST: '0.0.0.0', ADMIN_PORT: '8081', PORT: '8443' })
  })

  it.each(FILES)('%s mounts nothing from the host that a fresh clone lacks, and nothing writable from the clone', (file) => {
    const compose = load(file)
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const [source = '', , mode] = volume.split(':')
        if (source.startsWith('.') || source.startsWith('/')) {
          // A bind mount: it must exist in the repository (else Docker creates it, owned by root) and be read-only.
          expect(existsSync(path.join(root, source)), `${name}: ${source}`).toBe(true)
          expect(mode, `${name}: ${volume}`).toBe('ro')
        } else {
          expect(Object.keys(compose.volumes ?? {}), `${name}: ${volume}`).toContain(source)
        }
      }
    }
  })

  it('runs the server on MinIO: bucket made on first start, server waits for a healthy MinIO and the bucket', () => {
    const { services } = load('docker-compose.yml')
    expect(services.cups?.environment).toMatchObject({ S3_BUCKET_ENDPOINT: 'http://minio:9000', S3_FORCE_PATH_STYLE: 'true' })
    expect(services.cups?.depends_on).toEqual({
      minio: { condition: 'service_healthy' },
      'minio-bucket': { condition: 'service_completed_successfully' },
    })
    expect(services.minio?.healthcheck?.test).toEqual(['CMD', 'mc', 'ready', 'local'])
    expect(services['minio-bucket']?.depends_on).toEqual({ minio: { condition: 'service_healthy' } })
    expect(services['minio-bucket']?.command?.join(' ')).toMatch(/mc mb --ignore-existing "local\/\$\$S3_BUCKET_NAME"/)
    expect(services['minio-bucket']?.restart).toBe('no')
    expect(services.cups?.environment?.S3_BUCKET_NAME).toBe(services['minio-bucket']?.environment?.S3_BUCKET_NAME)
  })

  it.each(FILES)('%s pins every image, hardens every service and gives every long-running one a health check', (file) => {
    for (const [name, service] of Object.entries(load(file).services)) {
      if (service.image !== undefined && service.build === undefined) expect(service.image, name).toMatch(/:(?!latest$)[\w.-]+$/)
      expect(service.cap_drop, name).toEqual(['ALL'])
      expect(service.security_opt, name).toContain('no-new-privileges:true')
      expect(service.mem_limit, name).toBeDefined()
      if (service.restart !== 'no') expect(service.healthcheck, name).toBeDefined()
    }
  })

  it('puts Prometheus and Grafana in the monitoring profile only, and nothing else there', () => {
    const { services } = load('docker-compose.yml')
    const monitoring = Object.entries(services).filter(([, service]) => service.profiles?.includes('monitoring')).map(([name]) => name)
    expect(monitoring.sort()).toEqual(['grafana', 'prometheus'])
    expect(services.cups?.profiles).toBeUndefined()
  })

  it('does not send a fleet anywhere by itself: no CUPS_URI or TC_URI is set by compose', () => {
    for (const file of FILES) {
      for (const service of Object.values(load(file).services)) expect(Object.keys(service.environment ?? {})).not.toContain('CUPS_URI')
      expect(read(file)).not.toMatch(/(CUPS_URI|TC_URI)\s*[:=]/)
    }
  })
})

describe('the Prometheus configuration', () => {
  const prometheus = parse(read('deploy/prometheus/prometheus.yml')) as {
    rule_files: string[]
    scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[]
  }
  const alerts = parse(read('deploy/prometheus/alerts.yml')) as { groups: { name: string; rules: { alert: string; expr: string; labels: { severity: string } }[] }[] }

  it('scrapes the admin listener of the compose service, and loads the shipped alerts', () => {
    const [job] = prometheus.scrape_configs
    expect(job?.metrics_path).toBe('/metrics')
    expect(job?.static_configs.flatMap((config) => config.targets)).toEqual(['cups:8081'])
    expect(prometheus.rule_files).toEqual(['/etc/prometheus/alerts.yml'])
    const compose = load('docker-compose.yml')
    expect(compose.services.prometheus?.volumes).toContain('./deploy/prometheus:/etc/prometheus:ro')
  })

  it('alerts on readiness, errors, storage, mints, expiry and dropped log lines, with metrics the server exports', () => {
    const rules = alerts.groups.flatMap((group) => group.rules)
    expect(new Set(rules.map((rule) => rule.alert)).size).toBe(rules.length)
    for (const rule of rules) {
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels.severity)
      for (const metric of metricsIn(rule.expr)) expect(EXPORTED_METRICS, `${rule.alert}: ${metric}`).toContain(metric)
    }
    const used = rules.flatMap((rule) => metricsIn(rule.expr))
    for (const wanted of ['cups_ready', 'cups_storage_errors_total', 'cups_mint_failures_total', 'cups_server_certificate_expiry_timestamp_seconds', 'cups_gateway_certificate_soonest_expiry_timestamp_seconds', 'cups_log_lines_dropped_total']) {
      expect(used, wanted).toContain(wanted)
    }
  })

  it('finds metric names in PromQL the way the checks above rely on', () => {
    expect(metricsIn('histogram_quantile(0.99, sum by (le, engine) (rate(cups_mint_duration_seconds_bucket{job="x"}[5m])))')).toEqual(['cups_mint_duration_seconds_bucket'])
    expect(metricsIn('min by (kind) (cups_gateway_certificate_soonest_expiry_timestamp_seconds) - time() < 7 * 86400')).toEqual(['cups_gateway_certificate_soonest_expiry_timestamp_seconds'])
  })
})
