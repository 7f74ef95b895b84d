// Firmware signing keys as the station uses them: P-256, ECDSA over SHA-512, DER signatures, sig-N.key = raw X‖Y.
import { createPrivateKey, createPublicKey, createVerify, sign } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { crc32 } from '../cups/crc32'

/** The station's sig-N.key: the public point without the SEC1 0x04 prefix (cups-protocol.md §5). */
export const STATION_KEY_BYTES = 64

// SubjectPublicKeyInfo for id-ecPublicKey / prime256v1, up to the BIT STRING holding 0x04 ‖ X ‖ Y.
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex')

export class SigningKeyError extends Error {
  readonly code = 'BAD_SIGNING_KEY'
}

/** A private key PEM (SEC1 or PKCS#8, unencrypted) that must be P-256, as the station verifies nothing else. */
export function signingKey(pem: Buffer | string): KeyObject {
  let key: KeyObject
  try {
    key = createPrivateKey(pem)
  } catch (err) {
    throw new SigningKeyError(`not an unencrypted private key in PEM: ${(err as Error).message}`)
  }
  assertP256(key)
  return key
}

/** The 64 bytes the station keeps as sig-N.key for this key (private or public). */
export function stationKeyOf(key: KeyObject): Buffer {
  assertP256(key)
  // createPublicKey refuses a key that is public already.
  const spki = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'der', type: 'spki' })
  const point = spki.subarray(P256_SPKI_PREFIX.length)
  if (!spki.subarray(0, P256_SPKI_PREFIX.length).equals(P256_SPKI_PREFIX) || point.length !== 1 + STATION_KEY_BYTES || point[0] !== 0x04) {
    throw new SigningKeyError('unexpected public key encoding for P-256')
  }
  return Buffer.from(point.subarray(1))
}

/** A verifying key from a station key file's 64 bytes; refuses anything the station would skip. */
export function publicKeyFromStationKey(raw: Buffer): KeyObject {
  if (raw.length !== STATION_KEY_BYTES) throw new SigningKeyError(`a station key is ${String(STATION_KEY_BYTES)} bytes (X‖Y), this is ${String(raw.length)}`)
  try {
    return createPublicKey({ key: Buffer.concat([P256_SPKI_PREFIX, Buffer.from([0x04]), raw]), format: 'der', type: 'spki' })
  } catch (err) {
    throw new SigningKeyError(`not a point on P-256: ${(err as Error).message}`)
  }
}

/** What the station reports in `keys` for this key: crc32 of its sig-N.key file. */
export function keyCrcOf(stationKey: Buffer): number {
  return crc32(stationKey)
}

/** ECDSA P-256 over SHA-512 of the whole update, DER: exactly `openssl dgst -sha512 -sign key.pem`. */
export function signUpdate(update: Buffer, key: KeyObject): Buffer {
  assertP256(key)
  return sign('sha512', update, { key, dsaEncoding: 'der' })
}

/** Checks signatures the way the station does, fed chunk by chunk (an update need not be in memory at once). */
export class SignatureCheck {
  private readonly verifiers: { verify: ReturnType<typeof createVerify>; key: KeyObject; der: Buffer }[]

  constructor(signatures: readonly { readonly stationKey: Buffer; readonly der: Buffer }[]) {
    this.verifiers = signatures.map(({ stationKey, der }) => ({ verify: createVerify('sha512'), key: publicKeyFromStationKey(stationKey), der }))
  }

  update(chunk: Buffer): void {
    for (const { verify } of this.verifiers) verify.update(chunk)
  }

  /** One verdict per signature, in the order given. */
  results(): boolean[] {
    return this.verifiers.map(({ verify, key, der }) => {
      try {
        return verify.verify({ key, dsaEncoding: 'der' }, der)
      } catch {
        return false
      }
    })
  }
}

function assertP256(key: KeyObject): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new SigningKeyError(`the station verifies P-256 (prime256v1) keys only; this is ${key.asymmetricKeyType ?? 'unknown'} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim())
  }
}
