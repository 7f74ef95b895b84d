// Owns the comparison of @peculiar/x509 with our hand-written DER writer for in-process minting: rates per CPU-second and certificate equivalence.
// The polyfill must load before the library: tsyringe, which it uses, throws on import without Reflect metadata.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { execFile } from 'node:child_process'
import { createPrivateKey, createPublicKey, generateKeyPair, KeyObject, webcrypto, X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { promisify } from 'node:util'
import { parseCertificates } from '../src/pki/certificates'
import type { ClientCredential } from '../src/pki/credential-minter'
import { bitString, DerTag, elementBytes, objectIdentifier, readChildren, readElement, sequence } from '../src/pki/der'
import type { DerElement } from '../src/pki/der'
import { leafTbs, NodeCredentialMinter, randomSerial, signAsync } from '../src/pki/node-credential-minter'
import type { LeafIssuer } from '../src/pki/node-credential-minter'

export interface Rate {
  readonly count: number
  readonly cpuSeconds: number
  readonly wallSeconds: number
  /** Credentials (or certificates) per CPU-second of the whole process: main thread, libuv pool and GC threads. */
  readonly perCpuSecond: number
  readonly perWallSecond: number
  /** perCpuSecond of each block, to show the spread within the run. */
  readonly blockPerCpuSecond: readonly number[]
}

export interface Side {
  /** Key generation, certificate, SEC1 key: a whole credential. */
  readonly fullMint: Rate
  /** Certificate only (TBS build + sign, keys generated beforehand). */
  readonly buildAndSign: Rate
  readonly certificateBytes: number
  readonly privateKeyBytes: number
}

export interface X509LibraryComparison {
  readonly library: { readonly name: '@peculiar/x509'; readonly version: string }
  readonly caKeyType: string
  readonly ours: Side
  readonly peculiar: Side
  /** Library rate / our rate, per CPU-second: below 1 the library is slower. */
  readonly ratio: { readonly fullMint: number; readonly buildAndSign: number }
  /** The 2x question: the library's full-mint rate is at least half of ours. */
  readonly libraryWithin2xOnFullMint: boolean
  readonly equivalence: Equivalence
  readonly method: string
}

export interface Equivalence {
  readonly ours: CertificateFacts
  readonly peculiar: CertificateFacts
  /** Field by field, what differs between the two (key-specific values such as the SKI compared by form only). */
  readonly differences: readonly string[]
  /** Our build+sign replica against the engine's own output: must be empty, or the build+sign figure is not ours. */
  readonly replicaDifferences: readonly string[]
  /** `openssl x509 -noout -text` lines only one side prints (dates, serial, keys and signature values left out). */
  readonly opensslOnlyOurs: readonly string[]
  readonly opensslOnlyPeculiar: readonly string[]
  /** Both writers fed one key, serial and validity: are the TBSCertificates (all but the signature) the same bytes? */
  readonly sameInputsTbs: { readonly identical: boolean; readonly firstDifferenceAt: number | undefined; readonly bytes: readonly [number, number] }
}

export interface CertificateFacts {
  readonly bytes: number
  readonly subject: string
  readonly issuer: string
  /** The CN's ASN.1 string type, by tag: UTF8String is what OpenSSL 3 and our engine write. */
  readonly commonNameType: string
  readonly issuerIsCaSubjectBytes: boolean
  readonly serialContentBytes: number
  readonly validityTypes: readonly string[]
  readonly validityDays: number
  readonly signatureAlgorithmHex: string
  readonly extensions: readonly ExtensionFacts[]
  readonly verifiesWithCaKey: boolean
  readonly checkIssued: boolean
  readonly privateKeyBytes: number
  /** The private key's public half is the certificate's key. */
  readonly keyMatchesCertificate: boolean
}

export interface ExtensionFacts {
  readonly name: string
  /** undefined: the critical BOOLEAN is absent (DEFAULT FALSE, as DER requires for false). */
  readonly critical: boolean | undefined
  readonly valueHex: string
}

const VALIDITY_DAYS = 365
const DAY_MS = 86_400_000
/** Blocks per side, alternating ours/library (A B B A ...), so machine noise weighs on both alike. */
const BLOCKS = 6
const WARMUP = 20
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const

const EXTENSION_NAMES = new Map(
  Object.entries({
    '2.5.29.19': 'basicConstraints',
    '2.5.29.15': 'keyUsage',
    '2.5.29.37': 'extKeyUsage',
    '2.5.29.14': 'subjectKeyIdentifier',
    '2.5.29.35': 'authorityKeyIdentifier',
  }).map(([oid, name]) => [objectIdentifier(oid).toString('hex'), name]),
)
const STRING_TYPES = new Map([
  [0x0c, 'UTF8String'],
  [0x13, 'PrintableString'],
  [0x16, 'IA5String'],
  [0x1e, 'BMPString'],
])
/** Per-key values: compared by length, never by bytes. */
const KEY_SPECIFIC = new Set(['subjectKeyIdentifier'])

const generateEcKeyPair = promisify(generateKeyPair)

/** The CA as each side needs it, read once. */
interface Ca {
  readonly certificate: X509Certificate
  readonly keyType: string
  readonly cryptoKey: webcrypto.CryptoKey
  readonly keyObject: KeyObject
  readonly libraryCertificate: x509.X509Certificate
  /** AuthorityKeyIdentifier the library way, once per CA as our engine prepares its own. */
  readonly authorityKeyIdentifier: x509.AuthorityKeyIdentifierExtension
  /** basicConstraints, keyUsage, extKeyUsage, built once: our engine keeps them as constants too. */
  readonly staticExtensions: readonly x509.Extension[]
  readonly signingAlgorithm: { readonly name: string; readonly hash: string }
}

/** What the engine's leafTbs takes from the CA, read back from a certificate the engine minted, byte for byte. */
type EngineTemplate = LeafIssuer

interface OurKeys {
  readonly publicKey: Buffer
  readonly privateKey: Buffer
}

/**
 * Our NodeCredentialMinter (maxConcurrent 1) against @peculiar/x509 minting the same credential, `count` each, one mint at a
 * time, in alternating blocks; then the certificate build alone (keys generated beforehand) the same way; then one
 * certificate of each checked field by field, by node:crypto and by `openssl x509 -text`.
 */
export async function compareX509Library(certPath: string, count = 500): Promise<X509LibraryComparison> {
  x509.cryptoProvider.set(webcrypto)
  const ca = await loadCa(certPath)
  const minter = new NodeCredentialMinter({ caCertPath: path.join(certPath, 'ca.crt'), caKeyPath: path.join(certPath, 'ca.key'), validityDays: VALIDITY_DAYS, maxConcurrent: 1 })
  const oursSample = await minter.mint(eui(0))
  const template = engineTemplate(oursSample.certificate)
  const peculiarSample = await libraryMint(ca, eui(0))
  const replicaSample = await ourCertificate(template, eui(0), await ourKeys(), ca.keyObject)
  const sameInputs = await sameInputsTbs(ca, template)

  await warmUp(minter, ca, template)
  const perBlock = Math.max(1, Math.ceil(count / BLOCKS))
  const [oursFull, peculiarFull] = await alternate(perBlock, (i) => minter.mint(eui(i)), (i) => libraryMint(ca, eui(i)))
  const [oursBuild, peculiarBuild] = await alternatePrepared(
    perBlock,
    { prepare: ourKeys, run: (keys, i) => ourCertificate(template, eui(i), keys, ca.keyObject) },
    { prepare: libraryKeys, run: (keys, i) => libraryCertificate(ca, eui(i), keys.publicKey) },
  )
  const equivalence = { ...(await checkEquivalence(ca, oursSample, peculiarSample, replicaSample)), sameInputsTbs: sameInputs }
  return {
    library: { name: '@peculiar/x509', version: await libraryVersion() },
    caKeyType: ca.keyType,
    ours: side(oursFull, oursBuild, oursSample),
    peculiar: side(peculiarFull, peculiarBuild, peculiarSample),
    ratio: { fullMint: peculiarFull.perCpuSecond / oursFull.perCpuSecond, buildAndSign: peculiarBuild.perCpuSecond / oursBuild.perCpuSecond },
    libraryWithin2xOnFullMint: peculiarFull.perCpuSecond * 2 >= oursFull.perCpuSecond,
    equivalence,
    method:
      `${BLOCKS} alternating blocks of ${perBlock} per side after ${WARMUP} warm-up mints; one mint awaited at a time; ` +
      "CPU = process.cpuUsage() user+system of the whole process. Ours build+sign is the engine's leafTbs and signature, with issuer, " +
      "algorithm and authority key id read back from the engine's own certificate; " +
      "ours full mint also stats both CA files per mint, as the engine does. Library key: webcrypto generateKey, SEC1 export via KeyObject.from.",
  }
}

function side(fullMint: Rate, buildAndSign: Rate, sample: ClientCredential): Side {
  return { fullMint, buildAndSign, certificateBytes: sample.certificate.length, privateKeyBytes: sample.privateKey.length }
}

async function loadCa(certPath: string): Promise<Ca> {
  const [certificate] = parseCertificates(await readFile(path.join(certPath, 'ca.crt')), 'ca.crt')
  if (certificate === undefined) throw new Error(`${certPath}/ca.crt holds no certificate`)
  const keyObject = createPrivateKey(await readFile(path.join(certPath, 'ca.key')))
  const { importAlgorithm, signingAlgorithm } = webcryptoAlgorithms(keyObject)
  const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' })
  const cryptoKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, importAlgorithm, false, ['sign'])
  const libraryCertificate = new x509.X509Certificate(certificate.raw)
  const authorityKeyIdentifier = await x509.AuthorityKeyIdentifierExtension.create(libraryCertificate.publicKey)
  const staticExtensions = [
    new x509.BasicConstraintsExtension(false),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
  ]
  return { certificate, keyType: keyObject.asymmetricKeyType ?? 'unknown', cryptoKey, keyObject, libraryCertificate, authorityKeyIdentifier, staticExtensions, signingAlgorithm }
}

