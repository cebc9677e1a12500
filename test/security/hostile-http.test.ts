import { after, before, describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, createPublicKey, randomBytes, randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { connect } from 'node:net'
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, type JWK, type JWTPayload } from 'jose'
import { durableDatabaseUrl } from '../helper.js'
import { ADMIN_PASSWORD, startHostileServer } from './hostile-server.js'

/*
 * Issue 11: every hostile input answered, over HTTP, by the real server (src/server.ts in a
 * child process, on a database of its own: a SQLite file, or with TEST_DATABASE_URL a PostgreSQL
 * schema, which is where text such as a NUL reaches a database that refuses it: issue 18). Each case is { name, request, status, shape }:
 * the contract's status and error body, never a 5xx, never a stack trace, JSON; after each
 * case nothing was stored (the user count, and alice's active sessions, are unchanged) and
 * /health still answers.
 *
 * Protections switched off here, on purpose: TOKEN_RATE_LIMIT=0 and
 * LOGIN_USERNAME_RATE_LIMIT=0. This file sends several hundred requests to /token,
 * /token/revoke and /register from one address, and dozens of password attempts for one
 * username; the shipped limits (60 a minute per address, 10 per username per 15 minutes) would
 * answer 429 long before the cases under test. The limits have their own tests.
 */

const PASSWORD = 'correct horse battery staple'
const ADMIN = 'hostile-admin'
const ISSUER = 'http://hostile.test'
const FORM = 'application/x-www-form-urlencoded'
const JSON_TYPE = 'application/json'

// ---------------------------------------------------------------------------------------------
// Requests and answers

interface Req {
  method?: string
  path: string
  headers?: Record<string, string>
  /** a string is sent as UTF-8; a Uint8Array as is (and fetch then adds no content-type) */
  body?: string | Uint8Array
  /** a whole HTTP/1.1 request written to a socket: bytes fetch refuses to send (NUL, CR) */
  raw?: string
}

interface Answer { status: number, headers: Record<string, string>, body: string }

async function send (base: string, req: Req): Promise<Answer> {
  if (req.raw !== undefined) return sendRaw(base, req.raw)
  const res = await fetch(base + req.path, {
    method: req.method ?? 'POST',
    headers: req.headers,
    body: req.body,
    redirect: 'manual',
    signal: AbortSignal.timeout(20_000)
  })
  const headers: Record<string, string> = {}
  res.headers.forEach((value, key) => { headers[key] = value })
  return { status: res.status, headers, body: await res.text() }
}

/** Writes raw bytes (latin1) and reads the answer until the server closes the connection. */
function sendRaw (base: string, raw: string): Promise<Answer> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(Buffer.from(raw, 'latin1')))
    const chunks: Buffer[] = []
    socket.setTimeout(20_000, () => socket.destroy(new Error('raw request timed out')))
    socket.on('data', chunk => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const split = text.indexOf('\r\n\r\n')
      const [statusLine = '', ...lines] = text.slice(0, split === -1 ? text.length : split).split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(':')
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: split === -1 ? '' : text.slice(split + 4) })
    })
  })
}

const form = (fields: Record<string, string> | Array<[string, string]>) => new URLSearchParams(fields).toString()
const postForm = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}): Req =>
  ({ path, headers: { 'content-type': FORM, ...headers }, body })
const postJson = (path: string, body: string | Uint8Array, contentType = JSON_TYPE): Req =>
  ({ path, headers: { 'content-type': contentType }, body })
const getMe = (authorization: string): Req => ({ method: 'GET', path: '/users/me', headers: { authorization } })
const bearer = (token: string) => getMe(`Bearer ${token}`)
const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map(p => typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))

// ---------------------------------------------------------------------------------------------
// What the contract says each answer looks like

type Challenge = 'missing' | 'invalid_token'
type Shape =
  /** /token and /token/revoke errors: RFC 6749 §5.2 {error, error_description}, no-store */
  | { oauth: string | readonly string[] }
  /** every other error: Fastify's {statusCode, error, message} */
  | { http: string | readonly string[] }
  /** protected routes: 401, WWW-Authenticate: Bearer (no error code when no token was sent) */
  | { bearer: Challenge | readonly Challenge[] }
  /** RFC 7009 success: 200 `{}` as application/json, no-store */
  | { revoked: true }
  /** a protected route that let the request in: the user's public record */
  | { user: true }

interface Case {
  name: string
  request: (f: Fixtures) => Req | Promise<Req>
  /** the contract's status; a list only where the contract allows more than one */
  status: number | readonly number[]
  shape: Shape
}

