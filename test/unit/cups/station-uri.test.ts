import { describe, it, expect } from 'vitest'
import { EncodingError } from '../../../src/errors'
import { checkStationUri } from '../../../src/cups/station-uri'

function codeOf(check: () => void): string | undefined {
  try {
    check()
  } catch (err) {
    if (err instanceof EncodingError) return err.code
    throw err
  }
  return undefined
}

const accepted: readonly (readonly [string, 'cups' | 'tc'])[] = [
  ['https://localhost:6040', 'cups'],
  ['http://10.0.0.1:80', 'cups'],
  ['HTTPS://cups.example.com:443', 'cups'],
  ['https://[::1]:6040', 'cups'],
  ['https://[2001:db8::1]:443', 'cups'],
  ['https://host_name.example-1.com:65535', 'cups'],
  ['wss://localhost:6042', 'tc'],
  ['ws://lns.example.com:1', 'tc'],
  ['WsS://lns.example.com:8887', 'tc'],
  [`https://${'a'.repeat(114)}:6040`, 'cups'], // 127 bytes
]

const refused: readonly (readonly [string, 'cups' | 'tc', string])[] = [
  ['wss://cups.example.com:443', 'cups', 'BAD_CUPS_URI'],
  ['https://lns.example.com:443', 'tc', 'BAD_TC_URI'],
  ['ftp://cups.example.com:21', 'cups', 'BAD_CUPS_URI'],
  ['https:/cups.example.com:443', 'cups', 'BAD_CUPS_URI'],
  ['cups.example.com:443', 'cups', 'BAD_CUPS_URI'],
  ['https://cups.example.com', 'cups', 'BAD_CUPS_URI'],
  ['https://cups.example.com:', 'cups', 'BAD_CUPS_URI'],
  ['https://cups.example.com:443/', 'cups', 'BAD_CUPS_URI'],
  ['https://cups.example.com/', 'cups', 'BAD_CUPS_URI'],
  ['wss://lns.example.com:8887/router-info', 'tc', 'BAD_TC_URI'],
  ['https://cups.example.com:443?x=1', 'cups', 'BAD_CUPS_URI'],
  ['https://cups.example.com:443#top', 'cups', 'BAD_CUPS_URI'],
  ['https://user@cups.example.com:443', 'cups', 'BAD_CUPS_URI'],
  ['https://user:pw@cups.example.com:443', 'cups', 'BAD_CUPS_URI'],
  ['https://cups.example.com:0', 'cups', 'BAD_CUPS_URI'],
  ['https://cups.example.com:65536', 'cups', 'BAD_CUPS_URI'],
  ['https://cups.example.com:123456', 'cups', 'BAD_CUPS_URI'],
  ['https://cups.example.com:https', 'cups', 'BAD_CUPS_URI'],
  ['https://:443', 'cups', 'BAD_CUPS_URI'],
  ['https://::1:443', 'cups', 'BAD_CUPS_URI'],
  ['https://[::1]', 'cups', 'BAD_CUPS_URI'],
  ['https://cups example.com:443', 'cups', 'BAD_CUPS_URI'],
  ['https://cups.example.com:443 ', 'cups', 'BAD_CUPS_URI'],
  ['https://cups.example.com:443\n', 'cups', 'BAD_CUPS_URI'],
  ['wss://lnś.example.com:8887', 'tc', 'BAD_TC_URI'],
  ['', 'tc', 'BAD_TC_URI'],
  [`https://${'a'.repeat(115)}:6040`, 'cups', 'URI_TOO_LONG'], // 128 bytes: the station treats it as absent
  [`wss://${'a'.repeat(200)}:6040`, 'tc', 'URI_TOO_LONG'],
]

describe('checkStationUri', () => {
  it.each(accepted)('accepts %s as a %s uri', (uri, kind) => {
    expect(codeOf(() => { checkStationUri(uri, kind) })).toBeUndefined()
  })

  it.each(refused)('refuses %j as a %s uri with %s', (uri, kind, code) => {
    expect(codeOf(() => { checkStationUri(uri, kind) })).toBe(code)
  })

  it('says what is wrong', () => {
    expect(() => { checkStationUri('https://cups.example.com:443/', 'cups') }).toThrow('a trailing / is a path')
    expect(() => { checkStationUri('https://cups.example.com', 'cups') }).toThrow('mandatory numeric port')
    expect(() => { checkStationUri('https://lns.example.com:1', 'tc') }).toThrow('ws:// or wss://')
  })
})
