// NodeCredentialMinter: the CredentialMinter port in-process (node:crypto keys, hand-built DER), encoded as the OpenSSL engine does.
import { createHash, createPublicKey, createPrivateKey, generateKeyPair, randomBytes, sign } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { BigIntStats } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { promisify } from 'node:util'
import { MintingError } from '../errors'
import type { CaSnapshot } from './ca-snapshot'
import { parseCertificates } from './certificates'
import { ConcurrencyLimit } from './concurrency-limit'
import { refuseEui } from './credential-minter'
import type { ClientCredential, CredentialMinter } from './credential-minter'
import {
  bitString,
  certificateTime,
  contentBytes,
  contextExplicit,
  contextImplicit,
  DerTag,
  elementBytes,
  integer,
  namedBitString,
  nullValue,
  objectIdentifier,
  octetString,
  readChildren,
  readElement,
  sequence,
  set,
  utf8String,
} from './der'
import type { DerElement } from './der'

/** The CA by path, stat'ed on every mint and re-read when a file changed. */
export interface NodeCaFiles {
  /** Our gateway CA, PEM or DER; with several PEM certificates the first is the CA, as OpenSSL's -CA reads it. */
  readonly caCertPath: string
  /** Its private key, unencrypted PEM (EC or RSA); an encrypted key fails fast. */
  readonly caKeyPath: string
}

/** The CA the server adopted, taken from memory: no file at all. */
export interface NodeCaSnapshot {
  readonly ca: Pick<CaSnapshot, 'material'>
}

export type NodeCredentialMinterOptions = (NodeCaFiles | NodeCaSnapshot) & {
  readonly validityDays: number
  /**
   * Mints at once; default 2. Key generation runs on libuv's thread pool (4 threads by default),
   * which file and S3 I/O share; two at a time keeps a burst of new gateways from starving it.
   */
  readonly maxConcurrent?: number
}

const DAY_MS = 86_400_000
/** SEC1 ECPrivateKey for P-256 with parameters and public key: SEQUENCE of 0x77 bytes, 121 in all. */
const SEC1_P256_PREFIX = Buffer.from([0x30, 0x77])

/** PKCS#8 "ENCRYPTED PRIVATE KEY" or a traditional PEM key with "Proc-Type: 4,ENCRYPTED". */
const ENCRYPTED_PEM = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/

const OID_COMMON_NAME = objectIdentifier('2.5.4.3')
const OID_SUBJECT_KEY_IDENTIFIER = objectIdentifier('2.5.29.14')

// AlgorithmIdentifier as OpenSSL writes it for `-sha256`: ECDSA takes no parameters at all
// (RFC 5758 3.2), RSA PKCS#1 v1.5 takes an explicit NULL (RFC 4055 5).
const ECDSA_WITH_SHA256 = sequence(objectIdentifier('1.2.840.10045.4.3.2'))
const SHA256_WITH_RSA = sequence(objectIdentifier('1.2.840.113549.1.1.11'), nullValue())

// The leaf extensions of the OpenSSL engine's config, in the order OpenSSL 3.0 writes them and
// none critical (critical is DEFAULT FALSE, so DER omits it). These three never change; SKI and
// AKI depend on the keys.
//   basicConstraints = CA:FALSE           -> extnValue 30 00 (cA DEFAULT FALSE is omitted too)
//   keyUsage = digitalSignature,keyEncipherment -> named bits 0 and 2: 03 02 05 a0
//   extendedKeyUsage = clientAuth         -> SEQUENCE { id-kp-clientAuth }
const STATIC_EXTENSIONS = [
  extension('2.5.29.19', sequence()),
  extension('2.5.29.15', namedBitString([0, 2])),
  extension('2.5.29.37', sequence(objectIdentifier('1.3.6.1.5.5.7.3.2'))),
] as const

const generateEcKeyPair = promisify(generateKeyPair)

/** What every leaf takes from the CA, prepared once per CA file version. */
interface IssuingCa {
  /** The CA certificate's subject Name, byte for byte: the leaf's issuer (OpenSSL copies it too). */
  readonly name: Buffer
  /** The AuthorityKeyIdentifier value (the extnValue contents). */
  readonly authorityKeyIdentifier: Buffer
  readonly signatureAlgorithm: Buffer
  readonly key: KeyObject
}

/**
 * Mints in-process: an EC P-256 key from node:crypto and a certificate encoded field for field as
 * OpenSSL 3.0's `req -x509 -CA` does with the OpenSSL engine's leaf config, signed with SHA-256 by
 * an EC or RSA CA. Every mint asks for the CA afresh: a CaSnapshot's current material, or a stat
 * per CA file; either is parsed again only when it changed, so a CA swap is picked up by the next mint.
 * Every failure, including a refused EUI, rejects with MintingError.
 */
