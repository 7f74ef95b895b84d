// An independent reader of /update-info replies, written like the station's parser (src/cups.c, src/sys.c); test use only.
// It deliberately shares no code with src/cups so that the encoder's bugs cannot hide in the expected side.

export interface DecodedUpdateInfoResponse {
  cupsUri?: string
  tcUri?: string
  cupsCredentials?: Buffer
  tcCredentials?: Buffer
  signature?: { keyCrc: number; der: Buffer }
  update?: Buffer
  /** Bytes after the last segment: the station ignores them. */
  trailing: number
}

export interface StationCredentialFiles {
  trust: Buffer
  certificate: Buffer
  key: Buffer
}

/** The station's CUPS_ERR_FAILED: the session counts as failed and nothing after the URIs is applied. */
export class StationProtocolError extends Error {}

/** The station's sys_credComplete failure: logged, no credential file written. */
export class StationCredentialError extends Error {}

/** Walks the six segments like cups_update_info; throws StationProtocolError where the station ends in CUPS_ERR_FAILED. */
export function decodeUpdateInfoResponse(body: Buffer): DecodedUpdateInfoResponse {
  // First chunk: both URIs plus at least one more byte must be there (the station's "need one more byte for \0").
  if (body.length < 2) throw new StationProtocolError(`Malformed CUPS response: body of ${body.length} bytes`)
  const cupsUriLen = body.readUInt8(0)
  if (1 + cupsUriLen >= body.length) throw new StationProtocolError('Malformed CUPS response: URI segments exceed available data')
  const tcUriLen = body.readUInt8(1 + cupsUriLen)
  let pos = 2 + cupsUriLen + tcUriLen
  if (1 + pos > body.length) throw new StationProtocolError('Malformed CUPS response: URI segments exceed available data')

  const decoded: DecodedUpdateInfoResponse = { trailing: 0 }
  if (cupsUriLen > 0) decoded.cupsUri = body.toString('latin1', 1, 1 + cupsUriLen)
  if (tcUriLen > 0) decoded.tcUri = body.toString('latin1', 2 + cupsUriLen, pos)

  // CUPS_FEED_CUPS_CRED .. CUPS_FEED_UPDATE, length widths from sizelen(): 2, 2, 4, 4.
  const segments = [
    ['cupsCred', 2],
    ['tcCred', 2],
    ['signature', 4],
    ['update', 4],
  ] as const
  for (const [name, width] of segments) {
    if (pos + width > body.length) throw new StationProtocolError('Unexpected end of data')
    // rt_rlsbf4 over a zero-filled 4-byte buffer, stored in an int: 4-byte lengths with the top bit set are negative.
    const length = width === 2 ? body.readUInt16LE(pos) : body.readInt32LE(pos)
    pos += width
    if (length === 0) continue
    if (length < 0) throw new StationProtocolError(`Segment ${name} length not allowed (must be <2GB)`)
    if (name === 'signature' && (length < 8 || length > 132)) {
      throw new StationProtocolError(`Illegal signature segment length (must be 8-132 bytes): ${length}`)
    }
    if (pos + length > body.length) throw new StationProtocolError('Unexpected end of data')
    const data = Buffer.from(body.subarray(pos, pos + length))
    pos += length
    if (name === 'cupsCred') decoded.cupsCredentials = data
    else if (name === 'tcCred') decoded.tcCredentials = data
    else if (name === 'signature') decoded.signature = { keyCrc: data.readUInt32LE(0), der: data.subarray(4) }
    else decoded.update = data
  }
  decoded.trailing = body.length - pos
  return decoded
}

/** sys_credComplete: the trust/crt/key file contents the station writes, or StationCredentialError where it fails. */
export function splitBlobLikeStation(blob: Buffer): StationCredentialFiles {
  const len = blob.length
  // pendData is the blob plus a NUL terminator; reading further would be undefined, which we count as failure.
  const pendData = Buffer.concat([blob, Buffer.from([0])])
  const byte = (i: number): number => {
    if (i > len) throw new StationCredentialError(`read beyond the buffer at offset ${i}`)
    return pendData.readUInt8(i)
  }
  const asn1SeqLen = (p: number): number =>
    byte(p + 1) & 0x80 ? ((byte(p + 2) << 8) | byte(p + 3)) + 4 : byte(p + 1) + 2

  if (byte(0) !== 0x30) throw new StationCredentialError('ASN.1 SEQ expected for trust')
  const to = 0
  const tl = asn1SeqLen(to)
  const co = to + tl
  let cl: number
  let ko: number
  if (byte(co) === 0) {
    cl = 0
    ko = co + 4
  } else {
    if (byte(co) !== 0x30) throw new StationCredentialError('ASN.1 SEQ expected for cert')
    cl = asn1SeqLen(co)
    ko = co + cl
  }
  if (ko > len) throw new StationCredentialError(`expecting more data (key_offset=${ko}, total_len=${len})`)
  let kl: number
  if (byte(ko) === 0x30) kl = asn1SeqLen(ko)
  else if (byte(ko) === 0) kl = 0
  else kl = len - ko // token
  if (tl + cl + kl > len) throw new StationCredentialError(`Lengths do not align segment_len=${len} parsed_len=${tl + cl + kl}`)
  if (ko + kl > len + 1) throw new StationCredentialError('key would be copied from beyond the buffer')
  return {
    trust: Buffer.from(pendData.subarray(to, to + tl)),
    certificate: Buffer.from(pendData.subarray(co, co + cl)),
    key: Buffer.from(pendData.subarray(ko, ko + kl)),
  }
}
