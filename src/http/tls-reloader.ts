// TlsReloader: hot reload of the server certificate, its key and the client CAs into a running HTTPS server.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { SecureContextOptions } from 'node:tls'
import type { Logger } from '../logger'
import { parseCertificateTime } from '../pki/certificate-expiry'
import { parseCertificates } from '../pki/certificates'

export interface TlsMaterialFiles {
  /** Leaf first, then any intermediates. */
  readonly serverCertFile: string
  readonly serverKeyFile: string
  /** CAs that sign client (gateway) certificates; a file may hold several. */
  readonly clientCaFiles: readonly string[]
  /** Client CA files used when present and skipped when absent (ca-previous.crt during a CA rotation). */
  readonly optionalClientCaFiles?: readonly string[]
  /** More files whose change triggers a reload (trust certificates checked by preflight). */
  readonly relatedFiles?: readonly string[]
}

export interface TlsMaterial {
  /** PEM, leaf first. */
  readonly cert: Buffer
  /** PEM, exactly as read from serverKeyFile. */
  readonly key: Buffer
  /** PEM, one entry per client CA file. */
  readonly ca: Buffer[]
}

/** The part of https.Server (and tls.Server) the reloader drives. */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void
}

export interface TlsReloaderOptions {
  readonly server: SecureContextTarget
  readonly files: TlsMaterialFiles
  /** minVersion, ciphers, ...: setSecureContext builds a new context from scratch, so they are passed every time. */
  readonly baseOptions: SecureContextOptions
  /** Throws to refuse a new set (e.g. preflightTrust); the old context then stays. */
  readonly preflight?: (material: TlsMaterial) => void
  /** Called after a new context is in place, e.g. to adopt what preflight checked. */
  readonly onReloaded?: () => void
  /** Called when a reload is refused and the running context stays (counted by the caller). */
  readonly onRefused?: () => void
  readonly log: Logger
  /** Quiet time after the last file event before reloading; default 200 ms. */
  readonly debounceMs?: number
}

const DEFAULT_DEBOUNCE_MS = 200
// Kubernetes updates a mounted secret by swapping the "..data" symlink; the visible names never change.
const KUBERNETES_DATA_LINK = '..data'

/**
 * Reads the three kinds of files and checks they belong together, so a half-finished renewal is refused
 * here instead of breaking every new TLS handshake. Certificates come back re-encoded as PEM (DER files
 * work too); the key stays as read. Errors name the offending file and never quote key material.
 */
export async function readTlsMaterial(files: TlsMaterialFiles): Promise<TlsMaterial> {
  const optional = await Promise.all((files.optionalClientCaFiles ?? []).map(readIfPresent))
  const caFiles = [...files.clientCaFiles, ...(files.optionalClientCaFiles ?? []).filter((_file, i) => optional[i] !== undefined)]
  const [certContent, keyContent, ...caContents] = await Promise.all([
    readNamed(files.serverCertFile),
    readNamed(files.serverKeyFile),
    ...caFiles.map(readNamed),
  ])
  const chain = parseCertificates(certContent, files.serverCertFile)
  const leaf = chain[0]
  if (leaf === undefined) throw new Error(`${files.serverCertFile}: holds no certificate`)

  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(keyContent)
  } catch (err) {
    throw new Error(`${files.serverKeyFile}: is not an unencrypted PEM private key (${(err as Error).message})`)
  }
  const keySpki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' })
  const certSpki = leaf.publicKey.export({ type: 'spki', format: 'der' })
  if (!keySpki.equals(certSpki)) {
    throw new Error(
      `${files.serverKeyFile}: does not match the certificate in ${files.serverCertFile} ` +
        `(serial ${leaf.serialNumber}); a renewal replaced only one of the two?`,
    )
  }

  const ca = caContents.map((content, i) => {
    const certificates = parseCertificates(content, caFiles[i] ?? 'client CA file')
    return Buffer.from(certificates.map((certificate) => certificate.toString()).join(''))
  })
  return { cert: Buffer.from(chain.map((certificate) => certificate.toString()).join('')), key: keyContent, ca }
}

async function readIfPresent(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}

