import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { adminLogin, assertHttpError, bearer, PASSWORD } from '../helper.js'
import { buildMailApp, FAST_WORKER, passwordLogin, postJson, registerWithEmail } from '../mail/helpers.js'
import { startSmtp, type TestSmtp } from '../mail/smtp.js'

/*
 * Issue 18's abuse cases of the account flows (docs/threat-model.md: "e-mail change",
 * "recovery"), from the attacker's side: a thief holding one access token, a stranger who knows
 * an address, and the chains across flows. Mail goes through a real SMTP server.
 */

const NEW_PASSWORD = 'a completely new passphrase'
const ATTACKER = 'thief@attacker.example'

async function setup (t: TestContext, env: Record<string, string> = {}) {
  const smtp = await startSmtp(t)
  const app = await buildMailApp(t, { env: { SMTP_URL: smtp.url, TOKEN_RATE_LIMIT: '0', ...env } })
  const victim = await registerWithEmail(app, 'victim')
  await smtp.waitFor(victim.email, 1) // the verification sent at registration
  const tokens = (await passwordLogin(app, victim.username, PASSWORD)).json<{ access_token: string }>()
  return { smtp, app, victim, accessToken: tokens.access_token }
}

/** Lets the worker run a few times: a message that was going to be sent has been. */
const settle = () => sleep(FAST_WORKER.intervalMs! * 8)
const subjects = (smtp: TestSmtp, to: string) => smtp.to(to).map(m => m.headers.subject ?? '')

describe('a stolen access token is not a key to the account', () => {
  it('cannot move the e-mail address without the password, so a reset cannot be sent to the thief', async (t) => {
    const { smtp, app, victim, accessToken } = await setup(t)
    const patch = (payload: Record<string, unknown>) => app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(accessToken), payload })

    for (const payload of [{ email: ATTACKER }, { email: null }, { email: ATTACKER, full_name: 'x' }]) {
      const refused = await patch(payload)
      assertHttpError(refused, 400, 'Bad Request')
      assert.match(refused.json().message, /current_password/)
    }
    const me = await app.inject({ url: '/users/me', headers: bearer(accessToken) })
    assert.equal(me.json().email, victim.email, 'nothing changed')
    assert.equal(me.json().full_name, null)

    // The chain of the finding: the reset for the thief's address goes nowhere.
    assert.equal((await postJson(app, '/forgot-password', { email: ATTACKER })).statusCode, 202)
    await settle()
    assert.deepEqual(smtp.to(ATTACKER), [], 'no mail to the thief')
  })

  it('counts wrong current passwords toward the account\'s lock, which then holds even the right one and /token', async (t) => {
    const { app, victim, accessToken } = await setup(t)
    const patch = (password: string) => app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(accessToken), payload: { email: ATTACKER, current_password: password } })
    for (let i = 0; i < 10; i++) assertHttpError(await patch(`guess number ${i}`), 400, 'Bad Request')
    const locked = await patch(PASSWORD)
    assertHttpError(locked, 429, 'Too Many Requests')
    assert.ok(Number(locked.headers['retry-after']) > 0)
    const change = await app.inject({ method: 'PUT', url: '/users/me/password', headers: bearer(accessToken), payload: { current_password: PASSWORD, new_password: NEW_PASSWORD } })
    assertHttpError(change, 429, 'Too Many Requests')
    assert.equal((await passwordLogin(app, victim.username, PASSWORD)).statusCode, 429, 'the password grant shares the lock')
  })

  it('the owner moves the address with the password; the old address is told, naming the new one', async (t) => {
    const { smtp, app, victim, accessToken } = await setup(t)
    const moved = `moved-${victim.email}`
    const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(accessToken), payload: { email: moved, current_password: PASSWORD } })
    assert.equal(res.statusCode, 200, res.body)
    assert.equal(res.json().email, moved)
    const [, notice] = await smtp.waitFor(victim.email, 2)
    assert.match(notice!.headers.subject ?? '', /e-mail address .* was changed/i)
    assert.ok(notice!.text?.includes(moved))
    // The same address in another case is no change: no password asked, nothing sent.
    const same = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(accessToken), payload: { email: moved.toUpperCase() } })
    assert.equal(same.statusCode, 200, same.body)
    // An empty patch (what /docs pre-fills) changes nothing.
    const empty = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(accessToken), payload: {} })
    assert.equal(empty.statusCode, 200)
    assert.equal(empty.json().email, moved.toUpperCase())
  })

  it('a password change is told to the account\'s address', async (t) => {
    const { smtp, app, victim, accessToken } = await setup(t)
    const res = await app.inject({ method: 'PUT', url: '/users/me/password', headers: bearer(accessToken), payload: { current_password: PASSWORD, new_password: NEW_PASSWORD } })
    assert.equal(res.statusCode, 204)
    const [, notice] = await smtp.waitFor(victim.email, 2)
    assert.match(notice!.headers.subject ?? '', /password .* was changed/i)
  })
})

