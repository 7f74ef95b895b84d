// The binary /update-info reply and its encoder; refuses anything the station would reject or be bricked by.
import { EncodingError } from '../errors'
import { checkCredentialBlob } from './credential-blob'
import { checkStationUri } from './station-uri'

/*
 * Six segments, every length little-endian (src/cups.c sizelen: 1, 1, 2, 2, 4, 4 bytes; pysys/tcutils.py):
 *
 *   field        width           meaning
 *   cupsUriLen   u8              0 = no change
 *   cupsUri      cupsUriLen      ASCII `http(s)://host:port`, no terminator
 *   tcUriLen     u8
 *   tcUri        tcUriLen        ASCII `ws(s)://host:port`
 *   cupsCredLen  u16             0 = no change
 *   cupsCred     cupsCredLen     credential blob trust ‖ cert ‖ key (credential-blob.ts)
 *   tcCredLen    u16
 *   tcCred       tcCredLen       credential blob
 *   sigLen       u32             4 + DER signature length; 0 = no signature, else 8..132 or the station fails
 *   keyCrc       u32             crc32 of the signing sig-N.key (only logged by the station)
 *   sig          sigLen - 4      DER ECDSA P-256 signature over SHA-512 of the whole update
 *   updLen       u32             0 = no update, else < 2^31 (the station reads it as signed)
 *   upd          updLen          written to /tmp/update.bin and executed
 *
 * Zero lengths mean "no change", so nothing can be cleared. All six length fields are always present: the
 * "nothing to do" reply is 14 zero bytes. The station ignores bytes after the last segment.
 */

export interface UpdateInfoResponse {
  cupsUri?: string
  tcUri?: string
  cupsCredentials?: Buffer
  tcCredentials?: Buffer
  /** Only together with an update. */
  signature?: { keyCrc: number; der: Buffer }
  update?: Buffer
}

/**
 * The "nothing to do" reply (all six lengths zero). One shared Buffer: never write into it; take
 * Buffer.from(NO_CHANGE) or encodeUpdateInfoResponse({}) for a private copy.
 */
export const NO_CHANGE: Readonly<Buffer> = Buffer.alloc(14)

const MIN_SIG_LEN = 8 // keyCrc + at least 4 signature bytes
const MAX_SIG_LEN = 4 + 128 // keyCrc + the station's 128-byte signature buffer
const MAX_UPDATE_BYTES = 0x7fffffff

/** Encodes the reply; empty strings and zero-length Buffers encode as "no change" (prefer omitting them). */
export function encodeUpdateInfoResponse(response: UpdateInfoResponse): Buffer {
  const update = response.update ?? Buffer.alloc(0)
  return Buffer.concat([encodeUpdateInfoHead(response, update.length), update])
}

/**
 * Every byte of the reply up to and including updLen, for a reply whose update follows as a stream of exactly
 * `updateLength` bytes (Content-Length = head + updateLength). `response.update` is ignored.
 */
export function encodeUpdateInfoHead(response: Omit<UpdateInfoResponse, 'update'>, updateLength: number): Buffer {
  if (!Number.isInteger(updateLength) || updateLength < 0 || updateLength > MAX_UPDATE_BYTES) {
    throw new EncodingError('UPDATE_TOO_LONG', `update is ${String(updateLength)} bytes; the station takes less than 2 GiB`)
  }
  const updLen = Buffer.alloc(4)
  updLen.writeUInt32LE(updateLength, 0)
  return Buffer.concat([
    ...segment(1, uriBytes(response.cupsUri, 'cups')),
    ...segment(1, uriBytes(response.tcUri, 'tc')),
    ...segment(2, credentialBytes(response.cupsCredentials, 'cupsCredentials')),
    ...segment(2, credentialBytes(response.tcCredentials, 'tcCredentials')),
    ...segment(4, signatureBytes(response.signature, updateLength)),
    updLen,
  ])
}

function segment(lengthWidth: 1 | 2 | 4, body: Buffer): [Buffer, Buffer] {
  const length = Buffer.alloc(lengthWidth)
  length.writeUIntLE(body.length, 0, lengthWidth)
  return [length, body]
}

function uriBytes(uri: string | undefined, kind: 'cups' | 'tc'): Buffer {
  if (uri === undefined || uri === '') return Buffer.alloc(0)
  checkStationUri(uri, kind)
  return Buffer.from(uri, 'latin1')
}

function credentialBytes(blob: Buffer | undefined, field: 'cupsCredentials' | 'tcCredentials'): Buffer {
  if (blob === undefined || blob.length === 0) return Buffer.alloc(0)
  try {
    checkCredentialBlob(blob)
  } catch (err) {
    if (err instanceof EncodingError) throw new EncodingError(err.code, `${field}: ${err.message}`)
    throw err
  }
  return blob
}

function signatureBytes(signature: UpdateInfoResponse['signature'], updateLength: number): Buffer {
  if (signature === undefined) return Buffer.alloc(0)
  // The station checks a signature only against the update in the same reply; alone it means a planning bug.
  if (updateLength === 0) throw new EncodingError('SIGNATURE_WITHOUT_UPDATE', 'a signature is only sent together with an update')
  const { keyCrc, der } = signature
  if (!Number.isInteger(keyCrc) || keyCrc < 0 || keyCrc > 0xffffffff) {
    throw new EncodingError('BAD_KEY_CRC', 'signature.keyCrc must be an unsigned 32-bit integer')
  }
  const sigLen = 4 + der.length
  if (sigLen < MIN_SIG_LEN || sigLen > MAX_SIG_LEN) {
    throw new EncodingError('BAD_SIGNATURE_LENGTH', `sigLen would be ${sigLen}; the station accepts ${MIN_SIG_LEN}..${MAX_SIG_LEN}`)
  }
  // mbedtls_ecdsa_read_signature wants one DER SEQUENCE{r,s} using up the whole signature; raw r‖s fails to verify.
  if (!isDerSequence(der)) throw new EncodingError('SIGNATURE_NOT_DER', 'signature.der must be one DER SEQUENCE (ECDSA r,s), not raw r‖s')
  const body = Buffer.alloc(sigLen)
  body.writeUInt32LE(keyCrc, 0)
  der.copy(body, 4)
  return body
}

/** A DER signature fits in 128 bytes, so its SEQUENCE length is always the short form. */
function isDerSequence(der: Buffer): boolean {
  return der.length >= 2 && der[0] === 0x30 && der[1] === der.length - 2
}