async function readNamed(file: string): Promise<Buffer> {
  try {
    return await readFile(file)
  } catch (err) {
    throw new Error(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}

/**
 * Swaps the server's TLS context when the files change. Existing connections keep the context they were
 * accepted with; new ones get the new one. A set that fails to read, match or pass preflight is refused and
 * the running context stays, so a bad renewal never takes the server down. SIGHUP is the caller's business:
 * it calls reload('SIGHUP').
 */
export class TlsReloader {
  private readonly server: SecureContextTarget
  private readonly files: TlsMaterialFiles
  private readonly baseOptions: SecureContextOptions
  private readonly preflight: ((material: TlsMaterial) => void) | undefined
  private readonly onReloaded: (() => void) | undefined
  private readonly onRefused: (() => void) | undefined
  private readonly log: Logger
  private readonly debounceMs: number

  /** Settles when the latest started or queued run has finished. */
  private tail: Promise<unknown> = Promise.resolve()
  /** A run waiting for the current one; further requests join it instead of queueing more. */
  private queued: { readonly result: Promise<boolean>; readonly reasons: string[] } | undefined
  private watchers: FSWatcher[] = []
  private timer: NodeJS.Timeout | undefined
  private readonly changedNames = new Set<string>()

  constructor(options: TlsReloaderOptions) {
    this.server = options.server
    this.files = options.files
    this.baseOptions = options.baseOptions
    this.preflight = options.preflight
    this.onReloaded = options.onReloaded
    this.onRefused = options.onRefused
    this.log = options.log
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS
  }

  /**
   * Reads, validates and applies the files; true when the new context is in place. Runs one at a time: a
   * request made while a run is in progress waits for it and then reads the files again, because the run
   * in progress may have read them before the change that prompted this request.
   */
  reload(reason: string): Promise<boolean> {
    if (this.queued !== undefined) {
      if (!this.queued.reasons.includes(reason)) this.queued.reasons.push(reason)
      return this.queued.result
    }
    const reasons = [reason]
    const result = this.tail.then(() => {
      this.queued = undefined
      return this.apply(reasons.join(', '))
    })
    this.queued = { result, reasons }
    // apply() does not reject, but a broken logger must not wedge every later reload either.
    this.tail = result.then(
      () => undefined,
      () => undefined,
    )
    return result
  }

  /**
   * Watches the directories holding the files. Renewal tools write a temporary file and rename it over the
   * old one, which replaces the inode a file watch would follow, so the directory is watched and events are
   * filtered by name, then debounced so a certificate and key renamed one after the other load together.
   */
  watch(): void {
    if (this.watchers.length > 0) return
    const namesByDir = new Map<string, Set<string>>()
    const { serverCertFile, serverKeyFile, clientCaFiles, optionalClientCaFiles = [], relatedFiles = [] } = this.files
    for (const file of [serverCertFile, serverKeyFile, ...clientCaFiles, ...optionalClientCaFiles, ...relatedFiles]) {
      const resolved = path.resolve(file)
      const dir = path.dirname(resolved)
      const names = namesByDir.get(dir) ?? new Set<string>()
      names.add(path.basename(resolved))
      namesByDir.set(dir, names)
    }
    try {
      for (const [dir, names] of namesByDir) {
        // persistent: false, so watching alone never keeps the process alive after the server closed.
        const watcher = watch(dir, { persistent: false }, (_event, filename) => {
          // Some platforms do not report the name; then any change in the directory counts.
          if (filename === null || names.has(filename) || filename === KUBERNETES_DATA_LINK) {
            this.schedule(filename ?? dir)
          }
        })
        watcher.on('error', (err) => {
          this.log.error({ err, dir }, 'watching a TLS certificate directory failed; SIGHUP still reloads')
        })
        this.watchers.push(watcher)
      }
    } catch (err) {
      this.close()
      throw err
    }
  }

  /** Stops watching; a reload already running finishes. */
  close(): void {
    for (const watcher of this.watchers) watcher.close()
    this.watchers = []
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.changedNames.clear()
  }

  private schedule(name: string): void {
    this.changedNames.add(name)
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      const names = [...this.changedNames].join(', ')
      this.changedNames.clear()
      void this.reload(`file change: ${names}`)
    }, this.debounceMs)
    this.timer.unref()
  }

  /** Never rejects: any failure is logged and leaves the running context as it was. */
  private async apply(reason: string): Promise<boolean> {
    try {
      const material = await readTlsMaterial(this.files)
      this.preflight?.(material)
      // ca again every time: setSecureContext replaces the whole context, and without it every client
      // certificate silently becomes authorized:false (ecosystem-notes.md §3).
      this.server.setSecureContext({ ...this.baseOptions, cert: material.cert, key: material.key, ca: material.ca })
      this.onReloaded?.()
      const leaf = new X509Certificate(material.cert)
      this.log.info(
        {
          reason,
          serial: leaf.serialNumber,
          subject: leaf.subject.split('\n').join(', '),
          notAfter: parseCertificateTime(leaf.validTo).toISOString(),
          clientCas: material.ca.length,
        },
        'TLS context reloaded: new connections use this certificate',
      )
      return true
    } catch (err) {
      this.log.error(
        { reason, error: (err as Error).message },
        'TLS reload refused: the previous certificate, key and client CAs stay in use',
      )
      this.onRefused?.()
      return false
    }
  }
}
