// Owns the body fuzz of POST /update-info: 100,000 random and mutated bodies never get a 5xx or crash, and memory stays flat.
import https from 'node:https'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import v8 from 'node:v8'
import vm from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BootstrapPolicy } from '../../../src/config'
import { fixturesDir } from '../../support/fixtures'
import { postUpdateInfo } from '../../support/https-client'
import { seededRandom } from '../../support/seeded-random'
import type { SeededRandom } from '../../support/seeded-random'
import { decodeUpdateInfoResponse } from '../../support/station-decoder'
import { startTestServer } from '../../support/test-server'

const INJECTED = 98_000
const OVER_TLS = 2_000
const WARM_UP = 10_000
/**
 * Growth of heap + external memory allowed from the end of the warm-up to the end, both after full GCs. Measured: 0.3-0.4 MB.
 * Checked by hand with an artificial leak of one tiny object per request ({ i }): 3.8 MB, which fails.
 */
const MEMORY_GROWTH_LIMIT_BYTES = 2 * 1024 * 1024
const BODY_LIMIT = 16384

// ---------------------------------------------------------------------------------------------------------------
// The oracle: what a body must get, decided without the server's parser. Valid requests stop at the access policy.

const MAX_STRING = 1024
const UINT32_MAX = 4294967295

function isUint32(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= UINT32_MAX
}

function isOptionalString(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.length <= MAX_STRING)
}

/** ID6 (IPv6 notation over four 16-bit groups, one `::` at most), 16 hex digits, or an EUI-64 with `-` or `:`. */
function euiFromText(text: string): string | undefined {
  const lower = text.toLowerCase()
  if (/^[0-9a-f]{16}$/.test(lower)) return lower
  if (/^[0-9a-f]{2}(-[0-9a-f]{2}){7}$/.test(lower) || /^[0-9a-f]{2}(:[0-9a-f]{2}){7}$/.test(lower)) return lower.replace(/[-:]/g, '')
  const group = /^[0-9a-f]{1,4}$/
  const expand = (groups: readonly string[]): string => groups.map((g) => `000${g}`.slice(-4)).join('')
  const compressions = lower.split('::').length - 1
  if (compressions === 0) {
    const groups = lower.split(':')
    return groups.length === 4 && groups.every((g) => group.test(g)) ? expand(groups) : undefined
  }
  if (compressions > 1) return undefined
  const at = lower.indexOf('::')
  const left = lower.slice(0, at) === '' ? [] : lower.slice(0, at).split(':')
  const right = lower.slice(at + 2) === '' ? [] : lower.slice(at + 2).split(':')
  if (left.length + right.length > 3 || ![...left, ...right].every((g) => group.test(g))) return undefined
  return expand([...left, ...Array<string>(4 - left.length - right.length).fill('0'), ...right])
}

/** The router EUI of a valid update-info request, or undefined for one that must get 400. */
function validRequestEui(parsed: unknown): string | undefined {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined
  const body = parsed as Record<string, unknown>
  const router = body.router
  let eui: string | undefined
  if (typeof router === 'number') {
    eui = Number.isSafeInteger(router) && router >= 0 ? BigInt(router).toString(16).padStart(16, '0') : undefined
  } else if (typeof router === 'string' && router.length <= MAX_STRING) {
    eui = euiFromText(router)
  }
  if (eui === undefined) return undefined
  const strings = ['cupsUri', 'tcUri', 'station', 'model', 'package'].every((name) => isOptionalString(body[name]))
  const crcs = isUint32(body.cupsCredCrc) && isUint32(body.tcCredCrc)
  const keys = body.keys
  const keysOk = keys === undefined || (Array.isArray(keys) && keys.length <= 1000 && keys.every(isUint32))
  return strings && crcs && keysOk ? eui : undefined
}

type Expectation = { readonly status: 400 | 413 } | { readonly status: 'valid'; readonly eui: string }

function classify(body: Buffer): Expectation {
  if (body.length > BODY_LIMIT) return { status: 413 }
  let parsed: unknown
  try {
    parsed = JSON.parse(body.toString('utf8'))
  } catch {
    return { status: 400 }
  }
  const eui = validRequestEui(parsed)
  return eui === undefined ? { status: 400 } : { status: 'valid', eui }
}