/** The CA key's webcrypto import parameters and the SHA-256 signature both engines use (ECDSA, or RSA PKCS#1 v1.5). */
function webcryptoAlgorithms(key: KeyObject): { importAlgorithm: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams; signingAlgorithm: { name: string; hash: string } } {
  if (key.asymmetricKeyType === 'rsa') {
    return { importAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } }
  }
  const curves: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }
  const namedCurve = curves[key.asymmetricKeyDetails?.namedCurve ?? '']
  if (key.asymmetricKeyType !== 'ec' || namedCurve === undefined) throw new Error(`unsupported CA key ${key.asymmetricKeyType ?? '?'}`)
  return { importAlgorithm: { name: 'ECDSA', namedCurve }, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } }
}

// ---------------------------------------------------------------------------------------------
// The two ways of minting

async function libraryKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify'])
}

async function libraryMint(ca: Ca, euiText: string): Promise<ClientCredential> {
  const keys = await libraryKeys()
  const { certificate, serial, notAfter } = await libraryCertificate(ca, euiText, keys.publicKey)
  // webcrypto exports PKCS#8 only; the station needs SEC1 (30 77 ...), which node:crypto writes.
  const privateKey = KeyObject.from(keys.privateKey).export({ type: 'sec1', format: 'der' })
  return { certificate, privateKey, serial, notAfter }
}

