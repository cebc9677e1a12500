import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import * as OTPAuth from 'otpauth'
import { chromium, type Page } from 'playwright-core'
import app, { fastifyOptions } from '../../src/app.js'
import { PASSWORD, isolatedTestConfig, uniqueName } from '../helper.js'
import { freePort } from '../server-process.js'

/*
 * Swagger UI at /docs as a person uses it, in Chromium (playwright-core): "Try it out" with what
 * the page pre-fills, the Authorize dialog's password flow, scopes, and a reload. Screenshots go
 * to test-artifacts/ (git-ignored; CI keeps them as artefacts).
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const skip = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM}`
const ARTIFACTS = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../test-artifacts/' : '../../../test-artifacts/', import.meta.url))

/**
 * The app on a port chosen first, so the issuer (and with it the document's first server, where
 * Swagger UI sends its requests) is the origin the browser opens.
 */
async function serve (t: TestContext) {
  const port = await freePort()
  const config = await isolatedTestConfig({ PORT: String(port) })
  const server = Fastify(fastifyOptions(config))
  await server.register(app, { config })
  const origin = await server.listen({ port, host: '127.0.0.1' })
  t.after(() => server.close())
  return origin
}

async function registerUser (origin: string, username: string) {
  const res = await fetch(`${origin}/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD })
  })
  assert.equal(res.status, 201, await res.text())
}

async function openDocs (t: TestContext, origin: string) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.after(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  page.setDefaultTimeout(15_000)
  await page.goto(`${origin}/docs`)
  await page.locator('.opblock').first().waitFor()
  return page
}

async function screenshot (page: Page, name: string) {
  mkdirSync(ARTIFACTS, { recursive: true })
  const path = join(ARTIFACTS, `swagger-ui-${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}

/** One operation's block, found by method and path (whatever its operationId). */
const operation = (page: Page, method: string, path: string) =>
  page.locator(`.opblock.opblock-${method}`, { has: page.locator(`.opblock-summary-path[data-path="${path}"]`) })

/** Expands the operation, presses "Try it out", lets `fill` type, executes: the status shown and the response body. */
async function tryItOut (page: Page, method: string, path: string, fill: (op: ReturnType<typeof operation>) => Promise<void> = async () => {}) {
  const op = operation(page, method, path)
  if (await op.locator('.try-out__btn').count() === 0) await op.locator('.opblock-summary').click()
  const button = op.locator('.try-out__btn')
  if ((await button.textContent())?.trim() === 'Try it out') await button.click()
  await fill(op)
  await op.locator('.execute').click()
  const row = op.locator('.live-responses-table tbody tr.response').first()
  const status = (await row.locator('.response-col_status').textContent())?.trim()
  const body = await row.locator('.response-col_description pre').first().textContent() ?? ''
  const headers = await row.locator('.response-col_description').textContent() ?? ''
  return { op, status, body, headers }
}

/** Turns TOTP on for the user over HTTP (issue 21), as an authenticator app would read the QR code: the TOTP. */
async function enrolTotp (origin: string, username: string) {
  const post = async (path: string, body: object, token?: string) => {
    const res = await fetch(`${origin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      body: path === '/token' ? undefined : JSON.stringify(body)
    })
    return { status: res.status, body: await res.json() as Record<string, string> }
  }
  const login = await fetch(`${origin}/token`, { method: 'POST', body: new URLSearchParams({ username, password: PASSWORD }) })
  const { access_token: token } = await login.json() as { access_token: string }
  const start = await post('/users/me/mfa/totp', { password: PASSWORD }, token)
  assert.equal(start.status, 200)
  const totp = OTPAuth.URI.parse(start.body.otpauth_uri!) as OTPAuth.TOTP
  const confirm = await post('/users/me/mfa/totp/confirm', { code: totp.generate({ timestamp: Date.now() - 30_000 }) }, token)
  assert.equal(confirm.status, 200)
  return totp
}

/** Logs in through the Authorize dialog's password flow, granting exactly `scopes`. */
async function authorize (page: Page, username: string, scopes: string[]) {
  await page.click('.auth-wrapper button.authorize')
  const flow = page.locator('.modal-ux .auth-container').first()
  await flow.locator('#oauth_username').fill(username)
  await flow.locator('#oauth_password').fill(PASSWORD)
  await flow.getByText('select none').click()
  for (const scope of scopes) await flow.locator(`label[for^="${scope}-"]`).first().click()
  await screenshot(page, 'authorize-dialog')
  await flow.locator('.auth-btn-wrapper button.authorize').click()
  // Swagger UI shows Logout once the password flow has obtained a token.
  await flow.locator('button', { hasText: 'Logout' }).waitFor()
  await page.locator('.modal-ux button.btn-done, .modal-ux button', { hasText: 'Close' }).first().click()
}

describe('Swagger UI at /docs', { skip }, () => {
  it('POST /token: "Try it out" answers 200 after typing only the username and the password', { timeout: 120_000 }, async (t) => {
    const origin = await serve(t)
    const username = uniqueName('swagger')
    await registerUser(origin, username)
    const page = await openDocs(t, origin)

    const { status, body } = await tryItOut(page, 'post', '/token', async (op) => {
      await op.locator('tr[data-property-name="username"] input[type="text"]').fill(username)
      await op.locator('tr[data-property-name="password"] input[type="text"]').fill(PASSWORD)
    })
    await screenshot(page, 'token-try-it-out')
    assert.equal(status, '200', body)
    const tokens = JSON.parse(body) as Record<string, unknown>
    assert.equal(tokens.token_type, 'bearer')
    assert.equal(tokens.scope, 'me items')
  })

  it('POST /register then POST /token: "Try it out" works with the values it pre-fills, untouched', { timeout: 120_000 }, async (t) => {
    const origin = await serve(t)
    const page = await openDocs(t, origin)

    const registered = await tryItOut(page, 'post', '/register')
    assert.equal(registered.status, '201', registered.body)
    assert.deepEqual(
      (({ username, email, full_name: fullName }) => ({ username, email, fullName }))(JSON.parse(registered.body) as Record<string, unknown>),
      { username: 'johndoe', email: 'johndoe@example.com', fullName: 'John Doe' })

    const token = await tryItOut(page, 'post', '/token')
    assert.equal(token.status, '200', token.body)
  })

  it('opens the Authorize dialog on the password flow, listed first', { timeout: 120_000 }, async (t) => {
    const origin = await serve(t)
    const page = await openDocs(t, origin)
    await page.click('.auth-wrapper button.authorize')
    const schemes = await page.locator('.modal-ux .auth-container h4').allTextContents()
    assert.match(schemes[0] ?? '', /OAuth2PasswordBearer \(OAuth2, password\)/)
    assert.match(schemes.at(-1) ?? '', /bearerAuth/)
    // The username field has the focus, so the dialog is scrolled to the login form.
    await page.waitForFunction('document.activeElement?.id === "oauth_username"')
    const field = await page.locator('#oauth_username').boundingBox()
    assert.ok(field !== null && field.y > 0 && field.y < 900, `the username field is in view: ${JSON.stringify(field)}`)
    await screenshot(page, 'authorize-opened')
  })

  it('Authorize with chosen scopes: GET /users/me 200, a scope not granted 403, and the login survives a reload', { timeout: 120_000 }, async (t) => {
    const origin = await serve(t)
    const username = uniqueName('swagger')
    await registerUser(origin, username)
    const page = await openDocs(t, origin)

    await authorize(page, username, ['me'])

    const me = await tryItOut(page, 'get', '/users/me')
    const shot = await screenshot(page, 'users-me-authorized')
    assert.equal(me.status, '200', me.body)
    assert.match(me.body, new RegExp(`"username": "${username}"`))
    t.diagnostic(`screenshot of an authorized "Try it out": ${shot}`)

    const items = await tryItOut(page, 'get', '/items')
    await screenshot(page, 'items-insufficient-scope')
    assert.equal(items.status, '403', items.body)
    assert.match(items.headers, /insufficient_scope/)

    await page.reload()
    await page.locator('.opblock').first().waitFor()
    assert.equal(await page.locator('.auth-wrapper button.authorize.locked').count(), 1, 'the Authorize button shows a login after the reload')
    const again = await tryItOut(page, 'get', '/users/me')
    await screenshot(page, 'users-me-after-reload')
    assert.equal(again.status, '200', again.body)
  })
  it('Authorize through the authorization-code flow with PKCE: the login page in a popup, then GET /users/me 200', { timeout: 120_000 }, async (t) => {
    const origin = await serve(t)
    const username = uniqueName('swaggercode')
    await registerUser(origin, username)
    const page = await openDocs(t, origin)

    await page.click('.auth-wrapper button.authorize')
    const flow = page.locator('.modal-ux .auth-container', { has: page.locator('h4', { hasText: 'authorizationCode' }) })
    await flow.getByText('select none').click()
    await flow.locator('label[for^="me-"]').first().click()
    await screenshot(page, 'authorization-code-dialog')
    // Swagger UI opens /authorize (client swagger-ui, S256 challenge, state) in a popup.
    const [popup] = await Promise.all([page.waitForEvent('popup'), flow.locator('.auth-btn-wrapper button.authorize').click()])
    await popup.locator('#username').waitFor()
    const authorizeUrl = new URL(popup.url())
    assert.equal(authorizeUrl.pathname, '/authorize')
    assert.equal(authorizeUrl.searchParams.get('client_id'), 'swagger-ui')
    assert.equal(authorizeUrl.searchParams.get('code_challenge_method'), 'S256')
    assert.equal(authorizeUrl.searchParams.get('redirect_uri'), `${origin}/docs/static/oauth2-redirect.html`)
    await popup.locator('#username').fill(username)
    await popup.locator('#password').fill(PASSWORD)
    mkdirSync(ARTIFACTS, { recursive: true })
    const loginShot = join(ARTIFACTS, 'swagger-ui-authorization-code-login-page.png')
    await popup.screenshot({ path: loginShot, fullPage: true })
    t.diagnostic(`screenshot of the login page: ${loginShot}`)
    // The form posts, the server redirects to oauth2-redirect.html with code, state and iss, which
    // hands them to Swagger UI and closes; Swagger UI then redeems the code with its verifier.
    const responses: string[] = []
    popup.on('response', r => { responses.push(`${r.status()} ${r.url()} ${r.headers().location ?? ''}`) })
    popup.on('console', m => { responses.push(`console ${m.text()}`) })
    try {
      await Promise.all([popup.waitForEvent('close', { timeout: 8000 }), popup.locator('button[type="submit"]').click()])
    } catch (error) {
      throw new Error(`${String(error)} ${responses.join('\n')} ${popup.isClosed() ? '' : popup.url()} ${popup.isClosed() ? '' : await popup.content()}`)
    }
    await flow.locator('button', { hasText: 'Logout' }).waitFor()
    await page.locator('.modal-ux button.btn-done, .modal-ux button', { hasText: 'Close' }).first().click()

    const me = await tryItOut(page, 'get', '/users/me')
    await screenshot(page, 'users-me-authorization-code')
    assert.equal(me.status, '200', me.body)
    assert.match(me.body, new RegExp(`"username": "${username}"`))
  })

  it('an account with TOTP: Authorize says what to do; "Try it out" on POST /token with otp gives tokens; pasted as bearerAuth, they work', { timeout: 120_000 }, async (t) => {
    const origin = await serve(t)
    const username = uniqueName('swaggermfa')
    await registerUser(origin, username)
    const totp = await enrolTotp(origin, username)
    const page = await openDocs(t, origin)

    // 1. The Authorize dialog's password flow cannot send a code: its error says what to do.
    await page.click('.auth-wrapper button.authorize')
    const flow = page.locator('.modal-ux .auth-container').first()
    await flow.locator('#oauth_username').fill(username)
    await flow.locator('#oauth_password').fill(PASSWORD)
    await flow.locator('.auth-btn-wrapper button.authorize').click()
    const error = page.locator('.modal-ux .errors').first()
    await error.waitFor()
    const message = await error.textContent() ?? ''
    const dialogShot = await screenshot(page, 'mfa-authorize-error')
    assert.match(message, /mfa_required/)
    assert.match(message, /Try it out/)
    assert.match(message, /otp/)
    assert.match(message, /bearerAuth/)
    await page.locator('.modal-ux button.close-modal').first().click()

    // 2. "Try it out" on POST /token with username, password and otp.
    const token = await tryItOut(page, 'post', '/token', async (op) => {
      await op.locator('tr[data-property-name="username"] input[type="text"]').fill(username)
      await op.locator('tr[data-property-name="password"] input[type="text"]').fill(PASSWORD)
      await op.locator('tr[data-property-name="otp"] input[type="text"]').fill(totp.generate())
    })
    const tokenShot = await screenshot(page, 'mfa-token-try-it-out')
    assert.equal(token.status, '200', token.body)
    const accessToken = (JSON.parse(token.body) as { access_token: string }).access_token

    // 3. The access token pasted into Authorize › bearerAuth: GET /users/me works and shows mfa_enabled.
    await page.click('.auth-wrapper button.authorize')
    const bearer = page.locator('.modal-ux .auth-container').last() // bearerAuth, listed last
    await bearer.locator('input').first().fill(accessToken)
    await bearer.locator('button.authorize').click()
    await page.locator('.modal-ux button', { hasText: 'Close' }).first().click()
    const me = await tryItOut(page, 'get', '/users/me')
    const meShot = await screenshot(page, 'mfa-users-me')
    assert.equal(me.status, '200', me.body)
    assert.match(me.body, /"mfa_enabled": true/)
    t.diagnostic(`screenshots: ${dialogShot}, ${tokenShot}, ${meShot}`)
  })
})
