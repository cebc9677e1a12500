import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { LightMyRequestResponse } from 'fastify'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { adminLogin, assertNoStore, build, FORM, form, login, PASSWORD, postToken, registerUser, uniqueName, storeOf } from '../helper.js'

const basic = (credentials: string) => ({ authorization: `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}` })

/** An RFC 6749 §5.2 error: status, exactly {error, error_description}, no-store headers. */
function assertOAuthError (res: LightMyRequestResponse, status: number, error: string) {
  assert.equal(res.statusCode, status, res.body)
  const body = res.json()
  assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description'])
  assert.equal(body.error, error)
  assert.equal(typeof body.error_description, 'string')
  assert.ok(body.error_description.length > 0)
  assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8$/)
  assert.equal(res.body.includes('access_token'), false)
  assertNoStore(res)
}

describe('POST /token', () => {
  describe('password grant', () => {
    it('answers the token response with no-store headers', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const res = await postToken(app, { grant_type: 'password', username: user.username, password: PASSWORD })
      assert.equal(res.statusCode, 200, res.body)
      assertNoStore(res)
      assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8$/)
      const body = res.json()
      assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
      assert.equal(body.token_type, 'bearer')
      assert.equal(body.expires_in, 900)
      assert.equal(body.scope, 'me items')
      assert.equal(typeof body.access_token, 'string')
      assert.equal(body.access_token.split('.').length, 3)
      assert.equal(typeof body.refresh_token, 'string')
      // opaque, not a JWT, and at least 128 bits of base64url
      assert.equal(body.refresh_token.split('.').length, 1)
      assert.ok(body.refresh_token.length >= 22, body.refresh_token)
      assert.notEqual(body.refresh_token, body.access_token)
    })

    it('accepts a request without grant_type, as FastAPI\'s form does', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const res = await postToken(app, { username: user.username, password: PASSWORD })
      assert.equal(res.statusCode, 200, res.body)
      assert.equal(res.json().scope, 'me items')
      assert.equal(decodeJwt(res.json().access_token).sub, user.id)
    })

    it('logs in by e-mail and by username in another case', async (t) => {
      const app = await build(t)
      const username = uniqueName('Mixed')
      const email = `${username.toLowerCase()}@example.com`
      const { user } = await registerUser(app, { username, email })
      for (const login of [email, email.toUpperCase(), username.toUpperCase(), username.toLowerCase()]) {
        const res = await postToken(app, { grant_type: 'password', username: login, password: PASSWORD })
        assert.equal(res.statusCode, 200, `${login}: ${res.body}`)
        assert.equal(decodeJwt(res.json().access_token).sub, user.id, login)
      }
    })

    it('answers the same invalid_grant for an unknown user, a wrong password and a disabled user', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const { user: disabled } = await registerUser(app)
      await storeOf(app).users.update(disabled.id, { disabled: true })

      const unknown = await postToken(app, { grant_type: 'password', username: uniqueName('ghost'), password: PASSWORD })
      const wrongPassword = await postToken(app, { grant_type: 'password', username: user.username, password: `${PASSWORD}!` })
      const disabledUser = await postToken(app, { grant_type: 'password', username: disabled.username, password: PASSWORD })

      for (const res of [unknown, wrongPassword, disabledUser]) assertOAuthError(res, 400, 'invalid_grant')
      assert.equal(wrongPassword.body, unknown.body)
      assert.equal(disabledUser.body, unknown.body)
      assert.equal(wrongPassword.headers['content-length'], unknown.headers['content-length'])
      assert.equal(disabledUser.headers['content-length'], unknown.headers['content-length'])
    })

    it('grants a requested subset of scopes, in the response and in the token', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      for (const [requested, granted] of [['me', 'me'], ['items', 'items'], ['items me', 'items me'], ['me  me', 'me']]) {
        const res = await postToken(app, { grant_type: 'password', username: user.username, password: PASSWORD, scope: requested! })
        assert.equal(res.statusCode, 200, `${requested}: ${res.body}`)
        assert.equal(res.json().scope, granted, requested)
        assert.equal(decodeJwt(res.json().access_token).scope, granted, requested)
      }
    })

    it('answers invalid_scope for a scope the user may not have', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      for (const scope of ['admin', 'me admin', 'unknown', 'me unknown', 'ME', 'me,items']) {
        const res = await postToken(app, { grant_type: 'password', username: user.username, password: PASSWORD, scope })
        assertOAuthError(res, 400, 'invalid_scope')
      }
    })

    it('gives an admin every scope, admin included', async (t) => {
      const app = await build(t)
      const { tokens } = await adminLogin(app)
      assert.equal(tokens.scope, 'me items admin')
      assert.equal(decodeJwt(tokens.access_token).scope, 'me items admin')
    })

    it('answers invalid_request when username or password is missing or empty', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const cases: Array<Record<string, string>> = [
        { grant_type: 'password', password: PASSWORD },
        { grant_type: 'password', username: user.username },
        { grant_type: 'password' },
        { grant_type: 'password', username: '', password: PASSWORD },
        { grant_type: 'password', username: user.username, password: '' },
        {}
      ]
      for (const fields of cases) {
        const res = await postToken(app, fields)
        assertOAuthError(res, 400, 'invalid_request')
      }
    })

    it('answers invalid_request for parameters over their length limit', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const cases: Array<Record<string, string>> = [
        { username: 'u'.repeat(255), password: PASSWORD },
        { username: user.username, password: 'p'.repeat(1025) },
        { username: user.username, password: PASSWORD, scope: 'me '.repeat(100) },
        { username: user.username, password: PASSWORD, client_id: 'c'.repeat(201) }
      ]
      for (const fields of cases) assertOAuthError(await postToken(app, fields), 400, 'invalid_request')
    })
  })

  describe('request format', () => {
    it('answers unsupported_grant_type for grants it does not offer', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      for (const grantType of ['client_credentials', 'AUTHORIZATION_CODE', 'implicit', 'PASSWORD', 'urn:ietf:params:oauth:grant-type:jwt-bearer']) {
        const res = await postToken(app, { grant_type: grantType, username: user.username, password: PASSWORD })
        assertOAuthError(res, 400, 'unsupported_grant_type')
      }
    })

    it('reads the form whatever the media type\'s case and charset parameter', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const payload = form({ grant_type: 'password', username: user.username, password: PASSWORD })
      for (const contentType of [
        'application/x-www-form-urlencoded;charset=UTF-8',
        'application/x-www-form-urlencoded; charset=utf-8',
        'Application/X-WWW-Form-Urlencoded',
        'APPLICATION/X-WWW-FORM-URLENCODED ; charset=utf-8'
      ]) {
        const res = await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': contentType }, payload })
        assert.equal(res.statusCode, 200, `${contentType}: ${res.body}`)
        assert.equal(decodeJwt(res.json().access_token).sub, user.id)
      }
      for (const contentType of ['application/x-www-form-urlencodedx', 'application/x-www-form-urlencoded garbage', 'application/x-www-form-urlencoded\tx']) {
        const res = await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': contentType }, payload })
        assertOAuthError(res, 400, 'invalid_request')
      }
    })

    it('refuses a JSON body with invalid_request and issues no token', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const res = await app.inject({
        method: 'POST',
        url: '/token',
        payload: { grant_type: 'password', username: user.username, password: PASSWORD }
      })
      assertOAuthError(res, 400, 'invalid_request')
      const sessions = await storeOf(app).sessions.listForUser(user.id)
      assert.equal(sessions.length, 0)
    })

    it('refuses other media types with invalid_request', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const payload = form({ grant_type: 'password', username: user.username, password: PASSWORD })
      for (const contentType of ['text/plain', 'text/plain; charset=utf-8', 'application/xml', 'multipart/form-data; boundary=x']) {
        const res = await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': contentType }, payload })
        assertOAuthError(res, 400, 'invalid_request')
      }
      assert.equal((await storeOf(app).sessions.listForUser(user.id)).length, 0)
    })

    it('answers invalid_request for a parameter sent twice (RFC 6749 §3.2)', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const base = `username=${user.username}&password=${encodeURIComponent(PASSWORD)}`
      const payloads = [
        `grant_type=password&username=a&username=b&password=${encodeURIComponent(PASSWORD)}`,
        `grant_type=password&${base}&username=${user.username}`,
        `grant_type=password&${base}&password=${encodeURIComponent(PASSWORD)}`,
        `grant_type=password&grant_type=password&${base}`,
        `grant_type=password&${base}&scope=me&scope=items`
      ]
      for (const payload of payloads) {
        const res = await app.inject({ method: 'POST', url: '/token', headers: FORM, payload })
        assertOAuthError(res, 400, 'invalid_request')
      }
      assert.equal((await storeOf(app).sessions.listForUser(user.id)).length, 0)
    })
  })

  describe('clients', () => {
    it('puts the form\'s client_id in the token, and the default client_id when none is sent', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const withClient = await postToken(app, { username: user.username, password: PASSWORD, client_id: 'my-spa' })
      assert.equal(withClient.statusCode, 200, withClient.body)
      assert.equal(decodeJwt(withClient.json().access_token).client_id, 'my-spa')

      const withoutClient = await postToken(app, { username: user.username, password: PASSWORD })
      assert.equal(withoutClient.statusCode, 200, withoutClient.body)
      assert.equal(decodeJwt(withoutClient.json().access_token).client_id, 'public')

      const emptyClient = await postToken(app, { username: user.username, password: PASSWORD, client_id: '', client_secret: '' })
      assert.equal(emptyClient.statusCode, 200, emptyClient.body)
      assert.equal(decodeJwt(emptyClient.json().access_token).client_id, 'public')
    })

    it('accepts the empty Basic pair Swagger UI sends', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const res = await postToken(app, { grant_type: 'password', username: user.username, password: PASSWORD }, basic(':'))
      assert.equal(res.statusCode, 200, res.body)
      assertNoStore(res)
      assert.equal(decodeJwt(res.json().access_token).client_id, 'public')

      const named = await postToken(app, { username: user.username, password: PASSWORD }, basic('swagger:'))
      assert.equal(named.statusCode, 200, named.body)
      assert.equal(decodeJwt(named.json().access_token).client_id, 'swagger')
    })

    it('answers 401 invalid_client with a challenge for a client secret in the Authorization header', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      for (const credentials of ['client:secret', ':secret', 'public:x']) {
        const res = await postToken(app, { grant_type: 'password', username: user.username, password: PASSWORD }, basic(credentials))
        assertOAuthError(res, 401, 'invalid_client')
        assert.match(String(res.headers['www-authenticate']), /^Basic\b/)
      }
      assert.equal((await storeOf(app).sessions.listForUser(user.id)).length, 0)
    })

    it('answers 401 invalid_client for a client_secret in the form', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const cases: Array<Record<string, string>> = [{ client_secret: 'secret' }, { client_id: 'my-app', client_secret: 'secret' }]
      for (const fields of cases) {
        const res = await postToken(app, { grant_type: 'password', username: user.username, password: PASSWORD, ...fields })
        assertOAuthError(res, 401, 'invalid_client')
      }
      assert.equal((await storeOf(app).sessions.listForUser(user.id)).length, 0)
    })

    it('answers 401 invalid_client for malformed Basic credentials', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const headers = [
        basic('no-colon-here'),
        { authorization: 'Basic ' },
        { authorization: 'Basic %%%%' },
        basic('%zz:'),
        basic('id\u0000:')
      ]
      for (const header of headers) {
        const res = await postToken(app, { grant_type: 'password', username: user.username, password: PASSWORD }, header)
        assertOAuthError(res, 401, 'invalid_client')
        assert.match(String(res.headers['www-authenticate']), /^Basic\b/, header.authorization)
      }
      assert.equal((await storeOf(app).sessions.listForUser(user.id)).length, 0)
    })
  })

  describe('access token', () => {
    it('is an at+jwt with the RFC 9068 claims', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const before = Math.floor(Date.now() / 1000)
      const tokens = await login(app, user.username)
      const after = Math.ceil(Date.now() / 1000)

      const header = decodeProtectedHeader(tokens.access_token)
      assert.equal(header.typ, 'at+jwt')
      assert.ok(['EdDSA', 'ES256'].includes(String(header.alg)), `alg ${header.alg}`)
      assert.equal(typeof header.kid, 'string')

      const claims = decodeJwt(tokens.access_token)
      for (const name of ['iss', 'aud', 'sub', 'exp', 'iat', 'jti', 'scope', 'sid', 'client_id']) {
        assert.ok(name in claims, `claim ${name} missing`)
      }
      assert.equal(claims.iss, 'http://127.0.0.1:3000')
      assert.equal(claims.aud, 'http://127.0.0.1:3000')
      assert.equal(claims.sub, user.id)
      assert.equal(claims.scope, 'me items')
      assert.equal(claims.client_id, 'public')
      assert.equal(typeof claims.jti, 'string')
      assert.equal(typeof claims.sid, 'string')
      assert.equal(typeof claims.iat, 'number')
      assert.equal(typeof claims.exp, 'number')
      assert.ok((claims.iat as number) >= before && (claims.iat as number) <= after, `iat ${claims.iat}`)
      assert.equal((claims.exp as number) - (claims.iat as number), 900)
      const sessions = await storeOf(app).sessions.listForUser(user.id)
      assert.deepEqual(sessions.map(s => s.id), [claims.sid])
    })

    it('is new on every login: new jti, new session, new refresh token', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const first = await login(app, user.username)
      const second = await login(app, user.username)
      const [a, b] = [decodeJwt(first.access_token), decodeJwt(second.access_token)]
      assert.notEqual(a.jti, b.jti)
      assert.notEqual(a.sid, b.sid)
      assert.notEqual(first.refresh_token, second.refresh_token)
    })
  })

  describe('rate limits', () => {
    it('answers 429 with Retry-After past TOKEN_RATE_LIMIT requests per address', async (t) => {
      const app = await build(t, { TOKEN_RATE_LIMIT: '2' })
      const username = uniqueName('limited')
      for (let i = 0; i < 2; i++) {
        const res = await postToken(app, { grant_type: 'password', username })
        assertOAuthError(res, 400, 'invalid_request')
      }
      const res = await postToken(app, { grant_type: 'password', username })
      assert.equal(res.statusCode, 429, res.body)
      const retryAfter = Number(res.headers['retry-after'])
      assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `Retry-After ${res.headers['retry-after']}`)
      const body = res.json()
      assert.deepEqual(Object.keys(body).sort(), ['error', 'message', 'statusCode'])
      assert.equal(body.statusCode, 429)
      assert.equal(body.error, 'Too Many Requests')
      assert.equal(typeof body.message, 'string')
      assertNoStore(res)
    })

    it('limits attempts per username, in any case, whatever the password', async (t) => {
      const app = await build(t, { LOGIN_USERNAME_RATE_LIMIT: '2' })
      const { user: target } = await registerUser(app, { username: uniqueName('target') })
      const { user: other } = await registerUser(app, { username: uniqueName('other') })

      for (const password of ['wrong-password-1', 'wrong-password-2']) {
        assertOAuthError(await postToken(app, { username: target.username, password }), 400, 'invalid_grant')
      }
      // the right password, and the same name in another case, count against the same limit
      for (const username of [target.username, target.username.toUpperCase()]) {
        const res = await postToken(app, { username, password: PASSWORD })
        assert.equal(res.statusCode, 429, `${username}: ${res.body}`)
        assert.ok(res.headers['retry-after'] !== undefined)
        assert.equal(res.json().statusCode, 429)
        assert.equal(res.body.includes('access_token'), false)
      }

      // from the same address, another username is not affected
      assertOAuthError(await postToken(app, { username: other.username, password: 'wrong-password-1' }), 400, 'invalid_grant')
      const ok = await postToken(app, { username: other.username, password: PASSWORD })
      assert.equal(ok.statusCode, 200, ok.body)
    })
  })
})
