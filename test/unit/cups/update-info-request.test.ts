import { describe, it, expect } from 'vitest'
import { InvalidRequestError } from '../../../src/errors'
import { parseUpdateInfoRequest } from '../../../src/cups/update-info-request'

// The body a real station 2.0.6 sent (fixtures/basicstation-2.0.6/request-mtls-first-contact.raw).
const captured = {
  router: '16:c001:ff10:a235',
  cupsUri: 'https://localhost:6040',
  tcUri: null,
  cupsCredCrc: 3435451239,
  tcCredCrc: 2077607535,
  station: '2.0.6(linux/testsim) 2026-11-23 19:46:54',
  model: 'linux',
  package: '1.0.0',
  keys: [3420020549],
}

function messageOf(body: unknown): string | undefined {
  try {
    parseUpdateInfoRequest(body)
  } catch (err) {
    if (err instanceof InvalidRequestError) return err.message
    throw err
  }
  return undefined
}

describe('parseUpdateInfoRequest', () => {
  it('reads what a real station sends', () => {
    expect(parseUpdateInfoRequest(captured)).toEqual({
      eui: '0016c001ff10a235',
      router: '16:c001:ff10:a235',
      cupsUri: 'https://localhost:6040',
      tcUri: null,
      cupsCredCrc: 3435451239,
      tcCredCrc: 2077607535,
      station: '2.0.6(linux/testsim) 2026-11-23 19:46:54',
      model: 'linux',
      package: '1.0.0',
      keys: [3420020549],
    })
  })

  it('takes absent optional fields as null and absent keys as []', () => {
    expect(parseUpdateInfoRequest({ router: '::1', cupsCredCrc: 0, tcCredCrc: 0 })).toEqual({
      eui: '0000000000000001',
      router: '::1',
      cupsUri: null,
      tcUri: null,
      cupsCredCrc: 0,
      tcCredCrc: 0,
      station: null,
      model: null,
      package: null,
      keys: [],
    })
  })

  it.each([
    ['an EUI-64 with dashes', '00-16-c0-01-ff-10-a2-35'],
    ['16 hex digits', '0016C001FF10A235'],
    ['a JSON integer, as the reference server accepts', 6403564294414901],
  ])('reads the router as %s', (_form, router) => {
    const request = parseUpdateInfoRequest({ ...captured, router })
    expect(request.eui).toBe('0016c001ff10a235')
    expect(request.router).toBe(String(router))
  })

  it('keeps CRCs above 2^31 and the extremes of u32', () => {
    expect(parseUpdateInfoRequest({ ...captured, cupsCredCrc: 0xffffffff, tcCredCrc: 2 ** 31 })).toMatchObject({
      cupsCredCrc: 4294967295,
      tcCredCrc: 2147483648,
    })
    expect(parseUpdateInfoRequest({ ...captured, keys: [0, 4294967295] }).keys).toEqual([0, 4294967295])
  })

  it('keeps the reported URIs whatever their shape, as the station reports what it has on disk', () => {
    const request = parseUpdateInfoRequest({ ...captured, cupsUri: 'https://localhost:6040/', tcUri: '' })
    expect(request.cupsUri).toBe('https://localhost:6040/')
    expect(request.tcUri).toBe('')
  })

  it('ignores unknown fields', () => {
    expect(parseUpdateInfoRequest({ ...captured, os: 'linux', extra: { a: 1 } }).eui).toBe('0016c001ff10a235')
  })

  it('accepts 1000 keys and strings of 1024 characters', () => {
    const request = parseUpdateInfoRequest({ ...captured, keys: Array<number>(1000).fill(1), station: 's'.repeat(1024) })
    expect(request.keys).toHaveLength(1000)
  })

  it.each<readonly [string, unknown, string]>([
    ['a null body', null, 'body: must be a JSON object'],
    ['an array body', [captured], 'body: must be a JSON object'],
    ['a string body', JSON.stringify(captured), 'body: must be a JSON object'],
    ['no router', { ...captured, router: undefined }, 'router: is required'],
    ['a null router', { ...captured, router: null }, 'router: must be a string'],
    ['a bad router', { ...captured, router: 'gateway-1' }, 'router: invalid router id "gateway-1"'],
    ['a negative numeric router', { ...captured, router: -1 }, 'router: a numeric router id must be a non-negative safe integer'],
    ['a float router', { ...captured, router: 1.5 }, 'router: a numeric router id must be a non-negative safe integer'],
    ['an unsafe numeric router', { ...captured, router: 2 ** 63 }, 'router: a numeric router id must be a non-negative safe integer'],
    ['a long router', { ...captured, router: ':'.repeat(1025) }, 'router: must be at most 1024 characters'],
    ['no cupsCredCrc', { ...captured, cupsCredCrc: undefined }, 'cupsCredCrc: is required'],
    ['no tcCredCrc', { ...captured, tcCredCrc: undefined }, 'tcCredCrc: is required'],
    ['a negative cupsCredCrc', { ...captured, cupsCredCrc: -1 }, 'cupsCredCrc: must be an unsigned 32-bit integer'],
    ['a float cupsCredCrc', { ...captured, cupsCredCrc: 1.5 }, 'cupsCredCrc: must be an unsigned 32-bit integer'],
    ['a cupsCredCrc of 2^32', { ...captured, cupsCredCrc: 2 ** 32 }, 'cupsCredCrc: must be an unsigned 32-bit integer'],
    ['a string tcCredCrc', { ...captured, tcCredCrc: '2077607535' }, 'tcCredCrc: must be an unsigned 32-bit integer'],
    ['a null tcCredCrc', { ...captured, tcCredCrc: null }, 'tcCredCrc: must be an unsigned 32-bit integer'],
    ['a numeric cupsUri', { ...captured, cupsUri: 1 }, 'cupsUri: must be a string or null'],
    ['an object tcUri', { ...captured, tcUri: {} }, 'tcUri: must be a string or null'],
    ['a long station', { ...captured, station: 's'.repeat(1025) }, 'station: must be at most 1024 characters'],
    ['a boolean model', { ...captured, model: true }, 'model: must be a string or null'],
    ['a numeric package', { ...captured, package: 1 }, 'package: must be a string or null'],
    ['keys as an object', { ...captured, keys: { 0: 1 } }, 'keys: must be an array'],
    ['null keys', { ...captured, keys: null }, 'keys: must be an array'],
    ['1001 keys', { ...captured, keys: Array<number>(1001).fill(1) }, 'keys: must have at most 1000 entries'],
    ['a negative key', { ...captured, keys: [1, -1] }, 'keys[1]: must be an unsigned 32-bit integer'],
    ['a float key', { ...captured, keys: [0.5] }, 'keys[0]: must be an unsigned 32-bit integer'],
    ['a key of 2^32', { ...captured, keys: [2 ** 32] }, 'keys[0]: must be an unsigned 32-bit integer'],
    ['a string key', { ...captured, keys: ['3420020549'] }, 'keys[0]: must be an unsigned 32-bit integer'],
  ])('refuses %s', (_why, body, message) => {
    expect(messageOf(body)).toContain(message)
  })
})
