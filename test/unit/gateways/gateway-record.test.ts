// parseGatewayRecord and GatewayRegistry.lookup: only a JSON object registers; an unknown state never serves.
import { describe, expect, it, vi } from 'vitest'
import { InvalidRecordError, parseGatewayRecord } from '../../../src/gateways/gateway-record'
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
    expect((await lookup('{}')).registration).toEqual({ registered: true, state: 'active' })
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
    expect((await lookup('{"state":"revoked"}')).registration).toEqual({ registered: true, state: 'revoked' })
  })
})
