// decideUpdate: which segments one answer carries and why, from the request, the settings and each bundle's verdict. Pure.
import { crc32 } from '../cups/crc32'
import { planUpdate } from '../cups/plan-update'
import type { DesiredGatewayState } from '../cups/plan-update'
import type { UpdateInfoRequest } from '../cups/update-info-request'
import type { UpdateInfoResponse } from '../cups/update-info-response'
import type { Proof } from './access-policy'
import { isHeldBack, reportedValueCrc, SEGMENTS, valueCrc } from './inventory'
import type { InventoryEntry, Segment } from './inventory'

/**
 * One credential bundle as the decision sees it:
 * - bundle: known bytes (stored, or created by the server for this answer);
 * - pending: one the server creates for this answer (a mint or a rewrap). Only `gateway preview` passes these,
 *   since it creates nothing; new bytes always differ from what the station holds, so they are sent;
 * - none: nothing to send, and why (withheld, or it could not be prepared).
 */
export type BundleChoice =
  | { readonly bundle: Buffer; readonly reason: string }
  | { readonly pending: 'mint' | 'rewrap'; readonly reason: string }
  | { readonly none: string }

export interface SegmentDecision {
  readonly send: boolean
  readonly reason: string
}

export interface DecideInput {
  readonly request: UpdateInfoRequest
  /** The gateway's effective settings (record over environment). */
  readonly cupsUri: string | undefined
  readonly tcUri: string | undefined
  readonly proof: Proof
  readonly cups: BundleChoice
  /** Undefined when it was not asked for (see wantsTcCredentials). */
  readonly tc: BundleChoice | undefined
  /** The gateway's inventory entry, for the loop guard. */
  readonly inventory: InventoryEntry | undefined
  readonly now: Date
}

export interface Decision {
  /** What this server wants the gateway to hold (known values only): the inventory records it. */
  readonly desired: DesiredGatewayState
  /** The answer's segments with their bytes; pending bundles are not in it. */
  readonly response: UpdateInfoResponse
  /** Every segment: sent or not, and why. Worked out on demand: a poll needs only `response`, a preview the words. */
  explain(): Readonly<Record<Segment, SegmentDecision>>
  /** Segments the loop guard holds back (stuck). */
  readonly heldBack: readonly Segment[]
}

/**
 * Whether TC credentials are prepared at all. Without a TC URI the station keeps polling us, so there is
 * nothing to send them for. A caller who proved nothing gets the TC key only together with its own CUPS
 * identity: otherwise, while CUPS minting fails, every anonymous request would walk away with the TC key.
 */
export function wantsTcCredentials(tcUri: string | undefined, proof: Proof, cups: BundleChoice): boolean {
  return tcUri !== undefined && (proof !== 'bootstrap' || !('none' in cups))
}

export function decideUpdate(input: DecideInput): Decision {
  const { request, cupsUri, tcUri, cups, tc, now } = input
  const desired: { -readonly [K in keyof DesiredGatewayState]: DesiredGatewayState[K] } = {}
  if (cupsUri !== undefined) desired.cupsUri = cupsUri
  if ('bundle' in cups) desired.cupsCredentials = cups.bundle
  // Without credentials a new LNS URI would only fail; with no tc.uri the station keeps polling us.
  const tcReady = tc !== undefined && !('none' in tc)
  if (tcUri !== undefined && tcReady) {
    desired.tcUri = tcUri
    if ('bundle' in tc) desired.tcCredentials = tc.bundle
  }
  const held = heldBack(input.inventory, request, desired, now)
  const response = planUpdate(request, held.desired)

  const reasonFor = (segment: Segment): SegmentDecision => {
    if (held.segments.includes(segment)) return { send: false, reason: stuckReason(input.inventory, segment) }
    const sent = response[segment] !== undefined
    switch (segment) {
      case 'cupsUri':
        if (cupsUri === undefined) return { send: false, reason: 'not managed here: neither its record nor CUPS_URI sets one' }
        return sent ? { send: true, reason: `the station reports ${shown(request.cupsUri)}, it should use ${cupsUri}` } : { send: false, reason: 'the station holds it already' }
      case 'tcUri':
        if (tcUri === undefined) return { send: false, reason: 'not managed here: neither its record nor TC_URI sets one' }
        if (!tcReady) return { send: false, reason: 'not sent without TC credentials to go with it' }
        return sent ? { send: true, reason: `the station reports ${shown(request.tcUri)}, it should use ${tcUri}` } : { send: false, reason: 'the station holds it already' }
      case 'cupsCredentials':
        return bundleReason(cups, request.cupsCredCrc, sent)
      case 'tcCredentials':
        if (tcUri === undefined) return { send: false, reason: 'not managed here: there is no TC URI to use them with' }
        if (tc === undefined) return { send: false, reason: 'a caller who proved nothing gets the TC key only together with its own CUPS identity' }
        return bundleReason(tc, request.tcCredCrc, sent)
    }
  }
  const explain = (): Record<Segment, SegmentDecision> =>
    Object.fromEntries(SEGMENTS.map((segment) => [segment, reasonFor(segment)])) as Record<Segment, SegmentDecision>
  return { desired, response, explain, heldBack: held.segments }
}

function bundleReason(choice: BundleChoice, reportedCrc: number, sent: boolean): SegmentDecision {
  if ('none' in choice) return { send: false, reason: choice.none }
  if ('pending' in choice) return { send: true, reason: choice.reason }
  const crc = crc32(choice.bundle)
  if (sent) return { send: true, reason: `${choice.reason}; the station reports CRC ${String(reportedCrc)}, this one is ${String(crc)}` }
  return { send: false, reason: `the station holds it already (CRC ${String(crc)}): ${choice.reason}` }
}

function stuckReason(entry: InventoryEntry | undefined, segment: Segment): string {
  const sends = entry?.segments?.[segment]
  return `held back by the loop guard: sent ${String(sends?.sends ?? 0)} times while the station kept reporting the same, until ${sends?.stuckUntil ?? '?'}`
}

function shown(value: string | null): string {
  return value === null || value === '' ? 'none' : value
}

/** The desired state without segments the loop guard holds back (stuck, same value, same report). */
function heldBack(
  entry: InventoryEntry | undefined,
  request: UpdateInfoRequest,
  desired: DesiredGatewayState,
  now: Date,
): { desired: DesiredGatewayState; segments: Segment[] } {
  if (entry?.segments === undefined) return { desired, segments: [] }
  const kept: { -readonly [K in keyof DesiredGatewayState]: DesiredGatewayState[K] } = { ...desired }
  const segments: Segment[] = []
  for (const segment of SEGMENTS) {
    const value = valueCrc(segment, desired)
    if (value !== undefined && isHeldBack(entry, segment, value, reportedValueCrc(segment, request), now)) {
      Reflect.deleteProperty(kept, segment)
      segments.push(segment)
    }
  }
  return { desired: kept, segments }
}
