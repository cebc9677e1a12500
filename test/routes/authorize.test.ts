import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type LightMyRequestResponse } from 'fastify'
import * as OTPAuth from 'otpauth'
import auth, { authRoutes } from '../../src/index.js'
import { decodeJwt } from 'jose'
import type { AuthEvent } from '../../src/core/events.js'
import {
  APP, authorizeRequest, buildWithClients, CLIENTS, clientsFile, CONFIDENTIAL, cookieOf, exchange, locationOf,
  obtainCode, OTHER, pkce, postLogin, requestIdOf, submitForm, THIRD, validParams
} from '../authorization-helpers.js'
import { redirectUriProblem } from '../../src/services/oauth-clients.js'
import { amrOf, codeAt, MFA_OTP, mfaUser } from './mfa-helpers.js'
import { adminLogin, assertConfigRefused, assertNoStore, assertSessionEnded, bearer, eventually, FORM, form, getMe, login, PASSWORD, passwordGrant, postToken, refresh, registerUser, storeOf } from '../helper.js'

const ISSUER = 'http://127.0.0.1:3000' // the test config's default issuer

/** A page, never a redirect: the error stays with the user (RFC 6749 §4.1.2.1). */
function assertPage (res: LightMyRequestResponse, status: number) {
  assert.equal(res.statusCode, status, res.body)
  assert.equal(res.headers.location, undefined, 'not redirected')
  assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8/)
  assert.match(String(res.headers['content-security-policy']), /frame-ancestors 'none'/)
}

/** An error redirected to the client with state and iss (RFC 6749 §4.1.2.1, RFC 9207). */
function assertErrorRedirect (res: LightMyRequestResponse, redirect: string, error: string, state = 'state-123') {
  const location = locationOf(res)
  assert.equal(`${location.origin}${location.pathname}`, redirect)
  assert.equal(location.searchParams.get('error'), error)
  assert.equal(location.searchParams.get('state'), state)
  assert.equal(location.searchParams.get('iss'), ISSUER)
  assert.equal(location.searchParams.get('code'), null)
}

