// buildAdminApp: the admin listener (plain HTTP, ADMIN_HOST:ADMIN_PORT): /healthz, /readyz and /metrics.
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { PromMetrics } from '../observability/prom-metrics'
import type { Readiness } from '../observability/readiness'

export interface AdminDeps {
  readonly metrics: PromMetrics
  readonly readiness: Readiness
  readonly logger?: FastifyBaseLogger
}

/**
 * Monitoring never shares the gateways' TLS port: a scrape needs no client certificate, the fleet's numbers
 * are nobody else's business, and a probe of a replica's health must not compete with gateways for
 * connections. Bind it where only monitoring reaches (127.0.0.1 by default, a private network in a cluster).
 */
export function buildAdminApp(deps: AdminDeps): FastifyInstance {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : {}),
    // A probe every few seconds would otherwise be most of the log.
    logController: new LogController({ disableRequestLogging: true }),
    // Nothing here takes a body or should take long.
    bodyLimit: 1024,
    requestTimeout: 10_000,
  })
  // Alive: the process answers. Restarting it is the only cure for a no here.
  app.get('/healthz', () => ({ status: 'ok' }))
  // Ready: able to serve gateways now. A no takes the replica out of the load balancer, not out of the process.
  app.get('/readyz', async (_request, reply) => {
    const { ready, checks } = await deps.readiness.report()
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unready', checks })
  })
  app.get('/metrics', async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.render()))
  return app
}
