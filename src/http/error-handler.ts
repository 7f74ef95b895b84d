// handleError: the one place that maps errors to HTTP statuses; 5xx bodies reveal nothing. Refusals are logged in the request's line.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../errors'
import { noteRefusal } from './request-line'

export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof AppError) {
    noteRefusal(request, error.code, error.message)
    void reply.code(error.statusCode).send({ code: error.code, message: error.message })
    return
  }
  const status = 'statusCode' in error ? error.statusCode : undefined
  if (status !== undefined && status >= 400 && status < 500) {
    // Fastify's own client errors: body too large (413), bad JSON, bad content length, ...
    noteRefusal(request, (error as FastifyError).code, error.message)
    void reply.code(status).send({ code: (error as FastifyError).code, message: error.message })
    return
  }
  request.log.error({ err: error }, 'unexpected error')
  void reply.code(500).send({ code: 'INTERNAL', message: 'Internal Server Error' })
}