describe('GET /authorize and the code flow', () => {
  it('logs in on the page and redirects with code, state and iss; the code gives tokens bound to the client (login.succeeded, method authorization_code)', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const events: AuthEvent[] = []
    app.authEvents.on('login.succeeded', event => { events.push(event) })
    const { verifier, challenge } = pkce()

    const page = await authorizeRequest(app, validParams(APP, challenge, { scope: 'me items' }))
    assertPage(page, 200)
    assert.equal(page.headers['cache-control'], 'no-store')
    assert.match(page.body, /<form method="post" action="authorize">/)
    assert.doesNotMatch(page.body, /<script/i)
    const cookie = cookieOf(page)
    assert.match(String(page.headers['set-cookie']), /HttpOnly/)
    assert.match(String(page.headers['set-cookie']), /SameSite=Lax/)

    const res = await postLogin(app, { request: requestIdOf(page.body), username: user.username, password: PASSWORD }, { cookie })
    const location = locationOf(res)
    assert.equal(`${location.origin}${location.pathname}`, APP.redirect)
    assert.deepEqual([...location.searchParams.keys()].sort(), ['code', 'iss', 'state'])
    assert.equal(location.searchParams.get('state'), 'state-123')
    assert.equal(location.searchParams.get('iss'), ISSUER)
    const code = location.searchParams.get('code')!
    assert.match(code, /^[A-Za-z0-9_-]{43}$/)

    const tokens = await exchange(app, { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: verifier })
    assert.equal(tokens.statusCode, 200, tokens.body)
    assertNoStore(tokens)
    const body = tokens.json()
    assert.equal(body.token_type, 'bearer')
    assert.equal(body.scope, 'me items')
    const claims = decodeJwt(body.access_token)
    assert.equal(claims.client_id, APP.client_id)
    assert.equal(claims.sub, user.id)
    assert.equal((await getMe(app, body.access_token)).statusCode, 200)
    await eventually(async () => events.length, n => n > 0)
    assert.equal(events.length, 1)
    assert.deepEqual(events[0]?.data, { method: 'authorization_code', amr: ['pwd'] })
    assert.equal(events[0]?.client_id, APP.client_id)
  })

  it('returns state unchanged, whatever its characters', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const state = 'a b&c=d/é?#+%'
    const { location } = await obtainCode(app, user.username, APP, { state })
    assert.equal(location.searchParams.get('state'), state)
    const { location: without } = await obtainCode(app, user.username, APP, { state: undefined })
    assert.equal(without.searchParams.has('state'), false)
  })

  it('serves the login page with the recovery pages\' headers: no-store, no referrer, frame-ancestors none, form-action to self and the client', async (t) => {
    const app = await buildWithClients(t)
    const page = await authorizeRequest(app, validParams(APP, pkce().challenge))
    assertPage(page, 200)
    assert.equal(page.headers['referrer-policy'], 'no-referrer')
    assert.equal(page.headers['x-content-type-options'], 'nosniff')
    assert.equal(page.headers['content-security-policy'], "default-src 'none'; form-action 'self' https://app.example.com; frame-ancestors 'none'; base-uri 'none'")
  })

  it('answers a wrong password on the page, with one message, and lets the user try again', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const page = await authorizeRequest(app, validParams(APP, pkce().challenge))
    const cookie = cookieOf(page)
    const request = requestIdOf(page.body)
    for (const username of [user.username, 'nobody-at-all']) {
      const wrong = await postLogin(app, { request, username, password: 'wrong password 1' }, { cookie })
      assertPage(wrong, 400)
      assert.match(wrong.body, /Incorrect username or password/)
      assert.equal(requestIdOf(wrong.body), request)
    }
    const right = await postLogin(app, { request, username: user.username, password: PASSWORD }, { cookie })
    assert.ok(locationOf(right).searchParams.get('code'))
    // The request is single use.
    const again = await postLogin(app, { request, username: user.username, password: PASSWORD }, { cookie })
    assertPage(again, 400)
  })

  it('counts wrong passwords on the page toward the account\'s lock: a 429 page with Retry-After', async (t) => {
    const app = await buildWithClients(t, { LOGIN_USERNAME_RATE_LIMIT: '2' })
    const { user } = await registerUser(app)
    const page = await authorizeRequest(app, validParams(APP, pkce().challenge))
    const fields = { request: requestIdOf(page.body), username: user.username, password: 'wrong password 1' }
    const cookie = cookieOf(page)
    for (let i = 0; i < 2; i++) assertPage(await postLogin(app, fields, { cookie }), 400)
    const locked = await postLogin(app, { ...fields, password: PASSWORD }, { cookie })
    assertPage(locked, 429)
    assert.match(String(locked.headers['retry-after']), /^\d+$/)
    assert.match(locked.body, /Too many failed logins/)
  })

  it('shows a login check that needs more than a password as an error on the page', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    app.authLogin.addCheck({ name: 'second-factor', check: () => { throw Object.assign(new Error('mfa required'), { statusCode: 403 }) } })
    const page = await authorizeRequest(app, validParams(APP, pkce().challenge))
    const res = await postLogin(app, { request: requestIdOf(page.body), username: user.username, password: PASSWORD }, { cookie: cookieOf(page) })
    assertPage(res, 403)
    assert.match(res.body, /mfa required/)
  })

  it('an account with TOTP (issue 21): the password leads to the code page; the code (or an otp sent with the password) gives a code whose session carries amr pwd and otp, after consent too', async (t) => {
    const app = await buildWithClients(t)
    const { user, totp, recoveryCodes } = await mfaUser(app)

    // First-party: password, then the code page, then the code at once.
    const { verifier, challenge } = pkce()
    const first = await authorizeRequest(app, validParams(APP, challenge))
    const cookie = cookieOf(first)
    const codePage = await postLogin(app, { request: requestIdOf(first.body), username: user.username, password: PASSWORD }, { cookie })
    assertPage(codePage, 200)
    assert.match(codePage.body, /<form method="post" action="authorize\/mfa">/)
    assert.match(codePage.body, /autocomplete="one-time-code"/)
    assert.doesNotMatch(codePage.body, /<script/i)
    const step = secondStepOf(codePage.body)
    const wrong = await postSecondFactor(app, { ...step, code: codeAt(totp, 0) === '000000' ? '111111' : '000000' }, cookie)
    assertPage(wrong, 400)
    assert.match(wrong.body, /That code is not right/)
    assert.equal(secondStepOf(wrong.body).mfa_token, step.mfa_token, 'the same step, to try again')
    const res = await postSecondFactor(app, { ...step, code: codeAt(totp, 0) }, cookie)
    const code = locationOf(res).searchParams.get('code')!
    const tokens = await exchange(app, { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: verifier })
    assert.equal(tokens.statusCode, 200, tokens.body)
    assert.deepEqual(amrOf(tokens.json().access_token), ['pwd', 'otp'])

    // Not first-party, with a recovery code: the consent page follows, the methods kept until consent.
    const third = pkce()
    const consentPage = await authorizeRequest(app, validParams(THIRD, third.challenge, { scope: 'me' }))
    const thirdCookie = cookieOf(consentPage)
    const request = requestIdOf(consentPage.body)
    const thirdStep = secondStepOf((await postLogin(app, { request, username: user.username, password: PASSWORD }, { cookie: thirdCookie })).body)
    const consent = await postSecondFactor(app, { ...thirdStep, code: recoveryCodes[0]! }, thirdCookie)
    assertPage(consent, 200)
    assert.match(consent.body, /Allow third-party to use your account\?/)
    const allow = await app.inject({ method: 'POST', url: '/authorize/consent', headers: { ...FORM, cookie: thirdCookie }, payload: form({ request, decision: 'allow' }) })
    const thirdTokens = await exchange(app, { code: locationOf(allow).searchParams.get('code')!, redirect_uri: THIRD.redirect, client_id: THIRD.client_id, code_verifier: third.verifier })
    assert.equal(thirdTokens.statusCode, 200, thirdTokens.body)
    assert.deepEqual(amrOf(thirdTokens.json().access_token), ['pwd', 'otp'])

    // An otp sent with the password (a form of the app's own) skips the code page.
    const direct = pkce()
    const page = await authorizeRequest(app, validParams(APP, direct.challenge))
    const at = await postLogin(app, { request: requestIdOf(page.body), username: user.username, password: PASSWORD, otp: codeAt(totp, 1) }, { cookie: cookieOf(page) })
    assert.equal(locationOf(at).searchParams.get('iss'), ISSUER)
  })
})

/** The hidden fields of the second-factor page. */
function secondStepOf (html: string) {
  const mfaToken = /name="mfa_token" value="([^"]+)"/.exec(html)?.[1]
  assert.ok(mfaToken !== undefined, 'the page carries its mfa_token')
  return { request: requestIdOf(html), mfa_token: mfaToken }
}

const postSecondFactor = (app: Parameters<typeof postLogin>[0], fields: Record<string, string>, cookie: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/authorize/mfa', headers: { ...FORM, cookie, ...headers }, payload: form(fields) })

/** The service on its own, with a TOTP user. */
async function atRoot (t: import('node:test').TestContext) {
  const app = await buildWithClients(t)
  return { app, ...await mfaUser(app) }
}

/** The plugin and authRoutes under /auth in another app, with a TOTP user (enrolled through the services). */
async function underAuth (t: import('node:test').TestContext) {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(auth, { jwt: { secret: 'a-test-secret-of-at-least-32-characters!' }, oauthClients: CLIENTS })
  await app.register(authRoutes, { prefix: '/auth' })
  const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'prefixed_user', password: PASSWORD } })
  assert.equal(registered.statusCode, 201, registered.body)
  const user = registered.json<{ id: string, username: string }>()
  const { otpauth_uri: uri } = await app.authCore.mfa.startTotp(user, PASSWORD)
  const totp = OTPAuth.URI.parse(uri) as OTPAuth.TOTP
  await app.authCore.mfa.confirmTotp(user.id, codeAt(totp, -1), {})
  return { app, user, totp }
}

