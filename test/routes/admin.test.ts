import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { TokenResponse } from '../../src/schemas/token.js'
import type { UserPublic } from '../../src/schemas/user.js'
import { adminLogin, bearer, build, login, PASSWORD, passwordGrant, refresh, registerAndLogin, registerUser, storeOf } from '../helper.js'

const PUBLIC_USER_KEYS = ['created_at', 'disabled', 'email', 'email_verified', 'full_name', 'id', 'is_admin', 'mfa_enabled', 'scopes', 'username']

function assertNoSecrets (res: LightMyRequestResponse) {
  assert.ok(!res.body.includes('password_hash'), res.body)
  assert.ok(!res.body.includes('$argon2'), res.body)
}

function assertPublicUser (value: Record<string, unknown>) {
  assert.deepEqual(Object.keys(value).sort(), PUBLIC_USER_KEYS)
}

const patchUser = (app: FastifyInstance, token: string, id: string, payload: Record<string, unknown>) =>
  app.inject({ method: 'PATCH', url: `/users/${id}`, headers: bearer(token), payload })

const deleteUser = (app: FastifyInstance, token: string, id: string) =>
  app.inject({ method: 'DELETE', url: `/users/${id}`, headers: bearer(token) })

describe('admin routes refuse a token without scope admin', () => {
  it('answers 403 insufficient_scope to a normal user', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const { user: other } = await registerUser(app)
    const requests = [
      { method: 'GET' as const, url: '/users' },
      { method: 'PATCH' as const, url: `/users/${other.id}`, payload: { disabled: true } },
      { method: 'DELETE' as const, url: `/users/${other.id}` }
    ]
    for (const request of requests) {
      const res = await app.inject({ ...request, headers: bearer(tokens.access_token) })
      assert.equal(res.statusCode, 403, `${request.method} ${request.url}`)
      assert.equal(res.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="admin"')
      assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'message', 'statusCode'])
    }
    const stored = await storeOf(app).users.findById(other.id)
    assert.equal(stored?.disabled, false, 'nothing changed')
  })

  it('answers 403 to an admin whose token was narrowed to scope me', async (t) => {
    const app = await build(t)
    const { username } = await adminLogin(app)
    const narrow = await login(app, username, PASSWORD, { scope: 'me' })
    const res = await app.inject({ url: '/users', headers: bearer(narrow.access_token) })
    assert.equal(res.statusCode, 403)
    assert.match(String(res.headers['www-authenticate']), /error="insufficient_scope"/)
  })

  it('answers 401 without a token', async (t) => {
    const app = await build(t)
    const res = await app.inject({ url: '/users' })
    assert.equal(res.statusCode, 401)
    assert.equal(res.headers['www-authenticate'], 'Bearer')
  })
})

describe('GET /users', () => {
  it('pages through the users', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    for (let i = 0; i < 3; i++) await registerUser(app)
    const res = await app.inject({ url: '/users?limit=2&offset=0', headers: bearer(admin.tokens.access_token) })
    assert.equal(res.statusCode, 200)
    assertNoSecrets(res)
    const page = res.json<{ items: Array<Record<string, unknown>>, total: number, limit: number, offset: number }>()
    assert.deepEqual(Object.keys(page).sort(), ['items', 'limit', 'offset', 'total'])
    assert.equal(page.items.length, 2)
    assert.equal(page.total, 4)
    assert.equal(page.limit, 2)
    assert.equal(page.offset, 0)
    for (const item of page.items) assertPublicUser(item)

    const next = await app.inject({ url: '/users?limit=2&offset=2', headers: bearer(admin.tokens.access_token) })
    const second = next.json<{ items: UserPublic[], offset: number }>()
    assert.equal(second.offset, 2)
    assert.equal(second.items.length, 2)
    const ids = new Set([...page.items.map(u => u.id), ...second.items.map(u => u.id)])
    assert.equal(ids.size, 4, 'pages do not overlap')
  })

  it('has default paging', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    const res = await app.inject({ url: '/users', headers: bearer(admin.tokens.access_token) })
    assert.equal(res.statusCode, 200)
    const page = res.json()
    assert.equal(page.offset, 0)
    assert.equal(page.total, 1)
    assert.ok(page.limit >= 1 && page.limit <= 100)
  })

  for (const query of ['limit=0', 'limit=101', 'limit=abc', 'offset=-1', 'offset=abc', 'limit=1.5']) {
    it(`answers 400 for ${query}`, async (t) => {
      const app = await build(t)
      const admin = await adminLogin(app)
      const res = await app.inject({ url: `/users?${query}`, headers: bearer(admin.tokens.access_token) })
      assert.equal(res.statusCode, 400)
      assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'message', 'statusCode'])
    })
  }
})