/**
 * The status a valid request must get from a server with no stored credentials: 403 under `off`; under `registered`
 * with only `allowlisted` registered, 404 for everyone else and, for the allowlisted EUI, one bootstrap (200) and
 * then 403, because its minted credentials make it provisioned.
 */
class AccessOracle {
  private bootstrapped = false
  constructor(
    private readonly policy: BootstrapPolicy,
    private readonly allowlisted: string,
  ) {}

  expect(expectation: Expectation): number {
    if (expectation.status !== 'valid') return expectation.status
    if (this.policy === 'off') return 403
    if (expectation.eui !== this.allowlisted) return 404
    if (this.bootstrapped) return 403
    this.bootstrapped = true
    return 200
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The generator: captured bodies, mutated at the byte level and at the JSON level.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

const FIELDS = ['router', 'cupsUri', 'tcUri', 'cupsCredCrc', 'tcCredCrc', 'station', 'model', 'package', 'keys'] as const
const STRING_FIELDS = ['router', 'cupsUri', 'tcUri', 'station', 'model', 'package'] as const
const NUMBER_LITERALS = [
  '4294967296', '4294967295', '4294967295.0000001', '-1', '-0', '0', '0.5', '2.0', '1e308', '1e400', '-1e400', '1E2', '1e-7',
  '9007199254740991', '9007199254740993', '123456789012345678901234567890', '0x10', '00', '+1', 'NaN', 'Infinity', '-', '1.', '.5', '1e',
]
/** Raw JSON replacing one field: each type, and the edges of each. */
const SWAP_VALUES = [
  '0', '-1', '-0', '1.5', '4294967295', '4294967296', '1e400', '9007199254740993', '""', '"x"', '"4294967295"', '"::1"', 'null', 'true',
  '[]', '[1]', '["a"]', '{}', '{"a":1}', '"\\ud800"', `"${'a'.repeat(1025)}"`, '[[[[[[[[[[[[]]]]]]]]]]]]',
]
const UNICODE = [
  '\u{1F600}', '\u202E', '\u200B', '\u0000', '\uD800', '\uDFFF', '\u00E9', '\u0130', '\u212A', '\uFF11\uFF16', '\uFEFF', '\u{10FFFF}', 'a\u0300',
  '\u0661\u0666', '\u2028', '\\', '"', '\u007F',
]
const INVALID_UTF8 = [[0xff], [0xfe], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]]
const INTERESTING_BYTES = [0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x5c, 0x30, 0x2d, 0x00, 0xff, 0x20, 0x0a, 0x65, 0x2e]
// A small pool of group values keeps the number of distinct valid EUIs (and so the bounded read cache) small.
const GROUPS = ['0', '1', 'a', 'ff', 'c001', 'ff10', 'a235', '16', 'FFFF']
const BAD_ROUTERS = [
  ':::', '1:2:3:4:5', '1::2::3', 'g::1', '12345::', ' ::1', '::1 ', '0x16', '', '-', '0016c001ff10a2351', '0016c001ff10a23',
  '00-16:c0-01-ff-10-a2-35', '00-16-c0-01-ff-10-a2', '1:2:3', '::1::', '[::1]', '::ffff:1.2.3.4', 'fe80::1%eth0', '16:c001:ff10:a235\n',
]

class BodyFuzzer {
  private readonly objects: Record<string, Json>[]
  private readonly mutators: readonly [string, () => Buffer][]

