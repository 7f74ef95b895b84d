// Signing keys the station's way: sig-N.key bytes and CRC, P-256 only, DER ECDSA over SHA-512, checked chunk by chunk.
import { createVerify, generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { keyCrcOf, publicKeyFromStationKey, SignatureCheck, signingKey, signUpdate, stationKeyOf, SigningKeyError } from '../../../src/firmware/signing-keys'
import { readFixture } from '../../support/fixtures'

const FIXTURE_KEY = readFixture('sig-0.key')
const FIXTURE_PEM = readFixture('fw-sig.private.pem')
const FIXTURE_KEY_CRC = 3420020549

/** The signature and update segments of the captured response (cups-protocol.md rule 12 and 24). */
function signedUpdate(): { keyCrc: number; der: Buffer; update: Buffer } {
  const body = readFixture('response-signed-update.bin')
  const sigLen = body.readUInt32LE(6)
  const updLen = body.readUInt32LE(10 + sigLen)
  const update = body.subarray(14 + sigLen, 14 + sigLen + updLen)
  expect(update.length).toBe(73)
  return { keyCrc: body.readUInt32LE(10), der: body.subarray(14, 10 + sigLen), update }
}

/** Splits bytes into pieces of the given sizes, the rest in a last piece. */
function chunks(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const pieces: Buffer[] = []
  let at = 0
  for (const size of sizes) {
    pieces.push(bytes.subarray(at, at + size))
    at += size
  }
  pieces.push(bytes.subarray(at))
  return pieces
}

function check(signatures: readonly { stationKey: Buffer; der: Buffer }[], pieces: readonly Buffer[]): boolean[] {
  const verifier = new SignatureCheck(signatures)
  for (const piece of pieces) verifier.update(piece)
  return verifier.results()
}

const pemOf = (key: KeyObject): string => key.export({ format: 'pem', type: 'pkcs8' }).toString()
const newP256 = (): Buffer => stationKeyOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)

describe('stationKeyOf and keyCrcOf', () => {
  it('give the fixture private key the station key file byte for byte, and its CRC 3420020549', () => {
    const stationKey = stationKeyOf(signingKey(FIXTURE_PEM))
    expect(stationKey.length).toBe(64)
    expect(stationKey.equals(FIXTURE_KEY)).toBe(true)
    expect(keyCrcOf(stationKey)).toBe(FIXTURE_KEY_CRC)
    expect(keyCrcOf(FIXTURE_KEY)).toBe(FIXTURE_KEY_CRC)
  })

  it('take the public half as well as the private key (as documented: "private or public")', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    expect(stationKeyOf(publicKey).equals(stationKeyOf(privateKey))).toBe(true)
  })

  it('accept a PKCS#8 PEM as well as SEC1', () => {
    const pkcs8 = signingKey(FIXTURE_PEM).export({ format: 'pem', type: 'pkcs8' })
    expect(stationKeyOf(signingKey(pkcs8)).equals(FIXTURE_KEY)).toBe(true)
  })
})

describe('SignatureCheck', () => {
  it('verifies the fixture signature fed in several chunks, the way the station did', () => {
    const { keyCrc, der, update } = signedUpdate()
    expect(keyCrc).toBe(FIXTURE_KEY_CRC)
    expect(check([{ stationKey: FIXTURE_KEY, der }], chunks(update, [1, 7, 0, 30]))).toEqual([true])
    expect(check([{ stationKey: FIXTURE_KEY, der }], [...update].map((byte) => Buffer.from([byte])))).toEqual([true])
  })

  it('gives one verdict per signature, in order: another key or changed bytes do not verify', () => {
    const { der, update } = signedUpdate()
    const changed = Buffer.from(update)
    changed[20] = (changed[20] ?? 0) ^ 1
    expect(check([{ stationKey: newP256(), der }, { stationKey: FIXTURE_KEY, der }], chunks(update, [10]))).toEqual([false, true])
    expect(check([{ stationKey: FIXTURE_KEY, der }], [changed])).toEqual([false])
  })

  it('does not accept the raw r‖s form the station rejects, nor garbage', () => {
    const { der, update } = signedUpdate()
    const rLength = der[3] ?? 0
    const fixed = (value: Buffer): Buffer => Buffer.concat([Buffer.alloc(32), value]).subarray(-32)
    const raw = Buffer.concat([fixed(der.subarray(4, 4 + rLength)), fixed(der.subarray(4 + rLength + 2))])
    expect(check([{ stationKey: FIXTURE_KEY, der: raw }, { stationKey: FIXTURE_KEY, der: Buffer.from('30060201010201', 'hex') }], [update])).toEqual([false, false])
  })
})

