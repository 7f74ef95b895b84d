// How a Basics Station 2.0.6 checks a firmware signature (src/cups.c cups_verifySig, mbedTLS 2.28); test use only, no src/ code.
import { createPublicKey, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { crc32 } from 'node:zlib'

/** What the station does with a received, non-empty update (cups_ondone's decision table, cups-protocol.md §5). */
export type UpdateVerdict = 'ran-verified' | 'ran-unsigned' | 'aborted-no-signature' | 'aborted-not-verified' | 'aborted-no-keys'

export interface StationVerification {
  readonly verdict: UpdateVerdict
  /** Index N of the sig-N.key that verified (only for 'ran-verified'). */
  readonly keyId?: number
  /** The station's log line for this outcome. */
  readonly log: string
}

// SPKI DER header for an uncompressed P-256 point: SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING of 66 bytes.
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex')

/** The public key in a sig-N.key file (X‖Y, 64 bytes); throws where mbedtls_ecp_check_pubkey would fail. */
export function stationPublicKey(keyFile: Buffer): KeyObject {
  if (keyFile.length !== 64) throw new Error(`a station key is 64 bytes, not ${keyFile.length}`)
  return createPublicKey({ key: Buffer.concat([P256_SPKI_PREFIX, Buffer.from([0x04]), keyFile]), format: 'der', type: 'spki' })
}

/** sig-0.key as the station's docs make it: `openssl ec -pubout -outform DER | tail -c 64`. */
export function exportStationKey(privateKeyPem: string | Buffer): Buffer {
  const spki = createPublicKey(privateKeyPem).export({ format: 'der', type: 'spki' })
  if (spki.length !== 91 || !spki.subarray(0, P256_SPKI_PREFIX.length).equals(P256_SPKI_PREFIX)) {
    throw new Error('not a P-256 key')
  }
  return Buffer.from(spki.subarray(P256_SPKI_PREFIX.length + 1))
}

/** The request's `keys`: crc32 of sig-0.key, sig-1.key, … until a missing file or a CRC of 0 (sys_crcSigkey > 0). */
export function stationKeyCrcs(keyFiles: readonly (Buffer | undefined)[]): number[] {
  const crcs: number[] = []
  for (const file of keyFiles) {
    const crc = file === undefined ? 0 : crc32(file)
    if (crc === 0) break
    crcs.push(crc)
  }
  return crcs
}

/**
 * mbedtls_ecdsa_read_signature with SHA-512 of the update: true only for SEQUENCE { INTEGER r, INTEGER s } filling der.
 * It reads DER the way mbedTLS 2.28 does (any 1-4 byte length form, integers as unsigned magnitudes), which is looser than
 * OpenSSL's strict DER check, so r and s are extracted here and handed to OpenSSL as a fixed-width r‖s.
 */
export function stationSignatureVerifies(update: Buffer, signatureDer: Buffer, key: KeyObject): boolean {
  const rs = readMbedtlsSignature(signatureDer)
  if (rs === undefined) return false
  try {
    return verify('sha512', update, { key, dsaEncoding: 'ieee-p1363' }, rs)
  } catch {
    return false
  }
}

/**
 * The station's verdict after the whole response was read. keyFiles[N] is the content of sig-N.key, undefined when
 * missing; the scan stops at the first missing file. The keyCrc of the signature segment plays no part (only logged).
 */
export function stationVerify(update: Buffer, signatureDer: Buffer | undefined, keyFiles: readonly (Buffer | undefined)[]): StationVerification {
  if (signatureDer === undefined) {
    // Only sig-0.key's presence counts here, whatever its size.
    if (keyFiles[0] !== undefined) return { verdict: 'aborted-no-signature', log: 'Keyfile present, but no signature provided. Aborting update.' }
    return { verdict: 'ran-unsigned', log: 'No Key. No Sig. UPDATE.' }
  }
  let keyId = 0
  for (; keyId < keyFiles.length; keyId++) {
    const file = keyFiles[keyId]
    if (file === undefined) break
    if (file.length !== 64) continue
    let key: KeyObject
    try {
      key = stationPublicKey(file)
    } catch {
      continue // not a point on the curve: mbedtls_ecp_check_pubkey fails, "NOT verified"
    }
    if (stationSignatureVerifies(update, signatureDer, key)) return { verdict: 'ran-verified', keyId, log: `ECDSA key#${keyId} -> VERIFIED` }
  }
  if (keyId === 0) return { verdict: 'aborted-no-keys', log: 'No key could verify signature. Tried 0 keys' }
  return { verdict: 'aborted-not-verified', log: `No key could verify signature. Tried ${keyId} keys` }
}

/** r‖s, each 32 bytes, or undefined where mbedTLS fails to parse or where r or s cannot be below the curve order. */
function readMbedtlsSignature(der: Buffer): Buffer | undefined {
  let p = 0
  // mbedtls_asn1_get_tag + mbedtls_asn1_get_len: short form or 0x81..0x84, no minimality check, must fit the buffer.
  const tag = (expected: number): number | undefined => {
    if (der[p] !== expected) return undefined
    const first = der[p + 1]
    if (first === undefined) return undefined
    p += 2
    let length = first
    if (first & 0x80) {
      const octets = first & 0x7f
      if (octets < 1 || octets > 4 || p + octets > der.length) return undefined
      length = der.readUIntBE(p, octets)
      p += octets
    }
    return length <= der.length - p ? length : undefined
  }
  const integer = (): Buffer | undefined => {
    const length = tag(0x02)
    if (length === undefined) return undefined
    const value = der.subarray(p, p + length)
    p += length
    // An unsigned magnitude: leading zeros do not count; more than 32 bytes is at least 2^256, above the order.
    let start = 0
    while (start < value.length && value[start] === 0) start++
    const magnitude = value.subarray(start)
    if (magnitude.length > 32) return undefined
    return Buffer.concat([Buffer.alloc(32 - magnitude.length), magnitude])
  }
  const sequence = tag(0x30)
  if (sequence === undefined || p + sequence !== der.length) return undefined
  const r = integer()
  const s = r === undefined ? undefined : integer()
  // Bytes after s inside the SEQUENCE: MBEDTLS_ERR_ECP_SIG_LEN_MISMATCH.
  if (r === undefined || s === undefined || p !== der.length) return undefined
  return Buffer.concat([r, s])
}
