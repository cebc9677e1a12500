import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, createPublicKey, randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importPKCS8, SignJWT, type JWTPayload } from 'jose'
import app from '../../src/app.js'
import { bearer, build, registerAndLogin, isolatedTestConfig, registerUser, storeOf } from '../helper.js'
import type { UserPublic } from '../../src/schemas/user.js'
import { currentUser } from '../../plugins/auth/current-user.js'

/*
 * The bearer-token checks of protected routes (CONTRACT.md "Errors of protected routes",
 * RFC 6750 §3, RFC 8725, RFC 9068, SECURITY.md's fast-jwt advisories), on GET /users/me.
 */

const SECRET = 'a-test-secret-of-more-than-32-bytes-0123456789'
const KEY = new TextEncoder().encode(SECRET)
const ISSUER = 'http://127.0.0.1:3000'
const HS256 = { JWT_SECRET: SECRET }

const INVALID_TOKEN = 'Bearer error="invalid_token"'
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)

type Claims = JWTPayload & Record<string, unknown>

/** Fastify's error body for a refused request, with the exact challenge header. */
function assertRefused (res: { statusCode: number, headers: Record<string, unknown>, json: () => unknown }, status: number, challenge: string) {
  assert.equal(res.statusCode, status)
  assert.equal(res.headers['www-authenticate'], challenge)
  const body = res.json() as Record<string, unknown>
  assert.deepEqual(Object.keys(body).sort(), ['error', 'message', 'statusCode'])
  assert.equal(body.statusCode, status)
  assert.equal(body.error, status === 401 ? 'Unauthorized' : 'Forbidden')
  assert.equal(typeof body.message, 'string')
  assert.ok((body.message as string).length > 0)
}

/** A logged-in user on an HS256 app, with the claims of their real access token. */
async function hs256Setup (t: TestContext) {
  const app = await build(t, HS256)
  const { user, tokens } = await registerAndLogin(app)
  const claims = decodeJwt(tokens.access_token) as Claims
  return { app, user, token: tokens.access_token, claims }
}

interface ForgeOptions {
  claims?: Record<string, unknown>
  omit?: string[]
  header?: Record<string, unknown>
  key?: Uint8Array
  crit?: Record<string, boolean>
}

/** Signs, with jose, the claims of a real token with some changed: fresh iat/exp, HS256, typ at+jwt. */
async function forge (base: Claims, { claims = {}, omit = [], header = {}, key = KEY, crit }: ForgeOptions = {}) {
  const payload: Record<string, unknown> = { ...base, iat: now(), exp: now() + 300, ...claims }
  for (const name of omit) delete payload[name]
  const protectedHeader = { alg: 'HS256', typ: 'at+jwt', ...header }
  for (const name of Object.keys(protectedHeader)) if ((protectedHeader as Record<string, unknown>)[name] === undefined) delete (protectedHeader as Record<string, unknown>)[name]
  return new SignJWT(payload as JWTPayload).setProtectedHeader(protectedHeader as { alg: string }).sign(key, crit === undefined ? undefined : { crit })
}

/** A compact JWS built by hand, for what jose refuses to make. */
const handMade = (header: Record<string, unknown>, payload: Record<string, unknown>, signature = '') =>
  `${b64(header)}.${b64(payload)}.${signature}`

const hmac = (secret: string | Buffer, signingInput: string) => createHmac('sha256', secret).update(signingInput).digest('base64url')

describe('authenticate: no token', () => {
  const cases: Array<{ name: string, headers: Record<string, string> }> = [
    { name: 'no Authorization header', headers: {} },
    { name: 'Basic credentials', headers: { authorization: `Basic ${Buffer.from('user:correct horse battery staple').toString('base64')}` } },
    { name: 'a Digest challenge answer', headers: { authorization: 'Digest username="user", realm="x"' } },
    { name: 'a scheme that only starts with "Bearer"', headers: { authorization: 'Bearerx abc.def.ghi' } }
  ]
  for (const { name, headers } of cases) {
    it(`answers 401 with a bare Bearer challenge for ${name}`, async (t) => {
      const app = await build(t)
      const res = await app.inject({ url: '/users/me', headers })
      assertRefused(res, 401, 'Bearer')
    })
  }

  it('does not take an access token from the query string', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const res = await app.inject({ url: `/users/me?access_token=${tokens.access_token}` })
    assertRefused(res, 401, 'Bearer')
  })
})

