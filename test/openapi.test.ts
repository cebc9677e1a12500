import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import SwaggerParser from '@apidevtools/swagger-parser'
import { bearer, build, login } from './helper.js'

/* The OpenAPI document (CONTRACT.md: generated from the route schemas) and Swagger UI at /docs. */

type Json = Record<string, any>
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace']
const FORM = 'application/x-www-form-urlencoded'
/** Operations anyone may call; every other one needs a token. */
const PUBLIC = new Set([
  'post /register', 'post /token', 'post /token/revoke', 'get /health',
  'get /.well-known/jwks.json', 'get /.well-known/oauth-authorization-server',
  // account recovery and e-mail verification (issue 13): the token of the e-mail is the credential
  'post /forgot-password', 'post /reset-password', 'get /reset-password', 'post /request-verify-token', 'post /verify', 'get /verify',
  // the authorization endpoint (issue 23): the login page itself
  'get /authorize', 'post /authorize', 'post /authorize/mfa', 'post /authorize/consent',
  'get /login/{provider}', 'get /login/{provider}/callback'
])

async function openapi (t: TestContext) {
  const app = await build(t)
  const res = await app.inject('/openapi.json')
  assert.equal(res.statusCode, 200)
  assert.match(String(res.headers['content-type']), /^application\/json/)
  return { app, doc: res.json<Json>() }
}

function operations (doc: Json) {
  const list: Array<{ key: string, path: string, method: string, op: Json }> = []
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    for (const method of METHODS) {
      if (item[method] !== undefined) list.push({ key: `${method} ${path}`, path, method, op: item[method] })
    }
  }
  return list
}

