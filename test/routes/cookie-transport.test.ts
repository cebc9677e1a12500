import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import { decodeJwt } from 'jose'
import auth, { authRoutes } from '../../src/index.js'
import appPlugin from '../../src/app.js'
import { assertNoStore, bearer, build, FORM, form, getMe, isolatedTestConfig, PASSWORD, registerUser, uniqueName } from '../helper.js'

/*
 * Issue 20, CONTRACT "Browser apps: the refresh token in a cookie": every attribute of the cookies
 * and every refusal, through inject. The real browser's side is test/e2e/browser-app.test.ts.
 */

const COOKIE = { 'x-token-transport': 'cookie' }
const APP_ORIGIN = 'https://app.example.com'
const EVIL_ORIGIN = 'https://evil.example.net'

type Cookie = LightMyRequestResponse['cookies'][number]

/** The one Set-Cookie named `name` of an answer (fails when there are several or none). */
function cookieOf (res: LightMyRequestResponse, name: string): Cookie {
  const found = res.cookies.filter(c => c.name === name)
  assert.equal(found.length, 1, `Set-Cookie ${name}: ${JSON.stringify(res.cookies)}`)
  return found[0]!
}

const tokenRequest = (app: FastifyInstance, fields: Record<string, string>, headers: Record<string, string> = {}, url = '/token') =>
  app.inject({ method: 'POST', url, headers: { ...FORM, ...headers }, payload: form(fields) })

/** A cookie-mode login: the answer and its refresh cookie. */
async function cookieLogin (app: FastifyInstance, username: string, headers: Record<string, string> = {}, name = 'refresh_token', url = '/token') {
  const res = await tokenRequest(app, { grant_type: 'password', username, password: PASSWORD }, { ...COOKIE, ...headers }, url)
  assert.equal(res.statusCode, 200, res.body)
  return { res, body: res.json<Record<string, unknown>>(), cookie: cookieOf(res, name) }
}

/** A cookie-mode refresh, the token from `cookieValue`. */
const cookieRefresh = (app: FastifyInstance, cookieValue: string, headers: Record<string, string> = {}, fields: Record<string, string> = {}, name = 'refresh_token', url = '/token') =>
  tokenRequest(app, { grant_type: 'refresh_token', ...fields }, { ...COOKIE, cookie: `${name}=${cookieValue}`, ...headers }, url)

async function appWithUser (t: TestContext, env: Record<string, string> = {}) {
  const app = await build(t, { CORS_ORIGINS: APP_ORIGIN, ...env })
  const { user } = await registerUser(app)
  return { app, user }
}