describe('the pages\' forms, followed as a browser follows them', () => {
  it('password, a wrong code, the code, consent: each form\'s relative action lands on its route, at the root and under a prefix', async (t) => {
    for (const prefix of ['', '/auth']) {
      const { app, user, totp } = prefix === '' ? await atRoot(t) : await underAuth(t)
      const { challenge } = pkce()
      const query = new URLSearchParams(validParams(THIRD, challenge, { scope: 'me' })).toString()
      const first = await app.inject({ url: `${prefix}/authorize?${query}` })
      assertPage(first, 200)
      const cookie = cookieOf(first)
      const password = await submitForm(app, `${prefix}/authorize?${query}`, first.body, { username: user.username, password: PASSWORD }, cookie)
      assert.equal(password.url, `${prefix}/authorize`)
      assertPage(password.res, 200)
      const wrong = await submitForm(app, password.url, password.res.body, { code: 'ABCD-EFGH' }, cookie)
      assert.equal(wrong.url, `${prefix}/authorize/mfa`)
      assertPage(wrong.res, 400)
      const right = await submitForm(app, wrong.url, wrong.res.body, { code: codeAt(totp, 0) }, cookie)
      assert.equal(right.url, `${prefix}/authorize/mfa`, 'the code page served by /authorize/mfa posts to itself')
      assertPage(right.res, 200)
      assert.match(right.res.body, /Allow third-party/)
      const allow = await submitForm(app, right.url, right.res.body, { decision: 'allow' }, cookie)
      assert.equal(allow.url, `${prefix}/authorize/consent`)
      assert.ok(locationOf(allow.res).searchParams.get('code'), prefix)
    }
  })
})

describe('the login page\'s second step (TOTP): its abuse cases', () => {
  /** A user with TOTP at the code page of a pending request of `client`. */
  async function atCodePage (t: import('node:test').TestContext, client: { client_id: string, redirect: string } = APP, env: Record<string, string> = {}) {
    const app = await buildWithClients(t, env)
    const mfa = await mfaUser(app)
    const { verifier, challenge } = pkce()
    const page = await authorizeRequest(app, validParams(client, challenge))
    const cookie = cookieOf(page)
    const codePage = await postLogin(app, { request: requestIdOf(page.body), username: mfa.user.username, password: PASSWORD }, { cookie })
    assertPage(codePage, 200)
    return { app, ...mfa, cookie, verifier, step: secondStepOf(codePage.body) }
  }

  it('the password alone gives nothing: no code, no consent, no session', async (t) => {
    const { app, step, cookie, user } = await atCodePage(t, THIRD)
    // Consent before the second step: the pending request has no user yet.
    const consent = await app.inject({ method: 'POST', url: '/authorize/consent', headers: { ...FORM, cookie }, payload: form({ request: step.request, decision: 'allow' }) })
    assertPage(consent, 400)
    assert.match(consent.body, /Log in first/)
    assert.equal((await storeOf(app).sessions.listForUser(user.id)).length, 1, 'only the enrolling session')
  })

  it('refuses the step without the browser\'s cookie, or posted from another site', async (t) => {
    const { app, step, cookie, totp } = await atCodePage(t)
    assertPage(await postSecondFactor(app, { ...step, code: codeAt(totp, 0) }, 'authorize=' + 'x'.repeat(43)), 403)
    assertPage(await postSecondFactor(app, { ...step, code: codeAt(totp, 0) }, cookie, { 'sec-fetch-site': 'cross-site' }), 403)
    assertPage(await postSecondFactor(app, { ...step, code: codeAt(totp, 0) }, cookie, { origin: 'https://evil.example' }), 403)
    // Still usable by its own browser afterwards: nothing above spent it.
    assert.equal((await postSecondFactor(app, { ...step, code: codeAt(totp, 0) }, cookie)).statusCode, 303)
  })

  it('an mfa_token of another client\'s request does not complete this one', async (t) => {
    const { app, step, totp, user } = await atCodePage(t)
    const other = await authorizeRequest(app, validParams(OTHER, pkce().challenge))
    const otherCookie = cookieOf(other)
    const otherStep = secondStepOf((await postLogin(app, { request: requestIdOf(other.body), username: user.username, password: PASSWORD }, { cookie: otherCookie })).body)
    // OTHER's pending request with APP's mfa_token: refused, and the code is not spent.
    const crossed = await postSecondFactor(app, { request: otherStep.request, mfa_token: step.mfa_token, code: codeAt(totp, 0) }, otherCookie)
    assertPage(crossed, 400)
    assert.equal((await postSecondFactor(app, { ...otherStep, code: codeAt(totp, 0) }, otherCookie)).statusCode, 303)
  })

  it('five wrong codes spend the step: the right code then fails too', async (t) => {
    const { app, step, cookie, totp } = await atCodePage(t)
    for (let i = 0; i < 5; i++) assertPage(await postSecondFactor(app, { ...step, code: 'ABCD-EFGH' }, cookie), 400)
    const spent = await postSecondFactor(app, { ...step, code: codeAt(totp, 0) }, cookie)
    assertPage(spent, 400)
    assert.match(spent.body, /start again/)
  })

  it('wrong codes count toward the account\'s lock: a 429 page with Retry-After', async (t) => {
    const { app, step, cookie, totp } = await atCodePage(t, APP, { LOGIN_USERNAME_RATE_LIMIT: '3' })
    for (let i = 0; i < 3; i++) assertPage(await postSecondFactor(app, { ...step, code: '12345a' }, cookie), 400)
    const locked = await postSecondFactor(app, { ...step, code: codeAt(totp, 0) }, cookie)
    assertPage(locked, 429)
    assert.match(String(locked.headers['retry-after']), /^\d+$/)
  })

  it('a code already used (by the token endpoint or an earlier step) is refused', async (t) => {
    const { app, step, cookie, totp, user } = await atCodePage(t)
    const code = codeAt(totp, 0)
    assert.equal((await passwordGrant(app, user.username, PASSWORD, { otp: code })).statusCode, 200)
    assertPage(await postSecondFactor(app, { ...step, code }, cookie), 400)
  })

  it('the code page\'s mfa_token at the token endpoint: a third-party client is refused (unauthorized_client), a confidential one needs its secret: no way around consent or the secret', async (t) => {
    const app = await buildWithClients(t)
    const { user, totp } = await mfaUser(app)
    const pageToken = async (client: { client_id: string, redirect: string }) => {
      const page = await authorizeRequest(app, validParams(client, pkce().challenge))
      return secondStepOf((await postLogin(app, { request: requestIdOf(page.body), username: user.username, password: PASSWORD }, { cookie: cookieOf(page) })).body).mfa_token
    }
    const third = await postToken(app, { grant_type: MFA_OTP, mfa_token: await pageToken(THIRD), otp: codeAt(totp, 0), client_id: THIRD.client_id })
    assert.equal(third.statusCode, 400, third.body)
    assert.equal(third.json().error, 'unauthorized_client')
    const confidential = await postToken(app, { grant_type: MFA_OTP, mfa_token: await pageToken(CONFIDENTIAL), otp: codeAt(totp, 0), client_id: CONFIDENTIAL.client_id })
    assert.equal(confidential.statusCode, 401, confidential.body)
    assert.equal(confidential.json().error, 'invalid_client')
  })

  it('a user disabled between the two steps is refused', async (t) => {
    const { app, step, cookie, totp, user } = await atCodePage(t)
    await storeOf(app).users.update(user.id, { disabled: true })
    const res = await postSecondFactor(app, { ...step, code: codeAt(totp, 0) }, cookie)
    assertPage(res, 400)
  })
})

