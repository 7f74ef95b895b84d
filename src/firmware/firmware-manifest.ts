// The firmware catalogue's documents: a manifest per update (immutable but for added signatures) and a rollout per firmware.
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { keyCrcOf, STATION_KEY_BYTES } from './signing-keys'

/** A firmware id: a path segment under cups/firmware/ that no EUI or other key can be. */
export const FIRMWARE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/

const u32 = z.number().int().min(0).max(0xffffffff)
const version = z.string().min(1).max(100).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
const base64Of = (check: (bytes: Buffer) => string | undefined) =>
  z.string().superRefine((text, ctx) => {
    const bytes = Buffer.from(text, 'base64')
    const problem = bytes.toString('base64') === text ? check(bytes) : 'is not canonical base64'
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
  })

export const SIGNATURE_SCHEMA = z
  .strictObject({
    /** crc32 of stationKey: what a station holding that key reports in `keys`. */
    keyCrc: u32,
    /** The sig-N.key bytes (X‖Y of the P-256 public key), base64. */
    stationKey: base64Of((bytes) => (bytes.length === STATION_KEY_BYTES ? undefined : `is ${String(bytes.length)} bytes, a station key is 64`)),
    /** DER ECDSA signature over SHA-512 of the update, base64; at most 128 bytes (the station's buffer). */
    signature: base64Of((bytes) => (bytes.length >= 8 && bytes.length <= 128 && bytes[0] === 0x30 ? undefined : 'is not a DER ECDSA signature of 8..128 bytes')),
  })
  .refine((entry) => keyCrcOf(Buffer.from(entry.stationKey, 'base64')) === entry.keyCrc, 'keyCrc is not crc32 of stationKey')

export const MANIFEST_SCHEMA = z.strictObject({
  format: z.literal(1),
  id: z.string().regex(FIRMWARE_ID),
  /** What the update installs: the station's `package` (version.txt) once it has run. */
  version,
  /** The `package` versions it upgrades from; it is sent to no other. */
  from: z.array(version).min(1),
  /** Station models (the request's `model`) it applies to; absent = every model. */
  models: z.array(z.string().min(1).max(100)).min(1).optional(),
  /** Station versions (the leading version of the request's `station`, e.g. 2.0.6) it applies to; absent = every one. */
  stations: z.array(version).min(1).optional(),
  size: z.number().int().min(1).max(0x7fffffff),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  signatures: z.array(SIGNATURE_SCHEMA),
  publishedAt: z.iso.datetime(),
  description: z.string().max(500).optional(),
})

export type FirmwareManifest = z.infer<typeof MANIFEST_SCHEMA>
export type FirmwareSignature = z.infer<typeof SIGNATURE_SCHEMA>

export const ROLLOUT_SCHEMA = z.strictObject({
  format: z.literal(1),
  firmware: z.string().regex(FIRMWARE_ID),
  state: z.enum(['active', 'halted']),
  /** Share of the selected gateways, by a stable hash of EUI and firmware id: raising it keeps those already in. */
  percent: z.number().min(0).max(100),
  /** Not before this time (ISO 8601). */
  notBefore: z.iso.datetime().optional(),
  /** Narrow the manifest's models and from-versions; labels must all match the gateway record's. */
  models: z.array(z.string().min(1)).min(1).optional(),
  from: z.array(version).min(1).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  /** Always selected, whatever the percentage (canaries). */
  euis: z.array(z.string().regex(/^[0-9a-f]{16}$/)).optional(),
  /** Only gateways whose record names this channel; absent = gateways without a channel. */
  channel: z.string().min(1).optional(),
  /** Downloads of this update at once, per replica; more wait for a later poll. */
  maxConcurrentDownloads: z.number().int().min(1),
  /** A keyless station may get the update unsigned (it runs whatever it receives). */
  allowUnsigned: z.boolean(),
  /** A gateway running a newer version than this one may get it. */
  allowDowngrade: z.boolean(),
  /** A gateway still on its old version after this many deliveries is marked failed (the loop guard). */
  maxDeliveries: z.number().int().min(1),
  /** The rollout halts itself when this many gateways have failed. */
  haltAfterFailures: z.number().int().min(1),
  failures: z.number().int().min(0),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  haltedAt: z.iso.datetime().optional(),
  haltedReason: z.string().optional(),
})

export type Rollout = z.infer<typeof ROLLOUT_SCHEMA>

export const ROLLOUT_DEFAULTS = { maxConcurrentDownloads: 20, maxDeliveries: 2, haltAfterFailures: 5 } as const

/** A rollout that starts now: everyone selected, signed updates only, no downgrade, the default caps; `fields` override. */
export function activeRollout(firmware: string, now: Date, fields: Partial<Rollout> = {}): Rollout {
  const at = now.toISOString()
  return {
    format: 1,
    firmware,
    state: 'active',
    percent: 100,
    ...ROLLOUT_DEFAULTS,
    allowUnsigned: false,
    allowDowngrade: false,
    failures: 0,
    createdAt: at,
    updatedAt: at,
    ...fields,
  }
}

/** The id of an update: its version (made path-safe) and the start of its sha256, so a re-publish finds the same entry. */
export function firmwareIdOf(version: string, sha256: string): string {
  const safe = version.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '').slice(0, 60)
  return `${safe === '' ? 'fw' : safe}-${sha256.slice(0, 12)}`
}

export function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export class InvalidFirmwareDocumentError extends Error {
  readonly code = 'INVALID_FIRMWARE_DOCUMENT'
}

export function parseManifest(body: Buffer): FirmwareManifest {
  return parseWith(MANIFEST_SCHEMA, body, 'manifest')
}

export function parseRollout(body: Buffer): Rollout {
  return parseWith(ROLLOUT_SCHEMA, body, 'rollout')
}

export function serialise(document: FirmwareManifest | Rollout): Buffer {
  return Buffer.from(`${JSON.stringify(document, null, 2)}\n`)
}

function parseWith<T>(schema: z.ZodType<T>, body: Buffer, what: string): T {
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    throw new InvalidFirmwareDocumentError(`${what}: not JSON`)
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) {
    throw new InvalidFirmwareDocumentError(`${what}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(document)'}: ${issue.message}`).join('; ')}`)
  }
  return parsed.data
}
