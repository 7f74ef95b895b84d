// planUpdate: which segments a station needs, from what it reported versus what it should have. Pure.
import { crc32 } from './crc32'
import type { UpdateInfoRequest } from './update-info-request'
import type { UpdateInfoResponse } from './update-info-response'

export interface FirmwareSignature {
  /** crc32 of the sig-N.key file whose private key made `der`. */
  readonly keyCrc: number
  readonly der: Buffer
}

export interface DesiredGatewayState {
  readonly cupsUri?: string
  readonly tcUri?: string
  /** Canonical credential blobs, so the station's next CRC equals crc32(blob). */
  readonly cupsCredentials?: Buffer
  readonly tcCredentials?: Buffer
  readonly firmware?: {
    /** Compared with the station's `package` (its version.txt); the update must change that file. */
    readonly version: string
    readonly update: Buffer
    readonly signatures: readonly FirmwareSignature[]
  }
}

/**
 * Sends a segment only when it differs from what the station reported: every URI or credential segment is
 * written to disk and restarts TC or re-polls CUPS within a minute, so an unchanged one must never be resent.
 */
export function planUpdate(request: UpdateInfoRequest, desired: DesiredGatewayState): UpdateInfoResponse {
  const response: UpdateInfoResponse = {}
  const { cupsUri, tcUri, cupsCredentials, tcCredentials, firmware } = desired
  if (cupsUri !== undefined && cupsUri !== '' && cupsUri !== request.cupsUri) response.cupsUri = cupsUri
  if (tcUri !== undefined && tcUri !== '' && tcUri !== request.tcUri) response.tcUri = tcUri
  if (differs(cupsCredentials, request.cupsCredCrc)) response.cupsCredentials = cupsCredentials
  if (differs(tcCredentials, request.tcCredCrc)) response.tcCredentials = tcCredentials
  if (firmware !== undefined && firmware.update.length > 0 && firmware.version !== request.package) {
    if (request.keys.length === 0) {
      // No sig-N.key: the station runs an unsigned update, and could not check a signature anyway.
      response.update = firmware.update
    } else {
      // With keys the station discards an unsigned update or one no key verifies, so send none rather than a doomed one.
      const signature = firmware.signatures.find(({ keyCrc }) => request.keys.includes(keyCrc))
      if (signature !== undefined) {
        response.signature = { keyCrc: signature.keyCrc, der: signature.der }
        response.update = firmware.update
      }
    }
  }
  return response
}

function differs(blob: Buffer | undefined, reportedCrc: number): blob is Buffer {
  return blob !== undefined && blob.length > 0 && crc32(blob) !== reportedCrc
}
