import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import SwaggerParser from '@apidevtools/swagger-parser'
import { Type } from '@sinclair/typebox'
import auth, { authRoutes } from '../../src/index.js'
import { bearer, FORM, form, PASSWORD, uniqueName } from '../helper.js'
import { currentUser } from '../../plugins/auth/current-user.js'

/*
 * Issue 19: an app that mounts the plugin documents itself with its own @fastify/swagger and
 * @fastify/swagger-ui registration, registered before the plugin or after it. /docs/json answered
 * 500 ("Cannot read properties of undefined (reading 'OAuth2PasswordBearer')") unless the app
 * declared the plugin's security schemes under their internal names; and the README's /reports
 * route, without a schema, had no `security` and no 401/403 in the document.
 */

const SECRET = 'a-mounted-app-secret-of-at-least-32-bytes'
type Json = Record<string, any>

interface Options {
  /** the app registers swagger before the plugin, or after it (and before the routes, as swagger needs) */
  order: 'swagger first' | 'swagger after the plugin'
  /** the app's own `openapi.components` */
  components?: Json
  /** swagger-ui's routePrefix (its default: /documentation) */
  routePrefix?: string
  /** more routes of the app's */
  routes?: (app: FastifyInstance) => void
}

/** A report the handler answers as it is: a Date, an undefined member, a nested object. */
const report = (username: string) => ({ hello: username, at: new Date(0), missing: undefined, nested: { n: 1 } })

/** An app of its own: swagger with its own info, the plugin with a scope of the app's, authRoutes under /auth. */
async function mountedApp (t: TestContext, { order, components, routePrefix, routes }: Options) {
  const app = Fastify()
  t.after(() => app.close())
  const documentation = async () => {
    await app.register(swagger, { openapi: { openapi: '3.0.3', info: { title: 'Reports API', version: '1.2.3' }, ...(components === undefined ? {} : { components }) } })
    await app.register(swaggerUi, routePrefix === undefined ? {} : { routePrefix })
  }
  if (order === 'swagger first') await documentation()
  await app.register(auth, { jwt: { secret: SECRET }, scopes: { reports: { description: 'Read reports' } } })
  if (order === 'swagger after the plugin') await documentation()
  await app.register(authRoutes, { prefix: '/auth' })

  // The README's example: no schema, only config.scopes.
  app.get('/reports', { config: { scopes: ['reports'] } }, async (request) => report(currentUser(request).username))
  app.get('/reports-public', async () => report('anyone'))
  app.get('/reports/:id', {
    schema: { params: Type.Object({ id: Type.String() }), response: { 200: Type.Object({ id: Type.String() }) } },
    config: { scopes: ['reports'] }
  }, async (request) => ({ id: (request.params as { id: string }).id }))
  // Listing the hook without scopes: any valid token.
  app.get('/mine', { onRequest: [app.authenticate] }, async (request) => ({ id: currentUser(request).id }))
  app.get('/public', async () => ({ ok: true }))
  routes?.(app)
  await app.ready()
  return app
}

async function documentOf (app: FastifyInstance, url = '/documentation/json') {
  const res = await app.inject(url)
  assert.equal(res.statusCode, 200, res.body)
  const doc = res.json<Json>()
  await SwaggerParser.validate(structuredClone(doc) as never)
  return doc
}

function assertPluginSchemes (doc: Json, tokenUrl: string) {
  const schemes = doc.components?.securitySchemes as Json
  assert.ok(schemes !== undefined, 'components.securitySchemes')
  const oauth2 = schemes.OAuth2PasswordBearer
  assert.equal(oauth2?.type, 'oauth2')
  assert.equal(oauth2.flows.password.tokenUrl, tokenUrl)
  assert.deepEqual(Object.keys(oauth2.flows.password.scopes).sort(), ['admin', 'items', 'me', 'reports'])
  assert.equal(oauth2.flows.password.scopes.reports, 'Read reports')
  assert.equal(schemes.bearerAuth?.type, 'http')
  assert.equal(schemes.bearerAuth.scheme, 'bearer')
}

const requirement = (scopes: string[]) => [{ OAuth2PasswordBearer: scopes }, { bearerAuth: [] }]

