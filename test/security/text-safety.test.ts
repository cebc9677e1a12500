import { after, before, describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance, type InjectOptions, type LightMyRequestResponse } from 'fastify'
import auth, { adminRoutes, authRoutes } from '../../src/index.js'
import { createApp } from '../../src/app.js'
import { parseUserImport } from '../../src/services/user-import.js'
import { stringProblem, textProblem } from '../../src/text.js'
import { adminLogin, FORM, form, isolatedDatabaseUrl, login, PASSWORD, testConfig, uniqueName } from '../helper.js'

/*
 * CONTRACT.md: "Text with NUL or invalid Unicode in any field is a 400, on every database."
 * (issue 18, finding 8: a NUL in /token's username reached the login-failure key, a text column,
 * and PostgreSQL answered 500). Every field of every route that takes text, the query string,
 * the path parameters and the User-Agent, with a NUL and with a lone UTF-16 surrogate (JSON
 * "\ud800"): a 400 in the route's own error shape, never a 5xx, and nothing stored. Runs on
 * SQLite, and on PostgreSQL with TEST_DATABASE_URL (scripts/with-postgres.sh).
 */

const NUL = '\u0000'
const LONE = '\ud800'
/** The message of the edge check (plugins/text-safety.ts), not of a schema further on. */
const TEXT_PROBLEM = /contains a NUL character|not valid Unicode \(a lone UTF-16 surrogate\)/

/** The whole app on a database of its own; mail is queued, never sent (nor written to ./data). */
async function buildApp (t: Pick<TestContext, 'after'>, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const outbox = mkdtempSync(join(tmpdir(), 'text-safety-outbox-'))
  t.after(() => rmSync(outbox, { recursive: true, force: true }))
  const config = testConfig({ DATABASE_URL: await isolatedDatabaseUrl(), TOKEN_RATE_LIMIT: '0', ...env })
  const app = await createApp({ ...config, mail: { ...config.mail, outboxDir: outbox, worker: { ...config.mail.worker, intervalMs: 3_600_000 } } })
  t.after(() => app.close())
  return app
}

interface Fixtures {
  app: FastifyInstance
  alice: { id: string, username: string, email: string, access: string, refresh: string }
  admin: string
  itemId: string
  /** a live reset token of alice's */
  resetToken: string
}

type Shape = 'http' | 'oauth' | 'page'
interface Case {
  name: string
  request: (f: Fixtures) => InjectOptions
  shape: Shape
}

const json = (method: InjectOptions['method'], url: string, payload: Record<string, unknown>, token?: string): InjectOptions =>
  ({ method, url, headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) }, payload: JSON.stringify(payload) })
const formPost = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}): InjectOptions =>
  ({ method: 'POST', url, headers: { ...FORM, ...headers }, payload: form(fields) })