  constructor(
    private readonly rng: SeededRandom,
    private readonly fixtures: readonly Buffer[],
  ) {
    this.objects = fixtures.map((fixture) => JSON.parse(fixture.toString('utf8')) as Record<string, Json>)
    this.mutators = [
      ['as-captured', () => this.fixture()],
      ['bit-flip', () => this.bitFlip(this.fixture())],
      ['byte-set', () => this.byteSet(this.fixture())],
      ['truncate', () => this.truncate(this.fixture())],
      ['duplicate', () => this.duplicate(this.fixture())],
      ['splice', () => this.splice()],
      ['delete-range', () => this.deleteRange(this.fixture())],
      ['insert-random', () => this.insert(this.fixture(), this.rng.bytes(this.rng.int(1, 16)))],
      ['invalid-utf8', () => this.invalidUtf8()],
      ['type-swap', () => this.typeSwap()],
      ['number-edge', () => this.numberEdge()],
      ['unicode', () => this.unicode()],
      ['nested', () => this.nested()],
      ['long-string', () => this.longString()],
      ['prototype-keys', () => this.prototypeKeys()],
      ['drop-fields', () => this.dropFields()],
      ['extra-fields', () => this.extraFields()],
      ['duplicate-keys', () => this.duplicateKeys()],
      ['router-form', () => this.routerForm()],
      ['valid-random', () => this.validRandom()],
      ['reformat', () => this.reformat()],
      ['random-bytes', () => this.randomBytes()],
      ['random-json', () => Buffer.from(JSON.stringify(this.randomJson(4)))],
      ['tiny', () => Buffer.from(this.rng.pick(['', '{}', '[]', 'null', '0', '""', 'true', ' ', '{', '}', '{"router":null}']))],
    ]
  }

  /** How many mutation kinds next() draws from. */
  get kindCount(): number {
    return this.mutators.length
  }

  /** Every field of every captured body, replaced by each value of each JSON type (and left out), deterministically. */
  systematic(): { kind: string; body: Buffer }[] {
    const samples: { kind: string; body: Buffer }[] = []
    for (const object of this.objects) {
      for (const field of FIELDS) {
        for (const raw of SWAP_VALUES) samples.push({ kind: 'systematic', body: this.withRaw(structuredClone(object), field, raw) })
        const without = structuredClone(object)
        Reflect.deleteProperty(without, field)
        samples.push({ kind: 'systematic', body: this.text(without) })
      }
    }
    return samples
  }

  next(): { kind: string; body: Buffer } {
    const [kind, mutate] = this.rng.pick(this.mutators)
    let body = mutate()
    // Now and then a byte-level mutation on top of a structural one.
    if (this.rng.chance(0.1)) {
      const layer = this.rng.pick<(input: Buffer) => Buffer>([
        (input) => this.bitFlip(input),
        (input) => this.truncate(input),
        (input) => this.duplicate(input),
        (input) => this.byteSet(input),
      ])
      body = layer(body)
    }
    return { kind, body }
  }

  private fixture(): Buffer {
    return Buffer.from(this.rng.pick(this.fixtures))
  }

  private object(): Record<string, Json> {
    return structuredClone(this.rng.pick(this.objects))
  }

  private text(object: Record<string, Json>): Buffer {
    return Buffer.from(JSON.stringify(object))
  }

  /** The object with `field` replaced by raw JSON text (which may be invalid JSON on purpose). */
  private withRaw(object: Record<string, Json>, field: string, raw: string): Buffer {
    const marker = '\u0001raw\u0001'
    object[field] = marker
    return Buffer.from(JSON.stringify(object).replace(JSON.stringify(marker), () => raw))
  }

  private bitFlip(body: Buffer): Buffer {
    const out = Buffer.from(body)
    for (let flips = this.rng.int(1, 8); flips > 0 && out.length > 0; flips--) {
      const at = this.rng.int(0, out.length - 1)
      out[at] = (out[at] ?? 0) ^ (1 << this.rng.int(0, 7))
    }
    return out
  }

  private byteSet(body: Buffer): Buffer {
    const out = Buffer.from(body)
    for (let sets = this.rng.int(1, 4); sets > 0 && out.length > 0; sets--) out[this.rng.int(0, out.length - 1)] = this.rng.pick(INTERESTING_BYTES)
    return out
  }

  private truncate(body: Buffer): Buffer {
    return body.subarray(0, this.rng.int(0, Math.max(0, body.length - 1)))
  }

  private duplicate(body: Buffer): Buffer {
    if (this.rng.chance(0.3)) return Buffer.concat(Array<Buffer>(this.rng.int(2, 3)).fill(body))
    const from = this.rng.int(0, body.length)
    const slice = body.subarray(from, this.rng.int(from, body.length))
    return this.insert(body, Buffer.concat(Array<Buffer>(this.rng.int(1, 70)).fill(slice)))
  }

