import type { TestContext } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import app, { fastifyOptions } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import type { TokenResponse } from '../src/schemas/token.js'
import type { UserPublic } from '../src/schemas/user.js'

export const PASSWORD = 'correct horse battery staple'
export const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** Test defaults: an in-memory database (or TEST_DATABASE_URL), quiet logs, no rate limits. */
export function testConfig (env: Record<string, string> = {}) {
  return loadConfig({
    DATABASE_URL: process.env.TEST_DATABASE_URL ?? 'sqlite::memory:',
    LOG_LEVEL: 'silent',
    TOKEN_RATE_LIMIT: '0',
    LOGIN_USERNAME_RATE_LIMIT: '0',
    ...env
  })
}

/** Builds the whole app on a fresh database, closed when the test ends. */
export async function build (t: TestContext, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = testConfig(env)
  const fastify = Fastify(fastifyOptions(config))
  await fastify.register(app, { config })
  await fastify.ready()
  t.after(() => fastify.close())
  return fastify
}

let counter = 0
/** A username no other test in this process uses. */
export const uniqueName = (prefix = 'user') => `${prefix}${process.pid}x${++counter}`

export const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

export async function registerUser (app: FastifyInstance, fields: Partial<{ username: string, password: string, email: string, full_name: string }> = {}) {
  const body = { username: fields.username ?? uniqueName(), password: fields.password ?? PASSWORD, ...fields }
  const res = await app.inject({ method: 'POST', url: '/register', payload: body })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  return { user: res.json<UserPublic>(), password: body.password }
}

export async function login (app: FastifyInstance, username: string, password = PASSWORD, extra: Record<string, string> = {}) {
  const res = await app.inject({ method: 'POST', url: '/token', headers: FORM, payload: form({ grant_type: 'password', username, password, ...extra }) })
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
  await app.authService.ensureAdmin(username, PASSWORD)
  const tokens = await login(app, username)
  return { username, tokens }
}

export const refresh = (app: FastifyInstance, refreshToken: string, extra: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/token', headers: FORM, payload: form({ grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }) })
