import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose'
import type { TokenResponse } from '../../src/schemas/token.js'
import { assertNoStore, bearer, build, FORM, form, login, PASSWORD, postToken, refresh, registerAndLogin, registerUser, storeOf } from '../helper.js'

const revoke = (app: FastifyInstance, fields: Record<string, string>) =>
  app.inject({ method: 'POST', url: '/token/revoke', headers: FORM, payload: form(fields) })

const me = (app: FastifyInstance, accessToken: string) =>
  app.inject({ url: '/users/me', headers: bearer(accessToken) })

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
/** The session id an access token carries. */
const sidOf = (jwt: string) => decodeJwt<{ sid: string }>(jwt).sid

/** Asserts that the session of these tokens has ended: access refused, refresh refused. */
async function assertSessionEnded (app: FastifyInstance, tokens: TokenResponse) {
  const res = await me(app, tokens.access_token)
  assert.equal(res.statusCode, 401)
  assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
  const again = await refresh(app, tokens.refresh_token)
  assert.equal(again.statusCode, 400)
  assert.equal(again.json().error, 'invalid_grant')
}

async function loginWithAgent (app: FastifyInstance, username: string, userAgent: string, password = PASSWORD) {
  const res = await postToken(app, { grant_type: 'password', username, password }, { 'user-agent': userAgent })
  assert.equal(res.statusCode, 200, res.body)
  return res.json<TokenResponse>()
}

/** RFC 7009's 200, with the body `{}` as JSON the contract asks for (JSON-only client libraries need one). */
function assertRevokedBody (res: LightMyRequestResponse) {
  assert.match(String(res.headers['content-type']), /^application\/json/)
  assert.deepEqual(res.json(), {})
}

