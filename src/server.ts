// startServer: wires config into adapters, the domain and both listeners (gateways', admin), then listens.
import { X509Certificate } from 'node:crypto'
import type { Server as HttpsServer } from 'node:https'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { buildGatewayApp } from './http/gateway-app'
import { readFile } from 'node:fs/promises'
import type { Config } from './config'
import { readAllowlist, reloadAllowlist } from './gateways/bootstrap-allowlist'
import { createGateways } from './gateways/create-gateways'
import { serverTlsOptions, TLS_CONTEXT_OPTIONS } from './http/tls-options'
import { readTlsMaterial, TlsReloader } from './http/tls-reloader'
import type { TlsMaterial } from './http/tls-reloader'
import { buildAdminApp } from './http/admin-app'
import { buildInfo } from './observability/build-info'
import { PromMetrics } from './observability/prom-metrics'
import { Readiness } from './observability/readiness'
import { CertificateExpiries } from './gateways/certificate-expiries'
import { TimedMinter } from './pki/timed-minter'
import { certificateNotAfter, parseCertificateTime } from './pki/certificate-expiry'
import { checkStorageAtStart } from './storage/storage-start-check'
import { TimedBlobStore } from './storage/timed-blob-store'
import { isIssuedBy } from './pki/certificates'
import { ClientCertificateChecker, clientAuthoritiesOf } from './pki/client-certificate-check'
import { CaSnapshot } from './pki/ca-snapshot'
import { ensureDevPki } from './pki/dev-pki'
import type { CredentialMinter } from './pki/credential-minter'
import { NodeCredentialMinter } from './pki/node-credential-minter'
import { OpensslCredentialMinter } from './pki/openssl-credential-minter'
import { preflightTrust } from './pki/trust-preflight'
import { readCaPair, readPkiFiles } from './pki/pki-files'
import { CachedBlobStore } from './storage/cached-blob-store'
import { createBlobStore } from './storage/create-blob-store'
import { StartupError } from './errors'
import { listenError, startupFiles, startupStep } from './startup-checks'

export interface StartOptions {
  /** Log lines the log destination dropped so far, shown as cups_log_lines_dropped_total. */
  readonly logLinesDropped?: () => number
}

export interface RunningServer {
  readonly app: FastifyInstance<HttpsServer>
  readonly port: number
  /** The admin listener: /healthz, /readyz, /metrics. */
  readonly admin: FastifyInstance
  readonly adminPort: number
  readonly metrics: PromMetrics
  readonly readiness: Readiness
  /** Re-read the server certificate, key and client CAs, and the allowlist file (SIGHUP); false keeps the old TLS files. */
  reload(reason: string): Promise<boolean>
  /** Settles when the work done after answers so far (inventory writes) has finished and the firmware catalogue has been read again. */
  settle(): Promise<void>
  close(): Promise<void>
}

