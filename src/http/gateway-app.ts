// buildGatewayApp: the gateways' TLS listener (POST /update-info only) with routes and error handling; it performs no I/O of its own.
import type { Server as HttpsServer, ServerOptions } from 'node:https'
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { UpdateInfoService } from '../gateways/update-info-service'
import { handleError } from './error-handler'
import { limitConnectionsPerAddress } from './per-address-limit'
import { logOtherRequestLine, logUpdateInfoLine } from './request-line'
import { UPDATE_INFO_PATH, updateInfoRoute } from './update-info-route'
import type { Metrics } from '../observability/metrics'
import { requestIds } from './request-ids'

export interface AppLimits {
  readonly bodyLimitBytes: number
  readonly requestTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly maxConnections: number
  readonly maxConnectionsPerAddress: number
  /** A firmware download whose reader takes no byte for this long is cut (DOWNLOAD_STALL_TIMEOUT_MS). */
  readonly downloadStallMs: number
}

export interface AppDeps {
  readonly service: UpdateInfoService
  readonly metrics: Metrics
  readonly limits: AppLimits
  readonly logger?: FastifyBaseLogger
}

/** Without `tls` the server is plain HTTP, which is all app.inject needs; index.ts passes real TLS options. */
export function buildGatewayApp(deps: AppDeps, tls?: ServerOptions): FastifyInstance<HttpsServer> {
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
    // A station sends one request per connection; a client that keeps one open (a pooling balancer) gets a fresh
    // handshake now and then, so connections rebalance after a scale-up. Every request's certificate is checked anyway.
    maxRequestsPerSocket: 1000,
    ...(deps.logger ? { loggerInstance: deps.logger } : {}),
    // The route logs one line per request with everything in it (request-line.ts), instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestIds(),
    // Ids are ours alone: a client's X-Request-Id never lands in our logs as if we had made it.
    requestIdHeader: false,
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
  // Gateways see /update-info and nothing else; health and metrics are on the admin listener (admin-app.ts).
  // Here, not in the route's scope: requests for paths that do not exist get their line too.
  const lined = new WeakSet<object>()
  const line = (request: FastifyRequest, reply: FastifyReply): void => {
    if (lined.has(request)) return
    lined.add(request)
    if (request.routeOptions.url === UPDATE_INFO_PATH) {
      const outcome = logUpdateInfoLine(request, reply)
      deps.metrics.observe('update_info_duration_seconds', reply.elapsedTime / 1000, { outcome })
    } else {
      logOtherRequestLine(request, reply)
    }
  }
  // Fastify runs onResponse on 'finish' only. A response the client or a stall cut short (a firmware download,
  // a station hanging up) only closes: it gets its line then.
  app.addHook('onRequest', (request, reply, done) => {
    reply.raw.once('close', () => {
      line(request, reply)
    })
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    line(request, reply)
    done()
  })
  updateInfoRoute(app, { service: deps.service, bodyLimitBytes: limits.bodyLimitBytes, downloadStallMs: limits.downloadStallMs })
  return app
}
