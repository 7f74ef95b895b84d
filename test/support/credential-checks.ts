// expectStationReadyKey: the checks every minting engine's private key must pass, shared by both engines' tests.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { expect } from 'vitest'
import type { ClientCredential } from '../../src/pki/credential-minter'
import { opensslCheck } from './openssl-cli'

/** A 121-byte SEC1 key (30 77, what mbedTLS parses) whose public key is the certificate's, and OpenSSL agrees. */
export async function expectStationReadyKey(credential: ClientCredential): Promise<void> {
  expect(credential.privateKey.length).toBe(121)
  expect(credential.privateKey.subarray(0, 2).toString('hex')).toBe('3077')
  const publicKey = createPublicKey(createPrivateKey({ key: credential.privateKey, format: 'der', type: 'sec1' }))
  const certificateKey = new X509Certificate(credential.certificate).publicKey
  expect(publicKey.export({ type: 'spki', format: 'der' }).equals(certificateKey.export({ type: 'spki', format: 'der' }))).toBe(true)
  // OpenSSL reads it as a traditional EC key too, as mbedTLS does.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cups-key-check-'))
  try {
    const file = path.join(dir, 'key.der')
    await writeFile(file, credential.privateKey, { mode: 0o600 })
    const { code, output } = await opensslCheck(['ec', '-inform', 'DER', '-noout', '-check', '-in', file])
    expect(code).toBe(0)
    expect(output).toContain('EC Key valid')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
