// One log line per request on the gateway port; for update-info: who asked (EUI, proof), what it got (segments, CRCs), status, latency.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Answer } from '../gateways/update-info-service'
import type { Outcome } from '../observability/metrics'

interface Note {
  answer?: Answer
  refusal?: { readonly code: string; readonly reason: string }
}

// Filled in by the route and the error handler, read once the response has gone out.
const notes = new WeakMap<FastifyRequest, Note>()

export function noteAnswer(request: FastifyRequest, answer: Answer): void {
  notes.set(request, { ...notes.get(request), answer })
}

/** A refusal's code and reason go into the request's line instead of a line of their own. */
export function noteRefusal(request: FastifyRequest, code: string, reason: string): void {
  notes.set(request, { ...notes.get(request), refusal: { code, reason } })
}

export function outcomeOf(status: number, answer: Answer | undefined): Outcome {
  if (status === 200) return answer !== undefined && (answer.sent.length > 0 || answer.update !== undefined) ? 'updated' : 'no_change'
  if (status === 403) return 'forbidden'
  if (status === 404) return 'not_registered'
  if (status >= 400 && status < 500) return 'bad_request'
  return 'error'
}

/**
 * Anything but update-info (a scanner, a misconfigured client) gets a plain line with the URL in full: Node caps
 * the request line and headers at 16 KiB, so the log never grows faster than what the client sends.
 */
export function logOtherRequestLine(request: FastifyRequest, reply: FastifyReply): void {
  const line = { method: request.method, url: request.url, status: reply.statusCode, latencyMs: Math.round(reply.elapsedTime * 10) / 10, peer: request.ip }
  request.log.info(line, 'request')
}

/**
 * Logs the line (request.log already names the gateway and the request id) and returns the outcome.
 * Segments appear as "name crc/length": enough to match what the station reports, never the bytes.
 */
export function logUpdateInfoLine(request: FastifyRequest, reply: FastifyReply): Outcome {
  const note = notes.get(request)
  const status = reply.statusCode
  const outcome = outcomeOf(status, note?.answer)
  const line = {
    outcome,
    status,
    latencyMs: Math.round(reply.elapsedTime * 10) / 10,
    proof: note?.answer?.proof,
    sent: sentOf(note?.answer),
    code: note?.refusal?.code,
    reason: note?.refusal?.reason,
    peer: request.ip,
  }
  if (status >= 500) request.log.error(line, 'update-info')
  else if (status >= 400) request.log.warn(line, 'update-info')
  else request.log.info(line, 'update-info')
  return outcome
}

/** "name crc/length" per segment; an update as "update <firmware id>/<length> key <crc>" (or "unsigned"). */
function sentOf(answer: Answer | undefined): string[] | undefined {
  if (answer === undefined) return undefined
  const sent = answer.sent.map(({ segment, crc, length }) => `${segment} ${crc.toString(16).padStart(8, '0')}/${String(length)}`)
  const { update } = answer
  if (update !== undefined) {
    // Whether every byte of the update was handed to the connection (a stalled or broken download was not).
    const state = update.stream.readableEnded ? '' : ' (cut short)'
    sent.push(`update ${update.firmware}/${String(update.length)} ${update.keyCrc === undefined ? 'unsigned' : `key ${String(update.keyCrc)}`}${state}`)
  }
  return sent
}
