import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { createApp } from '../../src/app.js'
import { adminLogin, assertHttpError, bearer, build, isolatedDatabaseUrl, PASSWORD, passwordGrant, postToken, registerUser, testConfig, uniqueName } from '../helper.js'

/*
 * CONTRACT.md "Brute force", in the configuration as shipped: no rate-limit variable is set,
 * so 60 requests a minute per address and 10 failed logins per account in 15 minutes.
 */

const WRONG = 'not the password 1'

/** Sends `count` logins; the status codes in order. */
async function attempts (app: FastifyInstance, username: string, password: string, count: number) {
  const statuses: number[] = []
  for (let i = 0; i < count; i++) statuses.push((await passwordGrant(app, username, password)).statusCode)
  return statuses
}

/** An app whose log lines (JSON) are kept, to check the lock events. */
async function loggedApp (t: TestContext, env: Record<string, string> = {}) {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(JSON.parse(String(chunk))); done() } })
  const config = testConfig({ DATABASE_URL: await isolatedDatabaseUrl(), LOG_LEVEL: 'info', ...env })
  const app = await createApp(config, { logger: { level: 'info', stream } })
  t.after(() => app.close())
  return { app, lines }
}

describe('failed password logins per account (shipped defaults)', () => {
  it('answers 429 with Retry-After from the 11th wrong password, for the right one too', async (t) => {
    const app = await build(t)
    const { user } = await registerUser(app)
    assert.deepEqual(await attempts(app, user.username, WRONG, 10), Array(10).fill(400))
    const locked = await passwordGrant(app, user.username, WRONG)
    assertHttpError(locked, 429, 'Too Many Requests')
    const retryAfter = Number(locked.headers['retry-after'])
    assert.ok(retryAfter > 14 * 60 && retryAfter <= 15 * 60, `Retry-After ${String(locked.headers['retry-after'])}`)
    assert.equal(locked.headers['cache-control'], 'no-store')
    assert.deepEqual(await attempts(app, user.username, WRONG, 3), [429, 429, 429])
    assert.equal((await passwordGrant(app, user.username, PASSWORD)).statusCode, 429, 'locked even for the right password')
  })

  it('checks at most 10 wrong passwords of a burst sent at once: the rest are refused before any hash (found from outside: 300 of 300 were checked)', async (t) => {
    const app = await build(t, { TOKEN_RATE_LIMIT: '0', PASSWORD_HASH_QUEUE_LIMIT: '1000', PASSWORD_HASH_MAX_WAIT_SECONDS: '60' })
    const { user } = await registerUser(app)
    const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => passwordGrant(app, user.username, `${WRONG} ${i}`)))
    const statuses = burst.map(res => res.statusCode)
    // 503 (retry in a second) while the lock's worth is in flight, 429 once the failures reach it.
    assert.equal(statuses.filter(s => s === 400).length, 10, statuses.join(' '))
    assert.equal(statuses.filter(s => s === 429 || s === 503).length, 50, statuses.join(' '))
    assert.equal((await passwordGrant(app, user.username, PASSWORD)).statusCode, 429, 'locked for the right password too')
  })

  it('does not count successful logins: 11 in a row all succeed', async (t) => {
    const app = await build(t)
    const { user } = await registerUser(app)
    assert.deepEqual(await attempts(app, user.username, PASSWORD, 11), Array(11).fill(200))
  })

  it('forgets the failures after a successful login', async (t) => {
    const app = await build(t)
    const { user } = await registerUser(app)
    assert.deepEqual(await attempts(app, user.username, WRONG, 9), Array(9).fill(400))
    assert.equal((await passwordGrant(app, user.username, PASSWORD)).statusCode, 200)
    assert.deepEqual(await attempts(app, user.username, WRONG, 10), Array(10).fill(400))
  })

  it('counts the username and the e-mail of one account together, in any case', async (t) => {
    const app = await build(t)
    const email = `${uniqueName('mail')}@example.com`
    const { user } = await registerUser(app, { email })
    const logins = [user.username, email, user.username.toUpperCase(), email.toUpperCase()]
    const statuses: number[] = []
    for (let i = 0; i < 10; i++) statuses.push((await passwordGrant(app, logins[i % logins.length]!, WRONG)).statusCode)
    assert.deepEqual(statuses, Array(10).fill(400))
    assert.equal((await passwordGrant(app, email, PASSWORD)).statusCode, 429)
    assert.equal((await passwordGrant(app, user.username, PASSWORD)).statusCode, 429)
  })

  it('treats an unknown username exactly like a known one', async (t) => {
    const app = await build(t)
    const { user } = await registerUser(app)
    const ghost = uniqueName('ghost')
    const known = await attempts(app, user.username, WRONG, 11)
    const unknown = await attempts(app, ghost, WRONG, 11)
    assert.deepEqual(unknown, known)
    assert.deepEqual(unknown, [...Array(10).fill(400), 429])
  })

  it('locks one account, not the address: another user logs in from it', async (t) => {
    const app = await build(t)
    const { user: victim } = await registerUser(app)
    const { user: other } = await registerUser(app)
    await attempts(app, victim.username, WRONG, 11)
    assert.equal((await passwordGrant(app, other.username, PASSWORD)).statusCode, 200)
  })

  it('lifts the lock when the 15-minute window has passed', async (t) => {
    const app = await build(t)
    const { user } = await registerUser(app)
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    await attempts(app, user.username, WRONG, 10)
    t.mock.timers.tick(14 * 60_000)
    assert.equal((await passwordGrant(app, user.username, PASSWORD)).statusCode, 429)
    t.mock.timers.tick(60_000)
    assert.equal((await passwordGrant(app, user.username, PASSWORD)).statusCode, 200)
  })

  it('lets an admin end the lock with DELETE /users/{id}/lockout', async (t) => {
    const app = await build(t)
    const { user } = await registerUser(app)
    const { tokens } = await adminLogin(app)
    await attempts(app, user.username, WRONG, 10)
    assert.equal((await passwordGrant(app, user.username, PASSWORD)).statusCode, 429)
    const unlocked = await app.inject({ method: 'DELETE', url: `/users/${user.id}/lockout`, headers: bearer(tokens.access_token) })
    assert.equal(unlocked.statusCode, 204, unlocked.body)
    assert.equal((await passwordGrant(app, user.username, PASSWORD)).statusCode, 200)
  })

  it('keeps DELETE /users/{id}/lockout to scope admin, and answers 404 for an unknown id', async (t) => {
    const app = await build(t)
    const { user } = await registerUser(app)
    const own = await postToken(app, { username: user.username, password: PASSWORD })
    const forbidden = await app.inject({ method: 'DELETE', url: `/users/${user.id}/lockout`, headers: bearer(own.json().access_token) })
    assert.equal(forbidden.statusCode, 403)
    const { tokens } = await adminLogin(app)
    const missing = await app.inject({ method: 'DELETE', url: '/users/00000000-0000-4000-8000-000000000000/lockout', headers: bearer(tokens.access_token) })
    assertHttpError(missing, 404, 'Not Found')
  })

  it('logs every failure, the lock and the unlock as structured events, never the password', async (t) => {
    const { app, lines } = await loggedApp(t)
    const { user } = await registerUser(app)
    await attempts(app, user.username, WRONG, 11)
    await app.authAccounts.unlock(user.id)
    const events = lines.map(line => line.event).filter(event => event !== undefined)
    assert.equal(events.filter(e => e === 'login').length, 11, 'each attempt logged')
    assert.equal(events.filter(e => e === 'login-lock').length, 1)
    assert.equal(events.filter(e => e === 'login-unlock').length, 1)
    assert.equal(JSON.stringify(lines).includes(WRONG), false, 'no password in the logs')
  })

  it('can be switched off (LOGIN_USERNAME_RATE_LIMIT=0), and the per-address limit still answers', async (t) => {
    // This test turns the per-account limit off on purpose: it checks the switch itself.
    const app = await build(t, { LOGIN_USERNAME_RATE_LIMIT: '0' })
    const { user } = await registerUser(app)
    const statuses = await attempts(app, user.username, WRONG, 60)
    assert.deepEqual(statuses, Array(60).fill(400))
    assert.equal((await passwordGrant(app, user.username, WRONG)).statusCode, 429, 'the 61st request of the minute from one address')
  })
})

const redisUrl = process.env.TEST_REDIS_URL
describe('failed logins counted in Redis (REDIS_URL)', { skip: redisUrl === undefined ? 'TEST_REDIS_URL unset (scripts/with-redis.sh starts one)' : false }, () => {
  it('locks the account on every instance sharing the Redis and the database', async (t) => {
    const databaseUrl = await isolatedDatabaseUrl()
    // Two apps on one database need a file or PostgreSQL; in-memory SQLite is per connection.
    if (databaseUrl === 'sqlite::memory:') return t.skip('needs TEST_DATABASE_URL (PostgreSQL): two instances share one database')
    const open = () => createApp(testConfig({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl! }))
    const a = await open()
    t.after(() => a.close())
    const b = await open()
    t.after(() => b.close())
    const { user } = await registerUser(a)
    await attempts(a, user.username, WRONG, 5)
    await attempts(b, user.username, WRONG, 5)
    assert.equal((await passwordGrant(a, user.username, PASSWORD)).statusCode, 429)
    assert.equal((await passwordGrant(b, user.username, PASSWORD)).statusCode, 429)
    await b.authAccounts.unlock(user.id)
    assert.equal((await passwordGrant(a, user.username, PASSWORD)).statusCode, 200)
  })
})
