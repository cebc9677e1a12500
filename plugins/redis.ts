import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import type { FastifyPluginAsync } from 'fastify'

/**
 * One Redis connection when `config.redisUrl` (REDIS_URL) is set, as `fastify.redis` (else null):
 * rate-limit counters and login failures live there, shared by every instance. It fails fast
 * rather than queue while Redis is away (a 503, not a hang); ioredis is loaded only when configured.
 */
const redisPlugin: FastifyPluginAsync = async (fastify) => {
  const url = fastify.config.redisUrl
  if (url === undefined) {
    fastify.decorate('redis', null)
    return
  }
  const { Redis } = await import('ioredis')
  const redis = new Redis(url, { connectTimeout: 2000, maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true })
  redis.on('error', (err: Error) => fastify.log.warn({ err }, 'redis error'))
  try {
    await Promise.race([redis.connect(), new Promise((_resolve, reject) => setTimeout(reject, 5000, new Error('timeout')).unref())])
  } catch (error) {
    redis.disconnect() // stop its reconnection attempts, or the process never exits
    throw new Error('cannot reach Redis at REDIS_URL', { cause: error })
  }
  fastify.addHook('onClose', async () => { await redis.quit() })
  fastify.decorate('redis', redis)
}

export default fp(redisPlugin, { fastify: '5.x', name: 'redis', dependencies: ['config'] })

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis | null
  }
}