describe('authenticate: invalid tokens (HS256 mode)', { concurrency: 4 }, () => {
  it('accepts a hand-signed token with the real claims (the forging below is sound)', async (t) => {
    const { app, user, claims } = await hs256Setup(t)
    const res = await app.inject({ url: '/users/me', headers: bearer(await forge(claims)) })
    assert.equal(res.statusCode, 200)
    assert.equal(res.json<UserPublic>().id, user.id)
  })

  it('accepts the scheme name in any case (RFC 7235)', async (t) => {
    const { app, token } = await hs256Setup(t)
    const res = await app.inject({ url: '/users/me', headers: { authorization: `bearer ${token}` } })
    assert.equal(res.statusCode, 200)
  })

  const cases: Array<{ name: string, token: (ctx: { token: string, claims: Claims, otherUserId: () => Promise<string> }) => Promise<string> | string }> = [
    { name: 'a garbage string', token: () => 'not-a-jwt' },
    { name: 'three garbage segments', token: () => 'abc.def.ghi' },
    {
      name: 'a tampered payload (scope widened, signature kept)',
      token: ({ token, claims }) => {
        const [header, , signature] = token.split('.')
        return `${header}.${b64({ ...claims, scope: 'me items admin' })}.${signature}`
      }
    },
    {
      name: 'a tampered signature',
      token: ({ token }) => {
        const [header, payload, signature = ''] = token.split('.')
        // The first character carries 6 full bits of the MAC (the last one has padding bits).
        return `${header}.${payload}.${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`
      }
    },
    { name: 'a token without its signature', token: ({ token }) => token.split('.').slice(0, 2).join('.') + '.' },
    { name: 'an expired token', token: ({ claims }) => forge(claims, { claims: { iat: now() - 1000, exp: now() - 60 } }) },
    { name: 'a token without exp', token: ({ claims }) => forge(claims, { omit: ['exp'] }) },
    { name: 'a token whose nbf is in the future', token: ({ claims }) => forge(claims, { claims: { nbf: now() + 600 } }) },
    { name: 'a wrong issuer', token: ({ claims }) => forge(claims, { claims: { iss: 'http://evil.example' } }) },
    { name: 'an issuer that only starts with the right one', token: ({ claims }) => forge(claims, { claims: { iss: `${ISSUER}.evil.example` } }) },
    { name: 'a wrong audience', token: ({ claims }) => forge(claims, { claims: { aud: 'http://other-api.example' } }) },
    { name: 'no audience', token: ({ claims }) => forge(claims, { omit: ['aud'] }) },
    { name: 'iss as an array holding the right issuer', token: ({ claims }) => forge(claims, { claims: { iss: [ISSUER] } }) },
    { name: 'sub as an array', token: ({ claims }) => forge(claims, { claims: { sub: [claims.sub] } }) },
    { name: 'sid as an array', token: ({ claims }) => forge(claims, { claims: { sid: [claims.sid] } }) },
    { name: 'scope as an array', token: ({ claims }) => forge(claims, { claims: { scope: ['me', 'items'] } }) },
    {
      name: 'alg none',
      token: ({ claims }) => handMade({ alg: 'none', typ: 'at+jwt' }, { ...claims, iat: now(), exp: now() + 300 })
    },
    {
      name: 'alg none with the real signature kept',
      token: ({ token, claims }) => `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims)}.${token.split('.')[2]}`
    },
    {
      name: 'HS512 with the right secret (algorithm not pinned)',
      token: ({ claims }) => {
        const input = `${b64({ alg: 'HS512', typ: 'at+jwt' })}.${b64({ ...claims, iat: now(), exp: now() + 300 })}`
        return `${input}.${createHmac('sha512', SECRET).update(input).digest('base64url')}`
      }
    },
    { name: 'a token signed with a foreign secret', token: ({ claims }) => forge(claims, { key: new TextEncoder().encode('another-secret-that-is-long-enough-0123456789') }) },
    { name: "typ 'JWT' instead of 'at+jwt'", token: ({ claims }) => forge(claims, { header: { typ: 'JWT' } }) },
    { name: 'no typ', token: ({ claims }) => forge(claims, { header: { typ: undefined } }) },
    { name: 'a token without sid', token: ({ claims }) => forge(claims, { omit: ['sid'] }) },
    { name: 'a token without sub', token: ({ claims }) => forge(claims, { omit: ['sub'] }) },
    {
      name: "a crit: ['x'] header (CVE-2026-35042)",
      token: ({ claims }) => forge(claims, { header: { crit: ['x'], x: true }, crit: { x: true } })
    },
    {
      name: 'a crit header signed by hand',
      token: ({ claims }) => {
        const input = `${b64({ alg: 'HS256', typ: 'at+jwt', crit: ['exp'] })}.${b64({ ...claims, iat: now(), exp: now() + 300 })}`
        return `${input}.${hmac(SECRET, input)}`
      }
    },
    { name: 'a valid signature on a sid that is no session', token: ({ claims }) => forge(claims, { claims: { sid: randomUUID() } }) },
    { name: "a real session with another user's sub", token: async ({ claims, otherUserId }) => forge(claims, { claims: { sub: await otherUserId() } }) }
  ]
  for (const { name, token } of cases) {
    it(`answers 401 invalid_token for ${name}`, async (t) => {
      const { app, token: real, claims } = await hs256Setup(t)
      const otherUserId = async () => (await registerUser(app)).user.id
      const res = await app.inject({ url: '/users/me', headers: bearer(await token({ token: real, claims, otherUserId })) })
      assertRefused(res, 401, INVALID_TOKEN)
    })
  }
})

