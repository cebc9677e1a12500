import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyPluginAsync } from 'fastify'

/** Errors from the database driver that mean "unreachable", not "bad query". */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P03', '08006', '08001', '08003', 'SQLITE_BUSY'])
const SQLITE_BUSY = 5
const isUnavailable = (error: FastifyError & { errcode?: number }) =>
  UNAVAILABLE_CODES.has(error.code) || error.errcode === SQLITE_BUSY ||
  /timeout exceeded when trying to connect|Connection terminated|Stream isn't writeable|Connection is closed/i.test(error.message)

/**
 * One error handler: client errors in Fastify's `{statusCode, error, message}` shape (with any
 * challenge headers the error carries); server errors logged with the request and answered
 * without details. Unknown routes get the same shape.
 */
const errorsPlugin: FastifyPluginAsync = async (fastify) => {
  fastify.setErrorHandler((error: FastifyError & { headers?: Record<string, string> }, request, reply) => {
    let statusCode = error.statusCode ?? 500
    if (error.validation !== undefined) statusCode = 400
    if (statusCode >= 500 && isUnavailable(error)) statusCode = 503

    if (statusCode >= 500) {
      request.log.error({ err: error }, 'request failed')
      return reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode], message: STATUS_CODES[statusCode] })
    }
    if (statusCode === 401 || statusCode === 403) request.log.info({ code: error.code }, 'request refused')
    if (error.headers !== undefined) reply.headers(error.headers)
    return reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message: error.message })
  })

  fastify.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `Route ${request.method}:${request.url} not found` })
  })
}

export default fp(errorsPlugin, { fastify: '5.x', name: 'errors' })
