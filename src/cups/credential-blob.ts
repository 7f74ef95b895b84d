// The credential blob `trust ‖ cert ‖ key`: built canonically, split exactly like the station (src/sys.c sys_credComplete).
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { EncodingError } from '../errors'
import { detachedCopy } from '../detached-bytes'

/**
 * Wire layout (cups-protocol.md §4, rules 17-21):
 *   trust  one DER certificate
 *   cert   one DER certificate, or 00 00 00 00
 *   key    a DER private key, token text (`Name: value\r\n` lines), or 00 00 00 00
 * The station measures each DER part by its header with asn1_seqlen, which understands only short-form lengths
 * (< 128) and the 0x82 form, and writes the three parts to files (empty files for absent parts). Its next
 * `*CredCrc` is crc32 over those files with 4 zero bytes per empty file, which equals crc32(blob) only for the
 * canonical layout with explicit placeholders and nothing extra. A blob it cannot parse is dropped silently while
 * its CRC stays old, so a server would resend it forever: everything here refuses what the station would mangle.
 */
/** The three files the station writes; an absent part is an empty Buffer (the station writes an empty file). */
export interface CredentialParts {
  readonly trust: Buffer
  readonly certificate: Buffer
  /** A DER private key or token bytes. */
  readonly key: Buffer
}

export interface CredentialBlobInput {
  readonly trust: Buffer
  /** Client certificate DER; requires privateKey. */
  readonly certificate?: Buffer
  /** DER private key (SEC1 for EC keys); requires certificate. */
  readonly privateKey?: Buffer
  /** HTTP header line(s) such as `Authorization: Bearer abc`; only without a certificate. */
  readonly token?: string
}