for (const order of ['swagger first', 'swagger after the plugin'] as const) {
  describe(`an app's own swagger registration, ${order}`, () => {
    it('serves a valid document at /documentation/json, with the app\'s info and the plugin\'s schemes against /auth/token', async (t) => {
      const app = await mountedApp(t, { order })
      const doc = await documentOf(app)
      assert.equal(doc.info.title, 'Reports API')
      assertPluginSchemes(doc, '/auth/token')
      assert.equal(JSON.stringify(doc).includes('x-auth-scopes'), false, 'no mark left in the document')
    })

    it('documents security, 401 and 403 on every protected route, with a schema or without', async (t) => {
      const app = await mountedApp(t, { order, routePrefix: '/docs' })
      const doc = await documentOf(app, '/docs/json')
      const reports = doc.paths['/reports'].get
      assert.deepEqual(reports.security, requirement(['reports']))
      assert.deepEqual(Object.keys(reports.responses).sort(), ['200', '401', '403'])
      assert.deepEqual(doc.paths['/reports/{id}'].get.security, requirement(['reports']))
      assert.deepEqual(Object.keys(doc.paths['/reports/{id}'].get.responses).sort(), ['200', '401', '403'])
      // authenticate listed by the route, no scopes: any valid token, so no 403.
      assert.deepEqual(doc.paths['/mine'].get.security, requirement([]))
      assert.deepEqual(Object.keys(doc.paths['/mine'].get.responses).sort(), ['200', '401'])
      assert.deepEqual(doc.paths['/auth/users/me'].get.security, requirement(['me']))
      assert.equal(doc.paths['/public'].get.security, undefined)
      assert.equal(doc.paths['/auth/token'].post.security, undefined)
    })

    it('serves the same document at /documentation/yaml', async (t) => {
      const app = await mountedApp(t, { order })
      const res = await app.inject('/documentation/yaml')
      assert.equal(res.statusCode, 200, res.body)
      assert.ok(/^ {4}OAuth2PasswordBearer:$/m.test(res.body), 'the oauth2 scheme in the YAML')
      // Parsed by swagger-parser (its own YAML reader), validated, and equal to the JSON one.
      const dir = mkdtempSync(join(tmpdir(), 'openapi-'))
      t.after(() => rmSync(dir, { recursive: true, force: true }))
      writeFileSync(join(dir, 'openapi.yaml'), res.body)
      const fromYaml = await SwaggerParser.parse(join(dir, 'openapi.yaml'))
      await SwaggerParser.validate(structuredClone(fromYaml))
      assert.deepEqual(fromYaml, await documentOf(app))
    })

    it('keeps the schemes the app defined, and a route\'s own security', async (t) => {
      const components = {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'The app\'s own' }
        }
      }
      const routes = (app: FastifyInstance) => {
        app.get('/keyed', { schema: { security: [{ apiKey: [] }] }, config: { scopes: [] } }, async () => ({ ok: true }))
      }
      const app = await mountedApp(t, { order, components, routes })
      const doc = await documentOf(app)
      assert.deepEqual(doc.paths['/keyed'].get.security, [{ apiKey: [] }])
      assert.deepEqual(Object.keys(doc.paths['/keyed'].get.responses).sort(), ['200', '401'])
      assert.deepEqual(doc.components.securitySchemes.apiKey, components.securitySchemes.apiKey)
      assert.equal(doc.components.securitySchemes.bearerAuth.description, 'The app\'s own')
      assert.equal(doc.components.securitySchemes.OAuth2PasswordBearer.type, 'oauth2')
      // The app's options are the app's: nothing added to them.
      assert.deepEqual(Object.keys(components.securitySchemes), ['apiKey', 'bearerAuth'])
    })
  })
}

describe('a protected route without a schema', () => {
  it('answers its handler\'s value as it would unprotected (the schema it gets validates and serialises nothing else)', async (t) => {
    const app = await mountedApp(t, { order: 'swagger first' })
    const username = uniqueName('reader')
    assert.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })).statusCode, 201)
    const token = await app.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload: form({ grant_type: 'password', username, password: PASSWORD }) })
    assert.equal(token.statusCode, 200, token.body)
    const protectedRes = await app.inject({ url: '/reports?x=1', headers: bearer(token.json().access_token) })
    assert.equal(protectedRes.statusCode, 200, protectedRes.body)
    assert.equal(protectedRes.body, JSON.stringify(report(username)))
    const open = await app.inject({ url: '/reports-public?x=1' })
    assert.equal(open.body, JSON.stringify(report('anyone')))
    assert.equal(protectedRes.headers['content-type'], open.headers['content-type'])
  })
})

describe('the plugin and authRoutes in an encapsulated context, the app\'s swagger at the root', () => {
  it('documents the context\'s routes with the token URL under the context\'s prefix', async (t) => {
    const app = Fastify()
    t.after(() => app.close())
    await app.register(swagger, { openapi: { info: { title: 'Outer', version: '1' } } })
    await app.register(swaggerUi, { routePrefix: '/docs' })
    await app.register(async (api) => {
      await api.register(auth, { jwt: { secret: SECRET } })
      await api.register(authRoutes, { prefix: '/auth' })
      api.get('/things', { config: { scopes: ['items'] } }, async () => [])
    }, { prefix: '/api' })
    await app.ready()
    const doc = await documentOf(app, '/docs/json')
    assert.equal(doc.components.securitySchemes.OAuth2PasswordBearer.flows.password.tokenUrl, '/api/auth/token')
    assert.deepEqual(doc.paths['/api/things'].get.security, requirement(['items']))
    assert.deepEqual(doc.paths['/api/auth/users/me'].get.security, requirement(['me']))
  })
})

describe('an app without swagger', () => {
  it('registers the plugin and protects its routes all the same', async (t) => {
    const app = Fastify()
    t.after(() => app.close())
    await app.register(auth, { jwt: { secret: SECRET } })
    app.get('/things', { config: { scopes: ['items'] } }, async () => [])
    await app.ready()
    assert.equal((await app.inject('/things')).statusCode, 401)
    assert.equal('swagger' in app, false)
  })
})
