// Owns the access matrix of POST /update-info over real TLS: who gets which status and whether any key material leaves.
import { execFile } from 'node:child_process'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
// crc32 as the station computes it (zlib's, not the server's), for the "already converged" case.
import { crc32 } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildCredentialBlob } from '../../../src/cups/credential-blob'
import type { Proof } from '../../../src/gateways/access-policy'
import { DEV_CA_COMMON_NAME } from '../../../src/pki/dev-pki'
import { revokeGateway } from '../../../src/gateways/revoke'
import { FsBlobStore } from '../../../src/storage/fs-blob-store'
import { storageKeys } from '../../../src/storage/storage-keys'
import { postUpdateInfo } from '../../support/https-client'
import type { PostResult } from '../../support/https-client'
import { decodeUpdateInfoResponse, splitBlobLikeStation } from '../../support/station-decoder'
import { issue, newAuthority, validNow } from '../../support/test-certificates'
import type { Authority } from '../../support/test-certificates'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'

const run = promisify(execFile)

type Policy = 'off' | 'registered' | 'open'

/** crc32 of twelve zero bytes: what a station without any cups.* / tc.* files reports, so every authorized caller gets material. */
const NO_FILES_CRC = 2077607535
/** The token line planted in token gateways' CUPS bundles, and the header value a station sends for it. */
const TOKEN = 'Authorization: Bearer tok-3f9a1c77e2b04d5e'
const TOKEN_VALUE = TOKEN.slice('Authorization: '.length)

/** The EUI registered through BOOTSTRAP_ALLOWLIST on the registered server. */
const ALLOWLISTED = '00-00-00-00-00-00-0c-10'

interface Presented {
  readonly cert?: string
  readonly key?: string
  readonly headers?: Readonly<Record<string, string>>
}

interface Identity {
  readonly cert: string
  readonly key: string
  /** The CUPS blob the gateway received when it got this identity. */
  readonly cupsBlob: Buffer
}

interface World {
  readonly work: string
  readonly servers: Readonly<Record<Policy, TestServer>>
  readonly ourCa: (policy: Policy) => Authority
  readonly factoryCa: Authority
}

interface Case {
  readonly name: string
  readonly policy: Policy
  /** The router id as sent in the body; hex, dashed or ID6. */
  readonly router: string
  /** Arranges the gateway's state on the server and says what the caller presents. */
  readonly given: (world: World, eui: string) => Promise<Presented & { readonly reportedCrc?: { cups: number; tc: number } }>
  readonly status: 200 | 403 | 404
  readonly keyMaterial: boolean
  /** The proof every credential-delivered audit line of a 200 with key material names. */
  readonly proof?: Proof
  /** For refusals: the message that says why (the station never reads it; operators do). */
  readonly reason?: RegExp
  /** Extra checks on a 200. */
  readonly check?: (world: World, result: PostResult, eui: string) => void
}

// ---------------------------------------------------------------------------------------------------------------
// PKI helpers: everything through the openssl CLI, like an operator would.

let seq = 0
const fresh = (world: World, name: string): string => path.join(world.work, `${String(++seq)}-${name}`)

function openssl(args: readonly string[], cwd: string): Promise<unknown> {
  return run('openssl', [...args], { cwd })
}

const HOUR_MS = 3_600_000

// ---------------------------------------------------------------------------------------------------------------
// Gateway state helpers.

function requestFor(router: string, crc: { cups: number; tc: number } = { cups: NO_FILES_CRC, tc: NO_FILES_CRC }): string {
  return JSON.stringify({
    router,
    cupsUri: 'https://localhost:8443',
    tcUri: null,
    cupsCredCrc: crc.cups,
    tcCredCrc: crc.tc,
    station: '2.0.6(linux/testsim) 2026-11-23 19:46:54',
    model: 'linux',
    package: '1.0.0',
    keys: [],
  })
}