describe('cookie mode at POST /token (X-Token-Transport: cookie)', () => {
  it('keeps the refresh token out of the body and sets it HttpOnly, SameSite=Strict, Path=/, for the session\'s lifetime (plain http: no Secure, no prefix)', async (t) => {
    const { app, user } = await appWithUser(t)
    const { res, body, cookie } = await cookieLogin(app, user.username)
    assertNoStore(res)
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'])
    assert.equal(cookie.httpOnly, true)
    assert.equal(cookie.sameSite, 'Strict')
    assert.equal(cookie.path, '/')
    assert.equal(cookie.secure, undefined)
    assert.equal(cookie.domain, undefined)
    assert.ok(cookie.maxAge! > 14 * 86_400 - 5 && cookie.maxAge! <= 14 * 86_400, String(cookie.maxAge))
    assert.equal((await getMe(app, body.access_token as string)).statusCode, 200)
  })

  it('names it __Host-refresh_token and makes it Secure when PUBLIC_URL is https', async (t) => {
    const { app, user } = await appWithUser(t, { PUBLIC_URL: 'https://auth.example.com' })
    const { cookie } = await cookieLogin(app, user.username, {}, '__Host-refresh_token')
    assert.equal(cookie.secure, true)
    assert.equal(cookie.path, '/')
    assert.equal(cookie.domain, undefined)
  })

  it('changes nothing without the header: the refresh token in the body, no cookie set or read', async (t) => {
    const { app, user } = await appWithUser(t)
    const res = await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD })
    assert.equal(res.statusCode, 200)
    assert.equal(typeof res.json().refresh_token, 'string')
    assert.equal(res.headers['set-cookie'], undefined)
    // Another value of the header is not cookie mode either.
    const other = await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD }, { 'x-token-transport': 'body' })
    assert.equal(typeof other.json().refresh_token, 'string')
    // A refresh cookie is never read without the header.
    const { cookie } = await cookieLogin(app, user.username)
    const withoutHeader = await tokenRequest(app, { grant_type: 'refresh_token' }, { cookie: `refresh_token=${cookie.value}` })
    assert.equal(withoutHeader.statusCode, 400)
    assert.equal(withoutHeader.json().error, 'invalid_request')
  })

  it('refreshes from the cookie, rotates it (a shorter Max-Age: the session\'s remaining lifetime), and answers a replay within the reuse interval with the same cookie', async (t) => {
    const { app, user } = await appWithUser(t)
    const { body, cookie } = await cookieLogin(app, user.username)
    const first = await cookieRefresh(app, cookie.value)
    assert.equal(first.statusCode, 200, first.body)
    assertNoStore(first)
    assert.equal(first.json().refresh_token, undefined)
    const rotated = cookieOf(first, 'refresh_token')
    assert.notEqual(rotated.value, cookie.value)
    assert.ok(rotated.maxAge! <= cookie.maxAge!)
    assert.equal(decodeJwt(first.json().access_token).sid, decodeJwt(body.access_token as string).sid)
    const replay = await cookieRefresh(app, cookie.value)
    assert.equal(replay.statusCode, 200, replay.body)
    assert.equal(cookieOf(replay, 'refresh_token').value, rotated.value)
    const next = await cookieRefresh(app, rotated.value)
    assert.equal(next.statusCode, 200)
  })

  it('prefers a refresh_token parameter over the cookie', async (t) => {
    const { app, user } = await appWithUser(t)
    const { cookie } = await cookieLogin(app, user.username)
    const res = await cookieRefresh(app, cookie.value, {}, { refresh_token: 'not-a-token' })
    assert.equal(res.statusCode, 400)
    // The parameter was refused; the cookie was not used, so it is not cleared.
    assert.equal(res.cookies.length, 0)
  })

  it('clears the cookie when the refresh is refused because the session is over (reuse detected, revoked, user disabled)', async (t) => {
    const { app, user } = await appWithUser(t, { REFRESH_REUSE_INTERVAL_SECONDS: '0' })
    // Reuse detected: a used token comes back.
    const { cookie } = await cookieLogin(app, user.username)
    assert.equal((await cookieRefresh(app, cookie.value)).statusCode, 200)
    const reused = await cookieRefresh(app, cookie.value)
    assert.equal(reused.statusCode, 400)
    assert.equal(reused.json().error, 'invalid_grant')
    const cleared = cookieOf(reused, 'refresh_token')
    assert.equal(cleared.maxAge, 0)
    assert.equal(cleared.value, '')
    // Revoked: the token's session ended.
    const second = await cookieLogin(app, user.username)
    const revoke = await app.inject({ method: 'POST', url: '/token/revoke', headers: FORM, payload: form({ token: second.cookie.value }) })
    assert.equal(revoke.statusCode, 200)
    assert.equal(cookieOf(await cookieRefresh(app, second.cookie.value), 'refresh_token').maxAge, 0)
    // An unknown token: nothing to keep.
    assert.equal(cookieOf(await cookieRefresh(app, 'garbage'), 'refresh_token').maxAge, 0)
    // The session past its absolute lifetime.
    const expired = await cookieLogin(app, user.username)
    await app.db.updateTable('sessions').set({ expires_at: Date.now() - 1000 }).where('ended_at', 'is', null).execute()
    const late = await cookieRefresh(app, expired.cookie.value)
    assert.equal(late.statusCode, 400)
    assert.equal(cookieOf(late, 'refresh_token').maxAge, 0)
    // The user disabled (every session of theirs ends).
    const disabled = await cookieLogin(app, user.username)
    await app.authAccounts.setDisabled(user.id, true)
    const refused = await cookieRefresh(app, disabled.cookie.value)
    assert.equal(refused.statusCode, 400)
    assert.equal(cookieOf(refused, 'refresh_token').maxAge, 0)
  })

  it('keeps the cookie when the refusal leaves the session alive: a wider scope, another client within the interval, a 429', async (t) => {
    const { app, user } = await appWithUser(t, { TOKEN_RATE_LIMIT: '8' })
    const { cookie } = await cookieLogin(app, user.username)
    const wider = await cookieRefresh(app, cookie.value, {}, { scope: 'me items admin' })
    assert.equal(wider.statusCode, 400)
    assert.equal(wider.json().error, 'invalid_scope')
    assert.equal(wider.cookies.length, 0)
    const rotated = cookieOf(await cookieRefresh(app, cookie.value), 'refresh_token')
    const foreign = await cookieRefresh(app, cookie.value, {}, { client_id: 'another-app' })
    assert.equal(foreign.statusCode, 400)
    assert.equal(foreign.cookies.length, 0)
    let limited: LightMyRequestResponse | undefined
    for (let i = 0; i < 10 && limited === undefined; i++) {
      const res = await cookieRefresh(app, rotated.value)
      if (res.statusCode === 429) limited = res
    }
    assert.ok(limited !== undefined, 'the per-address limit answered 429')
    assert.equal(limited.cookies.length, 0)
  })
})

