import { describe, it, expect } from 'vitest'
import { StationCredentialError, StationProtocolError, decodeUpdateInfoResponse, splitBlobLikeStation } from '../../support/station-decoder'
import { readFixture } from '../../support/fixtures'

// The decoder is the expected side of the codec tests, so it gets its own checks against the station's behaviour.
const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex')

describe('decodeUpdateInfoResponse (test support, like src/cups.c)', () => {
  it.each([0, 1, 2, 6, 13])('fails on a %i-byte body, as the real station did', (length) => {
    expect(() => decodeUpdateInfoResponse(Buffer.alloc(length))).toThrow(StationProtocolError)
  })

  it('accepts 14 zero bytes as "no updates"', () => {
    expect(decodeUpdateInfoResponse(Buffer.alloc(14))).toEqual({ trailing: 0 })
  })

  it('ignores but reports trailing bytes (20 zero bytes were accepted)', () => {
    expect(decodeUpdateInfoResponse(Buffer.alloc(20))).toEqual({ trailing: 6 })
  })

  it.each([
    ['URI lengths past the end', '05 00 00'],
    ['a tc uri with no byte after it', '00 02 41 42'],
    ['a truncated credential segment', '00 00 0500 3000'],
    ['a truncated update', '00 00 0000 0000 00000000 05000000 01 02'],
    ['a missing updLen', '00 00 0000 0000 00000000 0000'],
    ['sigLen 7', '00 00 0000 0000 07000000 00000000 000000 00000000'],
    ['sigLen 133', `00 00 0000 0000 85000000 ${'00'.repeat(133)} 01000000 00`],
    ['a negative updLen', '00 00 0000 0000 00000000 00000080'],
  ])('fails on %s', (_why, body) => {
    expect(() => decodeUpdateInfoResponse(hex(body))).toThrow(StationProtocolError)
  })

  it('reads each segment with its little-endian length', () => {
    const body = Buffer.concat([
      hex('02 6162'), // cupsUriLen 2, "ab"
      hex('01 63'), // tcUriLen 1, "c"
      hex('0100 aa'), // cupsCredLen 1
      hex('0200 bbcc'), // tcCredLen 2
      hex('09000000 04030201 3003020101'), // sigLen 9 = keyCrc 0x01020304 + 5-byte DER
      hex('02000000 dddd'), // updLen 2
      hex('ff'), // trailing
    ])
    expect(decodeUpdateInfoResponse(body)).toEqual({
      cupsUri: 'ab',
      tcUri: 'c',
      cupsCredentials: hex('aa'),
      tcCredentials: hex('bbcc'),
      signature: { keyCrc: 0x01020304, der: hex('3003020101') },
      update: hex('dddd'),
      trailing: 1,
    })
  })
})

describe('splitBlobLikeStation (test support, like src/sys.c sys_credComplete)', () => {
  const trust = readFixture('tc-files-written/tc.trust')

  it('splits trust, missing cert and token', () => {
    const token = Buffer.from('A: 1\r\n')
    const files = splitBlobLikeStation(Buffer.concat([trust, Buffer.alloc(4), token]))
    expect(files.trust.equals(trust)).toBe(true)
    expect(files.certificate).toHaveLength(0)
    expect(files.key.equals(token)).toBe(true)
  })

  it.each([
    ['PEM', Buffer.from('-----BEGIN')],
    ['trust followed by nothing', trust],
    ['a 0x81 key (PKCS#8)', Buffer.concat([trust, Buffer.alloc(4), hex('308187020100'), Buffer.alloc(132)])],
  ])('fails on %s', (_why, blob) => {
    expect(() => splitBlobLikeStation(blob)).toThrow(StationCredentialError)
  })
})
