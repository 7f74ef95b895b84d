import { describe, it, expect } from 'vitest'
import { crc32 } from '../../../src/cups/crc32'
import { planUpdate } from '../../../src/cups/plan-update'
import type { DesiredGatewayState } from '../../../src/cups/plan-update'
import type { UpdateInfoRequest } from '../../../src/cups/update-info-request'
import type { UpdateInfoResponse } from '../../../src/cups/update-info-response'
import { seededRandom } from '../../support/seeded-random'

// planUpdate never looks inside blobs, so any bytes with a known CRC will do here.
const CUPS_BLOB = Buffer.from('cups credential blob')
const TC_BLOB = Buffer.from('tc credential blob')

const station: UpdateInfoRequest = Object.freeze({
  eui: '0016c001ff10a235',
  router: '16:c001:ff10:a235',
  cupsUri: 'https://cups.example.com:443',
  tcUri: 'wss://lns.example.com:8887',
  cupsCredCrc: crc32(CUPS_BLOB),
  tcCredCrc: crc32(TC_BLOB),
  station: '2.0.6(linux/testsim) 2026-11-23 19:46:54',
  model: 'linux',
  package: '1.0.0',
  keys: [3420020549],
})

const everything: DesiredGatewayState = {
  cupsUri: 'https://cups.example.com:443',
  tcUri: 'wss://lns.example.com:8887',
  cupsCredentials: CUPS_BLOB,
  tcCredentials: TC_BLOB,
}

// [case, what the station reports (changes to `station`), what it should have, the expected reply]
const table: readonly (readonly [string, Partial<UpdateInfoRequest>, DesiredGatewayState, UpdateInfoResponse])[] = [
  ['nothing desired', {}, {}, {}],
  ['everything already in place', { package: '1.0.1' }, everything, {}],
  ['a new cups uri', {}, { cupsUri: 'https://cups2.example.com:443' }, { cupsUri: 'https://cups2.example.com:443' }],
  ['a tc uri for a station without one', { tcUri: null }, { tcUri: 'wss://lns.example.com:8887' }, { tcUri: 'wss://lns.example.com:8887' }],
  ['a tc uri for a station reporting ""', { tcUri: '' }, { tcUri: 'wss://lns.example.com:8887' }, { tcUri: 'wss://lns.example.com:8887' }],
  ['an empty desired uri', { cupsUri: null }, { cupsUri: '' }, {}],
  ['uris compared as exact strings', {}, { tcUri: 'WSS://lns.example.com:8887' }, { tcUri: 'WSS://lns.example.com:8887' }],
  ['cups credentials whose CRC differs', { cupsCredCrc: 3435451239 }, { cupsCredentials: CUPS_BLOB }, { cupsCredentials: CUPS_BLOB }],
  ['tc credentials for an empty tc set', { tcCredCrc: 2077607535 }, { tcCredentials: TC_BLOB }, { tcCredentials: TC_BLOB }],
  ['empty desired credentials', { tcCredCrc: 2077607535 }, { tcCredentials: Buffer.alloc(0) }, {}],
  [
    'a fresh station gets everything',
    { cupsUri: 'https://bootstrap.example.com:443', tcUri: null, cupsCredCrc: 1, tcCredCrc: 2077607535, package: '0.9' },
    everything,
    {
      cupsUri: 'https://cups.example.com:443',
      tcUri: 'wss://lns.example.com:8887',
      cupsCredentials: CUPS_BLOB,
      tcCredentials: TC_BLOB,
    },
  ],
]

describe('planUpdate', () => {
  it.each(table)('%s', (_case, reported, desired, expected) => {
    expect(planUpdate({ ...station, ...reported }, Object.freeze(desired))).toEqual(expected)
  })

  it('never resends what the station reports after applying a reply (seeded)', () => {
    const random = seededRandom(42)
    for (let round = 0; round < 200; round++) {
      const desired: DesiredGatewayState = {
        cupsUri: `https://cups${random.int(0, 3)}.example.com:443`,
        tcUri: `wss://lns${random.int(0, 3)}.example.com:8887`,
        cupsCredentials: random.bytes(random.int(1, 40)),
        tcCredentials: random.bytes(random.int(1, 40)),
      }
      const before: UpdateInfoRequest = {
        ...station,
        cupsUri: random.pick([null, 'https://old.example.com:443']),
        cupsCredCrc: random.int(0, 2 ** 32 - 1),
      }
      const reply = planUpdate(before, desired)
      // What the station reports on its next contact once it has applied the reply (the update rewrites version.txt).
      const after: UpdateInfoRequest = {
        ...before,
        cupsUri: reply.cupsUri ?? before.cupsUri,
        tcUri: reply.tcUri ?? before.tcUri,
        cupsCredCrc: reply.cupsCredentials ? crc32(reply.cupsCredentials) : before.cupsCredCrc,
        tcCredCrc: reply.tcCredentials ? crc32(reply.tcCredentials) : before.tcCredCrc,
      }
      expect(planUpdate(after, desired)).toEqual({})
    }
  })
})
