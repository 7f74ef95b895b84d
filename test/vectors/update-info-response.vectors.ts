// Annotated byte vectors for encodeUpdateInfoResponse (mqtt-packet style): the expected side is plain data.
//
// Provenance: the layout is the station's parser (src/cups.c sizelen: 1, 1, 2, 2, 4, 4-byte little-endian
// lengths; sigLen counts the 4-byte keyCrc) and the reference server's struct packing (pysys/tcutils.py:
// '<B' uri, '<H' cred, '<II' sigLen + keyCrc, '<I' update). Length bytes were cross-checked with Python
// struct.pack (e.g. struct.pack('<II', 12, 3420020549) == 0c000000 455fd9cb). Credential bytes are files the
// real station 2.0.6 wrote (fixtures/basicstation-2.0.6/tc-files-written); the signature is a minimal DER
// SEQUENCE{INTEGER 1, INTEGER 2}: layout only, verification is covered by fixtures.test.ts.
import type { UpdateInfoResponse } from '../../src/cups/update-info-response'
import { readFixture } from '../support/fixtures'

export interface ResponseVector {
  readonly name: string
  readonly response: UpdateInfoResponse
  readonly bytes: readonly number[]
}

const TRUST = readFixture('tc-files-written/tc.trust') // 387 bytes, 30 82 01 7f ...
const CERT = readFixture('tc-files-written/tc.crt') // 384 bytes
const SEC1_KEY = readFixture('tc-files-written/tc.key') // 121 bytes, 30 77 ...
const TC_BLOB = Buffer.concat([TRUST, CERT, SEC1_KEY]) // 892 bytes = 0x037c
const TOKEN = Buffer.from('Authorization: Bearer abc\r\n', 'latin1') // 27 bytes
const TOKEN_BLOB = Buffer.concat([TRUST, Buffer.alloc(4), TOKEN]) // 418 bytes = 0x01a2
const SIG_DER = Buffer.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02]) // 8 bytes
const KEY_CRC = 3420020549 // 0xcbd95f45 = crc32(sig-0.key) of the fixtures
const UPDATE = Buffer.from('exit 0\n', 'latin1') // 7 bytes
const CUPS_URI = 'https://cups.example.com:443' // 28 bytes = 0x1c
const TC_URI = 'wss://lns.example.com:8887' // 26 bytes = 0x1a
const MAX_URI = `https://${'a'.repeat(60)}.${'b'.repeat(53)}:6040` // 127 bytes = 0x7f, the station's limit

const ascii = (text: string): number[] => [...Buffer.from(text, 'latin1')]

export const vectors: readonly ResponseVector[] = [
  {
    // The "null" response of doc: cupsproto.rst and examples/cups/README.md.
    name: 'nothing to update',
    response: {},
    bytes: [
      0x00, // cupsUriLen
      0x00, // tcUriLen
      0x00, 0x00, // cupsCredLen
      0x00, 0x00, // tcCredLen
      0x00, 0x00, 0x00, 0x00, // sigLen
      0x00, 0x00, 0x00, 0x00, // updLen
    ],
  },
  {
    name: 'tc uri only',
    response: { tcUri: TC_URI },
    bytes: [
      0x00, // cupsUriLen
      0x1a, // tcUriLen = 26
      ...ascii(TC_URI), // tcUri, no terminator
      0x00, 0x00, // cupsCredLen
      0x00, 0x00, // tcCredLen
      0x00, 0x00, 0x00, 0x00, // sigLen
      0x00, 0x00, 0x00, 0x00, // updLen
    ],
  },
  {
    name: 'cups uri only',
    response: { cupsUri: CUPS_URI },
    bytes: [
      0x1c, // cupsUriLen = 28
      ...ascii(CUPS_URI), // cupsUri
      0x00, // tcUriLen
      0x00, 0x00, // cupsCredLen
      0x00, 0x00, // tcCredLen
      0x00, 0x00, 0x00, 0x00, // sigLen
      0x00, 0x00, 0x00, 0x00, // updLen
    ],
  },
  {
    name: 'max-length (127-byte) cups uri',
    response: { cupsUri: MAX_URI },
    bytes: [
      0x7f, // cupsUriLen = 127
      ...ascii(MAX_URI), // cupsUri
      0x00, // tcUriLen
      0x00, 0x00, // cupsCredLen
      0x00, 0x00, // tcCredLen
      0x00, 0x00, 0x00, 0x00, // sigLen
      0x00, 0x00, 0x00, 0x00, // updLen
    ],
  },
  {
    name: 'tc credentials: trust, client certificate and SEC1 key',
    response: { tcCredentials: TC_BLOB },
    bytes: [
      0x00, // cupsUriLen
      0x00, // tcUriLen
      0x00, 0x00, // cupsCredLen
      0x7c, 0x03, // tcCredLen = 892
      ...TRUST, // tcCred: trust (30 82 01 7f ...)
      ...CERT, //          cert  (30 82 01 7c ...)
      ...SEC1_KEY, //      key   (30 77 ...)
      0x00, 0x00, 0x00, 0x00, // sigLen
      0x00, 0x00, 0x00, 0x00, // updLen
    ],
  },
  {
    name: 'cups credentials: trust and token',
    response: { cupsCredentials: TOKEN_BLOB },
    bytes: [
      0x00, // cupsUriLen
      0x00, // tcUriLen
      0xa2, 0x01, // cupsCredLen = 418
      ...TRUST, // cupsCred: trust
      0x00, 0x00, 0x00, 0x00, //  no client certificate
      ...TOKEN, //                token "Authorization: Bearer abc\r\n"
      0x00, 0x00, // tcCredLen
      0x00, 0x00, 0x00, 0x00, // sigLen
      0x00, 0x00, 0x00, 0x00, // updLen
    ],
  },
  {
    name: 'unsigned update',
    response: { update: UPDATE },
    bytes: [
      0x00, // cupsUriLen
      0x00, // tcUriLen
      0x00, 0x00, // cupsCredLen
      0x00, 0x00, // tcCredLen
      0x00, 0x00, 0x00, 0x00, // sigLen
      0x07, 0x00, 0x00, 0x00, // updLen = 7
      ...ascii('exit 0\n'), // upd
    ],
  },
  {
    name: 'signature and update',
    response: { signature: { keyCrc: KEY_CRC, der: SIG_DER }, update: UPDATE },
    bytes: [
      0x00, // cupsUriLen
      0x00, // tcUriLen
      0x00, 0x00, // cupsCredLen
      0x00, 0x00, // tcCredLen
      0x0c, 0x00, 0x00, 0x00, // sigLen = 12 = 4 (keyCrc) + 8 (DER)
      0x45, 0x5f, 0xd9, 0xcb, // keyCrc = 0xcbd95f45
      0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, // sig: SEQUENCE { INTEGER 1, INTEGER 2 }
      0x07, 0x00, 0x00, 0x00, // updLen = 7
      ...ascii('exit 0\n'), // upd
    ],
  },
  {
    name: 'all segments',
    response: {
      cupsUri: CUPS_URI,
      tcUri: TC_URI,
      cupsCredentials: TOKEN_BLOB,
      tcCredentials: TC_BLOB,
      signature: { keyCrc: KEY_CRC, der: SIG_DER },
      update: UPDATE,
    },
    bytes: [
      0x1c, // cupsUriLen = 28
      ...ascii(CUPS_URI), // cupsUri
      0x1a, // tcUriLen = 26
      ...ascii(TC_URI), // tcUri
      0xa2, 0x01, // cupsCredLen = 418
      ...TOKEN_BLOB, // cupsCred
      0x7c, 0x03, // tcCredLen = 892
      ...TC_BLOB, // tcCred
      0x0c, 0x00, 0x00, 0x00, // sigLen = 12
      0x45, 0x5f, 0xd9, 0xcb, // keyCrc
      ...SIG_DER, // sig
      0x07, 0x00, 0x00, 0x00, // updLen = 7
      ...UPDATE, // upd
    ],
  },
]