const MAX_BLOB_BYTES = 0xffff // the cred segment has a u16 length
const SEQUENCE = 0x30
const PLACEHOLDER = Buffer.alloc(4)
// Name, then exactly ": ", then a printable value: what validateAuthToken (src/net.c) accepts and HTTP can carry.
// The value ends in a non-space: HTTP servers (Node included) strip trailing whitespace from header values,
// so a token ending in a space would never match what the station sends.
const TOKEN_LINE = /^[A-Za-z0-9_-]+: [\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/

/** Canonical blob trust ‖ (cert | 00000000) ‖ (key | token | 00000000); empty Buffers count as absent. */
export function buildCredentialBlob(parts: CredentialBlobInput): Buffer {
  const certificate = presentOrUndefined(parts.certificate)
  const privateKey = presentOrUndefined(parts.privateKey)
  const { trust, token } = parts
  checkCertificate('trust', trust)
  if (privateKey !== undefined && token !== undefined) {
    throw new EncodingError('CRED_KEY_AND_TOKEN', 'a credential blob carries a private key or a token, not both')
  }
  if (token !== undefined && certificate !== undefined) {
    throw new EncodingError('CRED_TOKEN_WITH_CERT', 'the station sends a token only when it has no client certificate')
  }
  if ((certificate === undefined) !== (privateKey === undefined)) {
    throw new EncodingError(
      'CRED_CERT_KEY_PAIR',
      'certificate and privateKey go together: the station reads a key without a certificate as a token, ' +
        'and ignores a certificate without a key',
    )
  }
  if (certificate !== undefined) checkCertificate('certificate', certificate)
  if (privateKey !== undefined) checkPrivateKey(privateKey)
  const key = privateKey ?? (token === undefined ? PLACEHOLDER : encodeToken(token))
  const blob = Buffer.concat([trust, certificate ?? PLACEHOLDER, key])
  if (blob.length > MAX_BLOB_BYTES) {
    throw new EncodingError('CRED_TOO_LONG', `credential blob is ${blob.length} bytes; the u16 length field allows ${MAX_BLOB_BYTES}`)
  }
  return blob
}

/** The three parts exactly as the station would write them to its files; throws EncodingError where the station fails. */
export function splitCredentialBlob(blob: Buffer): CredentialParts {
  const length = blob.length
  // The station parses a NUL-terminated copy: offset `length` reads 0, anything beyond is heap garbage.
  const at = (offset: number): number => {
    if (offset < length) return blob.readUInt8(offset)
    if (offset === length) return 0
    throw parseFailed(`it would read past the end of the blob (offset ${offset}, total_len=${length})`)
  }
  if (at(0) !== SEQUENCE) throw parseFailed(`ASN.1 SEQ expected for trust (0x${hexByte(at(0))})`)
  const trustLength = stationSeqLength(at, 0)
  const certOffset = trustLength
  let certLength = 0
  let keyOffset: number
  if (at(certOffset) === 0) {
    keyOffset = certOffset + 4 // no cert: the station skips 4 bytes without looking at them
  } else if (at(certOffset) === SEQUENCE) {
    certLength = stationSeqLength(at, certOffset)
    keyOffset = certOffset + certLength
  } else {
    throw parseFailed(`ASN.1 SEQ expected for cert (0x${hexByte(at(certOffset))})`)
  }
  if (keyOffset > length) throw parseFailed(`expecting more data (key_offset=${keyOffset}, total_len=${length})`)
  const keyByte = at(keyOffset)
  // 0x30 is a DER key, 0 (or the end of the blob) no key, and any other byte a token running to the end of the blob.
  const keyLength = keyByte === SEQUENCE ? stationSeqLength(at, keyOffset) : keyByte === 0 ? 0 : length - keyOffset
  // The station compares the sum of the part lengths, not the end offset, so the 4 skipped cert bytes go uncounted.
  const parsedLength = trustLength + certLength + keyLength
  if (parsedLength > length) {
    throw parseFailed(`Lengths do not align segment_len=${length} parsed_len=${parsedLength}`)
  }
  const keyEnd = keyOffset + keyLength
  if (keyEnd > length + 1) throw parseFailed(`the key would read past the end of the blob (key_end=${keyEnd}, total_len=${length})`)
  const terminated = Buffer.concat([blob, Buffer.alloc(1)]) // a key ending on the terminator keeps that 0 byte
  // Copies outside Node's pool: parts are kept as long as the cached blob they came from (inspections, materials).
  return {
    trust: detachedCopy(blob.subarray(0, trustLength)),
    certificate: detachedCopy(blob.subarray(certOffset, certOffset + certLength)),
    key: detachedCopy(terminated.subarray(keyOffset, keyEnd)),
  }
}

/**
 * Throws EncodingError unless the station parses the blob into exactly one trust certificate plus a matching
 * certificate/key pair or a token, and its file CRC afterwards equals crc32(blob). For bundles other tools store.
 */
export function checkCredentialBlob(blob: Buffer): void {
  if (blob.length > MAX_BLOB_BYTES) {
    throw new EncodingError('CRED_TOO_LONG', `credential blob is ${blob.length} bytes; the u16 length field allows ${MAX_BLOB_BYTES}`)
  }
  const { trust, certificate, key } = splitCredentialBlob(blob)
  const asStored = Buffer.concat([trust, certificate.length > 0 ? certificate : PLACEHOLDER, key.length > 0 ? key : PLACEHOLDER])
  if (!asStored.equals(blob)) {
    throw new EncodingError(
      'CRED_NOT_CANONICAL',
      'credential blob is not canonical (missing placeholder, padding or trailing bytes): ' +
        'the station would report a CRC that never equals crc32(blob) and get the blob again at every contact',
    )
  }
  const keyPart = isToken(key) ? { token: key.toString('latin1') } : { privateKey: key }
  const rebuilt = buildCredentialBlob({ trust, certificate, ...keyPart })
  if (!rebuilt.equals(blob)) {
    throw new EncodingError('CRED_TOKEN_NOT_CANONICAL', 'the token must be `Name: value` lines, each ending in CRLF')
  }
}

/** The token text without its final CRLF when the blob's key part is a token; throws like splitCredentialBlob. */
export function credentialBlobToken(blob: Buffer): string | undefined {
  const { key } = splitCredentialBlob(blob)
  return isToken(key) ? key.toString('latin1').replace(/\r?\n$/, '') : undefined
}

/** The client certificate DER, if the blob carries one; throws like splitCredentialBlob. */
export function credentialBlobCertificate(blob: Buffer): Buffer | undefined {
  const { certificate } = splitCredentialBlob(blob)
  return certificate.length > 0 ? certificate : undefined
}

/** asn1_seqlen: the total size the station assumes, right only for short-form and 0x82 lengths. */
function stationSeqLength(at: (offset: number) => number, offset: number): number {
  const lengthByte = at(offset + 1)
  return (lengthByte & 0x80) !== 0 ? ((at(offset + 2) << 8) | at(offset + 3)) + 4 : lengthByte + 2
}

function isToken(key: Buffer): boolean {
  return key.length > 0 && key[0] !== SEQUENCE
}

/** Throws EncodingError (CRED_BAD_TOKEN) unless the station would send `token` as header lines and we could match them. */
export function checkTokenLines(token: string): void {
  encodeToken(token)
}

function encodeToken(token: string): Buffer {
  const lines = token.replace(/\r?\n$/, '').split(/\r?\n/)
  lines.forEach((line, index) => {
    // Never echo the line: it is a secret.
    if (!TOKEN_LINE.test(line)) {
      throw new EncodingError(
        'CRED_BAD_TOKEN',
        `token line ${index + 1} must be \`Name: value\` (name [A-Za-z0-9_-]+, exactly ": ", then printable ASCII not ending in a space)`,
      )
    }
  })
  // A leading "0" is byte 0x30: the station would parse the token as a DER key.
  if (token.startsWith('0')) throw new EncodingError('CRED_BAD_TOKEN', 'a token header name must not start with "0"')
  return Buffer.from(lines.map((line) => `${line}\r\n`).join(''), 'latin1')
}

function checkCertificate(part: 'trust' | 'certificate', der: Buffer): void {
  checkDerElement(part, der)
  try {
    new X509Certificate(der)
  } catch {
    throw new EncodingError('CRED_NOT_CERTIFICATE', `${part} is not an X.509 certificate`)
  }
}

function checkPrivateKey(der: Buffer): void {
  const parsed = parsePrivateKey(der)
  if (parsed?.encoding === 'pkcs8' && parsed.keyType === 'ec') {
    throw new EncodingError(
      'CRED_KEY_PKCS8',
      'privateKey is a PKCS#8 EC key (30 81 87 ..., "BEGIN PRIVATE KEY"), which the station cannot parse; ' +
        'send it as SEC1 ("BEGIN EC PRIVATE KEY", 30 77 ..., e.g. from openssl ec -outform DER)',
    )
  }
  checkDerElement('privateKey', der)
  if (parsed === undefined) throw new EncodingError('CRED_NOT_PRIVATE_KEY', 'privateKey is not a DER private key')
  if (parsed.keyType !== 'ec' && parsed.keyType !== 'rsa') {
    throw new EncodingError('CRED_KEY_UNSUPPORTED', `privateKey is ${String(parsed.keyType)}; the station (mbedTLS) takes EC or RSA keys`)
  }
}

function parsePrivateKey(der: Buffer): { encoding: string; keyType: string | undefined } | undefined {
  // pkcs8 first: OpenSSL's sec1 and pkcs1 decoders also accept PKCS#8, which would hide the encoding.
  for (const encoding of ['pkcs8', 'sec1', 'pkcs1'] as const) {
    try {
      return { encoding, keyType: createPrivateKey({ key: der, format: 'der', type: encoding }).asymmetricKeyType }
    } catch {
      // not this encoding; try the next one
    }
  }
  return undefined
}

/** One DER SEQUENCE spanning the whole part, with a length form asn1_seqlen measures correctly. */
function checkDerElement(part: string, der: Buffer): void {
  if (der[0] !== SEQUENCE || der.length < 2) {
    const pem = der.subarray(0, 5).toString('latin1') === '-----' ? '; PEM is not accepted, convert it to DER' : ''
    throw new EncodingError('CRED_NOT_DER', `${part} must be DER, starting with a SEQUENCE (0x30)${pem}`)
  }
  const lengthByte = der.readUInt8(1)
  if (lengthByte === 0x82 && der.length < 4) throw new EncodingError('CRED_NOT_DER', `${part} is a truncated DER element`)
  if ((lengthByte & 0x80) !== 0 && lengthByte !== 0x82) {
    const range = lengthByte === 0x81 ? ' (a 128-255 byte element)' : ''
    throw new EncodingError(
      'CRED_DER_LENGTH_FORM',
      `${part} has DER length form 0x${hexByte(lengthByte)}${range}, which the station mis-parses; only short lengths and the 0x82 form work`,
    )
  }
  const size = lengthByte === 0x82 ? der.readUInt16BE(2) + 4 : lengthByte + 2
  if (size !== der.length) {
    throw new EncodingError(
      'CRED_DER_LENGTH_MISMATCH',
      `${part} must be exactly one DER element: its header says ${size} bytes but it has ${der.length} (no chains, no trailing bytes)`,
    )
  }
}

function presentOrUndefined(part: Buffer | undefined): Buffer | undefined {
  return part !== undefined && part.length > 0 ? part : undefined
}

function parseFailed(detail: string): EncodingError {
  return new EncodingError('CRED_PARSE_FAILED', `the station cannot parse this credential blob: ${detail}`)
}

function hexByte(value: number): string {
  return value.toString(16).padStart(2, '0')
}
