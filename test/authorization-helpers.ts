import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { hashClientSecret } from '../src/services/oauth-clients.js'
import { build, FORM, form, PASSWORD } from './helper.js'

/*
 * The authorization-code flow driven with app.inject, as a browser and a client would: GET
 * /authorize, the login form, the redirect, the code exchange. Shared by the route and interop tests.
 */

export const APP = { client_id: 'app', redirect: 'https://app.example.com/cb', other: 'https://app.example.com/other' }
export const OTHER = { client_id: 'other-app', redirect: 'https://other.example.com/cb' }
export const THIRD = { client_id: 'third-party', redirect: 'https://third.example.com/cb' }
export const CONFIDENTIAL = { client_id: 'backend', redirect: 'https://backend.example.com/cb', secret: 'backend-secret-0123456789abcdefghijklmnop' }

/** The clients of these tests, as OAUTH_CLIENTS_FILE lists them. */
export const CLIENTS = [
  { client_id: APP.client_id, public: true, first_party: true, redirect_uris: [APP.redirect, APP.other] },
  { client_id: OTHER.client_id, public: true, first_party: true, redirect_uris: [OTHER.redirect] },
  { client_id: THIRD.client_id, public: true, redirect_uris: [THIRD.redirect], scopes: ['me'] },
  { client_id: CONFIDENTIAL.client_id, client_secret_hash: hashClientSecret(CONFIDENTIAL.secret), first_party: true, redirect_uris: [CONFIDENTIAL.redirect] }
]

/** OAUTH_CLIENTS_FILE with `clients`, in a temporary directory. */
export function clientsFile (clients: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'oauth-clients-')), 'clients.json')
  writeFileSync(file, JSON.stringify(clients))
  return file
}

/** The app with the test clients registered. */
export const buildWithClients = (t: TestContext, env: Record<string, string> = {}) =>
  build(t, { OAUTH_CLIENTS_FILE: clientsFile(CLIENTS), TOKEN_RATE_LIMIT: '0', ...env })

/** A PKCE pair (RFC 7636 §4.1, §4.2): a 43-character verifier and its S256 challenge. */
export function pkce () {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

/** The `name=value` of a Set-Cookie header, for the next request's Cookie header. */
export function cookieOf (res: LightMyRequestResponse): string {
  const header = res.headers['set-cookie']
  const first = Array.isArray(header) ? header[0] : header
  assert.ok(first !== undefined, 'a Set-Cookie')
  return first.split(';')[0]!
}

/** The pending request's id in a login or consent page. */
export function requestIdOf (html: string): string {
  const match = /name="request" value="([^"]+)"/.exec(html)
  assert.ok(match !== null, 'a request id in the page')
  return match[1]!
}

/** GET /authorize with these parameters (defaults: a valid request of APP). */
export function authorizeRequest (app: FastifyInstance, params: Record<string, string | undefined>, cookie?: string) {
  const query = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined)).toString()
  return app.inject({ url: `/authorize?${query}`, headers: cookie === undefined ? {} : { cookie } })
}

/** The parameters of a valid request of `client` with this challenge. */
export const validParams = (client: { client_id: string, redirect: string }, challenge: string, extra: Record<string, string | undefined> = {}) => ({
  response_type: 'code', client_id: client.client_id, redirect_uri: client.redirect, state: 'state-123', code_challenge: challenge, code_challenge_method: 'S256', ...extra
})

/** POST /authorize (the login form). */
export const postLogin = (app: FastifyInstance, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/authorize', headers: { ...FORM, ...headers }, payload: form(fields) })

/** The query of a redirect's Location. */
export function locationOf (res: LightMyRequestResponse): URL {
  assert.equal(res.statusCode, 303, res.body)
  return new URL(String(res.headers.location))
}

/**
 * The browser's half of the flow for a first-party client: the login page, then the form;
 * resolves the redirect's URL (code, state, iss) and the verifier.
 */
export async function obtainCode (app: FastifyInstance, username: string, client: { client_id: string, redirect: string } = APP, extra: Record<string, string | undefined> = {}) {
  const { verifier, challenge } = pkce()
  const page = await authorizeRequest(app, validParams(client, challenge, extra))
  assert.equal(page.statusCode, 200, page.body)
  const cookie = cookieOf(page)
  const res = await postLogin(app, { request: requestIdOf(page.body), username, password: PASSWORD }, { cookie })
  const location = locationOf(res)
  const code = location.searchParams.get('code')
  assert.ok(code !== null, `a code in ${location.href}`)
  return { code, verifier, location, cookie }
}

/** POST /token grant_type=authorization_code with these fields. */
export const exchange = (app: FastifyInstance, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/token', headers: { ...FORM, ...headers }, payload: form({ grant_type: 'authorization_code', ...fields }) })

/**
 * Posts the page's one form as a browser would: its `action` resolved against the URL that
 * answered the page (relative actions must land on the routes under any prefix), its hidden
 * fields, plus `fields`. Resolves the answer and the URL it came from.
 */
export async function submitForm (app: FastifyInstance, pageUrl: string, html: string, fields: Record<string, string>, cookie: string) {
  const action = /<form method="post" action="([^"]*)">/.exec(html)?.[1]
  assert.ok(action !== undefined, 'a form on the page')
  const target = new URL(action, new URL(pageUrl, 'http://browser.test')).pathname
  const hidden = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(m => [m[1]!, m[2]!]))
  const res = await app.inject({ method: 'POST', url: target, headers: { ...FORM, cookie }, payload: form({ ...hidden, ...fields }) })
  return { res, url: target }
}
