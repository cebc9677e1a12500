import { after, type TestContext } from 'node:test'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import assert from 'node:assert/strict'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { JSONWebKeySet } from 'jose'
import { createApp } from '../src/app.js'
import { ConfigError, loadConfig } from '../src/config.js'
import { createSqlStore } from '../src/stores/sql-store.js'
import type { TokenResponse } from '../src/schemas/token.js'
import type { UserPublic } from '../src/schemas/user.js'

export const PASSWORD = 'correct horse battery staple'
export const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/**
 * Where this test process's apps write e-mails without SMTP: data/outbox as in production (the
 * mail plugin's default, ./data/outbox), but of a temporary directory instead of the developer's
 * working directory, removed when the process exits.
 */
let outbox: string | undefined
export function testOutboxDir (): string {
  if (outbox === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'test-outbox-'))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    outbox = join(dir, 'data', 'outbox')
  }
  return outbox
}

/**
 * Test defaults: an in-memory SQLite database, quiet logs and an outbox in a temporary directory.
 * Protections stay as shipped (rate limits, login locks): a test that needs one off says so in
 * its `env`. Never TEST_DATABASE_URL itself: apps started side by side on one PostgreSQL schema
 * claim each other's outbox rows (a mail sent through another test's transport); a test that
 * runs an app on PostgreSQL takes isolatedTestConfig.
 */
export function testConfig (env: Record<string, string> = {}) {
  const config = loadConfig({
    DATABASE_URL: 'sqlite::memory:',
    LOG_LEVEL: 'silent',
    ...env
  })
  return { ...config, mail: { ...config.mail, outboxDir: testOutboxDir() } }
}

/** Runs one SQL statement on the PostgreSQL database at `url`, on a connection of its own. */
async function adminQuery (url: string, sql: string) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try { await client.query(sql) } finally { await client.end() }
}

/*
 * On PostgreSQL each test file works in a database of its own, created on first use and dropped
 * with its schemas when the file's tests are done. Kysely's migrator introspects every schema of
 * its database, and a schema dropped under it breaks it: so nothing is dropped while this file's
 * tests run, and the files scripts/run-tests.js runs side by side never see each other's schemas.
 */
let fileDatabase: Promise<{ base: string, name: string }> | undefined
after(async () => {
  if (fileDatabase === undefined) return
  const { base, name } = await fileDatabase
  await adminQuery(base, `drop database if exists ${name} with (force)`)
})

/**
 * A database of the test's own: in-memory SQLite, or with TEST_DATABASE_URL=postgres://… a
 * fresh schema in this file's database, so counts and keys never mix between tests.
 */
export async function isolatedDatabaseUrl (): Promise<string> {
  const base = process.env.TEST_DATABASE_URL
  if (base === undefined || !base.startsWith('postgres')) return base ?? 'sqlite::memory:'
  fileDatabase ??= (async () => {
    const name = `test_${process.pid}_${randomBytes(4).toString('hex')}`
    await adminQuery(base, `create database ${name}`)
    return { base, name }
  })()
  const url = new URL(base)
  url.pathname = `/${(await fileDatabase).name}`
  const schema = `test_${randomBytes(6).toString('hex')}`
  await adminQuery(url.toString(), `create schema ${schema}`)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}

/** testConfig on a database of the test's own (isolatedDatabaseUrl): PostgreSQL when the suite runs on it. */
export async function isolatedTestConfig (env: Record<string, string> = {}) {
  return testConfig({ DATABASE_URL: await isolatedDatabaseUrl(), ...env })
}

/** A SQLite database file of the test's own (a `DATABASE_URL`), removed when the test ends. */
export function sqliteFile (t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'test-db-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return `sqlite:${join(dir, 'app.db')}`
}

/**
 * A database that outlives one app and that several apps or processes can share: with
 * TEST_DATABASE_URL=postgres://… an isolated one there (isolatedDatabaseUrl), else a SQLite file.
 */
export async function durableDatabaseUrl (t: TestContext): Promise<string> {
  const url = await isolatedDatabaseUrl()
  return url === 'sqlite::memory:' ? sqliteFile(t) : url
}

/**
 * Reads `read()` every 20 ms until `done(value)` holds or `attempts` reads have passed (4 s by
 * default), and returns the last value read: for work the app finishes after it answers (the
 * outbox worker records a send after the SMTP server has the message; a hash upgrade lands
 * after the login answer). The caller asserts on the value, so a timeout fails there.
 */
export async function eventually<T> (read: () => Promise<T>, done: (value: T) => boolean, attempts = 200): Promise<T> {
  let value = await read()
  for (let i = 1; i < attempts && !done(value); i++) {
    await new Promise(resolve => setTimeout(resolve, 20))
    value = await read()
  }
  return value
}