describe('CSRF: who may read or set the cookies', () => {
  it('refuses, with 403 and Fastify\'s error body, a foreign or null Origin: no login, refresh, revoke or logout, nothing set', async (t) => {
    const { app, user } = await appWithUser(t)
    const { body, cookie } = await cookieLogin(app, user.username)
    for (const origin of [EVIL_ORIGIN, 'null', 'https://app.example.com.evil.net', 'http://app.example.com']) {
      const attempts = [
        await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD }, { ...COOKIE, origin }),
        await cookieRefresh(app, cookie.value, { origin }),
        await app.inject({ method: 'POST', url: '/token/revoke', headers: { ...FORM, ...COOKIE, origin, cookie: `refresh_token=${cookie.value}` }, payload: '' }),
        await app.inject({ method: 'POST', url: '/logout', headers: { ...COOKIE, origin, ...bearer(body.access_token as string) } })
      ]
      for (const res of attempts) {
        assert.equal(res.statusCode, 403, `${origin}: ${res.body}`)
        assert.deepEqual(res.json(), { statusCode: 403, error: 'Forbidden', message: 'This origin may not use the auth cookies' })
        assert.equal(res.headers['set-cookie'], undefined)
      }
    }
    // The session lives on, and its cookie still refreshes from a trusted origin.
    assert.equal((await getMe(app, body.access_token as string)).statusCode, 200)
    assert.equal((await cookieRefresh(app, cookie.value, { origin: APP_ORIGIN })).statusCode, 200)
  })

  it('accepts the server\'s own origin (PUBLIC_URL\'s) and the CORS_ORIGINS ones; with PUBLIC_URL set, not the origin the Host header names', async (t) => {
    const { app, user } = await appWithUser(t, { PUBLIC_URL: 'https://auth.example.com/base' })
    for (const origin of ['https://auth.example.com', APP_ORIGIN]) {
      await cookieLogin(app, user.username, { origin }, '__Host-refresh_token')
    }
    // Found from outside: behind TLS the request looks like http, and `Origin: http://<host>` passed.
    for (const [host, origin] of [['auth.example.com', 'http://auth.example.com'], ['localhost:80', 'http://localhost:80'], ['evil.example.net', 'http://evil.example.net']]) {
      const res = await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD }, { ...COOKIE, host: host!, origin: origin! })
      assert.equal(res.statusCode, 403, `${host} ${origin}`)
    }
  })

  it('accepts, in plain-http development without PUBLIC_URL, the origin the request names in Host (localhost and 127.0.0.1 alike)', async (t) => {
    const { app, user } = await appWithUser(t)
    for (const host of ['localhost:3000', '127.0.0.1:3000']) {
      await cookieLogin(app, user.username, { host, origin: `http://${host}` })
    }
  })

  it('lets a CORS_ORIGINS origin through the preflight with credentials and the header; another origin gets no Access-Control-Allow-Origin', async (t) => {
    const { app } = await appWithUser(t)
    const preflight = (origin: string) => app.inject({ method: 'OPTIONS', url: '/token', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-token-transport' } })
    const allowed = await preflight(APP_ORIGIN)
    assert.equal(allowed.statusCode, 204)
    assert.equal(allowed.headers['access-control-allow-origin'], APP_ORIGIN)
    assert.equal(allowed.headers['access-control-allow-credentials'], 'true')
    assert.match(String(allowed.headers['access-control-allow-headers']), /x-token-transport/)
    // @fastify/cors still says credentials: without Allow-Origin the browser refuses all the same.
    const refused = await preflight(EVIL_ORIGIN)
    assert.equal(refused.headers['access-control-allow-origin'], undefined)
  })
})

