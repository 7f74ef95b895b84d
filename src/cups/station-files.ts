// The cups.uri and cups.trust a gateway image starts with, built and checked the way the station reads them.
import { X509Certificate } from 'node:crypto'
import { EncodingError } from '../errors'
import { buildCredentialBlob, checkCredentialBlob, splitCredentialBlob } from './credential-blob'
import { crc32 } from './crc32'
import { checkStationUri } from './station-uri'

export interface StationFile {
  readonly name: 'cups.uri' | 'cups.trust'
  readonly content: Buffer
}

export interface StationFiles {
  /** cups.trust first: a cups.uri without its trust fails every contact ("URI requires TLS but no trust configured"). */
  readonly files: readonly [StationFile, StationFile]
  /**
   * The cupsCredCrc the station reports until its first CUPS update: crc32 over cups.trust and 4 zero bytes each
   * for the missing cups.crt and cups.key (cups-protocol.md §2.3), which equals crc32 of the trust-only bundle.
   */
  readonly cupsCredCrc: number
}

// src/sys.c reads a uri file with trailing spaces, tabs, CR and LF stripped; 128 characters or more is "too long".
const TRAILING_BLANKS = /[ \t\r\n]+$/
const MAX_URI_CHARACTERS = 127

/**
 * cups.uri holds the URI without a newline, byte for byte what the station writes after a CUPS redirect
 * (cups-protocol.md §3.3); cups.trust holds the one DER certificate the server puts in its CUPS bundles, as the
 * station would store it from one. Throws EncodingError when the station would refuse or mis-read either file.
 */
export function buildStationFiles(cupsUri: string, cupsTrust: Buffer): StationFiles {
  checkStationUri(cupsUri, 'cups')
  // This server only speaks TLS: an http:// URI would send no trust and fail every contact.
  if (!/^https:\/\//i.test(cupsUri)) throw new EncodingError('BAD_CUPS_URI', `cups uri ${JSON.stringify(cupsUri)}: must be https://host:port: this server only speaks TLS`)
  const uri = Buffer.from(cupsUri, 'latin1')
  if (stationReadsUri(uri) !== cupsUri) throw new EncodingError('BAD_CUPS_URI', `cups uri ${JSON.stringify(cupsUri)}: the station would read it differently`)

  if (cupsTrust.subarray(0, 5).toString('latin1') === '-----') {
    throw new EncodingError('CRED_NOT_DER', 'cups.trust must be one DER certificate; PEM is not what the server hands out')
  }
  // The station measures the trust by its DER header in a CUPS bundle (asn1_seqlen): a trust-only bundle it
  // splits back into exactly this certificate is one it stores as this file.
  const bundle = buildCredentialBlob({ trust: cupsTrust })
  checkCredentialBlob(bundle)
  if (!splitCredentialBlob(bundle).trust.equals(cupsTrust) || !new X509Certificate(cupsTrust).raw.equals(cupsTrust)) {
    throw new EncodingError('CRED_NOT_DER', 'cups.trust is not exactly one DER certificate as the station measures it')
  }
  return {
    files: [
      { name: 'cups.trust', content: Buffer.from(cupsTrust) },
      { name: 'cups.uri', content: uri },
    ],
    cupsCredCrc: crc32(bundle),
  }
}

/** The URI the station takes from a cups.uri file (src/sys.c sys_uri), or undefined where it finds none. */
export function stationReadsUri(content: Buffer): string | undefined {
  const text = content.toString('latin1').replace(TRAILING_BLANKS, '')
  return text === '' || text.length > MAX_URI_CHARACTERS ? undefined : text
}
