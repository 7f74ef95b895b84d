// readPkiFiles: what a reload may change besides the TLS pair: the trusts we hand out and the CA we mint with.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { parseTrustCertificate } from './certificates'

export interface PkiFiles {
  readonly cupsTrustFile: string
  readonly tcTrustFile: string
  readonly caCertFile: string
  readonly caKeyFile: string
  /** Present only during a CA rotation. */
  readonly previousCaCertFile: string
}

export interface PkiCertificates {
  /** DER certificate that goes into CUPS bundles (verifies us). */
  readonly cups: Buffer
  /** DER certificate that goes into TC bundles (verifies the LNS). */
  readonly tc: Buffer
  /** DER of the CA that signs gateway certificates now. */
  readonly ca: Buffer
  /** Its private key, as read (PEM); only ever written to the minter's private copy. */
  readonly caKey: Buffer
  /** DER of the CA before a rotation, whose certificates we still renew as our own. */
  readonly previousCa: Buffer | undefined
}

/**
 * Synchronous on purpose: it runs inside a reload's preflight, and the files are a few hundred bytes.
 * Every error message starts with "<file>: " (startup maps the file to the variable that named it): a file
 * that cannot be read, a trust that is not exactly one certificate, a CA key that does not parse or does not
 * match its certificate (a rotation that replaced only one of the two).
 */
export function readPkiFiles(files: PkiFiles): PkiCertificates {
  const read = (file: string): Buffer => parseTrustCertificate(readNamed(file), file)
  const { ca, caKey } = readCaPair(files.caCertFile, files.caKeyFile)
  return {
    cups: read(files.cupsTrustFile),
    tc: read(files.tcTrustFile),
    ca,
    caKey,
    previousCa: existsSync(files.previousCaCertFile) ? read(files.previousCaCertFile) : undefined,
  }
}

/** A CA certificate (exactly one, DER out) and its unencrypted key (as read), checked to belong together. */
export function readCaPair(certFile: string, keyFile: string): { readonly ca: Buffer; readonly caKey: Buffer } {
  const ca = parseTrustCertificate(readNamed(certFile), certFile)
  const caKey = readNamed(keyFile)
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(caKey)
  } catch (err) {
    throw new Error(`${keyFile}: is not an unencrypted PEM private key (${(err as Error).message})`)
  }
  const keySpki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' })
  if (!keySpki.equals(new X509Certificate(ca).publicKey.export({ type: 'spki', format: 'der' }))) {
    throw new Error(`${keyFile}: does not match ${certFile}; replace both together`)
  }
  return { ca, caKey }
}

function readNamed(file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new Error(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}
