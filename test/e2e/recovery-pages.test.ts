import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import Fastify from 'fastify'
import { chromium, type Page } from 'playwright-core'
import app, { fastifyOptions } from '../../src/app.js'
import { FORM, form, PASSWORD, isolatedTestConfig, uniqueName } from '../helper.js'
import { FAST_WORKER } from '../mail/helpers.js'
import { startSmtp } from '../mail/smtp.js'
import { freePort } from '../server-process.js'

/*
 * The pages the e-mails link to, in headless Chromium (Debian's, as .ci/run installs it): open
 * the link of a received message, submit the form, then log in with the new password. The pages
 * carry no script and work with JavaScript off, under their own CSP (default-src 'none').
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const NEW_PASSWORD = 'chosen in the browser, long enough'

/** The app over a real port whose links (PUBLIC_URL: the issuer) point at it, and the SMTP server it sends to. */
async function serve (t: TestContext) {
  const smtp = await startSmtp(t)
  const port = await freePort()
  const config = await isolatedTestConfig({ PORT: String(port), SMTP_URL: smtp.url })
  const server = Fastify(fastifyOptions(config))
  await server.register(app, { config: { ...config, mail: { ...config.mail, worker: FAST_WORKER } } })
  const origin = await server.listen({ port, host: '127.0.0.1' })
  t.after(() => server.close())
  assert.equal(config.mail.publicUrl, origin)
  return { smtp, origin }
}

async function browserPage (t: TestContext, javaScriptEnabled: boolean) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.after(() => browser.close())
  const context = await browser.newContext({ javaScriptEnabled })
  const page = await context.newPage()
  // Anything the page's CSP refuses shows as a console error: there must be none.
  const problems: string[] = []
  page.on('console', message => { if (message.type() === 'error') problems.push(message.text()) })
  page.on('pageerror', error => problems.push(error.message))
  return { page, problems }
}

async function register (origin: string) {
  const username = uniqueName('browser')
  const email = `${username}@example.com`
  const res = await fetch(`${origin}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD, email }) })
  assert.equal(res.status, 201)
  return { username, email }
}

const logIn = (origin: string, username: string, password: string) =>
  fetch(`${origin}/token`, { method: 'POST', headers: FORM, body: form({ grant_type: 'password', username, password }) })

/** Opens a link as a user would, checking the page's headers. */
async function open (page: Page, link: string) {
  const response = await page.goto(link)
  assert.equal(response?.status(), 200)
  const headers = response!.headers()
  assert.match(headers['content-security-policy'] ?? '', /default-src 'none'/)
  assert.equal(headers['referrer-policy'], 'no-referrer')
}

describe('the e-mail link pages in a browser', { skip: existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM}` }, () => {
  for (const javaScriptEnabled of [true, false]) {
    it(`resets a password from the e-mail's link, then logs in with it (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async (t) => {
      const { smtp, origin } = await serve(t)
      const { username, email } = await register(origin)
      const asked = await fetch(`${origin}/forgot-password`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email }) })
      assert.equal(asked.status, 202)
      const reset = (await smtp.waitFor(email, 2)).find(m => /reset-password/.test(m.link ?? ''))
      assert.ok(reset?.link !== undefined, 'a reset e-mail with its link')
      assert.ok(reset.link.startsWith(`${origin}/reset-password?token=`))

      const { page, problems } = await browserPage(t, javaScriptEnabled)
      await open(page, reset.link)
      assert.equal(await page.title(), 'Choose a new password')
      await page.fill('#password', NEW_PASSWORD)
      await Promise.all([page.waitForURL(`${origin}/reset-password`), page.click('button[type=submit]')])
      assert.equal(await page.textContent('h1'), 'Password changed')
      assert.deepEqual(problems, [])

      assert.equal((await logIn(origin, username, NEW_PASSWORD)).status, 200, 'the new password logs in')
      assert.equal((await logIn(origin, username, PASSWORD)).status, 400, 'the old one no longer does')

      // The link is spent: opening it again says so.
      const again = await page.goto(reset.link)
      assert.equal(again?.status(), 400)
      assert.equal(await page.textContent('h1'), 'This link does not work')
    })
  }

  it('confirms an address with the one button of the verification page', async (t) => {
    const { smtp, origin } = await serve(t)
    const { username, email } = await register(origin)
    const [verification] = await smtp.waitFor(email)
    const { page, problems } = await browserPage(t, true)
    await open(page, verification!.link!)
    assert.equal(await page.locator('button').count(), 1)
    await Promise.all([page.waitForURL(`${origin}/verify`), page.click('button')])
    assert.equal(await page.textContent('h1'), 'E-mail address confirmed')
    assert.deepEqual(problems, [])

    const { access_token: accessToken } = await (await logIn(origin, username, PASSWORD)).json() as { access_token: string }
    const me = await (await fetch(`${origin}/users/me`, { headers: { authorization: `Bearer ${accessToken}` } })).json() as { email_verified: boolean }
    assert.equal(me.email_verified, true)
  })
})