  private splice(): Buffer {
    const a = this.fixture()
    const b = this.fixture()
    return Buffer.concat([a.subarray(0, this.rng.int(0, a.length)), b.subarray(this.rng.int(0, b.length))])
  }

  private deleteRange(body: Buffer): Buffer {
    const from = this.rng.int(0, body.length)
    return Buffer.concat([body.subarray(0, from), body.subarray(this.rng.int(from, body.length))])
  }

  private insert(body: Buffer, bytes: Buffer): Buffer {
    const at = this.rng.int(0, body.length)
    return Buffer.concat([body.subarray(0, at), bytes, body.subarray(at)])
  }

  /** Invalid UTF-8 anywhere, or right inside a string value so the JSON often stays valid. */
  private invalidUtf8(): Buffer {
    const body = this.fixture()
    const sequence = Buffer.from(this.rng.pick(INVALID_UTF8))
    if (this.rng.chance(0.5)) return this.insert(body, sequence)
    const quotes = [...body.entries()].filter(([, byte]) => byte === 0x22).map(([index]) => index)
    const at = this.rng.pick(quotes) + 1
    return Buffer.concat([body.subarray(0, at), sequence, body.subarray(at)])
  }

  private typeSwap(): Buffer {
    const object = this.object()
    object[this.rng.pick(FIELDS)] = this.rng.pick<() => Json>([
      () => this.rng.int(-5, 5),
      () => this.rng.next() * 1e6,
      () => String(this.rng.int(0, UINT32_MAX)),
      () => '',
      () => null,
      () => [],
      () => [this.rng.int(0, 9)],
      () => ({}),
      () => ({ value: 1 }),
      () => this.rng.chance(0.5),
      () => this.randomJson(2),
    ])()
    return this.text(object)
  }

  private numberEdge(): Buffer {
    const object = this.object()
    const literal = this.rng.pick(NUMBER_LITERALS)
    const field = this.rng.pick(['cupsCredCrc', 'tcCredCrc', 'router', 'keys', 'keys'])
    return this.withRaw(object, field, field === 'keys' ? `[${literal}]` : literal)
  }

  private unicode(): Buffer {
    const object = this.object()
    const field = this.rng.pick(STRING_FIELDS)
    const value = object[field]
    const current = typeof value === 'string' ? value : ''
    const piece = Array.from({ length: this.rng.int(1, 4) }, () => this.rng.pick(UNICODE)).join('')
    object[field] = this.rng.pick([piece, `${current}${piece}`, `${piece}${current}`, current.toUpperCase()])
    return this.text(object)
  }

  private nested(): Buffer {
    const depth = this.rng.pick([1, 10, 100, 1000, 3000, 8000, 9000])
    const raw = this.rng.chance(0.5) ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
    if (this.rng.chance(0.2)) return Buffer.from(raw)
    return this.withRaw(this.object(), this.rng.pick(FIELDS), raw)
  }

  private longString(): Buffer {
    const object = this.object()
    const length = this.rng.pick([1023, 1024, 1025, 4096, 16000, 17000])
    const unit = this.rng.pick(['a', '0', '\u00e9', '\u{1F600}', ':'])
    object[this.rng.pick(STRING_FIELDS)] = unit.repeat(length).slice(0, length)
    return this.text(object)
  }

  /** Keys that would pollute a prototype if a parser or merge got them wrong; built as text so JS never interprets them. */
  private prototypeKeys(): Buffer {
    const fixture = this.fixture().toString('utf8')
    const open = fixture.slice(0, -1)
    const extra = this.rng.pick([
      '"__proto__":{"polluted":true,"router":"::1"}',
      '"constructor":{"prototype":{"polluted":true}}',
      '"__proto__":null',
      '"hasOwnProperty":1,"toString":"x","valueOf":[]',
      '"prototype":{"router":"::2"}',
    ])
    return Buffer.from(
      this.rng.pick([
        `${open},${extra}}`,
        `{${extra},${fixture.slice(1)}`,
        `{"__proto__":${fixture}}`,
        `{"constructor":{"prototype":${fixture}}}`,
        fixture.replace('"router"', '"__proto__":{"router":"16:c001:ff10:a235"},"x"'),
      ]),
    )
  }

