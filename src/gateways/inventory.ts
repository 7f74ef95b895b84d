// The fleet inventory (cups/<eui>/inventory.json): what each gateway last reported and was last sent. The next entry is pure.
import { crc32 } from '../cups/crc32'
import type { FirmwareDeliveryRecord } from '../firmware/select-firmware'

/** The four segments a station can be sent and reports back (URIs as strings, bundles as CRCs). */
export const SEGMENTS = ['cupsUri', 'tcUri', 'cupsCredentials', 'tcCredentials'] as const
export type Segment = (typeof SEGMENTS)[number]

/** How often one segment went out unchanged while the station's report stayed the same: the loop guard. */
export interface SegmentSends {
  /** crc32 of what was sent (the bundle, or the URI's bytes). */
  readonly crc: number
  /** What the station reported for it when it was sent (a CRC, or crc32 of the URI it reported). */
  readonly reportedCrc: number
  readonly sends: number
  /** Set once `sends` reached the limit: the segment is not sent again before `stuckUntil`. */
  readonly stuckSince?: string
  readonly stuckUntil?: string
}

export interface InventoryEntry {
  readonly version: 1
  /** ISO times; lastSeen is refreshed at most once per refresh period (INVENTORY_REFRESH_HOURS). */
  readonly firstSeen: string
  readonly lastSeen: string
  readonly station: string | null
  readonly model: string | null
  readonly package: string | null
  readonly reported: {
    readonly cupsUri: string | null
    readonly tcUri: string | null
    readonly cupsCredCrc: number
    readonly tcCredCrc: number
    readonly keys: readonly number[]
  }
  /** What this server wants the gateway to hold; absent fields are not managed here. */
  readonly desired: { readonly cupsUri?: string; readonly tcUri?: string; readonly cupsCredCrc?: number; readonly tcCredCrc?: number }
  /** Every desired value equals what the station reported. */
  readonly converged: boolean
  /** The client certificate in the gateway's CUPS bundle (what it authenticates with once converged). */
  readonly certificate?: { readonly crc: number; readonly serial: string; readonly notAfter: string }
  readonly lastRefusal?: { readonly at: string; readonly status: number; readonly reason: string }
  readonly segments?: Partial<Record<Segment, SegmentSends>>
  /** Firmware updates sent to this gateway, by firmware id: deliveries and outcome (the firmware loop guard). */
  readonly firmware?: Readonly<Record<string, FirmwareDeliveryRecord>>
}

/** What one answered request says about the gateway. */
export interface Observation {
  readonly now: Date
  readonly reported: InventoryEntry['reported'] & { readonly station: string | null; readonly model: string | null; readonly package: string | null }
  readonly desired: { readonly cupsUri?: string; readonly tcUri?: string; readonly cupsCredentials?: Buffer; readonly tcCredentials?: Buffer }
  /** Segments the answer carried. */
  readonly sent: readonly Segment[]
  /** Serial and expiry of the desired CUPS bundle's certificate, asked only when that bundle changed. */
  readonly certificate: () => { readonly serial: string; readonly notAfter: string } | undefined
  /** The loop guard's verdict on this poll: this firmware failed on the gateway. Deliveries are recorded by deliveredEntry. */
  readonly firmware?: { readonly id: string; readonly version: string; readonly failed: true } | undefined
}

export interface InventoryRules {
  /** Sends of one unchanged segment, with unchanged reports, before it counts as stuck (STUCK_AFTER_SENDS). */
  readonly stuckAfterSends: number
  readonly stuckBackoffMs: number
  /** Least time between two writes that only move lastSeen (INVENTORY_REFRESH_HOURS). */
  readonly refreshMs: number
}

export interface NextEntry {
  readonly entry: InventoryEntry
  /** False when nothing but a lastSeen inside the refresh period would change: no write. */
  readonly write: boolean
  /** Segments this observation marked stuck (to log and count once). */
  readonly newlyStuck: readonly Segment[]
  /** Firmware this observation marked failed on the gateway (to count on its rollout once). */
  readonly newlyFailed?: readonly string[]
}