function post(server: TestServer, router: string, presented: Presented, crc?: { cups: number; tc: number }): Promise<PostResult> {
  return postUpdateInfo(server.port, requestFor(router, crc), { ca: server.caPem, ...presented })
}

/** The client identity inside a CUPS blob, as PEM, the way the station turns its files into a TLS identity. */
function identityFrom(cupsBlob: Buffer): Identity {
  const parts = splitBlobLikeStation(cupsBlob)
  return {
    cert: new X509Certificate(parts.certificate).toString(),
    key: createPrivateKey({ key: parts.key, format: 'der', type: 'sec1' }).export({ format: 'pem', type: 'sec1' }).toString(),
    cupsBlob,
  }
}

/** First contact that provisions the gateway (anonymous, or with a factory certificate) and returns its minted identity. */
async function provision(server: TestServer, router: string, presented: Presented = {}): Promise<Identity> {
  const result = await post(server, router, presented)
  expect(result.status, `provisioning ${router}: ${result.body.toString()}`).toBe(200)
  const blob = decodeUpdateInfoResponse(result.body).cupsCredentials
  if (blob === undefined) throw new Error(`provisioning ${router} returned no CUPS credentials`)
  return identityFrom(blob)
}

/** Writes a storage object the way another tool would (fs store: key K is DATA_DIR/K). */
async function putObject(server: TestServer, key: string, body: Buffer | string): Promise<void> {
  const file = path.join(server.config.storage.dataDir, key)
  await mkdir(path.dirname(file), { recursive: true })
  await writeFile(file, body)
}

async function plantToken(server: TestServer, eui: string): Promise<void> {
  const trust = Buffer.from(new X509Certificate(server.caPem).raw)
  await putObject(server, storageKeys(server.config.storage.prefix, eui).cupsCredentials, buildCredentialBlob({ trust, token: TOKEN }))
}

function keysOf(server: TestServer, eui: string): ReturnType<typeof storageKeys> {
  return storageKeys(server.config.storage.prefix, eui)
}

/** Stores a PEM identity as the gateway's bundle, the way another tool would (trust = our CA). */
async function plantBundle(server: TestServer, eui: string, kind: 'cups' | 'tc', identity: { cert: string; key: string }): Promise<void> {
  const trust = Buffer.from(new X509Certificate(server.caPem).raw)
  const blob = buildCredentialBlob({
    trust,
    certificate: Buffer.from(new X509Certificate(identity.cert).raw),
    privateKey: createPrivateKey(identity.key).export({ format: 'der', type: 'sec1' }),
  })
  const keys = keysOf(server, eui)
  await putObject(server, kind === 'cups' ? keys.cupsCredentials : keys.tcCredentials, blob)
}

async function deleteBundles(server: TestServer, eui: string): Promise<void> {
  const keys = keysOf(server, eui)
  for (const key of [keys.cupsCredentials, keys.tcCredentials]) await rm(path.join(server.config.storage.dataDir, key), { force: true })
}

/** What the operator's revoke does, run against the server's storage. */
async function revoke(server: TestServer, eui: string): Promise<void> {
  await revokeGateway(new FsBlobStore(server.config.storage.dataDir), eui, { prefix: server.config.storage.prefix })
}

async function registerByGatewayJson(server: TestServer, eui: string): Promise<void> {
  await putObject(server, storageKeys(server.config.storage.prefix, eui).settings, '{}\n')
}

/** A 16-hex-digit EUI from any router form the table uses. */
function euiOf(router: string): string {
  const lower = router.toLowerCase()
  if (/^[0-9a-f]{16}$/.test(lower)) return lower
  if (/^[0-9a-f]{2}(-[0-9a-f]{2}){7}$/.test(lower)) return lower.replace(/-/g, '')
  const [head = '', tail] = lower.split('::')
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'))
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  const all = tail === undefined ? left : [...left, ...Array<string>(4 - left.length - right.length).fill('0'), ...right]
  return all.map((group) => group.padStart(4, '0')).join('')
}

