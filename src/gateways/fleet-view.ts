// The fleet as storage holds it, read-only: one row per gateway for `gateway list`, read a bounded number at a time.
import { certificateNotAfter } from '../pki/certificate-expiry'
import type { BlobStore } from '../storage/blob-store'
import { gatewayEuisOf, normalisePrefix, storageKeys } from '../storage/storage-keys'
import type { GatewayKeys } from '../storage/storage-keys'
import { bundleMaterial } from './access-policy'
import { SEGMENTS, parseInventoryEntry } from './inventory'
import type { Segment } from './inventory'
import { inventoryView } from './inventory-view'
import { readRecordState } from './record-state'
import type { FleetState } from './record-state'

export interface FleetRow {
  readonly eui: string
  readonly name: string | null
  readonly state: FleetState
  /**
   * yes: the CUPS bundle holds a certificate, a key or a token; unusable: a bundle a station could not parse
   * (the server counts it as provisioned, failing closed, and never sends it).
   */
  readonly provisioned: 'yes' | 'no' | 'unusable'
  /** notAfter of the client certificate in the CUPS bundle, ISO 8601. */
  readonly certificateNotAfter: string | null
  readonly lastSeen: string | null
  readonly station: string | null
  readonly package: string | null
  readonly converged: boolean | null
  /** Segments the loop guard holds back now (stuckUntil still ahead). */
  readonly stuck: readonly Segment[]
}

export interface FleetOptions {
  readonly now: Date
  /** Gateways read at once (default 32): enough to hide storage latency, few enough to spare S3 and the event loop. */
  readonly concurrency?: number
  /** Only rows this accepts are kept; the rest are dropped as soon as they are read. */
  readonly keep?: (row: FleetRow) => boolean
  /** Called after each gateway is read (a progress line for a large fleet). */
  readonly progress?: (read: number, total: number) => void
}

export interface FleetCriteria {
  readonly state?: FleetState
  /** Held back by the loop guard now. */
  readonly stuck?: boolean
  /** The CUPS client certificate expires within this many milliseconds from now (expired ones included). */
  readonly expiringWithinMs?: number
}

/** The rows `gateway list` keeps; a gateway without a client certificate never counts as expiring. */
export function fleetFilter(criteria: FleetCriteria, now: Date): (row: FleetRow) => boolean {
  const horizon = criteria.expiringWithinMs === undefined ? undefined : now.getTime() + criteria.expiringWithinMs
  return (row) =>
    (criteria.state === undefined || row.state === criteria.state) &&
    (criteria.stuck !== true || row.stuck.length > 0) &&
    (horizon === undefined || (row.certificateNotAfter !== null && Date.parse(row.certificateNotAfter) <= horizon))
}

/** One row per gateway with any object in its folder, sorted by EUI; the storage prefix is listed once. */
export async function listFleet(store: BlobStore, prefix: string, options: FleetOptions): Promise<FleetRow[]> {
  const euis = gatewayEuisOf(await store.list(normalisePrefix(prefix)), prefix)
  const keep = options.keep ?? (() => true)
  let read = 0
  const rows = await mapBounded(euis, options.concurrency ?? 32, async (eui) => {
    const row = await readFleetRow(store, storageKeys(prefix, eui), eui, options.now)
    options.progress?.(++read, euis.length)
    return keep(row) ? row : undefined
  })
  return rows.filter((row) => row !== undefined)
}

async function readFleetRow(store: BlobStore, keys: GatewayKeys, eui: string, now: Date): Promise<FleetRow> {
  const [record, cups, inventory] = await Promise.all([store.get(keys.settings), store.get(keys.cupsCredentials), store.get(keys.inventory)])
  const reading = readRecordState(record)
  // Only what the row needs is kept: the bundle's Buffer is dropped with this call.
  const material = cups === undefined ? undefined : bundleMaterial(cups.body)
  const entry = inventory === undefined ? undefined : parseInventoryEntry(inventory.body)
  const view = entry === undefined ? undefined : inventoryView(entry, now)
  return {
    eui,
    name: typeof reading?.fields?.name === 'string' ? reading.fields.name : null,
    state: reading?.state ?? 'unregistered',
    provisioned: material?.provisioned !== true ? 'no' : material.usable ? 'yes' : 'unusable',
    certificateNotAfter: material?.certificate === undefined ? null : notAfterOf(material.certificate),
    lastSeen: view?.lastSeen ?? null,
    station: view?.station ?? null,
    package: view?.package ?? null,
    converged: view?.converged ?? null,
    stuck: view === undefined ? [] : SEGMENTS.filter((segment) => view.segments[segment]?.stuck === true),
  }
}

function notAfterOf(certificate: Buffer): string | null {
  try {
    return certificateNotAfter(certificate).toISOString()
  } catch {
    return null
  }
}

/** task over items, at most `limit` at once, results in input order; after a failure nothing new is started. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length)
  let next = 0
  let failed = false
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++
      try {
        results[index] = await task(items[index] as T)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