describe('GET /authorize: errors', () => {
  it('shows an unknown or missing client on a page, never redirected', async (t) => {
    const app = await buildWithClients(t)
    const { challenge } = pkce()
    for (const clientId of ['nobody', '', undefined]) {
      const res = await authorizeRequest(app, { ...validParams(APP, challenge), client_id: clientId })
      assertPage(res, 400)
    }
  })

  it('never redirects to a redirect_uri that is not registered exactly (open-redirect variants)', async (t) => {
    const app = await buildWithClients(t)
    const { challenge } = pkce()
    const variants = [
      'https://app.example.com/c', // a prefix of the registered one
      'https://app.example.com/cbx',
      'https://app.example.com/cb/extra', // an extra path
      'https://app.example.com/cb?next=https://evil.example', // a query added
      'https://APP.example.com/cb', // the host in another case
      'https://app.example.com@evil.example/cb', // userinfo
      'https://good@app.example.com/cb',
      'https://app.example.com/cb#fragment',
      'https://app.example.com/cb/', // a trailing slash
      'https://app.example.com/%63b', // an encoded character
      'https://app.example.com/cb%2F..%2Fevil',
      'https://app.example.com.evil.example/cb',
      'https://app.example.com:443/cb', // the default port spelled out
      'http://app.example.com/cb',
      'https://evil.example/cb',
      OTHER.redirect, // another client's
      ' https://app.example.com/cb',
      'https://app.example.com/cb ',
      '',
      undefined
    ]
    for (const redirectUri of variants) {
      const res = await authorizeRequest(app, { ...validParams(APP, challenge), redirect_uri: redirectUri })
      assertPage(res, 400)
      assert.match(res.body, /redirect_uri/, String(redirectUri))
    }
  })

  it('shows a repeated client_id or redirect_uri on a page', async (t) => {
    const app = await buildWithClients(t)
    const { challenge } = pkce()
    const query = new URLSearchParams(validParams(APP, challenge))
    query.append('redirect_uri', 'https://evil.example/cb')
    assertPage(await app.inject({ url: `/authorize?${query.toString()}` }), 400)
  })

  it('refuses plain, and a request without a code_challenge or its method, by a redirect with state and iss (no PKCE downgrade)', async (t) => {
    const app = await buildWithClients(t)
    const { verifier, challenge } = pkce()
    const cases: Array<Record<string, string | undefined>> = [
      { code_challenge_method: 'plain', code_challenge: verifier },
      { code_challenge_method: 'plain' },
      { code_challenge_method: 's256' },
      { code_challenge_method: undefined },
      { code_challenge: undefined },
      { code_challenge: 'too-short' },
      { code_challenge: `${challenge.slice(0, 42)}=` }
    ]
    for (const extra of cases) {
      assertErrorRedirect(await authorizeRequest(app, validParams(APP, challenge, extra)), APP.redirect, 'invalid_request')
    }
  })

  it('answers another response_type with unsupported_response_type, and none with invalid_request', async (t) => {
    const app = await buildWithClients(t)
    const { challenge } = pkce()
    assertErrorRedirect(await authorizeRequest(app, validParams(APP, challenge, { response_type: 'token' })), APP.redirect, 'unsupported_response_type')
    assertErrorRedirect(await authorizeRequest(app, validParams(APP, challenge, { response_type: undefined })), APP.redirect, 'invalid_request')
  })

  it('refuses a scope the client may not ask for, or an unknown one, with invalid_scope', async (t) => {
    const app = await buildWithClients(t)
    const { challenge } = pkce()
    assertErrorRedirect(await authorizeRequest(app, validParams(THIRD, challenge, { scope: 'me items' })), THIRD.redirect, 'invalid_scope')
    assertErrorRedirect(await authorizeRequest(app, validParams(APP, challenge, { scope: 'me nonsense' })), APP.redirect, 'invalid_scope')
  })
})