/** The entry after one answered request. */
export function nextEntry(previous: InventoryEntry | undefined, observation: Observation, rules: InventoryRules): NextEntry {
  const { now, reported, desired, sent } = observation
  const nowIso = now.toISOString()
  const desiredCrcs = {
    ...(desired.cupsUri === undefined ? {} : { cupsUri: desired.cupsUri }),
    ...(desired.tcUri === undefined ? {} : { tcUri: desired.tcUri }),
    ...(desired.cupsCredentials === undefined ? {} : { cupsCredCrc: crc32(desired.cupsCredentials) }),
    ...(desired.tcCredentials === undefined ? {} : { tcCredCrc: crc32(desired.tcCredentials) }),
  }
  const converged =
    (desiredCrcs.cupsUri === undefined || desiredCrcs.cupsUri === reported.cupsUri) &&
    (desiredCrcs.tcUri === undefined || desiredCrcs.tcUri === reported.tcUri) &&
    (desiredCrcs.cupsCredCrc === undefined || desiredCrcs.cupsCredCrc === reported.cupsCredCrc) &&
    (desiredCrcs.tcCredCrc === undefined || desiredCrcs.tcCredCrc === reported.tcCredCrc)

  const segments: Partial<Record<Segment, SegmentSends>> = {}
  const newlyStuck: Segment[] = []
  for (const segment of SEGMENTS) {
    const value = valueCrc(segment, desired)
    const before = previous?.segments?.[segment]
    const reportedCrc = reportedValueCrc(segment, reported)
    if (value === undefined || value === reportedCrc) continue // not managed, or the station holds it: nothing to watch
    const sameValue = before?.crc === value
    if (!sent.includes(segment)) {
      // Not sent although it differs: held back while stuck. A stuck mark whose back-off ended, or a value
      // that changed meanwhile, is dropped.
      if (before !== undefined && sameValue && (before.stuckUntil === undefined || before.stuckUntil > nowIso)) segments[segment] = before
      continue
    }
    const repeat = before !== undefined && sameValue && before.reportedCrc === reportedCrc && before.stuckUntil === undefined
    const sends = repeat ? before.sends + 1 : 1
    if (sends >= rules.stuckAfterSends) {
      segments[segment] = { crc: value, reportedCrc, sends, stuckSince: nowIso, stuckUntil: new Date(now.getTime() + rules.stuckBackoffMs).toISOString() }
      newlyStuck.push(segment)
    } else {
      segments[segment] = { crc: value, reportedCrc, sends }
    }
  }

  const { firmware, newlyFailed } = nextFirmware(previous?.firmware, observation)

  const cupsCrc = desiredCrcs.cupsCredCrc
  let certificate = previous?.certificate
  if (cupsCrc === undefined) certificate = undefined
  else if (certificate?.crc !== cupsCrc) {
    const described = observation.certificate()
    certificate = described === undefined ? undefined : { crc: cupsCrc, ...described }
  }

  const entry: InventoryEntry = {
    version: 1,
    firstSeen: previous?.firstSeen ?? nowIso,
    lastSeen: nowIso,
    station: reported.station,
    model: reported.model,
    package: reported.package,
    reported: {
      cupsUri: reported.cupsUri,
      tcUri: reported.tcUri,
      cupsCredCrc: reported.cupsCredCrc,
      tcCredCrc: reported.tcCredCrc,
      keys: [...reported.keys],
    },
    desired: desiredCrcs,
    converged,
    ...(certificate === undefined ? {} : { certificate }),
    ...(previous?.lastRefusal === undefined ? {} : { lastRefusal: previous.lastRefusal }),
    ...(Object.keys(segments).length === 0 ? {} : { segments }),
    ...(firmware === undefined ? {} : { firmware }),
  }
  return { entry: keepLastSeen(previous, entry, rules, now), write: differs(previous, entry, rules, now), newlyStuck, newlyFailed }
}

/**
 * Firmware records after this poll: one reporting a record's version has it (succeeded), and the loop guard's
 * verdict marks one failed (once). Deliveries are counted by deliveredEntry, when a download completes.
 */
function nextFirmware(
  previous: InventoryEntry['firmware'],
  observation: Observation,
): { firmware: InventoryEntry['firmware']; newlyFailed: string[] } {
  const { now, reported, firmware: verdict } = observation
  const at = now.toISOString()
  const records: Record<string, FirmwareDeliveryRecord> = { ...previous }
  const newlyFailed: string[] = []
  for (const [id, record] of Object.entries(records)) {
    if (record.state !== 'succeeded' && reported.package === record.version) records[id] = { ...record, state: 'succeeded', settledAt: at }
  }
  if (verdict !== undefined && reported.package !== verdict.version) {
    const record = records[verdict.id]
    if (record?.state !== 'failed') {
      records[verdict.id] = { ...(record ?? { version: verdict.version, from: reported.package, deliveries: 0, lastDeliveredAt: at }), state: 'failed', settledAt: at }
      newlyFailed.push(verdict.id)
    }
  }
  return { firmware: Object.keys(records).length === 0 ? undefined : records, newlyFailed }
}

/** A firmware download that completed: every byte handed to the station's connection. */
export interface FirmwareDelivery {
  readonly now: Date
  readonly id: string
  readonly version: string
  /** The `package` the station reported in the request the update answered. */
  readonly package: string | null
}

/**
 * The entry after a completed download: one more delivery, counted while the gateway stays on the version the update
 * first found (otherwise the count starts over). A failed record stays failed: only an operator clears it.
 */
export function deliveredEntry(previous: InventoryEntry | undefined, delivery: FirmwareDelivery): NextEntry | undefined {
  if (previous === undefined) return undefined
  const record = previous.firmware?.[delivery.id]
  if (record?.state === 'failed') return { entry: previous, write: false, newlyStuck: [] }
  const counting = record?.state === 'pending' && record.from === delivery.package ? record : undefined
  const next: FirmwareDeliveryRecord = {
    version: delivery.version,
    from: delivery.package,
    deliveries: (counting?.deliveries ?? 0) + 1,
    lastDeliveredAt: delivery.now.toISOString(),
    state: 'pending',
  }
  return { entry: { ...previous, firmware: { ...previous.firmware, [delivery.id]: next } }, write: true, newlyStuck: [] }
}