/** publicKey as a CryptoKey (a minted key) or SPKI bytes (the same-inputs check). */
async function libraryCertificate(ca: Ca, euiText: string, publicKey: webcrypto.CryptoKey | Buffer, inputs = freshInputs()): Promise<{ certificate: Buffer; serial: string; notAfter: Date }> {
  const { serial, notBefore, notAfter } = inputs
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString('hex'),
    // An explicit UTF8String: as OpenSSL 3 and our engine; the library's string form would pick PrintableString.
    subject: new x509.Name([{ CN: [{ utf8String: euiText }] }]),
    issuer: ca.libraryCertificate.subjectName,
    notBefore,
    notAfter,
    publicKey,
    signingKey: ca.cryptoKey,
    signingAlgorithm: ca.signingAlgorithm,
    extensions: [...ca.staticExtensions, await x509.SubjectKeyIdentifierExtension.create(publicKey), ca.authorityKeyIdentifier],
  })
  return { certificate: Buffer.from(certificate.rawData), serial: certificate.serialNumber.toUpperCase(), notAfter }
}

async function ourKeys(): Promise<OurKeys> {
  return generateEcKeyPair('ec', {
    namedCurve: 'prime256v1',
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'sec1', format: 'der' },
  })
}

/** NodeCredentialMinter.mintNow after key generation: the engine's own leafTbs, signed the same way. */
async function ourCertificate(template: EngineTemplate, euiText: string, keys: OurKeys, caKey: KeyObject, inputs = freshInputs()): Promise<ClientCredential> {
  const { serial, notBefore, notAfter } = inputs
  const tbs = leafTbs(template, { eui: euiText, publicKey: keys.publicKey, serial, notBefore, notAfter })
  const signature = await signAsync(tbs, caKey)
  const certificate = sequence(tbs, template.signatureAlgorithm, bitString(signature))
  return { certificate, privateKey: keys.privateKey, serial: serial.toString('hex').toUpperCase(), notAfter }
}