describe('cookie tossing (found from outside): a cookie name sent twice', () => {
  it('refuses a refresh when the refresh cookie comes twice, in either order, and clears nothing: the real one keeps working', async (t) => {
    const { app, user } = await appWithUser(t)
    const { cookie } = await cookieLogin(app, user.username)
    const attacker = await registerUser(app)
    const theirs = await cookieLogin(app, attacker.user.username)
    for (const jar of [`refresh_token=garbage; refresh_token=${cookie.value}`, `refresh_token=${cookie.value}; refresh_token=garbage`, `refresh_token=${theirs.cookie.value}; refresh_token=${cookie.value}`, `other=1;  refresh_token=${theirs.cookie.value};refresh_token=${cookie.value}`]) {
      const res = await tokenRequest(app, { grant_type: 'refresh_token' }, { ...COOKIE, cookie: jar })
      assert.equal(res.statusCode, 400, jar)
      assert.equal(res.json().error, 'invalid_request')
      assert.match(res.json().error_description, /more than once/)
      assert.equal(res.headers['set-cookie'], undefined, 'nothing cleared or set')
      const revoke = await app.inject({ method: 'POST', url: '/token/revoke', headers: { ...FORM, ...COOKIE, cookie: jar }, payload: '' })
      assert.equal(revoke.statusCode, 400)
    }
    // Neither session was touched: no fixation into the attacker's, no logout of the victim's.
    assert.equal((await cookieRefresh(app, cookie.value)).statusCode, 200)
    assert.equal((await cookieRefresh(app, theirs.cookie.value)).statusCode, 200)
  })

  it('treats an access cookie sent twice as malformed credentials (401), never as the first one\'s user', async (t) => {
    const { app, user } = await appWithUser(t, { ACCESS_TOKEN_COOKIE: 'true' })
    const mine = cookieOf((await cookieLogin(app, user.username)).res, 'access_token')
    const attacker = await registerUser(app)
    const theirs = cookieOf((await cookieLogin(app, attacker.user.username)).res, 'access_token')
    const res = await app.inject({ url: '/users/me', headers: { cookie: `access_token=${theirs.value}; access_token=${mine.value}` } })
    assert.equal(res.statusCode, 401)
    assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
    // Names with spaces around them are the same name to the parser, so they count too (found from outside).
    for (const cookie of [`access_token =${theirs.value}; access_token=${mine.value}`, `access_token=${mine.value}; \taccess_token  =${theirs.value}`]) {
      const spaced = await app.inject({ url: '/users/me', headers: { cookie } })
      assert.equal(spaced.statusCode, 401, cookie.slice(0, 20))
      assert.equal(spaced.headers['www-authenticate'], 'Bearer error="invalid_token"')
    }
  })

  it('never fills request.cookies for the app\'s own routes: null whether the request came with a cookie or a bearer token', async (t) => {
    const config = await isolatedTestConfig({ ACCESS_TOKEN_COOKIE: 'true' })
    const fastify = Fastify({ logger: false })
    t.after(() => fastify.close())
    await fastify.register(appPlugin, { config })
    fastify.get('/cookies', { config: { scopes: [] } }, async request => ({ cookies: request.cookies ?? null }))
    await fastify.ready()
    const { user } = await registerUser(fastify)
    const { res, body } = await cookieLogin(fastify, user.username)
    const access = cookieOf(res, 'access_token')
    const byCookie = await fastify.inject({ url: '/cookies', headers: { cookie: `theme=dark; access_token=${access.value}` } })
    const byBearer = await fastify.inject({ url: '/cookies', headers: { cookie: 'theme=dark', ...bearer(body.access_token as string) } })
    assert.equal(byCookie.statusCode, 200)
    assert.deepEqual(byCookie.json(), { cookies: null })
    assert.deepEqual(byBearer.json(), { cookies: null })
  })
})

