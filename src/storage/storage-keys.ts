// Owns the storage key layout of design.md §4 (other tools write these keys too), the order keys are listed in, and whose key is whose.

/** The keys of one gateway; the EUI is 16 lowercase hex digits. */
export interface GatewayKeys {
  /** CUPS credential blob, exactly the bytes sent on the wire. */
  readonly cupsCredentials: string
  /** TC (LNS) credential blob, exactly the bytes sent on the wire. */
  readonly tcCredentials: string
  /** The gateway record (registration, state, later per-gateway settings), written by the operator. */
  readonly settings: string
  /** What the gateway last authenticated with; written by the server, read by every replica. */
  readonly lastAuthentication: string
  /** What the gateway last reported and was last sent (the fleet inventory); written by the server. */
  readonly inventory: string
}

export const DEFAULT_PREFIX = 'cups/'

const EUI = /^[0-9a-f]{16}$/
// Control characters and backslashes are legal in S3 keys but break the fs adapter and log lines.
const FORBIDDEN_IN_PREFIX = /[\u0000-\u001f\u007f\\]/

/**
 * Returns the prefix with exactly one trailing '/', or '' for "no prefix" (keys at the bucket root).
 * Throws an Error naming the problem for a prefix that is not a clean relative path.
 */
export function normalisePrefix(prefix: string): string {
  if (prefix === '') return ''
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  if (FORBIDDEN_IN_PREFIX.test(trimmed)) throw new Error(`storage prefix ${JSON.stringify(prefix)} contains a control character or backslash`)
  const segments = trimmed.split('/')
  // A leading '/', '//' or '.'/'..' would mean different objects on S3 and on the filesystem.
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new Error(`storage prefix ${JSON.stringify(prefix)} must be relative, without empty, '.' or '..' segments`)
  }
  return `${trimmed}/`
}

/** The keys of the gateway `eui` under `prefix` (normalised here, so 'cups' and 'cups/' agree). */
export function storageKeys(prefix: string, eui: string): GatewayKeys {
  // The EUI becomes a path segment; anything but the canonical form would alias or escape it.
  if (!EUI.test(eui)) throw new Error(`gateway EUI ${JSON.stringify(eui)} is not 16 lowercase hex digits`)
  const base = `${normalisePrefix(prefix)}${eui}/`
  return {
    cupsCredentials: `${base}cups_cred.bin`,
    tcCredentials: `${base}tc_cred.bin`,
    settings: `${base}gateway.json`,
    lastAuthentication: `${base}last-auth.json`,
    inventory: `${base}inventory.json`,
  }
}

/**
 * The gateway a key belongs to: the EUI of `<prefix><eui>/...`, or undefined for any other key (a stray file,
 * a folder that is not an EUI, an object directly under the prefix).
 */
export function euiFromKey(key: string, prefix: string): string | undefined {
  return euiUnder(key, normalisePrefix(prefix))
}

/** The fleet as storage holds it: every EUI with at least one object in its folder, once each, sorted. */
export function gatewayEuisOf(keys: Iterable<string>, prefix: string): string[] {
  const base = normalisePrefix(prefix)
  const euis = new Set<string>()
  for (const key of keys) {
    const eui = euiUnder(key, base)
    if (eui !== undefined) euis.add(eui)
  }
  // Lowercase hex: code-unit order is byte order, so this agrees with compareKeys.
  return [...euis].sort()
}

function euiUnder(key: string, base: string): string | undefined {
  if (!key.startsWith(base)) return undefined
  const slash = key.indexOf('/', base.length)
  const eui = key.slice(base.length, slash)
  // An object must sit inside the folder; a listing never names the folder itself.
  return slash >= 0 && slash < key.length - 1 && EUI.test(eui) ? eui : undefined
}

/** S3 lists keys in UTF-8 byte order; every adapter sorts with this so they agree beyond ASCII. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
