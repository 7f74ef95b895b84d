// openGateways: the server's gateway domain on the configured storage, for commands that ask it (preview); it mints nothing.
import { readFile } from 'node:fs/promises'
import { MintingError } from '../errors'
import { readAllowlist } from '../gateways/bootstrap-allowlist'
import { createGateways } from '../gateways/create-gateways'
import type { Gateways } from '../gateways/create-gateways'
import { createLogger } from '../logger'
import { NO_METRICS } from '../observability/metrics'
import { isIssuedBy, parseTrustCertificate } from '../pki/certificates'
import { ClientCertificateChecker, clientAuthoritiesOf } from '../pki/client-certificate-check'
import type { CredentialMinter } from '../pki/credential-minter'
import { readPkiFiles } from '../pki/pki-files'
import type { PkiCertificates } from '../pki/pki-files'
import type { CliDeps } from './cli-deps'
import { CliError } from './cli-error'

/** A safety net: preview only assesses, so reaching a minter is a bug, never a key. */
const MINTS_NOTHING: CredentialMinter = {
  mint: () => Promise.reject(new MintingError('the CLI mints nothing')),
}

/** The same composition as the server (createGateways), with the PKI read once and no read cache. */
export async function openGateways(deps: CliDeps): Promise<Gateways> {
  const config = deps.config()
  const { tls, cups } = config
  let pki: PkiCertificates
  try {
    pki = readPkiFiles(tls)
  } catch (err) {
    throw new CliError(`${(err as Error).message} (CERT_PATH=${tls.certPath}: the server generates a development PKI there on first start)`)
  }
  const factoryCa = cups.bootstrapCaFile === undefined ? undefined : await readFile(cups.bootstrapCaFile)
  const authorities = clientAuthoritiesOf(pki, factoryCa)
  const checker = new ClientCertificateChecker(() => authorities)
  const issuedByUs = (certificate: Buffer): boolean =>
    isIssuedBy(certificate, pki.ca) || (pki.previousCa !== undefined && isIssuedBy(certificate, pki.previousCa))
  const lnsCaCertificate = cups.lnsCa === undefined ? undefined : parseTrustCertificate(await readFile(cups.lnsCa.certFile), 'LNS_CA_CERT_PATH')
  return createGateways({
    config,
    store: deps.store(),
    pki: {
      trust: () => pki,
      issuedByUs,
      isFactoryCertificate: (certificate) => factoryCa !== undefined && isIssuedBy(certificate, factoryCa),
      checkCertificate: (der) => checker.check(der),
    },
    minter: MINTS_NOTHING,
    lnsCa: lnsCaCertificate === undefined ? undefined : { minter: MINTS_NOTHING, issued: (certificate) => isIssuedBy(certificate, lnsCaCertificate) },
    allowlist: await readAllowlist(cups.bootstrapAllowlist),
    metrics: NO_METRICS,
    // What the domain logs (an unusable bundle, a bad record) is in the preview's reasons already.
    log: createLogger('silent'),
  })
}