describe('signUpdate', () => {
  it('makes a DER signature (SEQUENCE of two INTEGERs, at most 72 bytes) that verifies, with SignatureCheck and as openssl dgst -sha512 -verify', () => {
    const key = signingKey(FIXTURE_PEM)
    const update = Buffer.from('#!/bin/sh\necho 1.0.1 > version.txt\nrm -f /tmp/update.bin\n')
    const der = signUpdate(update, key)
    expect(der[0]).toBe(0x30)
    expect(der[1]).toBe(der.length - 2)
    expect(der[2]).toBe(0x02)
    expect(der.length).toBeLessThanOrEqual(72)
    expect(check([{ stationKey: FIXTURE_KEY, der }], chunks(update, [5, 5]))).toEqual([true])
    expect(createVerify('sha512').update(update).verify(publicKeyFromStationKey(FIXTURE_KEY), der)).toBe(true)
  })

  it('refuses a key that is not P-256', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey
    expect(() => signUpdate(Buffer.from('x'), key)).toThrow(SigningKeyError)
  })
})

describe('signingKey', () => {
  it.each([
    ['secp384r1', () => pemOf(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey)],
    ['secp256k1', () => pemOf(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey)],
    ['ed25519', () => pemOf(generateKeyPairSync('ed25519').privateKey)],
    ['RSA', () => pemOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)],
  ])('refuses a %s key with SigningKeyError (the station verifies P-256 only)', (_curve, pem) => {
    expect(() => signingKey(pem())).toThrow(SigningKeyError)
  })

  it('refuses text that is no private key, and a public key, with SigningKeyError', () => {
    expect(() => signingKey('not a key')).toThrow(SigningKeyError)
    const publicPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' })
    expect(() => signingKey(publicPem)).toThrow(SigningKeyError)
  })

  it('refuses an encrypted key with SigningKeyError', () => {
    const encrypted = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' })
    expect(() => signingKey(encrypted)).toThrow(SigningKeyError)
  })

  it('refuses a non-P-256 key in stationKeyOf too', () => {
    expect(() => stationKeyOf(generateKeyPairSync('ed25519').publicKey)).toThrow(SigningKeyError)
  })
})

describe('publicKeyFromStationKey', () => {
  it('reads the fixture key file as a P-256 public key', () => {
    const key = publicKeyFromStationKey(FIXTURE_KEY)
    expect(key.type).toBe('public')
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
    expect(key.export({ format: 'der', type: 'spki' }).subarray(-64).equals(FIXTURE_KEY)).toBe(true)
  })

  it.each([
    ['63 bytes', FIXTURE_KEY.subarray(0, 63)],
    ['65 bytes (with the 0x04 prefix)', Buffer.concat([Buffer.from([0x04]), FIXTURE_KEY])],
    ['empty', Buffer.alloc(0)],
  ])('refuses %s with SigningKeyError (the station skips key files not exactly 64 bytes)', (_case, raw) => {
    expect(() => publicKeyFromStationKey(raw)).toThrow(SigningKeyError)
  })

  it('refuses a point that is not on the curve with SigningKeyError', () => {
    const offCurve = Buffer.from(FIXTURE_KEY)
    offCurve[63] = (offCurve[63] ?? 0) ^ 1
    expect(() => publicKeyFromStationKey(offCurve)).toThrow(SigningKeyError)
    expect(() => publicKeyFromStationKey(Buffer.alloc(64))).toThrow(SigningKeyError)
  })
})