const STACK = /"stack"|\n\s+at |\bat [\w$.<>]+ \(|node_modules|\/work\/|file:\/\/|\.[cm]?[jt]s:\d+:\d+/

function assertAnswer (req: Req, res: Answer, status: Case['status'], shape: Shape, f: Fixtures) {
  const label = `${res.status} ${res.body.slice(0, 300)}`
  assert.ok(res.status < 500, `a server error: ${label}`)
  assert.doesNotMatch(res.body, STACK, 'the body shows the server\'s insides')
  const statuses: readonly number[] = typeof status === 'number' ? [status] : status
  assert.ok(statuses.includes(res.status), `status ${res.status}, expected ${statuses.join(' or ')}: ${res.body.slice(0, 300)}`)
  assert.match(res.headers['content-type'] ?? '(none)', /^application\/json\b/, `content-type ${res.headers['content-type'] ?? '(none)'}, expected application/json: ${label}`)
  const body = JSON.parse(res.body) as Record<string, unknown>
  const path = req.raw === undefined ? req.path : ''
  if (path.startsWith('/token')) {
    assert.equal(res.headers['cache-control'], 'no-store', 'Cache-Control on a token endpoint answer')
  }

  if ('oauth' in shape) {
    const codes: readonly string[] = typeof shape.oauth === 'string' ? [shape.oauth] : shape.oauth
    assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description'], label)
    assert.ok(codes.includes(body.error as string), `error ${String(body.error)}, expected ${codes.join(' or ')}: ${label}`)
    assert.equal(typeof body.error_description, 'string')
    assert.equal(res.headers.pragma, 'no-cache')
    if (res.status === 401 && res.headers['www-authenticate'] !== undefined) {
      assert.match(res.headers['www-authenticate'], /^Basic\b/i)
    }
  } else if ('http' in shape) {
    const errors: readonly string[] = typeof shape.http === 'string' ? [shape.http] : shape.http
    assertHttpError(body, res.status, errors.find(e => e === body.error) ?? errors[0]!, label)
  } else if ('bearer' in shape) {
    assertHttpError(body, 401, 'Unauthorized', label)
    const challenge = res.headers['www-authenticate'] ?? ''
    const seen: Challenge | undefined = /^Bearer(?:\s+realm="[^"]*")?$/.test(challenge)
      ? 'missing'
      : /^Bearer\s.*\berror="invalid_token"/.test(challenge) ? 'invalid_token' : undefined
    const allowed: readonly Challenge[] = typeof shape.bearer === 'string' ? [shape.bearer] : shape.bearer
    assert.ok(seen !== undefined && allowed.includes(seen), `WWW-Authenticate ${JSON.stringify(challenge)}, expected ${allowed.join(' or ')}`)
  } else if ('revoked' in shape) {
    assert.deepEqual(body, {})
  } else {
    assert.equal(body.id, f.alice.id, label)
    assert.equal(body.username, f.alice.username)
    assert.equal('password_hash' in body, false)
  }
}

function assertHttpError (body: Record<string, unknown>, status: number, error: string, label: string) {
  assert.deepEqual(Object.keys(body).sort(), ['error', 'message', 'statusCode'], label)
  assert.equal(body.statusCode, status, label)
  assert.equal(body.error, error, label)
  assert.equal(typeof body.message, 'string')
  assert.ok((body.message as string).length > 0)
}

// ---------------------------------------------------------------------------------------------
// A server of our own, and what each case needs from it

interface Tokens { access_token: string, refresh_token: string }
interface Account { id: string, username: string, access: string, refresh: string, claims: JWTPayload }
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>

interface Fixtures {
  base: string
  alice: Account
  admin: Account
  /** EdDSA server only */
  kid: string
  /** the server's public key: its JWK, and the PEM the server itself derives from it */
  publicJwk: JWK
  publicPem: string
  /** HS256 server only */
  secret: string
  attacker: {
    ed: KeyPair
    edJwk: JWK
    es: KeyPair
    rs: KeyPair
    /** a server of the attacker's: serves the attacker's JWKS at any path, counts its requests */
    url: string
    hits: () => number
  }
  relogin: () => Promise<void>
}

/** startServerProcess wants a TestContext only for its cleanup; a suite's `after` runs it. */
function suiteContext () {
  const cleanups: Array<() => unknown> = []
  const t = { after: (fn: () => unknown) => { cleanups.push(fn) } } as unknown as TestContext
  return { t, cleanup: async () => { for (const fn of cleanups.reverse()) await fn() } }
}

async function json<T> (base: string, req: Req, expected = 200): Promise<T> {
  const res = await send(base, req)
  assert.equal(res.status, expected, `${req.method ?? 'POST'} ${req.path}: ${res.status} ${res.body}`)
  return JSON.parse(res.body) as T
}

async function login (base: string, username: string, password: string): Promise<Tokens> {
  return json<Tokens>(base, postForm('/token', form({ grant_type: 'password', username, password })))
}

async function account (base: string, username: string, password: string): Promise<Account> {
  const tokens = await login(base, username, password)
  const claims = decodeJwt(tokens.access_token)
  return { id: String(claims.sub), username, access: tokens.access_token, refresh: tokens.refresh_token, claims }
}

async function startAttacker () {
  const ed = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const edJwk = { ...await exportJWK(ed.publicKey), kid: 'attacker', alg: 'EdDSA', use: 'sig' }
  let hits = 0
  const server: Server = createServer((_req, res) => {
    hits++
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: [edJwk] }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    keys: {
      ed,
      edJwk,
      es: await generateKeyPair('ES256', { extractable: true }),
      rs: await generateKeyPair('RS256', { extractable: true }),
      url: `http://127.0.0.1:${port}`,
      hits: () => hits
    },
    close: () => new Promise<void>(resolve => server.close(() => resolve()))
  }
}

async function startSuite (env: Record<string, string>) {
  const { t, cleanup } = suiteContext()
  const server = await startHostileServer(t, { issuer: ISSUER, admin: ADMIN, env: { DATABASE_URL: await durableDatabaseUrl(t), ...env } })
  const base = server.base
  const attacker = await startAttacker()
  t.after(attacker.close)

  await json(base, postJson('/register', JSON.stringify({ username: 'alice', password: PASSWORD, email: 'alice@example.com' })), 201)
  const jwks = await json<{ keys: JWK[] }>(base, { method: 'GET', path: '/.well-known/jwks.json' })
  const publicJwk = jwks.keys[0] ?? {}
  const f: Fixtures = {
    base,
    alice: await account(base, 'alice', PASSWORD),
    admin: await account(base, ADMIN, ADMIN_PASSWORD),
    kid: publicJwk.kid ?? '',
    publicJwk,
    publicPem: publicJwk.x === undefined
      ? ''
      : createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicJwk.x }, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString(),
    secret: env.JWT_SECRET ?? '',
    attacker: attacker.keys,
    relogin: async () => { f.alice = await account(base, 'alice', PASSWORD) }
  }
  return { f, cleanup, alive: server.alive }
}

/** What a hostile request must never change: the users, alice's sessions. */
async function snapshot (f: Fixtures) {
  const users = await json<{ total: number }>(f.base, { method: 'GET', path: '/users?limit=1', headers: { authorization: `Bearer ${f.admin.access}` } })
  const sessions = await json<unknown[]>(f.base, { method: 'GET', path: '/users/me/sessions', headers: { authorization: `Bearer ${f.alice.access}` } })
  return { users: users.total, aliceSessions: sessions.length }
}

async function assertHealthy (f: Fixtures) {
  const res = await send(f.base, { method: 'GET', path: '/health' })
  assert.equal(res.status, 200, `/health: ${res.status} ${res.body}`)
  assert.deepEqual(JSON.parse(res.body), { status: 'ok' })
}

