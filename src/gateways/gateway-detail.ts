// readGatewayDetail: one gateway as storage holds it, every object decoded for `gateway show`; read-only, secrets redacted.
import type { BlobStore, StoredBlob } from '../storage/blob-store'
import { normalisePrefix, storageKeys } from '../storage/storage-keys'
import { describeBundle } from './bundle-description'
import type { BundleDescription } from './bundle-description'
import { parseInventoryEntry } from './inventory'
import { inventoryView } from './inventory-view'
import type { InventoryView } from './inventory-view'
import { parseLastAuthentication } from './last-authentication'
import { readRecordState, unusableObject } from './record-state'
import type { FleetState, RecordState } from './record-state'
import { redactRecordFields } from './redaction'

/** An object that is stored but cannot be read as what it should be. */
export interface Unreadable {
  readonly readable: false
  readonly problem: string
}

export interface RecordView {
  /** As stored, the TC token redacted unless asked for; null when the document is not a JSON object. */
  readonly fields: Readonly<Record<string, unknown>> | null
  /** `field: reason` for each schema problem, or why the document is no record at all. */
  readonly problems: readonly string[]
}

export type BundleView = BundleDescription & {
  /** The station's last report (inventory) carries this CRC, i.e. it holds this bundle; null without a report. */
  readonly heldByStation: boolean | null
}

/** last-auth.json: how the gateway last proved itself; it never holds a token. */
export interface LastAuthenticationView {
  readonly readable: true
  readonly via: 'certificate' | 'token'
  readonly serial: string | null
  readonly sha256: string | null
  readonly at: string | null
}

export interface GatewayDetail {
  readonly eui: string
  readonly state: FleetState
  /** Every object in the gateway's folder, by name. */
  readonly objects: readonly string[]
  readonly record: RecordView | null
  readonly cupsCredentials: BundleView | null
  readonly tcCredentials: BundleView | null
  readonly inventory: InventoryView | Unreadable | null
  readonly lastAuthentication: LastAuthenticationView | Unreadable | null
}

/** One gateway in full; undefined when nothing at all is stored for it. */
export async function readGatewayDetail(
  store: BlobStore,
  prefix: string,
  eui: string,
  options: { readonly now: Date; readonly revealToken?: boolean },
): Promise<GatewayDetail | undefined> {
  const keys = storageKeys(prefix, eui)
  const folder = `${normalisePrefix(prefix)}${eui}/`
  // Read every key, listed or not: the filesystem store lists no symlink, but reads one as an unusable object.
  const [listed, record, cups, tc, inventory, lastAuth] = await Promise.all([
    store.list(folder),
    store.get(keys.settings),
    store.get(keys.cupsCredentials),
    store.get(keys.tcCredentials),
    store.get(keys.inventory),
    store.get(keys.lastAuthentication),
  ])
  const objects = listed.map((key) => key.slice(folder.length))
  if (objects.length === 0 && [record, cups, tc, inventory, lastAuth].every((stored) => stored === undefined)) return undefined
  const reading = readRecordState(record)
  const entry = inventory === undefined ? undefined : parseInventoryEntry(inventory.body)
  const view = entry === undefined ? undefined : inventoryView(entry, options.now)
  const describe = (stored: StoredBlob | undefined, reported: number | null): BundleView | null =>
    stored === undefined ? null : bundleView(stored, reported, options.revealToken === true)
  return {
    eui,
    state: reading?.state ?? 'unregistered',
    objects,
    record: reading === undefined ? null : recordView(reading, options.revealToken === true),
    cupsCredentials: describe(cups, view?.reported.cupsCredCrc ?? null),
    tcCredentials: describe(tc, view?.reported.tcCredCrc ?? null),
    inventory: inventory === undefined ? null : (view ?? unreadable(inventory, 'not an inventory entry')),
    lastAuthentication: lastAuth === undefined ? null : lastAuthenticationView(lastAuth),
  }
}

function recordView(reading: RecordState, revealToken: boolean): RecordView {
  const fields = reading.fields === null || revealToken ? reading.fields : redactRecordFields(reading.fields)
  return { fields, problems: reading.problems }
}

function bundleView(stored: StoredBlob, reported: number | null, revealToken: boolean): BundleView {
  const description = describeBundle(stored.body, { revealToken })
  const heldByStation = reported === null ? null : reported === description.crc32
  // An object the store refused to read (a symlink, over the size cap) says nothing about a station's parser.
  if (stored.unusable !== undefined) return { ...description, problem: unusableObject(stored.unusable), heldByStation }
  return { ...description, heldByStation }
}

function lastAuthenticationView(stored: StoredBlob): LastAuthenticationView | Unreadable {
  const last = parseLastAuthentication(stored)
  if (last === undefined) return unreadable(stored, 'not a last-authentication record (it vouches for nothing)')
  const at = last.at === '' ? null : last.at
  if (last.via === 'token') return { readable: true, via: 'token', serial: null, sha256: null, at }
  return { readable: true, via: 'certificate', serial: last.serial === '' ? null : last.serial, sha256: last.sha256, at }
}

function unreadable(stored: StoredBlob, problem: string): Unreadable {
  return { readable: false, problem: stored.unusable === undefined ? problem : unusableObject(stored.unusable) }
}
