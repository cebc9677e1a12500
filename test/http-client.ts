import assert from 'node:assert/strict'
import type { TokenResponse } from '../src/schemas/token.js'
import type { UserPublic } from '../src/schemas/user.js'
import { FORM, form, PASSWORD, uniqueName } from './helper.js'

/*
 * The one client of the tests that talk to a server over a real port (a server process of
 * test/server-process.ts, or an app listening in this process): what a client on the network
 * sees, with a timeout on every request so a server that stops answering fails the test.
 */

const REQUEST_TIMEOUT_MS = 10_000

export interface Answer<Body = Record<string, unknown>> {
  status: number
  headers: Headers
  /** The body as received. */
  text: string
  /** The body parsed as JSON; `{}` when it is empty or not JSON. */
  body: Body
}

/**
 * One request, answered within `timeoutMs` (10 s by default), or an error naming the request.
 * `init` goes to fetch as is: a URLSearchParams body is sent with fetch's own content type.
 */
export async function call<Body = Record<string, unknown>> (base: string, path: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<Answer<Body>> {
  const { timeoutMs = REQUEST_TIMEOUT_MS, ...request } = init
  let res: Response
  let text: string
  try {
    res = await fetch(`${base}${path}`, { ...request, signal: AbortSignal.timeout(timeoutMs) })
    text = await res.text()
  } catch (error) {
    throw new Error(`${request.method ?? 'GET'} ${path} got no answer within ${timeoutMs / 1000} s: ${String(error)}`)
  }
  let body = {} as Body
  try { if (text !== '') body = JSON.parse(text) } catch {}
  return { status: res.status, headers: res.headers, text, body }
}

/** POST with these form fields (application/x-www-form-urlencoded), and extra headers. */
export const postForm = <Body = Record<string, unknown>>(base: string, path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  call<Body>(base, path, { method: 'POST', headers: { ...FORM, ...headers }, body: form(fields) })

/** POST with this value as JSON, and extra headers. */
export const postJson = (base: string, path: string, value: unknown, headers: Record<string, string> = {}) =>
  call(base, path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) })

/** POST /register: the answer, whatever it is. */
export const register = (base: string, username: string, password = PASSWORD) =>
  postJson(base, '/register', { username, password })

/** Registers a user, asserting 201: the public user. */
export async function registerUser (base: string, username: string, password = PASSWORD): Promise<UserPublic> {
  const res = await register(base, username, password)
  assert.equal(res.status, 201, `register ${username}: ${res.status} ${res.text}`)
  return res.body as unknown as UserPublic
}

/** The password grant at POST /token, asserting 200: the token response. */
export async function login (base: string, username: string, password = PASSWORD, extra: Record<string, string> = {}): Promise<TokenResponse> {
  const res = await postForm(base, '/token', { grant_type: 'password', username, password, ...extra })
  assert.equal(res.status, 200, `login ${username}: ${res.status} ${res.text}`)
  return res.body as unknown as TokenResponse
}

/** Registers a user (a new name unless given) and logs in: the user and their tokens. */
export async function registerAndLogin (base: string, username = uniqueName()) {
  const user = await registerUser(base, username)
  return { user, tokens: await login(base, username) }
}
