import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { Type } from '@sinclair/typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import { decodeJwt } from 'jose'
import auth, { type AuthPluginOptions } from '../../plugins/auth/index.js'
import authRoutes from '../../routes/auth/index.js'
import { createAuthCore } from '../../src/core/index.js'
import type { AuthEvent } from '../../src/core/events.js'
import { InvalidGrantError, InvalidRequestError } from '../../src/errors.js'
import { AuthSettings } from '../../src/schemas/auth-options.js'
import { parseOrThrow } from '../../src/schemas/parse.js'
import { createMemoryStore } from '../../src/stores/sql-store.js'
import { bearer, eventually, form, FORM, PASSWORD, uniqueName } from '../helper.js'
import { currentUser } from '../../plugins/auth/current-user.js'

/*
 * The open core (issue 19, CONTRACT.md "The plugin"): what an app that mounts the plugin can plug
 * in without forking it — hooks, claims, metadata, events, grants, login checks, token sources —
 * and the core built without Fastify.
 */

const SECRET = 'an-extending-app-secret-of-32-bytes!!'

/** A mounting app: the plugin with `options`, authRoutes at the root; closed when the test ends. */
async function mounted (t: TestContext, options: AuthPluginOptions = {}, before?: (app: FastifyInstance) => void | Promise<void>) {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(auth, { jwt: { secret: SECRET }, loginFailureLimit: 1000, ...options })
  await before?.(app)
  await app.register(authRoutes)
  await app.ready()
  return app
}

const register = (app: FastifyInstance, fields: Record<string, unknown> = {}) =>
  app.inject({ method: 'POST', url: '/register', payload: { username: uniqueName('ext'), password: PASSWORD, ...fields } })
const token = (app: FastifyInstance, fields: Record<string, string>) =>
  app.inject({ method: 'POST', url: '/token', headers: FORM, payload: form(fields) })

/** Every event the app emits, as it arrives. */
function recorder (app: FastifyInstance) {
  const events: AuthEvent[] = []
  app.authEvents.on('*', event => { events.push(event) })
  return { events, of: (type: string) => events.filter(e => e.type === type) }
}

describe('hooks.beforeUserCreated', () => {
  it('refuses a sign-up with its message as a 400, storing nothing; sees every path that creates a user', async (t) => {
    const seen: Array<{ username: string, origin: string }> = []
    const app = await mounted(t, {
      hooks: {
        beforeUserCreated: ({ username, origin }) => {
          seen.push({ username, origin })
          if (username.startsWith('blocked')) throw new Error('Sign-ups from this name are closed')
        }
      }
    })
    const refused = await register(app, { username: 'blockedname' })
    assert.equal(refused.statusCode, 400)
    assert.equal(refused.json().message, 'Sign-ups from this name are closed')
    assert.equal(await app.authCore.store.users.findByLogin('blockedname'), undefined, 'nothing stored')
    assert.equal((await register(app, { username: 'allowedname' })).statusCode, 201)

    await app.authAccounts.register({ username: 'clicreated', password: PASSWORD }, 'cli')
    await app.authAccounts.ensureAdmin('firstadmin', PASSWORD)
    const hash = '$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW'
    const report = await app.authAccounts.importUsers(JSON.stringify([{ username: 'imported1', hashed_password: hash }, { username: 'blocked2', hashed_password: hash }]))
    assert.equal(report.ok, false)
    assert.ok(!report.ok && report.errors.some(e => e.row === 2 && /closed/.test(e.message)), JSON.stringify(report))
    assert.equal(await app.authCore.store.users.findByLogin('imported1'), undefined, 'nothing imported when one row is refused')
    assert.deepEqual(seen.map(s => s.origin), ['register', 'register', 'cli', 'first-superuser', 'import', 'import'])
  })
})

describe('hooks.accessTokenClaims', () => {
  it('puts extra claims in every access token, at login and at refresh', async (t) => {
    const app = await mounted(t, { hooks: { accessTokenClaims: ({ user, scopes }) => ({ tenant: `t-${user.username}`, n: scopes.length }) } })
    const { username } = (await register(app)).json()
    const login = (await token(app, { username, password: PASSWORD })).json()
    assert.equal(decodeJwt(login.access_token).tenant, `t-${username}`)
    const refreshed = (await token(app, { grant_type: 'refresh_token', refresh_token: login.refresh_token })).json()
    assert.equal(decodeJwt(refreshed.access_token).tenant, `t-${username}`)
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(refreshed.access_token) })).statusCode, 200)
  })

  it('refuses reserved claims: no token is issued', async (t) => {
    const app = await mounted(t, { hooks: { accessTokenClaims: () => ({ sub: 'someone-else' }) } })
    const { username } = (await register(app)).json()
    const res = await token(app, { username, password: PASSWORD })
    assert.equal(res.statusCode, 500)
    assert.equal(JSON.stringify(res.json()).includes('access_token'), false)
  })
})