describe('authenticate: invalid tokens (EdDSA mode, no JWT_SECRET)', { concurrency: 4 }, () => {
  async function eddsaSetup (t: TestContext) {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const claims = decodeJwt(tokens.access_token) as Claims
    const jwks = (await app.inject('/.well-known/jwks.json')).json<{ keys: Array<Record<string, string>> }>()
    const serverJwk = jwks.keys[0]
    assert.ok(serverJwk !== undefined, 'the server publishes its key')
    const header = decodeProtectedHeader(tokens.access_token)
    assert.equal(header.alg, 'EdDSA')
    assert.equal(header.kid, serverJwk.kid)
    const publicPem = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: serverJwk.x }, format: 'jwk' })
      .export({ format: 'pem', type: 'spki' }).toString()
    return { app, user, claims, serverJwk, publicPem }
  }

  const fresh = (claims: Claims) => ({ ...claims, iat: now(), exp: now() + 300 })

  it('accepts a token signed by hand with the server key (the forging below is sound)', async (t) => {
    const { app, user, claims } = await eddsaSetup(t)
    const { key, kid } = app.authKeys.signingKey()
    const token = await new SignJWT(fresh(claims)).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid }).sign(await importPKCS8(key, 'EdDSA'))
    const res = await app.inject({ url: '/users/me', headers: bearer(token) })
    assert.equal(res.statusCode, 200)
    assert.equal(res.json<UserPublic>().id, user.id)
  })

  const cases: Array<{ name: string, token: (ctx: Awaited<ReturnType<typeof eddsaSetup>>) => Promise<string> }> = [
    {
      name: 'another Ed25519 key with a kid the server does not know',
      token: async ({ claims }) => {
        const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
        return new SignJWT(fresh(claims)).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: 'attacker-key' }).sign(privateKey)
      }
    },
    {
      name: "another Ed25519 key presented under the server's kid",
      token: async ({ claims, serverJwk }) => {
        const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
        return new SignJWT(fresh(claims)).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: serverJwk.kid }).sign(privateKey)
      }
    },
    {
      name: 'another Ed25519 key embedded as a jwk header',
      token: async ({ claims }) => {
        const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
        const jwk = await exportJWK(publicKey)
        return new SignJWT(fresh(claims)).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', jwk }).sign(privateKey)
      }
    },
    {
      name: 'HS256 signed with the server public key PEM as HMAC secret (key confusion)',
      token: async ({ claims, serverJwk, publicPem }) =>
        new SignJWT(fresh(claims)).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: serverJwk.kid }).sign(new TextEncoder().encode(publicPem))
    },
    {
      name: 'HS256 signed with the PEM behind a leading newline (CVE-2026-34950)',
      token: async ({ claims, serverJwk, publicPem }) =>
        new SignJWT(fresh(claims)).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: serverJwk.kid }).sign(new TextEncoder().encode(`\n${publicPem}`))
    },
    {
      name: 'HS256 signed with the raw public key bytes',
      token: async ({ claims, serverJwk }) =>
        new SignJWT(fresh(claims)).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: serverJwk.kid }).sign(Buffer.from(serverJwk.x ?? '', 'base64url'))
    },
    {
      name: "alg none under the server's kid",
      token: async ({ claims, serverJwk }) => handMade({ alg: 'none', typ: 'at+jwt', kid: serverJwk.kid }, fresh(claims))
    }
  ]
  for (const { name, token } of cases) {
    it(`answers 401 invalid_token for ${name}`, async (t) => {
      const ctx = await eddsaSetup(t)
      const res = await ctx.app.inject({ url: '/users/me', headers: bearer(await token(ctx)) })
      assertRefused(res, 401, INVALID_TOKEN)
    })
  }
})

