// POST /update-info: parse the station's JSON (any content type), ask the service, reply with raw CUPS bytes.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { parseUpdateInfoRequest } from '../cups/update-info-request'
import { InvalidRequestError } from '../errors'
import type { UpdateInfoService } from '../gateways/update-info-service'
import { callerFromRequest } from './caller-from-request'
import { noteAnswer } from './request-line'

export interface UpdateInfoRouteOptions {
  readonly service: UpdateInfoService
  readonly bodyLimitBytes: number
  /**
   * While a firmware update streams, the connection may sit this long without the station taking a byte before it
   * is cut (the station's own limit is 60 s per chunk); a slow link that keeps reading is never cut.
   */
  readonly downloadStallMs: number
}

export const UPDATE_INFO_PATH = '/update-info'

/** pino's setBindings; an app without a logger (Fastify's no-op one) has none and logs nothing anyway. */
function bindEui(log: FastifyBaseLogger & { setBindings?: (bindings: Record<string, unknown>) => void }, eui: string): void {
  log.setBindings?.({ eui })
}

/** A download slower than this on average is cut: 16 MiB then takes at most about 35 minutes. */
const MIN_DOWNLOAD_BYTES_PER_SECOND = 8 * 1024

export function updateInfoRoute(app: FastifyInstance, options: UpdateInfoRouteOptions): void {
  void app.register((scope, _opts, done) => {
    // Stations up to 2.0.3 send no Content-Type, and stock Fastify answers 415, which the station takes
    // as a rejection (cups-protocol.md §2.1). One catch-all parser accepts every content type or none.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.bodyLimitBytes }, (_request, body, parsed) => {
      try {
        parsed(null, JSON.parse((body as Buffer).toString('utf8')) as unknown)
      } catch {
        parsed(new InvalidRequestError('body: not valid JSON'), undefined)
      }
    })

    scope.post(UPDATE_INFO_PATH, async (request, reply) => {
      if (request.body === undefined) throw new InvalidRequestError('body: missing')
      const updateInfo = parseUpdateInfoRequest(request.body)
      // Every later line of this request, refusals in the error handler included, names the gateway. Fastify made
      // request.log for this request alone, so the EUI is bound onto it: a second child logger per poll cost ~8 µs.
      bindEui(request.log, updateInfo.eui)
      const answer = await options.service.respond(updateInfo, callerFromRequest(request), request.log)
      noteAnswer(request, answer)
      const { update } = answer
      // A Buffer is sent as-is with Content-Length; the station cannot read a chunked body (rule 11).
      if (update === undefined) return reply.code(200).type('application/octet-stream').send(answer.body)
      // Socket inactivity, not total time: writes that drain re-arm it, a stalled reader lets it fire. Plus a floor on
      // the average rate, so a reader taking a byte now and then cannot hold a download slot for days.
      const socket = request.raw.socket
      const cut = (why: string): void => {
        request.log.warn({ firmware: update.firmware, why }, 'firmware download cut off')
        socket.destroy()
      }
      const onStall = (): void => {
        cut(`no progress for ${String(options.downloadStallMs)} ms (DOWNLOAD_STALL_TIMEOUT_MS)`)
      }
      socket.setTimeout(options.downloadStallMs)
      socket.on('timeout', onStall)
      const slowest = setTimeout(() => {
        cut(`slower than ${String(MIN_DOWNLOAD_BYTES_PER_SECOND)} bytes/s on average`)
      }, options.downloadStallMs + Math.ceil((update.total / MIN_DOWNLOAD_BYTES_PER_SECOND) * 1000))
      reply.raw.once('close', () => {
        clearTimeout(slowest)
        // A kept-alive connection goes back to the server's own timeouts.
        socket.removeListener('timeout', onStall)
        update.stream.destroy()
      })
      return reply.code(200).type('application/octet-stream').header('content-length', String(update.total)).send(update.stream)
    })
    done()
  })
}
