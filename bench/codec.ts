// Owns the in-process micro-benchmarks of the protocol core (parse, plan + encode, blob check).
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { buildCredentialBlob, checkCredentialBlob } from '../src/cups/credential-blob'
import { crc32 } from '../src/cups/crc32'
import { planUpdate } from '../src/cups/plan-update'
import type { DesiredGatewayState } from '../src/cups/plan-update'
import { parseUpdateInfoRequest } from '../src/cups/update-info-request'
import { encodeUpdateInfoResponse } from '../src/cups/update-info-response'
import { checkClientCertificate, ClientCertificateChecker } from '../src/pki/client-certificate-check'
import { ensureDevPki } from '../src/pki/dev-pki'
import { OpensslCredentialMinter } from '../src/pki/openssl-credential-minter'
import { median } from './stats'
import { stationBody } from './station'

export interface MicroResult {
  readonly name: string
  readonly method: string
  /** Operations per round; every round runs exactly this many. */
  readonly count: number
  readonly rounds: number
  readonly opsPerSec: number
  readonly usPerOp: number
  /** Process CPU (all threads: GC helpers included) per operation, median round. */
  readonly cpuUsPerOp: number
  readonly roundCpuUsPerOp: readonly number[]
  readonly minOpsPerSec: number
  readonly maxOpsPerSec: number
}

const WARMUP_MS = 300
const ROUND_TARGET_MS = 200
const ROUNDS = 5

/**
 * Warm up for WARMUP_MS (JIT), derive a fixed per-round count that takes about ROUND_TARGET_MS, then run
 * ROUNDS rounds of exactly that count and report the median round. `op` returns a number that is summed,
 * so the work cannot be optimised away.
 */
export function microBench(name: string, method: string, op: () => number): MicroResult {
  let sink = 0
  let warmOps = 0
  const warmStart = process.hrtime.bigint()
  const warmElapsedMs = (): number => Number(process.hrtime.bigint() - warmStart) / 1e6
  while (warmOps < 10_000_000 && (warmOps % 64 !== 0 || warmElapsedMs() < WARMUP_MS)) {
    sink += op()
    warmOps++
  }
  const roughPerMs = warmOps / warmElapsedMs()
  const count = niceCount(roughPerMs * ROUND_TARGET_MS)
  const rounds: Round[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = process.hrtime.bigint()
    const cpu0 = process.cpuUsage()
    for (let i = 0; i < count; i++) sink += op()
    rounds.push(endRound(count, t0, cpu0))
  }
  if (sink === Number.MIN_SAFE_INTEGER) console.log('unreachable', sink)
  return microResult(name, method, count, rounds)
}

export interface Round {
  readonly opsPerSec: number
  readonly cpuUsPerOp: number
}

export function endRound(count: number, wallStart: bigint, cpuStart: NodeJS.CpuUsage): Round {
  const seconds = Number(process.hrtime.bigint() - wallStart) / 1e9
  const cpu = process.cpuUsage(cpuStart)
  return { opsPerSec: count / seconds, cpuUsPerOp: (cpu.user + cpu.system) / count }
}

export function microResult(name: string, method: string, count: number, rounds: readonly Round[]): MicroResult {
  const rates = rounds.map((round) => round.opsPerSec)
  const opsPerSec = median(rates)
  return {
    name,
    method,
    count,
    rounds: rounds.length,
    opsPerSec,
    usPerOp: 1e6 / opsPerSec,
    cpuUsPerOp: median(rounds.map((round) => round.cpuUsPerOp)),
    roundCpuUsPerOp: rounds.map((round) => round.cpuUsPerOp),
    minOpsPerSec: Math.min(...rates),
    maxOpsPerSec: Math.max(...rates),
  }
}

/** 1, 2 or 5 times a power of ten, at least 100 and at most 10^7. */
function niceCount(target: number): number {
  const clamped = Math.min(1e7, Math.max(100, target))
  const power = 10 ** Math.floor(Math.log10(clamped))
  const step = [5, 2, 1].find((m) => m * power <= clamped) ?? 1
  return step * power
}

export interface CodecFixtures {
  /** The station's JSON body: a capture from a real Basics Station 2.0.6 when available. */
  readonly body: string
  readonly bodySource: string
  readonly cupsBlob: Buffer
  readonly tcBlob: Buffer
  /** The dev CA (DER) and a client certificate it issued, for the per-request certificate check. */
  readonly gatewayCa: Buffer
  readonly clientCertificate: Buffer
}

