// stationBody: an update-info request as a Basics Station 2.0.6 with no credential files sends it.

/** crc32 of twelve zero bytes: what a station reports for a credential set with no files (cups-protocol.md rule 6). */
export const EMPTY_SET_CRC = 2077607535

export interface StationRequest {
  readonly router: string
  readonly cupsUri: string
  readonly tcUri: string | null
  readonly cupsCredCrc: number
  readonly tcCredCrc: number
  readonly station: string
  readonly model: string
  readonly package: string | null
  readonly keys: readonly number[]
}

export function stationRequest(overrides: Partial<StationRequest> = {}): StationRequest {
  return {
    router: '16:c001:ff10:a235',
    cupsUri: 'https://localhost:8443',
    tcUri: null,
    cupsCredCrc: EMPTY_SET_CRC,
    tcCredCrc: EMPTY_SET_CRC,
    station: '2.0.6(linux/testsim) 2026-11-23 19:46:54',
    model: 'linux',
    package: '1.0.0',
    keys: [],
    ...overrides,
  }
}

/** The compact JSON the station sends (keys in its order, no spaces). */
export function stationBody(overrides: Partial<StationRequest> = {}): string {
  return JSON.stringify(stationRequest(overrides))
}
