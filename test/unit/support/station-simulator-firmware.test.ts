// The station simulator's firmware handling (signature check, update run or abort, slow and broken downloads) against the 2.0.6 captures.
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { crc32 } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { readFixture } from '../../support/fixtures'
import { decodeUpdateInfoResponse } from '../../support/station-decoder'
import { exportStationKey, stationKeyCrcs, stationPublicKey, stationSignatureVerifies, stationVerify } from '../../support/station-signatures'
import { StationSimulator } from '../../support/station-simulator'
import { issue, newAuthority, validNow } from '../../support/test-certificates'

const fixtureKey = readFixture('sig-0.key')
const privatePem = readFixture('fw-sig.private.pem')
const signed = decodeUpdateInfoResponse(readFixture('response-signed-update.bin'))
const update = signed.update ?? Buffer.alloc(0)
const der = signed.signature?.der ?? Buffer.alloc(0)

const otherKey = (): Buffer => exportStationKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'sec1' }))

/** The DER signature's r and s as the 64-byte r‖s form the station does not accept. */
function rawRs(signature: Buffer): Buffer {
  const rLength = signature[3] ?? 0
  const r = signature.subarray(4, 4 + rLength)
  const s = signature.subarray(4 + rLength + 2)
  const fixed = (value: Buffer): Buffer => Buffer.concat([Buffer.alloc(32), value]).subarray(-32)
  return Buffer.concat([fixed(r), fixed(s)])
}

/** A response body carrying only a signature and an update (the other four segments empty). */
function updateBody(data: Buffer, signatureDer?: Buffer, tcUri = ''): Buffer {
  const sig = signatureDer === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.alloc(4), signatureDer])
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(n)
    return b
  }
  return Buffer.concat([Buffer.from([0, tcUri.length]), Buffer.from(tcUri, 'latin1'), Buffer.alloc(4), u32(sig.length), sig, u32(data.length), data])
}

describe('the captured signed update', () => {
  it('is a 72-byte DER signature over a 73-byte script, with the fixture key CRC', () => {
    expect(der.length).toBe(72)
    expect(update.length).toBe(73)
    expect(signed.signature?.keyCrc).toBe(3420020549)
  })
})

describe('exportStationKey (openssl ec -pubout -outform DER | tail -c 64)', () => {
  it('makes sig-0.key from fw-sig.private.pem, byte for byte', () => {
    const key = exportStationKey(privatePem)
    expect(key.equals(fixtureKey)).toBe(true)
    expect(crc32(key)).toBe(3420020549)
  })

  it('turns the raw point back into the same public key', () => {
    const spki = (key: KeyObject): Buffer => key.export({ format: 'der', type: 'spki' })
    expect(spki(stationPublicKey(fixtureKey)).equals(spki(createPublicKey(privatePem)))).toBe(true)
  })

  it('refuses anything but 64 bytes', () => {
    expect(() => stationPublicKey(Buffer.alloc(65))).toThrow(/64 bytes/)
  })
})

describe('stationKeyCrcs (the request keys array)', () => {
  it('lists crc32 of each key file up to the first missing one', () => {
    const other = otherKey()
    expect(stationKeyCrcs([fixtureKey, other, undefined, fixtureKey])).toEqual([3420020549, crc32(other)])
    expect(stationKeyCrcs([])).toEqual([])
  })

  it('stops at an empty file too (its CRC is 0: sys_crcSigkey > 0 ends the loop)', () => {
    expect(stationKeyCrcs([fixtureKey, Buffer.alloc(0), fixtureKey])).toEqual([3420020549])
  })
})

