import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import { chromium, type BrowserContext, type Page, type Response } from 'playwright-core'
import app, { fastifyOptions } from '../../src/app.js'
import { isolatedDatabaseUrl, PASSWORD, testConfig, uniqueName } from '../helper.js'
import { freePort } from '../server-process.js'

/*
 * The browser app of examples/browser-app (a static page on an origin of its own, the refresh token
 * in the API's HttpOnly cookie, the access token in memory) in headless Chromium (playwright-core),
 * against the API started with CORS_ORIGINS listing the app's origin.
 *
 * Real host names, all resolved to 127.0.0.1 by Chromium (--host-resolver-rules), so that sites are
 * what they would be in production (SameSite compares sites, not origins; ports do not count):
 *   API         http://auth.example.test:A
 *   the app     http://app.example.test:B    same site as the API, another origin, in CORS_ORIGINS
 *   sibling     http://evil.example.test:C   same site as the API, NOT in CORS_ORIGINS
 *   attacker    http://attacker.test:C       another site
 *   other-site  http://app.other.test:B      another site, but in CORS_ORIGINS (an app deployed wrong)
 * Screenshots go to test-artifacts/ (git-ignored).
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const skip = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM}`
const ARTIFACTS = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../test-artifacts/' : '../../../test-artifacts/', import.meta.url))
/** examples/browser-app/server.mjs, from test/e2e or from dist/test/e2e. */
const EXAMPLE_SERVER = new URL(import.meta.url.endsWith('.ts') ? '../../examples/browser-app/server.mjs' : '../../../examples/browser-app/server.mjs', import.meta.url).href

/** The few DOM members the functions run in the page use (the project's tsconfig has no DOM lib). */
interface PageElement { click (): void, textContent: string | null, href: string, submit (): void, append (child: PageElement): void, method: string, action: string, name: string, value: string }
declare const document: { cookie: string, body: PageElement, querySelector (selector: string): PageElement | null, createElement (tag: string): PageElement }

interface ExampleServer { createAppServer: (options: { apiUrl: string, onRequest?: (request: IncomingMessage) => void }) => Server }

/** One request the API answered, as its onResponse hook saw it. */
interface Seen { method: string, url: string, origin: string | undefined, transport: boolean, cookie: string | undefined, status: number, setCookie: string, allowOrigin: string | undefined }

const COOKIE_NAME = 'refresh_token'
const cookieValue = (header: string | undefined) => header === undefined ? undefined : new RegExp(`(?:^|[;\\s,])${COOKIE_NAME}=([^;\\s,]*)`).exec(header)?.[1]

/** An access token's claims (JWT payload), unverified: the test only compares them. */
const claims = (token: unknown) => JSON.parse(Buffer.from(String(token).split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>

async function listen (server: Server, port: number) {
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve))
}

/** The API on 127.0.0.1:port, known to the browser as http://auth.example.test:port; every answer recorded. */
async function startApi (t: TestContext, port: number, corsOrigins: string[]) {
  const config = testConfig({
    DATABASE_URL: await isolatedDatabaseUrl(),
    PORT: String(port),
    PUBLIC_URL: `http://auth.example.test:${port}`,
    CORS_ORIGINS: corsOrigins.join(',')
  })
  const server = Fastify(fastifyOptions(config))
  const seen: Seen[] = []
  /*
   * While armed, POST /token requests wait until `size` of them have arrived (at most 5 s), then
   * all go on together: requests in flight at one moment, however the two cores schedule the tabs.
   */
  let barrier: { size: number, waiting: Array<() => void> } | undefined
  const gather = (size: number) => { barrier = { size, waiting: [] } }
  server.addHook('onRequest', async (request) => {
    const gate = barrier
    if (gate === undefined || request.method !== 'POST' || request.url !== '/token') return
    await new Promise<void>(resolve => {
      gate.waiting.push(resolve)
      if (gate.waiting.length >= gate.size) {
        barrier = undefined
        for (const go of gate.waiting) go()
      } else setTimeout(resolve, 5_000).unref()
    })
  })
  server.addHook('onResponse', async (request, reply) => {
    const origin = request.headers.origin
    const setCookie = reply.getHeader('set-cookie')
    const allowOrigin = reply.getHeader('access-control-allow-origin')
    seen.push({
      method: request.method,
      url: request.url,
      origin: typeof origin === 'string' ? origin : undefined,
      transport: request.headers['x-token-transport'] !== undefined,
      cookie: cookieValue(request.headers.cookie),
      status: reply.statusCode,
      setCookie: Array.isArray(setCookie) ? setCookie.join('\n') : String(setCookie ?? ''),
      allowOrigin: allowOrigin === undefined ? undefined : String(allowOrigin)
    })
  })
  await server.register(app, { config })
  await server.listen({ port, host: '127.0.0.1' })
  t.after(() => server.close())
  return { seen, gather, direct: `http://127.0.0.1:${port}` }
}