describe('GET /users/{id}', () => {
  it('answers the user themself', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const res = await app.inject({ url: `/users/${user.id}`, headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 200)
    assertNoSecrets(res)
    assert.deepEqual(res.json(), user)
  })

  it('answers 404 for another user to a non-admin, exactly as for an unknown id', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const { user: other } = await registerUser(app)
    const existing = await app.inject({ url: `/users/${other.id}`, headers: bearer(tokens.access_token) })
    const missing = await app.inject({ url: `/users/${randomUUID()}`, headers: bearer(tokens.access_token) })
    assert.equal(existing.statusCode, 404)
    assert.equal(missing.statusCode, 404)
    assert.deepEqual(existing.json(), missing.json())
  })

  it('answers another user to an admin, and 404 for an unknown id', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    const { user: other } = await registerUser(app)
    const res = await app.inject({ url: `/users/${other.id}`, headers: bearer(admin.tokens.access_token) })
    assert.equal(res.statusCode, 200)
    assertNoSecrets(res)
    assert.deepEqual(res.json(), other)
    const missing = await app.inject({ url: `/users/${randomUUID()}`, headers: bearer(admin.tokens.access_token) })
    assert.equal(missing.statusCode, 404)
  })

  for (const id of ['not-a-uuid', '1', `${randomUUID()}x`]) {
    it(`answers 400 for the id ${id}`, async (t) => {
      const app = await build(t)
      const admin = await adminLogin(app)
      const res = await app.inject({ url: `/users/${id}`, headers: bearer(admin.tokens.access_token) })
      assert.equal(res.statusCode, 400)
    })
  }
})