const PKCS8_KEY = pemToDer(readFixture('pkcs8-key-station-rejects.pem').toString('latin1')) // 30 81 87 ...

/** One line each: what the station would reject or be bricked by, and the EncodingError code we expect. */
export const errorVectors: readonly (readonly [name: string, response: UpdateInfoResponse, code: string])[] = [
  ['cups uri of 128 bytes', { cupsUri: `https://${'a'.repeat(115)}:6040` }, 'URI_TOO_LONG'],
  ['cups uri with a ws scheme', { cupsUri: 'wss://cups.example.com:443' }, 'BAD_CUPS_URI'],
  ['cups uri with a trailing slash', { cupsUri: 'https://cups.example.com:443/' }, 'BAD_CUPS_URI'],
  ['tc uri without a port', { tcUri: 'wss://lns.example.com' }, 'BAD_TC_URI'],
  ['tc uri with a path', { tcUri: 'wss://lns.example.com:8887/router-info' }, 'BAD_TC_URI'],
  ['tc uri with an https scheme', { tcUri: 'https://lns.example.com:8887' }, 'BAD_TC_URI'],
  ['tc uri with a non-ASCII host', { tcUri: 'wss://lnś.example.com:8887' }, 'BAD_TC_URI'],
  ['PEM credentials', { cupsCredentials: Buffer.from('-----BEGIN CERTIFICATE-----\n') }, 'CRED_PARSE_FAILED'],
  ['credentials without the key placeholder', { tcCredentials: Buffer.concat([TRUST, Buffer.alloc(4)]) }, 'CRED_NOT_CANONICAL'],
  ['credentials with trailing padding', { tcCredentials: Buffer.concat([TC_BLOB, Buffer.alloc(4)]) }, 'CRED_NOT_CANONICAL'],
  ['credentials with a PKCS#8 key', { tcCredentials: Buffer.concat([TRUST, CERT, PKCS8_KEY]) }, 'CRED_PARSE_FAILED'],
  ['credentials over 65535 bytes', { tcCredentials: Buffer.alloc(65536, 0x30) }, 'CRED_TOO_LONG'],
  ['signature without update', { signature: { keyCrc: KEY_CRC, der: SIG_DER } }, 'SIGNATURE_WITHOUT_UPDATE'],
  ['signature as raw r‖s', { signature: { keyCrc: KEY_CRC, der: Buffer.alloc(64, 1) }, update: UPDATE }, 'SIGNATURE_NOT_DER'],
  ['sigLen 7', { signature: { keyCrc: KEY_CRC, der: Buffer.from([0x30, 0x01, 0x00]) }, update: UPDATE }, 'BAD_SIGNATURE_LENGTH'],
  ['sigLen 133', { signature: { keyCrc: KEY_CRC, der: Buffer.alloc(129, 0x30) }, update: UPDATE }, 'BAD_SIGNATURE_LENGTH'],
  ['keyCrc of 2^32', { signature: { keyCrc: 2 ** 32, der: SIG_DER }, update: UPDATE }, 'BAD_KEY_CRC'],
  ['negative keyCrc', { signature: { keyCrc: -1, der: SIG_DER }, update: UPDATE }, 'BAD_KEY_CRC'],
]

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64')
}
