// The DER writer and reader against X.690 / RFC 5280 vectors, compared as hex.
import { describe, expect, it } from 'vitest'
import {
  bitString,
  boolean,
  certificateTime,
  contentBytes,
  contextExplicit,
  contextImplicit,
  elementBytes,
  encodeLength,
  generalizedTime,
  integer,
  namedBitString,
  nullValue,
  objectIdentifier,
  octetString,
  readChildren,
  readElement,
  sequence,
  set,
  tlv,
  utcTime,
  utf8String,
} from '../../../src/pki/der'

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
const bytes = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex')

describe('encodeLength', () => {
  it.each([
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '8180'],
    [255, '81ff'],
    [256, '820100'],
    [65535, '82ffff'],
    [65536, '83010000'],
    [16_777_216, '8401000000'],
  ])('encodes %i as %s (short form up to 127, then the fewest length bytes)', (length, expected) => {
    expect(hex(encodeLength(length))).toBe(expected)
  })

  it.each([-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1])('refuses %d', (length) => {
    expect(() => encodeLength(length)).toThrow(RangeError)
  })

  it('is what tlv() puts between tag and contents', () => {
    expect(hex(octetString(Buffer.alloc(127, 0xab)).subarray(0, 3))).toBe('047fab')
    expect(hex(octetString(Buffer.alloc(128, 0xab)).subarray(0, 4))).toBe('048180ab')
    expect(hex(octetString(Buffer.alloc(256)).subarray(0, 5))).toBe('0482010000')
    expect(octetString(Buffer.alloc(65536)).length).toBe(1 + 4 + 65536)
  })
})

describe('tlv', () => {
  it('concatenates several content buffers', () => {
    expect(hex(tlv(0x04, [bytes('0102'), bytes(''), bytes('03')]))).toBe('0403010203')
  })

  it.each([0x1f, 0x3f, 0xbf, 256, -1])('refuses tag %i (only single-byte, low-tag-number tags)', (tag) => {
    expect(() => tlv(tag, Buffer.alloc(0))).toThrow(RangeError)
  })
})

describe('integer', () => {
  it.each<[string, number | Buffer, string]>([
    ['0', 0, '020100'],
    ['no bytes', Buffer.alloc(0), '020100'],
    ['all-zero bytes', bytes('000000'), '020100'],
    ['1', 1, '020101'],
    ['2 (the v3 version)', 2, '020102'],
    ['127', 127, '02017f'],
    ['128 (top bit set: a 00 goes in front)', 128, '02020080'],
    ['255', 255, '020200ff'],
    ['256', 256, '02020100'],
    ['65535', 65535, '020300ffff'],
    ['bytes 80', bytes('80'), '02020080'],
    ['bytes ff ff (would read as -1 without the 00)', bytes('ffff'), '020300ffff'],
    ['bytes 00 00 7f (redundant zeros dropped)', bytes('00007f'), '02017f'],
    ['bytes 00 80 (the needed 00 kept, once)', bytes('0080'), '02020080'],
    ['bytes 00 00 80', bytes('000080'), '02020080'],
    ['a 16-byte serial with the top bit clear', bytes('7fffffffffffffffffffffffffffffff'), '02107fffffffffffffffffffffffffffffff'],
    ['a 16-byte serial with a leading zero byte (15 bytes remain)', bytes('00123456789abcdef0123456789abcde'), '020f123456789abcdef0123456789abcde'],
    ['a 16-byte serial whose zero byte is the needed sign byte', bytes('00abcdef0123456789abcdef01234567'), '021000abcdef0123456789abcdef01234567'],
  ])('encodes %s', (_name, value, expected) => {
    expect(hex(integer(value))).toBe(expected)
  })

  it('does not modify the bytes it was given', () => {
    const input = bytes('0080')
    integer(input)
    expect(hex(input)).toBe('0080')
  })

  it.each([-1, 0.5, Number.MAX_SAFE_INTEGER + 2])('refuses the number %d', (value) => {
    expect(() => integer(value)).toThrow(RangeError)
  })
})

