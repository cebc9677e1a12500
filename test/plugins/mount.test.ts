import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import { decodeProtectedHeader } from 'jose'
import auth, { authRoutes, createDatabase, createSqlStore, migrateToLatest, type AuthPluginOptions, type AuthStore } from '../../src/index.js'
import { bearer, FORM, form, PASSWORD, postToken, uniqueName } from '../helper.js'
import { currentUser } from '../../plugins/auth/current-user.js'

/*
 * The auth core as a package (CONTRACT.md "The plugin"): registered on a bare Fastify()
 * that keeps Fastify's default error handler, with the routes under /auth.
 */

const SECRET = 'a-mounted-app-secret-of-at-least-32-bytes'

type StoreMode = 'default' | 'explicit'

interface MountOptions {
  store?: StoreMode
  jwt?: AuthPluginOptions['jwt']
  /** register authRoutes under /auth too */
  routes?: boolean
}

/** A bare app: the plugin (and its routes under /auth), and one route of its own behind scope `items`. */
async function mountedApp (t: TestContext, { store = 'default', jwt = { secret: SECRET }, routes = true }: MountOptions = {}) {
  const app = Fastify()
  t.after(() => app.close())
  // The contract's `{ jwt: { secret } }`: every jwt field is optional in the options type.
  const options: AuthPluginOptions = { jwt }
  if (store === 'explicit') {
    const { db } = createDatabase('sqlite::memory:')
    await migrateToLatest(db)
    t.after(() => db.destroy())
    options.store = createSqlStore(db)
  }
  await app.register(auth, options)
  if (routes) await app.register(authRoutes, { prefix: '/auth' })
  app.get('/mine', { onRequest: [app.authenticate], config: { scopes: ['items'] } }, async req => ({ id: currentUser(req).id }))
  await app.ready()
  return app
}

/** Registers and logs in over /auth/register and /auth/token. */
async function signUp (app: FastifyInstance, scope?: string) {
  const username = uniqueName('mounted')
  const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })
  assert.equal(registered.statusCode, 201, registered.body)
  const userId = registered.json<{ id: string }>().id
  const fields: Record<string, string> = { grant_type: 'password', username, password: PASSWORD }
  if (scope !== undefined) fields.scope = scope
  const res = await app.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload: form(fields) })
  assert.equal(res.statusCode, 200, res.body)
  return { userId, accessToken: res.json<{ access_token: string }>().access_token }
}

/** Registers and logs in through the services, for an app without authRoutes. */
async function signUpDirect (app: FastifyInstance, scope?: string) {
  const user = await app.authAccounts.register({ username: uniqueName('direct'), password: PASSWORD })
  const { tokens } = await app.authLogin.passwordLogin({ username: user.username, password: PASSWORD, scope })
  return { userId: user.id, accessToken: tokens.access_token }
}

