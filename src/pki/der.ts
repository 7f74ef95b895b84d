// DER (X.690 Distinguished Encoding Rules): a minimal writer for building certificates, and a strict TLV reader.

// Every writer returns one complete TLV (tag, length, contents) as a Buffer, so values nest by
// passing them to sequence()/set()/contextExplicit(). Only the low-tag-number form (tag numbers
// 0..30) is supported: everything in an X.509 certificate fits it.

/** Universal tag bytes (class universal; 0x20 marks constructed). */
export const DerTag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OBJECT_IDENTIFIER: 0x06,
  UTF8_STRING: 0x0c,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const

const CONSTRUCTED = 0x20
const CONTEXT_SPECIFIC = 0x80
/** Tag number 31 in the low five bits announces the multi-byte (high-tag-number) form. */
const HIGH_TAG_NUMBER = 0x1f

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * The length octets. DER requires the shortest form: one byte for 0..127 (short form); otherwise
 * 0x80 | n followed by the n big-endian bytes of the length, with no leading zero byte (long form).
 */
export function encodeLength(length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`DER length must be a non-negative integer, got ${length}`)
  if (length < 0x80) return Buffer.from([length])
  const bytes: number[] = []
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

/** One TLV from a single-byte tag and its contents (several buffers are concatenated, in order). */
export function tlv(tag: number, contents: Uint8Array | readonly Uint8Array[]): Buffer {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & HIGH_TAG_NUMBER) === HIGH_TAG_NUMBER) {
    throw new RangeError(`only single-byte DER tags are supported, got ${tag}`)
  }
  const body = contents instanceof Uint8Array ? Buffer.from(contents) : Buffer.concat(contents)
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body])
}

/** SEQUENCE: the elements in the order given. */
export function sequence(...elements: readonly Uint8Array[]): Buffer {
  return tlv(DerTag.SEQUENCE, elements)
}

/**
 * SET OF: DER orders the elements by their encodings (X.690 11.6), so the result does not depend
 * on argument order. A Name's RDN holds one attribute in practice, where this changes nothing.
 */
export function set(...elements: readonly Uint8Array[]): Buffer {
  return tlv(DerTag.SET, [...elements].sort((a, b) => Buffer.compare(a, b)))
}

/**
 * INTEGER holding a non-negative number given as big-endian magnitude bytes (a serial number, say).
 * DER wants the fewest contents octets of a two's-complement value: redundant leading zero bytes go,
 * and a 00 byte goes in front when the first remaining byte has its top bit set, which would
 * otherwise read as negative. Zero (or no bytes at all) is 02 01 00.
 */
export function integer(magnitude: Uint8Array | number): Buffer {
  const bytes = typeof magnitude === 'number' ? numberBytes(magnitude) : Buffer.from(magnitude)
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const trimmed = bytes.subarray(start)
  if (trimmed.length === 0) return tlv(DerTag.INTEGER, Buffer.from([0]))
  return tlv(DerTag.INTEGER, (trimmed[0] ?? 0) & 0x80 ? [Buffer.from([0]), trimmed] : trimmed)
}

function numberBytes(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`INTEGER from a number must be a non-negative safe integer, got ${value}`)
  const bytes: number[] = []
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256)
  return Buffer.from(bytes)
}

const OID_TEXT = /^(0|[1-9]\d*)(\.(0|[1-9]\d*))+$/

/**
 * OBJECT IDENTIFIER from dotted text. The first two arcs share one subidentifier (40 * first +
 * second, X.690 8.19.4); each subidentifier is base-128, most significant group first, with the top
 * bit set on every byte but the last. Arcs are BigInt so 2.25.<UUID> identifiers work too.
 */
export function objectIdentifier(dotted: string): Buffer {
  if (!OID_TEXT.test(dotted)) throw new RangeError(`not a dotted OBJECT IDENTIFIER: "${dotted}"`)
  const arcs = dotted.split('.').map((arc) => BigInt(arc))
  const [first = 0n, second = 0n, ...rest] = arcs
  if (first > 2n || (first < 2n && second > 39n)) throw new RangeError(`not a valid OBJECT IDENTIFIER: "${dotted}"`)
  const bytes: number[] = []
  for (const subidentifier of [first * 40n + second, ...rest]) {
    const groups = [Number(subidentifier & 0x7fn)]
    for (let value = subidentifier >> 7n; value > 0n; value >>= 7n) groups.unshift(Number(value & 0x7fn) | 0x80)
    bytes.push(...groups)
  }
  return tlv(DerTag.OBJECT_IDENTIFIER, Buffer.from(bytes))
}