describe('POST /authorize: login CSRF', () => {
  it('refuses the login form posted from another site (Origin, Sec-Fetch-Site) with a 403 page, and logs nobody in', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const page = await authorizeRequest(app, validParams(APP, pkce().challenge))
    const fields = { request: requestIdOf(page.body), username: user.username, password: PASSWORD }
    const cookie = cookieOf(page)
    const foreign: Array<Record<string, string>> = [{ origin: 'https://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { 'sec-fetch-site': 'none', origin: 'https://evil.example' }]
    for (const headers of foreign) {
      assertPage(await postLogin(app, fields, { cookie, ...headers }), 403)
    }
    // A foreign Origin that fetch metadata calls same-origin cannot be; fetch metadata decides.
    assertPage(await postLogin(app, fields, { cookie, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }), 403)
    // Still usable by the browser that opened it, from its own page (Chromium sends Origin: null under no-referrer).
    const own = await postLogin(app, fields, { cookie, origin: 'null', 'sec-fetch-site': 'same-origin' })
    assert.ok(locationOf(own).searchParams.get('code'))
  })

  it('sets the browser cookie again with each request it binds, so it lives as long as the newest pending request', async (t) => {
    const app = await buildWithClients(t)
    const first = await authorizeRequest(app, validParams(APP, pkce().challenge))
    const cookie = cookieOf(first)
    const second = await authorizeRequest(app, validParams(APP, pkce().challenge), cookie)
    assertPage(second, 200)
    const renewed = String(second.headers['set-cookie'])
    assert.equal(renewed.split(';')[0], cookie, 'the same value')
    assert.match(renewed, /Max-Age=600/)
    assert.match(renewed, /HttpOnly/)
    // A value that is not one of ours is replaced, not renewed.
    const forged = await authorizeRequest(app, validParams(APP, pkce().challenge), 'authorize=short')
    assert.notEqual(cookieOf(forged), 'authorize=short')
  })

  it('refuses the login form without the browser\'s cookie, or with another browser\'s (an attacker\'s request id posted in the victim\'s browser)', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const attacker = await authorizeRequest(app, validParams(APP, pkce().challenge))
    const victim = await authorizeRequest(app, validParams(APP, pkce().challenge))
    const fields = { request: requestIdOf(attacker.body), username: user.username, password: PASSWORD }
    assertPage(await postLogin(app, fields), 403)
    assertPage(await postLogin(app, fields, { cookie: cookieOf(victim) }), 403)
    assertPage(await postLogin(app, { ...fields, request: 'made-up' }, { cookie: cookieOf(attacker) }), 400)
  })
})

