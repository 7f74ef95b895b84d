import { describe, it, expect } from 'vitest'
import { InvalidRouterIdError, formatId6, parseRouterId } from '../../../src/cups/router-id'

// [text, eui]: every ID6 pattern encId6 emits (src/uj.c; expected texts from src/selftest_ujenc.c) plus general ID6.
const id6Forms: readonly (readonly [string, string])[] = [
  ['::0', '0000000000000000'],
  ['::', '0000000000000000'],
  ['::1', '0000000000000001'],
  ['::2:1', '0000000000020001'],
  ['4::1', '0004000000000001'],
  ['4:3::', '0004000300000000'],
  ['4::', '0004000000000000'],
  ['0:3:2:0', '0000000300020000'],
  ['16:c001:ff10:a235', '0016c001ff10a235'],
  ['16:C001:FF10:A235', '0016c001ff10a235'],
  ['0016:c001:ff10:a235', '0016c001ff10a235'],
  ['1:2::3', '0001000200000003'],
  ['1::2:3', '0001000000020003'],
  ['::1:2:3', '0000000100020003'],
  ['1:2:3::', '0001000200030000'],
  ['a:b:c:d', '000a000b000c000d'],
  ['00:16:c0:01', '0000001600c00001'], // four groups are always ID6, whatever their width
]

// What encId6 printed in src/selftest_ujenc.c, plus the fixtures' router.
const stationEmitted: readonly string[] = ['::0', '::1', '::2:1', '4::1', '4:3::', '4::', '0:3:2:0', '16:c001:ff10:a235']

const otherForms: readonly (readonly [string, string])[] = [
  ['0016c001ff10a235', '0016c001ff10a235'],
  ['0016C001FF10A235', '0016c001ff10a235'],
  ['00-16-c0-01-ff-10-a2-35', '0016c001ff10a235'],
  ['00-16-C0-01-FF-10-A2-35', '0016c001ff10a235'],
  ['00:16:C0:01:FF:10:A2:35', '0016c001ff10a235'],
  ['ff:ff:ff:ff:ff:ff:ff:ff', 'ffffffffffffffff'],
]

const invalid: readonly string[] = [
  '',
  ':',
  ':::',
  '1::2::3',
  '1:2:3',
  '1:2:3:4:5',
  '1:2::3:4',
  '12345::',
  'g::1',
  ' ::1',
  '::1 ',
  '0016c001ff10a23',
  '0016c001ff10a2355',
  '00-16-c0-01-ff-10-a2',
  '00-16:c0-01-ff-10-a2-35',
  '0-16-c0-01-ff-10-a2-35',
  '00:16:c0:01:ff:10', // a MAC-48 is not a router EUI
  '0x16c001ff10a235',
  '12345', // a decimal number is not a router id text
]

describe('parseRouterId', () => {
  it.each(id6Forms)('reads ID6 %s', (text, eui) => {
    expect(parseRouterId(text)).toBe(eui)
  })

  it.each(otherForms)('reads %s', (text, eui) => {
    expect(parseRouterId(text)).toBe(eui)
  })

  it.each(invalid)('refuses %j', (text) => {
    expect(() => parseRouterId(text)).toThrow(InvalidRouterIdError)
  })

  it('names the accepted forms and shortens long input in its message', () => {
    expect(() => parseRouterId('x'.repeat(500))).toThrow(/^invalid router id "x{64}\.\.\.": expected ID6/)
  })
})

describe('formatId6', () => {
  it.each(stationEmitted)('writes %s exactly like the station', (text) => {
    expect(formatId6(parseRouterId(text))).toBe(text)
  })

  it.each([
    ['0000000000000000', '::0'],
    ['0000000000000001', '::1'],
    ['0016c001ff10a235', '16:c001:ff10:a235'],
    ['0001000200000003', '1:2:0:3'], // encId6 compresses only its fixed patterns
    ['0001000000020003', '1:0:2:3'],
    ['ffffffffffffffff', 'ffff:ffff:ffff:ffff'],
    ['0016C001FF10A235', '16:c001:ff10:a235'],
  ])('writes %s as %s', (eui, text) => {
    expect(formatId6(eui)).toBe(text)
  })

  it('round-trips through parseRouterId', () => {
    for (const eui of ['0000000000000000', '8000000000000001', '0016c001ff10a235', '0000ffff00000000', '0001000000000000']) {
      expect(parseRouterId(formatId6(eui))).toBe(eui)
    }
  })

  it('refuses anything but 16 hex digits', () => {
    expect(() => formatId6('16:c001:ff10:a235')).toThrow(InvalidRouterIdError)
  })
})