for (const store of ['default', 'explicit'] as const) {
  describe(`the plugin alone in another app (${store} store)`, () => {
    it('lets a token from the auth service into the app route', async (t) => {
      const app = await mountedApp(t, { store, routes: false })
      const { userId, accessToken } = await signUpDirect(app)
      const res = await app.inject({ url: '/mine', headers: bearer(accessToken) })
      assert.equal(res.statusCode, 200)
      assert.deepEqual(res.json(), { id: userId })
    })

    it('answers 401 with a bare Bearer challenge without a token, under the default error handler', async (t) => {
      const app = await mountedApp(t, { store, routes: false })
      const res = await app.inject({ url: '/mine' })
      assert.equal(res.statusCode, 401)
      assert.equal(res.headers['www-authenticate'], 'Bearer')
      const body = res.json<Record<string, unknown>>()
      assert.equal(body.statusCode, 401)
      assert.equal(body.error, 'Unauthorized')
      assert.equal(typeof body.message, 'string')
    })

    it('answers 401 invalid_token for a bad token, under the default error handler', async (t) => {
      const app = await mountedApp(t, { store, routes: false })
      const res = await app.inject({ url: '/mine', headers: bearer('not-a-jwt') })
      assert.equal(res.statusCode, 401)
      assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
      assert.equal(res.json<{ statusCode: number }>().statusCode, 401)
    })

    it('answers 403 insufficient_scope for a token with only scope me, under the default error handler', async (t) => {
      const app = await mountedApp(t, { store, routes: false })
      const { accessToken } = await signUpDirect(app, 'me')
      const res = await app.inject({ url: '/mine', headers: bearer(accessToken) })
      assert.equal(res.statusCode, 403)
      assert.equal(res.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="items"')
      const body = res.json<Record<string, unknown>>()
      assert.equal(body.statusCode, 403)
      assert.equal(body.error, 'Forbidden')
    })
  })

  describe(`the plugin and authRoutes under /auth in another app (${store} store)`, () => {
    it('lets a user register at /auth/register, log in at /auth/token and call the app route', async (t) => {
      const app = await mountedApp(t, { store })
      const { userId, accessToken } = await signUp(app)
      const res = await app.inject({ url: '/mine', headers: bearer(accessToken) })
      assert.equal(res.statusCode, 200)
      assert.deepEqual(res.json(), { id: userId })
    })

    it('answers 401 with a bare Bearer challenge on the app route without a token', async (t) => {
      const app = await mountedApp(t, { store })
      const res = await app.inject({ url: '/mine' })
      assert.equal(res.statusCode, 401)
      assert.equal(res.headers['www-authenticate'], 'Bearer')
    })

    it('answers 403 insufficient_scope on the app route for a token with only scope me', async (t) => {
      const app = await mountedApp(t, { store })
      const { accessToken } = await signUp(app, 'me')
      const res = await app.inject({ url: '/mine', headers: bearer(accessToken) })
      assert.equal(res.statusCode, 403)
      assert.equal(res.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="items"')
    })

    it('answers RFC 6749 errors at /auth/token', async (t) => {
      const app = await mountedApp(t, { store })
      const res = await app.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload: form({ username: 'nobody', password: 'wrong-password' }) })
      assert.equal(res.statusCode, 400)
      assert.equal(res.json<{ error: string }>().error, 'invalid_grant')
      assert.equal(res.headers['cache-control'], 'no-store')
    })

    it('ends the session at /auth/logout', async (t) => {
      const app = await mountedApp(t, { store })
      const { accessToken } = await signUp(app)
      const out = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(accessToken) })
      assert.equal(out.statusCode, 204)
      const res = await app.inject({ url: '/mine', headers: bearer(accessToken) })
      assert.equal(res.statusCode, 401)
      assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
    })

    it('adds no /docs, /users/me or unprefixed /token to the app', async (t) => {
      const app = await mountedApp(t, { store })
      for (const url of ['/docs', '/docs/', '/openapi.json', '/users/me', '/health']) {
        assert.equal((await app.inject({ url })).statusCode, 404, url)
      }
      const token = await postToken(app, { username: 'x', password: 'y' })
      assert.equal(token.statusCode, 404)
    })
  })
}

describe('the plugin in EdDSA mode (no secret)', () => {
  it('signs with a generated Ed25519 key whose kid is in the token header', async (t) => {
    const app = await mountedApp(t, { jwt: {}, routes: false })
    const { userId, accessToken } = await signUpDirect(app)
    const header = decodeProtectedHeader(accessToken)
    assert.equal(header.alg, 'EdDSA')
    assert.equal(header.kid, app.authKeys.jwks().keys[0]?.kid)
    const res = await app.inject({ url: '/mine', headers: bearer(accessToken) })
    assert.deepEqual(res.json(), { id: userId })
  })

  it('keeps two apps in one process apart: a token from app A is 401 on app B', async (t) => {
    const a = await mountedApp(t, { jwt: {}, routes: false })
    const b = await mountedApp(t, { jwt: {}, routes: false })
    const kidA = a.authKeys.jwks().keys[0]?.kid
    const kidB = b.authKeys.jwks().keys[0]?.kid
    assert.ok(kidA !== undefined && kidB !== undefined)
    assert.notEqual(kidA, kidB)

    const { accessToken } = await signUpDirect(a)
    assert.equal((await a.inject({ url: '/mine', headers: bearer(accessToken) })).statusCode, 200)
    const res = await b.inject({ url: '/mine', headers: bearer(accessToken) })
    assert.equal(res.statusCode, 401)
    assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
  })

  it('keeps two HS256 apps with the same secret apart: sessions are per store', async (t) => {
    const a = await mountedApp(t, { routes: false })
    const b = await mountedApp(t, { routes: false })
    const { accessToken } = await signUpDirect(a)
    assert.equal((await a.inject({ url: '/mine', headers: bearer(accessToken) })).statusCode, 200)
    // Same secret, issuer and audience: only the session lookup tells the apps apart.
    assert.equal((await b.inject({ url: '/mine', headers: bearer(accessToken) })).statusCode, 401)
  })
})