function engineTemplate(certificate: Buffer): EngineTemplate {
  const { tbs, extensions } = certificateParts(certificate)
  const [, , signatureAlgorithm, issuer] = tbs
  const authorityKeyIdentifier = extensions.find((ext) => ext.name === 'authorityKeyIdentifier')
  if (authorityKeyIdentifier === undefined) throw new Error("the engine's certificate has no authorityKeyIdentifier")
  if (signatureAlgorithm === undefined || issuer === undefined) throw new Error("the engine's certificate has a malformed TBSCertificate")
  return {
    name: elementBytes(certificate, issuer),
    signatureAlgorithm: elementBytes(certificate, signatureAlgorithm),
    // The extnValue's contents, which leafTbs wraps in its OCTET STRING again.
    authorityKeyIdentifier: Buffer.from(authorityKeyIdentifier.valueHex, 'hex'),
  }
}

/** What varies per certificate besides the key: the engine's serial and validity (current second, whole days). */
interface Inputs {
  readonly serial: Buffer
  readonly notBefore: Date
  readonly notAfter: Date
}

function freshInputs(): Inputs {
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000)
  return { serial: randomSerial(), notBefore, notAfter: new Date(notBefore.getTime() + VALIDITY_DAYS * DAY_MS) }
}

function eui(i: number): string {
  return (0x100 + i).toString(16).padStart(16, '0')
}

// ---------------------------------------------------------------------------------------------
// Timing

interface Block {
  readonly count: number
  readonly cpuMicros: number
  readonly wallMs: number
}

async function warmUp(minter: NodeCredentialMinter, ca: Ca, template: EngineTemplate): Promise<void> {
  for (let i = 0; i < WARMUP; i++) {
    await minter.mint(eui(i))
    await libraryMint(ca, eui(i))
    await ourCertificate(template, eui(i), await ourKeys(), ca.keyObject)
    await libraryCertificate(ca, eui(i), (await libraryKeys()).publicKey)
  }
}

