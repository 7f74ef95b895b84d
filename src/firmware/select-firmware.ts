// selectFirmware: which update (and which of its signatures) one gateway gets now, and why not otherwise. Pure.
import { createHash } from 'node:crypto'
import type { UpdateInfoRequest } from '../cups/update-info-request'
import type { FirmwareManifest, FirmwareSignature, Rollout } from './firmware-manifest'
import { ROLLOUT_DEFAULTS } from './firmware-manifest'
import { compareVersions, stationVersion } from './versions'

/** One firmware as the decision sees it; `signatures` holds only those checked against the stored update. */
export interface FirmwareOffer {
  readonly manifest: FirmwareManifest
  readonly rollout: Rollout | undefined
  readonly signatures: readonly FirmwareSignature[]
}

/** What the inventory keeps per gateway and firmware (the loop guard and `firmware status`). */
export interface FirmwareDeliveryRecord {
  /** The version the update installs. */
  readonly version: string
  /** The `package` the gateway reported when it was first sent the update. */
  readonly from: string | null
  readonly deliveries: number
  readonly lastDeliveredAt: string
  readonly state: 'pending' | 'succeeded' | 'failed'
  readonly settledAt?: string
}

/** The record's `firmware` field. */
export type FirmwarePreference = { readonly pin: string; readonly allowUnsigned?: boolean | undefined } | { readonly channel: string } | undefined

export interface SelectFirmwareInput {
  readonly eui: string
  readonly request: Pick<UpdateInfoRequest, 'model' | 'package' | 'station' | 'keys'>
  readonly labels: Readonly<Record<string, string>>
  readonly preference: FirmwarePreference
  /** Every published firmware by id, with its rollout if it has one. */
  readonly catalogue: ReadonlyMap<string, FirmwareOffer>
  readonly deliveries: Readonly<Record<string, FirmwareDeliveryRecord>> | undefined
  readonly now: Date
}

export type FirmwareChoice =
  | { readonly send: FirmwareOffer; readonly signature: FirmwareSignature | undefined; readonly reason: string }
  | {
      readonly none: string
      /** The loop guard's verdict on this poll: the gateway kept its old version after the last allowed delivery. */
      readonly failed?: { readonly id: string; readonly version: string }
    }

export function selectFirmware(input: SelectFirmwareInput): FirmwareChoice {
  const { preference, catalogue } = input
  if (preference !== undefined && 'pin' in preference) {
    const pinned = catalogue.get(preference.pin)
    if (pinned === undefined) return { none: `pinned to firmware ${preference.pin}, which is not in the catalogue` }
    // A pin is the operator asking for exactly this firmware: no rollout, no ramp, a downgrade allowed.
    return deliver(input, pinned, { allowDowngrade: true, allowUnsigned: preference.allowUnsigned === true, maxDeliveries: ROLLOUT_DEFAULTS.maxDeliveries }, `pinned by its record`)
  }
  const channel = preference === undefined ? undefined : preference.channel
  const targeting: { offer: FirmwareOffer; rollout: Rollout }[] = []
  const reasons: string[] = []
  for (const offer of catalogue.values()) {
    const { rollout } = offer
    if (rollout === undefined || rollout.channel !== channel) continue
    const miss = missesRollout(input, offer.manifest, rollout)
    if (miss === undefined) targeting.push({ offer, rollout })
    else reasons.push(`${offer.manifest.id}: ${miss}`)
  }
  if (targeting.length === 0) return { none: reasons.length === 0 ? 'no active rollout' : `no rollout selects it (${reasons.join('; ')})` }
  // The newest version first; among equal versions the latest published.
  targeting.sort(({ offer: a }, { offer: b }) => compareVersions(b.manifest.version, a.manifest.version) || b.manifest.publishedAt.localeCompare(a.manifest.publishedAt))
  const choices: FirmwareChoice[] = []
  for (const { offer, rollout } of targeting) {
    const choice = deliver(input, offer, rollout, `rollout of ${offer.manifest.id} at ${String(rollout.percent)} %`)
    if ('send' in choice || choice.failed !== undefined) return choice
    choices.push(choice)
  }
  // The newest version's reason is the one worth reading.
  return choices[0] ?? { none: 'no active rollout' }
}

