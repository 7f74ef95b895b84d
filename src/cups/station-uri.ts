// The URI shape the station accepts in cups.uri / tc.uri (src/net.c uri_checkHostPortUri, src/sys.c MAX_URI_LEN).
import { EncodingError } from '../errors'

/**
 * A URI the station will not accept is still saved by it, and at the next process start the station refuses to
 * start at all ("Misconfigured URI"): one bad URI bricks the gateway. So we only ever send `scheme://host:port`.
 */
const MAX_URI_BYTES = 127 // the station treats a uri file of 128 characters or more as absent
const SCHEMES = { cups: /^https?:\/\//i, tc: /^wss?:\/\//i } as const
// Host: a DNS name / IPv4 literal, or an IPv6 literal in brackets. The port is mandatory and nothing may follow it.
const HOST_PORT = /^(?:\[[0-9a-f:.]+\]|[a-z0-9._-]+):([0-9]{1,5})$/i

/** Throws EncodingError (BAD_CUPS_URI / BAD_TC_URI / URI_TOO_LONG) unless the station would accept this URI. */
export function checkStationUri(uri: string, kind: 'cups' | 'tc'): void {
  const code = kind === 'cups' ? 'BAD_CUPS_URI' : 'BAD_TC_URI'
  function fail(why: string): never {
    throw new EncodingError(code, `${kind} uri ${JSON.stringify(uri)}: ${why}`)
  }
  if (!/^[\x21-\x7e]+$/.test(uri)) fail('must be printable ASCII without whitespace')
  if (uri.length > MAX_URI_BYTES) {
    throw new EncodingError('URI_TOO_LONG', `${kind} uri is ${uri.length} bytes; the station accepts at most ${MAX_URI_BYTES}`)
  }
  const scheme = SCHEMES[kind].exec(uri)
  if (scheme === null) fail(kind === 'cups' ? 'must start with http:// or https://' : 'must start with ws:// or wss://')
  const hostPort = uri.slice(scheme[0].length)
  if (hostPort.includes('/')) fail('must not have a path (a trailing / is a path)')
  if (/[@?#]/.test(hostPort)) fail('must not contain userinfo, a query or a fragment')
  const port = HOST_PORT.exec(hostPort)?.[1]
  if (port === undefined) fail('must be scheme://host:port with a mandatory numeric port')
  if (Number(port) < 1 || Number(port) > 65535) fail('port must be 1..65535')
}