describe('POST /token grant_type=authorization_code: attacks', () => {
  it('refuses a stolen code without the verifier, or with a guessed one', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const { code, verifier } = await obtainCode(app, user.username)
    const none = await exchange(app, { code, redirect_uri: APP.redirect, client_id: APP.client_id })
    assert.equal(none.statusCode, 400)
    assert.equal(none.json().error, 'invalid_request')
    const guessed = await exchange(app, { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: pkce().verifier })
    assert.equal(guessed.statusCode, 400)
    assert.equal(guessed.json().error, 'invalid_grant')
    // The guess spent the code: the thief had one try, and even the verifier does not revive it.
    const late = await exchange(app, { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: verifier })
    assert.equal(late.json().error, 'invalid_grant')
  })

  it('refuses a wrong verifier: one character short, one more, another case, another pair\'s', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const wrongs = [(v: string) => v.slice(0, 42), (v: string) => `${v}x`, (v: string) => v.toUpperCase(), () => pkce().verifier]
    for (const wrongOf of wrongs) {
      const { code, verifier } = await obtainCode(app, user.username)
      const res = await exchange(app, { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: wrongOf(verifier) })
      assert.equal(res.statusCode, 400)
      assert.equal(res.json().error, 'invalid_grant')
    }
  })

  it('answers a reused code with invalid_grant and revokes the tokens of its first use', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const { code, verifier } = await obtainCode(app, user.username)
    const fields = { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: verifier }
    const first = await exchange(app, fields)
    assert.equal(first.statusCode, 200)
    const tokens = first.json()
    assert.equal((await getMe(app, tokens.access_token)).statusCode, 200)
    const second = await exchange(app, fields)
    assert.equal(second.statusCode, 400)
    assert.equal(second.json().error, 'invalid_grant')
    await assertSessionEnded(app, tokens)
  })

  it('two uses of one code at once: at most one gets tokens, and none of them stays alive', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    for (let round = 0; round < 3; round++) {
      const { code, verifier } = await obtainCode(app, user.username)
      const fields = { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: verifier }
      const answers = await Promise.all([exchange(app, fields), exchange(app, fields)])
      assert.ok(answers.some(res => res.statusCode === 400 && res.json().error === 'invalid_grant'), answers.map(res => res.body).join())
      for (const res of answers.filter(res => res.statusCode === 200)) await assertSessionEnded(app, res.json())
    }
  })

  it('refuses an expired code (older than 60 seconds)', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const { code, verifier } = await obtainCode(app, user.username)
    // The clock moved on: the stored code's expiry is in the past.
    await app.db.updateTable('authorization_codes').set({ expires_at: Date.now() - 1 }).execute()
    const res = await exchange(app, { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: verifier })
    assert.equal(res.statusCode, 400)
    assert.equal(res.json().error, 'invalid_grant')
  })

  it('issues codes that live 60 seconds and are stored only as a hash', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const { code } = await obtainCode(app, user.username)
    const rows = await app.db.selectFrom('authorization_codes').selectAll().execute()
    assert.equal(rows.length, 1)
    assert.notEqual(rows[0]!.code_hash, code)
    assert.ok(!JSON.stringify(rows).includes(code))
    assert.equal(Number(rows[0]!.expires_at) - Number(rows[0]!.created_at), 60_000)
  })

  it('refuses a code for another client, or with another redirect_uri', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const a = await obtainCode(app, user.username)
    const other = await exchange(app, { code: a.code, redirect_uri: APP.redirect, client_id: OTHER.client_id, code_verifier: a.verifier })
    assert.equal(other.json().error, 'invalid_grant')
    const b = await obtainCode(app, user.username)
    const elsewhere = await exchange(app, { code: b.code, redirect_uri: APP.other, client_id: APP.client_id, code_verifier: b.verifier })
    assert.equal(elsewhere.json().error, 'invalid_grant')
    const c = await obtainCode(app, user.username)
    const unknown = await exchange(app, { code: c.code, redirect_uri: APP.redirect, client_id: 'nobody', code_verifier: c.verifier })
    assert.equal(unknown.statusCode, 401)
    assert.equal(unknown.json().error, 'invalid_client')
    const missing = await exchange(app, { code: c.code, redirect_uri: APP.redirect, code_verifier: c.verifier })
    assert.equal(missing.json().error, 'invalid_request')
  })

  it('answers any made-up code with invalid_grant, never a 500', async (t) => {
    const app = await buildWithClients(t)
    for (const code of ['x', 'a'.repeat(200), '\u00e9\u00e9', '../../etc']) {
      const res = await exchange(app, { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: pkce().verifier })
      assert.equal(res.statusCode, 400)
      assert.equal(res.json().error, 'invalid_grant')
    }
    const twice = await app.inject({ method: 'POST', url: '/token', headers: FORM, payload: `${form({ grant_type: 'authorization_code', code: 'a', redirect_uri: APP.redirect, client_id: APP.client_id })}&code=b` })
    assert.equal(twice.json().error, 'invalid_request')
  })

  it('authenticates a confidential client: no secret or a wrong one is invalid_client, Basic or the form with its secret works', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` })
    const fields = async () => {
      const { code, verifier } = await obtainCode(app, user.username, CONFIDENTIAL)
      return { code, redirect_uri: CONFIDENTIAL.redirect, client_id: CONFIDENTIAL.client_id, code_verifier: verifier }
    }
    const none = await exchange(app, await fields())
    assert.equal(none.statusCode, 401)
    assert.equal(none.json().error, 'invalid_client')
    const wrong = await exchange(app, await fields(), basic(CONFIDENTIAL.client_id, 'wrong'))
    assert.equal(wrong.statusCode, 401)
    assert.equal(wrong.headers['www-authenticate'], 'Basic realm="token"')
    const wrongPost = await exchange(app, { ...await fields(), client_secret: 'wrong' })
    assert.equal(wrongPost.statusCode, 401)
    const viaBasic = await exchange(app, await fields(), basic(CONFIDENTIAL.client_id, CONFIDENTIAL.secret))
    assert.equal(viaBasic.statusCode, 200, viaBasic.body)
    const viaPost = await exchange(app, { ...await fields(), client_secret: CONFIDENTIAL.secret })
    assert.equal(viaPost.statusCode, 200, viaPost.body)
    // A public client's id with a secret is no authentication either.
    const publicWithSecret = await exchange(app, { code: 'x', redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: pkce().verifier, client_secret: 'anything' })
    assert.equal(publicWithSecret.statusCode, 401)
  })
})

describe('registered clients at the password and refresh grants', () => {
  it('a third-party client is refused the password grant (unauthorized_client); a confidential one must authenticate there and at refresh; an unregistered client_id is a label', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` })

    const third = await passwordGrant(app, user.username, PASSWORD, { client_id: THIRD.client_id })
    assert.equal(third.statusCode, 400, third.body)
    assert.equal(third.json().error, 'unauthorized_client')
    const unauthenticated = await passwordGrant(app, user.username, PASSWORD, { client_id: CONFIDENTIAL.client_id })
    assert.equal(unauthenticated.statusCode, 401, unauthenticated.body)
    assert.equal(unauthenticated.json().error, 'invalid_client')

    const backend = await postToken(app, { grant_type: 'password', username: user.username, password: PASSWORD }, basic(CONFIDENTIAL.client_id, CONFIDENTIAL.secret))
    assert.equal(backend.statusCode, 200, backend.body)
    assert.equal(decodeJwt(backend.json().access_token).client_id, CONFIDENTIAL.client_id)
    const refreshedWithout = await refresh(app, backend.json().refresh_token, { client_id: CONFIDENTIAL.client_id })
    assert.equal(refreshedWithout.statusCode, 401, refreshedWithout.body)
    const refreshed = await postToken(app, { grant_type: 'refresh_token', refresh_token: backend.json().refresh_token }, basic(CONFIDENTIAL.client_id, CONFIDENTIAL.secret))
    assert.equal(refreshed.statusCode, 200, refreshed.body)

    // The token's own client is held, whatever the request names: leaving client_id out skips nothing.
    const withoutClient = await refresh(app, refreshed.json().refresh_token)
    assert.equal(withoutClient.statusCode, 401, withoutClient.body)
    assert.equal(withoutClient.json().error, 'invalid_client')

    for (const clientId of [APP.client_id, 'swagger-ui', 'my-own-label']) {
      const ok = await passwordGrant(app, user.username, PASSWORD, { client_id: clientId })
      assert.equal(ok.statusCode, 200, `${clientId}: ${ok.body}`)
      assert.equal(decodeJwt(ok.json().access_token).client_id, clientId)
    }
  })
})