describe('objectIdentifier', () => {
  it.each([
    ['1.2.840.10045.2.1', '06072a8648ce3d0201'], // id-ecPublicKey
    ['1.2.840.10045.3.1.7', '06082a8648ce3d030107'], // prime256v1
    ['1.2.840.10045.4.3.2', '06082a8648ce3d040302'], // ecdsa-with-SHA256
    ['1.2.840.113549.1.1.11', '06092a864886f70d01010b'], // sha256WithRSAEncryption
    ['2.5.4.3', '0603550403'], // commonName
    ['2.5.29.14', '0603551d0e'], // subjectKeyIdentifier
    ['1.3.6.1.5.5.7.3.2', '06082b06010505070302'], // id-kp-clientAuth
    ['0.0', '060100'],
    ['1.39', '06014f'],
    ['2.999.3', '0603883703'], // X.690 8.19.5: the first subidentifier 1079 needs two bytes
    ['1.2.4294967296', '06062a9080808000'], // an arc beyond 32 bits
  ])('encodes %s', (dotted, expected) => {
    expect(hex(objectIdentifier(dotted))).toBe(expected)
  })

  it.each(['', '1', '3.1', '0.40', '1.40', '1.2.', '.1.2', '01.2', '1.02', '1.-2', '1.2.a'])('refuses "%s"', (dotted) => {
    expect(() => objectIdentifier(dotted)).toThrow(RangeError)
  })
})

describe('strings, BOOLEAN and NULL', () => {
  it('writes UTF8String bytes as UTF-8', () => {
    expect(hex(utf8String('0011223344556677'))).toBe(`0c10${Buffer.from('0011223344556677').toString('hex')}`)
    expect(hex(utf8String('é'))).toBe('0c02c3a9')
    expect(hex(utf8String(''))).toBe('0c00')
  })

  it('writes OCTET STRING', () => {
    expect(hex(octetString(bytes('3000')))).toBe('04023000')
    expect(hex(octetString(Buffer.alloc(0)))).toBe('0400')
  })

  it('writes BOOLEAN TRUE as ff, as DER requires', () => {
    expect(hex(boolean(true))).toBe('0101ff')
    expect(hex(boolean(false))).toBe('010100')
  })

  it('writes NULL', () => {
    expect(hex(nullValue())).toBe('0500')
  })
})

describe('BIT STRING', () => {
  it('prefixes the unused-bit count', () => {
    expect(hex(bitString(bytes('04abcd')))).toBe('03040004abcd')
    expect(hex(bitString(Buffer.alloc(0)))).toBe('030100')
    expect(hex(bitString(bytes('a0'), 5))).toBe('030205a0')
  })

  it.each<[Buffer, number]>([
    [bytes('a1'), 5], // a set bit among the "unused" ones
    [bytes('a0'), 8],
    [bytes('a0'), -1],
    [Buffer.alloc(0), 1],
  ])('refuses %s with %i unused bits', (value, unused) => {
    expect(() => bitString(value, unused)).toThrow(RangeError)
  })

  it.each<[string, number[], string]>([
    ['digitalSignature, keyEncipherment (the leaf KeyUsage)', [0, 2], '030205a0'],
    ['keyCertSign, cRLSign (the CA KeyUsage)', [5, 6], '03020106'],
    ['digitalSignature alone', [0], '03020780'],
    ['decipherOnly (bit 8: a second byte)', [8], '0303070080'],
    ['bits in any order, repeated', [2, 0, 2], '030205a0'],
    ['no bits', [], '030100'],
  ])('encodes the named bits %s without trailing zero bits', (_name, bits, expected) => {
    expect(hex(namedBitString(bits))).toBe(expected)
  })

  it('refuses a negative bit', () => {
    expect(() => namedBitString([-1])).toThrow(RangeError)
  })
})

describe('times', () => {
  const ascii = (text: string): string => Buffer.from(text, 'latin1').toString('hex')

  it.each([
    ['2049-12-31T23:59:59Z', `170d${ascii('491231235959Z')}`],
    ['2050-01-01T00:00:00Z', `180f${ascii('20500101000000Z')}`],
    ['1950-01-01T00:00:00Z', `170d${ascii('500101000000Z')}`],
    ['1949-12-31T23:59:59Z', `180f${ascii('19491231235959Z')}`],
    ['2026-03-04T05:06:07Z', `170d${ascii('260304050607Z')}`],
    ['2056-11-19T23:43:59Z', `180f${ascii('20561119234359Z')}`],
  ])('certificateTime(%s): UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5)', (iso, expected) => {
    expect(hex(certificateTime(new Date(iso)))).toBe(expected)
  })

  it('drops milliseconds, which neither form may carry', () => {
    expect(hex(certificateTime(new Date('2030-01-02T03:04:05.999Z')))).toBe(`170d${ascii('300102030405Z')}`)
  })

  it('writes each form on request, and refuses a year UTCTime cannot hold', () => {
    expect(hex(generalizedTime(new Date('2030-01-02T03:04:05Z')))).toBe(`180f${ascii('20300102030405Z')}`)
    expect(() => utcTime(new Date('2050-01-01T00:00:00Z'))).toThrow(RangeError)
    expect(() => utcTime(new Date('1949-12-31T23:59:59Z'))).toThrow(RangeError)
  })

  it('refuses an invalid date or one past 9999', () => {
    expect(() => certificateTime(new Date('not a date'))).toThrow(RangeError)
    expect(() => certificateTime(new Date('+010000-01-01T00:00:00Z'))).toThrow(RangeError)
  })
})