describe('authenticate: scopes and account state', () => {
  it('answers 403 insufficient_scope for a token without scope me', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app, { scope: 'items' })
    assert.equal(tokens.scope, 'items')
    const res = await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
    assertRefused(res, 403, 'Bearer error="insufficient_scope", scope="me"')
  })

  it('answers 401 at once for the existing token of a user who was disabled', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).statusCode, 200)
    await storeOf(app).users.update(user.id, { disabled: true })
    const res = await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
    assertRefused(res, 401, INVALID_TOKEN)
  })

  it('answers 401 for the token of a user who was deleted', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    assert.equal(await storeOf(app).users.delete(user.id), true)
    const res = await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
    assertRefused(res, 401, INVALID_TOKEN)
  })

  it('answers 401 for a token whose session was ended', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    await app.authSessions.endById(decodeJwt(tokens.access_token).sid as string)
    const res = await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
    assertRefused(res, 401, INVALID_TOKEN)
  })

  it('answers 200 and the public user for a valid token', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const res = await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['www-authenticate'], undefined)
    assert.deepEqual(res.json(), user)
    assert.deepEqual(Object.keys(res.json()).sort(), ['created_at', 'disabled', 'email', 'email_verified', 'full_name', 'id', 'is_admin', 'mfa_enabled', 'scopes', 'username'])
  })

  it('sets request.user with the user, the token scopes, session and client', async (t) => {
    const config = await isolatedTestConfig()
    const fastify = Fastify({ logger: false })
    t.after(() => fastify.close())
    await fastify.register(app, { config })
    fastify.get('/whoami', { onRequest: [fastify.authenticate], config: { scopes: ['items'] } }, async request => request.user)
    await fastify.ready()

    const { user, tokens } = await registerAndLogin(fastify, { scope: 'items me' })
    const claims = decodeJwt(tokens.access_token)
    const res = await fastify.inject({ url: '/whoami', headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 200)
    const seen = res.json<Record<string, unknown>>()
    for (const [key, value] of Object.entries(user)) assert.deepEqual(seen[key], value, key)
    assert.deepEqual([...(seen.token_scopes as string[])].sort(), ['items', 'me'])
    assert.equal(seen.session_id, claims.sid)
    assert.equal(seen.client_id, 'public')
    assert.equal(seen.password_hash, undefined)
  })
})

