// planUpdate: which segments a station needs, from what it reported versus what it should have. Pure.
import { crc32 } from './crc32'
import type { UpdateInfoRequest } from './update-info-request'
import type { UpdateInfoResponse } from './update-info-response'

export interface DesiredGatewayState {
  readonly cupsUri?: string
  readonly tcUri?: string
  /** Canonical credential blobs, so the station's next CRC equals crc32(blob). */
  readonly cupsCredentials?: Buffer
  readonly tcCredentials?: Buffer
}

/**
 * Sends a segment only when it differs from what the station reported: every URI or credential segment is
 * written to disk and restarts TC or re-polls CUPS within a minute, so an unchanged one must never be resent.
 * Firmware (signature and update) is chosen by src/firmware/select-firmware.ts and streamed after these.
 */
export function planUpdate(request: UpdateInfoRequest, desired: DesiredGatewayState): UpdateInfoResponse {
  const response: UpdateInfoResponse = {}
  const { cupsUri, tcUri, cupsCredentials, tcCredentials } = desired
  if (cupsUri !== undefined && cupsUri !== '' && cupsUri !== request.cupsUri) response.cupsUri = cupsUri
  if (tcUri !== undefined && tcUri !== '' && tcUri !== request.tcUri) response.tcUri = tcUri
  if (differs(cupsCredentials, request.cupsCredCrc)) response.cupsCredentials = cupsCredentials
  if (differs(tcCredentials, request.tcCredCrc)) response.tcCredentials = tcCredentials
  return response
}

function differs(blob: Buffer | undefined, reportedCrc: number): blob is Buffer {
  return blob !== undefined && blob.length > 0 && crc32(blob) !== reportedCrc
}
