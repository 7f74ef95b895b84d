// The minting port: a fresh client identity (EC P-256 key + certificate with CN = EUI) signed by our CA.
import { MintingError } from '../errors'

export interface ClientCredential {
  /** Client certificate, DER. */
  readonly certificate: Buffer
  /** EC P-256 private key, SEC1 DER (30 77 ...): the station cannot parse PKCS#8. */
  readonly privateKey: Buffer
  /** Certificate serial number, uppercase hex, for the audit log. */
  readonly serial: string
  readonly notAfter: Date
}

export interface CredentialMinter {
  /**
   * eui is 16 lowercase hex digits, already validated. A mint still queued when `signal` fires is
   * skipped (rejects with the abort reason): its request was answered without it.
   */
  mint(eui: string, signal?: AbortSignal): Promise<ClientCredential>
}

/**
 * The EUI becomes a certificate's CN (and, for OpenSSL, part of argv): defence in depth, so nothing but
 * the canonical 16 lowercase hex digits reaches either engine. Undefined when the EUI is fine.
 */
export function refuseEui(eui: string): MintingError | undefined {
  return /^[0-9a-f]{16}$/.test(eui) ? undefined : new MintingError('refusing to mint: the EUI must be 16 lowercase hex digits')
}