describe('logout and revocation in cookie mode', () => {
  it('POST /logout with the header ends the session and clears the cookie', async (t) => {
    const { app, user } = await appWithUser(t)
    const { body, cookie } = await cookieLogin(app, user.username)
    const res = await app.inject({ method: 'POST', url: '/logout', headers: { ...COOKIE, origin: APP_ORIGIN, ...bearer(body.access_token as string) } })
    assert.equal(res.statusCode, 204)
    const cleared = cookieOf(res, 'refresh_token')
    assert.equal(cleared.maxAge, 0)
    assert.equal(cleared.path, '/')
    assert.equal((await getMe(app, body.access_token as string)).statusCode, 401)
    assert.equal((await cookieRefresh(app, cookie.value)).statusCode, 400)
  })

  it('POST /token/revoke ends nothing for a token issued to another client (RFC 7009 §2.1; found from outside)', async (t) => {
    const { app, user } = await appWithUser(t)
    const login = await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD, client_id: 'app-one' })
    const tokens = login.json<{ access_token: string, refresh_token: string }>()
    for (const token of [tokens.refresh_token, tokens.access_token]) {
      const foreign = await app.inject({ method: 'POST', url: '/token/revoke', headers: FORM, payload: form({ token, client_id: 'app-two' }) })
      assert.equal(foreign.statusCode, 200)
      const basic = await app.inject({ method: 'POST', url: '/token/revoke', headers: { ...FORM, authorization: `Basic ${Buffer.from('app-two:').toString('base64')}` }, payload: form({ token }) })
      assert.equal(basic.statusCode, 200)
    }
    assert.equal((await getMe(app, tokens.access_token)).statusCode, 200, 'the session lives on')
    const own = await app.inject({ method: 'POST', url: '/token/revoke', headers: FORM, payload: form({ token: tokens.refresh_token, client_id: 'app-one' }) })
    assert.equal(own.statusCode, 200)
    assert.equal((await getMe(app, tokens.access_token)).statusCode, 401)
  })

  it('POST /token/revoke with the header and no token revokes the cookie\'s refresh token and clears it', async (t) => {
    const { app, user } = await appWithUser(t)
    const { body, cookie } = await cookieLogin(app, user.username)
    const res = await app.inject({ method: 'POST', url: '/token/revoke', headers: { ...FORM, ...COOKIE, cookie: `refresh_token=${cookie.value}` }, payload: '' })
    assert.equal(res.statusCode, 200, res.body)
    assert.equal(cookieOf(res, 'refresh_token').maxAge, 0)
    assert.equal((await getMe(app, body.access_token as string)).statusCode, 401)
    // Without a cookie either: the usual invalid_request.
    const none = await app.inject({ method: 'POST', url: '/token/revoke', headers: { ...FORM, ...COOKIE }, payload: '' })
    assert.equal(none.statusCode, 400)
    assert.equal(none.json().error, 'invalid_request')
  })
})