// ---------------------------------------------------------------------------------------------------------------
// The matrix. Every case has its own gateway EUI, so cases do not depend on each other's state.

let factoryFirstBlob: Buffer | undefined

const CASES: readonly Case[] = [
  // --- certificates, open server (anonymous bootstrap would succeed, so a refused certificate is refused as such)
  {
    name: 'certificate minted by us for this gateway (obtained by provisioning first)',
    policy: 'open',
    router: '::a01',
    given: async (world) => provision(world.servers.open, '::a01'),
    status: 200,
    keyMaterial: true,
    proof: 'certificate',
  },
  {
    name: 'the same certificate when the station already holds everything (its real CRCs)',
    policy: 'open',
    router: '::a02',
    given: async (world) => {
      const identity = await provision(world.servers.open, '::a02')
      const first = decodeUpdateInfoResponse((await post(world.servers.open, '::a02', identity)).body)
      const crc = (blob: Buffer | undefined): number => (blob === undefined ? NO_FILES_CRC : crc32(blob))
      return { ...identity, reportedCrc: { cups: crc(identity.cupsBlob), tc: crc(first.tcCredentials) } }
    },
    status: 200,
    keyMaterial: false,
  },
  {
    name: 'valid certificate from our CA for another gateway',
    policy: 'open',
    router: '::a03',
    given: async (world) => provision(world.servers.open, '::a04'),
    status: 403,
    keyMaterial: false,
    reason: /not for router 0000000000000a03/,
  },
  {
    name: 'self-signed certificate with the right CN',
    policy: 'open',
    router: '0000000000000a05',
    given: async (world, eui) => {
      const dir = fresh(world, 'self-signed')
      await mkdir(dir)
      await openssl(
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc', '-keyout', 'self.key', '-out', 'self.crt',
          '-subj', `/CN=${eui}`, '-days', '2'],
        dir,
      )
      return { cert: await readFile(path.join(dir, 'self.crt'), 'utf8'), key: await readFile(path.join(dir, 'self.key'), 'utf8') }
    },
    status: 403,
    keyMaterial: false,
    reason: /client certificate rejected/,
  },
  {
    name: 'EXPIRED certificate issued by our CA with the right CN',
    policy: 'open',
    router: '::a06',
    given: async (world, eui) =>
      issue(fresh(world, 'expired'), world.ourCa('open'), {
        subject: `/CN=${eui}`,
        notBefore: new Date(Date.now() - 400 * 24 * HOUR_MS),
        notAfter: new Date(Date.now() - 24 * HOUR_MS),
      }),
    status: 403,
    keyMaterial: false,
    // Never stored for this gateway, so it is not its credential at all; expiry is not what refuses it.
    reason: /holds no CUPS bundle/,
  },
  {
    name: 'a valid certificate our CA issued for this gateway that was never its credential (no bundle stored)',
    policy: 'open',
    router: '::a07',
    given: async (world) =>
      issue(fresh(world, 'valid-san'), world.ourCa('open'), {
        subject: '/CN=some gateway',
        dnsNames: ['00-00-00-00-00-00-0a-07'],
        ...validNow(),
      }),
    status: 403,
    keyMaterial: false,
    reason: /holds no CUPS bundle/,
  },
  {
    name: 'control: the same issuance once another tool stored it as the CUPS bundle (EUI only as a dashed DNS SAN)',
    policy: 'open',
    router: '::a17',
    given: async (world, eui) => {
      const identity = await issue(fresh(world, 'valid-san-stored'), world.ourCa('open'), {
        subject: '/CN=some gateway',
        dnsNames: ['00-00-00-00-00-00-0a-17'],
        ...validNow(),
      })
      await plantBundle(world.servers.open, eui, 'cups', identity)
      return identity
    },
    status: 200,
    keyMaterial: true,
    proof: 'certificate',
  },
  {
    name: 'EXPIRED but current: the certificate in the stored CUPS bundle, expired, fetches its renewal',
    policy: 'open',
    router: '::a18',
    given: async (world, eui) => {
      const identity = await issue(fresh(world, 'expired-current'), world.ourCa('open'), {
        subject: `/CN=${eui}`,
        notBefore: new Date(Date.now() - 400 * 24 * HOUR_MS),
        notAfter: new Date(Date.now() - 24 * HOUR_MS),
      })
      await plantBundle(world.servers.open, eui, 'cups', identity)
      return identity
    },
    status: 200,
    keyMaterial: true,
    proof: 'expired-certificate',
    check: (_world, result) => {
      // What it gets is a renewal: a certificate that is valid now.
      const blob = decodeUpdateInfoResponse(result.body).cupsCredentials
      if (blob === undefined) throw new Error('no renewal delivered')
      const renewed = new X509Certificate(splitBlobLikeStation(blob).certificate)
      expect(new Date(renewed.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * 24 * HOUR_MS)
    },
  },
  {
    name: "the gateway's TC certificate presented as its CUPS certificate",
    policy: 'open',
    router: '::a19',
    given: async (world) => {
      const identity = await provision(world.servers.open, '::a19')
      const tc = decodeUpdateInfoResponse((await post(world.servers.open, '::a19', identity)).body).tcCredentials
      if (tc === undefined) throw new Error('no TC bundle')
      return identityFrom(tc)
    },
    status: 403,
    keyMaterial: false,
    reason: /current credential/,
  },
  {
    name: 'its old certificate after the bundles were deleted (compromise recovery): no fresh keys',
    policy: 'open',
    router: '::a1a',
    given: async (world, eui) => {
      const old = await provision(world.servers.open, '::a1a')
      await post(world.servers.open, '::a1a', old) // shown once: it is the last authentication now
      await deleteBundles(world.servers.open, eui)
      return old
    },
    status: 403,
    keyMaterial: false,
    reason: /holds no CUPS bundle/,
  },
  {
    name: 'a stolen old certificate after the bundles were deleted and the real gateway bootstrapped again',
    policy: 'open',
    router: '::a1b',
    given: async (world, eui) => {
      const stolen = await provision(world.servers.open, '::a1b')
      await post(world.servers.open, '::a1b', stolen)
      await deleteBundles(world.servers.open, eui)
      await provision(world.servers.open, '::a1b') // the real gateway, from its anonymous boot set
      return stolen
    },
    status: 403,
    keyMaterial: false,
    reason: /current credential/,
  },
  {
    name: 'the previous certificate after another tool replaced the bundle, before the gateway showed the new one',
    policy: 'open',
    router: '::a1c',
    given: async (world, eui) => {
      const previous = await provision(world.servers.open, '::a1c')
      await post(world.servers.open, '::a1c', previous)
      const replacement = await issue(fresh(world, 'replacement'), world.ourCa('open'), { subject: `/CN=${eui}`, ...validNow() })
      await plantBundle(world.servers.open, eui, 'cups', replacement)
      return previous
    },
    status: 200,
    keyMaterial: true,
    proof: 'previous-certificate',
  },
  {
    name: 'the previous certificate once the gateway has shown the replacement',
    policy: 'open',
    router: '::a1d',
    given: async (world, eui) => {
      const previous = await provision(world.servers.open, '::a1d')
      await post(world.servers.open, '::a1d', previous)
      const replacement = await issue(fresh(world, 'replacement-shown'), world.ourCa('open'), { subject: `/CN=${eui}`, ...validNow() })
      await plantBundle(world.servers.open, eui, 'cups', replacement)
      expect((await post(world.servers.open, '::a1d', replacement)).status).toBe(200)
      return previous
    },
    status: 403,
    keyMaterial: false,
    reason: /current credential/,
  },
  {
    name: 'revoked: its own current certificate',
    policy: 'open',
    router: '::a1e',
    given: async (world, eui) => {
      const identity = await provision(world.servers.open, '::a1e')
      await revoke(world.servers.open, eui)
      return identity
    },
    status: 403,
    keyMaterial: false,
    reason: /is revoked/,
  },
  {
    name: 'revoked: anonymous (its bundles are gone, yet the open policy must not bootstrap it)',
    policy: 'open',
    router: '::a1f',
    given: async (world, eui) => {
      await provision(world.servers.open, '::a1f')
      await revoke(world.servers.open, eui)
      return {}
    },
    status: 403,
    keyMaterial: false,
    reason: /is revoked/,
  },
  {
    name: "certificate for this gateway signed with another gateway's minted key (a CA:FALSE leaf as issuer, chain sent)",
    policy: 'open',
    router: '::a08',
    given: async (world, eui) => {
      const dir = fresh(world, 'leaf-as-ca')
      await mkdir(dir)
      const victim = await provision(world.servers.open, '::a09')
      await writeFile(path.join(dir, 'issuer.crt'), victim.cert)
      await writeFile(path.join(dir, 'issuer.key'), victim.key)
      const leaf = await issue(dir, { cert: path.join(dir, 'issuer.crt'), key: path.join(dir, 'issuer.key') }, {
        subject: `/CN=${eui}`,
        ...validNow(),
      })
      return { cert: leaf.cert + victim.cert, key: leaf.key }
    },
    status: 403,
    keyMaterial: false,
    reason: /client certificate rejected/,
  },
  {
    name: "forged issuer: an attacker CA with our CA's exact name signs a certificate with the right CN",
    policy: 'open',
    router: '::a0a',
    given: async (world, eui) => {
      const forger = await newAuthority(fresh(world, 'forger'), DEV_CA_COMMON_NAME)
      return issue(fresh(world, 'forged'), forger, { subject: `/CN=${eui}`, ...validNow() })
    },
    status: 403,
    keyMaterial: false,
    reason: /client certificate rejected/,
  },
  // --- anonymous and garbage credentials, open server
  {
    name: 'anonymous, unprovisioned gateway (open)',
    policy: 'open',
    router: '::a10',
    given: () => Promise.resolve({}),
    status: 200,
    keyMaterial: true,
    proof: 'bootstrap',
  },
  {
    name: 'anonymous, gateway already provisioned by an earlier bootstrap (open)',
    policy: 'open',
    router: '::a11',
    given: async (world) => {
      await provision(world.servers.open, '::a11')
      return {}
    },
    status: 403,
    keyMaterial: false,
    reason: /is provisioned/,
  },
  {
    name: 'anonymous, gateway provisioned with a token bundle by another tool (open)',
    policy: 'open',
    router: '::a12',
    given: async (world, eui) => {
      await plantToken(world.servers.open, eui)
      return {}
    },
    status: 403,
    keyMaterial: false,
    reason: /is provisioned/,
  },
  {
    // The header proves nothing, so the policy treats the caller as anonymous: it could get the same by omitting it.
    name: 'garbage Authorization header, unprovisioned gateway (open: treated as anonymous)',
    policy: 'open',
    router: '::a13',
    given: () => Promise.resolve({ headers: { authorization: 'Basic !!garbage;;not-a-token==' } }),
    status: 200,
    keyMaterial: true,
    proof: 'bootstrap',
  },
  // --- tokens and factory certificates, off server (no anonymous bootstrap at all)
  {
    name: 'anonymous, unprovisioned gateway (off)',
    policy: 'off',
    router: '::b01',
    given: () => Promise.resolve({}),
    status: 403,
    keyMaterial: false,
    reason: /BOOTSTRAP_POLICY=off/,
  },
  {
    name: 'anonymous, gateway provisioned with a token bundle (off)',
    policy: 'off',
    router: '::b02',
    given: async (world, eui) => {
      await plantToken(world.servers.off, eui)
      return {}
    },
    status: 403,
    keyMaterial: false,
    reason: /is provisioned/,
  },
  {
    name: 'right token: `Authorization: Bearer ...` as stored',
    policy: 'off',
    router: '::b03',
    given: async (world, eui) => {
      await plantToken(world.servers.off, eui)
      return { headers: { authorization: TOKEN_VALUE } }
    },
    status: 200,
    keyMaterial: true,
    proof: 'token',
  },
  {
    name: 'wrong token',
    policy: 'off',
    router: '::b04',
    given: async (world, eui) => {
      await plantToken(world.servers.off, eui)
      return { headers: { authorization: 'Bearer tok-3f9a1c77e2b04d5f' } }
    },
    status: 403,
    keyMaterial: false,
    reason: /is provisioned/,
  },
  {
    name: 'the right token value without the `Bearer ` prefix',
    policy: 'off',
    router: '::b05',
    given: async (world, eui) => {
      await plantToken(world.servers.off, eui)
      return { headers: { authorization: TOKEN_VALUE.replace(/^Bearer /, '') } }
    },
    status: 403,
    keyMaterial: false,
    reason: /is provisioned/,
  },
  {
    name: 'the right token followed by extra characters (a prefix match must not pass)',
    policy: 'off',
    router: '::b06',
    given: async (world, eui) => {
      await plantToken(world.servers.off, eui)
      return { headers: { authorization: `${TOKEN_VALUE}0` } }
    },
    status: 403,
    keyMaterial: false,
    reason: /is provisioned/,
  },
  {
    name: "another gateway's valid certificate plus this gateway's right token (the certificate decides)",
    policy: 'off',
    router: '::b07',
    given: async (world, eui) => {
      await plantToken(world.servers.off, eui)
      const other = await provision(world.servers.off, '::b08', await factoryCertificate(world, '0000000000000b08'))
      return { cert: other.cert, key: other.key, headers: { authorization: TOKEN_VALUE } }
    },
    status: 403,
    keyMaterial: false,
    reason: /not for router 0000000000000b07/,
  },
  {
    name: 'factory-CA certificate (CN = EUI), unprovisioned gateway (off)',
    policy: 'off',
    router: '::b10',
    given: async (world, eui) => factoryCertificate(world, eui),
    status: 200,
    keyMaterial: true,
    proof: 'factory-certificate',
  },
  {
    name: 'factory-CA certificate again after it provisioned the gateway: re-bootstrap gets the same credentials',
    policy: 'off',
    router: '::b11',
    given: async (world, eui) => {
      const factory = await factoryCertificate(world, eui)
      factoryFirstBlob = (await provision(world.servers.off, '::b11', factory)).cupsBlob
      return factory
    },
    status: 200,
    keyMaterial: true,
    proof: 'factory-certificate',
    check: (_world, result) => {
      expect(decodeUpdateInfoResponse(result.body).cupsCredentials).toEqual(factoryFirstBlob)
    },
  },
  {
    name: 'factory-CA certificate for another gateway',
    policy: 'off',
    router: '::b12',
    given: async (world) => factoryCertificate(world, '0000000000000b13'),
    status: 403,
    keyMaterial: false,
    reason: /not for router 0000000000000b12/,
  },
  {
    name: 'certificate minted by us after a factory-certificate bootstrap (off)',
    policy: 'off',
    router: '::b14',
    given: async (world, eui) => provision(world.servers.off, '::b14', await factoryCertificate(world, eui)),
    status: 200,
    keyMaterial: true,
    proof: 'certificate',
  },
  // --- registered server: BOOTSTRAP_ALLOWLIST holds ALLOWLISTED, gateway.json objects register others
  {
    name: 'anonymous, registered by gateway.json, unprovisioned',
    policy: 'registered',
    router: '::c01',
    given: async (world, eui) => {
      await registerByGatewayJson(world.servers.registered, eui)
      return {}
    },
    status: 200,
    keyMaterial: true,
    proof: 'bootstrap',
  },
  {
    name: 'anonymous, in BOOTSTRAP_ALLOWLIST, unprovisioned',
    policy: 'registered',
    router: ALLOWLISTED,
    given: () => Promise.resolve({}),
    status: 200,
    keyMaterial: true,
    proof: 'bootstrap',
  },
  {
    name: 'anonymous, unregistered',
    policy: 'registered',
    router: '::c02',
    given: () => Promise.resolve({}),
    status: 404,
    keyMaterial: false,
    reason: /unknown gateway 0000000000000c02/,
  },
  {
    name: 'anonymous, registered and already provisioned by its own bootstrap',
    policy: 'registered',
    router: '::c03',
    given: async (world, eui) => {
      await registerByGatewayJson(world.servers.registered, eui)
      await provision(world.servers.registered, '::c03')
      return {}
    },
    status: 403,
    keyMaterial: false,
    reason: /is provisioned/,
  },
  {
    name: 'anonymous, registered and provisioned with a token bundle by another tool',
    policy: 'registered',
    router: '::c04',
    given: async (world, eui) => {
      await registerByGatewayJson(world.servers.registered, eui)
      await plantToken(world.servers.registered, eui)
      return {}
    },
    status: 403,
    keyMaterial: false,
    reason: /is provisioned/,
  },
  {
    name: 'anonymous, stored CUPS token with an empty value (`Authorization: \\r\\n`), off: fails closed',
    policy: 'off',
    router: '::b20',
    given: async (world, eui) => {
      const trust = Buffer.from(new X509Certificate(world.servers.off.caPem).raw)
      await putObject(world.servers.off, keysOf(world.servers.off, eui).cupsCredentials, Buffer.concat([trust, Buffer.alloc(4), Buffer.from('Authorization: \r\n')]))
      return {}
    },
    status: 403,
    keyMaterial: false,
    reason: /is provisioned/,
  },
  {
    name: 'revoked: a factory certificate for it (off)',
    policy: 'off',
    router: '::b21',
    given: async (world, eui) => {
      const factory = await factoryCertificate(world, eui)
      await provision(world.servers.off, '::b21', factory)
      await revoke(world.servers.off, eui)
      return factory
    },
    status: 403,
    keyMaterial: false,
    reason: /is revoked/,
  },
  {
    name: 'anonymous, registered, trust-only CUPS bundle but a TC bundle with a key',
    policy: 'registered',
    router: '::c05',
    given: async (world, eui) => {
      const server = world.servers.registered
      await registerByGatewayJson(server, eui)
      const trust = Buffer.from(new X509Certificate(server.caPem).raw)
      await putObject(server, keysOf(server, eui).cupsCredentials, buildCredentialBlob({ trust }))
      const tc = await issue(fresh(world, 'tc-only'), world.ourCa('registered'), { subject: `/CN=${eui}`, ...validNow() })
      await plantBundle(server, eui, 'tc', tc)
      return {}
    },
    status: 403,
    keyMaterial: false,
    reason: /is provisioned/,
  },
  {
    name: 'anonymous, gateway.json is a JSON array (registers nothing)',
    policy: 'registered',
    router: '::c06',
    given: async (world, eui) => {
      await putObject(world.servers.registered, keysOf(world.servers.registered, eui).settings, '[]\n')
      return {}
    },
    status: 404,
    keyMaterial: false,
    reason: /unknown gateway 0000000000000c06/,
  },
]

