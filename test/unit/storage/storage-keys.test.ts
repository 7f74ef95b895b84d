// euiFromKey and gatewayEuisOf as tables: which listed key belongs to which gateway, under every prefix form.
import { describe, expect, it } from 'vitest'
import { euiFromKey, gatewayEuisOf, storageKeys } from '../../../src/storage/storage-keys'

const EUI = '0016c001ff10a235'

describe('euiFromKey', () => {
  it.each([
    ['cups/0016c001ff10a235/gateway.json', 'cups/', EUI],
    ['cups/0016c001ff10a235/cups_cred.bin', 'cups', EUI],
    ['cups/0016c001ff10a235/sub/note.txt', 'cups/', EUI],
    ['0016c001ff10a235/inventory.json', '', EUI],
    ['tenant/a/0016c001ff10a235/tc_cred.bin', 'tenant/a/', EUI],
    // not a gateway's object
    ['cups/0016c001ff10a235/', 'cups/', undefined],
    ['cups/0016c001ff10a235', 'cups/', undefined],
    ['cups/0016C001FF10A235/gateway.json', 'cups/', undefined],
    ['cups/0016c001ff10a2/gateway.json', 'cups/', undefined],
    ['cups/0016c001ff10a2356/gateway.json', 'cups/', undefined],
    ['cups/readme.txt', 'cups/', undefined],
    ['other/0016c001ff10a235/gateway.json', 'cups/', undefined],
    ['cupsx/0016c001ff10a235/gateway.json', 'cups', undefined],
  ])('%s under %j is %s', (key, prefix, eui) => {
    expect(euiFromKey(key, prefix)).toBe(eui)
  })

  it('takes back every key storageKeys makes', () => {
    const keys: Readonly<Record<string, string>> = { ...storageKeys('fleet', EUI) }
    for (const key of Object.values(keys)) expect(euiFromKey(key, 'fleet/')).toBe(EUI)
  })
})

describe('gatewayEuisOf', () => {
  it('lists each gateway once, sorted, and skips keys outside any gateway folder', () => {
    const keys = [
      'cups/ffffffffffffffff/gateway.json',
      'cups/0016c001ff10a235/cups_cred.bin',
      'cups/0016c001ff10a235/gateway.json',
      'cups/notes.txt',
      'cups/not-an-eui/gateway.json',
      'cups/0000000000000001/inventory.json',
    ]
    expect(gatewayEuisOf(keys, 'cups')).toEqual(['0000000000000001', EUI, 'ffffffffffffffff'])
  })

  it('is empty for an empty listing', () => {
    expect(gatewayEuisOf([], 'cups/')).toEqual([])
  })
})