export class NodeCredentialMinter implements CredentialMinter {
  private readonly limit: ConcurrencyLimit
  private cached: { readonly version: object | string; readonly ca: Promise<IssuingCa> } | undefined

  constructor(private readonly options: NodeCredentialMinterOptions) {
    if (!Number.isInteger(options.validityDays) || options.validityDays < 1) {
      throw new RangeError(`validityDays must be a positive integer, got ${options.validityDays}`)
    }
    this.limit = new ConcurrencyLimit(options.maxConcurrent ?? 2)
  }

  mint(eui: string, signal?: AbortSignal): Promise<ClientCredential> {
    const refused = refuseEui(eui)
    return refused ? Promise.reject(refused) : this.limit.run(() => this.mintNow(eui), signal)
  }

  private async mintNow(eui: string): Promise<ClientCredential> {
    try {
      const [ca, key] = await Promise.all([
        this.issuingCa(),
        generateEcKeyPair('ec', {
          namedCurve: 'prime256v1',
          publicKeyEncoding: { type: 'spki', format: 'der' },
          privateKeyEncoding: { type: 'sec1', format: 'der' },
        }),
      ])
      if (key.privateKey.length !== 121 || !key.privateKey.subarray(0, 2).equals(SEC1_P256_PREFIX)) {
        // Only the length goes into the message: these bytes are a private key.
        throw new MintingError(`generated key is not a 121-byte SEC1 P-256 key (got ${key.privateKey.length} bytes)`)
      }
      const serial = randomSerial()
      // OpenSSL sets notBefore to the current second and notAfter `-days` whole days later.
      const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000)
      const notAfter = new Date(notBefore.getTime() + this.options.validityDays * DAY_MS)
      const tbs = leafTbs(ca, { eui, publicKey: key.publicKey, serial, notBefore, notAfter })
      const signature = await signAsync(tbs, ca.key)
      const certificate = sequence(tbs, ca.signatureAlgorithm, bitString(signature))
      return { certificate, privateKey: key.privateKey, serial: serialHex(serial), notAfter }
    } catch (err) {
      if (err instanceof MintingError) throw err
      // fs and parse failures; their messages carry paths at most, never key bytes.
      throw new MintingError(`minting failed: ${(err as Error).message}`)
    }
  }

  /**
   * The CA as adopted now. From a snapshot, the material object is the version (write() makes a new
   * one). From files, a stat of both decides whether the cached parse is still that version: a rename
   * changes the inode, an edit in place size or mtime. Reading after the stat means the cache never
   * holds older contents than the version it is filed under.
   */
  private async issuingCa(): Promise<IssuingCa> {
    if ('ca' in this.options) {
      const material = this.options.ca.material()
      return this.parsed(material, () => Promise.resolve(loadIssuingCa(material.certificate, material.keyPem, '(adopted CA)', '(adopted CA)')))
    }
    const { caCertPath, caKeyPath } = this.options
    const [certStat, keyStat] = await Promise.all([regularFile(caCertPath), regularFile(caKeyPath)])
    return this.parsed(`${fileVersion(certStat)}|${fileVersion(keyStat)}`, () =>
      Promise.all([readFile(caCertPath), readFile(caKeyPath)]).then(([cert, key]) => loadIssuingCa(cert, key, caCertPath, caKeyPath)),
    )
  }

  private parsed(version: object | string, load: () => Promise<IssuingCa>): Promise<IssuingCa> {
    if (this.cached?.version !== version) {
      const entry = { version, ca: load() }
      this.cached = entry
      // A failed load is not cached: the next mint tries again (the files may be mid-swap).
      entry.ca.catch(() => {
        if (this.cached === entry) this.cached = undefined
      })
    }
    return this.cached.ca
  }
}

/** What a leaf's TBSCertificate takes from its CA. */
export type LeafIssuer = Pick<IssuingCa, 'name' | 'authorityKeyIdentifier' | 'signatureAlgorithm'>

/** What it takes from the leaf: the gateway, its key (SPKI DER), serial and validity. */
export interface LeafFields {
  readonly eui: string
  readonly publicKey: Buffer
  readonly serial: Buffer
  readonly notBefore: Date
  readonly notAfter: Date
}