describe('request.user: the session-checked user, typed as possibly absent', () => {
  /** The app with a few routes of a mounting app's own. */
  async function withRoutes (t: TestContext) {
    const config = await isolatedTestConfig()
    const fastify = Fastify({ logger: false })
    t.after(() => fastify.close())
    await fastify.register(app, { config })
    fastify.get('/open', async request => ({ user: request.user }))
    fastify.get('/open-checked', async request => ({ id: currentUser(request).id }))
    fastify.get('/verify-again', { config: { scopes: [] } }, async request => {
      const payload = await request.jwtVerify<{ sub: string }>()
      return { payload: payload.sub, user: currentUser(request).session_id, kept: request.jwtPayload === payload }
    })
    fastify.get('/mutate', { config: { scopes: [] } }, async request => {
      const user = currentUser(request)
      const tries = { username: () => { (user as { username: string }).username = 'someone-else' }, scopes: () => { user.token_scopes.push('admin') } }
      return Object.fromEntries(Object.entries(tries).map(([name, change]) => {
        try { change(); return [name, 'changed'] } catch (error) { return [name, (error as Error).constructor.name] }
      }))
    })
    fastify.get('/scopes', { config: { scopes: [] } }, async request => currentUser(request).token_scopes)
    await fastify.ready()
    return fastify
  }

  it('is null on a route no protection runs, and currentUser() there fails closed with the bare 401 challenge', async (t) => {
    const fastify = await withRoutes(t)
    const { tokens } = await registerAndLogin(fastify)
    const open = await fastify.inject({ url: '/open', headers: bearer(tokens.access_token) })
    assert.equal(open.statusCode, 200)
    assert.deepEqual(open.json(), { user: null }, 'a token on an unprotected route authenticates nobody')
    const checked = await fastify.inject({ url: '/open-checked', headers: bearer(tokens.access_token) })
    assertRefused(checked, 401, 'Bearer')
  })

  it('stays the session-checked user when app code calls request.jwtVerify(), which fills request.jwtPayload instead', async (t) => {
    const fastify = await withRoutes(t)
    const { user, tokens } = await registerAndLogin(fastify)
    const res = await fastify.inject({ url: '/verify-again', headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), { payload: user.id, user: decodeJwt(tokens.access_token).sid, kept: true })
  })

  it('is frozen: a handler cannot change what the next request of the session sees', async (t) => {
    const fastify = await withRoutes(t)
    const { user, tokens } = await registerAndLogin(fastify, { scope: 'me' })
    const res = await fastify.inject({ url: '/mutate', headers: bearer(tokens.access_token) })
    assert.deepEqual(res.json(), { username: 'TypeError', scopes: 'TypeError' })
    const me = await fastify.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
    assert.equal(me.json<UserPublic>().username, user.username)
    assert.deepEqual((await fastify.inject({ url: '/scopes', headers: bearer(tokens.access_token) })).json(), ['me'])
  })

  it('carries each token\'s own scopes when two tokens of one session differ (a narrower refresh)', async (t) => {
    const fastify = await withRoutes(t)
    const { tokens } = await registerAndLogin(fastify, { scope: 'items me' })
    const narrowed = await fastify.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, scope: 'me' }).toString() })
    assert.equal(narrowed.statusCode, 200)
    const narrow = narrowed.json<{ access_token: string }>().access_token
    assert.equal(decodeJwt(narrow).sid, decodeJwt(tokens.access_token).sid)
    const scopesOf = async (token: string) => [...(await fastify.inject({ url: '/scopes', headers: bearer(token) })).json<string[]>()].sort()
    assert.deepEqual(await scopesOf(tokens.access_token), ['items', 'me'])
    assert.deepEqual(await scopesOf(narrow), ['me'])
    assert.deepEqual(await scopesOf(tokens.access_token), ['items', 'me'], 'the wider token again, after the narrow one')
  })
})

describe('authenticate: the session\'s last use', () => {
  it('writes last_used_at once a minute at most, from the cached path as from the database', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const sid = String(decodeJwt(tokens.access_token).sid)
    const me = async () => assert.equal((await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).statusCode, 200)
    const lastUsed = async () => (await storeOf(app).sessions.findWithUser(sid))!.session.last_used_at
    await me()
    const first = await lastUsed()
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 30_000 })
    await me()
    assert.equal(await lastUsed(), first, 'not within the minute: the request stays a read')
    t.mock.timers.setTime(Date.now() + 31_000)
    const touchedAt = Date.now()
    await me()
    assert.equal(await lastUsed(), touchedAt, 'written past the minute')
  })
})
