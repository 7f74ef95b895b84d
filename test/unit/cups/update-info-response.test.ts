import { describe, it, expect } from 'vitest'
import { EncodingError } from '../../../src/errors'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import { NO_CHANGE, encodeUpdateInfoResponse } from '../../../src/cups/update-info-response'
import type { UpdateInfoResponse } from '../../../src/cups/update-info-response'
import { readFixture } from '../../support/fixtures'
import { seededRandom } from '../../support/seeded-random'
import type { SeededRandom } from '../../support/seeded-random'
import { decodeUpdateInfoResponse } from '../../support/station-decoder'
import { errorVectors, vectors } from '../../vectors/update-info-response.vectors'

function codeOf(response: UpdateInfoResponse): string | undefined {
  try {
    encodeUpdateInfoResponse(response)
  } catch (err) {
    if (err instanceof EncodingError) return err.code
    throw err
  }
  return undefined
}

describe('encodeUpdateInfoResponse', () => {
  it.each(vectors)('encodes $name', ({ response, bytes }) => {
    expect(encodeUpdateInfoResponse(response).toString('hex')).toBe(Buffer.from(bytes).toString('hex'))
  })

  it.each(vectors)('encodes $name so that the station reads it back', ({ response }) => {
    expect(decodeUpdateInfoResponse(encodeUpdateInfoResponse(response))).toEqual({ ...response, trailing: 0 })
  })

  it.each(errorVectors)('refuses %s', (_name, response, code) => {
    expect(codeOf(response)).toBe(code)
  })

  it('names the credential field in the message', () => {
    expect(() => encodeUpdateInfoResponse({ tcCredentials: Buffer.from('-----BEGIN') })).toThrow(/^tcCredentials: /)
  })

  it('refuses an update of 2^31 bytes, which the station reads as a negative length', () => {
    // Allocating 2 GiB is not an option in a unit test, so only the length is real here.
    const huge = Object.defineProperty(Buffer.alloc(1), 'length', { value: 2 ** 31 })
    expect(codeOf({ update: huge })).toBe('UPDATE_TOO_LONG')
  })

  it('encodes empty strings and zero-length Buffers as "no change"', () => {
    const empty = Buffer.alloc(0)
    const encoded = encodeUpdateInfoResponse({ cupsUri: '', tcUri: '', cupsCredentials: empty, tcCredentials: empty, update: empty })
    expect(encoded.toString('hex')).toBe('00'.repeat(14))
  })

  it('offers NO_CHANGE, the 14 zero bytes, equal to encoding an empty response', () => {
    expect(NO_CHANGE.toString('hex')).toBe('00'.repeat(14))
    expect(encodeUpdateInfoResponse({}).equals(NO_CHANGE)).toBe(true)
    expect(encodeUpdateInfoResponse({})).not.toBe(NO_CHANGE)
  })

  describe('seeded random round-trip through the station decoder', () => {
    const trust = readFixture('tc-files-written/tc.trust')
    const mtls = Buffer.concat([trust, readFixture('tc-files-written/tc.crt'), readFixture('tc-files-written/tc.key')])
    const random = seededRandom(0x5eed)
    const hostChars = 'abcdefghijklmnopqrstuvwxyz0123456789.-'

    const randomUri = (schemes: readonly string[]): string => {
      const scheme = random.pick(schemes)
      const port = String(random.int(1, 65535))
      if (random.chance(0.1)) return `${scheme}://[::${random.int(1, 0xffff).toString(16)}]:${port}`
      const room = 127 - scheme.length - 4 - port.length
      const host = Array.from({ length: random.int(1, room) }, () => hostChars.charAt(random.int(0, hostChars.length - 1))).join('')
      return `${scheme}://${host}:${port}`
    }
    const randomToken = (rng: SeededRandom): string =>
      `X-Token-${rng.int(0, 99)}: ${rng.bytes(rng.int(1, 200)).toString('base64')}`
    const randomBlob = (): Buffer =>
      random.pick([
        () => mtls,
        () => buildCredentialBlob({ trust }),
        () => buildCredentialBlob({ trust, token: randomToken(random) }),
      ])()
    const randomResponse = (): UpdateInfoResponse => {
      const response: UpdateInfoResponse = {}
      if (random.chance(0.5)) response.cupsUri = randomUri(['http', 'https', 'HTTPS'])
      if (random.chance(0.5)) response.tcUri = randomUri(['ws', 'wss', 'WSS'])
      if (random.chance(0.3)) response.cupsCredentials = randomBlob()
      if (random.chance(0.3)) response.tcCredentials = randomBlob()
      if (random.chance(0.4)) {
        response.update = random.bytes(random.int(1, 3000))
        if (random.chance(0.7)) {
          const content = random.bytes(random.int(2, 126))
          response.signature = { keyCrc: random.int(0, 0xffffffff), der: Buffer.concat([Buffer.from([0x30, content.length]), content]) }
        }
      }
      return response
    }

    const responses = Array.from({ length: 500 }, randomResponse)

    it('covers every segment', () => {
      for (const field of ['cupsUri', 'tcUri', 'cupsCredentials', 'tcCredentials', 'signature', 'update'] as const) {
        expect(responses.filter((response) => response[field] !== undefined).length).toBeGreaterThan(50)
      }
    })

    it('decodes 500 random responses to what was encoded, with no bytes left over', () => {
      for (const response of responses) {
        expect(decodeUpdateInfoResponse(encodeUpdateInfoResponse(response))).toEqual({ ...response, trailing: 0 })
      }
    })
  })
})