async function timeBlock(count: number, op: (i: number) => Promise<unknown>): Promise<Block> {
  const wall = performance.now()
  const cpu = process.cpuUsage()
  for (let i = 0; i < count; i++) await op(i)
  const used = process.cpuUsage(cpu)
  return { count, cpuMicros: used.user + used.system, wallMs: performance.now() - wall }
}

/** BLOCKS blocks per side in the order A B B A A B ..., so a slow spell of the machine is shared. */
async function alternate(perBlock: number, a: (i: number) => Promise<unknown>, b: (i: number) => Promise<unknown>): Promise<[Rate, Rate]> {
  const blocks: [Block[], Block[]] = [[], []]
  for (let round = 0; round < BLOCKS; round++) {
    const order = round % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const)
    for (const which of order) blocks[which].push(await timeBlock(perBlock, which === 0 ? a : b))
  }
  return [rate(blocks[0]), rate(blocks[1])]
}

interface Prepared<K> {
  readonly prepare: () => Promise<K>
  readonly run: (keys: K, i: number) => Promise<unknown>
}

/** alternate(), with each block's keys generated before its clock starts. */
async function alternatePrepared<A, B>(perBlock: number, a: Prepared<A>, b: Prepared<B>): Promise<[Rate, Rate]> {
  const withKeys = async <K>(side: Prepared<K>): Promise<(i: number) => Promise<unknown>> => {
    const keys: K[] = []
    for (let i = 0; i < perBlock; i++) keys.push(await side.prepare())
    return (i) => {
      const key = keys[i]
      if (key === undefined) throw new Error('ran out of prepared keys')
      return side.run(key, i)
    }
  }
  const blocks: [Block[], Block[]] = [[], []]
  for (let round = 0; round < BLOCKS; round++) {
    const order = round % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const)
    for (const which of order) {
      const op = which === 0 ? await withKeys(a) : await withKeys(b)
      blocks[which].push(await timeBlock(perBlock, op))
    }
  }
  return [rate(blocks[0]), rate(blocks[1])]
}

function rate(blocks: readonly Block[]): Rate {
  const count = blocks.reduce((sum, block) => sum + block.count, 0)
  const cpuSeconds = blocks.reduce((sum, block) => sum + block.cpuMicros, 0) / 1e6
  const wallSeconds = blocks.reduce((sum, block) => sum + block.wallMs, 0) / 1000
  return {
    count,
    cpuSeconds,
    wallSeconds,
    perCpuSecond: count / cpuSeconds,
    perWallSecond: count / wallSeconds,
    blockPerCpuSecond: blocks.map((block) => block.count / (block.cpuMicros / 1e6)),
  }
}

// ---------------------------------------------------------------------------------------------
// Equivalence

interface ParsedExtension extends ExtensionFacts {
  readonly encoding: Buffer
}

/** The TBSCertificate's fields and its extensions, read with der.ts. */
function certificateParts(der: Buffer): { tbs: DerElement[]; extensions: ParsedExtension[] } {
  const [tbsElement] = readChildren(der, readElement(der))
  if (tbsElement?.tag !== DerTag.SEQUENCE) throw new Error('certificate has no TBSCertificate')
  const tbs = readChildren(der, tbsElement)
  const wrapper = tbs.find((field) => field.tag === 0xa3)
  const [list] = wrapper === undefined ? [] : readChildren(der, wrapper)
  const extensions = list === undefined ? [] : readChildren(der, list).map((ext) => parsedExtension(der, ext))
  return { tbs, extensions }
}

function parsedExtension(der: Buffer, ext: DerElement): ParsedExtension {
  const parts = readChildren(der, ext)
  const [id] = parts
  const value = parts[parts.length - 1]
  const flag = parts.length === 3 ? parts[1] : undefined
  if (id === undefined || value === undefined) throw new Error('malformed extension')
  const oidHex = elementBytes(der, id).toString('hex')
  return {
    name: EXTENSION_NAMES.get(oidHex) ?? `oid ${oidHex}`,
    critical: flag === undefined ? undefined : der[flag.contentStart] !== 0,
    valueHex: der.subarray(value.contentStart, value.end).toString('hex'),
    encoding: elementBytes(der, ext),
  }
}

