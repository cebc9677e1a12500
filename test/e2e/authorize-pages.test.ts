import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import { decodeJwt } from 'jose'
import * as OTPAuth from 'otpauth'
import { chromium, type Page } from 'playwright-core'
import app, { fastifyOptions } from '../../src/app.js'
import { clientsFile } from '../authorization-helpers.js'
import { FORM, form, isolatedTestConfig, PASSWORD, uniqueName } from '../helper.js'
import { freePort } from '../server-process.js'
import { OIDC, providersFile, startOidcProvider } from '../social/upstream.js'

/*
 * The authorization endpoint's pages as a person meets them, in headless Chromium with JavaScript
 * off (the pages need none): the login page, the code page of a user with TOTP (a wrong code,
 * then the right one), the consent page, and the redirect back; and the same login through a
 * social provider (oidc-provider on 127.0.0.1). The forms' relative actions are followed by the
 * browser itself. Screenshots go to test-artifacts/ (git-ignored; CI keeps them as artefacts).
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const skip = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM}`
const ARTIFACTS = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../test-artifacts/' : '../../../test-artifacts/', import.meta.url))

/** The app on a port chosen first (the issuer, PUBLIC_URL and the redirect URIs name it), one third-party and one first-party client landing on /health, and an OIDC provider. */
async function serve (t: TestContext) {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const upstream = await startOidcProvider(t, origin)
  const config = await isolatedTestConfig({
    PORT: String(port),
    OAUTH_CLIENTS_FILE: clientsFile([
      { client_id: 'partner', public: true, redirect_uris: [`${origin}/health`], scopes: ['me'] },
      { client_id: 'own-app', public: true, first_party: true, redirect_uris: [`${origin}/health`] }
    ]),
    OIDC_PROVIDERS_FILE: providersFile([{ ...OIDC, issuer: upstream.issuer }])
  })
  const server = Fastify(fastifyOptions(config))
  await server.register(app, { config })
  assert.equal(await server.listen({ port, host: '127.0.0.1' }), origin)
  t.after(() => server.close())
  return { origin, upstream }
}

async function browserPage (t: TestContext) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.after(() => browser.close())
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 900, height: 800 } })
  const page = await context.newPage()
  page.setDefaultTimeout(15_000)
  // What the pages' CSP refuses shows as a console error: there must be none. (A status page, 400
  // for a wrong code, and the favicon's 404 show as "Failed to load resource": not a problem.)
  const problems: string[] = []
  page.on('console', message => { if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text()) })
  return { page, problems }
}

async function screenshot (page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true })
  const path = join(ARTIFACTS, `authorize-${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}

/** A PKCE pair and the authorization URL of `clientId` (RFC 7636). */
function authorizationUrl (origin: string, clientId: string) {
  const verifier = randomBytes(32).toString('base64url')
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: `${origin}/health`,
    scope: 'me',
    state: 'browser-state',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256'
  })
  return { verifier, url: `${origin}/authorize?${query.toString()}` }
}

/** The code of the page the browser was sent back to, exchanged: the access token's claims. */
async function redeem (origin: string, clientId: string, landed: string, verifier: string) {
  const back = new URL(landed)
  assert.equal(back.searchParams.get('state'), 'browser-state')
  assert.equal(back.searchParams.get('iss'), origin)
  const res = await fetch(`${origin}/token`, {
    method: 'POST',
    headers: FORM,
    body: form({ grant_type: 'authorization_code', code: back.searchParams.get('code')!, redirect_uri: `${origin}/health`, client_id: clientId, code_verifier: verifier })
  })
  const body = await res.json() as { access_token: string }
  assert.equal(res.status, 200, JSON.stringify(body))
  return decodeJwt(body.access_token)
}

/** A user with TOTP on, enrolled over HTTP as a client does: the username and the TOTP. */
async function totpUser (origin: string) {
  const username = uniqueName('browser')
  const json = { 'content-type': 'application/json' }
  assert.equal((await fetch(`${origin}/register`, { method: 'POST', headers: json, body: JSON.stringify({ username, password: PASSWORD }) })).status, 201)
  const { access_token: token } = await (await fetch(`${origin}/token`, { method: 'POST', headers: FORM, body: form({ username, password: PASSWORD }) })).json() as { access_token: string }
  const auth = { ...json, authorization: `Bearer ${token}` }
  const { otpauth_uri: uri } = await (await fetch(`${origin}/users/me/mfa/totp`, { method: 'POST', headers: auth, body: JSON.stringify({ password: PASSWORD }) })).json() as { otpauth_uri: string }
  const totp = OTPAuth.URI.parse(uri) as OTPAuth.TOTP
  const confirmed = await fetch(`${origin}/users/me/mfa/totp/confirm`, { method: 'POST', headers: auth, body: JSON.stringify({ code: totp.generate({ timestamp: Date.now() - 30_000 }) }) })
  assert.equal(confirmed.status, 200)
  return { username, totp }
}

describe('the authorization pages in a browser (JavaScript off)', { skip }, () => {
  it('password, a wrong code, the code, consent, back to the client: amr pwd and otp', async (t) => {
    const { origin } = await serve(t)
    const { username, totp } = await totpUser(origin)
    const { page, problems } = await browserPage(t)
    const { verifier, url } = authorizationUrl(origin, 'partner')
    await page.goto(url)
    assert.equal(await page.title(), 'Log in to continue to partner')
    const shots = [await screenshot(page, '1-login')]
    await page.fill('#username', username)
    await page.fill('#password', PASSWORD)
    await Promise.all([page.waitForURL(`${origin}/authorize`), page.click('button[type=submit]')])
    assert.equal(await page.title(), 'Enter your authentication code')
    shots.push(await screenshot(page, '2-code'))
    await page.fill('#code', '12345a')
    await Promise.all([page.waitForURL(`${origin}/authorize/mfa`), page.click('button[type=submit]')])
    assert.match(await page.textContent('[role=alert]') ?? '', /That code is not right/)
    await page.fill('#code', totp.generate())
    await Promise.all([page.waitForURL(`${origin}/authorize/mfa`), page.click('button[type=submit]')])
    assert.equal(await page.title(), 'Allow partner to use your account?')
    shots.push(await screenshot(page, '3-consent'))
    await Promise.all([page.waitForURL(url => url.pathname === '/health'), page.click('button[value=allow]')])
    const claims = await redeem(origin, 'partner', page.url(), verifier)
    assert.deepEqual(claims.amr, ['pwd', 'otp'])
    assert.equal(claims.client_id, 'partner')
    assert.deepEqual(problems, [])
    t.diagnostic(`screenshots: ${shots.join(' ')}`)
  })

  it('"Log in with Test OIDC": the provider, its redirect back, then straight to a first-party client: amr ext', async (t) => {
    const { origin, upstream } = await serve(t)
    const sub = uniqueName('sub')
    upstream.login({ sub, email: `${sub}@example.org`, email_verified: true, preferred_username: sub })
    const { page, problems } = await browserPage(t)
    const { verifier, url } = authorizationUrl(origin, 'own-app')
    await page.goto(url)
    const link = page.getByRole('link', { name: 'Log in with Test OIDC' })
    assert.equal(await link.count(), 1)
    await Promise.all([page.waitForURL(url => url.pathname === '/health'), link.click()])
    const shot = await screenshot(page, '4-social-landed')
    const claims = await redeem(origin, 'own-app', page.url(), verifier)
    assert.deepEqual(claims.amr, ['ext'])
    assert.deepEqual(problems, [])
    t.diagnostic(`screenshot: ${shot}`)
  })
})