/** UTF8String; OpenSSL 3 encodes subject attributes this way by default (string_mask = utf8only). */
export function utf8String(text: string): Buffer {
  return tlv(DerTag.UTF8_STRING, Buffer.from(text, 'utf8'))
}

/** BIT STRING: a leading octet counting the unused (zero) bits at the end of the last byte, then the bytes. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) {
    throw new RangeError(`invalid BIT STRING unused-bit count ${unusedBits} for ${bytes.length} bytes`)
  }
  const last = bytes[bytes.length - 1] ?? 0
  // DER: the unused bits must be zero.
  if ((last & ((1 << unusedBits) - 1)) !== 0) throw new RangeError('BIT STRING unused bits must be zero in DER')
  return tlv(DerTag.BIT_STRING, [Buffer.from([unusedBits]), bytes])
}

/**
 * BIT STRING for a named-bit list such as KeyUsage: bit n is the n-th bit from the most significant
 * bit of the first byte. DER drops trailing zero bits (X.690 11.2.2), so digitalSignature (0) plus
 * keyEncipherment (2) is 03 02 05 a0: one byte, five unused bits.
 */
export function namedBitString(bits: readonly number[]): Buffer {
  if (bits.some((bit) => !Number.isInteger(bit) || bit < 0)) throw new RangeError(`named bits must be non-negative integers, got ${bits.join(',')}`)
  if (bits.length === 0) return bitString(Buffer.alloc(0))
  const highest = Math.max(...bits)
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1)
  for (const bit of bits) bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) | (0x80 >> (bit & 7))
  return bitString(bytes, 7 - (highest & 7))
}

export function octetString(bytes: Uint8Array): Buffer {
  return tlv(DerTag.OCTET_STRING, bytes)
}

/** BOOLEAN; DER requires FF for TRUE. */
export function boolean(value: boolean): Buffer {
  return tlv(DerTag.BOOLEAN, Buffer.from([value ? 0xff : 0x00]))
}

/** NULL: the parameters of an RSA signature AlgorithmIdentifier. */
export function nullValue(): Buffer {
  return Buffer.from([DerTag.NULL, 0x00])
}

/** UTCTime YYMMDDHHMMSSZ (seconds always present, as DER and RFC 5280 4.1.2.5.1 require). */
export function utcTime(date: Date): Buffer {
  const year = checkedYear(date)
  if (year < 1950 || year > 2049) throw new RangeError(`UTCTime covers 1950..2049 only, got ${year}`)
  return tlv(DerTag.UTC_TIME, Buffer.from(timeText(date).slice(2), 'latin1'))
}

/** GeneralizedTime YYYYMMDDHHMMSSZ, without fractional seconds (RFC 5280 4.1.2.5.2). */
export function generalizedTime(date: Date): Buffer {
  checkedYear(date)
  return tlv(DerTag.GENERALIZED_TIME, Buffer.from(timeText(date), 'latin1'))
}

/**
 * A certificate validity time by the RFC 5280 rule OpenSSL follows: UTCTime through 2049,
 * GeneralizedTime from 2050 (and before 1950). Milliseconds are dropped: neither form may carry them.
 */
export function certificateTime(date: Date): Buffer {
  const year = checkedYear(date)
  return year >= 1950 && year <= 2049 ? utcTime(date) : generalizedTime(date)
}

function checkedYear(date: Date): number {
  const year = date.getUTCFullYear()
  if (Number.isNaN(year) || year < 0 || year > 9999) throw new RangeError(`cannot encode the date ${String(date)} as an ASN.1 time`)
  return year
}

function timeText(date: Date): string {
  const two = (value: number): string => String(value).padStart(2, '0')
  return (
    String(date.getUTCFullYear()).padStart(4, '0') +
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    'Z'
  )
}