function certificateFacts(ca: Ca, credential: ClientCredential): CertificateFacts {
  const der = credential.certificate
  const parsed = new X509Certificate(der)
  const { tbs, extensions } = certificateParts(der)
  const [, serial, signatureAlgorithm, issuer, validityElement, subject] = tbs
  if (serial === undefined || signatureAlgorithm === undefined || issuer === undefined || validityElement === undefined || subject === undefined) {
    throw new Error('certificate has a malformed TBSCertificate')
  }
  const caSubject = certificateParts(ca.certificate.raw).tbs[5]
  return {
    bytes: der.length,
    subject: parsed.subject,
    issuer: parsed.issuer,
    commonNameType: commonNameType(der, subject),
    issuerIsCaSubjectBytes: caSubject !== undefined && elementBytes(der, issuer).equals(elementBytes(ca.certificate.raw, caSubject)),
    serialContentBytes: serial.end - serial.contentStart,
    validityTypes: readChildren(der, validityElement).map((time) => (time.tag === DerTag.UTC_TIME ? 'UTCTime' : time.tag === DerTag.GENERALIZED_TIME ? 'GeneralizedTime' : `tag ${time.tag}`)),
    validityDays: (parsed.validToDate.getTime() - parsed.validFromDate.getTime()) / DAY_MS,
    signatureAlgorithmHex: elementBytes(der, signatureAlgorithm).toString('hex'),
    extensions: extensions.map(({ name, critical, valueHex }) => ({ name, critical, valueHex })),
    verifiesWithCaKey: parsed.verify(ca.certificate.publicKey),
    checkIssued: parsed.checkIssued(ca.certificate),
    privateKeyBytes: credential.privateKey.length,
    keyMatchesCertificate: parsed.publicKey.equals(createPublicKey(createPrivateKey({ key: credential.privateKey, format: 'der', type: 'sec1' }))),
  }
}

async function sameInputsTbs(ca: Ca, template: EngineTemplate): Promise<Equivalence['sameInputsTbs']> {
  const keys = await ourKeys()
  const inputs = freshInputs()
  const ours = tbsBytes((await ourCertificate(template, eui(0), keys, ca.keyObject, inputs)).certificate)
  const peculiar = tbsBytes((await libraryCertificate(ca, eui(0), keys.publicKey, inputs)).certificate)
  const length = Math.min(ours.length, peculiar.length)
  let at = 0
  while (at < length && ours[at] === peculiar[at]) at++
  const identical = ours.equals(peculiar)
  return { identical, firstDifferenceAt: identical ? undefined : at, bytes: [ours.length, peculiar.length] }
}

function tbsBytes(certificate: Buffer): Buffer {
  const [tbs] = readChildren(certificate, readElement(certificate))
  if (tbs === undefined) throw new Error('certificate has no TBSCertificate')
  return elementBytes(certificate, tbs)
}

function commonNameType(der: Buffer, subject: DerElement): string {
  const [rdn] = readChildren(der, subject)
  const [attribute] = rdn === undefined ? [] : readChildren(der, rdn)
  const [, value] = attribute === undefined ? [] : readChildren(der, attribute)
  return value === undefined ? 'none' : (STRING_TYPES.get(value.tag) ?? `tag 0x${value.tag.toString(16)}`)
}

async function checkEquivalence(ca: Ca, ours: ClientCredential, peculiar: ClientCredential, replica: ClientCredential): Promise<Omit<Equivalence, 'sameInputsTbs'>> {
  const oursFacts = certificateFacts(ca, ours)
  const peculiarFacts = certificateFacts(ca, peculiar)
  const [oursText, peculiarText] = await Promise.all([opensslText(ours.certificate), opensslText(peculiar.certificate)])
  return {
    ours: oursFacts,
    peculiar: peculiarFacts,
    differences: differences(oursFacts, peculiarFacts),
    replicaDifferences: differences(oursFacts, certificateFacts(ca, replica)),
    opensslOnlyOurs: oursText.filter((line) => !peculiarText.includes(line)),
    opensslOnlyPeculiar: peculiarText.filter((line) => !oursText.includes(line)),
  }
}

