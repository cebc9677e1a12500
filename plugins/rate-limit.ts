import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { Redis } from 'ioredis'
import type { FastifyPluginAsync } from 'fastify'
import { RateLimitedError } from '../src/http/errors.js'

/**
 * @fastify/rate-limit, off by default: routes opt in with `config.rateLimit` (see
 * routes/auth). Counters live in memory, or in Redis when REDIS_URL is set, so several
 * instances share them. The 429 carries Retry-After.
 * https://github.com/fastify/fastify-rate-limit
 */
const rateLimitPlugin: FastifyPluginAsync = async (fastify) => {
  const { redisUrl } = fastify.config.rateLimit
  let redis: Redis | undefined
  if (redisUrl !== undefined) {
    // Fail fast rather than queue while Redis is away: the request gets a 503, not a hang.
    // Loaded only when configured, like the PostgreSQL driver.
    const { Redis } = await import('ioredis')
    redis = new Redis(redisUrl, { connectTimeout: 2000, maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true })
    redis.on('error', (err: Error) => fastify.log.warn({ err }, 'redis error'))
    try {
      await Promise.race([redis.connect(), new Promise((_resolve, reject) => setTimeout(reject, 5000, new Error('timeout')).unref())])
    } catch (error) {
      redis.disconnect() // stop its reconnection attempts, or the process never exits
      throw new Error('rate limiting: cannot reach Redis at REDIS_URL', { cause: error })
    }
    fastify.addHook('onClose', async () => { await redis?.quit() })
  }
  await fastify.register(rateLimit, {
    global: false,
    redis,
    nameSpace: 'auth-rate-limit:',
    // An Error (not a plain object), so every error handler on the way treats it as one.
    errorResponseBuilder: (_request, context) => new RateLimitedError(context.after)
  })
}

export default fp(rateLimitPlugin, { fastify: '5.x', name: 'rate-limit', dependencies: ['config'] })