/** A page that only an attacker would serve: any path answers it, and every cookie it receives is recorded. */
async function startAttacker (t: TestContext, port: number) {
  const cookies: string[] = []
  const server = createServer((request, response) => {
    if (request.headers.cookie !== undefined) cookies.push(request.headers.cookie)
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Attacker</title><h1>Attacker page</h1><p>Trying the victim\'s auth cookie…</p>')
  })
  await listen(server, port)
  t.after(() => new Promise(resolve => server.close(resolve)))
  return { cookies }
}

async function screenshot (page: Page, name: string) {
  mkdirSync(ARTIFACTS, { recursive: true })
  const path = join(ARTIFACTS, `browser-app-${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}

/** A token request the page made, with what the browser sent and received. */
async function tokenExchange (response: Response) {
  const request = response.request()
  const [sent, received] = await Promise.all([request.allHeaders(), response.allHeaders()])
  const body = response.status() === 200 ? await response.json() as Record<string, unknown> : await response.json().catch(() => ({})) as Record<string, unknown>
  return {
    status: response.status(),
    grant: new URLSearchParams(request.postData() ?? '').get('grant_type'),
    sentCookie: cookieValue(sent.cookie),
    setCookie: received['set-cookie'] ?? '',
    newCookie: cookieValue(received['set-cookie']),
    body
  }
}

const isTokenPost = (api: string) => (response: Response) => response.url() === `${api}/token` && response.request().method() === 'POST'

/** The refresh cookie in the browser's jar for the API, if any. */
async function jarCookie (context: BrowserContext, api: string) {
  return (await context.cookies(api)).find(cookie => cookie.name === COOKIE_NAME)
}

/** What fetch in the page made of a request: its status, or the error it rejected with. */
const attempt = (page: Page, url: string, init: { method: string, headers?: Record<string, string>, body?: string, mode?: 'cors' | 'no-cors' }) =>
  page.evaluate(async ({ url, init }) => {
    try {
      const response = await fetch(url, { ...init, credentials: 'include' })
      return `status ${response.status}${response.type === 'opaque' ? ' (opaque)' : ''}`
    } catch (error) {
      return `rejected: ${String(error)}`
    }
  }, { url, init })

describe('the browser app of examples/browser-app: refresh token in an HttpOnly cookie', { skip }, () => {
  it('logs in, survives reloads, refreshes in two tabs at once, refuses other origins, logs out', { timeout: 60_000 }, async (t) => {
    const started = Date.now()
    const [apiPort, appPort, attackerPort] = await Promise.all([freePort(), freePort(), freePort()])
    const API = `http://auth.example.test:${apiPort}`
    const APP = `http://app.example.test:${appPort}`
    const OTHER_SITE_APP = `http://app.other.test:${appPort}`
    const SIBLING = `http://evil.example.test:${attackerPort}`
    const CROSS_SITE = `http://attacker.test:${attackerPort}`
    const { seen, gather, direct } = await startApi(t, apiPort, [APP, OTHER_SITE_APP])
    const attacker = await startAttacker(t, attackerPort)

    const { createAppServer } = await import(EXAMPLE_SERVER) as ExampleServer
    const appRequests: IncomingMessage[] = []
    const appServer = createAppServer({ apiUrl: API, onRequest: request => appRequests.push(request) })
    await listen(appServer, appPort)
    t.after(() => new Promise(resolve => appServer.close(resolve)))

    const username = uniqueName('browser')
    const mallory = uniqueName('mallory')
    for (const name of [username, mallory]) {
      const res = await fetch(`${direct}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: name, password: PASSWORD }) })
      assert.equal(res.status, 201, await res.text())
    }

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--no-proxy-server', '--host-resolver-rules=MAP *.example.test 127.0.0.1, MAP *.other.test 127.0.0.1, MAP attacker.test 127.0.0.1']
    })
    t.after(() => browser.close())
    const context = await browser.newContext({ viewport: { width: 900, height: 700 } })
    context.setDefaultTimeout(10_000)
    const page = await context.newPage()
    const shots: string[] = []
    /** The access token of the victim's latest token answer, read off the network: for checks from outside the browser. */
    let accessToken = ''
    const me = (token: string) => fetch(`${direct}/users/me`, { headers: { authorization: `Bearer ${token}` } })

    await t.test('1. log in through the page: access token in the body, refresh token only in an HttpOnly cookie', async () => {
      const firstLoad = page.waitForResponse(isTokenPost(API))
      await page.goto(`${APP}/`)
      const initial = await tokenExchange(await firstLoad)
      assert.deepEqual([initial.grant, initial.status, initial.body.error], ['refresh_token', 400, 'invalid_request'], 'no cookie yet: the load-time refresh is refused')
      await page.locator('#status[data-state="logged-out"]').waitFor()

      await page.locator('#login input[name="username"]').fill(username)
      await page.locator('#login input[name="password"]').fill(PASSWORD)
      const answer = page.waitForResponse(isTokenPost(API))
      await page.locator('#login button[type="submit"]').click()
      const login = await tokenExchange(await answer)
      assert.equal(login.status, 200, JSON.stringify(login.body))
      assert.equal(login.grant, 'password')
      assert.equal(typeof login.body.access_token, 'string')
      assert.ok(!('refresh_token' in login.body), `no refresh_token in the JSON: ${Object.keys(login.body).join(', ')}`)
      assert.match(login.setCookie, /^refresh_token=[^;]+;/)
      assert.match(login.setCookie, /; HttpOnly/i)
      assert.match(login.setCookie, /; SameSite=Strict/i)
      assert.match(login.setCookie, /; Path=\//)
      assert.match(login.setCookie, /; Max-Age=1209\d\d\d/, '14 days, the session\'s absolute lifetime')
      assert.doesNotMatch(login.setCookie, /; Secure/i, 'plain http: not Secure')
      accessToken = login.body.access_token as string

      await page.locator('#status[data-state="logged-in"]').waitFor()
      assert.equal(await page.locator('#username').textContent(), username, 'GET /users/me with the bearer token')
      const stored = await jarCookie(context, API)
      assert.ok(stored !== undefined, 'the browser kept the cookie')
      assert.deepEqual([stored.value, stored.domain, stored.httpOnly, stored.sameSite, stored.secure], [login.newCookie, 'auth.example.test', true, 'Strict', false])
      assert.equal(await page.evaluate(() => document.cookie), '', 'the app\'s origin has no cookie at all')
      // Even a script on the API's own origin cannot read it: HttpOnly.
      const onApi = await context.newPage()
      await onApi.goto(`${API}/.well-known/jwks.json`)
      assert.equal(await onApi.evaluate(() => document.cookie), '', 'document.cookie on the API\'s origin does not show the HttpOnly cookie')
      await onApi.close()
      shots.push(await screenshot(page, '1-logged-in'))
    })

    await t.test('2. reload (and arrival by a link from another site): the page refreshes from the cookie, rotates it and shows /users/me', async () => {
      const before = (await jarCookie(context, API))?.value
      const answer = page.waitForResponse(isTokenPost(API))
      await page.reload()
      const refresh = await tokenExchange(await answer)
      assert.deepEqual([refresh.grant, refresh.status], ['refresh_token', 200], JSON.stringify(refresh.body))
      assert.equal(refresh.sentCookie, before, 'the browser sent the refresh cookie with credentials: include')
      assert.ok(refresh.newCookie !== undefined && refresh.newCookie !== before, 'rotated')
      assert.ok(!('refresh_token' in refresh.body))
      accessToken = refresh.body.access_token as string
      await page.locator('#status[data-state="logged-in"]').waitFor()
      assert.equal(await page.locator('#username').textContent(), username)
      assert.equal((await jarCookie(context, API))?.value, refresh.newCookie)
      shots.push(await screenshot(page, '2-after-reload'))

      // Arriving by a link on another site: the app's own fetch is same-site, so the Strict cookie goes with it.
      const tab = await context.newPage()
      await tab.goto(`${CROSS_SITE}/`)
      const arrived = tab.waitForResponse(isTokenPost(API))
      await tab.evaluate(app => { document.body.append(Object.assign(document.createElement('a'), { href: `${app}/`, textContent: 'the app' })) }, APP)
      await tab.locator('a').click()
      const fromLink = await tokenExchange(await arrived)
      assert.deepEqual([fromLink.status, fromLink.sentCookie], [200, refresh.newCookie], 'logged in after following a link from another site')
      await tab.locator('#status[data-state="logged-in"]').waitFor()
      await tab.close()
      accessToken = fromLink.body.access_token as string
    })

    await t.test('3. two tabs of one browser refresh at the same moment: both stay logged in, and a further refresh works', async () => {
      const second = await context.newPage()
      const loaded = second.waitForResponse(isTokenPost(API))
      await second.goto(`${APP}/`)
      assert.equal((await loaded).status(), 200, 'the second tab starts logged in from the shared cookie')
      await second.locator('#status[data-state="logged-in"]').waitFor()

      const shared = (await jarCookie(context, API))?.value
      gather(2)
      const answers = Promise.all([page.waitForResponse(isTokenPost(API)), second.waitForResponse(isTokenPost(API))])
      // Both tabs press "Refresh" at one instant, each by its own timer; the API lets neither
      // request through before the other has arrived, so both are in flight together.
      const at = Date.now() + 300
      await Promise.all([page, second].map(tab => tab.evaluate(at => new Promise<void>(resolve => {
        setTimeout(() => { document.querySelector('#refresh')?.click(); resolve() }, at - Date.now())
      }), at)))
      const [first, last] = await answers
      const [one, two] = await Promise.all([tokenExchange(first), tokenExchange(last)])
      t.diagnostic(`concurrent refreshes: ${one.status} and ${two.status}, both sent ${shared?.slice(0, 8)}…, got ${one.newCookie?.slice(0, 8)}… and ${two.newCookie?.slice(0, 8)}…`)
      assert.deepEqual([one.status, two.status], [200, 200], `${JSON.stringify(one.body)} ${JSON.stringify(two.body)}`)
      assert.deepEqual([one.sentCookie, two.sentCookie], [shared, shared], 'both presented the same refresh token: the second was sent before the first answer arrived')
      assert.ok(one.newCookie !== undefined && one.newCookie !== shared)
      assert.equal(two.newCookie, one.newCookie, 'both got the same successor cookie')
      assert.notEqual(one.body.access_token, two.body.access_token, 'each tab a fresh access token')
      assert.equal(claims(one.body.access_token).sid, claims(two.body.access_token).sid, 'of the same session')
      for (const tab of [page, second]) await tab.locator('#status[data-state="logged-in"]').waitFor()
      assert.equal((await jarCookie(context, API))?.value, one.newCookie)
      shots.push(await screenshot(second, '3-second-tab-after-concurrent-refresh'))

      const further = page.waitForResponse(isTokenPost(API))
      await page.locator('#refresh').click()
      const next = await tokenExchange(await further)
      assert.equal(next.status, 200, JSON.stringify(next.body))
      assert.equal(next.sentCookie, one.newCookie)
      assert.ok(next.newCookie !== undefined && next.newCookie !== one.newCookie, 'rotated again')
      accessToken = next.body.access_token as string
      assert.equal((await me(accessToken)).status, 200)
      const fromSecond = second.waitForResponse(isTokenPost(API))
      await second.locator('#refresh').click()
      assert.equal((await fromSecond).status(), 200, 'the other tab refreshes from the shared cookie too')
      await second.close()
      const after = page.waitForResponse(isTokenPost(API))
      await page.locator('#refresh').click()
      accessToken = (await tokenExchange(await after)).body.access_token as string
      await page.locator('#status[data-state="logged-in"]').waitFor()
    })

    await t.test('4. pages on other origins cannot refresh, log in or log out through the cookie; the session lives on', async () => {
      const victimCookie = (await jarCookie(context, API))?.value
      assert.ok(victimCookie !== undefined)
      const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
      const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
      const withHeader = { ...FORM, 'x-token-transport': 'cookie' }

      for (const origin of [SIBLING, CROSS_SITE]) {
        const evil = await context.newPage()
        const consoleErrors: string[] = []
        evil.on('console', message => { if (message.type() === 'error') consoleErrors.push(message.text()) })
        await evil.goto(`${origin}/`)
        const from = seen.length
        const results = {
          refresh: await attempt(evil, `${API}/token`, { method: 'POST', headers: withHeader, body: form({ grant_type: 'refresh_token' }) }),
          login: await attempt(evil, `${API}/token`, { method: 'POST', headers: withHeader, body: form({ username: mallory, password: PASSWORD }) }),
          logout: await attempt(evil, `${API}/logout`, { method: 'POST', headers: { 'x-token-transport': 'cookie' } }),
          revoke: await attempt(evil, `${API}/token/revoke`, { method: 'POST', headers: withHeader, body: '' }),
          // Without the custom header a "simple" request needs no preflight, but then the API does not touch the cookie.
          simpleRefresh: await attempt(evil, `${API}/token`, { method: 'POST', mode: 'no-cors', headers: FORM, body: form({ grant_type: 'refresh_token' }) })
        }
        t.diagnostic(`${origin}: ${JSON.stringify(results)}`)
        for (const key of ['refresh', 'login', 'logout', 'revoke'] as const) {
          assert.match(results[key], /^rejected: TypeError: Failed to fetch/, `${origin} ${key}: the CORS preflight refused`)
        }
        // The API's Cross-Origin-Resource-Policy: same-origin (helmet) keeps even the opaque answer from the page.
        assert.match(results.simpleRefresh, /^rejected: TypeError: Failed to fetch|^status 0 \(opaque\)$/)
        const fromHere = seen.slice(from).filter(s => s.origin === origin)
        const preflights = fromHere.filter(s => s.method === 'OPTIONS')
        assert.equal(preflights.length, 4, `one preflight per request with the header: ${JSON.stringify(fromHere)}`)
        assert.ok(preflights.every(s => s.allowOrigin === undefined), 'no Access-Control-Allow-Origin for this origin')
        const reached = fromHere.filter(s => s.method !== 'OPTIONS')
        assert.deepEqual(reached.map(s => [s.method, s.url, s.transport, s.status, s.setCookie]), [['POST', '/token', false, 400, '']],
          'only the header-less request reached the API: refused without reading or setting the cookie')
        t.diagnostic(`${origin}: the browser sent the refresh cookie with the header-less request: ${reached[0]?.cookie === undefined ? 'no' : 'yes, unread'} (SameSite=Strict, ${origin === SIBLING ? 'same site' : 'another site'})`)
        if (origin === CROSS_SITE) assert.equal(reached[0]?.cookie, undefined, 'SameSite=Strict: not sent from another site')
        const blocked = consoleErrors.filter(text => /blocked by CORS policy: Response to preflight request/.test(text))
        t.diagnostic(`${origin}: Chromium's console: ${blocked[0] ?? consoleErrors.join(' | ')}`)
        assert.equal(blocked.length, 4, 'Chromium reports each preflight refusal')
        await evil.evaluate(text => { document.body.append(Object.assign(document.createElement('pre'), { textContent: text })) }, JSON.stringify(results, null, 2))
        shots.push(await screenshot(evil, `4-attacker-${origin === SIBLING ? 'sibling' : 'cross-site'}`))

        // Login CSRF by a plain HTML form (no custom header possible): the API answers with JSON tokens but sets no cookie.
        const navigated = evil.waitForURL(`${API}/token`)
        await evil.evaluate(({ api, mallory, password }) => {
          const formElement = document.createElement('form')
          formElement.method = 'POST'
          formElement.action = `${api}/token`
          for (const [name, value] of Object.entries({ username: mallory, password })) {
            const input = document.createElement('input')
            input.name = name
            input.value = value
            formElement.append(input)
          }
          document.body.append(formElement)
          formElement.submit()
        }, { api: API, mallory, password: PASSWORD })
        await navigated
        const formPost = seen.filter(s => s.origin === origin).at(-1)
        assert.deepEqual([formPost?.method, formPost?.transport, formPost?.setCookie], ['POST', false, ''], 'a form login sets no cookie')
        await evil.close()
        assert.equal((await jarCookie(context, API))?.value, victimCookie, `the victim's cookie is untouched after ${origin}`)
      }

      // Past the browser (a non-browser client, or a CORS misconfiguration): the Origin check answers 403 and reads nothing.
      for (const origin of [SIBLING, CROSS_SITE]) {
        const headers = { ...withHeader, origin, cookie: `${COOKIE_NAME}=${victimCookie}` }
        const refresh = await fetch(`${direct}/token`, { method: 'POST', headers, body: form({ grant_type: 'refresh_token' }) })
        const login = await fetch(`${direct}/token`, { method: 'POST', headers, body: form({ username: mallory, password: PASSWORD }) })
        const revoke = await fetch(`${direct}/token/revoke`, { method: 'POST', headers, body: '' })
        const logout = await fetch(`${direct}/logout`, { method: 'POST', headers: { origin, cookie: headers.cookie, 'x-token-transport': 'cookie', authorization: `Bearer ${accessToken}` } })
        for (const [name, res] of Object.entries({ refresh, login, revoke, logout })) {
          const body = await res.json() as Record<string, unknown>
          assert.equal(res.status, 403, `${origin} ${name}: ${JSON.stringify(body)}`)
          assert.deepEqual([body.statusCode, body.error], [403, 'Forbidden'])
          assert.equal(res.headers.get('set-cookie'), null, `${origin} ${name}: no cookie set or cleared`)
        }
        t.diagnostic(`${origin} with X-Token-Transport and the victim's cookie, straight to the API: refresh, login, revoke, logout all 403`)
      }

      assert.equal(attacker.cookies.filter(c => cookieValue(c) !== undefined).length, 0, 'the attacker\'s server never received the refresh cookie (host-only)')
      assert.equal(appRequests.filter(r => cookieValue(r.headers.cookie) !== undefined).length, 0, 'nor did the app\'s own server')
      // The victim's session is alive: its access token works, and its cookie still refreshes.
      assert.equal((await me(accessToken)).status, 200, 'the victim\'s access token still works')
      const answer = page.waitForResponse(isTokenPost(API))
      await page.locator('#refresh').click()
      const refresh = await tokenExchange(await answer)
      assert.deepEqual([refresh.status, refresh.sentCookie], [200, victimCookie])
      accessToken = refresh.body.access_token as string
      await page.locator('#status[data-state="logged-in"]').waitFor()
    })

    await t.test('5. an app on another site, even listed in CORS_ORIGINS, gets no cookie: the app must be same-site with the API', async () => {
      const victimCookie = (await jarCookie(context, API))?.value
      const other = await context.newPage()
      const firstLoad = other.waitForResponse(isTokenPost(API))
      await other.goto(`${OTHER_SITE_APP}/`)
      const initial = await tokenExchange(await firstLoad)
      assert.deepEqual([initial.status, initial.sentCookie], [400, undefined], 'the SameSite=Strict cookie is not sent from another site')
      await other.locator('#status[data-state="logged-out"]').waitFor()
      await other.locator('#login input[name="username"]').fill(mallory)
      await other.locator('#login input[name="password"]').fill(PASSWORD)
      const answer = other.waitForResponse(isTokenPost(API))
      await other.locator('#login button[type="submit"]').click()
      const login = await tokenExchange(await answer)
      assert.equal(login.status, 200, 'CORS lets it log in')
      assert.match(login.setCookie, /^refresh_token=/, 'the API sets the cookie')
      await other.locator('#status[data-state="logged-in"]').waitFor()
      assert.equal((await jarCookie(context, API))?.value, victimCookie, 'but Chromium drops a SameSite=Strict cookie set by a cross-site response')
      const reload = other.waitForResponse(isTokenPost(API))
      await other.reload()
      assert.equal((await reload).status(), 400, 'so a reload logs it out')
      await other.locator('#status[data-state="logged-out"]').waitFor()
      shots.push(await screenshot(other, '5-other-site-app-after-reload'))
      await other.close()
    })

    await t.test('6. log out: the session ends, the cookie is cleared, a refresh then fails with 400', async () => {
      const cookie = (await jarCookie(context, API))?.value
      const answer = page.waitForResponse(response => response.url() === `${API}/logout`)
      await page.locator('#logout').click()
      const logout = await answer
      assert.equal(logout.status(), 204)
      assert.match((await logout.allHeaders())['set-cookie'] ?? '', /^refresh_token=; Max-Age=0; Path=\/; HttpOnly; SameSite=Strict/)
      await page.locator('#status[data-state="logged-out"]').waitFor()
      assert.equal(await jarCookie(context, API), undefined, 'the browser dropped the cookie')
      assert.equal((await me(accessToken)).status, 401, 'the access token of the ended session is refused')

      const reload = page.waitForResponse(isTokenPost(API))
      await page.reload()
      const refresh = await tokenExchange(await reload)
      assert.deepEqual([refresh.status, refresh.sentCookie], [400, undefined])
      await page.locator('#status[data-state="logged-out"]').waitFor()
      // The old cookie's token, replayed from outside the browser, is dead too.
      const replay = await fetch(`${direct}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-token-transport': 'cookie', cookie: `${COOKIE_NAME}=${cookie}` }, body: 'grant_type=refresh_token' })
      assert.equal(replay.status, 400)
      assert.equal(((await replay.json()) as Record<string, unknown>).error, 'invalid_grant')
      shots.push(await screenshot(page, '6-logged-out'))
    })

    t.diagnostic(`screenshots:\n${shots.join('\n')}`)
    t.diagnostic(`run time ${((Date.now() - started) / 1000).toFixed(1)} s`)
  })
})
