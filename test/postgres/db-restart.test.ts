import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TestContext } from 'node:test'
import { bearer, FORM, form, isolatedDatabaseUrl, PASSWORD, uniqueName } from '../helper.js'
import { call, login, postForm, register } from '../http-client.js'
import { startServerProcess } from '../server-process.js'

/*
 * The real entry point (src/server.ts through tsx, or dist/src/server.js under npm test) while
 * its PostgreSQL server goes away and comes back: 503s meanwhile, then recovery by itself.
 */
const POSTGRES = process.env.TEST_DATABASE_URL?.startsWith('postgres') === true
// A shell command prefix that runs pg_ctl on the test cluster (scripts/with-postgres.sh).
const PG_CTL = process.env.TEST_PG_CTL
const SKIP = !POSTGRES
  ? 'needs TEST_DATABASE_URL=postgres://… (scripts/with-postgres.sh)'
  : PG_CTL === undefined || PG_CTL === '' ? 'needs TEST_PG_CTL to stop and start PostgreSQL (scripts/with-postgres.sh)' : false
const RECOVERY_MS = 30_000

const run = promisify(execFile)
const pgCtl = (args: string) => run('bash', ['-c', `${PG_CTL} ${args}`], { timeout: 60_000 })

async function postgresIsRunning () {
  try {
    await pgCtl('status')
    return true
  } catch {
    return false // pg_ctl status exits 3 when no server runs
  }
}

/** Starts a server process on the database. */
const startServer = (t: TestContext, databaseUrl: string) =>
  startServerProcess(t, { DATABASE_URL: databaseUrl, JWT_ISSUER: 'http://db-restart.test', JWT_AUDIENCE: 'http://db-restart.test' })

describe('a server whose PostgreSQL restarts', { skip: SKIP }, () => {
  it('answers 503 while the database is down and recovers when it is back, without a restart', async (t) => {
    t.after(async () => {
      // Later tests need a database, whatever happened here.
      if (!(await postgresIsRunning())) await pgCtl('start')
    })
    const server = await startServer(t, await isolatedDatabaseUrl())
    const { base } = server
    const username = uniqueName('restart')
    let tokens = { access_token: '', refresh_token: '' }

    await t.test('works before the database goes away', async () => {
      const created = await register(base, username)
      assert.equal(created.status, 201, created.text)
      tokens = await login(base, username)
      assert.equal((await call(base, '/health')).status, 200)
      assert.equal((await call(base, '/users/me', { headers: bearer(tokens.access_token) })).status, 200)
    })

    await pgCtl('stop -m fast')

    await t.test('answers 503 in Fastify\'s error shape while PostgreSQL is stopped', async () => {
      const requests = [
        { name: 'GET /health', method: 'GET', path: '/health' },
        { name: 'GET /users/me with a valid token', method: 'GET', path: '/users/me', headers: bearer(tokens.access_token) },
        { name: 'POST /token (password)', method: 'POST', path: '/token', headers: FORM, body: form({ grant_type: 'password', username, password: PASSWORD }) },
        { name: 'POST /token (refresh_token)', method: 'POST', path: '/token', headers: FORM, body: form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }) },
        { name: 'POST /register', method: 'POST', path: '/register', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: uniqueName('down'), password: PASSWORD }) }
      ]
      for (const { name, method, path, ...init } of requests) {
        const res = await call(base, path, { method, ...init })
        assert.equal(res.status, 503, `${name}: ${res.status} ${res.text}`)
        assert.deepEqual(Object.keys(res.body).sort(), ['error', 'message', 'statusCode'], `${name}: ${res.text}`)
        assert.equal(res.body.statusCode, 503, name)
        assert.equal(res.body.error, 'Service Unavailable', name)
        assert.equal(typeof res.body.message, 'string', name)
        assert.doesNotMatch(res.text, /\n\s+at |ECONNREFUSED|127\.0\.0\.1|postgres/i, `${name}: no stack trace or connection details`)
      }
      assert.ok(server.alive(), `the server process exited: ${server.output()}`)
    })

    await pgCtl('start')

    await t.test('recovers by itself once PostgreSQL is back', async () => {
      const deadline = Date.now() + RECOVERY_MS
      let health = await call(base, '/health')
      while (health.status !== 200 && Date.now() < deadline) {
        await sleep(250)
        health = await call(base, '/health')
      }
      assert.equal(health.status, 200, `/health still ${health.status} ${RECOVERY_MS / 1000} s after PostgreSQL started: ${health.text}`)
      assert.deepEqual(health.body, { status: 'ok' })

      const me = await call(base, '/users/me', { headers: bearer(tokens.access_token) })
      assert.equal(me.status, 200, me.text)
      assert.equal(me.body.username, username)

      // Nothing was written while the database was down: the refresh token is still unused.
      const refreshed = await postForm(base, '/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token })
      assert.equal(refreshed.status, 200, refreshed.text)

      const again = await login(base, username)
      const meAgain = await call(base, '/users/me', { headers: bearer(again.access_token) })
      assert.equal(meAgain.status, 200, meAgain.text)
      assert.ok(server.alive(), 'the same server process answers')
    })
  })
})
