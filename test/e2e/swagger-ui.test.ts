import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import Fastify from 'fastify'
import { chromium } from 'playwright-core'
import app, { fastifyOptions } from '../../src/app.js'
import { PASSWORD, testConfig, uniqueName } from '../helper.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

describe('Swagger UI at /docs', () => {
  // A browser is needed; .ci/run installs Debian's chromium, a bare dev machine may not have it.
  it('logs in through Authorize and "Try it out" of GET /users/me answers 200', { skip: existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM}` }, async (t) => {
    const server = Fastify(fastifyOptions(testConfig()))
    await server.register(app, { config: testConfig() })
    const origin = await server.listen({ port: 0, host: '127.0.0.1' })
    t.after(() => server.close())

    const username = uniqueName('swagger')
    const registered = await fetch(`${origin}/register`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD })
    })
    assert.equal(registered.status, 201)

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    t.after(() => browser.close())
    const page = await browser.newPage()
    await page.goto(`${origin}/docs`)

    await page.click('button.authorize')
    await page.fill('#oauth_username', username)
    await page.fill('#oauth_password', PASSWORD)
    await page.click('.auth-btn-wrapper button.authorize')
    // Swagger UI shows Logout once the password flow has obtained a token.
    await page.locator('.modal-ux button', { hasText: 'Logout' }).first().waitFor({ timeout: 10_000 })
    await page.locator('.modal-ux button', { hasText: 'Close' }).first().click()

    await page.click('#operations-users-get_users_me .opblock-summary')
    await page.click('#operations-users-get_users_me .try-out__btn')
    await page.click('#operations-users-get_users_me .execute')
    const status = await page.textContent('#operations-users-get_users_me .live-responses-table tbody .response-col_status', { timeout: 10_000 })
    assert.equal(status?.trim(), '200')
    const body = await page.textContent('#operations-users-get_users_me .live-responses-table tbody .response-col_description pre')
    assert.match(body ?? '', new RegExp(`"username": "${username}"`))
  })
})