describe('POST /token/revoke', () => {
  it('ends the session of a refresh token', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const res = await revoke(app, { token: tokens.refresh_token, token_type_hint: 'refresh_token' })
    assert.equal(res.statusCode, 200)
    assertRevokedBody(res)
    assert.equal(res.headers['cache-control'], 'no-store')
    await assertSessionEnded(app, tokens)
  })

  for (const hint of ['access_token', undefined, 'refresh_token']) {
    it(`ends the session of an access token (hint ${hint ?? 'none'})`, async (t) => {
      const app = await build(t)
      const { tokens } = await registerAndLogin(app)
      assert.equal((await me(app, tokens.access_token)).statusCode, 200)
      const res = await revoke(app, hint === undefined ? { token: tokens.access_token } : { token: tokens.access_token, token_type_hint: hint })
      assert.equal(res.statusCode, 200)
      assertRevokedBody(res)
      await assertSessionEnded(app, tokens)
    })
  }

  it('ends a refresh token\'s session whatever the hint says', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const res = await revoke(app, { token: tokens.refresh_token, token_type_hint: 'access_token' })
    assert.equal(res.statusCode, 200)
    await assertSessionEnded(app, tokens)
  })

  it('ends only the session of the revoked token', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const other = await login(app, user.username)
    assert.equal((await revoke(app, { token: tokens.refresh_token })).statusCode, 200)
    assert.equal((await me(app, other.access_token)).statusCode, 200)
    assert.equal((await refresh(app, other.refresh_token)).statusCode, 200)
  })

  for (const [name, token] of [
    ['an unknown opaque token', 'not-a-token-we-issued'],
    ['an unknown JWT-looking token', 'aaa.bbb.ccc'],
    ['a token already revoked', undefined]
  ] as const) {
    it(`answers 200 for ${name}`, async (t) => {
      const app = await build(t)
      const { tokens } = await registerAndLogin(app)
      if (token === undefined) assert.equal((await revoke(app, { token: tokens.refresh_token })).statusCode, 200)
      const res = await revoke(app, { token: token ?? tokens.refresh_token, token_type_hint: 'refresh_token' })
      assert.equal(res.statusCode, 200)
      assertRevokedBody(res)
      if (token !== undefined) assert.equal((await me(app, tokens.access_token)).statusCode, 200)
    })
  }

  it('answers invalid_request without a token', async (t) => {
    const app = await build(t)
    for (const fields of [{}, { token_type_hint: 'refresh_token' }, { token: '' }] as Array<Record<string, string>>) {
      const res = await revoke(app, fields)
      assert.equal(res.statusCode, 400, JSON.stringify(fields))
      assert.equal(res.json().error, 'invalid_request')
      assertNoStore(res)
    }
  })

  it('does not end a session for a forged JWT that names it', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const header = decodeProtectedHeader(tokens.access_token)
    const payload = decodeJwt(tokens.access_token)
    const [h, p, s] = tokens.access_token.split('.') as [string, string, string]
    // the real token with a flipped signature
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`
    // same header (kid) and claims, signed by a key of the attacker's
    const { privateKey } = generateKeyPairSync('ed25519')
    const input = `${b64url(header)}.${b64url({ ...payload, jti: randomUUID() })}`
    const foreign = `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`
    // alg none
    const none = `${b64url({ ...header, alg: 'none' })}.${p}.`
    for (const forged of [flipped, foreign, none]) {
      for (const hint of ['access_token', 'refresh_token']) {
        assert.equal((await revoke(app, { token: forged, token_type_hint: hint })).statusCode, 200)
      }
      assert.equal((await me(app, forged)).statusCode, 401, 'the forged token itself is refused')
    }
    assert.equal((await me(app, tokens.access_token)).statusCode, 200)
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 200)
  })

  it('does not end a session for a JWT signed with the HS256 secret of another server', async (t) => {
    const secret = 'x'.repeat(40)
    const app = await build(t, { JWT_SECRET: secret })
    const { tokens } = await registerAndLogin(app)
    const payload = decodeJwt<{ scope: string, sid: string, client_id: string }>(tokens.access_token)
    // a token of another server (another secret) carrying this server's sid, issuer and audience
    const foreign = await new SignJWT({ scope: payload.scope, sid: payload.sid, client_id: payload.client_id })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setSubject(String(payload.sub)).setJti(randomUUID()).setIssuer(String(payload.iss)).setAudience(String(payload.aud))
      .setIssuedAt().setExpirationTime('5m')
      .sign(new TextEncoder().encode('y'.repeat(40)))
    assert.equal((await revoke(app, { token: foreign, token_type_hint: 'access_token' })).statusCode, 200)
    assert.equal((await me(app, tokens.access_token)).statusCode, 200)
  })
})

describe('POST /logout', () => {
  it('ends the session of the presented token', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const other = await login(app, user.username)
    const res = await app.inject({ method: 'POST', url: '/logout', headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 204)
    assert.equal(res.body, '')
    await assertSessionEnded(app, tokens)
    assert.equal((await me(app, other.access_token)).statusCode, 200, 'other sessions stay')
  })

  it('answers 401 without a token', async (t) => {
    const app = await build(t)
    const res = await app.inject({ method: 'POST', url: '/logout' })
    assert.equal(res.statusCode, 401)
    assert.equal(res.headers['www-authenticate'], 'Bearer')
  })

  it('answers 401 for a token whose session already ended', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    assert.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(tokens.access_token) })).statusCode, 204)
    const again = await app.inject({ method: 'POST', url: '/logout', headers: bearer(tokens.access_token) })
    assert.equal(again.statusCode, 401)
  })
})

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
    assert.equal((await me(app, other.access_token)).statusCode, 200)
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

    assert.equal((await me(app, tokens.access_token)).statusCode, 200, 'the current session keeps working')
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
    assert.equal((await me(app, tokens.access_token)).statusCode, 200)
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
    assert.equal((await me(app, bob.tokens.access_token)).statusCode, 200, 'bob\'s session is untouched')
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
    assert.equal((await me(app, stranger.tokens.access_token)).statusCode, 200)
    await login(app, user.username)
  })
})

describe('PATCH /users/me', () => {
  it('updates the full name and e-mail', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const email = `${user.username}@example.com`
    const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(tokens.access_token), payload: { full_name: 'Jane Doe', email } })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), { ...user, full_name: 'Jane Doe', email })
    assert.deepEqual((await me(app, tokens.access_token)).json(), { ...user, full_name: 'Jane Doe', email })
    // the new e-mail logs in
    await login(app, email.toUpperCase())
  })

  for (const body of [{ is_admin: true }, { full_name: 'Eve', is_admin: true }, { full_name: 'Eve', disabled: false }, { password_hash: 'x' }]) {
    it(`refuses ${JSON.stringify(body)} and changes nothing`, async (t) => {
      const app = await build(t)
      const { user, tokens } = await registerAndLogin(app)
      const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(tokens.access_token), payload: body })
      assert.equal(res.statusCode, 400)
      const after = (await me(app, tokens.access_token)).json()
      assert.equal(after.is_admin, false)
      assert.deepEqual(after, user)
      const stored = await storeOf(app).users.findById(user.id)
      assert.equal(stored?.is_admin, false)
    })
  }

  it('refuses an empty body and a bad e-mail', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    for (const body of [{}, { email: 'not an email' }, { full_name: 42 }]) {
      const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(tokens.access_token), payload: body })
      assert.equal(res.statusCode, 400, JSON.stringify(body))
    }
  })

  it('answers 409 for an e-mail another user has, in any case', async (t) => {
    const app = await build(t)
    const taken = `taken${Date.now()}@example.com`
    await registerUser(app, { email: taken })
    const { user, tokens } = await registerAndLogin(app)
    const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(tokens.access_token), payload: { email: taken.toUpperCase() } })
    assert.equal(res.statusCode, 409)
    assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'message', 'statusCode'])
    assert.equal((await me(app, tokens.access_token)).json().email, user.email)
  })
})
