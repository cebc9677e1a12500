import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { errorHandler } from '../src/http/error-handler.js'
import { redactedUrl } from '../src/http/request-log.js'

/**
 * The app's error handler (src/http/error-handler.ts; the route plugins set the same one in their
 * scopes), and its 404: Fastify's default answer, but logged and shown with the URL's credential
 * parameters redacted (Fastify's own logs the raw URL: a reset link or a provider's callback
 * mistyped, `/reset-password/?token=…`, would put its token in the log).
 */
const errorsPlugin: FastifyPluginAsync = async (fastify) => {
  fastify.setErrorHandler(errorHandler)
  fastify.setNotFoundHandler(async (request, reply) => {
    const url = redactedUrl(request.url)
    request.log.info({ url }, 'route not found')
    return reply.code(404).send({ message: `Route ${request.method}:${url} not found`, error: 'Not Found', statusCode: 404 })
  })
}

export default fp(errorsPlugin, { fastify: '5.x', name: 'errors' })
