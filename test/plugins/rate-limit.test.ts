import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { build, postToken, registerUser } from '../helper.js'

/**
 * A Redis database of this file's own (number 15): its flush and its per-address counters touch
 * no other test file's (brute-force.test.ts counts in database 0, perhaps at the same time).
 */
function ownDatabase (url: string) {
  const own = new URL(url)
  own.pathname = '/15'
  return own.toString()
}
const redisUrl = process.env.TEST_REDIS_URL === undefined ? undefined : ownDatabase(process.env.TEST_REDIS_URL)

describe('rate limits shared through Redis', { skip: redisUrl === undefined ? 'TEST_REDIS_URL unset (scripts/with-redis.sh starts one)' : false }, () => {
  it('counts requests to /token on two instances against one limit', async (t) => {
    const redis = new Redis(redisUrl!)
    t.after(() => redis.quit())
    await redis.flushdb() // counters of an earlier run of this file must not count here

    const env = { REDIS_URL: redisUrl!, TOKEN_RATE_LIMIT: '3' }
    const [a, b] = [await build(t, env), await build(t, env)]
    const { user } = await registerUser(a)
    const attempt = (app: typeof a) => postToken(app, { username: user.username, password: 'wrong password here' })

    const statuses = [(await attempt(a)).statusCode, (await attempt(b)).statusCode, (await attempt(a)).statusCode]
    assert.deepEqual(statuses, [400, 400, 400])
    const limited = await attempt(b)
    assert.equal(limited.statusCode, 429)
    assert.ok(Number(limited.headers['retry-after']) > 0)
    assert.deepEqual(Object.keys(limited.json()).sort(), ['error', 'message', 'statusCode'])
  })
})

describe('REDIS_URL', () => {
  // Needs no Redis: nothing listens on port 1.
  it('refuses to start when Redis cannot be reached', async (t) => {
    await assert.rejects(build(t, { REDIS_URL: 'redis://127.0.0.1:1' }), { name: 'Error', message: 'cannot reach Redis at REDIS_URL' })
  })
})
