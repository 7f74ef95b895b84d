// loadConfig(env): every environment variable parsed and checked once, all problems reported together.
import path from 'node:path'
import { parseRouterId } from './cups/router-id'
import { checkStationUri } from './cups/station-uri'
import { ConfigError } from './errors'
import { DEFAULT_PREFIX, normalisePrefix } from './storage/storage-keys'

export type MintEngine = 'openssl' | 'node'
export const MINT_ENGINES: readonly MintEngine[] = ['openssl', 'node']

export type BootstrapPolicy = 'off' | 'registered' | 'open'
export const BOOTSTRAP_POLICIES: readonly BootstrapPolicy[] = ['off', 'registered', 'open']

/** EUIs given inline, or a file with one EUI per line (# comments allowed), read at start. */
export type BootstrapAllowlist = { readonly euis: readonly string[] } | { readonly file: string }

export interface S3Config {
  readonly bucket: string
  readonly region: string
  readonly endpoint: string | undefined
  readonly accessKeyId: string | undefined
  readonly secretAccessKey: string | undefined
  readonly forcePathStyle: boolean
}

export interface Config {
  readonly server: {
    readonly host: string
    readonly port: number
    readonly bodyLimitBytes: number
    /** Whole request (headers and body) must arrive within this; cuts off clients that dribble bytes. */
    readonly requestTimeoutMs: number
    /** A connection with no traffic for this long is closed (keep-alive and TLS handshakes included). */
    readonly idleTimeoutMs: number
    readonly maxConnections: number
    /** Open connections one client address may hold; more are closed at accept. IPv4-mapped IPv6 counts as IPv4. */
    readonly maxConnectionsPerAddress: number
    /** A TCP connection must finish its TLS handshake within this; always less than idleTimeoutMs. */
    readonly tlsHandshakeTimeoutMs: number
    /** A request that takes longer on our side (slow storage, stuck mint) is answered "no change". */
    readonly responseDeadlineMs: number
    /** A firmware download whose station takes no byte for this long is cut; one that keeps reading never is. */
    readonly downloadStallMs: number
  }
  readonly tls: {
    /** Directory holding ca.crt, ca.key (gateway CA) and cups.crt, cups.key (our server identity). */
    readonly certPath: string
    /** The same directory as the host sees it (docker compose); only used in messages. */
    readonly certHostPath: string | undefined
    readonly caCertFile: string
    readonly caKeyFile: string
    /** The CA before a rotation (ca-previous.crt); trusted for client certificates while it exists. */
    readonly previousCaCertFile: string
    readonly serverCertFile: string
    readonly serverKeyFile: string
    /** The CA certificate a gateway needs to verify us: goes into every CUPS credential blob. */
    readonly cupsTrustFile: string
    /** The CA certificate of the LNS: goes into every TC credential blob. */
    readonly tcTrustFile: string
  }
  readonly cups: {
    /** URI we tell gateways to use for CUPS; undefined = never redirect. */
    readonly cupsUri: string | undefined
    /** URI of the LNS; undefined = no TC URI and no TC credentials are handed out. */
    readonly tcUri: string | undefined
    readonly bootstrapPolicy: BootstrapPolicy
    /** Gateways that may bootstrap under the registered policy, besides those with a gateway.json. */
    readonly bootstrapAllowlist: BootstrapAllowlist
    /** Factory CA: its certificates prove a gateway's identity and may always re-bootstrap. */
    readonly bootstrapCaFile: string | undefined
    /** A second CA (certificate + key) that mints TC credentials for records with `"source": "lns-ca"`. */
    readonly lnsCa: { readonly certFile: string; readonly keyFile: string } | undefined
  }
  readonly credentials: {
    readonly validityDays: number
    readonly minValidDays: number
    /** openssl: one `openssl req` process per credential; node: in-process node:crypto, ~25x cheaper. */
    readonly mintEngine: MintEngine
    readonly mintTimeoutMs: number
    readonly mintConcurrency: number
  }
  /** The fleet inventory and its loop guard (cups/<eui>/inventory.json). */
  readonly inventory: {
    readonly refreshMs: number
    readonly stuckAfterSends: number
    readonly stuckBackoffMs: number
  }
  readonly storage: {
    /** Undefined = embedded filesystem store under dataDir. */
    readonly s3: S3Config | undefined
    readonly dataDir: string
    readonly prefix: string
    readonly timeoutMs: number
    readonly cacheTtlMs: number
  }
  /** Monitoring and health, on their own plain-HTTP listener (never the gateways' TLS port). */
  readonly admin: {
    readonly host: string
    readonly port: number
  }
  /** How often the fleet's certificates are read for the soonest-expiry gauges; 0 = only at start. */
  readonly expiryScanMs: number
  readonly logLevel: string
  /** json: one JSON object per line; pretty: readable lines (pino-pretty), the default on a terminal. */
  readonly logFormat: LogFormat
}