describe('stationVerify (cups_ondone and cups_verifySig)', () => {
  it('verifies the captured update with sig-0.key', () => {
    expect(stationVerify(update, der, [fixtureKey])).toMatchObject({ verdict: 'ran-verified', keyId: 0, log: 'ECDSA key#0 -> VERIFIED' })
  })

  it('tries every key in order: the fixture key at index 1 behind an unrelated one', () => {
    expect(stationVerify(update, der, [otherKey(), fixtureKey])).toMatchObject({ verdict: 'ran-verified', keyId: 1 })
  })

  it('skips a key file that is not exactly 64 bytes and goes on scanning', () => {
    expect(stationVerify(update, der, [Buffer.concat([fixtureKey, Buffer.from([0])]), fixtureKey])).toMatchObject({ verdict: 'ran-verified', keyId: 1 })
    expect(stationVerify(update, der, [Buffer.alloc(0), fixtureKey])).toMatchObject({ verdict: 'ran-verified', keyId: 1 })
  })

  it('skips 64 bytes that are not a point on the curve', () => {
    expect(stationVerify(update, der, [Buffer.alloc(64, 0x11), fixtureKey])).toMatchObject({ verdict: 'ran-verified', keyId: 1 })
  })

  it('stops scanning at the first missing file', () => {
    expect(stationVerify(update, der, [otherKey(), undefined, fixtureKey])).toEqual({
      verdict: 'aborted-not-verified',
      log: 'No key could verify signature. Tried 1 keys',
    })
  })

  it('aborts with a wrong key', () => {
    expect(stationVerify(update, der, [otherKey()]).verdict).toBe('aborted-not-verified')
  })

  it('aborts when the update was changed after signing', () => {
    const changed = Buffer.from(update)
    changed.writeUInt8(changed.readUInt8(changed.length - 1) ^ 1, changed.length - 1)
    expect(stationVerify(changed, der, [fixtureKey]).verdict).toBe('aborted-not-verified')
  })

  it('aborts an unsigned update when sig-0.key exists, whatever its size', () => {
    expect(stationVerify(update, undefined, [fixtureKey])).toEqual({
      verdict: 'aborted-no-signature',
      log: 'Keyfile present, but no signature provided. Aborting update.',
    })
    expect(stationVerify(update, undefined, [Buffer.alloc(65)]).verdict).toBe('aborted-no-signature')
  })

  it('runs an unsigned update when there is no key file', () => {
    expect(stationVerify(update, undefined, [])).toEqual({ verdict: 'ran-unsigned', log: 'No Key. No Sig. UPDATE.' })
  })

  it('aborts a signed update when there is no key to check it with', () => {
    expect(stationVerify(update, der, []).verdict).toBe('aborted-no-keys')
  })

  it('does not accept the same signature as raw r‖s (64 bytes)', () => {
    const raw = rawRs(der)
    expect(raw.length).toBe(64)
    expect(verify('sha512', update, { key: stationPublicKey(fixtureKey), dsaEncoding: 'ieee-p1363' }, raw)).toBe(true) // same r and s
    expect(stationVerify(update, raw, [fixtureKey]).verdict).toBe('aborted-not-verified')
  })

  it('verifies a signature made now with node crypto on the fixture key', () => {
    const fresh = sign('sha512', update, { key: privatePem.toString('latin1'), dsaEncoding: 'der' })
    expect(stationVerify(update, fresh, [otherKey(), fixtureKey])).toMatchObject({ verdict: 'ran-verified', keyId: 1 })
    const data = Buffer.from('#!/bin/sh\necho fresh\n')
    expect(stationVerify(data, sign('sha512', data, { key: privatePem.toString('latin1'), dsaEncoding: 'der' }), [fixtureKey]).verdict).toBe(
      'ran-verified',
    )
  })

  it('reads DER like mbedTLS: a long-form length passes, trailing bytes do not', () => {
    const key = stationPublicKey(fixtureKey)
    // 30 81 LL: the SEQUENCE length in the (non-minimal) one-octet long form.
    const longForm = Buffer.concat([Buffer.from([0x30, 0x81, der[1] ?? 0]), der.subarray(2)])
    expect(stationSignatureVerifies(update, longForm, key)).toBe(true)
    expect(verify('sha512', update, { key, dsaEncoding: 'der' }, longForm)).toBe(false) // OpenSSL is stricter than the station
    expect(stationSignatureVerifies(update, Buffer.concat([der, Buffer.from([0])]), key)).toBe(false)
    const innerTrailing = Buffer.concat([Buffer.from([0x30, (der[1] ?? 0) + 1]), der.subarray(2), Buffer.from([0])])
    expect(stationSignatureVerifies(update, innerTrailing, key)).toBe(false)
    expect(stationSignatureVerifies(update, der.subarray(0, der.length - 1), key)).toBe(false)
  })
})