/** Every schema-like object in the document, with where it sits. */
function * walk (node: unknown, at = '#'): Generator<{ at: string, node: Json }> {
  if (node === null || typeof node !== 'object') return
  if (!Array.isArray(node)) yield { at, node: node as Json }
  for (const [key, value] of Object.entries(node)) yield * walk(value, `${at}/${key}`)
}

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3 document', async (t) => {
    const { doc } = await openapi(t)
    assert.match(doc.openapi, /^3\./)
    await SwaggerParser.validate(structuredClone(doc) as never)
  })

  it('has an oauth2 password scheme against /token with the three scopes, and an http bearer scheme', async (t) => {
    const { doc } = await openapi(t)
    const schemes = Object.values<Json>(doc.components?.securitySchemes ?? {})
    const oauth2 = schemes.find(s => s.type === 'oauth2')
    assert.ok(oauth2, 'an oauth2 security scheme')
    assert.equal(oauth2.flows.password.tokenUrl, '/token')
    const scopes = oauth2.flows.password.scopes as Record<string, string>
    assert.deepEqual(Object.keys(scopes).sort(), ['admin', 'items', 'me'])
    for (const [scope, description] of Object.entries(scopes)) {
      assert.equal(typeof description, 'string', scope)
      assert.ok(description.length > 0, `scope ${scope} has a description`)
    }
    // Beside it, in the same scheme: the authorization-code flow (PKCE in Swagger UI), same scopes.
    assert.equal(oauth2.flows.authorizationCode.authorizationUrl, '/authorize')
    assert.equal(oauth2.flows.authorizationCode.tokenUrl, '/token')
    assert.deepEqual(oauth2.flows.authorizationCode.scopes, scopes)
    const http = schemes.find(s => s.type === 'http')
    assert.ok(http, 'an http security scheme')
    assert.equal(String(http.scheme).toLowerCase(), 'bearer')
  })

  it('names the oauth2 scheme in the security of every protected operation, and in none of the public ones', async (t) => {
    const { doc } = await openapi(t)
    const oauth2Name = Object.entries<Json>(doc.components.securitySchemes).find(([, s]) => s.type === 'oauth2')?.[0]
    assert.ok(oauth2Name)
    const ops = operations(doc)
    for (const expected of ['get /users/me', 'get /items', 'get /users', 'post /logout', 'put /users/me/password', 'delete /users/{id}']) {
      assert.ok(ops.some(o => o.key === expected), `${expected} is documented`)
    }
    for (const { key, op } of ops) {
      const named = (op.security ?? []).some((requirement: Json) => oauth2Name in requirement)
      assert.equal(named, !PUBLIC.has(key), `${key}: security ${JSON.stringify(op.security)}`)
    }
  })

  it('asks for the scope each protected operation checks', async (t) => {
    const { doc } = await openapi(t)
    const oauth2Name = Object.entries<Json>(doc.components.securitySchemes).find(([, s]) => s.type === 'oauth2')?.[0] as string
    const scopesOf = (path: string, method: string) =>
      (doc.paths[path][method].security as Json[]).find(r => oauth2Name in r)?.[oauth2Name]
    assert.deepEqual(scopesOf('/users/me', 'get'), ['me'])
    assert.deepEqual(scopesOf('/items', 'get'), ['items'])
    assert.deepEqual(scopesOf('/items', 'post'), ['items'])
    assert.deepEqual(scopesOf('/users', 'get'), ['admin'])
  })

  it('documents 200, 401 and 403 with JSON schemas for GET /users/me', async (t) => {
    const { doc } = await openapi(t)
    const { responses } = doc.paths['/users/me'].get
    for (const status of ['200', '401', '403']) {
      const schema = responses[status]?.content?.['application/json']?.schema
      assert.ok(schema !== undefined && Object.keys(schema).length > 0, `response ${status} has a schema`)
    }
    // The 200 schema is the public user.
    const ok = responses['200'].content['application/json'].schema
    const resolved = ok.$ref !== undefined ? doc.components.schemas[ok.$ref.split('/').pop()] : ok
    assert.deepEqual(Object.keys(resolved.properties).sort(), ['created_at', 'disabled', 'email', 'email_verified', 'full_name', 'id', 'is_admin', 'mfa_enabled', 'scopes', 'username'])
  })

  it('takes /token as an application/x-www-form-urlencoded body', async (t) => {
    const { doc } = await openapi(t)
    const content = doc.paths['/token'].post.requestBody?.content ?? {}
    assert.ok(FORM in content, `content types: ${Object.keys(content).join(', ')}`)
    assert.equal('application/json' in content, false)
    const properties = content[FORM].schema.properties
    for (const field of ['grant_type', 'username', 'password', 'refresh_token', 'scope']) assert.ok(field in properties, field)
  })

  it('pre-fills forms with values the server accepts: POST /register\'s example, then POST /token and /token/revoke with theirs', async (t) => {
    // Swagger UI's "Try it out" fills each field with the schema's example, or `string` when it has
    // none; an empty value is left out of a form. test/e2e/swagger-ui.test.ts does it in a browser.
    const { app, doc } = await openapi(t)
    const prefilled = (path: string, type: string) => {
      const properties = doc.paths[path].post.requestBody.content[type].schema.properties as Record<string, Json>
      return Object.fromEntries(Object.entries(properties).map(([name, p]) => [name, p.example ?? p.default ?? 'string']))
    }
    const asForm = (fields: Record<string, unknown>) => new URLSearchParams(Object.entries(fields).filter(([, v]) => v !== '') as Array<[string, string]>).toString()

    const user = prefilled('/register', 'application/json')
    assert.deepEqual(user, { username: 'johndoe', password: 'correct horse battery staple', email: 'johndoe@example.com', full_name: 'John Doe' })
    const registered = await app.inject({ method: 'POST', url: '/register', payload: user })
    assert.equal(registered.statusCode, 201, registered.body)

    const token = await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': FORM }, payload: asForm(prefilled('/token', FORM)) })
    assert.equal(token.statusCode, 200, token.body)
    assert.equal(token.json().scope, 'me items')

    const revoke = { ...prefilled('/token/revoke', FORM), token: token.json().refresh_token }
    const revoked = await app.inject({ method: 'POST', url: '/token/revoke', headers: { 'content-type': FORM }, payload: asForm(revoke) })
    assert.equal(revoked.statusCode, 200, revoked.body)
  })

  it('pre-fills harmless PATCH bodies (not every field, booleans true: a disabled admin; not a rename of whoever tries it)', async (t) => {
    const { doc } = await openapi(t)
    assert.deepEqual(doc.paths['/users/me'].patch.requestBody.content['application/json'].example, {})
    assert.deepEqual(doc.paths['/users/{id}'].patch.requestBody.content['application/json'].example, { disabled: false })
  })

  it('gives every operation a unique operationId, and lists the issuer\'s origin first in servers', async (t) => {
    const { doc } = await openapi(t)
    const ids = operations(doc).map(({ key, op }) => { assert.equal(typeof op.operationId, 'string', key); return op.operationId as string })
    assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [])
    for (const [key, id] of [['get /users/me', 'readUserMe'], ['post /register', 'register'], ['get /users', 'listUsers'], ['get /health', 'health']]) {
      assert.equal(operations(doc).find(o => o.key === key)?.op.operationId, id, key)
    }
    assert.deepEqual(doc.servers.map((s: Json) => s.url), ['http://127.0.0.1:3000', '/'])
  })

  it('tags every operation with a declared tag', async (t) => {
    const { doc } = await openapi(t)
    const declared = new Set((doc.tags ?? []).map((tag: Json) => tag.name))
    for (const { key, op } of operations(doc)) {
      assert.ok(Array.isArray(op.tags) && op.tags.length > 0, `${key} has tags`)
      for (const tag of op.tags) assert.ok(declared.has(tag), `${key}: tag ${tag} is declared`)
    }
  })

  it('describes every answer: a reason phrase where the schema has no description, never "Default Response"', async (t) => {
    const { doc } = await openapi(t)
    const defaults: string[] = []
    for (const { key, op } of operations(doc)) {
      for (const [status, response] of Object.entries<Json>(op.responses)) {
        assert.equal(typeof response.description, 'string', `${key} ${status}`)
        assert.ok(response.description.length > 0, `${key} ${status}`)
        if (response.description === 'Default Response') defaults.push(`${key} ${status}`)
      }
    }
    assert.deepEqual(defaults, [])
    // The reason phrase where a route says nothing more.
    assert.equal(doc.paths['/health'].get.responses['200'].description, 'OK')
    assert.equal(doc.paths['/register'].post.responses['201'].description, 'Created')
    assert.equal(doc.paths['/items/{id}'].delete.responses['204'].description, 'No Content')
    assert.equal(doc.paths['/items/{id}'].delete.responses['404'].description, 'Not Found')
  })

  it('requires no query parameter that has a default (GET /users: limit and offset)', async (t) => {
    const { doc } = await openapi(t)
    const required: string[] = []
    for (const { key, op } of operations(doc)) {
      for (const parameter of (op.parameters ?? []) as Json[]) {
        if (parameter.in === 'query' && parameter.schema?.default !== undefined && parameter.required === true) required.push(`${key} ?${parameter.name}`)
      }
    }
    assert.deepEqual(required, [])
    const params = Object.fromEntries((doc.paths['/users'].get.parameters as Json[]).map(p => [p.name, p]))
    assert.deepEqual([params.limit?.required ?? false, params.limit?.schema.default], [false, 20])
    assert.deepEqual([params.offset?.required ?? false, params.offset?.schema.default], [false, 0])
  })

  it('fills the defaults of an omitted limit and offset in before the handler: GET /users and GET /items', async (t) => {
    const app = await build(t, { FIRST_SUPERUSER: 'root', FIRST_SUPERUSER_PASSWORD: 'a-long-admin-password-1' })
    const { access_token: token } = await login(app, 'root', 'a-long-admin-password-1')
    const users = await app.inject({ url: '/users', headers: bearer(token) })
    assert.equal(users.statusCode, 200, users.body)
    assert.deepEqual([users.json().limit, users.json().offset, users.json().items.length], [20, 0, 1])
    const page = await app.inject({ url: '/users?offset=1', headers: bearer(token) })
    assert.deepEqual([page.json().limit, page.json().offset, page.json().items.length], [20, 1, 0])
    assert.equal((await app.inject({ url: '/users?limit=0', headers: bearer(token) })).statusCode, 400)
    const items = await app.inject({ url: '/items', headers: bearer(token) })
    assert.equal(items.statusCode, 200, items.body)
    assert.deepEqual(items.json(), [])
  })

  it('has no password_hash property in any schema', async (t) => {
    const { doc } = await openapi(t)
    let schemas = 0
    for (const { at, node } of walk(doc)) {
      if (node.properties !== undefined && typeof node.properties === 'object') {
        schemas++
        assert.equal('password_hash' in node.properties, false, `${at} has password_hash`)
      }
      if (Array.isArray(node.required)) assert.equal(node.required.includes('password_hash'), false, `${at} requires password_hash`)
    }
    assert.ok(schemas > 5, 'the walk saw the schemas')
  })
})

