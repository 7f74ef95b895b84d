import { describe, it, expect } from 'vitest'
import { crc32 } from '../../../src/cups/crc32'

describe('crc32', () => {
  it('gives the CRC-32 check value for "123456789"', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
  })

  it('gives 2077607535 for 12 zero bytes, the tcCredCrc of a station without tc files', () => {
    expect(crc32(Buffer.alloc(12))).toBe(2077607535)
  })

  it('chains over parts exactly like one pass over their concatenation', () => {
    const parts = [Buffer.from('trust'), Buffer.alloc(4), Buffer.from('Authorization: Bearer x\r\n')]
    expect(crc32(...parts)).toBe(crc32(Buffer.concat(parts)))
    expect(crc32(Buffer.alloc(4), Buffer.alloc(4), Buffer.alloc(4))).toBe(2077607535)
  })

  it('returns unsigned values above 2^31, never int32', () => {
    const value = crc32(Buffer.from('hello')) // 0x3610a686
    expect(value).toBe(0x3610a686)
    const high = crc32(Buffer.from('123456789'))
    expect(high).toBeGreaterThan(2 ** 31)
  })

  it('is 0 for no input at all', () => {
    expect(crc32()).toBe(0)
    expect(crc32(new Uint8Array(0))).toBe(0)
  })
})
