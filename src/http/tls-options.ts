// TLS settings shared by the listener and every hot reload: protocol versions and cipher suites.
import { constants } from 'node:crypto'
import type { SecureContextOptions } from 'node:tls'
import type { ServerOptions } from 'node:https'
import type { TlsMaterial } from './tls-reloader'

/**
 * The station's mbedTLS 2.28 speaks TLS 1.2 at most and negotiates ECDHE with AES-GCM (cups-protocol.md
 * §1.3), so those suites stay; everything without forward secrecy or AEAD is off. TLS 1.3 for other clients.
 * Renegotiation is refused: a renegotiated handshake could present a second client certificate on a
 * connection whose first one was verified (the station never renegotiates).
 */
export const TLS_CONTEXT_OPTIONS: SecureContextOptions = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
}

/**
 * Client certificates are requested but not required: token and bootstrap callers have none. The access
 * policy verifies the certificate itself at every request (src/pki/client-certificate-check.ts).
 */
export function serverTlsOptions(material: TlsMaterial, handshakeTimeoutMs: number): ServerOptions {
  return {
    ...TLS_CONTEXT_OPTIONS,
    ...material,
    requestCert: true,
    rejectUnauthorized: false,
    // A TCP connection that never completes the handshake would otherwise be held for 120 s.
    handshakeTimeout: handshakeTimeoutMs,
  }
}
