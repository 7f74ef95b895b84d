// handleError: the one place that maps errors to HTTP statuses; 5xx bodies reveal nothing.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../errors'

export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof AppError) {
    request.log.warn({ code: error.code, reason: error.message, peer: request.ip }, 'request refused')
    void reply.code(error.statusCode).send({ code: error.code, message: error.message })
    return
  }
  const status = 'statusCode' in error ? error.statusCode : undefined
  if (status !== undefined && status >= 400 && status < 500) {
    // Fastify's own client errors: body too large (413), bad JSON, bad content length, ...
    request.log.info({ code: (error as FastifyError).code, reason: error.message }, 'bad request')
    void reply.code(status).send({ code: (error as FastifyError).code, message: error.message })
    return
  }
  request.log.error({ err: error }, 'unexpected error')
  void reply.code(500).send({ code: 'INTERNAL', message: 'Internal Server Error' })
}
