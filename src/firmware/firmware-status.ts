// firmwareStatus: per firmware, how many gateways it targets now and how its deliveries ended (`firmware status`). Pure.
import type { FirmwareManifest, Rollout } from './firmware-manifest'
import { selectFirmware } from './select-firmware'
import type { FirmwareDeliveryRecord, FirmwareOffer, FirmwarePreference } from './select-firmware'

/** What the status needs of a gateway's inventory entry (gateways/inventory.ts InventoryEntry fits). */
export interface GatewayReport {
  readonly model: string | null
  readonly package: string | null
  readonly station: string | null
  readonly reported: { readonly keys: readonly number[] }
  readonly firmware?: Readonly<Record<string, FirmwareDeliveryRecord>> | undefined
}

/** One gateway as status sees it: what its record says and what it last reported (its inventory entry). */
export interface StatusGateway {
  readonly eui: string
  readonly labels: Readonly<Record<string, string>>
  /** The record's `firmware` field. */
  readonly preference: FirmwarePreference
  /** Undefined for a gateway that never reported: it cannot be targeted (no package), nor has it been sent anything. */
  readonly inventory: GatewayReport | undefined
  /** False when the server would not answer it (a disabled, revoked or invalid record): it counts as targeted only once delivered. Default true. */
  readonly servable?: boolean
}

export interface FirmwareCounts {
  /** Gateways the server would send this firmware now, plus those it was already sent to. */
  readonly targeted: number
  /** Gateways sent it at least once (their inventory's firmware record has deliveries > 0). */
  readonly delivered: number
  readonly succeeded: number
  readonly failed: number
  /** Delivered, and not yet running its version. */
  readonly pending: number
}

export interface RolloutSummary {
  readonly state: Rollout['state']
  readonly percent: number
  /** null: gateways whose record names no channel. */
  readonly channel: string | null
  readonly notBefore: string | null
  readonly failures: number
  readonly haltAfterFailures: number
  readonly haltedAt: string | null
  readonly haltedReason: string | null
}

export interface FirmwareStatus {
  readonly id: string
  readonly version: string
  readonly from: readonly string[]
  /** null: every model. */
  readonly models: readonly string[] | null
  /** null: every station version. */
  readonly stations: readonly string[] | null
  readonly size: number
  readonly publishedAt: string
  /** crc32 of each station key it is signed for: what a station holding that key reports in `keys`. */
  readonly keyCrcs: readonly number[]
  /** null: no rollout (it reaches only gateways pinned to it). */
  readonly rollout: RolloutSummary | null
  readonly gateways: FirmwareCounts
}

const OUTCOMES = ['succeeded', 'failed', 'pending'] as const

/**
 * One status per offer, in the catalogue's order. Targeting asks selectFirmware with the whole catalogue, as the
 * server does: a gateway that a newer firmware's rollout also selects counts for that one only.
 */
export function firmwareStatus(catalogue: ReadonlyMap<string, FirmwareOffer>, gateways: readonly StatusGateway[], now: Date): FirmwareStatus[] {
  const counts = new Map<string, { targeted: number; delivered: number; succeeded: number; failed: number; pending: number }>()
  for (const id of catalogue.keys()) counts.set(id, { targeted: 0, delivered: 0, succeeded: 0, failed: 0, pending: 0 })
  for (const gateway of gateways) {
    const wouldSend = wouldBeSent(gateway, catalogue, now)
    for (const [id, count] of counts) {
      const record = gateway.inventory?.firmware?.[id]
      const delivered = record !== undefined && record.deliveries > 0
      if (delivered) {
        count.delivered++
        // Inventory is read as stored (other tools may write it): a state outside the three counts as none.
        const outcome = OUTCOMES.find((state) => state === record.state)
        if (outcome !== undefined) count[outcome]++
      }
      if (delivered || wouldSend === id) count.targeted++
    }
  }
  return [...catalogue.values()].map(({ manifest, rollout, signatures }) => ({
    ...describeManifest(manifest),
    keyCrcs: signatures.map((signature) => signature.keyCrc),
    rollout: rollout === undefined ? null : summariseRollout(rollout),
    gateways: counts.get(manifest.id) ?? { targeted: 0, delivered: 0, succeeded: 0, failed: 0, pending: 0 },
  }))
}

export function summariseRollout(rollout: Rollout): RolloutSummary {
  return {
    state: rollout.state,
    percent: rollout.percent,
    channel: rollout.channel ?? null,
    notBefore: rollout.notBefore ?? null,
    failures: rollout.failures,
    haltAfterFailures: rollout.haltAfterFailures,
    haltedAt: rollout.haltedAt ?? null,
    haltedReason: rollout.haltedReason ?? null,
  }
}

/** The firmware id the server would send this gateway on its next poll, as its last report stands. */
function wouldBeSent(gateway: StatusGateway, catalogue: ReadonlyMap<string, FirmwareOffer>, now: Date): string | undefined {
  const entry = gateway.inventory
  if (entry === undefined || gateway.servable === false) return undefined
  // parseInventoryEntry checks little but the version: an entry another tool wrote may lack `reported`.
  const reported = entry.reported as Partial<GatewayReport['reported']> | undefined
  const keys = Array.isArray(reported?.keys) ? reported.keys : []
  const choice = selectFirmware({
    eui: gateway.eui,
    // What the station reported last is what it will report next, until an update changes its package.
    request: { model: entry.model, package: entry.package, station: entry.station, keys },
    labels: gateway.labels,
    preference: gateway.preference,
    catalogue,
    deliveries: entry.firmware,
    now,
  })
  return 'send' in choice ? choice.send.manifest.id : undefined
}

function describeManifest(manifest: FirmwareManifest): Omit<FirmwareStatus, 'keyCrcs' | 'rollout' | 'gateways'> {
  return {
    id: manifest.id,
    version: manifest.version,
    from: manifest.from,
    models: manifest.models ?? null,
    stations: manifest.stations ?? null,
    size: manifest.size,
    publishedAt: manifest.publishedAt,
  }
}
