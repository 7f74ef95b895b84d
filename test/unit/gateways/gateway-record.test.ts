// parseGatewayRecord and GatewayRegistry.lookup: only a JSON object registers; an unknown state never serves.
import { describe, expect, it, vi } from 'vitest'
import { InvalidRecordError, parseGatewayRecord } from '../../../src/gateways/gateway-record'
import { effectiveSettings } from '../../../src/gateways/gateway-settings'
import { GatewayRegistry } from '../../../src/gateways/gateway-registry'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'

const EUI = '0016c001ff10a235'
const KEY = `cups/${EUI}/gateway.json`

describe('parseGatewayRecord', () => {
  it.each([
    ['{}', 'active'],
    ['{"state":"active","name":"roof"}', 'active'],
    ['{"state":"disabled"}', 'disabled'],
    ['{"state":"revoked","revokedAt":"2026-12-02T00:00:00.000Z"}', 'revoked'],
  ])('%s is a record in state %s', (json, state) => {
    expect(parseGatewayRecord(Buffer.from(json)).state).toBe(state)
  })

  it.each([
    ['', /not valid JSON/],
    ['{', /not valid JSON/],
    ['null', /not null/],
    ['[]', /not an array/],
    ['"{}"', /not string/],
    ['42', /not number/],
    ['{"state":"revokd"}', /state must be one of/],
    ['{"state":true}', /state must be one of/],
    ['{"state":null}', /state must be one of/],
  ])('%j is not a record', (json, reason) => {
    expect(() => parseGatewayRecord(Buffer.from(json))).toThrow(InvalidRecordError)
    expect(() => parseGatewayRecord(Buffer.from(json))).toThrow(reason)
  })
})

describe('GatewayRegistry.lookup', () => {
  async function lookup(body: string | undefined, allowlist: string[] = []) {
    const store = new MemoryBlobStore()
    if (body !== undefined) await store.put(KEY, Buffer.from(body))
    const warn = vi.fn()
    const registration = await new GatewayRegistry(store, () => KEY, allowlist, { warn }).lookup(EUI)
    return { registration, warn }
  }

  it('a record registers; so does the allowlist', async () => {
    expect((await lookup('{}')).registration).toMatchObject({ registered: true, state: 'active' })
    expect((await lookup(undefined, [EUI])).registration).toEqual({ registered: true, state: 'active' })
    expect((await lookup(undefined)).registration).toEqual({ registered: false, state: 'active' })
  })

  it('anything but a JSON object registers nothing, and says why in the log', async () => {
    for (const body of ['[]', 'null', 'garbage', '']) {
      const { registration, warn } = await lookup(body)
      expect(registration.registered).toBe(false)
      expect(warn).toHaveBeenCalledWith(expect.objectContaining({ eui: EUI, problem: expect.any(String) as unknown }), expect.any(String))
    }
  })

  it('an unknown state refuses the gateway instead of serving it', async () => {
    expect((await lookup('{"state":"revokd"}')).registration).toMatchObject({ state: 'disabled', problem: expect.stringMatching(/state/) as unknown })
  })

  it('a revoked record keeps the gateway registered', async () => {
    expect((await lookup('{"state":"revoked"}')).registration).toMatchObject({ registered: true, state: 'revoked' })
  })
})

describe('the record schema: each problem named by field, the state kept', () => {
  it.each([
    ['{"tcUri":"wss://lns.example.com"}', /^tcUri: .*mandatory numeric port/],
    ['{"cupsUri":"http://cups.example.com:80"}', /^cupsUri: must be https/],
    ['{"tcuri":"wss://lns.example.com:1"}', /^tcuri: Unrecognized key/],
    ['{"tcTrust":"not a certificate"}', /^tcTrust: .*holds no certificate/],
    ['{"tcCredentials":{"source":"token"}}', /^tcCredentials: give exactly one of token and bearer/],
    ['{"tcCredentials":{"source":"token","token":"Bearer abc"}}', /^tcCredentials\.token: token line 1 must be/],
    ['{"tcCredentials":{"source":"lns"}}', /^tcCredentials\.source: /],
    ['{"labels":{"bad label":"x"}}', /^labels\.bad label: /],
    ['{"version":2}', /^version: /],
  ])('%s', (json, problem) => {
    const record = parseGatewayRecord(Buffer.from(json))
    expect(record.state).toBe('active')
    expect(record.overrides).toBeUndefined()
    expect(record.problems).toEqual([expect.stringMatching(problem)])
  })

  it('never echoes a malformed URI, which could carry a secret, into the problems it logs', () => {
    const { problems } = parseGatewayRecord(Buffer.from('{"tcUri":"wss://user:s3cret@lns.example.com:1/?key=s3cret"}'))
    expect(problems).toHaveLength(1)
    expect(problems.join(' ')).not.toMatch(/s3cret/)
  })

  it('a disabled record with a bad field stays disabled', () => {
    expect(parseGatewayRecord(Buffer.from('{"state":"disabled","tcUri":"x"}'))).toMatchObject({ state: 'disabled', problems: [expect.any(String)] })
  })
})

describe('effectiveSettings', () => {
  const defaults = { cupsUri: 'https://cups.example.com:443', tcUri: 'wss://lns.example.com:8887' }
  const settings = (json: string) => effectiveSettings(defaults, parseGatewayRecord(Buffer.from(json)).overrides)

  it('takes the fleet defaults where the record is silent', () => {
    expect(settings('{}')).toEqual({ ...defaults, tcTrust: undefined, tcSource: undefined })
    expect(effectiveSettings(defaults, undefined)).toEqual({ ...defaults, tcTrust: undefined, tcSource: undefined })
  })

  it('lets the record override each URI and choose the TC source', () => {
    expect(settings('{"cupsUri":"https://cups2.example.com:8443","tcUri":"wss://lns2.example.com:443"}')).toMatchObject({
      cupsUri: 'https://cups2.example.com:8443',
      tcUri: 'wss://lns2.example.com:443',
    })
    expect(settings('{"tcCredentials":{"source":"lns-ca"}}').tcSource).toEqual({ source: 'lns-ca' })
    expect(settings('{"tcCredentials":{"source":"none"}}').tcSource).toEqual({ source: 'none' })
  })

  it('builds The Things Stack\'s header from a bare API key, and takes header lines as they are', () => {
    expect(settings('{"tcCredentials":{"source":"token","bearer":"NNSXS.ABC"}}').tcSource).toEqual({
      source: 'token',
      token: 'Authorization: Bearer NNSXS.ABC',
    })
    expect(settings('{"tcCredentials":{"source":"token","token":"X-Api-Key: k1"}}').tcSource).toEqual({ source: 'token', token: 'X-Api-Key: k1' })
  })
})
