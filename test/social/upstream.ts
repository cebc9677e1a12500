import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import Provider from 'oidc-provider'
import { APP, authorizeRequest, clientsFile, CLIENTS, cookieOf, exchange, pkce, validParams } from '../authorization-helpers.js'
import { build } from '../helper.js'

/*
 * The counterparts of social login, offline on 127.0.0.1: oidc-provider (node-oidc-provider) as
 * an OpenID Connect provider whose interactions the test completes programmatically for the
 * account it chose, a small mock of GitHub's OAuth and REST endpoints, and a browser driver
 * (manual redirects, cookies per host) that records every hop.
 */

/** Where the app says it lives: the redirect URIs registered upstream are under it (nothing listens there: the test injects). */
export const PUBLIC_URL = 'http://127.0.0.1:3999'
/** The upstream provider's ID token key, made once for this test file. */
const SIGNING_KEY = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'upstream-test', alg: 'RS256', use: 'sig' }
export const OIDC = { id: 'oidc', name: 'Test OIDC', client_id: 'fastify-auth', client_secret: 'upstream-secret-0123456789abcdefghij' }
export const GH = { id: 'github', client_id: 'gh-client', client_secret: 'gh-secret-0123456789' }

/** An account at the upstream provider: what its claims say. */
export interface UpstreamAccount { sub: string, email?: string, email_verified?: boolean, name?: string, preferred_username?: string }

export async function listen (t: TestContext, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server, base: string }> {
  const server = createServer(handler)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  return { server, base: `http://127.0.0.1:${address.port}` }
}

/**
 * oidc-provider on 127.0.0.1 with one client (ours, whose callback is under `publicUrl`).
 * `login(account)` chooses who signs in next; the interaction (login, then consent) is finished
 * by the test's handler, not a page.
 */
export async function startOidcProvider (t: TestContext, publicUrl = PUBLIC_URL) {
  const accounts = new Map<string, UpstreamAccount>()
  let next: UpstreamAccount | undefined
  const holder: { provider?: Provider } = {}
  const { base } = await listen(t, (req, res) => {
    if (req.url?.startsWith('/interaction/') === true) {
      (async () => {
        const provider = holder.provider!
        const details = await provider.interactionDetails(req, res)
        if (details.prompt.name === 'login') {
          assert.ok(next !== undefined, 'the test chose an account')
          await provider.interactionFinished(req, res, { login: { accountId: next.sub } }, { mergeWithLastSubmission: false })
        } else {
          const grant = new provider.Grant({ accountId: details.session!.accountId!, clientId: String(details.params.client_id) })
          grant.addOIDCScope(String(details.params.scope))
          await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true })
        }
      })().catch((error: unknown) => { res.statusCode = 500; res.end(String(error)) })
      return
    }
    callback(req, res)
  })
  const provider = new Provider(base, {
    clients: [{
      client_id: OIDC.client_id,
      client_secret: OIDC.client_secret,
      redirect_uris: [`${publicUrl}/login/${OIDC.id}/callback`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic'
    }],
    findAccount: (_ctx: unknown, sub: string) => {
      const account = accounts.get(sub)
      return account === undefined ? undefined : { accountId: sub, claims: () => ({ ...account }) }
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    // Its own signing key (RS256, the ID token's default), not the development keys it warns about.
    jwks: { keys: [SIGNING_KEY] }
  })
  holder.provider = provider
  const callback = provider.callback()
  return {
    issuer: base,
    /** The account that signs in at the next interaction. */
    login (account: UpstreamAccount) {
      accounts.set(account.sub, account)
      next = account
    }
  }
}

/**
 * GitHub's endpoints as the preset uses them: /login/oauth/authorize answers at once with a code
 * for the chosen user (PKCE S256 checked at the token endpoint, as GitHub does), /user and
 * /user/emails answer for the token.
 */
export async function startGithubMock (t: TestContext) {
  let next: { id: number, login: string, name?: string, emails: Array<{ email: string, primary: boolean, verified: boolean }> } | undefined
  const codes = new Map<string, { challenge: string, user: NonNullable<typeof next> }>()
  const tokens = new Map<string, NonNullable<typeof next>>()
  let counter = 0
  const json = (res: ServerResponse, status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)) }
  const { base } = await listen(t, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (url.pathname === '/login/oauth/authorize') {
      assert.ok(next !== undefined)
      assert.equal(url.searchParams.get('code_challenge_method'), 'S256')
      const code = `code${++counter}`
      codes.set(code, { challenge: url.searchParams.get('code_challenge')!, user: next })
      const back = new URL(url.searchParams.get('redirect_uri')!)
      back.searchParams.set('code', code)
      back.searchParams.set('state', url.searchParams.get('state')!)
      res.writeHead(302, { location: back.href })
      res.end()
      return
    }
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
      let body = ''
      req.on('data', chunk => { body += String(chunk) })
      req.on('end', () => {
        const form = new URLSearchParams(body)
        const entry = codes.get(form.get('code') ?? '')
        codes.delete(form.get('code') ?? '')
        const verifier = form.get('code_verifier') ?? ''
        if (entry === undefined || form.get('client_secret') !== GH.client_secret || createHash('sha256').update(verifier).digest('base64url') !== entry.challenge) {
          json(res, 200, { error: 'bad_verification_code' }) // GitHub answers errors with 200
          return
        }
        const token = `gho_${++counter}`
        tokens.set(token, entry.user)
        json(res, 200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' })
      })
      return
    }
    const user = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''))
    if (user === undefined) { json(res, 401, { message: 'Bad credentials' }); return }
    if (url.pathname === '/user') { json(res, 200, { id: user.id, login: user.login, name: user.name ?? null, email: null }); return }
    if (url.pathname === '/user/emails') { json(res, 200, user.emails); return }
    json(res, 404, { message: 'Not Found' })
  })
  return {
    base,
    login (user: NonNullable<typeof next>) { next = user }
  }
}

