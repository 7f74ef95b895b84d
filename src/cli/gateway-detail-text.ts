// formatGatewayDetail: `gateway show` for people: one section per stored object, aligned `key: value` lines.
import { describeCertificate } from '../gateways/bundle-description'
import type { CertificateDescription, KeyDescription, UnreadablePart } from '../gateways/bundle-description'
import type { BundleView, GatewayDetail, LastAuthenticationView, RecordView, Unreadable } from '../gateways/gateway-detail'
import type { InventoryView } from '../gateways/inventory-view'
import { SEGMENTS } from '../gateways/inventory'
import { parseTrustCertificate } from '../pki/certificates'
import { printable } from './printable'

type Line = readonly [key: string, value: string]
/** A section's lines, or what stands after its title when there is nothing to list ("none", "unreadable: ..."). */
type Body = readonly Line[] | string

const DAY_MS = 86_400_000

/** `now` only says how far off each expiry is. */
export function formatGatewayDetail(detail: GatewayDetail, now: Date): string {
  const bundle = (view: BundleView | null, reportedAs: string): Body => (view === null ? 'none' : bundleLines(view, reportedAs, now))
  return [
    section(`gateway ${detail.eui}`, [
      ['state', detail.state],
      ['objects', detail.objects.length === 0 ? 'none listed' : detail.objects.map(printable).join(', ')],
    ]),
    section('record (gateway.json)', detail.record === null ? 'none (no record registers this gateway)' : recordLines(detail.record)),
    section('CUPS credentials (cups_cred.bin)', bundle(detail.cupsCredentials, 'cupsCredCrc')),
    section('TC credentials (tc_cred.bin)', bundle(detail.tcCredentials, 'tcCredCrc')),
    section('inventory (inventory.json)', inventoryLines(detail.inventory)),
    section('last authentication (last-auth.json)', lastAuthenticationLines(detail.lastAuthentication)),
  ].join('\n')
}

function recordLines(record: RecordView): Line[] {
  const fields: Line[] = Object.entries(record.fields ?? {}).map(([name, value]) => [printable(name), name === 'tcTrust' ? trustField(value) : text(value)])
  return [...fields, ...record.problems.map((problem): Line => ['problem', printable(problem)])]
}

function bundleLines(bundle: BundleView, reportedAs: string, now: Date): Line[] {
  const lines: Line[] = [
    ['length', `${bundle.length} bytes`],
    ['crc32', `${bundle.crc32} (0x${bundle.crc32.toString(16).padStart(8, '0')})`],
    ['station can parse', bundle.problem === null ? 'yes' : `no: ${printable(bundle.problem)}`],
    ['held by station', bundle.heldByStation === null ? 'unknown (no report in the inventory)' : bundle.heldByStation ? `yes (${reportedAs} matches)` : `no (its ${reportedAs} differs)`],
  ]
  if (bundle.trust !== null) lines.push(...certificateLines('trust', bundle.trust, now))
  if (bundle.key !== null) {
    lines.push(...(bundle.certificate === null ? [['certificate', 'none'] as const] : certificateLines('certificate', bundle.certificate, now)))
    lines.push(...keyLines(bundle.key))
  }
  return lines
}

function certificateLines(part: 'trust' | 'certificate', certificate: CertificateDescription | UnreadablePart, now: Date): Line[] {
  if ('problem' in certificate) return [[part, `unreadable: ${certificate.problem}`]]
  const subject: Line = [part, printable(certificate.subject)]
  const notAfter = `${certificate.notAfter} (${fromNow(certificate.notAfter, now)})`
  if (part === 'trust') return [subject, ['trust expires', notAfter]]
  return [
    subject,
    ['serial', certificate.serial],
    ['issuer', printable(certificate.issuer)],
    ['not before', certificate.notBefore],
    ['not after', notAfter],
  ]
}

function keyLines(key: KeyDescription): Line[] {
  switch (key.kind) {
    case 'none':
      return [['key', 'none']]
    case 'private-key':
      return [['key', 'problem' in key ? `unreadable: ${key.problem}` : `${key.type} (${key.encoding}; never printed)`]]
    case 'token':
      return [
        ['key', key.revealed ? 'token' : 'token (values redacted; --show-token prints them when the bundle is usable)'],
        ...key.headers.map((header): Line => ['token', header.name === null ? printable(header.value) : `${header.name}: ${printable(header.value)}`]),
      ]
  }
}

