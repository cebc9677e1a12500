import { after, before, describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeJwt, type JWTPayload } from 'jose'
import { durableDatabaseUrl } from '../helper.js'
import { ADMIN_PASSWORD, startHostileServer } from './hostile-server.js'

/*
 * Issue 11, the property half: random form bodies, random Authorization header values and random
 * token strings, sent over HTTP to the real server (src/server.ts in a child process, on a
 * database of its own: a SQLite file, or with TEST_DATABASE_URL a PostgreSQL schema). Whatever
 * fast-check makes up: never a 5xx, never a stack trace, always the contract's error shape,
 * nothing stored, and /health still 200. A failure prints the shrunk counterexample and the seed
 * that replays it.
 *
 * Protections switched off here, on purpose: TOKEN_RATE_LIMIT=0 and
 * LOGIN_USERNAME_RATE_LIMIT=0. The properties send about a thousand requests to /token and
 * /token/revoke from one address, many of them password attempts for one username; the shipped
 * limits would turn most of them into 429s. The limits have their own tests.
 */

const PASSWORD = 'correct horse battery staple'
const ADMIN = 'property-admin'
const ISSUER = 'http://hostile-properties.test'
const FORM = 'application/x-www-form-urlencoded'
const OAUTH_ERRORS = ['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope']
const STACK = /"stack"|\n\s+at |\bat [\w$.<>]+ \(|node_modules|\/work\/|file:\/\/|\.[cm]?[jt]s:\d+:\d+/
const RUNS = Number(process.env.HOSTILE_PROPERTY_RUNS ?? 120)

interface Answer { status: number, headers: Headers, body: string, json: Record<string, unknown> | undefined }

async function send (base: string, path: string, init: { method?: string, headers?: Record<string, string>, body?: string | Uint8Array } = {}): Promise<Answer> {
  const res = await fetch(base + path, { method: init.method ?? 'POST', headers: init.headers, body: init.body, signal: AbortSignal.timeout(20_000) })
  const body = await res.text()
  let json: Record<string, unknown> | undefined
  try { json = JSON.parse(body) as Record<string, unknown> } catch {}
  return { status: res.status, headers: res.headers, body, json }
}

/** Every answer: no 5xx, nothing of the server's insides, JSON. */
function assertSane (res: Answer) {
  const label = `${res.status} ${res.body.slice(0, 300)}`
  assert.ok(res.status < 500, `a server error: ${label}`)
  assert.doesNotMatch(res.body, STACK, `the body shows the server's insides: ${label}`)
  assert.match(res.headers.get('content-type') ?? '(none)', /^application\/json\b/, `content-type ${res.headers.get('content-type')}: ${label}`)
  assert.ok(res.json !== undefined, `not JSON: ${label}`)
  return label
}

/** /token and /token/revoke errors: RFC 6749 §5.2, no-store; 401 only for invalid_client. */
function assertOAuthError (res: Answer, codes: readonly string[] = OAUTH_ERRORS) {
  const label = assertSane(res)
  assert.equal(res.headers.get('cache-control'), 'no-store', label)
  if (res.status === 413) return assertFastifyError(res, 413, 'Payload Too Large')
  assert.ok(res.status === 400 || res.status === 401, `status ${label}`)
  assert.deepEqual(Object.keys(res.json!).sort(), ['error', 'error_description'], label)
  assert.ok(codes.includes(res.json!.error as string), `error ${String(res.json!.error)}, expected ${codes.join(' or ')}: ${label}`)
  assert.equal(typeof res.json!.error_description, 'string')
  if (res.status === 401) assert.equal(res.json!.error, 'invalid_client', label)
}

function assertFastifyError (res: Answer, status: number, error: string) {
  const label = assertSane(res)
  assert.equal(res.status, status, label)
  assert.deepEqual(Object.keys(res.json!).sort(), ['error', 'message', 'statusCode'], label)
  assert.equal(res.json!.statusCode, status, label)
  assert.equal(res.json!.error, error, label)
  assert.equal(typeof res.json!.message, 'string')
}

/** A protected route's refusal: 401, Fastify's body, WWW-Authenticate: Bearer (with invalid_token when asked). */
function assertBearerRefusal (res: Answer, challenge: 'missing' | 'invalid_token' | 'either') {
  assertFastifyError(res, 401, 'Unauthorized')
  const header = res.headers.get('www-authenticate') ?? ''
  const missing = /^Bearer(?:\s+realm="[^"]*")?$/.test(header)
  const invalid = /^Bearer\s.*\berror="invalid_token"/.test(header)
  if (challenge === 'missing') assert.ok(missing, `WWW-Authenticate ${JSON.stringify(header)}, expected a bare Bearer`)
  else if (challenge === 'invalid_token') assert.ok(invalid, `WWW-Authenticate ${JSON.stringify(header)}, expected error="invalid_token"`)
  else assert.ok(missing || invalid, `WWW-Authenticate ${JSON.stringify(header)}`)
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/** Characters a header value may carry on the wire (fetch refuses NUL, CR, LF and anything past latin-1). */
const headerChar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.constant(0x09),
  fc.integer({ min: 0x80, max: 0xff })
).map(code => String.fromCharCode(code))
const headerText = (maxLength: number) => fc.string({ unit: headerChar, maxLength })
const b64urlText = (maxLength: number) => fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), maxLength })