describe('consent for clients that are not first-party', () => {
  it('shows a consent page listing the scopes; deny redirects access_denied, allow redirects a code', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const consentFor = async () => {
      const { verifier, challenge } = pkce()
      const page = await authorizeRequest(app, validParams(THIRD, challenge))
      const cookie = cookieOf(page)
      const res = await postLogin(app, { request: requestIdOf(page.body), username: user.username, password: PASSWORD }, { cookie })
      assertPage(res, 200)
      assert.match(res.body, /Allow third-party to use your account\?/)
      assert.match(res.body, /<strong>me<\/strong>/)
      assert.doesNotMatch(res.body, /<strong>items<\/strong>/)
      return { request: requestIdOf(res.body), cookie, verifier }
    }
    const denied = await consentFor()
    const deny = await app.inject({ method: 'POST', url: '/authorize/consent', headers: { ...FORM, cookie: denied.cookie }, payload: form({ request: denied.request, decision: 'deny' }) })
    assertErrorRedirect(deny, THIRD.redirect, 'access_denied')

    const allowed = await consentFor()
    const foreign = await app.inject({ method: 'POST', url: '/authorize/consent', headers: { ...FORM, cookie: allowed.cookie, origin: 'https://evil.example' }, payload: form({ request: allowed.request, decision: 'allow' }) })
    assertPage(foreign, 403)
    const allow = await app.inject({ method: 'POST', url: '/authorize/consent', headers: { ...FORM, cookie: allowed.cookie }, payload: form({ request: allowed.request, decision: 'allow' }) })
    const code = locationOf(allow).searchParams.get('code')!
    const tokens = await exchange(app, { code, redirect_uri: THIRD.redirect, client_id: THIRD.client_id, code_verifier: allowed.verifier })
    assert.equal(tokens.statusCode, 200)
    assert.equal(tokens.json().scope, 'me')
  })

  it('a third-party client registered without scopes asks admin-only scopes only by name: an admin approving its default request grants no admin', async (t) => {
    const open = { client_id: 'open-third', redirect: 'https://open.example.com/cb' }
    const app = await buildWithClients(t, { OAUTH_CLIENTS_FILE: clientsFile([...CLIENTS, { client_id: open.client_id, public: true, redirect_uris: [open.redirect] }]) })
    const { username } = await adminLogin(app)
    const approve = async (scope?: string) => {
      const { verifier, challenge } = pkce()
      const page = await authorizeRequest(app, validParams(open, challenge, { scope }))
      const cookie = cookieOf(page)
      const consent = await postLogin(app, { request: requestIdOf(page.body), username, password: PASSWORD }, { cookie })
      assertPage(consent, 200)
      const allow = await app.inject({ method: 'POST', url: '/authorize/consent', headers: { ...FORM, cookie }, payload: form({ request: requestIdOf(consent.body), decision: 'allow' }) })
      const tokens = await exchange(app, { code: locationOf(allow).searchParams.get('code')!, redirect_uri: open.redirect, client_id: open.client_id, code_verifier: verifier })
      assert.equal(tokens.statusCode, 200, tokens.body)
      return { consent: consent.body, scope: tokens.json().scope as string }
    }
    const byDefault = await approve()
    assert.doesNotMatch(byDefault.consent, /<strong>admin<\/strong>/)
    assert.deepEqual(byDefault.scope.split(' ').sort(), ['items', 'me'])
    // Named, it is shown on the consent page and granted when allowed.
    const named = await approve('me admin')
    assert.match(named.consent, /<strong>admin<\/strong>/)
    assert.equal(named.scope, 'me admin')
  })

  it('a password change, "log out everywhere", TOTP turned on or the account disabled ends the logins in progress: the consent waiting and the code not yet redeemed', async (t) => {
    const app = await buildWithClients(t)
    const { user } = await registerUser(app)
    const admin = await adminLogin(app)
    const setDisabled = async (disabled: boolean) =>
      assert.equal((await app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: bearer(admin.tokens.access_token), payload: { disabled } })).statusCode, 200)
    let password = PASSWORD
    const changes: Array<[string, () => Promise<unknown>]> = [
      ['log out everywhere', async () => assert.equal((await app.inject({ method: 'DELETE', url: '/users/me/sessions', headers: bearer((await login(app, user.username, password)).access_token) })).statusCode, 204)],
      ['disabled and enabled again', async () => { await setDisabled(true); await setDisabled(false) }],
      ['password change', async () => {
        const res = await app.inject({ method: 'PUT', url: '/users/me/password', headers: bearer((await login(app, user.username, password)).access_token), payload: { current_password: password, new_password: 'a new password, long enough' } })
        assert.equal(res.statusCode, 204, res.body)
        password = 'a new password, long enough'
      }]
    ]
    for (const [change, apply] of changes) {
      // A third-party client's request waiting for consent, and a first-party code not yet redeemed.
      const waiting = await authorizeRequest(app, validParams(THIRD, pkce().challenge))
      const cookie = cookieOf(waiting)
      const consent = await postLogin(app, { request: requestIdOf(waiting.body), username: user.username, password: PASSWORD }, { cookie })
      assertPage(consent, 200)
      const issued = await obtainCode(app, user.username)
      await apply()
      const allow = await app.inject({ method: 'POST', url: '/authorize/consent', headers: { ...FORM, cookie }, payload: form({ request: requestIdOf(consent.body), decision: 'allow' }) })
      assertPage(allow, 400)
      const redeemed = await exchange(app, { code: issued.code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: issued.verifier })
      assert.equal(redeemed.statusCode, 400, `${change}: ${redeemed.body}`)
      assert.equal(redeemed.json().error, 'invalid_grant')
    }
  })

  it('does not take a consent before the login', async (t) => {
    const app = await buildWithClients(t)
    const page = await authorizeRequest(app, validParams(THIRD, pkce().challenge))
    const res = await app.inject({ method: 'POST', url: '/authorize/consent', headers: { ...FORM, cookie: cookieOf(page) }, payload: form({ request: requestIdOf(page.body), decision: 'allow' }) })
    assertPage(res, 400)
  })
})

