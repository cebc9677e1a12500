import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { createApp } from '../src/app.js'
import { ConfigError } from '../src/config.js'
import { bearer, FORM, form, PASSWORD, testConfig, sqliteFile } from './helper.js'
import { call, login, registerUser } from './http-client.js'
import { startServerProcess } from './server-process.js'

describe('FIRST_SUPERUSER', () => {
  it('may be an e-mail address, as in FastAPI\'s full-stack template: that admin logs in with exactly it, also after a restart', async (t) => {
    const env = { DATABASE_URL: sqliteFile(t), FIRST_SUPERUSER: 'admin@example.com', FIRST_SUPERUSER_PASSWORD: 'a long admin password 1' }
    for (const round of ['first start', 'restart']) {
      const server = await startServerProcess(t, env)
      const { scope, access_token: token } = await login(server.base, 'admin@example.com', 'a long admin password 1')
      assert.deepEqual(scope.split(' ').sort(), ['admin', 'items', 'me'], round)
      const { body: users } = await call<{ total: number, items: Array<{ username: string, email: string }> }>(server.base, '/users', { headers: bearer(token) })
      assert.equal(users.total, 1, `${round}: one admin, not two`)
      assert.deepEqual([users.items[0]?.username, users.items[0]?.email], ['admin@example.com', 'admin@example.com'])
      assert.equal((await server.stop()).code, 0)
    }
  })

  const refused: Array<[string, Record<string, string>, RegExp]> = [
    ['a username /register refuses', { FIRST_SUPERUSER: 'a!', FIRST_SUPERUSER_PASSWORD: 'a long admin password 1' }, /^FIRST_SUPERUSER: /],
    ['a name with @ that is no e-mail address', { FIRST_SUPERUSER: 'admin@', FIRST_SUPERUSER_PASSWORD: 'a long admin password 1' }, /^FIRST_SUPERUSER: /],
    ['a password shorter than the policy', { FIRST_SUPERUSER: 'root', FIRST_SUPERUSER_PASSWORD: 'short' }, /^FIRST_SUPERUSER_PASSWORD: /],
    ['a common password', { FIRST_SUPERUSER: 'root', FIRST_SUPERUSER_PASSWORD: 'password1' }, /^FIRST_SUPERUSER_PASSWORD: .*common/]
  ]
  for (const [name, env, message] of refused) {
    it(`stops the start for ${name}, naming the variable`, async () => {
      await assert.rejects(createApp(testConfig(env)), (error: Error) => {
        assert.ok(error instanceof ConfigError, String(error))
        assert.match(error.message, message)
        return true
      })
    })
  }

  it('makes the server process exit 1 with that message', async (t) => {
    await assert.rejects(
      startServerProcess(t, { DATABASE_URL: sqliteFile(t), FIRST_SUPERUSER: 'admin@', FIRST_SUPERUSER_PASSWORD: 'a long admin password 1' }),
      /server exited \(1\):[\s\S]*FIRST_SUPERUSER: /
    )
  })
})

/** POST /token on a new connection (no keep-alive pool); the status, or the error's code. */
function loginOnOwnConnection (base: string, username: string): Promise<number | string> {
  const body = form({ username, password: PASSWORD })
  return new Promise(resolve => {
    const req = request(`${base}/token`, { method: 'POST', agent: false, headers: { ...FORM, 'content-length': Buffer.byteLength(body), connection: 'close' } }, res => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
    req.end(body)
  })
}

describe('graceful shutdown (SIGTERM)', () => {
  it('lets in-flight logins finish, then stops taking requests and exits 0', async (t) => {
    // One argon2 computation at a time, so twenty logins are still queued when the signal comes.
    // The account's lock off: it lets at most 10 checks of one account be in flight (brute force).
    const server = await startServerProcess(t, { DATABASE_URL: sqliteFile(t), PASSWORD_HASH_CONCURRENCY: '1', LOGIN_USERNAME_RATE_LIMIT: '0' })
    const username = 'shutdown'
    await registerUser(server.base, username)

    // Each login on a connection of its own, sent whole at once; argon2 one at a time makes forty
    // of them take most of a second, so the signal comes while many still wait for their hash.
    const answeredAt: number[] = []
    const logins = Array.from({ length: 40 }, (_, i) => loginOnOwnConnection(server.base, username).then(status => { answeredAt[i] = Date.now(); return status }))
    await new Promise(resolve => setTimeout(resolve, 300)) // the requests reach the server
    const signalledAt = Date.now()
    const stopped = server.stop('SIGTERM')
    const statuses = await Promise.all(logins)
    // Every connection gets an answer: 200 for a request in flight, a readable 503 for one that a
    // busy host delivered after the signal; never a reset connection.
    assert.ok(statuses.every(status => status === 200 || status === 503), statuses.join(' '))
    assert.ok(answeredAt.some((time, i) => time > signalledAt && statuses[i] === 200), 'logins in flight when the signal came were finished')
    assert.ok(statuses.filter(status => status === 200).length >= 20, statuses.join(' '))
    assert.deepEqual(await stopped, { code: 0, signal: null })
    await assert.rejects(fetch(`${server.base}/health`), 'no longer listening')
  })
})