/** Any text a client could put in a form: all of Unicode, lone surrogates and NUL included. */
const anyText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', 'alice', 'ALICE', '\uff41\uff4c\uff49\uff43\uff45', 'password', 'refresh_token', 'admin', 'me items admin', '__proto__', 'constructor', 'null', '[]', '{}', '%00', '\u0000'),
  b64urlText(700)
)
const FORM_KEYS = ['grant_type', 'username', 'password', 'refresh_token', 'scope', 'client_id', 'client_secret', 'token', 'token_type_hint',
  '__proto__', 'constructor', 'prototype', 'username[]', '__proto__[scope]', 'constructor[prototype][is_admin]', 'toString', 'hasOwnProperty']
const formPairs = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...FORM_KEYS), fc.string({ maxLength: 12 })), anyText), { maxLength: 8 })

/** A form body: well-formed pairs, or raw bytes and broken %-escapes. */
const formBody = fc.oneof(
  { weight: 4, arbitrary: formPairs.map(pairs => new URLSearchParams(pairs).toString()) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map(bytes => Buffer.from(bytes)) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom('%', '%0', '%ZZ', '%ff', '%c3%28', '=', '&', '+', 'a', 'username', 'password', '[', ']'), { maxLength: 30 }).map(parts => parts.join('')) }
)

/** A JWT-looking string: random headers and payloads (some close to alice's real claims), random signatures. */
function tokenLike (claims: JWTPayload, kid: string) {
  const header = fc.record({
    alg: fc.constantFrom('none', 'None', 'HS256', 'hs256', 'EdDSA', 'ES256', 'RS256', 'PS256', ''),
    typ: fc.constantFrom('at+jwt', 'JWT', 'AT+JWT', 'application/at+jwt', ''),
    kid: fc.oneof(fc.constant(kid), fc.string({ maxLength: 20 }), fc.jsonValue()),
    crit: fc.oneof(fc.constant(['exp']), fc.constant([]), fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 })),
    jku: fc.constant('http://127.0.0.1:9/jwks.json'),
    jwk: fc.constant({ kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) }),
    b64: fc.boolean()
  }, { requiredKeys: [] })
  const payload = fc.oneof(
    fc.record({
      sub: fc.oneof(fc.constant(claims.sub), fc.jsonValue()),
      sid: fc.oneof(fc.constant(claims.sid), fc.jsonValue()),
      exp: fc.oneof(fc.constant(claims.exp), fc.integer(), fc.jsonValue()),
      scope: fc.oneof(fc.constant('me items admin'), fc.jsonValue())
    }, { requiredKeys: [] }).map(changes => ({ ...claims, ...changes })),
    fc.jsonValue(),
    fc.string({ unit: 'binary', maxLength: 60 })
  )
  const segment = (value: fc.Arbitrary<unknown>) => fc.oneof(
    { weight: 4, arbitrary: value.map(v => b64(typeof v === 'string' ? v : JSON.stringify(v) ?? 'null')) },
    { weight: 1, arbitrary: b64urlText(80) }
  )
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(segment(header), segment(payload), b64urlText(120)).map(parts => parts.join('.')) },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/'), minLength: 1, maxLength: 6000 }) }
  )
}

// ---------------------------------------------------------------------------------------------

interface Fixtures { base: string, alice: { access: string, refresh: string, claims: JWTPayload }, admin: string, kid: string }

async function expectJson<T> (res: Promise<Answer>, status = 200): Promise<T> {
  const answer = await res
  assert.equal(answer.status, status, answer.body)
  return answer.json as T
}

