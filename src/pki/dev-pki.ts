// ensureDevPki: a throwaway development CA and server certificate in certPath when it holds none.
import { chmod, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import path from 'node:path'
import { runOpenssl } from './run-openssl'

/** The four files, in the order they are moved into place. */
export const DEV_PKI_FILES = ['ca.crt', 'ca.key', 'cups.crt', 'cups.key'] as const

export const DEV_CA_COMMON_NAME = 'CUPS Development CA (NOT FOR PRODUCTION)'

/** What the warning carries besides its message: one JSON line in production logs, a few lines when pretty. */
export interface DevPkiWarning {
  readonly devPki: true
  readonly certPath: string
  readonly files: string
  readonly serverNames: string
  readonly forProduction: string
  readonly stationCupsTrust: string
  readonly stationCupsUri: string
}

/** A plain function, or anything pino-shaped (a pino Logger fits). */
export type DevPkiLog =
  | ((message: string, fields?: DevPkiWarning) => void)
  | { warn(fields: DevPkiWarning, message: string): void; info(message: string): void }

export interface EnsureDevPkiOptions {
  /** Extra DNS names for the server certificate, besides localhost and 127.0.0.1. */
  readonly serverNames?: readonly string[]
  /** Extra IP addresses; each also goes in as a DNS name, because the station matches DNS SANs only. */
  readonly ipAddresses?: readonly string[]
  readonly log: DevPkiLog
  /** For the cups.uri hint in the warning. */
  readonly port?: number
  /** certPath as the operator sees it (e.g. the docker host path), for the warning. */
  readonly displayPath?: string
  /** Per OpenSSL process; default 30000 (first start only). */
  readonly timeoutMs?: number
}

const CA_DAYS = 3650
// 825 days: the longest server-certificate lifetime Apple platforms accept, so curl/browsers on a
// Mac trust it too once the CA is added.
const SERVER_DAYS = 825
// The station's mbedTLS compares the URI host with DNS SANs only, so https://127.0.0.1 needs
// DNS:127.0.0.1 besides the IP SAN Node and browsers use (cups-protocol.md §1.3).
const DEFAULT_DNS_NAMES = ['localhost', '127.0.0.1']
const DEFAULT_IP_ADDRESSES = ['127.0.0.1']
// Letters, digits, hyphens and dots, optionally a leading "*."; nothing that could break the config file.
const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

const CA_CONFIG = `[req]
distinguished_name = dn
x509_extensions = ca
prompt = no
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer
`

/**
 * 'existing' when certPath holds all four files (they are not inspected); 'generated' when it held
 * none and a development PKI was written (keys 0600), with a loud warning logged. Throws when only
 * some exist, naming which, because mixing a new CA with an old key would break every gateway.
 */
export async function ensureDevPki(certPath: string, options: EnsureDevPkiOptions): Promise<'existing' | 'generated'> {
  const present = await presentFiles(certPath)
  if (present.length === DEV_PKI_FILES.length) return 'existing'
  if (present.length > 0) throw new Error(partialSetMessage(certPath, present))

  const { dnsNames, ipAddresses } = subjectAltNames(options.serverNames ?? [], options.ipAddresses ?? [])
  const timeoutMs = options.timeoutMs ?? 30_000
  info(options.log, `no certificates in ${certPath}; generating a development PKI`)
  await mkdir(certPath, { recursive: true, mode: 0o700 })
  // Generated next to the targets, so the renames stay on one filesystem and are atomic.
  const work = await mkdtemp(path.join(certPath, '.dev-pki-'))
  try {
    await writeFile(path.join(work, 'ca.cnf'), CA_CONFIG, { mode: 0o600 })
    await writeFile(path.join(work, 'server.cnf'), serverConfig(dnsNames, ipAddresses), { mode: 0o600 })
    await runOpenssl(
      [
        'req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
        '-keyout', 'ca.key', '-out', 'ca.crt', '-config', 'ca.cnf',
        '-subj', `/CN=${DEV_CA_COMMON_NAME}`, '-days', String(CA_DAYS), '-sha256',
      ],
      { cwd: work, timeoutMs },
    )
    await runOpenssl(
      [
        'req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
        '-keyout', 'cups.key', '-out', 'cups.crt', '-config', 'server.cnf',
        '-subj', '/CN=localhost', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-passin', 'pass:',
        '-days', String(SERVER_DAYS), '-sha256',
      ],
      { cwd: work, timeoutMs },
    )
    for (const file of DEV_PKI_FILES) await chmod(path.join(work, file), file.endsWith('.key') ? 0o600 : 0o644)
    // Another process may have filled the directory meanwhile; never overwrite what it wrote.
    const appeared = await presentFiles(certPath)
    if (appeared.length === DEV_PKI_FILES.length) return 'existing'
    if (appeared.length > 0) throw new Error(partialSetMessage(certPath, appeared))
    for (const file of DEV_PKI_FILES) await rename(path.join(work, file), path.join(certPath, file))
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  warn(options.log, generatedWarning(options.displayPath ?? certPath, dnsNames, ipAddresses, options.port))
  return 'generated'
}

async function presentFiles(certPath: string): Promise<string[]> {
  const present: string[] = []
  for (const file of DEV_PKI_FILES) {
    try {
      await stat(path.join(certPath, file))
      present.push(file)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  return present
}

function partialSetMessage(certPath: string, present: readonly string[]): string {
  const missing = DEV_PKI_FILES.filter((file) => !present.includes(file))
  return (
    `incomplete certificate set in ${certPath}: found ${present.join(', ')}; missing ${missing.join(', ')}. ` +
    `Restore the missing files, or empty the directory to generate a new development PKI ` +
    `(every gateway credential minted by the old CA then stops working).`
  )
}

function subjectAltNames(
  extraNames: readonly string[],
  extraIps: readonly string[],
): { dnsNames: string[]; ipAddresses: string[] } {
  const badNames = extraNames.filter((name) => !DNS_NAME.test(name) || name.length > 253)
  const badIps = extraIps.filter((ip) => isIP(ip) === 0)
  if (badNames.length > 0 || badIps.length > 0) {
    const problems = [
      ...badNames.map((name) => `not a DNS name: "${name}"`),
      ...badIps.map((ip) => `not an IP address: "${ip}"`),
    ]
    throw new Error(`cannot generate the development server certificate: ${problems.join('; ')}`)
  }
  const ipAddresses = unique([...DEFAULT_IP_ADDRESSES, ...extraIps])
  const dnsNames = unique([...DEFAULT_DNS_NAMES, ...extraNames, ...ipAddresses])
  return { dnsNames, ipAddresses }
}

function unique(values: readonly string[]): string[] {
  const seen = new Set<string>()
  return values.filter((value) => {
    const key = value.toLowerCase()
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

function serverConfig(dnsNames: readonly string[], ipAddresses: readonly string[]): string {
  return [
    '[req]',
    'distinguished_name = dn',
    'x509_extensions = server',
    'prompt = no',
    '[dn]',
    '[server]',
    'basicConstraints = CA:FALSE',
    'keyUsage = digitalSignature,keyEncipherment',
    'extendedKeyUsage = serverAuth',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid,issuer',
    'subjectAltName = @alt',
    '[alt]',
    ...dnsNames.map((name, i) => `DNS.${i + 1} = ${name}`),
    ...ipAddresses.map((ip, i) => `IP.${i + 1} = ${ip}`),
    '',
  ].join('\n')
}

function generatedWarning(
  dir: string,
  dnsNames: readonly string[],
  ipAddresses: readonly string[],
  port?: number,
): { message: string; fields: DevPkiWarning } {
  const caFile = path.join(dir, 'ca.crt')
  return {
    message: `DEVELOPMENT PKI generated in ${dir}: NOT FOR PRODUCTION (anyone holding its ca.key can mint credentials this server accepts)`,
    fields: {
      devPki: true,
      certPath: dir,
      files: `ca.crt + ca.key: ${DEV_CA_COMMON_NAME}, 10 years, signs gateway credentials; cups.crt + cups.key: this server's TLS identity, ~825 days`,
      serverNames: [...dnsNames.map((name) => `DNS:${name}`), ...ipAddresses.map((ip) => `IP:${ip}`)].join(', '),
      forProduction: `put your own ca.crt, ca.key, cups.crt and cups.key in ${dir} instead`,
      stationCupsTrust: `openssl x509 -in ${caFile} -outform DER -out cups.trust (PEM works too: cp ${caFile} cups.trust)`,
      // The station's mbedTLS matches DNS SANs only.
      stationCupsUri: `https://localhost:${port ?? '<port>'} (or another DNS name above: the station checks DNS names only)`,
    },
  }
}

function info(log: DevPkiLog, message: string): void {
  if (typeof log === 'function') log(message)
  else log.info(message)
}

function warn(log: DevPkiLog, { message, fields }: { message: string; fields: DevPkiWarning }): void {
  if (typeof log === 'function') log(message, fields)
  else log.warn(fields, message)
}