/**
 * The entry after a refusal (403/404); only the refusal changes, and only when status or reason does (or the
 * refresh period passed). A gateway without an entry gets one only when `create` says so (the caller does for
 * registered gateways only, so refusing strangers never writes), holding the refusal alone: what a refused
 * caller reported is nobody's word.
 */
export function refusedEntry(
  previous: InventoryEntry | undefined,
  refusal: { now: Date; status: number; reason: string },
  rules: InventoryRules,
  create = false,
): NextEntry | undefined {
  if (previous === undefined) {
    if (!create) return undefined
    const at = refusal.now.toISOString()
    const entry: InventoryEntry = {
      version: 1,
      firstSeen: at,
      lastSeen: at,
      station: null,
      model: null,
      package: null,
      reported: { cupsUri: null, tcUri: null, cupsCredCrc: 0, tcCredCrc: 0, keys: [] },
      desired: {},
      converged: false,
      lastRefusal: { at, status: refusal.status, reason: refusal.reason },
    }
    return { entry, write: true, newlyStuck: [] }
  }
  const same = previous.lastRefusal?.status === refusal.status && previous.lastRefusal.reason === refusal.reason
  const due = refusal.now.getTime() - Date.parse(previous.lastRefusal?.at ?? '') >= rules.refreshMs
  if (same && !due) return { entry: previous, write: false, newlyStuck: [] }
  const at = refusal.now.toISOString()
  return { entry: { ...previous, lastRefusal: { at, status: refusal.status, reason: refusal.reason } }, write: true, newlyStuck: [] }
}

/** True while `segment` may not be sent: it is stuck with this very value and the station still reports the same. */
export function isHeldBack(entry: InventoryEntry | undefined, segment: Segment, value: number, reportedCrc: number, now: Date): boolean {
  const watched = entry?.segments?.[segment]
  return watched?.stuckUntil !== undefined && watched.stuckUntil > now.toISOString() && watched.crc === value && watched.reportedCrc === reportedCrc
}

export function valueCrc(segment: Segment, desired: Observation['desired']): number | undefined {
  const value = desired[segment]
  if (value === undefined) return undefined
  return typeof value === 'string' ? crc32(Buffer.from(value, 'utf8')) : crc32(value)
}

export function reportedValueCrc(segment: Segment, reported: Observation['reported']): number {
  switch (segment) {
    case 'cupsUri':
      return crc32(Buffer.from(reported.cupsUri ?? '', 'utf8'))
    case 'tcUri':
      return crc32(Buffer.from(reported.tcUri ?? '', 'utf8'))
    case 'cupsCredentials':
      return reported.cupsCredCrc
    case 'tcCredentials':
      return reported.tcCredCrc
  }
}

/**
 * Entries parsed, by the stored bytes: the read cache hands out the same Buffer until the object changes, and a poll
 * reads its gateway's entry twice (the loop guard, then the recorder). Stored bodies are never changed in place, and
 * entries are read-only.
 */
const parsedEntries = new WeakMap<Buffer, InventoryEntry | null>()

/** Parses a stored entry; undefined for anything that is not one (it is then rebuilt from the next request). */
export function parseInventoryEntry(body: Buffer): InventoryEntry | undefined {
  let entry = parsedEntries.get(body)
  if (entry === undefined) {
    entry = readInventoryEntry(body) ?? null
    parsedEntries.set(body, entry)
  }
  return entry ?? undefined
}

function readInventoryEntry(body: Buffer): InventoryEntry | undefined {
  try {
    const value = JSON.parse(body.toString('utf8')) as Partial<InventoryEntry> | null
    return value !== null && typeof value === 'object' && value.version === 1 && typeof value.firstSeen === 'string' ? (value as InventoryEntry) : undefined
  } catch {
    return undefined
  }
}

/** A change worth a write: anything but lastSeen, or lastSeen once the refresh period has passed. */
function differs(previous: InventoryEntry | undefined, next: InventoryEntry, rules: InventoryRules, now: Date): boolean {
  if (previous === undefined) return true
  if (now.getTime() - Date.parse(previous.lastSeen) >= rules.refreshMs) return true
  return !sameJson({ ...previous, lastSeen: '' }, { ...next, lastSeen: '' })
}

/** Equal as JSON would write them (an undefined field is no field; key order aside), without writing either out. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => sameJson(item, b[i]))
  const left = a as Record<string, unknown>
  const right = b as Record<string, unknown>
  const keys = Object.keys(left).filter((key) => left[key] !== undefined)
  return keys.length === Object.keys(right).filter((key) => right[key] !== undefined).length && keys.every((key) => sameJson(left[key], right[key]))
}

function keepLastSeen(previous: InventoryEntry | undefined, next: InventoryEntry, rules: InventoryRules, now: Date): InventoryEntry {
  // Inside the refresh period lastSeen stays as written, so an entry rewritten for another change is still coarse.
  if (previous === undefined || now.getTime() - Date.parse(previous.lastSeen) >= rules.refreshMs) return next
  return { ...next, lastSeen: previous.lastSeen }
}
