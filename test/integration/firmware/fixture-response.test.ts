// response-signed-update.bin, the signed update a real Basics Station 2.0.6 verified, reproduced byte for byte by the delivery path.
import { describe, expect, it } from 'vitest'
import { parseUpdateInfoRequest } from '../../../src/cups/update-info-request'
import { encodeUpdateInfoHead } from '../../../src/cups/update-info-response'
import { FirmwareCatalogue } from '../../../src/firmware/firmware-catalogue'
import { activeRollout } from '../../../src/firmware/firmware-manifest'
import { FirmwareService } from '../../../src/firmware/firmware-service'
import { selectFirmware } from '../../../src/firmware/select-firmware'
import { signingKey, signUpdate, stationKeyOf } from '../../../src/firmware/signing-keys'
import { NO_METRICS } from '../../../src/observability/metrics'
import { MemoryBlobStore } from '../../../src/storage/memory-blob-store'
import { readFixture } from '../../support/fixtures'
import { stationVerify } from '../../support/station-signatures'
import { decodeUpdateInfoResponse } from '../../support/station-decoder'

const response = readFixture('response-signed-update.bin')
const sigLen = response.readUInt32LE(6)
const capturedSignature = response.subarray(14, 10 + sigLen)
const update = response.subarray(14 + sigLen)
const stationKey = readFixture('sig-0.key')
const rawRequest = readFixture('request-before-signed-update.raw').toString('latin1')
const request = parseUpdateInfoRequest(JSON.parse(rawRequest.slice(rawRequest.indexOf('\r\n\r\n') + 4)) as unknown)
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined }

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

describe('the captured signed update', () => {
  it('is what the catalogue, the selection and the streamed answer produce from the fixture update and its signature', async () => {
    const store = new MemoryBlobStore()
    const catalogue = new FirmwareCatalogue(store, 'cups/')
    // The captured signature was made elsewhere (openssl dgst -sha512 -sign): added as such, checked on the way in.
    const { manifest } = await catalogue.publish({
      update,
      version: '1.0.1',
      from: ['1.0.0'],
      signatures: [{ stationKey: stationKey.toString('base64'), signature: capturedSignature.toString('base64') }],
      now: new Date('2026-11-23T19:50:00Z'),
    })
    await catalogue.changeRollout(manifest.id, () => activeRollout(manifest.id, new Date()))
    const service = new FirmwareService({ store, prefix: 'cups/', refreshMs: 0, log: quiet, metrics: NO_METRICS })
    const choice = selectFirmware({ eui: request.eui, request, labels: {}, preference: undefined, catalogue: await service.offers(), deliveries: undefined, now: new Date() })
    if (!('send' in choice) || choice.signature === undefined) throw new Error(`expected a signed update, got ${JSON.stringify(choice)}`)
    expect(choice.signature.keyCrc).toBe(3420020549)
    const head = encodeUpdateInfoHead({ signature: { keyCrc: choice.signature.keyCrc, der: Buffer.from(choice.signature.signature, 'base64') } }, manifest.size)
    const opened = await service.open(manifest, head, () => undefined)
    if (opened === undefined) throw new Error('the update did not open')
    const bytes = await collect(opened.stream)
    expect(opened.length).toBe(response.length)
    expect(bytes.equals(response)).toBe(true)
  })

  it('signing the fixture update with the fixture key gives another signature (ECDSA is randomised) that the station verifies the same way', () => {
    const key = signingKey(readFixture('fw-sig.private.pem'))
    expect(stationKeyOf(key).equals(stationKey)).toBe(true)
    const ours = signUpdate(update, key)
    expect(stationVerify(update, ours, [stationKey]).verdict).toBe('ran-verified')
    const decoded = decodeUpdateInfoResponse(Buffer.concat([encodeUpdateInfoHead({ signature: { keyCrc: 3420020549, der: ours } }, update.length), update]))
    expect(decoded.update?.equals(update)).toBe(true)
  })
})