/** The TBSCertificate, field for field as OpenSSL 3.0's `req -x509 -CA` writes it with the OpenSSL engine's leaf config. */
export function leafTbs(ca: LeafIssuer, leaf: LeafFields): Buffer {
  return sequence(
    // version [0] EXPLICIT INTEGER: 2 means v3, which extensions require.
    contextExplicit(0, integer(2)),
    integer(leaf.serial),
    ca.signatureAlgorithm,
    ca.name,
    sequence(certificateTime(leaf.notBefore), certificateTime(leaf.notAfter)),
    // -subj /CN=<eui>: one RDN with one attribute, a UTF8String under OpenSSL 3's default string mask.
    sequence(set(sequence(OID_COMMON_NAME, utf8String(leaf.eui)))),
    leaf.publicKey,
    contextExplicit(
      3,
      sequence(
        ...STATIC_EXTENSIONS,
        extension('2.5.29.14', octetString(keyIdentifier(leaf.publicKey))),
        extension('2.5.29.35', ca.authorityKeyIdentifier),
      ),
    ),
  )
}

/** Refuses anything but a regular file before reading it: a FIFO would block a pool thread forever. */
async function regularFile(file: string): Promise<BigIntStats> {
  const stats = await stat(file, { bigint: true })
  if (!stats.isFile()) throw new MintingError(`minting failed: ${file} is not a regular file`)
  return stats
}

function fileVersion(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`
}

function loadIssuingCa(certContent: Buffer, keyContent: Buffer, certPath: string, keyPath: string): IssuingCa {
  const [certificate] = parseCertificates(certContent, certPath)
  if (certificate === undefined) throw new MintingError(`minting failed: ${certPath} holds no certificate`)
  // Node would report "interrupted or cancelled" (no passphrase to ask for); say what is wrong instead.
  if (ENCRYPTED_PEM.test(keyContent.toString('latin1'))) {
    throw new MintingError(`minting failed: the CA key ${keyPath} is encrypted; an unencrypted PEM key is required`)
  }
  let key: KeyObject
  try {
    key = createPrivateKey({ key: keyContent, format: 'pem' })
  } catch (err) {
    // Node's message ("error:...:DECODER routines::unsupported", "Passphrase required ...") holds no key bytes.
    throw new MintingError(`minting failed: cannot read the CA key ${keyPath}: ${(err as Error).message}`)
  }
  const signatureAlgorithm = signatureAlgorithmFor(key)
  // OpenSSL's req refuses the pair too ("Issuer CA certificate and key do not match"); a leaf signed
  // by the wrong key would verify nowhere.
  const caPublicKey = certificate.publicKey.export({ type: 'spki', format: 'der' })
  if (!createPublicKey(key).export({ type: 'spki', format: 'der' }).equals(caPublicKey)) {
    throw new MintingError(`minting failed: the CA certificate ${certPath} and key ${keyPath} do not match`)
  }
  const fields = caFields(certificate.raw)
  return { name: fields.subject, authorityKeyIdentifier: authorityKeyIdentifier(fields), signatureAlgorithm, key }
}

function signatureAlgorithmFor(key: KeyObject): Buffer {
  if (key.asymmetricKeyType === 'ec') return ECDSA_WITH_SHA256
  if (key.asymmetricKeyType === 'rsa') return SHA256_WITH_RSA
  throw new MintingError(
    `minting failed: the CA key is ${key.asymmetricKeyType ?? 'of an unknown type'}; this engine signs with EC or RSA (PKCS#1 v1.5) CA keys only`,
  )
}

interface CaFields {
  /** The subject Name, complete encoding. */
  readonly subject: Buffer
  /** The issuer Name, complete encoding (the subject again when the CA is self-signed). */
  readonly issuer: Buffer
  /** The serialNumber INTEGER, complete encoding. */
  readonly serialNumber: Buffer
  /** The keyIdentifier inside the SubjectKeyIdentifier extension, if the CA has one. */
  readonly subjectKeyIdentifier: Buffer | undefined
}

/**
 * The parts of the CA certificate the leaf refers to. TBSCertificate (RFC 5280 4.1) is
 * [0] version OPTIONAL, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo,
 * [1] issuerUniqueID OPTIONAL, [2] subjectUniqueID OPTIONAL, [3] extensions OPTIONAL.
 */