describe('invalid plugin options', () => {
  const noop = async () => undefined
  const cases: Array<{ name: string, options: unknown, message: RegExp }> = [
    { name: 'a jwt.secret shorter than 32 characters', options: { jwt: { secret: 'too-short-secret' } }, message: /secret/ },
    { name: 'an empty jwt.issuer', options: { jwt: { secret: SECRET, issuer: '' } }, message: /issuer/ },
    { name: 'a jwt that is not an object', options: { jwt: 'secret' }, message: /jwt/ },
    { name: 'a zero access token lifetime', options: { jwt: { secret: SECRET }, accessTokenTtlSeconds: 0 }, message: /accessTokenTtlSeconds/ },
    { name: 'a password minimum below 8', options: { jwt: { secret: SECRET }, passwordMinLength: 4 }, message: /passwordMinLength/ },
    { name: 'a store without keys', options: { jwt: { secret: SECRET }, store: { users: {}, sessions: {} } }, message: /store/ },
    { name: 'a store that is not an object', options: { jwt: { secret: SECRET }, store: 'sqlite::memory:' }, message: /store/ },
    { name: 'a store whose parts have no methods', options: { jwt: { secret: SECRET }, store: { users: {}, sessions: {}, keys: {} } }, message: /store/ },
    {
      name: 'a store missing some methods',
      options: {
        jwt: { secret: SECRET },
        store: {
          users: { create: noop, findByLogin: noop },
          sessions: { create: noop, findWithUser: noop, purge: async () => 0 },
          keys: { list: async () => [] },
          loginFailures: { get: noop }
        } satisfies Record<Exclude<keyof AuthStore, 'audit' | 'webhooks' | 'transaction' | 'mfa' | 'authorization' | 'identities'>, unknown> // the optional parts aside
      },
      message: /store/
    }
  ]
  for (const { name, options, message } of cases) {
    it(`refuses ${name} at register, naming the plugin and the option`, async (t) => {
      const app = Fastify()
      t.after(() => app.close())
      await assert.rejects(
        async () => {
          await app.register(auth, options as AuthPluginOptions)
          await app.ready()
        },
        (error: Error) => {
          assert.match(error.message, /^auth plugin: /)
          assert.match(error.message, message)
          return true
        }
      )
    })
  }
})

describe('the routes in an app with Fastify\'s default error handler', () => {
  it('answer refusals with their 4xx: a duplicate 409, a refused password 400, a locked login 429 with Retry-After', async (t) => {
    const app = Fastify()
    t.after(() => app.close())
    await app.register(auth, { jwt: { secret: SECRET } })
    await app.register(authRoutes, { prefix: '/auth' })
    await app.ready()
    const register = (username: string, password: string) => app.inject({ method: 'POST', url: '/auth/register', payload: { username, password } })
    const username = uniqueName('mounted')
    assert.equal((await register(username, PASSWORD)).statusCode, 201)
    assert.equal((await register(username, PASSWORD)).statusCode, 409)
    assert.equal((await register(uniqueName('mounted'), 'password')).statusCode, 400)
    const wrong = () => app.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload: form({ username, password: 'not the password 1' }) })
    for (let i = 0; i < 10; i++) assert.equal((await wrong()).statusCode, 400)
    const locked = await wrong()
    assert.equal(locked.statusCode, 429, locked.body)
    assert.ok(Number(locked.headers['retry-after']) > 0)
  })
})