describe('PATCH /users/{id}', () => {
  it('disables a user: their tokens are refused at once, no login, no refresh', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    const { user, tokens } = await registerAndLogin(app)
    const second = await login(app, user.username)
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).statusCode, 200)

    const res = await patchUser(app, admin.tokens.access_token, user.id, { disabled: true })
    assert.equal(res.statusCode, 200)
    assertNoSecrets(res)
    assert.deepEqual(res.json(), { ...user, disabled: true })

    for (const session of [tokens, second]) {
      const me = await app.inject({ url: '/users/me', headers: bearer(session.access_token) })
      assert.equal(me.statusCode, 401)
      assert.equal(me.headers['www-authenticate'], 'Bearer error="invalid_token"')
      const again = await refresh(app, session.refresh_token)
      assert.equal(again.statusCode, 400)
      assert.equal(again.json().error, 'invalid_grant')
    }
    const relogin = await passwordGrant(app, user.username)
    assert.equal(relogin.statusCode, 400)
    const wrong = await passwordGrant(app, user.username, 'a wrong password entirely')
    assert.deepEqual(relogin.json(), wrong.json(), 'a disabled user looks like a wrong password')
  })

  it('re-enables a user, who can log in again', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    const { user } = await registerUser(app)
    assert.equal((await patchUser(app, admin.tokens.access_token, user.id, { disabled: true })).statusCode, 200)
    assert.equal((await patchUser(app, admin.tokens.access_token, user.id, { disabled: false })).statusCode, 200)
    await login(app, user.username)
  })

  it('promotes a user, whose next login has scope admin', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    const { user, tokens } = await registerAndLogin(app)
    const res = await patchUser(app, admin.tokens.access_token, user.id, { is_admin: true })
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().is_admin, true)
    assert.deepEqual(res.json().scopes, ['me', 'items', 'admin'])
    // the token issued before the promotion did not grant admin
    assert.equal((await app.inject({ url: '/users', headers: bearer(tokens.access_token) })).statusCode, 403)
    const fresh = await login(app, user.username)
    assert.deepEqual(fresh.scope.split(' ').sort(), ['admin', 'items', 'me'])
    assert.equal((await app.inject({ url: '/users', headers: bearer(fresh.access_token) })).statusCode, 200)
  })

  it('demotes an admin: their admin-scope token is refused on admin routes at once', async (t) => {
    const app = await build(t)
    const first = await adminLogin(app)
    const second = await adminLogin(app)
    const secondId = (await app.inject({ url: '/users/me', headers: bearer(second.tokens.access_token) })).json<UserPublic>().id
    assert.equal((await app.inject({ url: '/users', headers: bearer(second.tokens.access_token) })).statusCode, 200)

    const res = await patchUser(app, first.tokens.access_token, secondId, { is_admin: false })
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().is_admin, false)
    const after = await app.inject({ url: '/users', headers: bearer(second.tokens.access_token) })
    assert.equal(after.statusCode, 403)
    assert.match(String(after.headers['www-authenticate']), /error="insufficient_scope"/)
    // nor can a refresh bring the admin scope back
    const refreshed = await refresh(app, second.tokens.refresh_token)
    assert.equal(refreshed.statusCode, 200)
    assert.equal(refreshed.json<TokenResponse>().scope, 'me items')
    const widened = await refresh(app, (await login(app, second.username)).refresh_token, { scope: 'admin' })
    assert.equal(widened.statusCode, 400)
    assert.equal(widened.json().error, 'invalid_scope')
  })

  it('updates e-mail and full name', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    const { user } = await registerUser(app)
    const res = await patchUser(app, admin.tokens.access_token, user.id, { email: 'changed@example.com', full_name: 'Changed Name' })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), { ...user, email: 'changed@example.com', full_name: 'Changed Name' })
  })

  it('answers 409 for an e-mail another user has', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    await registerUser(app, { email: 'first@example.com' })
    const { user } = await registerUser(app)
    const res = await patchUser(app, admin.tokens.access_token, user.id, { email: 'FIRST@example.com' })
    assert.equal(res.statusCode, 409)
  })

  for (const body of [{}, { password_hash: 'x' }, { username: 'renamed' }, { disabled: 'true' }, { is_admin: 1 }]) {
    it(`answers 400 for ${JSON.stringify(body)}`, async (t) => {
      const app = await build(t)
      const admin = await adminLogin(app)
      const { user } = await registerUser(app)
      const res = await patchUser(app, admin.tokens.access_token, user.id, body)
      assert.equal(res.statusCode, 400)
      const stored = await storeOf(app).users.findById(user.id)
      assert.equal(stored?.disabled, false)
      assert.equal(stored?.is_admin, false)
      assert.equal(stored?.username, user.username)
    })
  }

  it('answers 404 for an unknown user', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    const res = await patchUser(app, admin.tokens.access_token, randomUUID(), { full_name: 'Nobody' })
    assert.equal(res.statusCode, 404)
  })

  for (const body of [{ disabled: true }, { is_admin: false }]) {
    it(`refuses ${JSON.stringify(body)} on the admin themself`, async (t) => {
      const app = await build(t)
      const admin = await adminLogin(app)
      const self = (await app.inject({ url: '/users/me', headers: bearer(admin.tokens.access_token) })).json<UserPublic>()
      const res = await patchUser(app, admin.tokens.access_token, self.id, body)
      assert.equal(res.statusCode, 400)
      const after = await app.inject({ url: '/users', headers: bearer(admin.tokens.access_token) })
      assert.equal(after.statusCode, 200, 'still an enabled admin')
    })
  }
})

describe('DELETE /users/{id}', () => {
  it('deletes a user: their token is refused, a second delete is 404', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    const { user, tokens } = await registerAndLogin(app)
    const res = await deleteUser(app, admin.tokens.access_token, user.id)
    assert.equal(res.statusCode, 204)
    assert.equal(res.body, '')
    const me = await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
    assert.equal(me.statusCode, 401)
    assert.equal(me.headers['www-authenticate'], 'Bearer error="invalid_token"')
    const again = await refresh(app, tokens.refresh_token)
    assert.equal(again.statusCode, 400)
    assert.equal(again.json().error, 'invalid_grant')
    assert.equal((await passwordGrant(app, user.username)).statusCode, 400)
    assert.equal((await deleteUser(app, admin.tokens.access_token, user.id)).statusCode, 404)
    assert.equal((await app.inject({ url: `/users/${user.id}`, headers: bearer(admin.tokens.access_token) })).statusCode, 404)
  })

  it('frees the username for a new registration', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    const { user } = await registerUser(app)
    assert.equal((await deleteUser(app, admin.tokens.access_token, user.id)).statusCode, 204)
    const { user: again } = await registerUser(app, { username: user.username })
    assert.notEqual(again.id, user.id)
  })

  it('refuses to delete the admin themself', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    const self = (await app.inject({ url: '/users/me', headers: bearer(admin.tokens.access_token) })).json<UserPublic>()
    const res = await deleteUser(app, admin.tokens.access_token, self.id)
    assert.equal(res.statusCode, 400)
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(admin.tokens.access_token) })).statusCode, 200)
  })

  it('answers 400 for a non-UUID id', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    assert.equal((await deleteUser(app, admin.tokens.access_token, 'not-a-uuid')).statusCode, 400)
  })
})