describe('no stranger can keep a user from recovering the account', () => {
  it('verification requests for the victim\'s address never hold back the victim\'s reset', async (t) => {
    const { smtp, app, victim } = await setup(t)
    for (let i = 0; i < 10; i++) assert.equal((await postJson(app, '/request-verify-token', { email: victim.email })).statusCode, 202)
    assert.equal((await postJson(app, '/forgot-password', { email: victim.email })).statusCode, 202)
    const messages = await smtp.waitFor(victim.email, 2)
    assert.match(messages[1]!.headers.subject ?? '', /reset your password/i)
    await settle()
    assert.equal(subjects(smtp, victim.email).length, 2, 'one verification (registration), one reset: no mail bombing')
  })

  it('repeated reset requests within the cooldown send one mail and keep its link live; users unlock lifts the cooldown', async (t) => {
    const { smtp, app, victim } = await setup(t)
    for (let i = 0; i < 5; i++) assert.equal((await postJson(app, '/forgot-password', { email: victim.email })).statusCode, 202)
    const [, first] = await smtp.waitFor(victim.email, 2)
    await settle()
    assert.equal(smtp.to(victim.email).length, 2)

    const { tokens } = await adminLogin(app)
    assert.equal((await app.inject({ method: 'DELETE', url: `/users/${victim.user.id}/lockout`, headers: bearer(tokens.access_token) })).statusCode, 204)
    assert.equal((await postJson(app, '/forgot-password', { email: victim.email })).statusCode, 202)
    const [, , second] = await smtp.waitFor(victim.email, 3)
    assert.notEqual(second!.token, first!.token)
    assert.equal((await postJson(app, '/reset-password', { token: second!.token!, password: NEW_PASSWORD })).statusCode, 204)
  })

  it('a successful reset ends the login lock that strangers\' wrong passwords put on the account', async (t) => {
    const { smtp, app, victim } = await setup(t)
    for (let i = 0; i < 10; i++) await passwordLogin(app, victim.username, `wrong guess ${i}`)
    assert.equal((await passwordLogin(app, victim.username, PASSWORD)).statusCode, 429, 'locked')
    assert.equal((await postJson(app, '/forgot-password', { email: victim.email })).statusCode, 202)
    const [, reset] = await smtp.waitFor(victim.email, 2)
    assert.equal((await postJson(app, '/reset-password', { token: reset!.token!, password: NEW_PASSWORD })).statusCode, 204)
    assert.equal((await passwordLogin(app, victim.username, NEW_PASSWORD)).statusCode, 200, 'no lock after the reset')
  })
})

describe('credentials change, old links die', () => {
  it('a password change makes a reset link sent before it dead', async (t) => {
    const { smtp, app, victim, accessToken } = await setup(t)
    assert.equal((await postJson(app, '/forgot-password', { email: victim.email })).statusCode, 202)
    const [, reset] = await smtp.waitFor(victim.email, 2)
    const change = await app.inject({ method: 'PUT', url: '/users/me/password', headers: bearer(accessToken), payload: { current_password: PASSWORD, new_password: NEW_PASSWORD } })
    assert.equal(change.statusCode, 204)
    assertHttpError(await postJson(app, '/reset-password', { token: reset!.token!, password: 'the thief would set this one' }), 400, 'Bad Request')
    assert.equal((await passwordLogin(app, victim.username, NEW_PASSWORD)).statusCode, 200)
  })

  it('a reset makes any other reset link dead, and a refused new password leaves the link usable', async (t) => {
    const { smtp, app, victim } = await setup(t, { EMAIL_COOLDOWN_SECONDS: '0' })
    assert.equal((await postJson(app, '/forgot-password', { email: victim.email })).statusCode, 202)
    const [, reset] = await smtp.waitFor(victim.email, 2)
    assertHttpError(await postJson(app, '/reset-password', { token: reset!.token!, password: 'short' }), 400, 'Bad Request')
    assert.equal((await postJson(app, '/reset-password', { token: reset!.token!, password: NEW_PASSWORD })).statusCode, 204)
    assertHttpError(await postJson(app, '/reset-password', { token: reset!.token!, password: 'and once more please' }), 400, 'Bad Request')
  })
})