describe('userMetadata', () => {
  const userMetadata = Type.Object({ tenant: Type.String({ minLength: 1 }), plan: Type.Optional(Type.String()) }, { additionalProperties: false })

  it('is validated at /register and PATCH /users/me, stored, shown on the public user and request.user, and in /openapi.json', async (t) => {
    const app = await mounted(t, { userMetadata }, app => {
      app.get('/tenant', { config: { scopes: ['me'] } }, async (request) => ({ tenant: (currentUser(request).metadata as { tenant: string }).tenant }))
    })
    for (const metadata of [undefined, { tenant: '' }, { tenant: 'acme', extra: 1 }, { tenant: 42 }]) {
      assert.equal((await register(app, metadata === undefined ? {} : { metadata })).statusCode, 400, JSON.stringify(metadata))
    }
    const created = await register(app, { metadata: { tenant: 'acme' } })
    assert.equal(created.statusCode, 201, created.body)
    assert.deepEqual(created.json().metadata, { tenant: 'acme' })
    const { access_token: accessToken } = (await token(app, { username: created.json().username, password: PASSWORD })).json()
    assert.deepEqual((await app.inject({ url: '/users/me', headers: bearer(accessToken) })).json().metadata, { tenant: 'acme' })
    assert.deepEqual((await app.inject({ url: '/tenant', headers: bearer(accessToken) })).json(), { tenant: 'acme' })
    const patched = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(accessToken), payload: { metadata: { tenant: 'globex', plan: 'pro' } } })
    assert.equal(patched.statusCode, 200, patched.body)
    assert.deepEqual(patched.json().metadata, { tenant: 'globex', plan: 'pro' })
    assert.equal((await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(accessToken), payload: { metadata: { plan: 'x' } } })).statusCode, 400)
  })

  it('is absent without the option, and extra fields at /register are refused, not dropped', async (t) => {
    const app = await mounted(t)
    const created = await register(app)
    assert.equal('metadata' in created.json(), false)
    assert.equal((await register(app, { metadata: { tenant: 'acme' } })).statusCode, 400)
  })
})

describe('app.authEvents', () => {
  it('receives the contract\'s events after commit, with the request\'s address and user agent', async (t) => {
    const app = await mounted(t)
    const { of } = recorder(app)
    const created = await app.inject({ method: 'POST', url: '/register', headers: { 'user-agent': 'events-test/1' }, payload: { username: uniqueName('ev'), password: PASSWORD } })
    const { id, username } = created.json()
    assert.equal((await token(app, { username, password: 'wrong password here' })).statusCode, 400)
    const login = (await token(app, { username, password: PASSWORD })).json()
    await app.inject({ method: 'PUT', url: '/users/me/password', headers: bearer(login.access_token), payload: { current_password: PASSWORD, new_password: 'another good passphrase' } })
    await app.inject({ method: 'POST', url: '/logout', headers: bearer(login.access_token) })
    await eventually(async () => of('session.ended').length, n => n >= 1)
    const [user] = of('user.created')
    assert.equal(user?.user_id, id)
    assert.equal(user?.user_agent, 'events-test/1')
    assert.equal(user?.ip, '127.0.0.1')
    assert.equal(of('login.failed')[0]?.data.reason, 'invalid_credentials')
    assert.equal(of('login.succeeded')[0]?.session_id, decodeJwt(login.access_token).sid)
    assert.equal(of('password.changed')[0]?.actor_id, id)
    assert.equal(of('session.ended').at(-1)?.data.reason, 'logout')
    const all = JSON.stringify([...of('user.created'), ...of('login.failed'), ...of('login.succeeded'), ...of('password.changed')])
    for (const secret of [PASSWORD, 'wrong password here', 'another good passphrase', login.access_token, login.refresh_token]) assert.equal(all.includes(secret), false)
  })

  it('a throwing or never-ending listener neither fails nor delays the request', async (t) => {
    const app = await mounted(t)
    app.authEvents.on('user.created', () => { throw new Error('listener bug') })
    app.authEvents.on('user.created', () => new Promise(() => {}))
    let later = 0
    app.authEvents.on('user.created', async () => { await sleep(50); later++ })
    const started = performance.now()
    const res = await register(app)
    assert.equal(res.statusCode, 201)
    assert.ok(performance.now() - started < 2000)
    assert.equal(later, 0, 'listeners run after the answer')
    await eventually(async () => later, n => n === 1)
  })

  it('refuses an unknown event type, so a typo cannot go unnoticed', async (t) => {
    const app = await mounted(t)
    assert.throws(() => app.authEvents.on('user.creatd' as 'user.created', () => {}), /unknown auth event type/)
  })
})

