// inventoryView: a stored inventory entry read defensively for people, every field present (null where it holds none).
import { SEGMENTS } from './inventory'
import type { InventoryEntry, Segment } from './inventory'

export interface SegmentView {
  readonly crc: number | null
  readonly reportedCrc: number | null
  readonly sends: number | null
  readonly stuckSince: string | null
  readonly stuckUntil: string | null
  /** Held back now: stuckUntil is still ahead. */
  readonly stuck: boolean
}

/** The inventory entry with every field present (null where it holds none); desired null = not managed here. */
export interface InventoryView {
  readonly readable: true
  readonly firstSeen: string | null
  readonly lastSeen: string | null
  readonly station: string | null
  readonly model: string | null
  readonly package: string | null
  readonly reported: {
    readonly cupsUri: string | null
    readonly tcUri: string | null
    readonly cupsCredCrc: number | null
    readonly tcCredCrc: number | null
    readonly keys: readonly number[]
  }
  readonly desired: { readonly cupsUri: string | null; readonly tcUri: string | null; readonly cupsCredCrc: number | null; readonly tcCredCrc: number | null }
  readonly converged: boolean | null
  readonly certificate: { readonly serial: string | null; readonly notAfter: string | null } | null
  readonly lastRefusal: { readonly at: string | null; readonly status: number | null; readonly reason: string | null } | null
  readonly segments: Partial<Record<Segment, SegmentView>>
}

/** The entry as `gateway list` and `show` report it; `now` decides which stuck marks still hold. */
export function inventoryView(entry: InventoryEntry, now: Date): InventoryView {
  // Parsed loosely (parseInventoryEntry checks the version only), so a damaged field reads as null, not a crash.
  const loose = entry as unknown as Readonly<Record<string, unknown>>
  const reported = objectOf(loose.reported)
  const desired = objectOf(loose.desired)
  const certificate = objectOf(loose.certificate)
  const refusal = objectOf(loose.lastRefusal)
  const stored = objectOf(loose.segments)
  const nowIso = now.toISOString()
  const segments: Partial<Record<Segment, SegmentView>> = {}
  for (const segment of SEGMENTS) {
    const sends = objectOf(stored?.[segment])
    if (sends === undefined) continue
    const stuckUntil = stringOf(sends.stuckUntil)
    segments[segment] = {
      crc: numberOf(sends.crc),
      reportedCrc: numberOf(sends.reportedCrc),
      sends: numberOf(sends.sends),
      stuckSince: stringOf(sends.stuckSince),
      stuckUntil,
      // ISO strings compare as times, as the loop guard itself compares them (isHeldBack).
      stuck: stuckUntil !== null && stuckUntil > nowIso,
    }
  }
  return {
    readable: true,
    firstSeen: stringOf(loose.firstSeen),
    lastSeen: stringOf(loose.lastSeen),
    station: stringOf(loose.station),
    model: stringOf(loose.model),
    package: stringOf(loose.package),
    reported: {
      cupsUri: stringOf(reported?.cupsUri),
      tcUri: stringOf(reported?.tcUri),
      cupsCredCrc: numberOf(reported?.cupsCredCrc),
      tcCredCrc: numberOf(reported?.tcCredCrc),
      keys: Array.isArray(reported?.keys) ? reported.keys.filter((key) => typeof key === 'number') : [],
    },
    desired: {
      cupsUri: stringOf(desired?.cupsUri),
      tcUri: stringOf(desired?.tcUri),
      cupsCredCrc: numberOf(desired?.cupsCredCrc),
      tcCredCrc: numberOf(desired?.tcCredCrc),
    },
    converged: typeof loose.converged === 'boolean' ? loose.converged : null,
    certificate: certificate === undefined ? null : { serial: stringOf(certificate.serial), notAfter: stringOf(certificate.notAfter) },
    lastRefusal: refusal === undefined ? null : { at: stringOf(refusal.at), status: numberOf(refusal.status), reason: stringOf(refusal.reason) },
    segments,
  }
}

function objectOf(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
}

function stringOf(value: unknown): string | null {
  return typeof value === 'string' ? value : null
}

function numberOf(value: unknown): number | null {
  return typeof value === 'number' ? value : null
}
