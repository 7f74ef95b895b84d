// readPkiFiles: the certificates a reload may change besides the TLS pair: the trusts we hand out and our CA.
import { readFileSync } from 'node:fs'
import { parseTrustCertificate } from './certificates'

export interface PkiFiles {
  readonly cupsTrustFile: string
  readonly tcTrustFile: string
  readonly caCertFile: string
}

export interface PkiCertificates {
  /** DER certificate that goes into CUPS bundles (verifies us). */
  readonly cups: Buffer
  /** DER certificate that goes into TC bundles (verifies the LNS). */
  readonly tc: Buffer
  /** DER of the CA that signs gateway certificates now. */
  readonly ca: Buffer
}

/** Synchronous on purpose: it runs inside a reload's preflight, and the files are a few hundred bytes. */
export function readPkiFiles(files: PkiFiles): PkiCertificates {
  const read = (file: string): Buffer => parseTrustCertificate(readFileSync(file), file)
  return { cups: read(files.cupsTrustFile), tc: read(files.tcTrustFile), ca: read(files.caCertFile) }
}