const get = (url: string, token?: string): InjectOptions => ({ method: 'GET', url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
const del = (url: string, token: string): InjectOptions => ({ method: 'DELETE', url, headers: { authorization: `Bearer ${token}` } })

/** The cases that carry `bad` (a NUL or a lone surrogate) in a JSON field, a header or (NUL only) a form, query or path. */
function jsonCases (label: string, bad: string): Case[] {
  const x = (value: string) => `${value.slice(0, 2)}${bad}${value.slice(2)}`
  const cases: Array<[string, (f: Fixtures) => InjectOptions]> = [
    ['POST /register, username', () => json('POST', '/register', { username: x(uniqueName('nul')), password: PASSWORD })],
    ['POST /register, password', () => json('POST', '/register', { username: uniqueName('nul'), password: x(PASSWORD) })],
    ['POST /register, email', () => json('POST', '/register', { username: uniqueName('nul'), password: PASSWORD, email: x('someone@example.com') })],
    ['POST /register, email domain', () => json('POST', '/register', { username: uniqueName('nul'), password: PASSWORD, email: `someone@b${bad}\u00fccher.example` })],
    ['POST /register, full_name', () => json('POST', '/register', { username: uniqueName('nul'), password: PASSWORD, full_name: x('Ann Admin') })],
    ['POST /register, a member name', () => json('POST', '/register', { username: uniqueName('nul'), password: PASSWORD, [x('full_name')]: 'Ann' })],
    ['POST /register, the User-Agent header', () => ({ ...json('POST', '/register', { username: uniqueName('ua'), password: PASSWORD }), headers: { 'content-type': 'application/json', 'user-agent': x('curl/8') } })],
    ['POST /forgot-password, email', f => json('POST', '/forgot-password', { email: x(f.alice.email) })],
    ['POST /request-verify-token, email', f => json('POST', '/request-verify-token', { email: x(f.alice.email) })],
    ['POST /reset-password, token', f => json('POST', '/reset-password', { token: x(f.resetToken), password: 'a brand new passphrase' })],
    ['POST /reset-password, password, with a live token', f => json('POST', '/reset-password', { token: f.resetToken, password: x('a brand new passphrase') })],
    ['POST /verify, token', () => json('POST', '/verify', { token: x('Xw2mE1vV0q6xF2oG3qkzR7w5m7O8x1n9P4k2a6b8c0d') })],
    ['PATCH /users/me, full_name', f => json('PATCH', '/users/me', { full_name: x('Alice Cooper') }, f.alice.access)],
    ['PATCH /users/me, email', f => json('PATCH', '/users/me', { email: x('alice.new@example.com'), current_password: PASSWORD }, f.alice.access)],
    ['PATCH /users/me, current_password', f => json('PATCH', '/users/me', { email: 'alice.new@example.com', current_password: x(PASSWORD) }, f.alice.access)],
    ['PUT /users/me/password, current_password', f => json('PUT', '/users/me/password', { current_password: x(PASSWORD), new_password: 'a brand new passphrase' }, f.alice.access)],
    ['PUT /users/me/password, new_password', f => json('PUT', '/users/me/password', { current_password: PASSWORD, new_password: x('a brand new passphrase') }, f.alice.access)],
    ['PATCH /users/{id} (admin), full_name', f => json('PATCH', `/users/${f.alice.id}`, { full_name: x('Alice Admin-Set') }, f.admin)],
    ['PATCH /users/{id} (admin), email', f => json('PATCH', `/users/${f.alice.id}`, { email: x('alice.admin@example.com') }, f.admin)],
    ['POST /items, title', f => json('POST', '/items', { title: x('Buy milk') }, f.alice.access)],
    ['POST /items, description', f => json('POST', '/items', { title: 'Buy milk', description: x('Two litres') }, f.alice.access)],
    ['POST /items, a nested value where a string belongs', f => json('POST', '/items', { title: 'Buy milk', description: { deep: [[x('Two litres')]] } }, f.alice.access)]
  ]
  return cases.map(([name, request]) => ({ name: `${name} with ${label}`, request, shape: 'http' }))
}

/** NUL through a form, a query string or a path: %00 (a lone surrogate cannot be %-encoded in UTF-8; see below). */
const percentNulCases: Case[] = [
  ...([
    ['username', f => ({ grant_type: 'password', username: `${f.alice.username}${NUL}`, password: PASSWORD })],
    ['password (alice\'s own, with a NUL added)', f => ({ grant_type: 'password', username: f.alice.username, password: `${PASSWORD}${NUL}` })],
    ['password (only a NUL in it)', f => ({ grant_type: 'password', username: f.alice.username, password: `correct${NUL}horse` })],
    ['scope', f => ({ grant_type: 'password', username: f.alice.username, password: PASSWORD, scope: `me${NUL}` })],
    ['client_id', f => ({ grant_type: 'password', username: f.alice.username, password: PASSWORD, client_id: `app${NUL}` })],
    ['client_secret', f => ({ grant_type: 'password', username: f.alice.username, password: PASSWORD, client_secret: `s${NUL}` })],
    ['grant_type', f => ({ grant_type: `password${NUL}`, username: f.alice.username, password: PASSWORD })],
    ['refresh_token', f => ({ grant_type: 'refresh_token', refresh_token: `${f.alice.refresh.slice(0, 10)}${NUL}${f.alice.refresh.slice(10)}` })],
    ['scope of a refresh', f => ({ grant_type: 'refresh_token', refresh_token: f.alice.refresh, scope: `me${NUL}` })],
    ['client_id of a refresh', f => ({ grant_type: 'refresh_token', refresh_token: f.alice.refresh, client_id: `app${NUL}` })],
    ['an unknown parameter', f => ({ grant_type: 'password', username: f.alice.username, password: PASSWORD, extra: `x${NUL}` })]
  ] as Array<[string, (f: Fixtures) => Record<string, string>]>).map(([name, fields]): Case => ({
    name: `POST /token, ${name} with NUL`, request: f => formPost('/token', fields(f)), shape: 'oauth'
  })),
  { name: 'POST /token, the User-Agent header with NUL (only in-process: Node\'s HTTP parser refuses it)', request: f => formPost('/token', { username: f.alice.username, password: PASSWORD }, { 'user-agent': `curl${NUL}` }), shape: 'oauth' },
  { name: 'POST /token, the User-Agent header with a lone surrogate (only in-process)', request: f => formPost('/token', { username: f.alice.username, password: PASSWORD }, { 'user-agent': `curl${LONE}` }), shape: 'oauth' },
  { name: 'POST /token/revoke, token with NUL', request: f => formPost('/token/revoke', { token: `${f.alice.refresh}${NUL}` }), shape: 'oauth' },
  { name: 'POST /token/revoke, token_type_hint with NUL', request: f => formPost('/token/revoke', { token: f.alice.refresh, token_type_hint: `refresh_token${NUL}` }), shape: 'oauth' },
  { name: 'POST /token/revoke, client_id with NUL', request: f => formPost('/token/revoke', { token: f.alice.refresh, client_id: `app${NUL}` }), shape: 'oauth' },
  { name: 'POST /reset-password (the page\'s form), password with NUL', request: f => formPost('/reset-password', { token: f.resetToken, password: `a brand new${NUL}passphrase` }), shape: 'page' },
  { name: 'POST /verify (the page\'s form), token with NUL', request: () => formPost('/verify', { token: `abc${NUL}def` }), shape: 'page' },
  { name: 'GET /reset-password?token= with NUL', request: f => get(`/reset-password?token=${f.resetToken}%00`), shape: 'page' },
  { name: 'GET /verify?token= with NUL', request: () => get('/verify?token=abc%00def'), shape: 'page' },
  { name: 'GET /users?limit= with NUL (admin)', request: f => get('/users?limit=1%00', f.admin), shape: 'http' },
  { name: 'GET /users?offset= with NUL, beside a valid limit (admin)', request: f => get('/users?limit=5&offset=%00', f.admin), shape: 'http' },
  { name: 'GET /users?<unknown>= with NUL (admin)', request: f => get('/users?x=%00', f.admin), shape: 'http' },
  { name: 'GET /items?limit= with NUL', request: f => get('/items?limit=%00', f.alice.access), shape: 'http' },
  { name: 'GET /users/{id} with NUL in the id', request: f => get(`/users/${f.alice.id}%00`, f.admin), shape: 'http' },
  { name: 'PATCH /users/{id} with NUL in the id', request: f => json('PATCH', `/users/${f.alice.id.slice(0, 8)}%00`, { full_name: 'Nobody' }, f.admin), shape: 'http' },
  { name: 'DELETE /users/{id} with NUL in the id', request: f => del(`/users/${f.alice.id}%00`, f.admin), shape: 'http' },
  { name: 'DELETE /users/{id}/lockout with NUL in the id', request: f => del(`/users/${f.alice.id}%00/lockout`, f.admin), shape: 'http' },
  { name: 'GET /items/{id} with NUL in the id', request: f => get(`/items/${f.itemId}%00`, f.alice.access), shape: 'http' },
  { name: 'DELETE /items/{id} with NUL in the id', request: f => del(`/items/${f.itemId}%00`, f.alice.access), shape: 'http' },
  { name: 'DELETE /users/me/sessions/{id} with NUL in the id', request: f => del('/users/me/sessions/abc%00def', f.alice.access), shape: 'http' }
]

const CASES: Case[] = [...jsonCases('NUL', NUL), ...jsonCases('a lone surrogate (JSON "\\ud800")', LONE), ...percentNulCases]

/** Every row of the tables a request could write, to compare before and after. */
async function stored (app: FastifyInstance) {
  const db = app.db
  const [users, sessions, refreshTokens, failures, items, emailTokens, outbox, requests] = await Promise.all([
    db.selectFrom('users').selectAll().orderBy('id').execute(),
    db.selectFrom('sessions').selectAll().orderBy('id').execute(),
    db.selectFrom('refresh_tokens').selectAll().orderBy('token_hash').execute(),
    db.selectFrom('login_failures').selectAll().orderBy('login_key').execute(),
    db.selectFrom('items').selectAll().orderBy('id').execute(),
    db.selectFrom('email_tokens').selectAll().orderBy('token_hash').execute(),
    db.selectFrom('mail_outbox').select(['id', 'recipient']).orderBy('id').execute(),
    db.selectFrom('mail_requests').selectAll().execute()
  ])
  return { users, sessions, refreshTokens, failures, items, emailTokens, outbox, requests }
}

function assertShape (res: LightMyRequestResponse, shape: Shape) {
  const label = `${res.statusCode} ${res.body.slice(0, 300)}`
  assert.ok(res.statusCode < 500, `a server error: ${label}`)
  assert.equal(res.statusCode, 400, label)
  if (shape === 'page') {
    assert.match(String(res.headers['content-type']), /^text\/html/, label)
    assert.match(res.body, TEXT_PROBLEM, label)
    return
  }
  assert.match(String(res.headers['content-type']), /^application\/json/, label)
  const body = res.json<Record<string, unknown>>()
  if (shape === 'oauth') {
    assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description'], label)
    assert.equal(body.error, 'invalid_request', label)
    assert.match(String(body.error_description), TEXT_PROBLEM, label)
    assert.equal(res.headers['cache-control'], 'no-store')
    assert.equal(res.headers.pragma, 'no-cache')
  } else {
    assert.deepEqual(Object.keys(body).sort(), ['error', 'message', 'statusCode'], label)
    assert.equal(body.statusCode, 400, label)
    assert.equal(body.error, 'Bad Request', label)
    assert.match(String(body.message), TEXT_PROBLEM, label)
  }
}

describe(`NUL and invalid Unicode in request text: 400, nothing stored (${CASES.length} cases, ${process.env.TEST_DATABASE_URL?.startsWith('postgres') === true ? 'PostgreSQL' : 'SQLite'})`, () => {
  const cleanups: Array<() => unknown> = []
  const t = { after: (fn: () => unknown) => { cleanups.push(fn) } }
  let f: Fixtures

  before(async () => {
    const app = await buildApp(t)
    const username = uniqueName('alice')
    const email = `${username}@example.com`
    const registered = await app.inject({ method: 'POST', url: '/register', payload: { username, password: PASSWORD, email, full_name: 'Alice' } })
    assert.equal(registered.statusCode, 201, registered.body)
    const tokens = await login(app, username)
    const item = await app.inject(json('POST', '/items', { title: 'Buy milk' }, tokens.access_token))
    assert.equal(item.statusCode, 201, item.body)
    const forgot = await app.inject(json('POST', '/forgot-password', { email }))
    assert.equal(forgot.statusCode, 202, forgot.body)
    // The request becomes a token and its message when the worker resolves it; here, at once (the worker idles).
    await app.authRecovery.resolveRequests(10)
    const messages = await app.db.selectFrom('mail_outbox').select('text').where('recipient', '=', email).execute()
    const resetToken = messages.map(m => /reset-password\?token=([\w-]+)/.exec(m.text)?.[1]).find(Boolean)
    assert.ok(resetToken !== undefined, 'a reset link was queued')
    f = {
      app,
      alice: { id: registered.json<{ id: string }>().id, username, email, access: tokens.access_token, refresh: tokens.refresh_token },
      admin: (await adminLogin(app)).tokens.access_token,
      itemId: item.json<{ id: string }>().id,
      resetToken
    }
  })

  after(async () => {
    for (const fn of cleanups.reverse()) await fn()
  })

  for (const c of CASES) {
    it(c.name, async () => {
      const before = await stored(f.app)
      const res = await f.app.inject(c.request(f))
      assertShape(res, c.shape)
      assert.deepEqual(await stored(f.app), before, 'the request changed what is stored')
    })
  }

  it('leaves alice\'s credentials, reset link and session working after every case', async () => {
    const page = await f.app.inject(get(`/reset-password?token=${f.resetToken}`))
    assert.equal(page.statusCode, 200, page.body)
    const res = await f.app.inject(formPost('/token', { grant_type: 'refresh_token', refresh_token: f.alice.refresh }))
    assert.equal(res.statusCode, 200, res.body)
    await login(f.app, f.alice.username)
  })
})

describe('a lone surrogate cannot arrive through a form, a query string or a path', () => {
  it('%ED%A0%80 (U+D800 as UTF-8 would spell it) in a form field stays text: the field\'s usual answer, never a 5xx', async (t) => {
    const app = await buildApp(t)
    const res = await app.inject({ method: 'POST', url: '/token', headers: FORM, payload: 'username=al%ED%A0%80ice&password=x' })
    assert.equal(res.statusCode, 400, res.body)
    assert.equal(res.json().error, 'invalid_grant')
    assert.deepEqual(await app.db.selectFrom('sessions').selectAll().execute(), [])
  })

  it('%ED%A0%80 in a query string stays text: GET /users?limit= is the schema\'s 400, the reset page its refusal page', async (t) => {
    const app = await buildApp(t)
    const admin = (await adminLogin(app)).tokens.access_token
    const list = await app.inject(get('/users?limit=%ED%A0%80', admin))
    assert.equal(list.statusCode, 400, list.body)
    assert.deepEqual(Object.keys(list.json()).sort(), ['error', 'message', 'statusCode'])
    assert.match(list.json().message, /querystring\/limit must be integer/)
    const page = await app.inject(get('/reset-password?token=%ED%A0%80'))
    assert.equal(page.statusCode, 400, page.body)
    assert.match(String(page.headers['content-type']), /^text\/html/)
  })

  it('%ED%A0%80 in a path: 400 from the router (the path is not valid UTF-8), never a 5xx', async (t) => {
    const app = await buildApp(t)
    const admin = (await adminLogin(app)).tokens.access_token
    const res = await app.inject(get('/users/%ED%A0%80', admin))
    assert.equal(res.statusCode, 400, res.body)
    // Fastify's FST_ERR_BAD_URL answer, which adds `code` to {statusCode, error, message}.
    assert.equal(res.json().error, 'Bad Request')
  })
})

describe('the routes mounted in another app (no app-level check)', () => {
  const SECRET = 'a-mounted-app-secret-of-at-least-32-bytes'

  async function mounted (t: TestContext) {
    const app = Fastify()
    t.after(() => app.close())
    await app.register(auth, { jwt: { secret: SECRET } })
    await app.register(authRoutes, { prefix: '/auth' })
    await app.register(adminRoutes, { prefix: '/admin' })
    // The app's own route, outside the plugins' scope: the app's business, not checked.
    app.post('/echo', async (request) => ({ length: JSON.stringify(request.body).length }))
    await app.ready()
    return app
  }

  it('answers 400 at /auth/register and invalid_request at /auth/token, stores nothing', async (t) => {
    const app = await mounted(t)
    const username = uniqueName('mounted')
    for (const bad of [NUL, LONE]) {
      const res = await app.inject(json('POST', '/auth/register', { username, password: PASSWORD, full_name: `Ann${bad}` }))
      assertShape(res, 'http')
    }
    const token = await app.inject(formPost('/auth/token', { username: `${username}${NUL}`, password: PASSWORD }))
    assertShape(token, 'oauth')
    assert.equal((await app.inject(json('POST', '/auth/register', { username, password: PASSWORD }))).statusCode, 201, 'nothing was stored under the name')
  })

  it('answers 400 at the admin routes (their own registration of the check)', async (t) => {
    const app = await mounted(t)
    const admin = uniqueName('admin')
    await app.authAccounts.ensureAdmin(admin, PASSWORD)
    const res = await app.inject(formPost('/auth/token', { username: admin, password: PASSWORD }))
    const access = res.json<{ access_token: string }>().access_token
    assertShape(await app.inject(get('/admin/users?limit=%00', access)), 'http')
    assertShape(await app.inject(json('PATCH', `/admin/users/${'0'.repeat(8)}%00`, { full_name: 'x' }, access)), 'http')
  })

  it('leaves the app\'s own routes alone', async (t) => {
    const app = await mounted(t)
    const res = await app.inject(json('POST', '/echo', { text: `a${NUL}b` }))
    assert.equal(res.statusCode, 200, res.body)
  })
})

describe('the check itself (src/text.ts)', () => {
  it('refuses NUL and lone surrogates of either half, accepts every other text', () => {
    for (const bad of [NUL, 'a\u0000', LONE, '\udc00', `x${LONE}y`, '\ud83d', '\ude00a', '\ude00\ud83d']) {
      assert.ok(stringProblem(bad) !== undefined, JSON.stringify(bad))
    }
    for (const good of ['', 'alice', 'Jos\u00e9', '\ud83d\ude00 (a pair: one emoji)', '\u0001\u001f control characters', '\ufffd', '\uffff', '\u{10ffff}']) {
      assert.equal(stringProblem(good), undefined, JSON.stringify(good))
    }
  })

  it('finds the first bad string anywhere in arrays and objects, member names included, without quoting it', () => {
    assert.equal(textProblem({ a: 'ok', b: [1, true, null, { c: 'ok' }] }), undefined)
    assert.deepEqual(textProblem({ a: 'ok', b: [1, { c: `x${NUL}` }] }), { path: '/b/1/c', problem: 'contains a NUL character' })
    assert.deepEqual(textProblem([`${LONE}`]), { path: '/0', problem: 'is not valid Unicode (a lone UTF-16 surrogate)' })
    assert.deepEqual(textProblem({ [`k${NUL}`]: 'v' }), { path: '', problem: 'has a member name that contains a NUL character' })
    assert.deepEqual(textProblem(`${NUL}`), { path: '', problem: 'contains a NUL character' })
  })

  it('walks 100 000 levels of nesting without recursion', () => {
    let deep: unknown = `x${NUL}`
    for (let i = 0; i < 100_000; i++) deep = [deep]
    assert.equal(textProblem(deep)?.problem, 'contains a NUL character')
  })
})

describe('users import: NUL and lone surrogates refused by row (the CLI path)', () => {
  const hash = '$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW'
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a NUL in the username', { username: `jo${NUL}hn`, hashed_password: hash }, /username/],
    ['a lone surrogate in the username', { username: `jo${LONE}hn`, hashed_password: hash }, /username/],
    ['a NUL in the e-mail', { username: 'john', email: `john${NUL}@example.com`, hashed_password: hash }, /email/],
    ['a lone surrogate in the e-mail', { username: 'john', email: `john${LONE}@example.com`, hashed_password: hash }, /email/],
    ['a lone surrogate in the e-mail\'s domain', { username: 'john', email: `john@b\u00fc${LONE}cher.example`, hashed_password: hash }, /email/],
    ['a NUL in the full name', { username: 'john', full_name: `John${NUL}Doe`, hashed_password: hash }, /full_name must not contain NUL/],
    ['a lone surrogate in the full name', { username: 'john', full_name: `John${LONE}Doe`, hashed_password: hash }, /full_name is not valid Unicode/],
    ['a NUL in the hash', { username: 'john', hashed_password: `${hash}${NUL}` }, /hashed_password/],
    ['a lone surrogate in the hash', { username: 'john', hashed_password: `${hash}${LONE}` }, /hashed_password/]
  ]
  for (const [name, row, message] of cases) {
    it(`refuses ${name}, naming the row`, () => {
      const result = parseUserImport([{ username: 'fine', hashed_password: hash }, row])
      assert.equal(result.ok, false)
      assert.ok(!result.ok)
      assert.equal(result.errors.length, 1, JSON.stringify(result.errors))
      assert.equal(result.errors[0]!.row, 2)
      assert.match(result.errors[0]!.message, message)
    })
  }

  it('refuses a lone surrogate in a fake_users_db key (the username)', () => {
    const result = parseUserImport({ [`jo${LONE}hn`]: { hashed_password: hash } })
    assert.equal(result.ok, false)
  })

  it('accepts the same rows without the bad characters (the control)', () => {
    const result = parseUserImport([{ username: 'john', email: 'john@example.com', full_name: 'John \ud83d\ude00 Doe', hashed_password: hash }])
    assert.ok(result.ok, JSON.stringify(result))
  })
})
