import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { errorHandler } from '../src/http/error-handler.js'

/** The app's error handler (src/http/error-handler.ts); the route plugins set the same one in their scopes. */
const errorsPlugin: FastifyPluginAsync = async (fastify) => {
  fastify.setErrorHandler(errorHandler)
}

export default fp(errorsPlugin, { fastify: '5.x', name: 'errors' })