function inventoryLines(inventory: InventoryView | Unreadable | null): Body {
  if (inventory === null) return 'none (the server has not answered this gateway)'
  if (!inventory.readable) return `unreadable: ${inventory.problem}`
  const { reported, desired } = inventory
  const lines: Line[] = [
    ['first seen', orDash(inventory.firstSeen)],
    ['last seen', orDash(inventory.lastSeen)],
    ['station', orDash(inventory.station)],
    ['model', orDash(inventory.model)],
    ['package', orDash(inventory.package)],
    ['reported cupsUri', orDash(reported.cupsUri)],
    ['reported tcUri', orDash(reported.tcUri)],
    ['reported cupsCredCrc', orDash(reported.cupsCredCrc)],
    ['reported tcCredCrc', orDash(reported.tcCredCrc)],
    ['reported keys', reported.keys.length === 0 ? 'none' : reported.keys.join(', ')],
    ['desired cupsUri', managed(desired.cupsUri)],
    ['desired tcUri', managed(desired.tcUri)],
    ['desired cupsCredCrc', managed(desired.cupsCredCrc)],
    ['desired tcCredCrc', managed(desired.tcCredCrc)],
    ['converged', inventory.converged === null ? '-' : inventory.converged ? 'yes' : 'no'],
  ]
  if (inventory.certificate !== null) {
    lines.push(['certificate', `serial ${orDash(inventory.certificate.serial)}, not after ${orDash(inventory.certificate.notAfter)}`])
  }
  if (inventory.lastRefusal !== null) {
    const { at, status, reason } = inventory.lastRefusal
    lines.push(['last refusal', `${orDash(at)}: ${orDash(status)} ${orDash(reason)}`])
  }
  for (const segment of SEGMENTS) {
    const sends = inventory.segments[segment]
    if (sends === undefined) continue
    const held = sends.stuck ? `stuck until ${orDash(sends.stuckUntil)} (since ${orDash(sends.stuckSince)})` : sends.stuckUntil === null ? 'not stuck' : `was stuck until ${sends.stuckUntil}`
    lines.push([`segment ${segment}`, `sent ${orDash(sends.sends)} times (crc ${orDash(sends.crc)}, station reports ${orDash(sends.reportedCrc)}), ${held}`])
  }
  return lines
}

function lastAuthenticationLines(last: LastAuthenticationView | Unreadable | null): Body {
  if (last === null) return 'none'
  if (!last.readable) return `unreadable: ${last.problem}`
  const lines: Line[] = [['via', last.via]]
  if (last.via === 'certificate') lines.push(['serial', orDash(last.serial)], ['sha256', orDash(last.sha256)])
  lines.push(['at', orDash(last.at)])
  return lines
}

function section(title: string, lines: Body): string {
  if (typeof lines === 'string') return `${title}: ${lines}\n`
  const width = Math.max(...lines.map(([key]) => key.length)) + 1
  return `${title}\n${lines.map(([key, value]) => `  ${`${key}:`.padEnd(width)} ${value}\n`).join('')}`
}

/** Whole days, rounded towards the expiry: "in 0 days" is still valid, "expired 0 days ago" is not. */
function fromNow(iso: string, now: Date): string {
  const ms = Date.parse(iso) - now.getTime()
  return ms >= 0 ? `in ${Math.floor(ms / DAY_MS)} days` : `expired ${Math.floor(-ms / DAY_MS)} days ago`
}

/** tcTrust is a whole PEM file: what it is, on one line (--json has it as stored). */
function trustField(value: unknown): string {
  if (typeof value !== 'string') return text(value)
  const size = `PEM, ${Buffer.byteLength(value, 'utf8')} bytes`
  try {
    const certificate = describeCertificate(parseTrustCertificate(Buffer.from(value, 'utf8'), 'tcTrust'))
    if (!('problem' in certificate)) return `${printable(certificate.subject)}, expires ${certificate.notAfter} (${size})`
  } catch {
    // not one certificate: the record's problems say why
  }
  return `unreadable (${size})`
}

/** A record field: strings as they are, anything else as compact JSON. */
function text(value: unknown): string {
  return printable(typeof value === 'string' ? value : JSON.stringify(value))
}

function orDash(value: string | number | null): string {
  return value === null ? '-' : printable(String(value))
}

function managed(value: string | number | null): string {
  return value === null ? 'not managed' : orDash(value)
}
