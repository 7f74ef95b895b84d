// effectiveSettings: the fleet defaults (environment) with one gateway's record laid over them. Pure.
import { parseTrustCertificate } from '../pki/certificates'
import type { GatewayRecordFields } from './gateway-record'

/** What the environment sets for every gateway (CUPS_URI, TC_URI); a record overrides each. */
export interface GatewayDefaults {
  readonly cupsUri: string | undefined
  readonly tcUri: string | undefined
}

/** Where the gateway's TC credentials come from (the record's `tcCredentials`). */
export type TcSource =
  | { readonly source: 'ours' }
  | { readonly source: 'lns-ca' }
  | { readonly source: 'none' }
  /** Header lines, exactly as the station sends them to the LNS. */
  | { readonly source: 'token'; readonly token: string }

export interface GatewaySettings {
  readonly cupsUri: string | undefined
  readonly tcUri: string | undefined
  /** DER of the LNS CA for TC bundles; undefined = TC_TRUST_PATH. */
  readonly tcTrust: Buffer | undefined
  /** Undefined = no explicit choice: our CA, and TC bundles other tools stored are served as they are. */
  readonly tcSource: TcSource | undefined
}

/** Per parsed record (the registry keeps one per stored copy), so the trust PEM is parsed once, not per poll. */
const trusts = new WeakMap<GatewayRecordFields, Buffer>()

export function effectiveSettings(defaults: GatewayDefaults, record: GatewayRecordFields | undefined): GatewaySettings {
  const credentials = record?.tcCredentials
  let tcSource: TcSource | undefined
  if (credentials?.source === 'token') {
    tcSource = { source: 'token', token: credentials.token ?? `Authorization: Bearer ${credentials.bearer ?? ''}` }
  } else if (credentials !== undefined) {
    tcSource = { source: credentials.source }
  }
  return {
    cupsUri: record?.cupsUri ?? defaults.cupsUri,
    tcUri: record?.tcUri ?? defaults.tcUri,
    tcTrust: record?.tcTrust === undefined ? undefined : trustOf(record, record.tcTrust),
    tcSource,
  }
}

function trustOf(record: GatewayRecordFields, pem: string): Buffer {
  let der = trusts.get(record)
  if (der === undefined) {
    der = parseTrustCertificate(Buffer.from(pem, 'utf8'), 'tcTrust')
    trusts.set(record, der)
  }
  return der
}
