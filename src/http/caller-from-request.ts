// callerFromRequest: what the TLS socket and headers say about who is calling.
import type { TLSSocket } from 'node:tls'
import type { FastifyRequest } from 'fastify'
import type { Caller, PeerCertificate } from '../gateways/access-policy'

export function callerFromRequest(request: FastifyRequest): Caller {
  return {
    certificate: peerCertificate(request.raw.socket as Partial<TLSSocket>),
    header: (name) => {
      const value = request.headers[name]
      return Array.isArray(value) ? value[0] : value
    },
    peer: request.ip,
  }
}

/**
 * The certificate as it is now, read at every request. `socket.authorized` is deliberately not used: it is
 * set once per handshake and survives a resumed session, so the access policy verifies the DER itself.
 */
function peerCertificate(socket: Partial<TLSSocket>): PeerCertificate | undefined {
  // Plain sockets (app.inject, plain HTTP) have no getPeerCertificate at all.
  if (typeof socket.getPeerCertificate !== 'function') return undefined
  const peer = socket.getPeerCertificate()
  // Node returns {} when the client sent no certificate.
  if (Object.keys(peer).length === 0) return undefined
  return { der: peer.raw }
}
