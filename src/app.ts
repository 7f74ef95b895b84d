// buildApp: the Fastify instance with routes and error handling; it performs no I/O of its own.
import type { Server as HttpsServer, ServerOptions } from 'node:https'
import Fastify from 'fastify'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { UpdateInfoService } from './gateways/update-info-service'
import { handleError } from './http/error-handler'
import { healthRoutes } from './http/health-route'
import { updateInfoRoute } from './http/update-info-route'
import type { Metrics } from './metrics'

export interface AppDeps {
  readonly service: UpdateInfoService
  readonly metrics: Metrics
  readonly bodyLimitBytes: number
  readonly logger?: FastifyBaseLogger
}

/** Without `tls` the server is plain HTTP, which is all app.inject needs; index.ts passes real TLS options. */
export function buildApp(deps: AppDeps, tls?: ServerOptions): FastifyInstance<HttpsServer> {
  const app = Fastify({
    https: tls ?? null,
    bodyLimit: deps.bodyLimitBytes,
    ...(deps.logger ? { loggerInstance: deps.logger } : {}),
  })
  app.setErrorHandler(handleError)
  healthRoutes(app, deps.metrics)
  updateInfoRoute(app, { service: deps.service, metrics: deps.metrics, bodyLimitBytes: deps.bodyLimitBytes })
  return app
}