/** The stable share of gateways a percentage selects: the first 4 bytes of sha256(id, eui) against percent/100. */
export function inRamp(eui: string, firmwareId: string, percent: number): boolean {
  if (percent >= 100) return true
  const value = createHash('sha256').update(`${firmwareId}\n${eui}`).digest().readUInt32BE(0)
  return value / 0x1_0000_0000 < percent / 100
}

/** Why the rollout does not select this gateway; undefined when it does. */
function missesRollout(input: SelectFirmwareInput, manifest: FirmwareManifest, rollout: Rollout): string | undefined {
  if (rollout.state !== 'active') return `halted${rollout.haltedReason === undefined ? '' : ` (${rollout.haltedReason})`}`
  if (rollout.notBefore !== undefined && Date.parse(rollout.notBefore) > input.now.getTime()) return `not before ${rollout.notBefore}`
  const model = input.request.model ?? ''
  if (rollout.models !== undefined && !rollout.models.includes(model)) return `for models ${rollout.models.join(', ')}, not ${model || 'none'}`
  const packageVersion = input.request.package ?? ''
  if (rollout.from !== undefined && !rollout.from.includes(packageVersion)) return `the rollout upgrades from ${rollout.from.join(', ')}`
  for (const [name, value] of Object.entries(rollout.labels ?? {})) {
    if (input.labels[name] !== value) return `label ${name}=${value} not on its record`
  }
  if (rollout.euis?.includes(input.eui) === true) return undefined
  if (!inRamp(input.eui, manifest.id, rollout.percent)) return `outside the first ${String(rollout.percent)} % of the ramp`
  return undefined
}

function deliver(
  input: SelectFirmwareInput,
  offer: FirmwareOffer,
  rules: Pick<Rollout, 'allowDowngrade' | 'allowUnsigned' | 'maxDeliveries'>,
  why: string,
): FirmwareChoice {
  const { request } = input
  const { manifest } = offer
  const packageVersion = request.package
  if (packageVersion === null) return { none: 'the station reports no package (it has no version.txt)' }
  if (packageVersion === manifest.version) return { none: `it runs ${manifest.version} already` }
  if (!manifest.from.includes(packageVersion)) return { none: `${manifest.id} upgrades from ${manifest.from.join(', ')}, the station runs ${packageVersion}` }
  if (!rules.allowDowngrade && compareVersions(manifest.version, packageVersion) < 0) {
    return { none: `${manifest.id} would downgrade ${packageVersion} to ${manifest.version} (not allowed by its rollout)` }
  }
  if (manifest.models !== undefined && !manifest.models.includes(request.model ?? '')) return { none: `${manifest.id} is for models ${manifest.models.join(', ')}` }
  const station = stationVersion(request.station)
  if (manifest.stations !== undefined && (station === undefined || !manifest.stations.includes(station))) {
    return { none: `${manifest.id} is for station versions ${manifest.stations.join(', ')}, not ${station ?? 'unknown'}` }
  }
  const record = input.deliveries?.[manifest.id]
  if (record?.state === 'failed') return { none: `${manifest.id} failed on this gateway (${record.settledAt ?? ''}): not sent again` }
  // Counted from the version it was first sent to: a gateway that moved on (by hand, another update) starts over.
  if (record?.state === 'pending' && record.from === packageVersion && record.deliveries >= rules.maxDeliveries) {
    return {
      none: `loop guard: ${manifest.id} was delivered ${String(record.deliveries)} times and the station still runs ${packageVersion}`,
      failed: { id: manifest.id, version: manifest.version },
    }
  }
  if (request.keys.length === 0) {
    // A keyless station runs whatever it gets, and discards a signed update it cannot check.
    if (!rules.allowUnsigned) return { none: `the station has no signing keys, and ${manifest.id} goes unsigned only where allowed (--allow-unsigned)` }
    return { send: offer, signature: undefined, reason: `${why}; unsigned (the station has no keys)` }
  }
  // The station tries each of its keys; any signature one of them verifies will do, so a rotation needs no order.
  const signature = offer.signatures.find((candidate) => request.keys.includes(candidate.keyCrc))
  if (signature === undefined) {
    return { none: `${manifest.id} has no signature for the station's keys (${request.keys.join(', ')}); it would discard the update` }
  }
  return { send: offer, signature, reason: `${why}; signed for key ${String(signature.keyCrc)}` }
}
