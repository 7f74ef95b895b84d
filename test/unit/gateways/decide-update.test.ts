// decideUpdate: one row per rule of what an answer carries and why, with no storage, OpenSSL or clock.
import { describe, expect, it } from 'vitest'
import { crc32 } from '../../../src/cups/crc32'
import type { UpdateInfoRequest } from '../../../src/cups/update-info-request'
import type { Proof } from '../../../src/gateways/access-policy'
import { decideUpdate, wantsTcCredentials } from '../../../src/gateways/decide-update'
import type { BundleChoice, DecideInput } from '../../../src/gateways/decide-update'
import type { InventoryEntry } from '../../../src/gateways/inventory'

const NOW = new Date('2026-12-02T12:00:00Z')
const CUPS = Buffer.from('cups bundle bytes')
const TC = Buffer.from('tc bundle bytes')
const CUPS_URI = 'https://cups.example.com:443'
const TC_URI = 'wss://lns.example.com:8887'

const request = (overrides: Partial<UpdateInfoRequest> = {}): UpdateInfoRequest => ({
  eui: '0016c001ff10a235',
  router: '0016c001ff10a235',
  cupsUri: null,
  tcUri: null,
  cupsCredCrc: 0,
  tcCredCrc: 0,
  station: null,
  model: null,
  package: null,
  keys: [],
  ...overrides,
})
const converged = request({ cupsUri: CUPS_URI, tcUri: TC_URI, cupsCredCrc: crc32(CUPS), tcCredCrc: crc32(TC) })
const stored = (bundle: Buffer): BundleChoice => ({ bundle, reason: 'the stored bundle' })

const input = (overrides: Partial<DecideInput> = {}): DecideInput => ({
  request: request(),
  cupsUri: CUPS_URI,
  tcUri: TC_URI,
  proof: 'certificate',
  cups: stored(CUPS),
  tc: stored(TC),
  inventory: undefined,
  now: NOW,
  ...overrides,
})
const sends = (decision: ReturnType<typeof decideUpdate>): string[] =>
  Object.entries(decision.explain()).flatMap(([segment, { send }]) => (send ? [segment] : []))

describe('decideUpdate', () => {
  it.each<[string, Partial<DecideInput>, string[]]>([
    ['a factory-fresh station gets everything', {}, ['cupsUri', 'tcUri', 'cupsCredentials', 'tcCredentials']],
    ['a converged station gets nothing', { request: converged }, []],
    ['only what differs is sent', { request: request({ ...converged, tcCredCrc: 1 }) }, ['tcCredentials']],
    ['no CUPS URI anywhere: none is sent', { request: converged, cupsUri: undefined }, []],
    ['no TC URI: neither the URI nor TC credentials', { tcUri: undefined, tc: undefined }, ['cupsUri', 'cupsCredentials']],
    ['no TC credentials: no TC URI either', { tc: { none: 'the stored bundle is not one a station can use' } }, ['cupsUri', 'cupsCredentials']],
    ['a bundle to be minted is sent (preview)', { request: converged, cups: { pending: 'mint', reason: 'renewed' } }, ['cupsCredentials']],
    ['an unusable CUPS bundle is withheld', { request: converged, cups: { none: 'not usable' } }, []],
  ])('%s', (_name, overrides, expected) => {
    const decision = decideUpdate(input(overrides))
    expect(sends(decision)).toEqual(expected)
    // What the decision says it sends is exactly what the response carries (nothing pending is in it).
    const pending = overrides.cups !== undefined && 'pending' in overrides.cups
    if (!pending) expect(Object.keys(decision.response).sort()).toEqual([...expected].sort())
  })

  it('says why a segment is not sent', () => {
    const segments = decideUpdate(input({ request: converged, tcUri: undefined, tc: undefined })).explain()
    expect(segments.cupsCredentials.reason).toMatch(/^the station holds it already \(CRC \d+\)/)
    expect(segments.tcUri.reason).toBe('not managed here: neither its record nor TC_URI sets one')
    expect(segments.tcCredentials.reason).toBe('not managed here: there is no TC URI to use them with')
  })

  it('a stuck segment is held back with its back-off in the reason, and only while the report stays the same', () => {
    const entry = {
      segments: { cupsUri: { crc: crc32(Buffer.from(CUPS_URI)), reportedCrc: crc32(Buffer.from('')), sends: 3, stuckSince: '2026-12-02T11:00:00.000Z', stuckUntil: '2026-12-03T11:00:00.000Z' } },
    } as unknown as InventoryEntry
    const held = decideUpdate(input({ request: request({ ...converged, cupsUri: null }), inventory: entry }))
    expect(held.heldBack).toEqual(['cupsUri'])
    expect(held.explain().cupsUri).toEqual({ send: false, reason: expect.stringMatching(/held back by the loop guard: sent 3 times .* until 2026-12-03T11:00:00.000Z/) as string })
    expect(held.response.cupsUri).toBeUndefined()
  })
})

describe('wantsTcCredentials', () => {
  it.each<[Proof, BundleChoice, boolean]>([
    ['certificate', { none: 'failed' }, true],
    ['bootstrap', { bundle: CUPS, reason: '' }, true],
    ['bootstrap', { pending: 'mint', reason: '' }, true],
    // A caller who proved nothing never gets the TC key without its own CUPS identity.
    ['bootstrap', { none: 'minting failed' }, false],
  ])('proof %s with CUPS %o: %s', (proof, cups, expected) => {
    expect(wantsTcCredentials(TC_URI, proof, cups)).toBe(expected)
  })

  it('never without a TC URI', () => {
    expect(wantsTcCredentials(undefined, 'certificate', stored(CUPS))).toBe(false)
  })
})
