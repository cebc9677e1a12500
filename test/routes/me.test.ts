import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { decodeJwt } from 'jose'
import type { TokenResponse } from '../../src/schemas/token.js'
import { assertSessionEnded, bearer, build, getMe, login, PASSWORD, postToken, refresh, registerAndLogin, registerUser, storeOf } from '../helper.js'

/* routes/users/me.ts: the caller's own account, password and sessions. */

/** The session id an access token carries. */
const sidOf = (jwt: string) => decodeJwt<{ sid: string }>(jwt).sid

async function loginWithAgent (app: FastifyInstance, username: string, userAgent: string, password = PASSWORD) {
  const res = await postToken(app, { grant_type: 'password', username, password }, { 'user-agent': userAgent })
  assert.equal(res.statusCode, 200, res.body)
  return res.json<TokenResponse>()
}

describe('PUT /users/me/password', () => {
  const NEW_PASSWORD = 'a brand new passphrase 42'
  const change = (app: FastifyInstance, accessToken: string, body: Record<string, unknown>) =>
    app.inject({ method: 'PUT', url: '/users/me/password', headers: bearer(accessToken), payload: body })

  it('refuses a wrong current password and changes nothing', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const other = await login(app, user.username)
    const res = await change(app, tokens.access_token, { current_password: 'not my password', new_password: NEW_PASSWORD })
    assert.equal(res.statusCode, 400)
    assert.equal(res.json().statusCode, 400)
    assert.equal((await getMe(app, other.access_token)).statusCode, 200)
    assert.equal((await refresh(app, other.refresh_token)).statusCode, 200)
    await login(app, user.username, PASSWORD)
    await assert.rejects(login(app, user.username, NEW_PASSWORD))
  })

  it('changes the password, keeps this session and ends every other one', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const other = await login(app, user.username)
    const res = await change(app, tokens.access_token, { current_password: PASSWORD, new_password: NEW_PASSWORD })
    assert.equal(res.statusCode, 204)
    assert.equal(res.body, '')

    assert.equal((await getMe(app, tokens.access_token)).statusCode, 200, 'the current session keeps working')
    await assertSessionEnded(app, other)
    const next = await refresh(app, tokens.refresh_token)
    assert.equal(next.statusCode, 200, 'the current session still refreshes')

    const old = await postToken(app, { username: user.username, password: PASSWORD })
    assert.equal(old.statusCode, 400)
    assert.equal(old.json().error, 'invalid_grant')
    await login(app, user.username, NEW_PASSWORD)
  })

  for (const [name, newPassword] of [
    ['too short', 'short7!'],
    ['too common', 'password123'],
    ['the username', undefined]
  ] as const) {
    it(`refuses a new password that is ${name}`, async (t) => {
      const app = await build(t)
      const { user, tokens } = await registerAndLogin(app)
      const res = await change(app, tokens.access_token, { current_password: PASSWORD, new_password: newPassword ?? user.username })
      assert.equal(res.statusCode, 400)
      assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'message', 'statusCode'])
      await login(app, user.username, PASSWORD)
    })
  }

  it('refuses a body with extra properties', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const res = await change(app, tokens.access_token, { current_password: PASSWORD, new_password: NEW_PASSWORD, is_admin: true })
    assert.equal(res.statusCode, 400)
  })

  it('needs scope me', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app, { scope: 'items' })
    const res = await change(app, tokens.access_token, { current_password: PASSWORD, new_password: NEW_PASSWORD })
    assert.equal(res.statusCode, 403)
    assert.match(String(res.headers['www-authenticate']), /error="insufficient_scope"/)
  })
})

describe('GET /users/me/sessions', () => {
  it('lists the active sessions, marking the caller\'s own', async (t) => {
    const app = await build(t)
    const { user } = await registerUser(app)
    const first = await loginWithAgent(app, user.username, 'FirstAgent/1.0')
    const second = await loginWithAgent(app, user.username, 'SecondAgent/2.0')
    const ended = await loginWithAgent(app, user.username, 'EndedAgent/3.0')
    assert.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(ended.access_token) })).statusCode, 204)

    const res = await app.inject({ url: '/users/me/sessions', headers: bearer(first.access_token) })
    assert.equal(res.statusCode, 200)
    const sessions = res.json<Array<Record<string, unknown>>>()
    assert.equal(sessions.length, 2)
    for (const s of sessions) {
      assert.deepEqual(Object.keys(s).sort(), ['created_at', 'current', 'id', 'last_used_at', 'user_agent'])
      assert.ok(!Number.isNaN(Date.parse(String(s.created_at))))
      assert.ok(!Number.isNaN(Date.parse(String(s.last_used_at))))
    }
    const firstSid = sidOf(first.access_token)
    const secondSid = sidOf(second.access_token)
    const byId = new Map(sessions.map(s => [s.id, s]))
    assert.deepEqual(byId.get(firstSid)?.user_agent, 'FirstAgent/1.0')
    assert.equal(byId.get(firstSid)?.current, true)
    assert.equal(byId.get(secondSid)?.user_agent, 'SecondAgent/2.0')
    assert.equal(byId.get(secondSid)?.current, false)

    const fromSecond = await app.inject({ url: '/users/me/sessions', headers: bearer(second.access_token) })
    const current = fromSecond.json<Array<{ id: string, current: boolean }>>().filter(s => s.current).map(s => s.id)
    assert.deepEqual(current, [secondSid])
  })

  it('lists only the caller\'s sessions', async (t) => {
    const app = await build(t)
    const alice = await registerAndLogin(app)
    await registerAndLogin(app)
    const res = await app.inject({ url: '/users/me/sessions', headers: bearer(alice.tokens.access_token) })
    assert.deepEqual(res.json().map((s: { id: string }) => s.id), [sidOf(alice.tokens.access_token)])
  })
})