/** One `it` per case; the case's answer, then nothing stored, then the server still answering. */
function runTable (cases: readonly Case[], fixtures: () => Fixtures) {
  for (const c of cases) {
    it(c.name, async () => {
      const f = fixtures()
      const req = await c.request(f)
      const before = await snapshot(f)
      let res: Answer
      try {
        res = await send(f.base, req)
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message
        assert.fail(`no answer: the connection failed (${cause})`)
      }
      let failure: unknown
      try {
        assertAnswer(req, res, c.status, c.shape, f)
      } catch (error) {
        failure = error
      }
      // Whatever the answer, the server must still answer and must have stored nothing.
      await assertHealthy(f)
      let afterwards: Awaited<ReturnType<typeof snapshot>>
      try {
        afterwards = await snapshot(f)
      } catch (error) {
        await f.relogin() // alice's session was ended: the next cases need a live one
        throw failure ?? error
      }
      if (failure !== undefined) throw failure
      assert.deepEqual(afterwards, before, 'the request changed what is stored (users, or alice\'s sessions)')
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Token crafting. Valid tokens come from jose; the deliberately malformed ones (duplicate JSON
// members, a lowercase alg, an empty crit) cannot, so they are put together here by hand.

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
const unsigned = (header: unknown, payload: unknown, signature = '') => `${b64(header)}.${b64(payload)}.${signature}`
const hmacToken = (secret: string | Buffer, header: string, payload: string, hash = 'sha256') => {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
}
/** The claims as JSON text with `name` repeated at the end: a parser that keeps the last sees `value`. */
const withDuplicate = (claims: JWTPayload, name: string, value: unknown) =>
  `${JSON.stringify(claims).slice(0, -1)},${JSON.stringify(name)}:${JSON.stringify(value)}}`
const atHeader = (f: Fixtures, extra: Record<string, unknown> = {}) => ({ alg: 'EdDSA', typ: 'at+jwt', kid: f.kid, ...extra })
const sign = (claims: JWTPayload, header: Record<string, unknown>, key: Parameters<SignJWT['sign']>[0], options?: Parameters<SignJWT['sign']>[1]) =>
  new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key, options)
const text = (value: string) => new TextEncoder().encode(value)
const swapSegment = (token: string, index: number, segment: string) => {
  const parts = token.split('.')
  parts[index] = segment
  return parts.join('.')
}
const now = () => Math.floor(Date.now() / 1000)
const randomToken = (length: number) => randomBytes(length).toString('base64url').slice(0, length)

// ---------------------------------------------------------------------------------------------
// The cases

/** Hostile JWTs at a protected route of the EdDSA server: each is 401 invalid_token. */
const eddsaJwtCases: Case[] = [
  ...([
    ['alg none, no signature', f => unsigned(atHeader(f, { alg: 'none' }), f.alice.claims)],
    ['alg "None", no signature', f => unsigned(atHeader(f, { alg: 'None' }), f.alice.claims)],
    ['alg none with the real token\'s signature', f => unsigned(atHeader(f, { alg: 'none' }), f.alice.claims, f.alice.access.split('.')[2])],
    ['no alg at all', f => unsigned({ typ: 'at+jwt', kid: f.kid }, f.alice.claims, f.alice.access.split('.')[2])],
    ['alg switched to HS256, signed with the public key as the server holds it (PEM)', f => sign(f.alice.claims, atHeader(f, { alg: 'HS256' }), text(f.publicPem))],
    ['alg switched to HS256, signed with the public PEM behind a leading newline (CVE-2026-34950)', f => sign(f.alice.claims, atHeader(f, { alg: 'HS256' }), text(`\n${f.publicPem}`))],
    ['alg switched to HS256, signed with the public PEM without its final newline', f => sign(f.alice.claims, atHeader(f, { alg: 'HS256' }), text(f.publicPem.trimEnd()))],
    ['alg switched to HS256, signed with the public JWK as JSON', f => sign(f.alice.claims, atHeader(f, { alg: 'HS256' }), text(JSON.stringify(f.publicJwk)))],
    ['alg switched to HS256, signed with the raw public key bytes', f => sign(f.alice.claims, atHeader(f, { alg: 'HS256' }), Buffer.from(f.publicJwk.x ?? '', 'base64url'))],
    ['alg switched to HS256, signed with the public key\'s x as text', f => sign(f.alice.claims, atHeader(f, { alg: 'HS256' }), text(f.publicJwk.x ?? ''))],
    ['alg switched to ES256, an attacker\'s key, the server\'s kid', f => sign(f.alice.claims, atHeader(f, { alg: 'ES256' }), f.attacker.es.privateKey)],
    ['alg switched to RS256, an attacker\'s key, the server\'s kid', f => sign(f.alice.claims, atHeader(f, { alg: 'RS256' }), f.attacker.rs.privateKey)],
    ['EdDSA signed with an attacker\'s key under the server\'s kid', f => sign(f.alice.claims, atHeader(f), f.attacker.ed.privateKey)],
    ['EdDSA signed with an attacker\'s key, the key embedded as a jwk header', f => sign(f.alice.claims, atHeader(f, { jwk: f.attacker.edJwk }), f.attacker.ed.privateKey)],
    ['EdDSA, jwk header and no kid', f => sign(f.alice.claims, { alg: 'EdDSA', typ: 'at+jwt', jwk: f.attacker.edJwk }, f.attacker.ed.privateKey)],
    ['EdDSA, jku header pointing at the attacker\'s JWKS', f => sign(f.alice.claims, atHeader(f, { kid: 'attacker', jku: `${f.attacker.url}/jwks.json` }), f.attacker.ed.privateKey)],
    ['EdDSA, jku header and the server\'s kid', f => sign(f.alice.claims, atHeader(f, { jku: `${f.attacker.url}/jwks.json` }), f.attacker.ed.privateKey)],
    ['EdDSA, x5u header pointing at the attacker', f => sign(f.alice.claims, atHeader(f, { kid: 'attacker', x5u: `${f.attacker.url}/cert.pem` }), f.attacker.ed.privateKey)],
    ['EdDSA, an x5c header of junk', f => sign(f.alice.claims, atHeader(f, { x5c: ['MIIBnotacert'] }), f.attacker.ed.privateKey)],
    ['an unknown kid', f => sign(f.alice.claims, atHeader(f, { kid: randomUUID() }), f.attacker.ed.privateKey)],
    ['a kid with a path traversal', f => sign(f.alice.claims, atHeader(f, { kid: '../../../../../../dev/null' }), f.attacker.ed.privateKey)],
    ['a kid with SQL in it', f => sign(f.alice.claims, atHeader(f, { kid: '\' OR \'1\'=\'1' }), f.attacker.ed.privateKey)],
    ['a kid that is an object', f => sign(f.alice.claims, atHeader(f, { kid: { $ne: null } }), f.attacker.ed.privateKey)],
    ['a kid that is an array', f => sign(f.alice.claims, atHeader(f, { kid: [f.kid] }), f.attacker.ed.privateKey)],
    ['the real token with its payload widened to scope admin', f => swapSegment(f.alice.access, 1, b64({ ...f.alice.claims, scope: 'me items admin' }))],
    ['the real token with another user\'s sub', f => swapSegment(f.alice.access, 1, b64({ ...f.alice.claims, sub: f.admin.id }))],
    ['the real token with its signature removed', f => swapSegment(f.alice.access, 2, '')],
    ['the real token with the admin token\'s signature', f => swapSegment(f.alice.access, 2, f.admin.access.split('.')[2] ?? '')],
    ['the real token with typ changed to JWT (signature now wrong)', f => swapSegment(f.alice.access, 0, b64(atHeader(f, { typ: 'JWT' })))],
    ['the real token in standard base64 (+, /, = padding)', f => f.alice.access.split('.').map(s => Buffer.from(s, 'base64url').toString('base64')).join('.')],
    ['the real token with a fourth segment', f => `${f.alice.access}.AAAA`],
    ['the real token with a trailing dot', f => `${f.alice.access}.`],
    ['the real token with a padding = at the end', f => `${f.alice.access}=`],
    ['two segments', f => f.alice.access.split('.').slice(0, 2).join('.')],
    ['five segments (a JWE shape)', () => `${b64({ alg: 'dir', enc: 'A256GCM' })}..${randomToken(16)}.${randomToken(40)}.${randomToken(22)}`],
    ['only dots', () => '....'],
    ['bad base64 in the header', f => `!!!${f.alice.access.slice(3)}`],
    ['bad base64 in the payload', f => swapSegment(f.alice.access, 1, '%%%%*&^')],
    ['a header that is not JSON', f => swapSegment(f.alice.access, 0, b64('not json {'))],
    ['a header that is a JSON array', f => swapSegment(f.alice.access, 0, b64('["EdDSA"]'))],
    ['a header that is JSON null', f => swapSegment(f.alice.access, 0, b64('null'))],
    ['a payload that is a JSON string', f => sign({}, atHeader(f), f.attacker.ed.privateKey).then(t => swapSegment(t, 1, b64('"alice"')))],
    ['a payload of invalid UTF-8', f => swapSegment(f.alice.access, 1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64url'))],
    ['a header with a __proto__ member', f => swapSegment(f.alice.access, 0, b64(`{"__proto__":{"alg":"none"},"alg":"EdDSA","typ":"at+jwt","kid":"${f.kid}"}`))],
    ['a huge token (8 KB, attacker-signed)', f => sign({ ...f.alice.claims, pad: 'x'.repeat(6000) }, atHeader(f), f.attacker.ed.privateKey)],
    ['the literal string null', () => 'null'],
    ['a latin-1 byte inside the token', f => `${f.alice.access.slice(0, 20)}\u00e9${f.alice.access.slice(21)}`]
  ] as Array<[string, (f: Fixtures) => string | Promise<string>]>).map(([name, token]): Case => ({
    name: `GET /users/me with ${name}: 401 invalid_token`,
    request: async f => bearer(await token(f)),
    status: 401,
    shape: { bearer: 'invalid_token' }
  })),
  {
    name: 'GET /users/me with a 20 KB token: 431, Node\'s header limit, still JSON',
    request: f => bearer(`${f.alice.access}${'A'.repeat(20_000)}`),
    status: 431,
    shape: { http: 'Request Header Fields Too Large' }
  },
  {
    name: 'GET /users/me with a NUL byte in the Authorization header: 400 from the HTTP parser',
    request: f => ({ path: '/users/me', raw: `GET /users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${f.alice.access.slice(0, 40)}\u0000${f.alice.access.slice(40)}\r\nConnection: close\r\n\r\n` }),
    status: 400,
    shape: { http: 'Bad Request' }
  },
  {
    name: 'GET /users/me with a bare CR in the Authorization header: 400 from the HTTP parser',
    request: f => ({ path: '/users/me', raw: `GET /users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${f.alice.access}\rX-Admin: 1\r\nConnection: close\r\n\r\n` }),
    status: 400,
    shape: { http: 'Bad Request' }
  }
]

/** RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token, the scheme in any case. */
const bearerGrammarCases: Case[] = [
  ...([
    ['bearer <token> (lowercase scheme)', 'bearer '],
    ['BEARER <token> (uppercase scheme)', 'BEARER '],
    ['bEaReR <token> (mixed case)', 'bEaReR '],
    ['Bearer  <token> (two spaces)', 'Bearer  '],
    ['bearer   <token> (three spaces, lowercase)', 'bearer   ']
  ] as Array<[string, string]>).map(([name, prefix]): Case => ({
    name: `GET /users/me with ${name}: 200`,
    request: f => getMe(`${prefix}${f.alice.access}`),
    status: 200,
    shape: { user: true }
  })),
  { name: 'GET /users/me with no Authorization header: 401, bare Bearer challenge', request: () => ({ method: 'GET', path: '/users/me' }), status: 401, shape: { bearer: 'missing' } },
  { name: 'GET /users/me with Basic credentials: 401, bare Bearer challenge', request: () => getMe('Basic Og=='), status: 401, shape: { bearer: 'missing' } },
  { name: 'GET /users/me with the token under another scheme (Token): 401, bare Bearer challenge', request: f => getMe(`Token ${f.alice.access}`), status: 401, shape: { bearer: 'missing' } },
  { name: 'GET /users/me with "Bearer" and no token: 401', request: () => getMe('Bearer'), status: 401, shape: { bearer: ['missing', 'invalid_token'] } },
  { name: 'GET /users/me with the scheme glued to the token (Bearer<token>): 401', request: f => getMe(`Bearer${f.alice.access}`), status: 401, shape: { bearer: ['missing', 'invalid_token'] } },
  { name: 'GET /users/me with Bearer <token> <garbage>: 401 invalid_token', request: f => getMe(`Bearer ${f.alice.access} extra`), status: 401, shape: { bearer: 'invalid_token' } },
  { name: 'GET /users/me with the token in quotes: 401 invalid_token', request: f => getMe(`Bearer "${f.alice.access}"`), status: 401, shape: { bearer: 'invalid_token' } },
  { name: 'GET /users/me with Bearer <token>, (a comma after it): 401 invalid_token', request: f => getMe(`Bearer ${f.alice.access},`), status: 401, shape: { bearer: 'invalid_token' } },
  { name: 'GET /users/me with a refresh token as the bearer token: 401 invalid_token', request: f => bearer(f.alice.refresh), status: 401, shape: { bearer: 'invalid_token' } }
]

const goodLogin = (f: Fixtures, extra: Record<string, string> = {}) => form({ grant_type: 'password', username: f.alice.username, password: PASSWORD, ...extra })
const wrongLogin = (f: Fixtures) => form({ grant_type: 'password', username: f.alice.username, password: 'not the password at all' })

/** POST /token: forms, grants, content types. */
const tokenCases: Case[] = [
  { name: 'POST /token, wrong password: invalid_grant', request: f => postForm('/token', wrongLogin(f)), status: 400, shape: { oauth: 'invalid_grant' } },
  // Text with NUL (or a lone surrogate) in any field is invalid_request before anything reads it
  // (CONTRACT.md; issue 18: a NUL username was a 500 on PostgreSQL, which refuses NUL in text).
  { name: 'POST /token, a NUL byte in the username: invalid_request', request: () => postForm('/token', 'username=al%00ice&password=' + encodeURIComponent(PASSWORD)), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, alice\'s own password with a NUL byte added: invalid_request (never counted as her failure)', request: f => postForm('/token', form({ username: f.alice.username, password: `${PASSWORD}\u0000` })), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, a client_id with a NUL byte: invalid_request', request: f => postForm('/token', goodLogin(f, { client_id: 'app\u0000' })), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, a Cyrillic lookalike of alice (U+0430) with her password: invalid_grant', request: () => postForm('/token', form({ username: '\u0430lice', password: PASSWORD })), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token, alice with a zero-width space, with her password: invalid_grant', request: () => postForm('/token', form({ username: 'ali\u200bce', password: PASSWORD })), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token, alice with a Turkish dotless i, with her password: invalid_grant', request: () => postForm('/token', form({ username: 'al\u0131ce', password: PASSWORD })), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token, username __proto__: invalid_grant', request: () => postForm('/token', form({ username: '__proto__', password: PASSWORD })), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token, username constructor: invalid_grant', request: () => postForm('/token', form({ username: 'constructor', password: PASSWORD })), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token, __proto__[scope]=admin and constructor[prototype] keys, wrong password: invalid_grant', request: f => postForm('/token', `__proto__[scope]=admin&__proto__=x&constructor[prototype][is_admin]=1&${wrongLogin(f)}`), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token, username sent twice: invalid_request', request: () => postForm('/token', form([['username', 'alice'], ['username', ADMIN], ['password', PASSWORD]])), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, password sent twice: invalid_request', request: () => postForm('/token', form([['username', 'alice'], ['password', PASSWORD], ['password', 'x']])), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, grant_type sent twice: invalid_request', request: f => postForm('/token', `grant_type=refresh_token&${goodLogin(f)}`), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, username[] (bracket syntax): invalid_request', request: () => postForm('/token', `username[]=alice&password=${encodeURIComponent(PASSWORD)}`), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, grant_type PASSWORD (grant types are case-sensitive): unsupported_grant_type', request: f => postForm('/token', goodLogin(f, { grant_type: 'PASSWORD' })), status: 400, shape: { oauth: 'unsupported_grant_type' } },
  { name: 'POST /token, grant_type client_credentials: unsupported_grant_type', request: f => postForm('/token', goodLogin(f, { grant_type: 'client_credentials' })), status: 400, shape: { oauth: 'unsupported_grant_type' } },
  { name: 'POST /token, grant_type with a NUL byte: invalid_request', request: f => postForm('/token', goodLogin(f, { grant_type: 'password\u0000' })), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, scope admin for a plain user: invalid_scope', request: f => postForm('/token', goodLogin(f, { scope: 'admin' })), status: 400, shape: { oauth: 'invalid_scope' } },
  { name: 'POST /token, a scope with a NUL byte: invalid_request', request: f => postForm('/token', goodLogin(f, { scope: 'me\u0000' })), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, an empty form: invalid_request', request: () => postForm('/token', ''), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, a form of only separators: invalid_request', request: () => postForm('/token', '&&&===&&&'), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, no password: invalid_request', request: () => postForm('/token', 'username=alice'), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, valid credentials as JSON: invalid_request', request: () => postJson('/token', JSON.stringify({ username: 'alice', password: PASSWORD })), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, JSON with __proto__: invalid_request', request: () => postJson('/token', `{"username":"alice","password":"${PASSWORD}","__proto__":{"scope":"admin"}}`), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, valid credentials as text/plain: invalid_request', request: f => postJson('/token', goodLogin(f), 'text/plain'), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, valid credentials and no content type: invalid_request', request: f => ({ path: '/token', body: bytes(goodLogin(f)) }), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, application/x-www-form-urlencodedx: invalid_request', request: f => postJson('/token', goodLogin(f), `${FORM}x`), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, valid credentials as multipart/form-data: invalid_request', request: () => postJson('/token', `--x\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice\r\n--x\r\nContent-Disposition: form-data; name="password"\r\n\r\n${PASSWORD}\r\n--x--\r\n`, 'multipart/form-data; boundary=x'), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, a UTF-16 form declared charset=utf-16: invalid_request', request: f => postJson('/token', Buffer.from(goodLogin(f), 'utf16le'), `${FORM}; charset=utf-16`), status: 400, shape: { oauth: 'invalid_request' } },
  // A username or password nobody has (invalid_grant) or an unreadable request (invalid_request): both are the contract's.
  { name: 'POST /token, invalid UTF-8 bytes in the username: 400', request: () => postForm('/token', bytes('username=al', [0xff, 0xc0], `ice&password=${encodeURIComponent(PASSWORD)}`)), status: 400, shape: { oauth: ['invalid_grant', 'invalid_request'] } },
  { name: 'POST /token, a latin-1 form declared charset=iso-8859-1: 400', request: () => postJson('/token', Buffer.from(`username=alic\u00e9&password=${PASSWORD}`, 'latin1'), `${FORM}; charset=iso-8859-1`), status: 400, shape: { oauth: ['invalid_grant', 'invalid_request'] } },
  { name: 'POST /token, broken percent-encoding: 400', request: () => postForm('/token', 'username=%E0%A4%A&password=%ZZ%'), status: 400, shape: { oauth: ['invalid_grant', 'invalid_request'] } },
  { name: 'POST /token, a 1025-character password: 400', request: () => postForm('/token', form({ username: 'alice', password: 'p'.repeat(1025) })), status: 400, shape: { oauth: ['invalid_grant', 'invalid_request'] } },
  { name: 'POST /token, a 300-character username: 400', request: () => postForm('/token', form({ username: 'a'.repeat(300), password: PASSWORD })), status: 400, shape: { oauth: ['invalid_grant', 'invalid_request'] } },
  { name: 'POST /token, a 2 MiB form: 413', request: f => postForm('/token', `${goodLogin(f)}&pad=${'x'.repeat(2 * 1024 * 1024)}`), status: 413, shape: { http: 'Payload Too Large' } },

  // Refresh grant: any value that is not a live refresh token, whatever its length or shape, is invalid_grant.
  { name: 'POST /token, an access token (EdDSA JWT, over 512 characters) as refresh_token: invalid_grant', request: f => postForm('/token', form({ grant_type: 'refresh_token', refresh_token: f.alice.access })), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token, a 5000-character random refresh_token: invalid_grant', request: () => postForm('/token', form({ grant_type: 'refresh_token', refresh_token: randomToken(5000) })), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token, a 513-character refresh_token: invalid_grant', request: () => postForm('/token', form({ grant_type: 'refresh_token', refresh_token: randomToken(513) })), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token, a one-character refresh_token: invalid_grant', request: () => postForm('/token', form({ grant_type: 'refresh_token', refresh_token: 'a' })), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token, a refresh_token with a NUL byte: invalid_request', request: f => postForm('/token', form({ grant_type: 'refresh_token', refresh_token: `${f.alice.refresh.slice(0, 10)}\u0000${f.alice.refresh.slice(10)}` })), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, alice\'s refresh token with one character more: invalid_grant', request: f => postForm('/token', form({ grant_type: 'refresh_token', refresh_token: `${f.alice.refresh}x` })), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token, an alg-none JWT as refresh_token: invalid_grant', request: f => postForm('/token', form({ grant_type: 'refresh_token', refresh_token: unsigned({ alg: 'none' }, { sid: f.alice.claims.sid }) })), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token, refresh_token sent twice: invalid_request', request: () => postForm('/token', form([['grant_type', 'refresh_token'], ['refresh_token', 'a'], ['refresh_token', 'b']])), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token, grant_type=refresh_token without refresh_token: invalid_request', request: () => postForm('/token', 'grant_type=refresh_token'), status: 400, shape: { oauth: 'invalid_request' } }
]

/** RFC 6749 §2.3 at both endpoints: one client authentication mechanism, failures 401 invalid_client. */
const clientAuthCases: Case[] = ([
  ['/token', (f: Fixtures) => goodLogin(f)],
  ['/token/revoke', () => form({ token: randomToken(43) })]
] as Array<[string, (f: Fixtures) => string]>).flatMap(([path, body]): Case[] => [
  { name: `POST ${path}, Basic Og== (an empty pair) and client_secret in the form: invalid_request (RFC 6749 §2.3)`, request: f => postForm(path, `${body(f)}&client_secret=x`, { authorization: 'Basic Og==' }), status: 400, shape: { oauth: 'invalid_request' } },
  { name: `POST ${path}, Basic client:secret and client_secret in the form: invalid_request`, request: f => postForm(path, `${body(f)}&client_secret=secret`, { authorization: `Basic ${b64('client:secret')}` }), status: [400, 401], shape: { oauth: ['invalid_request', 'invalid_client'] } },
  { name: `POST ${path}, Basic client:secret (no such confidential client): 401 invalid_client`, request: f => postForm(path, body(f), { authorization: `Basic ${Buffer.from('client:secret').toString('base64')}` }), status: 401, shape: { oauth: 'invalid_client' } },
  { name: `POST ${path}, basic (lowercase scheme) client:secret: 401 invalid_client`, request: f => postForm(path, body(f), { authorization: `basic ${Buffer.from('client:secret').toString('base64')}` }), status: 401, shape: { oauth: 'invalid_client' } },
  { name: `POST ${path}, Basic without a colon: 401 invalid_client`, request: f => postForm(path, body(f), { authorization: `Basic ${Buffer.from('client').toString('base64')}` }), status: 401, shape: { oauth: 'invalid_client' } },
  { name: `POST ${path}, Basic that is not base64: 401 invalid_client`, request: f => postForm(path, body(f), { authorization: 'Basic !!!***' }), status: 401, shape: { oauth: 'invalid_client' } },
  { name: `POST ${path}, Basic with no credentials at all: 401 invalid_client`, request: f => postForm(path, body(f), { authorization: 'Basic' }), status: 401, shape: { oauth: 'invalid_client' } },
  { name: `POST ${path}, Basic with a broken %-escape in the client id: 401 invalid_client`, request: f => postForm(path, body(f), { authorization: `Basic ${Buffer.from('%ZZ:').toString('base64')}` }), status: 401, shape: { oauth: 'invalid_client' } },
  { name: `POST ${path}, Basic with a NUL byte in the client id: 401 invalid_client`, request: f => postForm(path, body(f), { authorization: `Basic ${Buffer.from('a\u0000b:').toString('base64')}` }), status: 401, shape: { oauth: 'invalid_client' } },
  { name: `POST ${path}, Basic with an 8 KB secret: 401 invalid_client`, request: f => postForm(path, body(f), { authorization: `Basic ${Buffer.from(`client:${'s'.repeat(6000)}`).toString('base64')}` }), status: 401, shape: { oauth: 'invalid_client' } },
  { name: `POST ${path}, Basic client id differs from the form's client_id: invalid_request`, request: f => postForm(path, `${body(f)}&client_id=other`, { authorization: `Basic ${Buffer.from('mine:').toString('base64')}` }), status: 400, shape: { oauth: 'invalid_request' } },
  // RFC 6749 §5.2: 401 is a MUST only for authentication through the Authorization header.
  { name: `POST ${path}, client_secret in the form only: invalid_client`, request: f => postForm(path, `${body(f)}&client_id=c&client_secret=s`), status: [400, 401], shape: { oauth: 'invalid_client' } },
  { name: `POST ${path}, client_secret sent twice: invalid_request`, request: f => postForm(path, `${body(f)}&client_secret=a&client_secret=b`), status: 400, shape: { oauth: 'invalid_request' } },
  { name: `POST ${path}, client_id sent twice: invalid_request`, request: f => postForm(path, `${body(f)}&client_id=a&client_id=b`), status: 400, shape: { oauth: 'invalid_request' } }
])

/** POST /token/revoke (RFC 7009): 200 `{}` for anything that is not a live token, and nothing ended. */
const revokeCases: Case[] = [
  { name: 'POST /token/revoke, an unknown token: 200 {} as JSON', request: () => postForm('/token/revoke', form({ token: randomToken(43) })), status: 200, shape: { revoked: true } },
  { name: 'POST /token/revoke, an alg-none forgery of alice\'s access token: 200 {}, her session lives', request: f => postForm('/token/revoke', form({ token: unsigned(atHeader(f, { alg: 'none' }), f.alice.claims), token_type_hint: 'access_token' })), status: 200, shape: { revoked: true } },
  { name: 'POST /token/revoke, alice\'s access token re-signed HS256 with the public key: 200 {}, her session lives', request: async f => postForm('/token/revoke', form({ token: await sign(f.alice.claims, atHeader(f, { alg: 'HS256' }), text(f.publicPem)) })), status: 200, shape: { revoked: true } },
  { name: 'POST /token/revoke, alice\'s access token signed by an attacker under the server\'s kid: 200 {}, her session lives', request: async f => postForm('/token/revoke', form({ token: await sign(f.alice.claims, atHeader(f), f.attacker.ed.privateKey) })), status: 200, shape: { revoked: true } },
  { name: 'POST /token/revoke, alice\'s refresh token with one character more: 200 {}, her session lives', request: f => postForm('/token/revoke', form({ token: `${f.alice.refresh}x`, token_type_hint: 'refresh_token' })), status: 200, shape: { revoked: true } },
  { name: 'POST /token/revoke, an unknown token_type_hint: 200 {}', request: () => postForm('/token/revoke', form({ token: randomToken(43), token_type_hint: 'bogus' })), status: 200, shape: { revoked: true } },
  { name: 'POST /token/revoke, a token with a NUL byte: invalid_request', request: () => postForm('/token/revoke', form({ token: 'abc\u0000def' })), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token/revoke, alice\'s refresh token with a NUL byte added: invalid_request, her session lives', request: f => postForm('/token/revoke', form({ token: `${f.alice.refresh}\u0000` })), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token/revoke, a 5000-character token (unknown, so 200 {})', request: () => postForm('/token/revoke', form({ token: randomToken(5000) })), status: 200, shape: { revoked: true } },
  { name: 'POST /token/revoke, no token: invalid_request', request: () => postForm('/token/revoke', ''), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token/revoke, token sent twice: invalid_request', request: () => postForm('/token/revoke', 'token=a&token=b'), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token/revoke, JSON: invalid_request', request: f => postJson('/token/revoke', JSON.stringify({ token: f.alice.refresh })), status: 400, shape: { oauth: 'invalid_request' } },
  { name: 'POST /token/revoke, a 2 MiB form: 413', request: () => postForm('/token/revoke', `token=${'x'.repeat(2 * 1024 * 1024)}`), status: 413, shape: { http: 'Payload Too Large' } }
]

const reg = (fields: Record<string, unknown>) => JSON.stringify({ password: PASSWORD, ...fields })

/** POST /register: JSON only; bad input 400, duplicates 409, media types 415, size 413. */
const registerCases: Case[] = [
  // Issue 11 lists duplicate fields and invalid UTF-8 among the inputs that get the contract's 4xx
  // with nothing stored: a JSON body whose members repeat, or whose bytes are not UTF-8 (RFC 8259
  // §8.1), is refused, not read as whatever JSON.parse or a U+FFFD replacement makes of it.
  { name: 'POST /register, username given twice (duplicate JSON member): 400', request: () => postJson('/register', `{"username":"dupfirst","password":"${PASSWORD}","username":"dupsecond"}`), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, password given twice (duplicate JSON member): 400', request: () => postJson('/register', `{"username":"duppass","password":"short","password":"${PASSWORD}"}`), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, username as an array: 400', request: () => postJson('/register', reg({ username: ['arrayuser'] })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, password as an array: 400', request: () => postJson('/register', JSON.stringify({ username: 'arraypass', password: [PASSWORD] })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, username as a number: 400', request: () => postJson('/register', reg({ username: 12345 })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, username null: 400', request: () => postJson('/register', reg({ username: null })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, username as an operator object: 400', request: () => postJson('/register', reg({ username: { $gt: '' } })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, e-mail as an array: 400', request: () => postJson('/register', reg({ username: 'arraymail', email: ['a@example.com'] })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, is_admin: true (mass assignment): 400', request: () => postJson('/register', reg({ username: 'massassign', is_admin: true })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a __proto__ member: 400', request: () => postJson('/register', `{"username":"protouser","password":"${PASSWORD}","__proto__":{"is_admin":true}}`), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a nested __proto__ member: 400', request: () => postJson('/register', `{"username":"protonest","password":"${PASSWORD}","full_name":{"__proto__":{"is_admin":true}}}`), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, constructor.prototype: 400', request: () => postJson('/register', `{"username":"ctoruser","password":"${PASSWORD}","constructor":{"prototype":{"is_admin":true}}}`), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a constructor member: 400', request: () => postJson('/register', reg({ username: 'ctorplain', constructor: 'x' })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, invalid UTF-8 in the username: 400', request: () => postJson('/register', bytes('{"username":"utf', [0xff, 0xfe], `x","password":"${PASSWORD}"}`)), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, invalid UTF-8 in full_name: 400', request: () => postJson('/register', bytes(`{"username":"utf8name","password":"${PASSWORD}","full_name":"Ann `, [0xc3, 0x28, 0xff], '"}')), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, invalid UTF-8 in the password: 400', request: () => postJson('/register', bytes('{"username":"utf8pass","password":"correct horse ', [0xed, 0xa0, 0x80], ' staple"}')), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a raw NUL byte inside a JSON string: 400', request: () => postJson('/register', `{"username":"nul\u0000raw","password":"${PASSWORD}"}`), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, an escaped NUL in the username: 400', request: () => postJson('/register', reg({ username: 'nul\u0000user' })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, an escaped NUL in full_name: 400', request: () => postJson('/register', reg({ username: 'nulname', full_name: 'Ann\u0000Admin' })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, an escaped NUL in the password: 400', request: () => postJson('/register', JSON.stringify({ username: 'nulpass', password: `${PASSWORD}\u0000` })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, an escaped NUL in the e-mail: 400', request: () => postJson('/register', reg({ username: 'nulmail', email: 'nul\u0000mail@example.com' })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a lone surrogate (JSON "\\ud800") in the username: 400', request: () => postJson('/register', `{"username":"lone\\ud800user","password":"${PASSWORD}"}`), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a lone surrogate (JSON "\\udc00") in full_name: 400', request: () => postJson('/register', `{"username":"lonename","password":"${PASSWORD}","full_name":"Ann \\udc00Admin"}`), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a lone surrogate (JSON "\\ud800") in the password: 400', request: () => postJson('/register', `{"username":"lonepass","password":"${PASSWORD}\\ud800"}`), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a lone surrogate (JSON "\\ud800") in the e-mail\'s domain: 400', request: () => postJson('/register', reg({ username: 'lonemail', email: 'lone@b\u00fc\ud800cher.example' })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a UTF-16 body declared charset=utf-16: 400', request: () => postJson('/register', Buffer.from(reg({ username: 'utf16user' }), 'utf16le'), 'application/json; charset=utf-16'), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a JSON body as text/plain: 400', request: () => postJson('/register', reg({ username: 'textplain' }), 'text/plain'), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a form body: 415', request: () => postJson('/register', form({ username: 'formuser', password: PASSWORD }), FORM), status: 415, shape: { http: 'Unsupported Media Type' } },
  { name: 'POST /register, application/xml: 415', request: () => postJson('/register', '<user><username>xmluser</username></user>', 'application/xml'), status: 415, shape: { http: 'Unsupported Media Type' } },
  { name: 'POST /register, no content type: 415', request: () => ({ path: '/register', body: bytes(reg({ username: 'noctype' })) }), status: 415, shape: { http: 'Unsupported Media Type' } },
  { name: 'POST /register, "application/json garbage" (CVE-2026-3419): 415', request: () => postJson('/register', reg({ username: 'ctgarbage', is_admin: true }), 'application/json garbage'), status: 415, shape: { http: 'Unsupported Media Type' } },
  { name: 'POST /register, "application/json\\tx" (CVE-2026-25223): 415', request: () => postJson('/register', reg({ username: 'cttab', is_admin: true }), 'application/json\tx'), status: 415, shape: { http: 'Unsupported Media Type' } },
  { name: 'POST /register, "Application/JSON ;charset=utf-8" still validated (CVE-2025-32442): 400', request: () => postJson('/register', reg({ username: 'ctcase', is_admin: true }), 'Application/JSON ;charset=utf-8'), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, an empty JSON body: 400', request: () => postJson('/register', ''), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, JSON null: 400', request: () => postJson('/register', 'null'), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a JSON array: 400', request: () => postJson('/register', `[${reg({ username: 'inarray' })}]`), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, 10 000 nested arrays: 400', request: () => postJson('/register', `{"username":${'['.repeat(10_000)}${']'.repeat(10_000)},"password":"${PASSWORD}"}`), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, truncated JSON: 400', request: () => postJson('/register', '{"username":"trunc","password":"corr'), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, a 2 MiB body: 413', request: () => postJson('/register', reg({ username: 'hugebody', full_name: 'x'.repeat(2 * 1024 * 1024) })), status: 413, shape: { http: 'Payload Too Large' } },

  // Lookalikes of the existing "alice" (alice@example.com). RFC 8265 (NFKC, case mapping): those
  // that map to alice are alice (409, or 400 where the username syntax refuses them); the others
  // are refused by the username syntax. Nothing is stored either way.
  { name: 'POST /register, ALICE: 409', request: () => postJson('/register', reg({ username: 'ALICE' })), status: 409, shape: { http: 'Conflict' } },
  { name: 'POST /register, Alice: 409', request: () => postJson('/register', reg({ username: 'Alice' })), status: 409, shape: { http: 'Conflict' } },
  { name: 'POST /register, fullwidth ａｌｉｃｅ (NFKC: alice): 400 or 409', request: () => postJson('/register', reg({ username: '\uff41\uff4c\uff49\uff43\uff45' })), status: [400, 409], shape: { http: ['Bad Request', 'Conflict'] } },
  { name: 'POST /register, mathematical bold 𝐚𝐥𝐢𝐜𝐞 (NFKC: alice): 400 or 409', request: () => postJson('/register', reg({ username: '\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}' })), status: [400, 409], shape: { http: ['Bad Request', 'Conflict'] } },
  { name: 'POST /register, circled ⓐlice (NFKC: alice): 400 or 409', request: () => postJson('/register', reg({ username: '\u24d0lice' })), status: [400, 409], shape: { http: ['Bad Request', 'Conflict'] } },
  { name: 'POST /register, Cyrillic а in аlice: 400', request: () => postJson('/register', reg({ username: '\u0430lice' })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, alice with a zero-width space: 400', request: () => postJson('/register', reg({ username: 'ali\u200bce' })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, alice with a combining acute: 400', request: () => postJson('/register', reg({ username: 'alice\u0301' })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, ALİCE (dotted capital I): 400', request: () => postJson('/register', reg({ username: 'AL\u0130CE' })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, small capital ᴀlice: 400', request: () => postJson('/register', reg({ username: '\u1d00lice' })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, alice with a trailing space: 400', request: () => postJson('/register', reg({ username: 'alice ' })), status: 400, shape: { http: 'Bad Request' } },
  { name: 'POST /register, ALICE@EXAMPLE.COM for another username: 409', request: () => postJson('/register', reg({ username: 'notalice', email: 'ALICE@EXAMPLE.COM' })), status: 409, shape: { http: 'Conflict' } },
  { name: 'POST /register, a fullwidth ａlice@example.com: 400 or 409', request: () => postJson('/register', reg({ username: 'notalice2', email: '\uff41lice@example.com' })), status: [400, 409], shape: { http: ['Bad Request', 'Conflict'] } }
]

/** Hostile JWTs that need a validly signed token: the HS256 server, whose secret the test knows. */
const hs256Cases: Case[] = [
  { name: 'GET /users/me with alice\'s claims re-signed with the secret (the control case): 200', request: async f => bearer(await sign(f.alice.claims, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))), status: 200, shape: { user: true } },
  ...([
    ['crit naming an unknown extension (CVE-2026-35042)', f => sign(f.alice.claims, { alg: 'HS256', typ: 'at+jwt', crit: ['x-acme'], 'x-acme': 1 }, text(f.secret), { crit: { 'x-acme': true } })],
    ['crit naming exp, with exp in the header', f => sign(f.alice.claims, { alg: 'HS256', typ: 'at+jwt', crit: ['exp'], exp: now() + 600 }, text(f.secret), { crit: { exp: true } })],
    ['crit naming b64 with b64 false (RFC 7797, not supported)', f => hmacToken(f.secret, JSON.stringify({ alg: 'HS256', typ: 'at+jwt', b64: false, crit: ['b64'] }), JSON.stringify(f.alice.claims))],
    ['an empty crit list', f => hmacToken(f.secret, JSON.stringify({ alg: 'HS256', typ: 'at+jwt', crit: [] }), JSON.stringify(f.alice.claims))],
    ['crit that is a string', f => hmacToken(f.secret, JSON.stringify({ alg: 'HS256', typ: 'at+jwt', crit: 'x-acme', 'x-acme': 1 }), JSON.stringify(f.alice.claims))],
    ['crit naming a member the header lacks', f => hmacToken(f.secret, JSON.stringify({ alg: 'HS256', typ: 'at+jwt', crit: ['x-acme'] }), JSON.stringify(f.alice.claims))],
    ['typ JWT', f => sign(f.alice.claims, { alg: 'HS256', typ: 'JWT' }, text(f.secret))],
    ['no typ', f => sign(f.alice.claims, { alg: 'HS256' }, text(f.secret))],
    ['typ id_token+jwt', f => sign(f.alice.claims, { alg: 'HS256', typ: 'id_token+jwt' }, text(f.secret))],
    ['typ given twice, the second JWT (duplicate header member)', f => hmacToken(f.secret, '{"alg":"HS256","typ":"at+jwt","typ":"JWT"}', JSON.stringify(f.alice.claims))],
    ['alg given twice, the second none (duplicate header member)', f => hmacToken(f.secret, '{"alg":"HS256","typ":"at+jwt","alg":"none"}', JSON.stringify(f.alice.claims))],
    ['alg hs256 in lowercase', f => hmacToken(f.secret, '{"alg":"hs256","typ":"at+jwt"}', JSON.stringify(f.alice.claims))],
    ['alg HS384 with the same secret', f => sign(f.alice.claims, { alg: 'HS384', typ: 'at+jwt' }, text(f.secret))],
    ['alg HS512 with the same secret', f => sign(f.alice.claims, { alg: 'HS512', typ: 'at+jwt' }, text(f.secret))],
    ['alg none', f => unsigned({ alg: 'none', typ: 'at+jwt' }, f.alice.claims)],
    ['EdDSA signed by an attacker', f => sign(f.alice.claims, { alg: 'EdDSA', typ: 'at+jwt', kid: 'attacker', jwk: f.attacker.edJwk }, f.attacker.ed.privateKey)],
    ['HS256 with the secret plus a newline', f => sign(f.alice.claims, { alg: 'HS256', typ: 'at+jwt' }, text(`${f.secret}\n`))],
    ['HS256 with the secret\'s first 32 bytes', f => sign(f.alice.claims, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret.slice(0, 32)))],
    ['sub given twice, the second the admin\'s (duplicate claim)', f => hmacToken(f.secret, '{"alg":"HS256","typ":"at+jwt"}', withDuplicate(f.alice.claims, 'sub', f.admin.id))],
    ['sid given twice, the second unknown (duplicate claim)', f => hmacToken(f.secret, '{"alg":"HS256","typ":"at+jwt"}', withDuplicate(f.alice.claims, 'sid', randomUUID()))],
    ['exp given twice, the second in the past (duplicate claim)', f => hmacToken(f.secret, '{"alg":"HS256","typ":"at+jwt"}', withDuplicate(f.alice.claims, 'exp', now() - 3600))],
    ['aud given twice, the second foreign (duplicate claim)', f => hmacToken(f.secret, '{"alg":"HS256","typ":"at+jwt"}', withDuplicate(f.alice.claims, 'aud', 'https://elsewhere.example'))],
    ['sub as an array (fast-jwt#552)', f => sign({ ...f.alice.claims, sub: [f.alice.id] as unknown as string }, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))],
    ['iss as an array', f => sign({ ...f.alice.claims, iss: [ISSUER] as unknown as string }, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))],
    ['scope as an array', f => sign({ ...f.alice.claims, scope: ['me', 'items'] }, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))],
    ['sid as an object', f => sign({ ...f.alice.claims, sid: { $ne: null } }, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))],
    ['exp as a string', f => sign({ ...f.alice.claims, exp: String(now() + 600) as unknown as number }, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))],
    ['exp in the past', f => sign({ ...f.alice.claims, exp: now() - 60 }, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))],
    ['nbf an hour ahead', f => sign({ ...f.alice.claims, nbf: now() + 3600 }, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))],
    ['no exp', f => { const { exp: _exp, ...claims } = f.alice.claims; return sign(claims, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret)) }],
    ['no sid', f => { const { sid: _sid, ...claims } = f.alice.claims; return sign(claims, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret)) }],
    ['a foreign iss', f => sign({ ...f.alice.claims, iss: 'https://evil.example' }, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))],
    ['an iss with a trailing slash', f => sign({ ...f.alice.claims, iss: `${ISSUER}/` }, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))],
    ['a foreign aud', f => sign({ ...f.alice.claims, aud: 'https://evil.example' }, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))],
    ['the admin\'s session with alice\'s sub', f => sign({ ...f.alice.claims, sid: f.admin.claims.sid }, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))],
    ['a sub that matches no user', f => sign({ ...f.alice.claims, sub: randomUUID() }, { alg: 'HS256', typ: 'at+jwt' }, text(f.secret))],
    ['a payload that is a JSON array', f => hmacToken(f.secret, '{"alg":"HS256","typ":"at+jwt"}', JSON.stringify([f.alice.claims]))],
    ['a payload with a __proto__ member', f => hmacToken(f.secret, '{"alg":"HS256","typ":"at+jwt"}', `{"__proto__":${JSON.stringify(f.alice.claims)}}`)],
    ['a payload of invalid UTF-8', f => { const input = `${b64('{"alg":"HS256","typ":"at+jwt"}')}.${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}`; return `${input}.${createHmac('sha256', f.secret).update(input).digest('base64url')}` }]
  ] as Array<[string, (f: Fixtures) => string | Promise<string>]>).map(([name, token]): Case => ({
    name: `GET /users/me with a validly signed token but ${name}: 401 invalid_token`,
    request: async f => bearer(await token(f)),
    status: 401,
    shape: { bearer: 'invalid_token' }
  })),
  { name: 'POST /token, an HS256 access token as refresh_token: invalid_grant', request: f => postForm('/token', form({ grant_type: 'refresh_token', refresh_token: f.alice.access })), status: 400, shape: { oauth: 'invalid_grant' } },
  { name: 'POST /token/revoke, an alg-none forgery of alice\'s token: 200 {}, her session lives', request: f => postForm('/token/revoke', form({ token: unsigned({ alg: 'none', typ: 'at+jwt' }, f.alice.claims) })), status: 200, shape: { revoked: true } },
  { name: 'POST /token/revoke, alice\'s claims under a crit extension, validly signed: 200 {}, her session lives', request: async f => postForm('/token/revoke', form({ token: await sign(f.alice.claims, { alg: 'HS256', typ: 'at+jwt', crit: ['x-acme'], 'x-acme': 1 }, text(f.secret), { crit: { 'x-acme': true } }) })), status: 200, shape: { revoked: true } }
]

// ---------------------------------------------------------------------------------------------

const TOTAL_CASES = eddsaJwtCases.length + bearerGrammarCases.length + tokenCases.length + clientAuthCases.length +
  revokeCases.length + registerCases.length + hs256Cases.length

const DATABASE = process.env.TEST_DATABASE_URL?.startsWith('postgres') === true ? 'PostgreSQL' : 'SQLite'

describe(`hostile input over HTTP (${TOTAL_CASES} table cases, ${DATABASE})`, () => {
  describe('server signing with EdDSA (no JWT_SECRET)', () => {
    let suite: Awaited<ReturnType<typeof startSuite>>
    before(async () => { suite = await startSuite({}) })
    after(async () => {
      try {
        if (suite !== undefined) {
          // The server is still up and answering once every hostile case is done, and the
          // attacker's JWKS / x5u server was never asked for anything.
          assert.ok(suite.alive(), 'the server process exited')
          await assertHealthy(suite.f)
          assert.equal(suite.f.attacker.hits(), 0, 'the server fetched a key from a URL in a token header')
        }
      } finally {
        await suite?.cleanup()
      }
    })
    const f = () => suite.f

    describe('hostile JWTs', () => runTable(eddsaJwtCases, f))
    describe('the bearer grammar (RFC 6750 §2.1)', () => runTable(bearerGrammarCases, f))
    describe('POST /token forms and grants', () => runTable(tokenCases, f))
    describe('client authentication (RFC 6749 §2.3)', () => runTable(clientAuthCases, f))
    describe('POST /token/revoke (RFC 7009)', () => runTable(revokeCases, f))
    describe('POST /register bodies and lookalike usernames', () => runTable(registerCases, f))

    describe('Unicode lookalikes at login (RFC 8265: NFKC)', () => {
      for (const [name, username] of [['fullwidth ａｌｉｃｅ', '\uff41\uff4c\uff49\uff43\uff45'], ['ALICE', 'ALICE'], ['mathematical bold 𝐚𝐥𝐢𝐜𝐞', '\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}']]) {
        it(`logs ${name} in as alice herself, never as another account`, async () => {
          const res = await send(f().base, postForm('/token', form({ username: username!, password: PASSWORD })))
          assert.equal(res.status, 200, res.body)
          assert.equal(decodeJwt((JSON.parse(res.body) as Tokens).access_token).sub, f().alice.id)
        })
      }
    })

    describe('a 2 MiB body sent with fetch', () => {
      const bodies: Array<[string, string, () => string]> = [
        ['/register', JSON_TYPE, () => reg({ username: 'bigbody', full_name: 'x'.repeat(2 * 1024 * 1024) })],
        ['/token', FORM, () => `${form({ username: 'alice', password: PASSWORD })}&pad=${'x'.repeat(2 * 1024 * 1024)}`]
      ]
      for (const [path, contentType, body] of bodies) {
        it(`POST ${path}: a 413 the client can read, 20 times out of 20 (no EPIPE, no ECONNRESET)`, async () => {
          const outcomes: string[] = []
          const before = await snapshot(f())
          for (let i = 0; i < 20; i++) {
            try {
              const res = await send(f().base, { path, headers: { 'content-type': contentType }, body: body() })
              outcomes.push(res.status === 413 && !STACK.test(res.body) && JSON.parse(res.body).statusCode === 413 ? '413' : `${res.status} ${res.body.slice(0, 100)}`)
            } catch (error) {
              outcomes.push(`connection failed: ${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message}`)
            }
          }
          assert.deepEqual(outcomes, Array(20).fill('413'), outcomes.join('; '))
          assert.deepEqual(await snapshot(f()), before)
          await assertHealthy(f())
        })
      }
    })
  })

  describe('server signing with HS256 (JWT_SECRET set)', () => {
    let suite: Awaited<ReturnType<typeof startSuite>>
    before(async () => { suite = await startSuite({ JWT_SECRET: randomBytes(32).toString('hex') }) })
    after(async () => {
      try {
        if (suite !== undefined) {
          assert.ok(suite.alive(), 'the server process exited')
          await assertHealthy(suite.f)
        }
      } finally {
        await suite?.cleanup()
      }
    })
    runTable(hs256Cases, () => suite.f)
  })
})
