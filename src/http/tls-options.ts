// loadTlsOptions: our server identity plus the client CAs, for a server that asks for client certificates.
import { readFile } from 'node:fs/promises'
import type { ServerOptions } from 'node:https'

export interface TlsFiles {
  readonly serverCertFile: string
  readonly serverKeyFile: string
  /** CA that signs gateway client certificates. */
  readonly caCertFile: string
  /** Factory CA whose certificates also prove a gateway's identity (BOOTSTRAP_CA_PATH). */
  readonly bootstrapCaFile?: string | undefined
}

/**
 * The station's mbedTLS speaks TLS 1.2 at most, so 1.2 stays on. Client certificates are requested but
 * not required: token and bootstrap callers have none, and the access policy decides per EUI.
 */
export async function loadTlsOptions(files: TlsFiles): Promise<ServerOptions> {
  const caFiles = [files.caCertFile, ...(files.bootstrapCaFile === undefined ? [] : [files.bootstrapCaFile])]
  const [cert, key, ...ca] = await Promise.all(
    [files.serverCertFile, files.serverKeyFile, ...caFiles].map((file) => readFile(file)),
  )
  return { cert, key, ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }
}