  private dropFields(): Buffer {
    const object = this.object()
    for (let drops = this.rng.int(1, 3); drops > 0; drops--) Reflect.deleteProperty(object, this.rng.pick(FIELDS))
    return this.text(object)
  }

  private extraFields(): Buffer {
    const object = this.object()
    for (let extras = this.rng.int(1, 5); extras > 0; extras--) object[`x${this.rng.int(0, 99)}`] = this.randomJson(2)
    return this.text(object)
  }

  /** A second `"router"` key: JSON.parse keeps the last one. */
  private duplicateKeys(): Buffer {
    const fixture = this.fixture().toString('utf8')
    return Buffer.from(`${fixture.slice(0, -1)},"router":${JSON.stringify(this.router())}}`)
  }

  private routerForm(): Buffer {
    const object = this.object()
    if (this.rng.chance(0.15)) return this.withRaw(object, 'router', this.rng.pick(['0', '1', '9007199254740991', '9007199254740992', '-1', '1.5', '1e20', '22']))
    object.router = this.router()
    return this.text(object)
  }

  private router(): string {
    const g = (): string => this.rng.pick(GROUPS)
    const hex = (): string => [g(), g(), g(), g()].map((group) => `000${group}`.slice(-4)).join('')
    return this.rng.pick<() => string>([
      () => `${g()}:${g()}:${g()}:${g()}`,
      () => `::${g()}`,
      () => `${g()}::${g()}`,
      () => `${g()}::`,
      () => `${g()}:${g()}::${g()}`,
      () => '::',
      () => hex(),
      () => hex().toUpperCase(),
      () => hex().replace(/(..)(?!$)/g, '$1-'),
      () => hex().replace(/(..)(?!$)/g, '$1:'),
      () => this.rng.pick(BAD_ROUTERS),
    ])()
  }

  /** A valid request with random CRCs and keys (sometimes one key too many). */
  private validRandom(): Buffer {
    const object = this.object()
    object.cupsCredCrc = this.rng.int(0, UINT32_MAX)
    object.tcCredCrc = this.rng.int(0, UINT32_MAX)
    const keys = this.rng.pick([0, 1, 3, 999, 1000, 1001])
    object.keys = Array.from({ length: keys }, () => this.rng.int(0, UINT32_MAX))
    if (this.rng.chance(0.3)) object[this.rng.pick(['cupsUri', 'tcUri', 'station', 'model', 'package'])] = null
    return this.text(object)
  }

  private reformat(): Buffer {
    const object = this.object()
    return this.rng.pick<() => Buffer>([
      () => Buffer.from(JSON.stringify(object, null, this.rng.int(1, 8))),
      () => Buffer.from(`\r\n\t ${JSON.stringify(object)}\n\n`),
      () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), this.text(object)]),
      () => Buffer.from(`${JSON.stringify(object)}x`),
      () => Buffer.from(`${JSON.stringify(object)}${JSON.stringify(object)}`),
      () => Buffer.from(JSON.stringify([object])),
      () => Buffer.from(JSON.stringify(JSON.stringify(object))),
    ])()
  }

  private randomBytes(): Buffer {
    const length = this.rng.int(0, 600)
    if (this.rng.chance(0.5)) return this.rng.bytes(length)
    const alphabet = '{}[]":,0123456789-.eE truefalsn\\u'
    return Buffer.from(Array.from({ length }, () => alphabet[this.rng.int(0, alphabet.length - 1)] ?? ' ').join(''))
  }

  private randomJson(depth: number): Json {
    const choice = this.rng.int(0, depth > 0 ? 7 : 4)
    switch (choice) {
      case 0:
        return null
      case 1:
        return this.rng.chance(0.5)
      case 2:
        return this.rng.chance(0.5) ? this.rng.int(-10, UINT32_MAX + 10) : (this.rng.next() - 0.5) * 10 ** this.rng.int(0, 300)
      case 3:
        return this.rng.pick([this.router(), this.rng.pick(UNICODE), 'x'.repeat(this.rng.int(0, 40))])
      case 4:
        return this.rng.int(0, UINT32_MAX)
      case 5:
        return Array.from({ length: this.rng.int(0, 4) }, () => this.randomJson(depth - 1))
      default: {
        const object: Record<string, Json> = {}
        for (let n = this.rng.int(0, 9); n > 0; n--) object[this.rng.pick([...FIELDS, 'x', ''])] = this.randomJson(depth - 1)
        return object
      }
    }
  }
}

