// loadTlsOptions: our server identity plus the client CA, for a server that asks for client certificates.
import { readFile } from 'node:fs/promises'
import type { ServerOptions } from 'node:https'

export interface TlsFiles {
  readonly serverCertFile: string
  readonly serverKeyFile: string
  /** CA that signs gateway client certificates. */
  readonly caCertFile: string
}

/**
 * The station's mbedTLS speaks TLS 1.2 at most, so 1.2 stays on. Client certificates are requested but
 * not required: token and bootstrap callers have none, and the access policy decides per EUI.
 */
export async function loadTlsOptions(files: TlsFiles): Promise<ServerOptions> {
  const [cert, key, ca] = await Promise.all([
    readFile(files.serverCertFile),
    readFile(files.serverKeyFile),
    readFile(files.caCertFile),
  ])
  return { cert, key, ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }
}
