// GET /healthz (liveness) and GET /metrics (Prometheus counters).
import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../metrics'

export function healthRoutes(app: FastifyInstance, metrics: Metrics): void {
  app.get('/healthz', () => ({ status: 'ok' }))
  app.get('/metrics', (_request, reply) => reply.type('text/plain; version=0.0.4').send(metrics.render()))
}