describe('authorization-code metadata and configuration', () => {
  it('lists the authorization endpoint, response type code and S256 in the RFC 8414 metadata, and the grant', async (t) => {
    const app = await buildWithClients(t)
    const metadata = (await app.inject({ url: '/.well-known/oauth-authorization-server' })).json()
    assert.equal(metadata.authorization_endpoint, `${ISSUER}/authorize`)
    assert.deepEqual(metadata.response_types_supported, ['code'])
    assert.deepEqual(metadata.code_challenge_methods_supported, ['S256'])
    assert.equal(metadata.authorization_response_iss_parameter_supported, true)
    assert.ok(metadata.grant_types_supported.includes('authorization_code'))
  })

  it('refuses an invalid OAUTH_CLIENTS_FILE at start, naming the variable and the problem', () => {
    const good = CLIENTS[0]!
    assertConfigRefused({ OAUTH_CLIENTS_FILE: '/nonexistent/clients.json' }, /OAUTH_CLIENTS_FILE: cannot read/)
    assertConfigRefused({ OAUTH_CLIENTS_FILE: clientsFile({ not: 'an array' }) }, /OAUTH_CLIENTS_FILE: .* must hold a JSON array/)
    assertConfigRefused({ OAUTH_CLIENTS_FILE: clientsFile([{ ...good, redirect_uris: ['https://a.example/cb#x'] }]) }, /OAUTH_CLIENTS_FILE/)
    assertConfigRefused({ OAUTH_CLIENTS_FILE: clientsFile([{ ...good, redirect_uris: ['http://a.example/cb'] }]) }, /OAUTH_CLIENTS_FILE: client app: redirect_uri http:\/\/a.example\/cb: http is for loopback/)
    assertConfigRefused({ OAUTH_CLIENTS_FILE: clientsFile([{ ...good, redirect_uris: ['javascript:alert(1)'] }]) }, /scheme javascript: is not allowed/)
    assertConfigRefused({ OAUTH_CLIENTS_FILE: clientsFile([{ ...good, public: undefined }]) }, /either client_secret_hash/)
    assertConfigRefused({ OAUTH_CLIENTS_FILE: clientsFile([good, good]) }, /listed twice/)
    assertConfigRefused({ OAUTH_CLIENTS_FILE: clientsFile([{ ...good, client_secret_hash: 'plaintext' }]) }, /OAUTH_CLIENTS_FILE\[0\]\.client_secret_hash: expected sha256:/)
  })

  it('registers swagger-ui\'s redirect URI under PUBLIC_URL\'s path, where the browser computes it from /docs\' own address', async (t) => {
    for (const publicUrl of ['https://example.com/auth', 'https://example.com/auth/']) {
      const app = await buildWithClients(t, { PUBLIC_URL: publicUrl })
      const client = await app.authCore.clients.find('swagger-ui')
      assert.deepEqual(client?.redirect_uris, ['https://example.com/auth/docs/static/oauth2-redirect.html'], publicUrl)
    }
  })

  it('appends the answer to a registered query byte for byte', async (t) => {
    const registered = ['https://q.example/cb?a', 'https://q.example/cb?a=b%20c&d=e+f', 'https://q.example/cb?', 'com.example.app:/cb?x=1']
    const app = await buildWithClients(t, { OAUTH_CLIENTS_FILE: clientsFile([{ client_id: 'q', public: true, first_party: true, redirect_uris: registered }]) })
    const { user } = await registerUser(app)
    for (const redirect of registered) {
      const { location } = await obtainCode(app, user.username, { client_id: 'q', redirect })
      const answer = `code=${location.searchParams.get('code')}&state=state-123&iss=${encodeURIComponent(ISSUER)}`
      assert.equal(location.href, redirect.endsWith('?') ? `${redirect}${answer}` : `${redirect}${redirect.includes('?') ? '&' : '?'}${answer}`)
    }
  })

  it('refuses a redirect URI the URL parser would rewrite, so a code never goes to an address that was not registered', () => {
    const refused: Array<[string, RegExp]> = [
      ['https://a.example/cb\nx', /whitespace or a control character/],
      ['https://a.example/c b', /whitespace or a control character/],
      ['https://a.example/cb\t', /whitespace or a control character/],
      ['https://a.example/cb\u0000', /whitespace or a control character/],
      ['http://127.1/cb', /normal form: the URL parser reads it as http:\/\/127\.0\.0\.1\/cb/],
      ['https://A.example/cb', /reads it as https:\/\/a\.example\/cb/],
      ['https://a.example', /reads it as https:\/\/a\.example\//],
      ['https://a.example:443/cb', /reads it as https:\/\/a\.example\/cb/],
      ['https://a.example/a/../cb', /reads it as https:\/\/a\.example\/cb/],
      ['https://a.example/é', /reads it as https:\/\/a\.example\/%C3%A9/],
      ['wss://a.example/cb', /scheme wss: is neither https nor a native app's reversed domain name/],
      ['ftp://a.example/cb', /scheme ftp: is neither/],
      ['intent://cb', /scheme intent: is neither/],
      ['view-source:https://a.example/', /scheme view-source: is neither/],
      ['https://a.example/cb?code=evil', /has code in its query/],
      ['https://a.example/cb?x=1&state=s', /has state in its query/],
      ['com.example.app:/cb?iss=x', /has iss in its query/]
    ]
    for (const [uri, message] of refused) assert.match(redirectUriProblem(uri) ?? 'accepted', message, JSON.stringify(uri))
    for (const uri of ['https://a.example/cb', 'https://a.example/cb?x=1', 'http://127.0.0.1:8080/callback', 'http://[::1]/cb', 'com.example.app:/oauth2redirect', 'https://a.example/%C3%A9']) {
      assert.equal(redirectUriProblem(uri), undefined, uri)
    }
    assertConfigRefused({ OAUTH_CLIENTS_FILE: clientsFile([{ ...CLIENTS[0]!, redirect_uris: ['http://127.1/cb'] }]) }, /OAUTH_CLIENTS_FILE: client app: redirect_uri http:\/\/127\.1\/cb: is not in its normal form/)
  })

  it('registers the built-in swagger-ui client with /docs\' oauth2-redirect page as its one redirect URI', async (t) => {
    const app = await buildWithClients(t)
    const client = await app.authCore.clients.find('swagger-ui')
    assert.deepEqual(client, { client_id: 'swagger-ui', confidential: false, redirect_uris: [`${ISSUER}/docs/static/oauth2-redirect.html`], scopes: null, first_party: true, source: 'built-in' })
    const redirect = await app.inject({ url: '/docs/static/oauth2-redirect.html' })
    assert.equal(redirect.statusCode, 200)
  })
})