async function factoryCertificate(world: World, eui: string): Promise<Presented> {
  return issue(fresh(world, `factory-${eui}`), world.factoryCa, { subject: `/CN=${eui}`, ...validNow() })
}

// ---------------------------------------------------------------------------------------------------------------

describe('the access matrix over real TLS', () => {
  let world: World

  beforeAll(async () => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'cups-authz-'))
    const factoryCa = await newAuthority(path.join(work, 'factory-ca'), 'Gateway Factory CA')
    // Three servers sharing nothing: each has its own dev PKI and data directory. No read cache: the cases
    // change records and bundles between requests as another tool would (the cache has its own tests).
    const [off, registered, open] = await Promise.all([
      startTestServer({ BOOTSTRAP_POLICY: 'off', BOOTSTRAP_CA_PATH: factoryCa.cert, CACHE_TTL_SECONDS: '0' }),
      startTestServer({ BOOTSTRAP_POLICY: 'registered', BOOTSTRAP_ALLOWLIST: ALLOWLISTED, CACHE_TTL_SECONDS: '0' }),
      startTestServer({ BOOTSTRAP_POLICY: 'open', CACHE_TTL_SECONDS: '0' }),
    ])
    const servers = { off, registered, open }
    world = {
      work,
      servers,
      factoryCa,
      ourCa: (policy) => ({ cert: servers[policy].config.tls.caCertFile, key: servers[policy].config.tls.caKeyFile }),
    }
  })
  afterAll(async () => {
    await Promise.all(Object.values(world.servers).map((server) => server.stop()))
    await rm(world.work, { recursive: true, force: true })
  })

  it('covers at least 40 cases, every policy, and no EUI twice', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40)
    expect(new Set(CASES.map((c) => c.policy))).toEqual(new Set(['off', 'registered', 'open']))
    const euis = CASES.map((c) => euiOf(c.router))
    expect(new Set(euis).size).toBe(euis.length)
  })

  it.each(CASES)('[$policy] $name -> $status, key material: $keyMaterial', async (c) => {
    const server = world.servers[c.policy]
    const eui = euiOf(c.router)
    const { reportedCrc, ...presented } = await c.given(world, eui)
    const logFrom = server.logLines.length

    const result = await post(server, c.router, presented, reportedCrc)
    const lines = server.logLines.slice(logFrom).map((line) => JSON.parse(line) as Record<string, unknown>)
    const audit = (kind: string): Record<string, unknown>[] => lines.filter((line) => line.audit === kind && line.eui === eui)

    expect(result.status, result.body.toString('latin1').slice(0, 300)).toBe(c.status)
    if (result.status === 200) {
      expect(result.headers['content-type']).toBe('application/octet-stream')
      const segments = decodeUpdateInfoResponse(result.body)
      const delivered = [segments.cupsCredentials, segments.tcCredentials].filter((blob) => blob !== undefined)
      expect(delivered.length > 0, 'key material returned').toBe(c.keyMaterial)
      // Whatever certificate goes out is this gateway's own.
      for (const blob of delivered) {
        const certificate = splitBlobLikeStation(blob).certificate
        if (certificate.length > 0) expect(new X509Certificate(certificate).subject).toBe(`CN=${eui}`)
      }
      const deliveries = audit('credential-delivered')
      expect(deliveries).toHaveLength(delivered.length)
      if (c.proof !== undefined) {
        expect(deliveries.map((line) => line.proof)).toEqual(delivered.map(() => c.proof))
      }
      c.check?.(world, result, eui)
    } else {
      expect(c.keyMaterial).toBe(false)
      // A refusal is a small JSON error: no CUPS body, no PEM, no DER.
      const error = JSON.parse(result.body.toString('utf8')) as { code: unknown; message: unknown }
      expect(error.code).toBe(c.status === 404 ? 'UNKNOWN_GATEWAY' : 'FORBIDDEN')
      expect(String(error.message)).toMatch(c.reason ?? /./)
      expect(result.body.length).toBeLessThan(400)
      expect(result.body.includes('-----BEGIN')).toBe(false)
      // Nothing was minted or handed out for this gateway on the way to the refusal.
      expect(audit('credential-minted')).toEqual([])
      expect(audit('credential-delivered')).toEqual([])
      // The request's one line says why, with the code the caller got. It is written once the response has gone
      // out, so it may land a moment after the client has read the response.
      await vi.waitFor(() => {
        const after = server.logLines.slice(logFrom).map((line) => JSON.parse(line) as Record<string, unknown>)
        expect(after.some((line) => line.msg === 'update-info' && line.code === error.code && line.status === c.status)).toBe(true)
      })
    }
  })
})