/** Builds the whole app on a fresh database, closed when the test ends. */
export async function build (t: TestContext, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const fastify = await createApp(testConfig({ DATABASE_URL: await isolatedDatabaseUrl(), ...env }))
  t.after(() => fastify.close())
  return fastify
}

/** build(t, env), listening on a free port of 127.0.0.1: the app and its base URL. */
export async function listening (t: TestContext, env: Record<string, string> = {}) {
  const app = await build(t, env)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  assert.ok(address !== null && typeof address === 'object')
  return { app, base: `http://127.0.0.1:${address.port}` }
}

/** The app's storage read directly, as another process on the same database would: for checks of what was stored. */
export const storeOf = (app: FastifyInstance) => createSqlStore(app.db)

let counter = 0
/** A username no other test in this process uses. */
export const uniqueName = (prefix = 'user') => `${prefix}${process.pid}x${++counter}`

export const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** POST /token with these form fields (and extra headers). */
export const postToken = (app: FastifyInstance, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/token', headers: { ...FORM, ...headers }, payload: form(fields) })

/** The caching headers every token endpoint answer carries (RFC 6749 §5.1, §5.2). */
export function assertNoStore (res: LightMyRequestResponse) {
  assert.equal(res.headers['cache-control'], 'no-store')
  assert.equal(res.headers.pragma, 'no-cache')
}

export async function registerUser (app: FastifyInstance, fields: Partial<{ username: string, password: string, email: string, full_name: string }> = {}) {
  const body = { username: fields.username ?? uniqueName(), password: fields.password ?? PASSWORD, ...fields }
  const res = await app.inject({ method: 'POST', url: '/register', payload: body })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  return { user: res.json<UserPublic>(), password: body.password }
}

/** The password grant at POST /token (with extra fields: scope, client_id, …): the answer, whatever it is. */
export const passwordGrant = (app: FastifyInstance, username: string, password = PASSWORD, extra: Record<string, string> = {}) =>
  postToken(app, { grant_type: 'password', username, password, ...extra })

/** The password grant, which must succeed: the token response. */
export async function login (app: FastifyInstance, username: string, password = PASSWORD, extra: Record<string, string> = {}) {
  const res = await passwordGrant(app, username, password, extra)
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json<TokenResponse>()
}

/** Registers a user and logs in: the user and their tokens. */
export async function registerAndLogin (app: FastifyInstance, extra: Record<string, string> = {}) {
  const { user } = await registerUser(app)
  const tokens = await login(app, user.username, PASSWORD, extra)
  return { user, tokens }
}

/** An admin account (created through the store) logged in with every scope. */
export async function adminLogin (app: FastifyInstance) {
  const username = uniqueName('admin')
  await app.authAccounts.ensureAdmin(username, PASSWORD)
  const tokens = await login(app, username)
  return { username, tokens }
}

/** The refresh_token grant at POST /token: the answer, whatever it is. */
export const refresh = (app: FastifyInstance, refreshToken: string, extra: Record<string, string> = {}) =>
  postToken(app, { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra })

/** GET /users/me with this access token. */
export const getMe = (app: FastifyInstance, accessToken: string) => app.inject({ url: '/users/me', headers: bearer(accessToken) })

/** Asserts that the session of these tokens has ended: access refused, refresh refused. */
export async function assertSessionEnded (app: FastifyInstance, tokens: TokenResponse) {
  const res = await getMe(app, tokens.access_token)
  assert.equal(res.statusCode, 401)
  assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
  const again = await refresh(app, tokens.refresh_token)
  assert.equal(again.statusCode, 400)
  assert.equal(again.json().error, 'invalid_grant')
}

/** GET /.well-known/jwks.json, which must answer 200: the published key set. */
export async function jwksOf (app: FastifyInstance) {
  const res = await app.inject({ url: '/.well-known/jwks.json' })
  assert.equal(res.statusCode, 200)
  return res.json<JSONWebKeySet>()
}

/** Asserts that loading this environment throws a ConfigError whose message matches. */
export function assertConfigRefused (env: Record<string, string>, message: RegExp) {
  assert.throws(() => loadConfig(env), (error: unknown) => {
    assert.ok(error instanceof ConfigError, `a ConfigError, not ${String(error)}`)
    assert.match(error.message, message)
    return true
  })
}

/** Fastify's error body, exactly {statusCode, error, message}, with this status. */
export function assertHttpError (res: LightMyRequestResponse, status: number, error: string) {
  assert.equal(res.statusCode, status, res.body)
  assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8$/)
  const body = res.json()
  assert.deepEqual(Object.keys(body).sort(), ['error', 'message', 'statusCode'])
  assert.equal(body.statusCode, status)
  assert.equal(body.error, error)
  assert.equal(typeof body.message, 'string')
  assert.ok(body.message.length > 0)
}
