import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyPluginAsync } from 'fastify'

/**
 * @fastify/rate-limit, off by default: routes opt in with `config.rateLimit` (see
 * routes/auth). The 429 body is Fastify's error shape, with Retry-After.
 * https://github.com/fastify/fastify-rate-limit
 */
const rateLimitPlugin: FastifyPluginAsync = async (fastify) => {
  await fastify.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: 'Too Many Requests',
      message: `Rate limit exceeded, retry in ${context.after}`
    })
  })
}

export default fp(rateLimitPlugin, { fastify: '5.x', name: 'rate-limit' })