describe('the grant registry, login checks and token sources', () => {
  it('serves a grant an app registers, lists it in the metadata, and refuses a second one of the same type', async (t) => {
    const app = await mounted(t, {}, app => {
      app.authGrants.register({
        type: 'urn:example:grant:magic',
        parameters: { magic_word: Type.Optional(Type.String({ maxLength: 64 })) },
        async handle ({ form, clientId }) {
          if (form.magic_word === undefined) throw new InvalidRequestError('magic_word is required')
          if (form.magic_word !== 'please') throw new InvalidGrantError()
          const user = await app.authCore.store.users.findByLogin('magicuser')
          const started = await app.authSessions.start(user!, { clientId })
          return { tokens: await app.authLogin.issueTokens(started), userId: user!.id }
        }
      })
      assert.throws(() => app.authGrants.register({ type: 'password', parameters: {}, handle: async () => { throw new Error('never') } }), /registered already/)
    })
    await register(app, { username: 'magicuser' })
    const issued = await token(app, { grant_type: 'urn:example:grant:magic', magic_word: 'please' })
    assert.equal(issued.statusCode, 200, issued.body)
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(issued.json().access_token) })).json().username, 'magicuser')
    assert.equal((await token(app, { grant_type: 'urn:example:grant:magic', magic_word: 'no' })).json().error, 'invalid_grant')
    assert.equal((await token(app, { grant_type: 'urn:example:grant:magic' })).json().error, 'invalid_request')
    assert.equal((await token(app, { grant_type: 'urn:example:unknown' })).json().error, 'unsupported_grant_type')
    assert.deepEqual(app.authGrants.types(), ['password', 'refresh_token', 'authorization_code', 'http://auth0.com/oauth/grant-type/mfa-otp', 'http://auth0.com/oauth/grant-type/mfa-recovery-code', 'urn:example:grant:magic'])
  })

  it('runs an app\'s login check after the password, and its refusal answers as a wrong password', async (t) => {
    const app = await mounted(t, {}, app => {
      app.authLogin.addCheck({ name: 'not_on_sunday', check: ({ user }) => { if (user.username.startsWith('sunday')) throw new InvalidGrantError() } })
    })
    await register(app, { username: 'sundayuser' })
    const { events, of } = recorder(app)
    const refused = await token(app, { username: 'sundayuser', password: PASSWORD })
    assert.deepEqual(refused.json(), (await token(app, { username: 'sundayuser', password: 'not the password' })).json())
    await eventually(async () => events.length, n => n >= 2)
    assert.equal(of('login.failed')[0]?.data.reason, 'not_on_sunday')
  })

  it('walks the token sources in order: an app\'s own source authenticates its requests', async (t) => {
    const app = await mounted(t, {}, app => {
      app.authTokenSources.push({ name: 'x-access-token', read: request => request.headers['x-access-token'] as string | undefined })
    })
    const { username } = (await register(app)).json()
    const { access_token: accessToken } = (await token(app, { username, password: PASSWORD })).json()
    assert.equal((await app.inject({ url: '/users/me', headers: { 'x-access-token': accessToken } })).statusCode, 200)
    assert.equal((await app.inject({ url: '/users/me', headers: { 'x-access-token': 'garbage' } })).statusCode, 401)
    // The bearer header comes first: a malformed one is not passed over for the next source.
    assert.equal((await app.inject({ url: '/users/me', headers: { authorization: 'Bearer !', 'x-access-token': accessToken } })).statusCode, 401)
  })
})

describe('createAuthCore, without Fastify', () => {
  it('registers, logs in and checks a token with the core alone', async (t) => {
    const { store, close } = await createMemoryStore()
    t.after(close)
    const settings = parseOrThrow(AuthSettings, { jwt: { secret: SECRET, issuer: 'urn:core-test' } }, problems => new Error(problems.join('; ')))
    const logs: unknown[] = []
    const log = { info: (o: object) => logs.push(o), warn: (o: object) => logs.push(o), error: (o: object) => logs.push(o) }
    const core = await createAuthCore(settings, store, log)
    t.after(() => core.stop())
    const user = await core.accounts.register({ username: 'coreuser', password: PASSWORD })
    const { tokens } = await core.login.passwordLogin({ username: 'coreuser', password: PASSWORD })
    const authenticated = await core.sessions.authenticate(await core.tokens.verify(tokens.access_token))
    assert.equal(authenticated?.id, user.id)
    await assert.rejects(core.login.passwordLogin({ username: 'coreuser', password: 'wrong password 1' }), InvalidGrantError)
  })
})

describe('bounds on what an app stores (found from outside)', () => {
  it('refuses metadata over 16 KiB as JSON at /register and PATCH /users/me, whatever the app\'s schema allows', async (t) => {
    const app = await mounted(t, { userMetadata: Type.Object({ notes: Type.Optional(Type.String()) }) })
    const big = { notes: 'x'.repeat(20_000) }
    assert.equal((await register(app, { metadata: big })).statusCode, 400)
    const created = await register(app, { metadata: { notes: 'short' } })
    const { access_token: accessToken } = (await token(app, { username: created.json().username, password: PASSWORD })).json()
    assert.equal((await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(accessToken), payload: { metadata: big } })).statusCode, 400)
  })

  it('advertises /auth/token, not /auth//token, for authRoutes registered with a trailing slash', async (t) => {
    const app = Fastify()
    t.after(() => app.close())
    await app.register(auth, { jwt: { secret: SECRET, issuer: 'https://api.example.test' } })
    await app.register((await import('../../routes/well-known.js')).default)
    await app.register(authRoutes, { prefix: '/auth/' })
    const metadata = (await app.inject({ url: '/.well-known/oauth-authorization-server' })).json()
    assert.equal(metadata.token_endpoint, 'https://api.example.test/auth/token')
  })
})
