import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import auth, { authRoutes } from '../../src/index.js'
import { bearer, FORM, form, PASSWORD, uniqueName } from '../helper.js'

/*
 * Issue 19: a protected route's 401 and 403 were not the same everywhere. Under Fastify's default
 * error handler, a thrown error is serialised by the route's response schema for its status when
 * it has one (the 401/403 the plugin documents: `{statusCode, error, message}`), and otherwise by
 * Fastify's error serializer, which adds the error's `code` (AUTH_MISSING_TOKEN); under an app's
 * own handler, the body was the app's. Now every protected route answers the contract's body
 * `{statusCode, error, message}` with its WWW-Authenticate challenge, whatever the handler.
 */

const SECRET = 'a-mounted-app-secret-of-at-least-32-bytes'

type Handler = 'default' | 'custom'

/** An app's own error handler, in a shape of its own (it is never used for the plugin's refusals). */
function customHandler (error: FastifyError, _request: unknown, reply: { code: (n: number) => { send: (b: unknown) => unknown } }) {
  return reply.code(error.statusCode ?? 500).send({ failed: true, reason: error.message })
}

/** A mounting app whose protected routes take every form the README allows, and counts handler runs. */
async function mountedApp (t: TestContext, handler: Handler) {
  const app = Fastify()
  t.after(() => app.close())
  if (handler === 'custom') app.setErrorHandler(customHandler)
  await app.register(auth, { jwt: { secret: SECRET }, scopes: { reports: { description: 'Read reports' } } })
  await app.register(authRoutes, { prefix: '/auth' })
  // An asynchronous onSend hook of the app's (security headers, compression…): replying from the
  // authenticate hook must still stop the request before the handler.
  app.addHook('onSend', async (_request, reply, payload) => { await sleep(1); reply.header('x-app', 'yes'); return payload })
  const ran: string[] = []
  const handled = (name: string) => async () => { ran.push(name); return { ok: true } }

  app.get('/with-schema', { schema: { response: { 200: Type.Object({ ok: Type.Boolean() }) } }, config: { scopes: ['reports'] } }, handled('with-schema'))
  app.get('/without-schema', { config: { scopes: ['reports'] } }, handled('without-schema'))
  app.get('/listed', { onRequest: [app.authenticate], config: { scopes: ['reports'] } }, handled('listed'))
  app.get('/listed-with-schema', { onRequest: [app.authenticate], config: { scopes: ['reports'] }, schema: { querystring: Type.Object({ q: Type.Optional(Type.String()) }) } }, handled('listed-with-schema'))
  await app.ready()
  return { app, ran }
}

async function tokenWith (app: FastifyInstance, scope: string) {
  const username = uniqueName('mounted')
  assert.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })).statusCode, 201)
  const res = await app.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload: form({ grant_type: 'password', username, password: PASSWORD, scope }) })
  assert.equal(res.statusCode, 200, res.body)
  return res.json<{ access_token: string }>().access_token
}

const ROUTES = ['/with-schema', '/without-schema', '/listed', '/listed-with-schema']

const cases = [
  { name: 'no token', status: 401, challenge: 'Bearer', message: 'Not authenticated', headers: async () => ({}) },
  { name: 'a bad token', status: 401, challenge: 'Bearer error="invalid_token"', message: 'Could not validate credentials', headers: async () => bearer('not-a-jwt') },
  {
    name: 'a token without the route\'s scope',
    status: 403,
    challenge: 'Bearer error="insufficient_scope", scope="reports"',
    message: 'Not enough permissions: scope reports required',
    headers: async (app: FastifyInstance) => bearer(await tokenWith(app, 'me'))
  }
]

for (const handler of ['default', 'custom'] as const) {
  describe(`a protected route's refusal, under ${handler === 'default' ? 'Fastify\'s default error handler' : 'the app\'s own error handler'}`, () => {
    for (const { name, status, challenge, message, headers } of cases) {
      it(`is the same body and challenge on every kind of protected route, for ${name}`, async (t) => {
        const { app, ran } = await mountedApp(t, handler)
        const sent = await headers(app)
        const answers = await Promise.all(ROUTES.map(url => app.inject({ url, headers: sent })))
        const expected = JSON.stringify({ statusCode: status, error: status === 401 ? 'Unauthorized' : 'Forbidden', message })
        for (const [i, res] of answers.entries()) {
          assert.equal(res.statusCode, status, ROUTES[i])
          assert.equal(res.body, expected, ROUTES[i])
          assert.equal(res.headers['www-authenticate'], challenge, ROUTES[i])
          assert.equal(res.headers['content-type'], 'application/json; charset=utf-8', ROUTES[i])
          assert.equal(res.headers['x-app'], 'yes', `${ROUTES[i]}: the app's onSend hooks run`)
        }
        assert.deepEqual(ran, [], 'no handler ran')
      })
    }

    it('lets a token with the scope through on every kind of protected route', async (t) => {
      const { app, ran } = await mountedApp(t, handler)
      const sent = bearer(await tokenWith(app, 'reports'))
      for (const url of ROUTES) {
        const res = await app.inject({ url, headers: sent })
        assert.equal(res.statusCode, 200, `${url}: ${res.body}`)
        assert.deepEqual(res.json(), { ok: true })
      }
      assert.deepEqual(ran, ['with-schema', 'without-schema', 'listed', 'listed-with-schema'])
    })
  })
}

describe('app.authenticate as a hook of a whole context (thrown, not answered), under Fastify\'s default error handler', () => {
  it('answers the same body as the routes the plugin protects, without a code', async (t) => {
    const { app } = await (async () => {
      const app = Fastify()
      t.after(() => app.close())
      await app.register(auth, { jwt: { secret: SECRET } })
      app.get('/protected', { config: { scopes: [] } }, async () => ({ ok: true }))
      await app.register(async (scope) => {
        scope.addHook('onRequest', scope.authenticate)
        scope.get('/hooked', async () => ({ ok: true }))
      })
      await app.ready()
      return { app }
    })()
    for (const sent of [{}, bearer('not-a-jwt')]) {
      const hooked = await app.inject({ url: '/hooked', headers: sent })
      const routed = await app.inject({ url: '/protected', headers: sent })
      assert.equal(hooked.statusCode, 401)
      assert.equal(hooked.body, routed.body)
      assert.equal(hooked.headers['www-authenticate'], routed.headers['www-authenticate'])
      assert.deepEqual(Object.keys(hooked.json()), ['statusCode', 'error', 'message'])
    }
  })
})
