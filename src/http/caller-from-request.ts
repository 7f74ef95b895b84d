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

function peerCertificate(socket: Partial<TLSSocket>): PeerCertificate | undefined {
  // Plain sockets (app.inject, plain HTTP) have no getPeerCertificate at all.
  if (typeof socket.getPeerCertificate !== 'function') return undefined
  const peer = socket.getPeerCertificate()
  // Node returns {} when the client sent no certificate.
  if (Object.keys(peer).length === 0) return undefined
  const cn = peer.subject.CN
  const names = [
    ...(Array.isArray(cn) ? cn : cn === undefined ? [] : [cn]),
    ...(peer.subjectaltname ?? '')
      .split(', ')
      .filter((entry) => entry.startsWith('DNS:'))
      .map((entry) => entry.slice(4)),
  ]
  const error = socket.authorizationError
  return {
    authorized: socket.authorized === true,
    names,
    serial: peer.serialNumber,
    der: peer.raw,
    authorizationError: error === undefined ? undefined : String(error),
  }
}
