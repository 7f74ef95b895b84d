// The station's router id: parse every text form it may send (ID6, hex, EUI-64) and format ID6 like src/uj.c encId6.

/** The router id text is none of the forms the station or its tools produce. */
export class InvalidRouterIdError extends Error {
  override readonly name = 'InvalidRouterIdError'
}

const HEX16 = /^[0-9a-f]{16}$/
const DASHED_EUI = /^[0-9a-f]{2}(?:-[0-9a-f]{2}){7}$/
// 8 colon-separated bytes: never ID6, which has at most 4 groups.
const COLON_EUI = /^[0-9a-f]{2}(?::[0-9a-f]{2}){7}$/
const ID6_GROUP = /^[0-9a-f]{1,4}$/

/** Parses ID6 (`16:c001:ff10:a235`, `::1`, `a::d`, ...), 16 hex digits or an EUI-64 with `-` or `:`; returns 16 lowercase hex digits. */
export function parseRouterId(text: string): string {
  const lower = text.toLowerCase()
  if (HEX16.test(lower)) return lower
  if (DASHED_EUI.test(lower) || COLON_EUI.test(lower)) return lower.replace(/[-:]/g, '')
  const groups = id6Groups(lower)
  if (groups === undefined) {
    const shown = JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text)
    throw new InvalidRouterIdError(
      `invalid router id ${shown}: expected ID6 (e.g. 16:c001:ff10:a235 or ::1), 16 hex digits or an EUI-64 like 00-16-c0-01-ff-10-a2-35`,
    )
  }
  return groups.map((group) => group.padStart(4, '0')).join('')
}

/** ID6 is IPv6 notation over 64 bits: four 16-bit groups, at most one `::` standing for one or more zero groups. */
function id6Groups(text: string): string[] | undefined {
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const [head = '', tail] = halves
  const split = (part: string): string[] => (part === '' ? [] : part.split(':'))
  const left = split(head)
  const right = tail === undefined ? [] : split(tail)
  const given = [...left, ...right]
  if (!given.every((group) => ID6_GROUP.test(group))) return undefined
  if (tail === undefined) return given.length === 4 ? given : undefined
  if (given.length > 3) return undefined
  return [...left, ...Array<string>(4 - given.length).fill('0'), ...right]
}

/** The station's own ID6 text for an EUI (16 hex digits): lowercase, no leading zeros, `::` only in encId6's fixed patterns. */
export function formatId6(eui: string): string {
  if (!HEX16.test(eui.toLowerCase())) throw new InvalidRouterIdError(`invalid EUI ${JSON.stringify(eui)}: expected 16 hex digits`)
  const [g0, g1, g2, g3] = [0, 4, 8, 12].map((at) => parseInt(eui.slice(at, at + 4), 16)) as [number, number, number, number]
  const hex = (group: number): string => group.toString(16)
  if (g0 === 0 && g1 === 0) return g2 === 0 ? `::${hex(g3)}` : `::${hex(g2)}:${hex(g3)}`
  if (g2 === 0 && g3 === 0) return g1 === 0 ? `${hex(g0)}::` : `${hex(g0)}:${hex(g1)}::`
  if (g1 === 0 && g2 === 0) return `${hex(g0)}::${hex(g3)}`
  return [g0, g1, g2, g3].map(hex).join(':')
}
