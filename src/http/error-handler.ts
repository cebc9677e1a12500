import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { isUnavailable } from '../db/errors.js'
import { DomainError } from '../errors.js'

/**
 * One error handler, for the app (plugins/errors.ts) and for every route plugin in its own scope
 * (so a mounting app's handler, or Fastify's default, never turns a refusal into a 500):
 * - client errors in Fastify's `{statusCode, error, message}` shape, with the headers an error
 *   carries (RFC 6750 challenges, Retry-After); domain errors (src/errors.ts) by their own status;
 * - an unreachable database as 503;
 * - other server errors logged with the request and answered without details.
 */
export function errorHandler (error: FastifyError & { headers?: Record<string, string> }, request: FastifyRequest, reply: FastifyReply) {
  const domain = error instanceof DomainError
  let statusCode = error.statusCode ?? 500
  if (error.validation !== undefined) statusCode = 400
  if (statusCode >= 500 && !domain && isUnavailable(error)) statusCode = 503

  if (statusCode >= 500 && !domain) {
    if (statusCode === 503) request.log.warn({ err: error }, 'dependency unavailable')
    else request.log.error({ err: error }, 'request failed')
    return reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode], message: STATUS_CODES[statusCode] })
  }
  if (statusCode === 401 || statusCode === 403) request.log.info({ code: error.code }, 'request refused')
  if (error.headers !== undefined) reply.headers(error.headers)
  return reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message: error.message })
}