/** Every fact that differs; key-specific extension values (and per-signature lengths) compared by form, not bytes. */
function differences(a: CertificateFacts, b: CertificateFacts): string[] {
  const found: string[] = []
  const scalar = ['subject', 'issuer', 'commonNameType', 'issuerIsCaSubjectBytes', 'validityDays', 'signatureAlgorithmHex', 'verifiesWithCaKey', 'checkIssued', 'privateKeyBytes', 'keyMatchesCertificate'] as const
  for (const key of scalar) if (a[key] !== b[key]) found.push(`${key}: ${String(a[key])} vs ${String(b[key])}`)
  // One random serial in 128 starts with a zero byte, which DER drops (both writers do): 15 bytes, not 16.
  if (Math.abs(a.serialContentBytes - b.serialContentBytes) > 1) found.push(`serialContentBytes: ${a.serialContentBytes} vs ${b.serialContentBytes}`)
  if (a.validityTypes.join() !== b.validityTypes.join()) found.push(`validity types: ${a.validityTypes.join()} vs ${b.validityTypes.join()}`)
  // ECDSA signatures vary by a byte or two in DER; only a larger gap is a difference of encoding.
  if (Math.abs(a.bytes - b.bytes) > 2) found.push(`certificate bytes: ${a.bytes} vs ${b.bytes}`)
  const order = (facts: CertificateFacts): string => facts.extensions.map((ext) => ext.name).join(',')
  if (order(a) !== order(b)) found.push(`extension order: ${order(a)} vs ${order(b)}`)
  for (const ext of a.extensions) {
    const other = b.extensions.find((candidate) => candidate.name === ext.name)
    if (other === undefined) found.push(`${ext.name}: missing from the second`)
    else found.push(...extensionDifferences(ext, other))
  }
  return found
}

function extensionDifferences(a: ExtensionFacts, b: ExtensionFacts): string[] {
  const found: string[] = []
  if (a.critical !== b.critical) found.push(`${a.name} critical: ${String(a.critical)} vs ${String(b.critical)}`)
  const same = KEY_SPECIFIC.has(a.name) ? a.valueHex.length === b.valueHex.length : a.valueHex === b.valueHex
  if (!same) found.push(`${a.name} value: ${a.valueHex} vs ${b.valueHex}`)
  return found
}

/** `openssl x509 -noout -text`, less the lines that differ per certificate anyway: dates, serial, key, SKI and signature bytes. */
async function opensslText(der: Buffer): Promise<string[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cups-bench-x509-'))
  try {
    const file = path.join(dir, 'leaf.der')
    await writeFile(file, der)
    const text = await new Promise<string>((resolve, reject) => {
      execFile('openssl', ['x509', '-inform', 'DER', '-in', file, '-noout', '-text'], { encoding: 'utf8', timeout: 10_000 }, (err, stdout) => {
        if (err) reject(new Error(`openssl x509 -text failed: ${err.message}`))
        else resolve(stdout)
      })
    })
    const lines = text.split('\n').map((line) => line.trim())
    return lines.filter((line, i) => line !== '' && !/^([0-9a-f]{2}:)+[0-9a-f]{0,2}$/i.test(line) && !/^Not (Before|After)/.test(line) && !lines[i - 1]?.startsWith('Serial Number'))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function libraryVersion(): Promise<string> {
  const manifest = JSON.parse(await readFile(require.resolve('@peculiar/x509/package.json'), 'utf8')) as { version?: unknown }
  return typeof manifest.version === 'string' ? manifest.version : 'unknown'
}