/**
 * [number] EXPLICIT: a constructed context-specific TLV wrapping the complete encodings given,
 * e.g. the certificate version [0] and the extensions [3].
 */
export function contextExplicit(number: number, ...elements: readonly Uint8Array[]): Buffer {
  return tlv(CONTEXT_SPECIFIC | CONSTRUCTED | checkedTagNumber(number), elements)
}

/**
 * [number] IMPLICIT: the element's own tag replaced by the context-specific one, keeping its
 * primitive/constructed bit and its length and contents, e.g. AuthorityKeyIdentifier's
 * keyIdentifier [0] (an OCTET STRING, so 80 ...) or authorityCertIssuer [1] (a SEQUENCE, so a1 ...).
 */
export function contextImplicit(number: number, element: Uint8Array): Buffer {
  const tag = element[0]
  if (tag === undefined) throw new RangeError('cannot retag an empty encoding')
  const retagged = Buffer.from(element)
  retagged[0] = CONTEXT_SPECIFIC | (tag & CONSTRUCTED) | checkedTagNumber(number)
  return retagged
}

function checkedTagNumber(number: number): number {
  if (!Number.isInteger(number) || number < 0 || number > 30) throw new RangeError(`context tag numbers 0..30 only, got ${number}`)
  return number
}

// ---------------------------------------------------------------------------------------------
// Reading

/** One TLV found in a buffer; offsets index that buffer. */
export interface DerElement {
  /** The single tag byte (class, constructed bit and number). */
  readonly tag: number
  /** Where the element starts (its tag byte). */
  readonly start: number
  /** Where its contents start. */
  readonly contentStart: number
  /** One past its last byte. */
  readonly end: number
}

/**
 * The TLV at offset, checked strictly: single-byte tag, definite length in its shortest form, and
 * contents inside the buffer (and inside limit, when reading the children of an element).
 * Throws an Error naming the offset otherwise.
 */
export function readElement(der: Uint8Array, offset = 0, limit = der.length): DerElement {
  const fail = (why: string): never => {
    throw new Error(`malformed DER at offset ${offset}: ${why}`)
  }
  const tag = der[offset]
  if (tag === undefined || offset >= limit) return fail('no element there')
  if ((tag & HIGH_TAG_NUMBER) === HIGH_TAG_NUMBER) fail('multi-byte tags are not supported')
  const first = der[offset + 1]
  if (first === undefined || offset + 1 >= limit) return fail('missing length')
  let length = first
  let contentStart = offset + 2
  if (first === 0x80) fail('indefinite length is not DER')
  if (first > 0x80) {
    const count = first & 0x7f
    // Four length bytes already describe 4 GiB, far beyond any certificate.
    if (count > 4) fail(`a ${count}-byte length is unsupported`)
    length = 0
    for (let i = 0; i < count; i++) {
      const byte = der[contentStart + i]
      if (byte === undefined) return fail('truncated length')
      if (i === 0 && byte === 0) fail('length has a leading zero byte (not DER)')
      length = length * 256 + byte
    }
    if (length < 0x80) fail('long-form length below 128 (not DER)')
    contentStart += count
  }
  const end = contentStart + length
  if (end > limit) fail(`length ${length} runs past the end of the enclosing data`)
  return { tag, start: offset, contentStart, end }
}

/** The elements inside a constructed element's contents, in order; throws if they do not tile it exactly. */
export function readChildren(der: Uint8Array, parent: DerElement): DerElement[] {
  if ((parent.tag & CONSTRUCTED) === 0) throw new Error(`malformed DER at offset ${parent.start}: a primitive element has no children`)
  const children: DerElement[] = []
  for (let offset = parent.contentStart; offset < parent.end; ) {
    const child = readElement(der, offset, parent.end)
    children.push(child)
    offset = child.end
  }
  return children
}

/** The complete encoding (tag, length and contents) of element, as a view into der. */
export function elementBytes(der: Buffer, element: DerElement): Buffer {
  return der.subarray(element.start, element.end)
}

/** The contents of element, as a view into der. */
export function contentBytes(der: Buffer, element: DerElement): Buffer {
  return der.subarray(element.contentStart, element.end)
}