export type LogFormat = 'json' | 'pretty'
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty']

type Env = Readonly<Record<string, string | undefined>>

/** The smallest CREDENTIAL_MIN_VALID_DAYS: room for several 24 h polls before a certificate expires. */
export const MIN_RENEWAL_WINDOW_DAYS = 7

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export interface LoadOptions {
  /** Whether stdout is a terminal: LOG_FORMAT then defaults to pretty. */
  readonly terminal?: boolean
}

/** Parse env into a frozen Config; throws one ConfigError naming every bad variable. */
export function loadConfig(env: Env, cwd: string = process.cwd(), options: LoadOptions = {}): Config {
  const problems: string[] = []
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  const text = (name: string, fallback: string): string => read(name) ?? fallback
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = read(name)
    if (raw === undefined) return fallback
    const value = Number(raw)
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name}: must be a whole number from ${min} to ${max}, got "${raw}"`)
      return fallback
    }
    return value
  }
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = read(name)?.toLowerCase()
    if (raw === undefined) return fallback
    if (['true', '1', 'yes'].includes(raw)) return true
    if (['false', '0', 'no'].includes(raw)) return false
    problems.push(`${name}: must be true or false, got "${raw}"`)
    return fallback
  }
  const oneOf = <T extends string>(name: string, fallback: T, allowed: readonly T[]): T => {
    const raw = read(name)
    if (raw === undefined) return fallback
    if ((allowed as readonly string[]).includes(raw)) return raw as T
    problems.push(`${name}: must be one of ${allowed.join(', ')}, got "${raw}"`)
    return fallback
  }
  const stationUri = (name: string, kind: 'cups' | 'tc'): string | undefined => {
    const raw = read(name)
    if (raw === undefined) return undefined
    try {
      checkStationUri(raw, kind)
      // We only listen on TLS, so a station sent to http:// here would fail every contact after the redirect.
      if (kind === 'cups' && !/^https:/i.test(raw)) throw new Error('must be https://host:port: this server only speaks TLS')
      return raw
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`)
      return undefined
    }
  }
  const dir = (name: string, fallback: string): string => path.resolve(cwd, text(name, fallback))

  const certPath = dir('CERT_PATH', 'certs')
  const caCertFile = path.join(certPath, 'ca.crt')
  const validityDays = int('CREDENTIAL_VALIDITY_DAYS', 365, 1, 36500)
  // Renewal starts this many days before expiry: a week of daily polls (CUPS_OKSYNC_INTV) at the least, so a
  // gateway that is offline for a few days still renews in time. (One that misses it anyway is not locked
  // out: its expired certificate, while still its current credential, may fetch the renewal.)
  const minValidDays = int('CREDENTIAL_MIN_VALID_DAYS', 30, MIN_RENEWAL_WINDOW_DAYS, 36500)
  if (minValidDays >= validityDays) {
    problems.push(
      `CREDENTIAL_MIN_VALID_DAYS (${minValidDays}) must be less than CREDENTIAL_VALIDITY_DAYS (${validityDays}), or every credential is renewed at once`,
    )
  }

  const bucket = read('S3_BUCKET_NAME')
  const s3: S3Config | undefined =
    bucket === undefined
      ? undefined
      : {
          bucket,
          region: text('S3_BUCKET_REGION', 'us-east-1'),
          endpoint: read('S3_BUCKET_ENDPOINT'),
          accessKeyId: read('S3_ACCESS_KEY_ID'),
          secretAccessKey: read('S3_SECRET_ACCESS_KEY'),
          forcePathStyle: bool('S3_FORCE_PATH_STYLE', read('S3_BUCKET_ENDPOINT') !== undefined),
        }
  if (s3 && (s3.accessKeyId === undefined) !== (s3.secretAccessKey === undefined)) {
    problems.push('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY: set both or neither (neither = the AWS default credential chain)')
  }
  const endpoint = read('S3_BUCKET_ENDPOINT')
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+(\/.*)?$/.test(endpoint)) {
    problems.push(`S3_BUCKET_ENDPOINT: must be an http(s) URL, got "${endpoint}"`)
  }

  let prefix = DEFAULT_PREFIX
  try {
    prefix = normalisePrefix(text('STORAGE_PREFIX', DEFAULT_PREFIX))
  } catch (err) {
    problems.push(`STORAGE_PREFIX: ${(err as Error).message}`)
  }

  const allowlist = read('BOOTSTRAP_ALLOWLIST')
  let bootstrapAllowlist: BootstrapAllowlist = { euis: [] }
  if (allowlist !== undefined && /^(\/|\.{1,2}\/)/.test(allowlist)) {
    bootstrapAllowlist = { file: path.resolve(cwd, allowlist) }
  } else if (allowlist !== undefined) {
    try {
      bootstrapAllowlist = { euis: parseEuiList(allowlist) }
    } catch (err) {
      problems.push(`BOOTSTRAP_ALLOWLIST: ${(err as Error).message} (give EUIs separated by commas or spaces, or a file path starting with / or ./)`)
    }
  }
  const bootstrapCa = read('BOOTSTRAP_CA_PATH')
  const lnsCaCert = read('LNS_CA_CERT_PATH')
  const lnsCaKey = read('LNS_CA_KEY_PATH')
  if ((lnsCaCert === undefined) !== (lnsCaKey === undefined)) {
    problems.push('LNS_CA_CERT_PATH and LNS_CA_KEY_PATH: set both (the LNS CA that mints TC credentials) or neither')
  }

  const idleTimeoutMs = int('IDLE_TIMEOUT_MS', 15000, 100, 600000)
  // A handshake is a few round trips: a client that has not finished it in half the idle time is not a station.
  const tlsHandshakeTimeoutMs = int('TLS_HANDSHAKE_TIMEOUT_MS', Math.min(5000, Math.floor(idleTimeoutMs / 2)), 100, 600000)
  if (tlsHandshakeTimeoutMs >= idleTimeoutMs) {
    problems.push(
      `TLS_HANDSHAKE_TIMEOUT_MS (${tlsHandshakeTimeoutMs}) must be less than IDLE_TIMEOUT_MS (${idleTimeoutMs}): an unfinished handshake should be cut off sooner than an idle connection`,
    )
  }

  const config: Config = {
    server: {
      host: text('HOST', '0.0.0.0'),
      port: int('PORT', 8443, 0, 65535),
      bodyLimitBytes: int('BODY_LIMIT_BYTES', 16384, 1024, 1048576),
      requestTimeoutMs: int('REQUEST_TIMEOUT_MS', 10000, 100, 600000),
      idleTimeoutMs,
      maxConnections: int('MAX_CONNECTIONS', 1000, 1, 1000000),
      maxConnectionsPerAddress: int('MAX_CONNECTIONS_PER_ADDRESS', 16, 1, 1000000),
      tlsHandshakeTimeoutMs,
      responseDeadlineMs: int('RESPONSE_DEADLINE_MS', 8000, 100, 600000),
      downloadStallMs: int('DOWNLOAD_STALL_TIMEOUT_MS', 60000, 100, 600000),
    },
    tls: {
      certPath,
      certHostPath: read('CERT_HOST_PATH'),
      caCertFile,
      caKeyFile: path.join(certPath, 'ca.key'),
      previousCaCertFile: path.join(certPath, 'ca-previous.crt'),
      serverCertFile: path.join(certPath, 'cups.crt'),
      serverKeyFile: path.join(certPath, 'cups.key'),
      cupsTrustFile: read('CUPS_TRUST_PATH') === undefined ? caCertFile : dir('CUPS_TRUST_PATH', ''),
      tcTrustFile: read('TC_TRUST_PATH') === undefined ? caCertFile : dir('TC_TRUST_PATH', ''),
    },
    cups: {
      cupsUri: stationUri('CUPS_URI', 'cups'),
      tcUri: stationUri('TC_URI', 'tc'),
      bootstrapPolicy: oneOf('BOOTSTRAP_POLICY', 'registered', BOOTSTRAP_POLICIES),
      bootstrapAllowlist,
      bootstrapCaFile: bootstrapCa === undefined ? undefined : path.resolve(cwd, bootstrapCa),
      lnsCa:
        lnsCaCert === undefined || lnsCaKey === undefined
          ? undefined
          : { certFile: path.resolve(cwd, lnsCaCert), keyFile: path.resolve(cwd, lnsCaKey) },
    },
    credentials: {
      validityDays,
      minValidDays,
      mintEngine: oneOf('MINT_ENGINE', 'openssl', MINT_ENGINES),
      mintTimeoutMs: int('MINT_TIMEOUT_MS', 5000, 100, 600000),
      mintConcurrency: int('MINT_CONCURRENCY', 2, 1, 64),
    },
    inventory: {
      refreshMs: int('INVENTORY_REFRESH_HOURS', 24, 1, 8760) * 3_600_000,
      stuckAfterSends: int('STUCK_AFTER_SENDS', 3, 2, 100),
      // At most a week: shorter than the smallest renewal window, so a held-back renewal is retried in time.
      stuckBackoffMs: int('STUCK_BACKOFF_HOURS', 24, 1, 24 * MIN_RENEWAL_WINDOW_DAYS - 1) * 3_600_000,
    },
    storage: {
      s3,
      dataDir: dir('DATA_DIR', 'data'),
      prefix,
      timeoutMs: int('STORAGE_TIMEOUT_MS', 3000, 100, 60000),
      cacheTtlMs: int('CACHE_TTL_SECONDS', 30, 0, 86400) * 1000,
    },
    admin: {
      host: text('ADMIN_HOST', '127.0.0.1'),
      port: int('ADMIN_PORT', 8081, 0, 65535),
    },
    expiryScanMs: int('EXPIRY_SCAN_HOURS', 6, 0, 8760) * 3_600_000,
    logLevel: oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    logFormat: oneOf('LOG_FORMAT', options.terminal === true ? 'pretty' : 'json', LOG_FORMATS),
  }
  if (config.admin.port !== 0 && config.admin.port === config.server.port) {
    problems.push(`ADMIN_PORT (${config.admin.port}) must differ from PORT: monitoring never shares the gateways' TLS port`)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return deepFreeze(config)
}

/** EUIs in any form parseRouterId takes, separated by commas, whitespace or newlines; # starts a comment. */
export function parseEuiList(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, ''))
    .join(' ')
    .split(/[\s,]+/)
    .filter((token) => token !== '')
    .map((token) => parseRouterId(token))
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (typeof child === 'object' && child !== null) deepFreeze(child as object)
  }
  return Object.freeze(value)
}