describe('DELETE /users/me/sessions/{id}', () => {
  it('ends that session', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const other = await login(app, user.username)
    const sid = sidOf(other.access_token)
    const res = await app.inject({ method: 'DELETE', url: `/users/me/sessions/${sid}`, headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 204)
    await assertSessionEnded(app, other)
    assert.equal((await getMe(app, tokens.access_token)).statusCode, 200)
    const list = await app.inject({ url: '/users/me/sessions', headers: bearer(tokens.access_token) })
    assert.ok(!list.json().some((s: { id: string }) => s.id === sid))
  })

  it('answers 404 for an unknown session or another user\'s', async (t) => {
    const app = await build(t)
    const alice = await registerAndLogin(app)
    const bob = await registerAndLogin(app)
    const bobSid = sidOf(bob.tokens.access_token)
    for (const id of [randomUUID(), 'nope', bobSid]) {
      const res = await app.inject({ method: 'DELETE', url: `/users/me/sessions/${id}`, headers: bearer(alice.tokens.access_token) })
      assert.equal(res.statusCode, 404, id)
      assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'message', 'statusCode'])
    }
    assert.equal((await getMe(app, bob.tokens.access_token)).statusCode, 200, 'bob\'s session is untouched')
  })

  it('can end the caller\'s own session', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const sid = sidOf(tokens.access_token)
    const res = await app.inject({ method: 'DELETE', url: `/users/me/sessions/${sid}`, headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 204)
    await assertSessionEnded(app, tokens)
  })
})

describe('DELETE /users/me/sessions', () => {
  it('ends every session of the user, the current one included', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const other = await login(app, user.username)
    const stranger = await registerAndLogin(app)
    const res = await app.inject({ method: 'DELETE', url: '/users/me/sessions', headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 204)
    await assertSessionEnded(app, tokens)
    await assertSessionEnded(app, other)
    assert.equal((await getMe(app, stranger.tokens.access_token)).statusCode, 200)
    await login(app, user.username)
  })
})

describe('PATCH /users/me', () => {
  it('updates the full name and e-mail', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const email = `${user.username}@example.com`
    const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(tokens.access_token), payload: { full_name: 'Jane Doe', email, current_password: PASSWORD } })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), { ...user, full_name: 'Jane Doe', email })
    assert.deepEqual((await getMe(app, tokens.access_token)).json(), { ...user, full_name: 'Jane Doe', email })
    // the new e-mail logs in
    await login(app, email.toUpperCase())
  })

  for (const body of [{ is_admin: true }, { full_name: 'Eve', is_admin: true }, { full_name: 'Eve', disabled: false }, { password_hash: 'x' }]) {
    it(`refuses ${JSON.stringify(body)} and changes nothing`, async (t) => {
      const app = await build(t)
      const { user, tokens } = await registerAndLogin(app)
      const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(tokens.access_token), payload: body })
      assert.equal(res.statusCode, 400)
      const after = (await getMe(app, tokens.access_token)).json()
      assert.equal(after.is_admin, false)
      assert.deepEqual(after, user)
      const stored = await storeOf(app).users.findById(user.id)
      assert.equal(stored?.is_admin, false)
    })
  }

  it('refuses a bad e-mail and a full name that is not text; an empty body changes nothing', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const empty = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(tokens.access_token), payload: {} })
    assert.equal(empty.statusCode, 200)
    assert.deepEqual(empty.json(), user)
    for (const body of [{ email: 'not an email' }, { full_name: 42 }, { email: 'a@example.com', current_password: '' }]) {
      const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(tokens.access_token), payload: body })
      assert.equal(res.statusCode, 400, JSON.stringify(body))
    }
  })

  it('answers 409 for an e-mail another user has, in any case', async (t) => {
    const app = await build(t)
    const taken = `taken${Date.now()}@example.com`
    await registerUser(app, { email: taken })
    const { user, tokens } = await registerAndLogin(app)
    const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(tokens.access_token), payload: { email: taken.toUpperCase(), current_password: PASSWORD } })
    assert.equal(res.statusCode, 409)
    assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'message', 'statusCode'])
    assert.equal((await getMe(app, tokens.access_token)).json().email, user.email)
  })
})
