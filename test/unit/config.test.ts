import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'dotenv'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config'
import { ConfigError } from '../../src/errors'

const repoRoot = path.resolve(__dirname, '../..')

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env, '/srv')
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

describe('loadConfig', () => {
  it('loads .env.example as shipped', () => {
    const env = parse(readFileSync(path.join(repoRoot, '.env.example')))
    const config = loadConfig(env, repoRoot)
    expect(config.server.port).toBe(8443)
    // Copied as-is it must not send a fleet anywhere, least of all to localhost.
    expect(config.cups.cupsUri).toBeUndefined()
    expect(config.cups.tcUri).toBeUndefined()
    expect(config.admin).toEqual({ host: '127.0.0.1', port: 8081 })
    expect(config.logFormat).toBe('json')
    expect(config.storage.s3).toBeUndefined()
    expect(config.tls.cupsTrustFile).toBe(path.join(repoRoot, 'certs', 'ca.crt'))
  })

  it('runs on embedded defaults with an empty environment', () => {
    const config = loadConfig({}, '/srv')
    expect(config).toMatchObject({
      server: { host: '0.0.0.0', port: 8443 },
      tls: { certPath: '/srv/certs', caCertFile: '/srv/certs/ca.crt', serverCertFile: '/srv/certs/cups.crt' },
      cups: { cupsUri: undefined, tcUri: undefined, bootstrapPolicy: 'registered', bootstrapAllowlist: { euis: [] } },
      credentials: { validityDays: 365, minValidDays: 30, mintEngine: 'openssl' },
      storage: { s3: undefined, dataDir: '/srv/data', prefix: 'cups/' },
      logLevel: 'info',
      logFormat: 'json',
      admin: { host: '127.0.0.1', port: 8081 },
      expiryScanMs: 6 * 3_600_000,
    })
    expect(Object.isFrozen(config.storage)).toBe(true)
  })

  it('defaults LOG_FORMAT to pretty on a terminal only, and takes either format when asked', () => {
    expect(loadConfig({}, '/srv', { terminal: true }).logFormat).toBe('pretty')
    expect(loadConfig({ LOG_FORMAT: 'json' }, '/srv', { terminal: true }).logFormat).toBe('json')
    expect(loadConfig({ LOG_FORMAT: 'pretty' }, '/srv').logFormat).toBe('pretty')
    expect(problemsOf({ LOG_FORMAT: 'text' })).toEqual(['LOG_FORMAT: must be one of json, pretty, got "text"'])
  })

  it('keeps the admin listener off the gateways\' port', () => {
    expect(loadConfig({ ADMIN_HOST: '0.0.0.0', ADMIN_PORT: '9100' }, '/srv').admin).toEqual({ host: '0.0.0.0', port: 9100 })
    expect(problemsOf({ PORT: '8443', ADMIN_PORT: '8443' })).toEqual([
      "ADMIN_PORT (8443) must differ from PORT: monitoring never shares the gateways' TLS port",
    ])
    expect(problemsOf({ ADMIN_PORT: '70000' })).toEqual(['ADMIN_PORT: must be a whole number from 0 to 65535, got "70000"'])
    expect(loadConfig({ EXPIRY_SCAN_HOURS: '0' }, '/srv').expiryScanMs).toBe(0)
  })

  it('selects S3 when a bucket is named, path-style when an endpoint is given', () => {
    const config = loadConfig({
      S3_BUCKET_NAME: 'gateways',
      S3_BUCKET_ENDPOINT: 'http://127.0.0.1:7480',
      S3_ACCESS_KEY_ID: 'id',
      S3_SECRET_ACCESS_KEY: 'secret',
    })
    expect(config.storage.s3).toEqual({
      bucket: 'gateways',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:7480',
      accessKeyId: 'id',
      secretAccessKey: 'secret',
      forcePathStyle: true,
    })
  })

  it('reads BOOTSTRAP_ALLOWLIST as EUIs in any form, or as a file path', () => {
    expect(loadConfig({ BOOTSTRAP_ALLOWLIST: '0016c001ff10a235, 00-16-c0-01-ff-10-a2-36 ::1' }).cups.bootstrapAllowlist).toEqual({
      euis: ['0016c001ff10a235', '0016c001ff10a236', '0000000000000001'],
    })
    expect(loadConfig({ BOOTSTRAP_ALLOWLIST: './gateways.txt' }, '/srv').cups.bootstrapAllowlist).toEqual({ file: '/srv/gateways.txt' })
    expect(problemsOf({ BOOTSTRAP_ALLOWLIST: 'gateways.txt' })[0]).toMatch(/BOOTSTRAP_ALLOWLIST/)
  })

  it('takes trust paths relative to the working directory', () => {
    const config = loadConfig({ CUPS_TRUST_PATH: 'pki/root.pem', TC_TRUST_PATH: '/etc/lns/ca.pem' }, '/srv')
    expect(config.tls.cupsTrustFile).toBe('/srv/pki/root.pem')
    expect(config.tls.tcTrustFile).toBe('/etc/lns/ca.pem')
  })

  it('reports every problem at once', () => {
    const problems = problemsOf({
      PORT: 'http',
      CUPS_URI: 'https://cups.example.com:443/',
      TC_URI: 'https://lns.example.com:443',
      BOOTSTRAP_POLICY: 'maybe',
      CREDENTIAL_VALIDITY_DAYS: '30',
      CREDENTIAL_MIN_VALID_DAYS: '30',
      LOG_LEVEL: 'loud',
      S3_BUCKET_NAME: 'b',
      S3_ACCESS_KEY_ID: 'only-id',
    })
    expect(problems).toHaveLength(7)
    expect(problems.join('\n')).toMatch(/PORT/)
    expect(problems.join('\n')).toMatch(/CUPS_URI/)
    expect(problems.join('\n')).toMatch(/TC_URI/)
    expect(problems.join('\n')).toMatch(/BOOTSTRAP_POLICY/)
    expect(problems.join('\n')).toMatch(/CREDENTIAL_MIN_VALID_DAYS/)
    expect(problems.join('\n')).toMatch(/LOG_LEVEL/)
    expect(problems.join('\n')).toMatch(/S3_ACCESS_KEY_ID/)
  })

  it.each([
    ['CUPS_URI without a port', { CUPS_URI: 'https://cups.example.com' }],
    ['CUPS_URI over plain http', { CUPS_URI: 'http://cups.example.com:8080' }],
    ['TC_URI with a path', { TC_URI: 'wss://lns.example.com:8887/api' }],
    ['TC_URI over 127 bytes', { TC_URI: `wss://${'a'.repeat(120)}.com:1` }],
    ['a negative port', { PORT: '-1' }],
    ['an unknown mint engine', { MINT_ENGINE: 'hsm' }],
    ['a prefix escaping upwards', { STORAGE_PREFIX: '../x/' }],
    ['a bad S3 endpoint', { S3_BUCKET_NAME: 'b', S3_BUCKET_ENDPOINT: 'localhost:9000' }],
    ['a per-address cap of 0', { MAX_CONNECTIONS_PER_ADDRESS: '0' }],
    // Renewal needs room for several daily polls; 0 would make every certificate expire before it is renewed.
    ['a renewal window of 0 days', { CREDENTIAL_MIN_VALID_DAYS: '0' }],
    ['a renewal window of 6 days', { CREDENTIAL_MIN_VALID_DAYS: '6' }],
  ])('refuses %s', (_name, env) => {
    expect(problemsOf(env)).toHaveLength(1)
  })

  it('caps connections per address at 16 and gives the TLS handshake less time than an idle connection', () => {
    expect(loadConfig({}).server).toMatchObject({ maxConnectionsPerAddress: 16, tlsHandshakeTimeoutMs: 5000, idleTimeoutMs: 15000 })
    expect(loadConfig({ MAX_CONNECTIONS_PER_ADDRESS: '4', TLS_HANDSHAKE_TIMEOUT_MS: '800' }).server).toMatchObject({
      maxConnectionsPerAddress: 4,
      tlsHandshakeTimeoutMs: 800,
    })
    // Unset, it follows a short IDLE_TIMEOUT_MS down instead of refusing the configuration.
    expect(loadConfig({ IDLE_TIMEOUT_MS: '1500' }).server.tlsHandshakeTimeoutMs).toBe(750)
    expect(problemsOf({ IDLE_TIMEOUT_MS: '4000', TLS_HANDSHAKE_TIMEOUT_MS: '4000' })).toEqual([
      expect.stringMatching(/^TLS_HANDSHAKE_TIMEOUT_MS \(4000\) must be less than IDLE_TIMEOUT_MS \(4000\)/),
    ])
  })

  it('accepts a renewal window of 7 days, the smallest with room for several daily polls', () => {
    expect(loadConfig({ CREDENTIAL_MIN_VALID_DAYS: '7', CREDENTIAL_VALIDITY_DAYS: '30' }).credentials).toMatchObject({ minValidDays: 7, validityDays: 30 })
  })
})