describe('GET /docs', () => {
  it('answers Swagger UI as HTML', async (t) => {
    const app = await build(t)
    let res = await app.inject('/docs')
    if (res.statusCode >= 300 && res.statusCode < 400) res = await app.inject(new URL(String(res.headers.location), 'http://localhost/docs').pathname)
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^text\/html/)
    assert.match(res.body, /swagger-ui/i)
    assert.equal((await app.inject('/docs/')).statusCode, 200)
  })

  it('shows the same document as /openapi.json at /docs/json', async (t) => {
    const app = await build(t)
    const docs = await app.inject('/docs/json')
    assert.equal(docs.statusCode, 200)
    assert.deepEqual(docs.json(), (await app.inject('/openapi.json')).json())
  })

  it('shows the security schemes at /docs/yaml too, and no mark the auth plugin leaves for them (x-auth-…)', async (t) => {
    // The auth plugin adds its schemes and each operation's security as @fastify/swagger builds
    // the document (plugins/auth/openapi.ts), in JSON and in YAML.
    const app = await build(t)
    const yaml = await app.inject('/docs/yaml')
    assert.equal(yaml.statusCode, 200)
    assert.ok(/^ {4}OAuth2PasswordBearer:$/m.test(yaml.body), 'the oauth2 scheme in the YAML')
    assert.ok(/^ {10}tokenUrl: \/token$/m.test(yaml.body), 'its token URL')
    assert.ok(!yaml.body.includes('x-auth-'), 'no mark in the YAML')
    assert.ok(!(await app.inject('/openapi.json')).body.includes('x-auth-'), 'no mark in the JSON')
  })

  it('keeps the authorization across reloads (persistAuthorization) in the Swagger UI initializer', async (t) => {
    const app = await build(t)
    const res = await app.inject('/docs/static/swagger-initializer.js')
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /javascript/)
    assert.match(res.body, /["']?persistAuthorization["']?\s*:\s*true/)
    assert.match(res.body, /resolveUrl\('\.\/json'\)/)
  })

  it('serves the Swagger UI assets it needs', async (t) => {
    const app = await build(t)
    for (const url of ['/docs/static/swagger-ui.css', '/docs/static/swagger-ui-bundle.js', '/docs/static/oauth2-redirect.html']) {
      assert.equal((await app.inject(url)).statusCode, 200, url)
    }
  })

  const traversals = [
    '/docs/static/../package.json',
    '/docs/static/%2e%2e/package.json',
    '/docs/static/..%2Fpackage.json',
    '/docs/static/..%2fpackage.json',
    '/docs/static/%2e%2e%2fpackage.json',
    '/docs/static/..%5Cpackage.json',
    '/docs/static/..\\package.json',
    '/docs/static/....//package.json',
    '/docs/static/%252e%252e/package.json',
    '/docs/static/../../../package.json',
    '/docs/static/%2e%2e/%2e%2e/%2e%2e/package.json',
    '/docs/static/..%2F..%2F..%2Fpackage.json',
    '/docs/static/../lib/routes.js',
    '/docs/static/..%2Flib%2Froutes.js',
    '/docs/static/package.json',
    '/docs/static/index.js',
    '/docs/package.json',
    '/docs/static/%2Fetc%2Fpasswd'
  ]
  const leaked = (body: string) => /"(name|version|dependencies)"\s*:|module\.exports|require\(|root:.*:0:0:/.test(body)

  it('serves no file outside its static assets over inject', async (t) => {
    const app = await build(t)
    for (const url of traversals) {
      const res = await app.inject(url)
      assert.ok(res.statusCode !== 200 || !leaked(res.body), `${url}: ${res.statusCode} ${res.body.slice(0, 80)}`)
      assert.ok(res.statusCode < 500, `${url}: ${res.statusCode}`)
    }
  })

  it('serves no file outside its static assets over a real socket (paths sent verbatim)', async (t) => {
    const app = await build(t)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const get = (path: string) => new Promise<{ status: number, body: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET' }, res => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', chunk => { body += chunk })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      req.on('error', reject)
      req.end()
    })
    for (const url of traversals) {
      const res = await get(url)
      assert.ok(res.status !== 200 || !leaked(res.body), `${url}: ${res.status} ${res.body.slice(0, 80)}`)
      assert.ok(res.status < 500, `${url}: ${res.status}`)
    }
  })
})