describe('ACCESS_TOKEN_COOKIE=true: the access token as a cookie too', () => {
  it('sets it HttpOnly, SameSite=Lax, for the token\'s lifetime; protected routes accept it; unsafe methods need the header or the own origin', async (t) => {
    const { app, user } = await appWithUser(t, { ACCESS_TOKEN_COOKIE: 'true' })
    const { res } = await cookieLogin(app, user.username)
    const access = cookieOf(res, 'access_token')
    assert.equal(access.httpOnly, true)
    assert.equal(access.sameSite, 'Lax')
    assert.equal(access.path, '/')
    assert.equal(access.maxAge, 900)
    const jar = { cookie: `access_token=${access.value}` }
    assert.equal((await app.inject({ url: '/users/me', headers: jar })).statusCode, 200)
    // An unsafe method with the cookie alone (a cross-site form, say): refused before anything runs.
    const forged = await app.inject({ method: 'POST', url: '/logout', headers: jar })
    assert.equal(forged.statusCode, 403)
    assert.equal(forged.json().error, 'Forbidden')
    const foreign = await app.inject({ method: 'POST', url: '/logout', headers: { ...jar, origin: EVIL_ORIGIN } })
    assert.equal(foreign.statusCode, 403)
    assert.equal((await app.inject({ url: '/users/me', headers: jar })).statusCode, 200)
    // With the header: logout, and both cookies cleared.
    const out = await app.inject({ method: 'POST', url: '/logout', headers: { ...jar, ...COOKIE } })
    assert.equal(out.statusCode, 204, out.body)
    assert.equal(cookieOf(out, 'access_token').maxAge, 0)
    assert.equal(cookieOf(out, 'refresh_token').maxAge, 0)
    assert.equal((await app.inject({ url: '/users/me', headers: jar })).statusCode, 401)
  })

  it('accepts an unsafe method from the server\'s own origin; the bearer header wins over the cookie', async (t) => {
    const { app, user } = await appWithUser(t, { ACCESS_TOKEN_COOKIE: 'true', PUBLIC_URL: 'https://auth.example.com' })
    const { res } = await cookieLogin(app, user.username, {}, '__Host-refresh_token')
    const access = cookieOf(res, '__Host-access_token')
    assert.equal(access.secure, true)
    const jar = { cookie: `__Host-access_token=${access.value}` }
    const patch = await app.inject({ method: 'PATCH', url: '/users/me', headers: { ...jar, origin: 'https://auth.example.com' }, payload: { full_name: 'Own Origin' } })
    assert.equal(patch.statusCode, 200, patch.body)
    assert.equal((await app.inject({ url: '/users/me', headers: { ...jar, ...bearer('not-a-jwt') } })).statusCode, 401)
  })

  it('is off by default: an access_token cookie is not a credential', async (t) => {
    const { app, user } = await appWithUser(t)
    const { body, res } = await cookieLogin(app, user.username)
    assert.equal(res.cookies.length, 1)
    assert.equal((await app.inject({ url: '/users/me', headers: { cookie: `access_token=${body.access_token as string}` } })).statusCode, 401)
  })
})

describe('cookie mode in a mounting app (the plugin\'s options, under a prefix)', () => {
  async function mounted (t: TestContext, cookies: Record<string, unknown>) {
    const app = Fastify()
    t.after(() => app.close())
    await app.register(auth, { jwt: { secret: 'a-mounted-app-secret-of-at-least-32-bytes' }, cookies })
    await app.register(authRoutes, { prefix: '/auth' })
    await app.ready()
    const username = uniqueName('cookie')
    assert.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })).statusCode, 201)
    return { app, username }
  }

  it('scopes the cookie to the prefix: __Secure-refresh_token, Path=/auth over https; it refreshes and logs out there', async (t) => {
    const { app, username } = await mounted(t, { publicUrl: 'https://example.com', trustedOrigins: [APP_ORIGIN] })
    const { body, cookie } = await cookieLogin(app, username, { origin: APP_ORIGIN }, '__Secure-refresh_token', '/auth/token')
    assert.equal(cookie.path, '/auth')
    assert.equal(cookie.secure, true)
    const refreshed = await cookieRefresh(app, cookie.value, { origin: APP_ORIGIN }, {}, '__Secure-refresh_token', '/auth/token')
    assert.equal(refreshed.statusCode, 200, refreshed.body)
    assert.equal(cookieOf(refreshed, '__Secure-refresh_token').path, '/auth')
    const refused = await cookieRefresh(app, cookie.value, { origin: EVIL_ORIGIN }, {}, '__Secure-refresh_token', '/auth/token')
    assert.equal(refused.statusCode, 403)
    const out = await app.inject({ method: 'POST', url: '/auth/logout', headers: { ...COOKIE, ...bearer(refreshed.json().access_token as string) } })
    assert.equal(out.statusCode, 204)
    assert.equal(cookieOf(out, '__Secure-refresh_token').maxAge, 0)
    assert.equal(body.refresh_token, undefined)
  })

  it('refuses an invalid cookies option at registration', async () => {
    const app = Fastify()
    await assert.rejects(async () => { await app.register(auth, { jwt: { secret: 'a-mounted-app-secret-of-at-least-32-bytes' }, cookies: { trustedOrigins: ['*'] } }).ready() }, /trustedOrigins/)
    await app.close()
  })
})