async function login (base: string, username: string, password: string) {
  const tokens = await expectJson<{ access_token: string, refresh_token: string }>(
    send(base, '/token', { headers: { 'content-type': FORM }, body: new URLSearchParams({ username, password }).toString() }))
  return { access: tokens.access_token, refresh: tokens.refresh_token, claims: decodeJwt(tokens.access_token) }
}

/** What no hostile request may change: the user count, alice's active sessions. */
async function snapshot (f: Fixtures) {
  const users = await expectJson<{ total: number }>(send(f.base, '/users?limit=1', { method: 'GET', headers: { authorization: `Bearer ${f.admin}` } }))
  const sessions = await expectJson<unknown[]>(send(f.base, '/users/me/sessions', { method: 'GET', headers: { authorization: `Bearer ${f.alice.access}` } }))
  return { users: users.total, aliceSessions: sessions.length }
}

async function assertHealthy (f: Fixtures) {
  const res = await send(f.base, '/health', { method: 'GET' })
  assert.equal(res.status, 200, `/health: ${res.status} ${res.body}`)
}

const DATABASE = process.env.TEST_DATABASE_URL?.startsWith('postgres') === true ? 'PostgreSQL' : 'SQLite'

describe(`hostile input properties over HTTP (fast-check, ${DATABASE})`, () => {
  const cleanups: Array<() => unknown> = []
  const t = { after: (fn: () => unknown) => { cleanups.push(fn) } } as unknown as TestContext
  let f: Fixtures
  let alive: () => boolean

  before(async () => {
    const server = await startHostileServer(t, { issuer: ISSUER, admin: ADMIN, env: { DATABASE_URL: await durableDatabaseUrl(t) } })
    alive = server.alive
    const base = server.base
    await expectJson(send(base, '/register', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: PASSWORD }) }), 201)
    const jwks = await expectJson<{ keys: Array<{ kid: string }> }>(send(base, '/.well-known/jwks.json', { method: 'GET' }))
    f = { base, alice: await login(base, 'alice', PASSWORD), admin: (await login(base, ADMIN, ADMIN_PASSWORD)).access, kid: jwks.keys[0]?.kid ?? '' }
  })

  after(async () => {
    try {
      if (f !== undefined) {
        assert.ok(alive(), 'the server process exited')
        await assertHealthy(f)
      }
    } finally {
      for (const fn of cleanups.reverse()) await fn()
    }
  })

  /** Runs a property; afterwards nothing is stored and the server still answers. */
  async function check<Ts> (property: fc.IAsyncPropertyWithHooks<Ts>, runs = RUNS) {
    const before = await snapshot(f)
    try {
      await fc.assert(property, { numRuns: runs, endOnFailure: false })
    } finally {
      await assertHealthy(f)
    }
    assert.deepEqual(await snapshot(f), before, 'the requests changed what is stored (users, or alice\'s sessions)')
  }

  it('POST /token: any form body gets an RFC 6749 §5.2 error, never a token, never a 5xx', async () => {
    await check(fc.asyncProperty(formBody, async (body) => {
      // fast-check never makes up alice's password, so nothing here may log in
      assertOAuthError(await send(f.base, '/token', { headers: { 'content-type': FORM }, body }))
    }))
  })

  it('POST /token: any form body with any content type is refused in the contract\'s shape', async () => {
    const contentType = fc.oneof(fc.constantFrom(FORM, `${FORM}; charset=utf-16`, 'application/json', 'text/plain', 'multipart/form-data', '', 'application/x-www-form-urlencoded x'), headerText(40))
    await check(fc.asyncProperty(contentType, formBody, async (type, body) => {
      assertOAuthError(await send(f.base, '/token', { headers: type === '' ? {} : { 'content-type': type }, body }))
    }))
  })

  it('POST /token/revoke: any form body gets 200 {} or an RFC 6749 §5.2 error, and ends nobody\'s session', async () => {
    await check(fc.asyncProperty(formBody, async (body) => {
      const res = await send(f.base, '/token/revoke', { headers: { 'content-type': FORM }, body })
      if (res.status === 200) {
        assertSane(res)
        assert.deepEqual(res.json, {})
        assert.equal(res.headers.get('cache-control'), 'no-store')
      } else {
        assertOAuthError(res)
      }
    }))
  })

  it('GET /users/me: any Authorization header value is a 401 with the RFC 6750 challenge', async () => {
    const value = fc.oneof(
      headerText(200),
      fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Token', 'JWT', 'Bearer,', ''), fc.constantFrom('', ' ', '  ', '\t', ',', '='), tokenLike(f.alice.claims, f.kid))
        .map(([scheme, gap, token]) => `${scheme}${gap}${token}`)
    )
    await check(fc.asyncProperty(value, async (authorization) => {
      const res = await send(f.base, '/users/me', { method: 'GET', headers: { authorization } })
      const sent = authorization.trim()
      // RFC 6750 §2.1: "Bearer" 1*SP b64token; a scheme that is not Bearer sends no token.
      const challenge = /^bearer +\S/i.test(sent) ? 'invalid_token' : /^bearer\b/i.test(sent) ? 'either' : /^[^\s,]+(\s|$)/.test(sent) || sent === '' ? 'missing' : 'either'
      assertBearerRefusal(res, challenge)
    }), RUNS * 2)
  })

  it('POST /token: any Authorization header value beside a wrong password is refused in the contract\'s shape', async () => {
    const value = fc.oneof(
      headerText(120),
      fc.tuple(fc.constantFrom('Basic ', 'basic ', 'BASIC  '), fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }).map(s => Buffer.from(s).toString('base64')), b64urlText(60)))
        .map(([scheme, credentials]) => `${scheme}${credentials}`)
    )
    await check(fc.asyncProperty(value, async (authorization) => {
      const body = new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'not the password' }).toString()
      const res = await send(f.base, '/token', { headers: { 'content-type': FORM, authorization }, body })
      // A header that is not Basic is no client authentication: only the password counts.
      assertOAuthError(res, /^basic\b/i.test(authorization.trim()) ? ['invalid_client', 'invalid_grant', 'invalid_request'] : ['invalid_grant'])
    }))
  })

  it('GET /users/me: any made-up token is 401 invalid_token', async () => {
    await check(fc.asyncProperty(tokenLike(f.alice.claims, f.kid), async (token) => {
      assertBearerRefusal(await send(f.base, '/users/me', { method: 'GET', headers: { authorization: `Bearer ${token}` } }), 'invalid_token')
    }))
  })

  it('POST /token: any made-up refresh_token is invalid_grant (invalid_request with a NUL in it), whatever its length or shape', async () => {
    await check(fc.asyncProperty(fc.oneof(tokenLike(f.alice.claims, f.kid), anyText.filter(s => s !== '')), async (token) => {
      const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString()
      // A form carries a lone surrogate as U+FFFD (URLSearchParams), so only NUL is text no database takes.
      assertOAuthError(await send(f.base, '/token', { headers: { 'content-type': FORM }, body }), token.includes('\u0000') ? ['invalid_request'] : ['invalid_grant'])
    }))
  })

  it('POST /register: any body with a NUL or a lone surrogate in any field or member name is a 400, and nothing is stored', async () => {
    const bad = fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff')
    // Printable ASCII around it (fast-check's default unit), so a surrogate never finds its other half.
    const text = fc.tuple(fc.string({ maxLength: 16 }), bad, fc.string({ maxLength: 16 })).map(([a, b, c]) => `${a}${b}${c}`)
    const field = fc.constantFrom('username', 'password', 'email', 'full_name', 'unknown')
    await check(fc.asyncProperty(field, text, fc.boolean(), async (name, value, asName) => {
      const body: Record<string, unknown> = { username: 'propuser', password: PASSWORD, email: 'prop@example.com', full_name: 'Prop' }
      if (asName) body[value] = 'x'
      else body[name] = value
      const res = await send(f.base, '/register', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      assertFastifyError(res, 400, 'Bad Request')
      assert.match(String(res.json!.message), /NUL character|not valid Unicode/, res.body)
    }))
  })

  it('POST /token/revoke: any made-up token gets 200 {} as JSON and ends nobody\'s session', async () => {
    const hint = fc.option(fc.constantFrom('access_token', 'refresh_token', 'bogus', ''), { nil: undefined })
    await check(fc.asyncProperty(tokenLike(f.alice.claims, f.kid), hint, async (token, tokenTypeHint) => {
      const fields: Record<string, string> = { token }
      if (tokenTypeHint !== undefined) fields.token_type_hint = tokenTypeHint
      const res = await send(f.base, '/token/revoke', { headers: { 'content-type': FORM }, body: new URLSearchParams(fields).toString() })
      assertSane(res)
      assert.equal(res.status, 200, res.body)
      assert.deepEqual(res.json, {})
      assert.equal(res.headers.get('cache-control'), 'no-store')
    }))
  })
})
