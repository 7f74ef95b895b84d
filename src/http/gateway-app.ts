// buildApp: the Fastify instance with routes and error handling; it performs no I/O of its own.
import type { Server as HttpsServer, ServerOptions } from 'node:https'
import Fastify from 'fastify'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { UpdateInfoService } from './gateways/update-info-service'
import { handleError } from './http/error-handler'
import { healthRoutes } from './http/health-route'
import { limitConnectionsPerAddress } from './http/per-address-limit'
import { updateInfoRoute } from './http/update-info-route'
import type { Metrics } from './metrics'

export interface AppLimits {
  readonly bodyLimitBytes: number
  readonly requestTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly maxConnections: number
  readonly maxConnectionsPerAddress: number
}

export interface AppDeps {
  readonly service: UpdateInfoService
  readonly metrics: Metrics
  readonly limits: AppLimits
  readonly logger?: FastifyBaseLogger
}

/** Without `tls` the server is plain HTTP, which is all app.inject needs; index.ts passes real TLS options. */
export function buildApp(deps: AppDeps, tls?: ServerOptions): FastifyInstance<HttpsServer> {
  const { limits } = deps
  const app = Fastify({
    // Node checks request and header timeouts on this interval (30 s by default), so it bounds how exact they are.
    // Stations before 2.0.2 send no Host header (cups-protocol.md §2.1); Node 20 would answer them 400.
    https:
      tls === undefined
        ? null
        : { ...tls, connectionsCheckingInterval: Math.min(1000, limits.requestTimeoutMs), requireHostHeader: false },
    bodyLimit: limits.bodyLimitBytes,
    // A gateway sends one small request and waits; anything slower is a broken or hostile client.
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: Math.min(5000, limits.idleTimeoutMs),
    maxRequestsPerSocket: 100,
    ...(deps.logger ? { loggerInstance: deps.logger } : {}),
  })
  app.server.headersTimeout = Math.min(limits.requestTimeoutMs, 5000)
  app.server.maxConnections = limits.maxConnections
  // Node closes connections over maxConnections itself and only tells us through 'drop'.
  app.server.on('drop', () => {
    deps.metrics.increment('connections_refused_total', { reason: 'max_connections' })
  })
  limitConnectionsPerAddress(app.server, limits.maxConnectionsPerAddress, () => {
    deps.metrics.increment('connections_refused_total', { reason: 'per_address' })
  })
  app.setErrorHandler(handleError)
  healthRoutes(app, deps.metrics)
  updateInfoRoute(app, { service: deps.service, metrics: deps.metrics, bodyLimitBytes: limits.bodyLimitBytes })
  return app
}
