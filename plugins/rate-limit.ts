import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyPluginAsync } from 'fastify'
import { RateLimitedError } from '../src/http/errors.js'

/**
 * @fastify/rate-limit, off by default: routes opt in with `config.rateLimit` (see routes/auth).
 * Counters live in memory, or in Redis (plugins/redis.ts) so several instances share them.
 * The 429 carries Retry-After. https://github.com/fastify/fastify-rate-limit
 */
const rateLimitPlugin: FastifyPluginAsync = async (fastify) => {
  await fastify.register(rateLimit, {
    global: false,
    redis: fastify.redis ?? undefined,
    nameSpace: 'auth-rate-limit:',
    // An Error (not a plain object), so every error handler on the way treats it as one.
    errorResponseBuilder: (_request, context) => new RateLimitedError(context.after)
  })
}

export default fp(rateLimitPlugin, { fastify: '5.x', name: 'rate-limit', dependencies: ['redis'] })
