// OpensslCredentialMinter: the CredentialMinter port on the OpenSSL CLI, one `req -x509 -CA` process per credential.
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { MintingError } from '../errors'
import { certificateNotAfter } from './certificate-expiry'
import { ConcurrencyLimit } from './concurrency-limit'
import { refuseEui } from './credential-minter'
import type { ClientCredential, CredentialMinter } from './credential-minter'
import type { CaFileLease, CaSnapshot } from './ca-snapshot'
import { runOpenssl } from './run-openssl'

/** The CA by path, read by every OpenSSL process. */
export interface OpensslCaFiles {
  /** Our gateway CA, PEM or DER (e.g. Config.tls.caCertFile, certs/ca.crt). */
  readonly caCertPath: string
  /** Its private key, unencrypted PEM (e.g. Config.tls.caKeyFile, certs/ca.key); an encrypted key fails fast. */
  readonly caKeyPath: string
}

/** The CA the server adopted: every process gets it as inherited descriptors, so no copy of the key has a name. */
export interface OpensslCaSnapshot {
  readonly ca: Pick<CaSnapshot, 'lease'>
}

export type OpensslCredentialMinterOptions = (OpensslCaFiles | OpensslCaSnapshot) & {
  readonly validityDays: number
  /** Per OpenSSL process; default 10000. */
  readonly timeoutMs?: number
  /** OpenSSL processes at once; default 2 (measured here: two cores, ~95 mints/s). */
  readonly maxConcurrent?: number
  /** Where the per-mint private directories go; default os.tmpdir(). */
  readonly tmpRoot?: string
  /** Replaces runOpenssl, for tests that count or delay processes. */
  readonly runOpenssl?: typeof runOpenssl
}

/** The temp-dir prefix, so leftovers (there should be none) are recognisable. */
export const MINT_DIR_PREFIX = 'cups-mint-'

/** SEC1 ECPrivateKey for P-256 with parameters and public key: SEQUENCE of 0x77 bytes, 121 in all. */
const SEC1_P256_PREFIX = Buffer.from([0x30, 0x77])

// Without x509_extensions, `req -x509` makes CA-style extensions (CA:TRUE); naming the leaf section
// is what makes the result a client certificate (ecosystem-notes.md §2). prompt=no plus an empty dn
// section: the subject comes from -subj only.
const LEAF_CONFIG = `[req]
distinguished_name = dn
x509_extensions = leaf
prompt = no
[dn]
[leaf]
basicConstraints = CA:FALSE
keyUsage = digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
`

/**
 * Mints with one OpenSSL process per credential in a private temp dir, at most maxConcurrent at
 * once (FIFO). Every call is a new identity: a gateway's CUPS and TC credentials must not share a key,
 * so "one mint per gateway at a time" is the caller's (CredentialService). Every failure, including a
 * refused EUI, rejects with MintingError.
 */
export class OpensslCredentialMinter implements CredentialMinter {
  private readonly limit: ConcurrencyLimit
  private readonly timeoutMs: number
  private readonly tmpRoot: string
  private readonly run: typeof runOpenssl

  constructor(private readonly options: OpensslCredentialMinterOptions) {
    if (!Number.isInteger(options.validityDays) || options.validityDays < 1) {
      throw new RangeError(`validityDays must be a positive integer, got ${options.validityDays}`)
    }
    this.limit = new ConcurrencyLimit(options.maxConcurrent ?? 2)
    this.timeoutMs = options.timeoutMs ?? 10_000
    this.tmpRoot = options.tmpRoot ?? os.tmpdir()
    this.run = options.runOpenssl ?? runOpenssl
  }

  mint(eui: string, signal?: AbortSignal): Promise<ClientCredential> {
    const refused = refuseEui(eui)
    return refused ? Promise.reject(refused) : this.limit.run(() => this.mintNow(eui), signal)
  }

  private async mintNow(eui: string): Promise<ClientCredential> {
    try {
      return await this.mintInTempDir(eui)
    } catch (err) {
      if (err instanceof MintingError) throw err
      // fs, cleanup or parse failures; their messages carry paths at most, never key bytes.
      throw new MintingError(`minting failed: ${(err as Error).message}`)
    }
  }

  private async mintInTempDir(eui: string): Promise<ClientCredential> {
    // mkdtemp creates the directory 0700, so no other user can read the config or the output.
    const dir = await mkdtemp(path.join(this.tmpRoot, MINT_DIR_PREFIX))
    try {
      await writeFile(path.join(dir, 'leaf.cnf'), LEAF_CONFIG, { mode: 0o600 })
      // Taken last and held until the child has exited: a CA swap meanwhile leaves these descriptors open.
      const ca = this.caFiles()
      let keyPem: Buffer
      try {
        keyPem = (await this.run(this.mintArgs(eui, ca), { cwd: dir, timeoutMs: this.timeoutMs, fds: ca.fds })).stdout
      } finally {
        ca.release()
      }
      const certificate = await readFile(path.join(dir, 'crt.der'))
      return { certificate, privateKey: toSec1Der(keyPem), ...describe(certificate) }
    } finally {
      // Runs after the child has exited (runOpenssl settles on close), also after a timeout kill.
      await rm(dir, { recursive: true, force: true })
    }
  }

  private caFiles(): CaFileLease {
    if ('ca' in this.options) return this.options.ca.lease()
    return { certPath: this.options.caCertPath, keyPath: this.options.caKeyPath, fds: [], release: () => undefined }
  }

  private mintArgs(eui: string, ca: CaFileLease): string[] {
    // RFC 5280: a positive serial of at most 20 octets; 16 random bytes with the top bit clear.
    const serial = randomBytes(16)
    serial[0] = (serial[0] ?? 0) & 0x7f
    // The key goes to stdout ("-keyout -"), so it is never written to disk, even in the temp dir.
    return [
      'req', '-x509', '-new',
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc', '-keyout', '-',
      '-config', 'leaf.cnf',
      '-subj', `/CN=${eui}`,
      '-CA', ca.certPath, '-CAkey', ca.keyPath,
      // An encrypted CA key must fail now, not prompt on a terminal until the timeout.
      '-passin', 'pass:',
      '-set_serial', `0x${serial.toString('hex')}`,
      '-days', String(this.options.validityDays),
      '-sha256',
      '-outform', 'DER', '-out', 'crt.der',
    ]
  }
}

/** OpenSSL 3 writes PKCS#8; the station's mbedTLS blob parser needs SEC1 (cups-protocol.md §4). */
function toSec1Der(keyPem: Buffer): Buffer {
  const der = createPrivateKey({ key: keyPem, format: 'pem' }).export({ type: 'sec1', format: 'der' })
  if (der.length !== 121 || !der.subarray(0, 2).equals(SEC1_P256_PREFIX)) {
    // Only the length goes into the message: these bytes are a private key.
    throw new MintingError(`minted key is not a 121-byte SEC1 P-256 key (got ${der.length} bytes)`)
  }
  return der
}

function describe(certificate: Buffer): Pick<ClientCredential, 'serial' | 'notAfter'> {
  return { serial: new X509Certificate(certificate).serialNumber.toUpperCase(), notAfter: certificateNotAfter(certificate) }
}
