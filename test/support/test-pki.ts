// createTestPki: a throwaway development CA in a temp dir, with a real OpenSSL minter and the CUPS trust it implies.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { ensureDevPki } from '../../src/pki/dev-pki'
import { OpensslCredentialMinter } from '../../src/pki/openssl-credential-minter'
import { parseTrustCertificate } from '../../src/pki/certificates'

export interface TestPki {
  readonly dir: string
  readonly minter: OpensslCredentialMinter
  /** DER of the CA certificate: the trust every bundle carries. */
  readonly trust: Buffer
  remove(): Promise<void>
}

export async function createTestPki(prefix = 'cups-pki-'): Promise<TestPki> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix))
  await ensureDevPki(dir, { log: () => undefined })
  return {
    dir,
    minter: new OpensslCredentialMinter({ caCertPath: path.join(dir, 'ca.crt'), caKeyPath: path.join(dir, 'ca.key'), validityDays: 365 }),
    trust: parseTrustCertificate(await readFile(path.join(dir, 'ca.crt')), 'ca.crt'),
    remove: () => rm(dir, { recursive: true, force: true }),
  }
}
