import type { Redis } from 'ioredis'
import type { LoginFailureStore } from './auth-store.js'

/**
 * Counts a failure and starts the window at the first one, atomically on the Redis server:
 * returns [failures, milliseconds left in the window].
 */
const ADD = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return { n, redis.call('PTTL', KEYS[1]) }`

/** Takes one back, never below 0, keeping the window's expiry. */
const RELEASE = `local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0`

/**
 * Login failures in Redis (REDIS_URL), shared by every instance: one counter per key that
 * expires with its window, so nothing needs purging. Windows run on Redis's clock.
 */
export function createRedisLoginFailureStore (redis: Redis, prefix = 'auth-login-failures:'): LoginFailureStore {
  const keyOf = (key: string) => prefix + key
  return {
    async get (key, now) {
      const [count, ttl] = await Promise.all([redis.get(keyOf(key)), redis.pttl(keyOf(key))])
      return count === null || ttl < 0 ? { failures: 0, windowEnds: now } : { failures: Number(count), windowEnds: now + ttl }
    },
    async add (key, now, windowMs) {
      const [failures, ttl] = await redis.eval(ADD, 1, keyOf(key), String(windowMs)) as [number, number]
      return { failures, windowEnds: now + Math.max(ttl, 0) }
    },
    async clear (key) {
      return await redis.del(keyOf(key)) > 0
    },
    async release (key) {
      await redis.eval(RELEASE, 1, keyOf(key))
    },
    purge: async () => 0
  }
}