export async function startServer(config: Config, log: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const { tls, storage, credentials, cups } = config
  // What start finds wrong is thrown as a StartupError naming the variable to fix (index.ts prints one line).
  const files = startupFiles(config)
  const devPki = { log, port: config.server.port, ...(tls.certHostPath === undefined ? {} : { displayPath: tls.certHostPath }) }
  await startupStep(() => ensureDevPki(tls.certPath, devPki), { otherwise: { variable: 'CERT_PATH' } })

  const metrics = new PromMetrics({ buildInfo: buildInfo(config) })
  const { logLinesDropped } = options
  if (logLinesDropped !== undefined) metrics.readAtScrape('log_lines_dropped_total', logLinesDropped)
  // Timed under the cache: the metrics count real storage calls, and readiness and scans read past the cache.
  const storageCalls = new TimedBlobStore(createBlobStore(storage, log), metrics)
  const storageProblem = await checkStorageAtStart(storage, storageCalls)
  if (storageProblem !== undefined) log.error({ problem: storageProblem }, 'storage unreachable at start: starting unready; /readyz answers 503 until it answers')
  const store = new CachedBlobStore(storageCalls, storage.cacheTtlMs)
  // Swapped as a whole when a reload passes preflight; credentials built after that use the new trust and CA.
  let pki = await startupStep(() => readPkiFiles(tls), { files })
  let staged = pki
  let stagedMaterial: TlsMaterial | undefined
  const showExpiries = (material: TlsMaterial): void => {
    metrics.set('server_certificate_expiry_timestamp_seconds', parseCertificateTime(new X509Certificate(material.cert).validTo).getTime() / 1000)
    metrics.set('ca_certificate_expiry_timestamp_seconds', certificateNotAfter(pki.ca).getTime() / 1000)
  }
  const tlsFiles = {
    serverCertFile: tls.serverCertFile,
    serverKeyFile: tls.serverKeyFile,
    clientCaFiles: [tls.caCertFile, ...(cups.bootstrapCaFile === undefined ? [] : [cups.bootstrapCaFile])],
    // During a CA rotation the previous CA still vouches for the certificates gateways hold.
    optionalClientCaFiles: [tls.previousCaCertFile],
    relatedFiles: [tls.cupsTrustFile, tls.tcTrustFile],
  }
  // A station verifies us with the one trust certificate we hand out and by DNS name only:
  // refuse to start (or, on reload, keep the old context) rather than serve what it would reject.
  const preflight = (material: TlsMaterial): void => {
    staged = readPkiFiles(tls)
    stagedMaterial = material
    preflightTrust({ cupsTrust: staged.cups, serverCertificatePem: material.cert, cupsUri: cups.cupsUri })
  }
  const adopt = (): void => {
    if (!staged.cups.equals(pki.cups) || !staged.tc.equals(pki.tc)) {
      log.warn('trust certificates changed: each gateway gets its bundle with the new trust on its next contact')
    }
    if (!staged.ca.equals(pki.ca) || !staged.caKey.equals(pki.caKey)) {
      log.warn('gateway CA changed: new and renewed gateway certificates come from the new CA')
      caSnapshot.write(staged.ca, staged.caKey).catch((err: unknown) => {
        log.error({ err }, 'could not switch minting to the new CA; it still mints with the previous one')
      })
    }
    pki = staged
    authorities = clientAuthoritiesOf(pki, factoryCa)
    if (stagedMaterial !== undefined) served = stagedMaterial
    showExpiries(served)
    metrics.increment('tls_reloads_total', { result: 'applied' })
  }
  const material = await startupStep(() => readTlsMaterial(tlsFiles), { files })
  await startupStep(() => { preflight(material) }, { files, otherwise: { variable: 'CERT_PATH', path: tls.serverCertFile } })
  // What new handshakes present; replaced when a reload is adopted.
  let served = material
  showExpiries(served)

  // Certificates from the previous CA are ours too: renewing them is how a CA rotation completes.
  const issuedByUs = (certificate: Buffer): boolean =>
    isIssuedBy(certificate, pki.ca) || (pki.previousCa !== undefined && isIssuedBy(certificate, pki.previousCa))
  const factoryCa = await startupStep(() => (cups.bootstrapCaFile === undefined ? undefined : readFile(cups.bootstrapCaFile)), {
    otherwise: { variable: 'BOOTSTRAP_CA_PATH', path: cups.bootstrapCaFile },
  })
  const isFactoryCertificate = (certificate: Buffer): boolean => factoryCa !== undefined && isIssuedBy(certificate, factoryCa)
  // Replaced as a whole when a reload adopts new CAs, which also empties the checker's memo: a CA removed
  // from the client CAs stops vouching at the next request, resumed TLS sessions included.
  let authorities = clientAuthoritiesOf(pki, factoryCa)
  const certificateChecker = new ClientCertificateChecker(() => authorities)
  const caSnapshot = await CaSnapshot.create(pki.ca, pki.caKey)
  const minterFor = (ca: CaSnapshot): CredentialMinter =>
    new TimedMinter(
      credentials.mintEngine === 'node'
        ? new NodeCredentialMinter({ ca, validityDays: credentials.validityDays, maxConcurrent: credentials.mintConcurrency })
        : new OpensslCredentialMinter({ ca, validityDays: credentials.validityDays, timeoutMs: credentials.mintTimeoutMs, maxConcurrent: credentials.mintConcurrency }),
      credentials.mintEngine,
      metrics,
    )
  const minter = minterFor(caSnapshot)
  // The LNS's own gateway CA (ChirpStack's, say), for records whose TC credentials it must issue. Read at start.
  const lnsCaFiles = cups.lnsCa
  const lnsCaPair =
    lnsCaFiles === undefined
      ? undefined
      : await startupStep(() => readCaPair(lnsCaFiles.certFile, lnsCaFiles.keyFile), { files })
  // Its certificates must never prove a gateway's identity here: an LNS CA that is also a client CA (ours, the
  // previous one or the factory CA) would turn every TC certificate into a CUPS credential.
  const clientCaDers = [pki.ca, ...(pki.previousCa === undefined ? [] : [pki.previousCa]), ...authorities.factory.map((ca) => ca.raw)]
  if (lnsCaPair !== undefined && lnsCaFiles !== undefined && clientCaDers.some((der) => der.equals(lnsCaPair.ca))) {
    throw new StartupError('LNS_CA_CERT_PATH', lnsCaFiles.certFile, 'is also a CA whose client certificates this server accepts (CERT_PATH/ca.crt, ca-previous.crt or BOOTSTRAP_CA_PATH); use a separate CA')
  }
  const lnsSnapshot = lnsCaPair === undefined ? undefined : await CaSnapshot.create(lnsCaPair.ca, lnsCaPair.caKey)
  const lnsCa =
    lnsSnapshot === undefined || lnsCaPair === undefined
      ? undefined
      : { minter: minterFor(lnsSnapshot), issued: (certificate: Buffer) => isIssuedBy(certificate, lnsCaPair.ca) }
  const gateways = createGateways({
    config,
    store,
    pki: {
      trust: () => pki,
      issuedByUs,
      isFactoryCertificate,
      checkCertificate: (der) => certificateChecker.check(der),
    },
    minter,
    lnsCa,
    allowlist: await readAllowlist(cups.bootstrapAllowlist),
    metrics,
    log,
  })
  const { registry, inventory } = gateways
  const service = gateways.updateInfo
  if (cups.bootstrapPolicy === 'open') {
    log.warn('BOOTSTRAP_POLICY=open: any caller without credentials can claim any unprovisioned gateway EUI. For labs only.')
  }
  if (cups.tcUri === undefined) log.warn('TC_URI is not set: gateways get no LNS URI and no TC credentials')

  const expiries = new CertificateExpiries(storageCalls, storage.prefix, log)
  metrics.readAtScrape('gateway_certificate_soonest_expiry_timestamp_seconds', () =>
    expiries.current().map(({ kind, seconds }) => ({ labels: { kind }, value: seconds })),
  )
  const readiness = new Readiness(
    {
      // Read past the cache: an absent key answers as fast as any, and proves the storage answers.
      storage: async () => {
        await storageCalls.get(`${storage.prefix}readyz-probe`)
        return undefined
      },
      pki: () => expiredPki(pki.ca, served),
    },
    { timeoutMs: storage.timeoutMs },
  )
  metrics.readAtScrape('ready', async () => ((await readiness.report()).ready ? 1 : 0))

  const app = buildGatewayApp(
    { service, metrics, limits: config.server, logger: log },
    serverTlsOptions(material, config.server.tlsHandshakeTimeoutMs),
  )
  const admin = buildAdminApp({ metrics, readiness, logger: log })
  const removeSnapshots = async (): Promise<void> => {
    await caSnapshot.remove()
    await lnsSnapshot?.remove()
  }
  try {
    await app.listen({ host: config.server.host, port: config.server.port })
  } catch (err) {
    await removeSnapshots()
    throw listenError(err, config.server.host, config.server.port)
  }
  try {
    await admin.listen({ host: config.admin.host, port: config.admin.port })
  } catch (err) {
    await app.close()
    await removeSnapshots()
    throw listenError(err, config.admin.host, config.admin.port, { host: 'ADMIN_HOST', port: 'ADMIN_PORT' })
  }
  const reloader = new TlsReloader({
    server: app.server,
    files: tlsFiles,
    baseOptions: TLS_CONTEXT_OPTIONS,
    preflight,
    onReloaded: adopt,
    onRefused: () => {
      metrics.increment('tls_reloads_total', { result: 'rejected' })
    },
    log,
  })
  reloader.watch()
  expiries.start(config.expiryScanMs)
  gateways.firmware.watch()
  const port = boundPort(app.server.address(), config.server.port)
  const adminPort = boundPort(admin.server.address(), config.admin.port)
  log.info({ port, adminPort, adminHost: config.admin.host, storage: storage.s3 ? `s3://${storage.s3.bucket}` : storage.dataDir }, 'CUPS server listening')
  return {
    app,
    port,
    admin,
    adminPort,
    metrics,
    readiness,
    settle: async () => {
      await inventory.drain()
      await gateways.firmware.reread()
    },
    reload: async (reason) => {
      const reloaded = await reloader.reload(reason)
      await reloadAllowlist(cups.bootstrapAllowlist, registry, log)
      return reloaded
    },
    close: async () => {
      // Unready first, so a load balancer stops sending gateways while in-flight requests finish.
      readiness.shutDown()
      reloader.close()
      await app.close()
      await gateways.firmware.unwatch()
      await inventory.drain()
      await expiries.stop()
      await admin.close()
      await removeSnapshots()
    },
  }
}

function boundPort(address: ReturnType<HttpsServer['address']>, configured: number): number {
  return typeof address === 'object' && address !== null ? address.port : configured
}

/** A replica whose server certificate or CA has expired cannot serve a station (it would reject the handshake). */
function expiredPki(caDer: Buffer, material: TlsMaterial): string | undefined {
  const now = Date.now()
  const server = parseCertificateTime(new X509Certificate(material.cert).validTo)
  if (server.getTime() <= now) return `the server certificate expired at ${server.toISOString()}`
  const ca = certificateNotAfter(caDer)
  if (ca.getTime() <= now) return `the gateway CA expired at ${ca.toISOString()}`
  return undefined
}
