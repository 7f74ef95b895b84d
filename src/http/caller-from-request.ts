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
  // Plain sockets (app.inject, plain HTTP) have no peer certificate at all.
  if (typeof socket.getPeerX509Certificate !== 'function') return undefined
  // getPeerX509Certificate hands over the DER; getPeerCertificate would build an object of every field first
  // (a quarter of a keep-alive poll's CPU). Undefined when the client sent no certificate.
  const peer = socket.getPeerX509Certificate()
  return peer === undefined ? undefined : { der: peer.raw }
}