function caFields(der: Buffer): CaFields {
  const tbsElement = readChildren(der, readElement(der))[0]
  if (tbsElement?.tag !== DerTag.SEQUENCE) throw new Error('CA certificate has no TBSCertificate')
  const fields = readChildren(der, tbsElement)
  const first = fields[0]?.tag === 0xa0 ? 1 : 0
  const serialNumber = fields[first]
  const issuer = fields[first + 2]
  const subject = fields[first + 4]
  if (serialNumber?.tag !== DerTag.INTEGER || issuer?.tag !== DerTag.SEQUENCE || subject?.tag !== DerTag.SEQUENCE) {
    throw new Error('CA certificate has a malformed TBSCertificate')
  }
  const extensions = fields.slice(first + 6).find((field) => field.tag === 0xa3)
  return {
    subject: elementBytes(der, subject),
    issuer: elementBytes(der, issuer),
    serialNumber: elementBytes(der, serialNumber),
    subjectKeyIdentifier: extensions === undefined ? undefined : findSubjectKeyIdentifier(der, extensions),
  }
}

function findSubjectKeyIdentifier(der: Buffer, extensionsTag: DerElement): Buffer | undefined {
  const [list] = readChildren(der, extensionsTag)
  if (list?.tag !== DerTag.SEQUENCE) throw new Error('CA certificate has malformed extensions')
  for (const ext of readChildren(der, list)) {
    // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
    const parts = readChildren(der, ext)
    const id = parts[0]
    const value = parts[parts.length - 1]
    if (id === undefined || value?.tag !== DerTag.OCTET_STRING || !elementBytes(der, id).equals(OID_SUBJECT_KEY_IDENTIFIER)) continue
    // extnValue wraps the DER of SubjectKeyIdentifier ::= KeyIdentifier (an OCTET STRING).
    const keyId = readElement(der, value.contentStart, value.end)
    if (keyId.tag !== DerTag.OCTET_STRING || keyId.end !== value.end) throw new Error('CA certificate has a malformed subject key identifier')
    return Buffer.from(contentBytes(der, keyId))
  }
  return undefined
}

/**
 * AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0], authorityCertIssuer [1] GeneralNames,
 * authorityCertSerialNumber [2] } as OpenSSL 3.0 fills it for `keyid,issuer`: the CA's SKI alone
 * when it has one; otherwise, and only then, the issuer name and serial number of the CA's own
 * certificate (RFC 5280 4.2.1.1), as OpenSSL copies them. Both cases are checked against
 * OpenSSL's output in the equivalence test.
 */
function authorityKeyIdentifier(ca: CaFields): Buffer {
  if (ca.subjectKeyIdentifier !== undefined) return sequence(contextImplicit(0, octetString(ca.subjectKeyIdentifier)))
  // GeneralName directoryName is [4] EXPLICIT (Name is a CHOICE, which cannot be tagged implicitly).
  return sequence(contextImplicit(1, sequence(contextExplicit(4, ca.issuer))), contextImplicit(2, ca.serialNumber))
}

/** An Extension with critical omitted (DEFAULT FALSE), as none of the leaf's are critical. */
function extension(oid: string, value: Buffer): Buffer {
  return sequence(objectIdentifier(oid), octetString(value))
}

/**
 * subjectKeyIdentifier = hash: SHA-1 of the subjectPublicKey BIT STRING's contents without its
 * unused-bits byte (RFC 5280 4.2.1.2 method 1), i.e. of the 65-byte uncompressed point.
 */
export function keyIdentifier(spki: Buffer): Buffer {
  const [, subjectPublicKey] = readChildren(spki, readElement(spki))
  if (subjectPublicKey?.tag !== DerTag.BIT_STRING) throw new Error('generated public key has no BIT STRING')
  return createHash('sha1').update(spki.subarray(subjectPublicKey.contentStart + 1, subjectPublicKey.end)).digest()
}

/** RFC 5280: a positive serial of at most 20 octets; 16 random bytes with the top bit clear, as the OpenSSL engine. */
export function randomSerial(): Buffer {
  for (;;) {
    const serial = randomBytes(16)
    serial[0] = (serial[0] ?? 0) & 0x7f
    // Zero is not positive; at 2^-127 this never loops in practice.
    if (serial.some((byte) => byte !== 0)) return serial
  }
}

/** What X509Certificate.serialNumber (OpenSSL BN_bn2hex) prints: whole bytes, no leading zero bytes, e.g. "0ABC". */
function serialHex(serial: Buffer): string {
  let start = 0
  while (start < serial.length - 1 && serial[start] === 0) start++
  return serial.subarray(start).toString('hex').toUpperCase()
}

/** crypto.sign on the thread pool: an RSA-2048 signature takes about a millisecond of CPU. */
export function signAsync(data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    sign('sha256', data, key, (err, signature) => {
      if (err) reject(err)
      else resolve(signature)
    })
  })
}
