import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyPluginAsync } from 'fastify'
import { isUnavailable } from '../src/db/errors.js'
import { DomainError, DuplicateUserError, NotFoundError, PolicyError } from '../src/errors.js'

/** The HTTP status of a domain error (src/errors.ts); the OAuth endpoints map theirs apart. */
export function statusOfDomainError (error: DomainError): number {
  if (error instanceof NotFoundError) return 404
  if (error instanceof DuplicateUserError) return 409
  if (error instanceof PolicyError) return 400
  return 400
}

/**
 * One error handler: client errors in Fastify's `{statusCode, error, message}` shape (with any
 * challenge headers the error carries); domain errors mapped to their status; an unreachable
 * database as 503; other server errors logged with the request and answered without details.
 */
const errorsPlugin: FastifyPluginAsync = async (fastify) => {
  fastify.setErrorHandler((error: FastifyError & { headers?: Record<string, string> }, request, reply) => {
    let statusCode = error instanceof DomainError ? statusOfDomainError(error) : error.statusCode ?? 500
    if (error.validation !== undefined) statusCode = 400
    if (statusCode >= 500 && isUnavailable(error)) statusCode = 503

    if (statusCode >= 500) {
      if (statusCode === 503) request.log.warn({ err: error }, 'dependency unavailable')
      else request.log.error({ err: error }, 'request failed')
      return reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode], message: STATUS_CODES[statusCode] })
    }
    if (statusCode === 401 || statusCode === 403) request.log.info({ code: error.code }, 'request refused')
    if (error.headers !== undefined) reply.headers(error.headers)
    return reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message: error.message })
  })
}

export default fp(errorsPlugin, { fastify: '5.x', name: 'errors' })