describe('constructed and tagged', () => {
  it('writes SEQUENCE in argument order', () => {
    expect(hex(sequence())).toBe('3000')
    expect(hex(sequence(integer(1), boolean(true)))).toBe('30060201010101ff')
  })

  it('writes SET OF sorted by encoding (X.690 11.6)', () => {
    expect(hex(set(integer(2), integer(1)))).toBe('3106020101020102')
    expect(hex(set(integer(1), integer(2)))).toBe('3106020101020102')
  })

  it('writes a CN=<eui> Name as OpenSSL does', () => {
    const name = sequence(set(sequence(objectIdentifier('2.5.4.3'), utf8String('0011223344556677'))))
    expect(hex(name)).toBe(`301b3119301706035504030c10${Buffer.from('0011223344556677').toString('hex')}`)
  })

  it('wraps in an EXPLICIT context tag (constructed)', () => {
    expect(hex(contextExplicit(0, integer(2)))).toBe('a003020102')
    expect(hex(contextExplicit(3, sequence()))).toBe('a3023000')
    expect(hex(contextExplicit(4))).toBe('a400')
  })

  it('retags IMPLICIT, keeping the constructed bit, length and contents', () => {
    expect(hex(contextImplicit(0, octetString(bytes('0102'))))).toBe('80020102')
    expect(hex(contextImplicit(2, integer(bytes('60cd'))))).toBe('820260cd')
    expect(hex(contextImplicit(1, sequence(contextExplicit(4, sequence()))))).toBe('a104a4023000')
  })

  it('does not modify the element it retags', () => {
    const element = octetString(bytes('01'))
    contextImplicit(0, element)
    expect(hex(element)).toBe('040101')
  })

  it.each([-1, 31, 1.5])('refuses context tag number %d', (number) => {
    expect(() => contextExplicit(number, integer(0))).toThrow(RangeError)
    expect(() => contextImplicit(number, integer(0))).toThrow(RangeError)
  })

  it('refuses to retag nothing', () => {
    expect(() => contextImplicit(0, Buffer.alloc(0))).toThrow(RangeError)
  })
})

describe('readElement and readChildren', () => {
  it('reads back what the writer builds, nested', () => {
    const der = sequence(contextExplicit(0, integer(2)), octetString(Buffer.alloc(300, 7)), sequence())
    const root = readElement(der)
    expect(root).toEqual({ tag: 0x30, start: 0, contentStart: 4, end: der.length })
    const [version, blob, empty] = readChildren(der, root)
    expect(version && hex(elementBytes(der, version))).toBe('a003020102')
    expect(blob && contentBytes(der, blob).equals(Buffer.alloc(300, 7))).toBe(true)
    expect(blob && blob.contentStart - blob.start).toBe(4)
    expect(empty && readChildren(der, empty)).toEqual([])
    expect(version && readChildren(der, version).map((child) => hex(contentBytes(der, child)))).toEqual(['02'])
  })

  it('reads at an offset', () => {
    const der = Buffer.concat([integer(1), octetString(bytes('aabb'))])
    expect(readElement(der, 3)).toEqual({ tag: 0x04, start: 3, contentStart: 5, end: 7 })
  })

  it.each([
    ['nothing', '', /no element/],
    ['a tag without a length', '30', /missing length/],
    ['an indefinite length', '3080', /indefinite/],
    ['a long-form length below 128', '30810100', /below 128/],
    ['a long-form length with a leading zero', '3082000100', /leading zero/],
    ['a truncated long-form length', '3082', /truncated/],
    ['a length past the end', '300501', /past the end/],
    ['a multi-byte tag', '1f2100', /multi-byte/],
    ['a five-byte length', '30850000000001', /unsupported/],
  ])('refuses %s', (_name, input, message) => {
    expect(() => readElement(bytes(input))).toThrow(message)
  })

  it('refuses a child that runs past its parent, and children of a primitive element', () => {
    // SEQUENCE of 3 bytes holding an OCTET STRING that claims 2 content bytes but has 1 inside the parent.
    const der = bytes('3003040201ff')
    expect(() => readChildren(der, readElement(der))).toThrow(/past the end/)
    const primitive = octetString(bytes('3000'))
    expect(() => readChildren(primitive, readElement(primitive))).toThrow(/primitive/)
  })
})