/** OIDC_PROVIDERS_FILE with these providers, in a temporary directory. */
export function providersFile (providers: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'oidc-providers-')), 'providers.json')
  writeFileSync(file, JSON.stringify(providers))
  return file
}

/** The app with the test clients and these providers. */
export const buildWithProviders = (t: TestContext, providers: unknown, env: Record<string, string> = {}) =>
  build(t, { OAUTH_CLIENTS_FILE: clientsFile(CLIENTS), OIDC_PROVIDERS_FILE: providersFile(providers), PUBLIC_URL, TOKEN_RATE_LIMIT: '0', ...env })

/** One hop of a traced flow: where the browser went and what it was answered. */
export interface Hop { from: string, status: number, location?: string }

/** What a URL's query carries, its secret values shortened, for the trace. */
export function show (url: string): string {
  const parsed = new URL(url, PUBLIC_URL)
  const secret = new Set(['code', 'state', 'nonce', 'code_challenge', 'request'])
  const params = [...parsed.searchParams].map(([k, v]) => `${k}=${secret.has(k) && v.length > 16 ? `${v.slice(0, 8)}…` : v}`)
  return `${parsed.origin}${parsed.pathname}${params.length > 0 ? `?${params.join('&')}` : ''}`
}

/**
 * The browser from the client's /authorize to the provider's redirect back: the login page, its
 * provider link (`provider`), the provider (its redirects followed with cookies), up to our
 * callback URL, which is returned (not opened). `cookie` is the /authorize browser cookie.
 */
export async function toCallback (app: FastifyInstance, provider: string, extra: Record<string, string | undefined> = {}) {
  const hops: Hop[] = []
  const { verifier, challenge } = pkce()
  const params = validParams(APP, challenge, extra)
  const page = await authorizeRequest(app, params)
  assert.equal(page.statusCode, 200, page.body)
  hops.push({ from: show(`/authorize?${new URLSearchParams(params as Record<string, string>).toString()}`), status: page.statusCode })
  const cookie = cookieOf(page)
  const link = new RegExp(`href="(login/${provider}\\?request=[^"]+)"`).exec(page.body)
  assert.ok(link !== null, `a link to ${provider} on the login page`)
  const start = await app.inject({ url: `/${link[1]!}`, headers: { cookie } })
  assert.equal(start.statusCode, 303, start.body)
  let url = String(start.headers.location)
  hops.push({ from: show(`/${link[1]!}`), status: start.statusCode, location: show(url) })
  const jar = new Map<string, string>()
  for (let i = 0; i < 20 && !url.startsWith(PUBLIC_URL); i++) {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } })
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';')
      const [name, ...value] = pair!.split('=')
      jar.set(name!, value.join('='))
    }
    const location = res.headers.get('location')
    assert.ok(location !== null, `the provider redirects (${res.status} at ${url}: ${await res.text()})`)
    const nextUrl = new URL(location, url).href
    hops.push({ from: show(url), status: res.status, location: show(nextUrl) })
    url = nextUrl
  }
  const callback = new URL(url)
  return { callback: `${callback.pathname}${callback.search}`, cookie, verifier, hops }
}

/** Our callback opened with this browser cookie; the hop added to `hops`. */
export async function openCallback (app: FastifyInstance, callback: string, cookie: string | undefined, hops?: Hop[]): Promise<LightMyRequestResponse> {
  const res = await app.inject({ url: callback, headers: cookie === undefined ? {} : { cookie } })
  hops?.push({ from: show(callback), status: res.statusCode, location: res.headers.location === undefined ? undefined : show(String(res.headers.location)) })
  return res
}

/** The whole social flow to tokens: the callback's 303 to the client, then the code exchanged. */
export async function socialLogin (app: FastifyInstance, provider: string) {
  const { callback, cookie, verifier, hops } = await toCallback(app, provider)
  const res = await openCallback(app, callback, cookie, hops)
  assert.equal(res.statusCode, 303, res.body)
  const location = new URL(String(res.headers.location))
  assert.equal(`${location.origin}${location.pathname}`, APP.redirect)
  const code = location.searchParams.get('code')
  assert.ok(code !== null)
  const tokens = await exchange(app, { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: verifier })
  assert.equal(tokens.statusCode, 200, tokens.body)
  hops.push({ from: 'POST /token grant_type=authorization_code', status: tokens.statusCode })
  return { tokens: tokens.json<{ access_token: string, refresh_token: string }>(), hops, location, verifier, code }
}

/** The hops as lines for the test's output. */
export const traced = (hops: Hop[]) => hops.map((hop, i) => `${i + 1}. ${hop.from} → ${hop.status}${hop.location === undefined ? '' : ` ${hop.location}`}`).join('\n')