/** A real station body and two real ~950-byte blobs (dev CA trust, minted P-256 cert, SEC1 key). */
export async function codecFixtures(repoRoot: string): Promise<CodecFixtures> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cups-bench-codec-'))
  try {
    const certs = path.join(dir, 'certs')
    await ensureDevPki(certs, { log: () => undefined })
    const minter = new OpensslCredentialMinter({ caCertPath: path.join(certs, 'ca.crt'), caKeyPath: path.join(certs, 'ca.key'), validityDays: 365 })
    const trust = new X509Certificate(readFileSync(path.join(certs, 'ca.crt'))).raw
    const eui = '0016c001ff10a235'
    const [cups, tc] = await Promise.all([minter.mint(eui), minter.mint(eui)])
    const blob = (credential: typeof cups): Buffer =>
      buildCredentialBlob({ trust, certificate: credential.certificate, privateKey: credential.privateKey })
    return { ...stationRequestBody(repoRoot, eui), cupsBlob: blob(cups), tcBlob: blob(tc), gatewayCa: trust, clientCertificate: cups.certificate }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function stationRequestBody(repoRoot: string, eui: string): { body: string; bodySource: string } {
  const fromEnv = process.env.FIXTURES_DIR
  const dir = fromEnv !== undefined && fromEnv !== '' ? fromEnv : path.resolve(repoRoot, '..', 'shared', 'fixtures', 'basicstation-2.0.6')
  const file = path.join(dir, 'request-mtls-first-contact.raw')
  try {
    const raw = readFileSync(file, 'latin1')
    const start = raw.indexOf('\r\n\r\n')
    if (start >= 0) return { body: raw.slice(start + 4), bodySource: `captured ${path.basename(file)}` }
  } catch {
    // no captures here: fall back to the simulator's body
  }
  return {
    body: stationBody(eui, { cupsUri: 'https://localhost:6040', tcUri: null, cupsCredCrc: 3435451239, tcCredCrc: 2077607535 }),
    bodySource: 'generated (captures not found)',
  }
}

export function runCodecBenchmarks(fixtures: CodecFixtures): MicroResult[] {
  const { body, cupsBlob, tcBlob, gatewayCa, clientCertificate } = fixtures
  const authorities = { ours: [new X509Certificate(gatewayCa)], factory: [] }
  const checker = new ClientCertificateChecker(() => authorities)
  if (!checkClientCertificate(clientCertificate, authorities).ok) throw new Error('the minted client certificate does not check')
  const tcUri = 'wss://localhost:8887'
  const desired: DesiredGatewayState = { tcUri, cupsCredentials: cupsBlob, tcCredentials: tcBlob }
  const base = parseUpdateInfoRequest(JSON.parse(body))
  const inSync = { ...base, tcUri, cupsCredCrc: crc32(cupsBlob), tcCredCrc: crc32(tcBlob) }
  const fresh = { ...base, tcUri: null, cupsCredCrc: 0, tcCredCrc: 0 }

  const noChange = encodeUpdateInfoResponse(planUpdate(inSync, desired))
  const full = encodeUpdateInfoResponse(planUpdate(fresh, desired))
  if (noChange.length !== 14 || noChange.some((byte) => byte !== 0)) throw new Error('"no change" is not 14 zero bytes')
  const fullLength = 2 + tcUri.length + 2 + cupsBlob.length + 2 + tcBlob.length + 8
  if (full.length !== fullLength) throw new Error(`full answer is ${full.length} bytes, expected ${fullLength}`)

  return [
    microBench('parse request', `JSON.parse + parseUpdateInfoRequest of a ${Buffer.byteLength(body)}-byte station body`, () =>
      parseUpdateInfoRequest(JSON.parse(body)).cupsCredCrc,
    ),
    microBench('plan + encode "no change"', `planUpdate + encodeUpdateInfoResponse, both CRCs match -> 14 bytes`, () =>
      encodeUpdateInfoResponse(planUpdate(inSync, desired)).length,
    ),
    microBench(
      'plan + encode full answer',
      `planUpdate + encodeUpdateInfoResponse -> tcUri + ${cupsBlob.length}- and ${tcBlob.length}-byte blobs (${full.length} bytes)`,
      () => encodeUpdateInfoResponse(planUpdate(fresh, desired)).length,
    ),
    microBench('checkCredentialBlob', `checkCredentialBlob of a ${cupsBlob.length}-byte trust+cert+SEC1 key blob`, () => {
      checkCredentialBlob(cupsBlob)
      return 1
    }),
    // What verifying the client certificate at every request costs a poll (issue: resumed sessions).
    microBench('client certificate check, first sight', 'checkClientCertificate: parse, issuer match, ECDSA P-256 verify, key usage', () =>
      checkClientCertificate(clientCertificate, authorities).ok ? 1 : 0,
    ),
    microBench('client certificate check, seen before', 'ClientCertificateChecker.check: memo hit keyed by the DER bytes', () =>
      checker.check(clientCertificate).ok ? 1 : 0,
    ),
  ]
}
