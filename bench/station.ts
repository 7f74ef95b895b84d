// Owns what the benchmark's stations send and keep: request bodies, provisioned identities, token bundles.
import { X509Certificate, createPrivateKey } from 'node:crypto'
import type { SecureContext } from 'node:tls'
import { buildCredentialBlob } from '../src/cups/credential-blob'
import { crc32 } from '../src/cups/crc32'
import { formatId6 } from '../src/cups/router-id'
import { decodeUpdateInfoResponse, splitBlobLikeStation } from '../test/support/station-decoder'
import { stationTlsContext } from './load-client'

export interface StationReport {
  readonly cupsUri: string | null
  readonly tcUri: string | null
  readonly cupsCredCrc: number
  readonly tcCredCrc: number
}

/** The compact JSON a Basics Station 2.0.6 POSTs (keys in its order, ~230 bytes); router as ID6. */
export function stationBody(eui: string, report: StationReport): string {
  return JSON.stringify({
    router: formatId6(eui),
    cupsUri: report.cupsUri,
    tcUri: report.tcUri,
    cupsCredCrc: report.cupsCredCrc,
    tcCredCrc: report.tcCredCrc,
    station: '2.0.6(linux/bench) 2026-11-23 19:46:54',
    model: 'linux',
    package: '1.0.0',
    keys: [],
  })
}

/** A factory-fresh station: cups.uri and cups.trust only, so its CRCs count 4 zero bytes per missing file. */
export function firstContactReport(port: number, trustDer: Buffer): StationReport {
  const none = Buffer.alloc(4)
  return {
    cupsUri: `https://localhost:${port}`,
    tcUri: null,
    cupsCredCrc: crc32(trustDer, none, none),
    tcCredCrc: crc32(none, none, none),
  }
}

/** A station after applying its first answer: its own client certificate, and CRCs that match, so it gets "no change". */
export interface ProvisionedStation {
  readonly eui: string
  readonly cupsBlob: Buffer
  readonly tcBlob: Buffer
  readonly tls: SecureContext
  readonly noChangeBody: string
}

/** Applies a first-contact answer like the station; throws unless it carries tcUri and both credential blobs. */
export function applyFirstAnswer(eui: string, port: number, body: Buffer): ProvisionedStation {
  const answer = decodeUpdateInfoResponse(body)
  const { cupsCredentials, tcCredentials, tcUri } = answer
  if (cupsCredentials === undefined || tcCredentials === undefined || tcUri === undefined) {
    throw new Error(`first answer lacks ${cupsCredentials ? '' : 'cupsCred '}${tcCredentials ? '' : 'tcCred '}${tcUri ? '' : 'tcUri'}`)
  }
  const files = splitBlobLikeStation(cupsCredentials)
  if (files.certificate.length === 0) throw new Error('first answer carries no client certificate')
  const tls = stationTlsContext(new X509Certificate(files.trust).toString(), {
    cert: new X509Certificate(files.certificate).toString(),
    key: createPrivateKey({ key: files.key, format: 'der', type: 'sec1' }).export({ format: 'pem', type: 'sec1' }).toString(),
  })
  return {
    eui,
    cupsBlob: cupsCredentials,
    tcBlob: tcCredentials,
    tls,
    noChangeBody: stationBody(eui, {
      cupsUri: `https://localhost:${port}`,
      tcUri,
      cupsCredCrc: crc32(cupsCredentials),
      tcCredCrc: crc32(tcCredentials),
    }),
  }
}

export interface TokenBundle {
  readonly blob: Buffer
  /** The header the station sends: the token line without its CRLF. */
  readonly headerName: string
  readonly headerValue: string
}

/**
 * A CUPS bundle `trust ‖ 00000000 ‖ Authorization: Bearer ...` padded to `length` bytes, so a token gateway
 * costs the cache as much as a certificate gateway does (same blob size) without minting a certificate.
 */
export function tokenBundle(trustDer: Buffer, eui: string, length: number): TokenBundle {
  const prefix = `Bearer ${eui}-`
  const fixed = trustDer.length + 4 + 'Authorization: '.length + prefix.length + 2
  const value = prefix + 'x'.repeat(Math.max(1, length - fixed))
  const blob = buildCredentialBlob({ trust: trustDer, token: `Authorization: ${value}` })
  return { blob, headerName: 'authorization', headerValue: value }
}
