// CRC-32 as the station computes it (src/rt.c rt_crc32): zlib's reflected polynomial 0xEDB88320, chained over parts.
import { crc32 as zlibCrc32 } from 'node:zlib'

/** CRC-32 of the parts taken in order as if concatenated; always an unsigned 32-bit number (never int32). */
export function crc32(...parts: Uint8Array[]): number {
  return parts.reduce((crc, part) => zlibCrc32(part, crc), 0)
}