async function capturedBodies(): Promise<Buffer[]> {
  const names = (await readdir(fixturesDir())).filter((name) => name.endsWith('.raw')).sort()
  const bodies = await Promise.all(
    names.map(async (name) => {
      const raw = await readFile(path.join(fixturesDir(), name))
      return raw.subarray(raw.indexOf('\r\n\r\n') + 4)
    }),
  )
  return bodies
}

// ---------------------------------------------------------------------------------------------------------------
// Bookkeeping shared by both runs.

class Tally {
  readonly statuses = new Map<number, number>()
  readonly kinds = new Map<string, number>()
  readonly mismatches: string[] = []
  mismatchCount = 0

  record(kind: string, body: Buffer, expected: number, actual: number, detail: string): void {
    this.statuses.set(actual, (this.statuses.get(actual) ?? 0) + 1)
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1)
    if (expected === actual && detail === '') return
    this.mismatchCount++
    if (this.mismatches.length < 10) {
      this.mismatches.push(`${kind}: expected ${expected}, got ${actual} ${detail} body(base64)=${body.subarray(0, 300).toString('base64')}`)
    }
  }

  histogram(): string {
    return [...this.statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status}: ${count}`).join(', ')
  }
}

/** Problems with a response beyond its status: a 200 must be a CUPS body, anything else a small JSON error. */
function responseProblem(status: number, contentType: string | undefined, body: Buffer): string {
  try {
    if (status === 200) {
      if (contentType !== 'application/octet-stream') return `200 with content-type ${String(contentType)}`
      const decoded = decodeUpdateInfoResponse(body)
      return decoded.cupsCredentials === undefined ? 'bootstrap without CUPS credentials' : ''
    }
    const error = JSON.parse(body.toString('utf8')) as { code?: unknown; message?: unknown }
    return typeof error.code === 'string' && typeof error.message === 'string' && body.length < 1500 ? '' : 'bad error body'
  } catch (err) {
    return `unreadable body: ${(err as Error).message}`
  }
}

const CONTENT_TYPES = [undefined, 'application/json', 'text/plain', 'application/octet-stream', 'application/x-www-form-urlencoded']

function exposeGc(): () => void {
  v8.setFlagsFromString('--expose_gc')
  return vm.runInNewContext('gc') as () => void
}

/** JS heap plus memory outside it (Buffers), after full collections. */
function settledMemory(gc: () => void): number {
  for (let i = 0; i < 4; i++) gc()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.external
}

const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MB`

// ---------------------------------------------------------------------------------------------------------------

describe('fuzzing POST /update-info', () => {
  let work: string
  let fixtures: Buffer[]
  let fixtureEui: string
  const processErrors: unknown[] = []
  const onProcessError = (err: unknown): void => {
    processErrors.push(err)
  }

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'cups-fuzz-'))
    fixtures = await capturedBodies()
    const routers = new Set(fixtures.map((body) => (JSON.parse(body.toString('utf8')) as { router: string }).router))
    expect(fixtures.length).toBeGreaterThanOrEqual(3)
    expect(routers.size).toBe(1)
    fixtureEui = euiFromText([...routers][0] ?? '') ?? ''
    expect(fixtureEui).toBe('0016c001ff10a235')
    process.on('uncaughtException', onProcessError)
    process.on('unhandledRejection', onProcessError)
  })
  afterAll(async () => {
    process.off('uncaughtException', onProcessError)
    process.off('unhandledRejection', onProcessError)
    await rm(work, { recursive: true, force: true })
  })

  it('the oracle agrees with the captured bodies and a few hand-made ones', () => {
    for (const fixture of fixtures) expect(classify(fixture)).toEqual({ status: 'valid', eui: '0016c001ff10a235' })
    const body = (fields: Record<string, unknown>): Buffer => Buffer.from(JSON.stringify({ router: '::1', cupsCredCrc: 0, tcCredCrc: 0, ...fields }))
    expect(classify(body({}))).toEqual({ status: 'valid', eui: '0000000000000001' })
    expect(classify(body({ router: 'A::' }))).toEqual({ status: 'valid', eui: '000a000000000000' })
    expect(classify(body({ router: '::' }))).toEqual({ status: 'valid', eui: '0000000000000000' })
    expect(classify(body({ router: 255 }))).toEqual({ status: 'valid', eui: '00000000000000ff' })
    expect(classify(body({ router: '00:16:C0:01:FF:10:A2:35' }))).toEqual({ status: 'valid', eui: '0016c001ff10a235' })
    for (const bad of [{ router: ':::' }, { router: '1::2::3' }, { router: 1.5 }, { cupsCredCrc: 2 ** 32 }, { keys: [-1] }, { model: 'x'.repeat(1025) }]) {
      expect(classify(body(bad)), JSON.stringify(bad).slice(0, 40)).toEqual({ status: 400 })
    }
    expect(classify(Buffer.alloc(BODY_LIMIT + 1, 0x20))).toEqual({ status: 413 })
    expect(classify(Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]))).toEqual({ status: 400 })
  })

  it(`${INJECTED.toLocaleString('en')} bodies through app.inject: exact status for each, no 5xx, memory flat`, async () => {
    const gc = exposeGc()
    // The real server (src/server.ts wiring, fs store, read cache); app.inject skips TLS and sockets, so the
    // callers are anonymous and valid requests stop at the access policy.
    const targets = await Promise.all(
      (['off', 'registered'] as const).map(async (policy) => ({
        // warn: refusals and errors are logged (and checked); the TLS run below logs everything at info.
        server: await startTestServer({ BOOTSTRAP_POLICY: policy, BOOTSTRAP_ALLOWLIST: policy === 'registered' ? fixtureEui : '', LOG_LEVEL: 'warn' }),
        oracle: new AccessOracle(policy, fixtureEui),
      })),
    )
    let errorLines = 0
    let logLines = 0
    /** Counts the captured log lines and lets them go, so the log does not count as heap growth. */
    const drainLogs = (): void => {
      for (const { server } of targets) {
        logLines += server.logLines.length
        errorLines += server.logLines.filter((line) => /"level":(50|60)/.test(line)).length
        server.logLines.length = 0
      }
    }
    try {
      const fuzzer = new BodyFuzzer(seededRandom(0x5eed_f022), fixtures)
      const systematic = fuzzer.systematic()
      const rng = seededRandom(0xc0ffee)
      const tally = new Tally()
      let memoryAfterWarmUp = 0
      const started = Date.now()
      for (let i = 0; i < INJECTED; i++) {
        if (i % 1000 === 0) drainLogs()
        if (i === WARM_UP) memoryAfterWarmUp = settledMemory(gc)
        const { kind, body } = systematic[i] ?? fuzzer.next()
        const target = targets[i % 2]
        if (target === undefined) throw new Error('no target')
        const contentType = rng.pick(CONTENT_TYPES)
        const expected = target.oracle.expect(classify(body))
        const response = await target.server.app.inject({
          method: 'POST',
          url: '/update-info',
          payload: body,
          headers: contentType === undefined ? {} : { 'content-type': contentType },
        })
        const contentTypeHeader = response.headers['content-type']
        const problem = responseProblem(response.statusCode, typeof contentTypeHeader === 'string' ? contentTypeHeader : undefined, response.rawPayload)
        tally.record(kind, body, expected, response.statusCode, problem)
      }
      drainLogs()
      const memoryAtEnd = settledMemory(gc)
      const elapsedMs = Date.now() - started
      const growth = memoryAtEnd - memoryAfterWarmUp
      console.info(
        `fuzz inject: ${INJECTED} bodies in ${elapsedMs} ms; statuses ${tally.histogram()}; ` +
          `memory (heap + external) after ${WARM_UP} ${mb(memoryAfterWarmUp)}, at end ${mb(memoryAtEnd)} (growth ${mb(growth)}); ${logLines} log lines`,
      )

      expect(tally.mismatches, `${tally.mismatchCount} mismatches`).toEqual([])
      expect([...tally.statuses.keys()].filter((status) => status >= 500)).toEqual([])
      // Every mutation kind ran, and each outcome the oracle knows about actually happened.
      expect(tally.kinds.size).toBe(fuzzer.kindCount + 1)
      expect(tally.kinds.get('systematic')).toBe(systematic.length)
      for (const status of [200, 400, 403, 404, 413]) expect(tally.statuses.get(status) ?? 0, `status ${status}`).toBeGreaterThan(0)
      expect(errorLines).toBe(0)
      expect(processErrors).toEqual([])
      for (const { server } of targets) expect(await server.metrics.value('update_info_duration_seconds', { outcome: 'error' })).toBe(0)
      // No parser or merge let a key reach Object.prototype.
      expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted')
      expect(({} as Record<string, unknown>).router).toBeUndefined()
      expect(growth, `memory grew ${mb(growth)}`).toBeLessThan(MEMORY_GROWTH_LIMIT_BYTES)
    } finally {
      await Promise.all(targets.map(({ server }) => server.stop()))
    }
  }, 120_000)

  it(`${OVER_TLS.toLocaleString('en')} bodies over real TLS to the full server: exact status for each, and it still serves`, async () => {
    const server = await startTestServer({ BOOTSTRAP_POLICY: 'registered', BOOTSTRAP_ALLOWLIST: fixtureEui, LOG_LEVEL: 'info' })
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 })
    const send = (body: Buffer, contentType: string | undefined): Promise<{ status: number; contentType: string | undefined; body: Buffer }> =>
      new Promise((resolve, reject) => {
        const request = https.request(
          {
            host: '127.0.0.1',
            servername: 'localhost',
            port: server.port,
            method: 'POST',
            path: '/update-info',
            agent,
            ca: server.caPem,
            headers: { 'content-length': body.length, ...(contentType === undefined ? {} : { 'content-type': contentType }) },
          },
          (response) => {
            const chunks: Buffer[] = []
            response.on('data', (chunk: Buffer) => chunks.push(chunk))
            response.on('end', () => {
              const type = response.headers['content-type']
              resolve({ status: response.statusCode ?? 0, contentType: type, body: Buffer.concat(chunks) })
            })
            response.on('error', reject)
          },
        )
        request.on('error', reject)
        request.end(body)
      })
    try {
      const fuzzer = new BodyFuzzer(seededRandom(0x7150_2000), fixtures)
      const rng = seededRandom(0xbeef)
      const oracle = new AccessOracle('registered', fixtureEui)
      const tally = new Tally()
      const started = Date.now()
      for (let i = 0; i < OVER_TLS; i++) {
        const { kind, body } = fuzzer.next()
        const contentType = rng.pick(CONTENT_TYPES)
        const expected = oracle.expect(classify(body))
        const response = await send(body, contentType)
        tally.record(kind, body, expected, response.status, responseProblem(response.status, response.contentType, response.body))
      }
      console.info(`fuzz over TLS: ${OVER_TLS} bodies in ${Date.now() - started} ms; statuses ${tally.histogram()}`)

      expect(tally.mismatches, `${tally.mismatchCount} mismatches`).toEqual([])
      for (const status of [200, 400, 403, 404, 413]) expect(tally.statuses.get(status) ?? 0, `status ${status}`).toBeGreaterThan(0)
      expect(server.logLines.filter((line) => /"level":(50|60)/.test(line))).toEqual([])
      expect(processErrors).toEqual([])
      // Still alive and still correct after all that: new connections get normal answers.
      const fixture = fixtures[0] ?? Buffer.alloc(0)
      expect((await postUpdateInfo(server.port, fixture, { ca: server.caPem })).status).toBe(403)
      expect((await postUpdateInfo(server.port, JSON.stringify({ router: '::1', cupsCredCrc: 0, tcCredCrc: 0 }), { ca: server.caPem })).status).toBe(404)
    } finally {
      agent.destroy()
      await server.stop()
    }
  }, 60_000)
})