describe('StationSimulator firmware handling over TLS', () => {
  let dir: string
  let server: tls.Server
  let port: number
  let respond: (socket: tls.TLSSocket, requestBody: string) => void = () => undefined
  const requests: string[] = []
  let trustPem: Buffer

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'station-fw-'))
    const ca = await newAuthority(path.join(dir, 'ca'), 'fw test CA')
    const leaf = await issue(path.join(dir, 'leaf'), ca, { subject: '/CN=localhost', dnsNames: ['localhost'], extendedKeyUsage: 'serverAuth', ...validNow() })
    server = tls.createServer({ cert: leaf.cert, key: leaf.key }, (socket) => {
      let head = Buffer.alloc(0)
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk])
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        const length = Number(/content-length:\s*(\d+)/i.exec(head.toString('latin1', 0, end))?.[1] ?? 0)
        if (head.length < end + 4 + length) return
        socket.off('data', onData)
        const body = head.toString('latin1', end + 4, end + 4 + length)
        requests.push(body)
        respond(socket, body)
      }
      socket.on('data', onData)
      socket.on('error', () => undefined)
    })
    await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve))
    port = (server.address() as AddressInfo).port
    trustPem = await readFile(ca.cert)
  })

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
    await rm(dir, { recursive: true, force: true })
  })

  let stationCount = 0
  async function newStation(options: Partial<ConstructorParameters<typeof StationSimulator>[0]> = {}): Promise<StationSimulator> {
    stationCount += 1
    const station = new StationSimulator({ router: '16:c001:ff10:a235', home: path.join(dir, `station-${stationCount}`), ...options })
    await station.setFile('cups.uri', `https://localhost:${port}`)
    await station.setFile('cups.trust', trustPem)
    return station
  }

  const head = (length: number): string => `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`
  const reply = (body: Buffer) => (socket: tls.TLSSocket): void => {
    socket.end(Buffer.concat([Buffer.from(head(body.length), 'latin1'), body]))
  }

  it('sends the key CRCs, verifies the captured update, runs it and reports the new version', async () => {
    const runUpdate = vi.fn(() => '2.0.0\n')
    const station = await newStation({ runUpdate })
    await station.setFile('sig-0.key', fixtureKey)
    respond = reply(readFixture('response-signed-update.bin'))
    const result = await station.contact()
    expect(JSON.parse(requests.at(-1) ?? '{}')).toMatchObject({ package: '1.0.0', keys: [3420020549] })
    expect(result.update).toEqual({ verdict: 'ran-verified', keyId: 0, length: 73 })
    expect(runUpdate).toHaveBeenCalledWith(update)
    expect((await readFile(path.join(station.home, 'update.bin'))).equals(update)).toBe(true)
    expect(station.package).toBe('2.0.0')
    respond = reply(Buffer.alloc(14))
    expect((await station.contact()).update).toBeUndefined()
    expect(JSON.parse(requests.at(-1) ?? '{}')).toMatchObject({ package: '2.0.0' })
  })

  it('keeps the version when runUpdate returns nothing', async () => {
    const station = await newStation({ package: null, runUpdate: () => undefined })
    respond = reply(updateBody(update))
    expect((await station.contact()).update).toEqual({ verdict: 'ran-unsigned', length: 73 })
    expect(station.package).toBeNull()
  })

  it('aborts and deletes update.bin without running it when no key verifies', async () => {
    const runUpdate = vi.fn(() => '2.0.0')
    const station = await newStation({ runUpdate })
    await station.setFile('sig-0.key', otherKey())
    respond = reply(readFixture('response-signed-update.bin'))
    expect((await station.contact()).update).toEqual({ verdict: 'aborted-not-verified', length: 73 })
    expect(runUpdate).not.toHaveBeenCalled()
    expect(existsSync(path.join(station.home, 'update.bin'))).toBe(false)
    expect(station.package).toBe('1.0.0')
  })

  it('rejects a truncated download and runs nothing, but keeps the URIs committed before the update began', async () => {
    const runUpdate = vi.fn(() => '2.0.0')
    const station = await newStation({ runUpdate })
    const body = updateBody(Buffer.alloc(5000, 0x41), undefined, 'wss://localhost:6042')
    respond = (socket) => socket.end(Buffer.concat([Buffer.from(head(body.length), 'latin1'), body.subarray(0, 1000)]))
    await expect(station.contact()).rejects.toThrow(`connection closed after 1000 of ${body.length} body bytes`)
    expect(runUpdate).not.toHaveBeenCalled()
    expect(existsSync(path.join(station.home, 'update.bin'))).toBe(false)
    expect((await station.file('tc.uri')).toString()).toBe('wss://localhost:6042')
  })

  it('commits nothing when the body breaks before the update length', async () => {
    const station = await newStation()
    const body = updateBody(update, undefined, 'wss://localhost:6042')
    respond = (socket) => socket.end(Buffer.concat([Buffer.from(head(body.length), 'latin1'), body.subarray(0, 10)]))
    await expect(station.contact()).rejects.toThrow(`connection closed after 10 of ${body.length} body bytes`)
    expect((await station.file('tc.uri')).length).toBe(0)
  })

  it('takes 16 MB in one go and verifies it', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024, 0x5a)
    const station = await newStation()
    await station.setFile('sig-0.key', fixtureKey)
    respond = reply(updateBody(big, sign('sha512', big, { key: privatePem.toString('latin1'), dsaEncoding: 'der' })))
    const started = Date.now()
    expect((await station.contact()).update).toEqual({ verdict: 'ran-verified', keyId: 0, length: big.length })
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('re-arms the inactivity timeout on every chunk, so a slow but moving download completes', async () => {
    const station = await newStation({ connTimeoutMs: 300, readDelayMs: 20 })
    const body = updateBody(Buffer.alloc(4000, 0x42))
    respond = (socket) => {
      socket.write(head(body.length))
      let sent = 0
      const next = (): void => {
        socket.write(body.subarray(sent, sent + 1000))
        sent += 1000
        if (sent < body.length) setTimeout(next, 150)
        else socket.end()
      }
      setTimeout(next, 150)
    }
    const started = Date.now()
    expect((await station.contact()).update).toEqual({ verdict: 'ran-unsigned', length: 4000 })
    expect(Date.now() - started).toBeGreaterThan(600) // longer than connTimeoutMs in total
  })

  it('gives up with CUPS_CONN_TIMEOUT after connTimeoutMs without data', async () => {
    const station = await newStation({ connTimeoutMs: 200 })
    const body = updateBody(Buffer.alloc(4000, 0x43), undefined, 'wss://localhost:6042')
    let peer: tls.TLSSocket | undefined
    respond = (socket) => {
      peer = socket
      socket.write(Buffer.concat([Buffer.from(head(body.length), 'latin1'), body.subarray(0, 100)]))
    }
    await expect(station.contact()).rejects.toThrow('CUPS_CONN_TIMEOUT')
    peer?.destroy()
    expect((await station.file('tc.uri')).toString()).toBe('wss://localhost:6042')
  })

  it('stalls after stallAfterBytes, so the server sees back-pressure, and settles once the server cuts it off', async () => {
    const station = await newStation({ stallAfterBytes: 64 * 1024 })
    const big = updateBody(Buffer.alloc(16 * 1024 * 1024, 0x44))
    let cutOff = false
    respond = (socket) => {
      socket.write(head(big.length))
      // Write in pieces and count on 'drain': a stalled reader leaves it pending, and the server cuts the client off.
      let sent = 0
      const pump = (): void => {
        while (sent < big.length) {
          const piece = big.subarray(sent, sent + 64 * 1024)
          sent += piece.length
          if (!socket.write(piece)) {
            const watchdog = setTimeout(() => {
              cutOff = true
              socket.destroy()
            }, 500)
            socket.once('drain', () => {
              clearTimeout(watchdog)
              pump()
            })
            return
          }
        }
        socket.end()
      }
      pump()
    }
    const error = await station.contact().then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(cutOff).toBe(true)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toMatch(new RegExp(`^connection closed after \\d+ of ${big.length} body bytes$`))
  })
})
