// Test CAs and client certificates made with the openssl CLI, as an operator or an attacker would make them.
import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface Authority {
  /** Paths to the CA certificate and key (PEM). */
  readonly cert: string
  readonly key: string
}

export interface PemIdentity {
  readonly cert: string
  readonly key: string
}

function openssl(args: readonly string[], cwd: string): Promise<unknown> {
  return run('openssl', [...args], { cwd })
}

export async function newAuthority(dir: string, commonName: string): Promise<Authority> {
  await mkdir(dir, { recursive: true })
  await writeFile(
    path.join(dir, 'ca.cnf'),
    '[req]\ndistinguished_name = dn\nx509_extensions = ca\nprompt = no\n[dn]\n[ca]\n' +
      'basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n',
  )
  await openssl(
    ['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc', '-keyout', 'ca.key', '-out', 'ca.crt',
      '-config', 'ca.cnf', '-subj', `/CN=${commonName}`, '-days', '30', '-sha256'],
    dir,
  )
  return { cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') }
}

/** openssl's -startdate/-enddate form. */
function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`
}

/**
 * A client certificate from `issuer` via `openssl ca`, with an explicit validity window (how an expired one is
 * made: OpenSSL 3.0's req and x509 cannot set a start date). Returns PEM cert and key.
 */
export async function issue(
  dir: string,
  issuer: Authority,
  options: { subject: string; dnsNames?: readonly string[]; notBefore: Date; notAfter: Date; extendedKeyUsage?: string },
): Promise<PemIdentity> {
  await mkdir(path.join(dir, 'db'), { recursive: true })
  await writeFile(path.join(dir, 'db', 'index.txt'), '')
  await writeFile(path.join(dir, 'db', 'serial'), '1000\n')
  const san = options.dnsNames === undefined ? '' : `subjectAltName = ${options.dnsNames.map((name) => `DNS:${name}`).join(',')}\n`
  await writeFile(
    path.join(dir, 'ca.cnf'),
    '[ca]\ndefault_ca = x\n[x]\ndatabase = db/index.txt\nnew_certs_dir = db\nserial = db/serial\ndefault_md = sha256\n' +
      'policy = anything\nunique_subject = no\ncopy_extensions = none\nx509_extensions = leaf\n' +
      '[anything]\ncommonName = supplied\n' +
      `[leaf]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\nextendedKeyUsage = ${options.extendedKeyUsage ?? 'clientAuth'}\n${san}`,
  )
  await openssl(
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc', '-keyout', 'leaf.key', '-out', 'leaf.csr',
      '-subj', options.subject],
    dir,
  )
  await openssl(
    ['ca', '-batch', '-config', 'ca.cnf', '-cert', issuer.cert, '-keyfile', issuer.key, '-in', 'leaf.csr', '-out', 'leaf.crt', '-notext',
      '-startdate', asn1Time(options.notBefore), '-enddate', asn1Time(options.notAfter)],
    dir,
  )
  return { cert: await readFile(path.join(dir, 'leaf.crt'), 'utf8'), key: await readFile(path.join(dir, 'leaf.key'), 'utf8') }
}

const HOUR_MS = 3_600_000

/** Valid from an hour ago for two days. */
export function validNow(): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(Date.now() - HOUR_MS), notAfter: new Date(Date.now() + 48 * HOUR_MS) }
}
