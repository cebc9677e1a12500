import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { isUnavailable } from '../src/db/errors.js'
import { DomainError, DuplicateUserError, LoginLockedError, NotFoundError, OverloadedError } from '../src/errors.js'

/**
 * The HTTP answer to a domain error (src/errors.ts): its status, and a Retry-After where the
 * client should come back. The OAuth endpoints map the grant errors apart (routes/auth/oauth.ts).
 */
export function httpOfDomainError (error: DomainError): { statusCode: number, headers?: Record<string, string> } {
  if (error instanceof NotFoundError) return { statusCode: 404 }
  if (error instanceof DuplicateUserError) return { statusCode: 409 }
  if (error instanceof LoginLockedError) return { statusCode: 429, headers: { 'retry-after': String(error.retryAfterSeconds) } }
  if (error instanceof OverloadedError) return { statusCode: 503, headers: { 'retry-after': String(error.retryAfterSeconds) } }
  return { statusCode: 400 } // PolicyError and any other refusal of the input
}

/**
 * One error handler: client errors in Fastify's `{statusCode, error, message}` shape (with any
 * challenge headers the error carries); domain errors mapped to their status; an unreachable
 * database as 503; other server errors logged with the request and answered without details.
 * The auth route plugins set it in their own scope too, for apps that mount them with another
 * handler (or Fastify's default, which would answer a domain error 500).
 */
export const errorHandler = (error: FastifyError & { headers?: Record<string, string> }, request: FastifyRequest, reply: FastifyReply) => {
  const domain = error instanceof DomainError ? httpOfDomainError(error) : undefined
  let statusCode = domain?.statusCode ?? error.statusCode ?? 500
  const headers = domain?.headers ?? error.headers
  if (error.validation !== undefined) statusCode = 400
  if (statusCode >= 500 && domain === undefined && isUnavailable(error)) statusCode = 503

  if (statusCode >= 500 && domain === undefined) {
    if (statusCode === 503) request.log.warn({ err: error }, 'dependency unavailable')
    else request.log.error({ err: error }, 'request failed')
    return reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode], message: STATUS_CODES[statusCode] })
  }
  if (statusCode === 401 || statusCode === 403) request.log.info({ code: error.code }, 'request refused')
  if (headers !== undefined) reply.headers(headers)
  return reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message: error.message })
}

const errorsPlugin: FastifyPluginAsync = async (fastify) => {
  fastify.setErrorHandler(errorHandler)
}

export default fp(errorsPlugin, { fastify: '5.x', name: 'errors' })
