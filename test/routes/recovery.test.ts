import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import { hashToken } from '../../src/identifiers.js'
import auth from '../../plugins/auth/index.js'
import mail from '../../plugins/mail.js'
import authRoutes from '../../routes/auth/index.js'
import { createDatabase } from '../../src/db/connection.js'
import { migrateToLatest } from '../../src/db/migrations.js'
import { createSqlMailStore } from '../../src/stores/sql-mail-store.js'
import { createSqlStore } from '../../src/stores/sql-store.js'
import { adminLogin, assertHttpError, bearer, eventually, PASSWORD, refresh } from '../helper.js'
import { buildMailApp, FAST_WORKER, openLink, passwordLogin, postForm, postJson, registerWithEmail } from '../mail/helpers.js'
import { startSmtp, type TestSmtp } from '../mail/smtp.js'

/*
 * Account recovery and e-mail verification end to end (CONTRACT.md: /forgot-password,
 * /reset-password, /request-verify-token, /verify, "E-mails"): requests over inject, mail
 * through a real SMTP server, links followed from the received messages.
 */

const PUBLIC_URL = 'https://auth.example.test'
const NEW_PASSWORD = 'a completely new passphrase'

async function setup (t: TestContext, env: Record<string, string> = {}, logs?: string[]) {
  const smtp = await startSmtp(t)
  const app = await buildMailApp(t, { env: { SMTP_URL: smtp.url, PUBLIC_URL, ...env }, logs })
  return { smtp, app }
}

/** The one message to `email` beyond the `already` ones, once it arrives. */
async function nextMail (smtp: TestSmtp, email: string, already = 0) {
  const messages = await smtp.waitFor(email, already + 1)
  return messages[already]!
}

/** A user with an e-mail address, and the verification message their registration sent. */
async function userWithMail (t: TestContext, smtp: TestSmtp, app: Awaited<ReturnType<typeof buildMailApp>>) {
  const account = await registerWithEmail(app, 'recover')
  const verification = await nextMail(smtp, account.email)
  return { ...account, verification }
}

/** Asks for a reset e-mail and returns the message that arrives. */
async function resetMail (app: Awaited<ReturnType<typeof buildMailApp>>, smtp: TestSmtp, email: string) {
  const before = smtp.to(email).length
  const res = await postJson(app, '/forgot-password', { email })
  assert.equal(res.statusCode, 202, res.body)
  assert.deepEqual(res.json(), {})
  return nextMail(smtp, email, before)
}

/** Lets the worker run a few times: a message that was going to be sent has been. */
const settle = () => sleep(FAST_WORKER.intervalMs! * 8)

describe('password reset', () => {
  it('sends a reset e-mail whose link opens the form; the token sets the password, ends every session, and works once', async (t) => {
    const logs: string[] = []
    const { smtp, app } = await setup(t, {}, logs)
    const { user, username, email } = await userWithMail(t, smtp, app)
    const before = await passwordLogin(app, username, PASSWORD)
    assert.equal(before.statusCode, 200)
    const session = before.json<{ access_token: string, refresh_token: string }>()

    const message = await resetMail(app, smtp, email)
    assert.equal(message.from, 'no-reply@127.0.0.1', 'MAIL_FROM: no-reply@ and the issuer\'s hostname (http://127.0.0.1:3000 here), without port')
    assert.match(message.headers.subject ?? '', /reset your password/i)
    assert.ok(message.text !== undefined, 'a plain-text part')
    assert.ok(message.html !== undefined, 'an HTML part')
    assert.match(message.text, new RegExp(`${PUBLIC_URL}/reset-password\\?token=[A-Za-z0-9_-]{43}\\r?\\n`))
    assert.ok(message.token !== undefined && message.link !== undefined)
    assert.ok(Buffer.from(message.token, 'base64url').length >= 16, 'at least 128 bits')

    // Only the SHA-256 of the token is stored, and the sent message's body is erased.
    const stored = await app.db.selectFrom('email_tokens').selectAll().where('user_id', '=', user.id).where('purpose', '=', 'reset').execute()
    assert.deepEqual(stored.map(row => row.token_hash), [hashToken(message.token)])
    // The SMTP server has the message before the worker records the send and erases the body.
    const outbox = await eventually(() => app.db.selectFrom('mail_outbox').selectAll().execute(), rows => rows.every(row => row.sent_at !== null))
    assert.equal(JSON.stringify(outbox).includes(message.token), false, 'no token left in the outbox')

    // Opening the link (twice, as a mail scanner might) consumes nothing.
    for (let i = 0; i < 2; i++) {
      const page = await openLink(app, message.link)
      assert.equal(page.statusCode, 200)
      assert.match(String(page.headers['content-type']), /^text\/html; charset=utf-8/)
      assert.match(page.body, /<form method="post" action="reset-password">/)
      assert.ok(page.body.includes(`value="${message.token}"`))
    }

    const res = await postJson(app, '/reset-password', { token: message.token, password: NEW_PASSWORD })
    assert.equal(res.statusCode, 204, res.body)
    assert.equal((await passwordLogin(app, username, PASSWORD)).statusCode, 400, 'the old password no longer works')
    assert.equal((await passwordLogin(app, username, NEW_PASSWORD)).statusCode, 200, 'the new one does')
    // Every session of the user ended: the access token and the refresh token of before.
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(session.access_token) })).statusCode, 401)
    assert.equal((await refresh(app, session.refresh_token)).statusCode, 400)

    // Used once: again, it is refused, and its page says so.
    assertHttpError(await postJson(app, '/reset-password', { token: message.token, password: 'yet another passphrase' }), 400, 'Bad Request')
    assert.equal((await openLink(app, message.link)).statusCode, 400)
    assert.equal((await passwordLogin(app, username, NEW_PASSWORD)).statusCode, 200)

    // The event is logged, without the token or the password.
    const events = logs.map(line => JSON.parse(line)).filter(entry => entry.event === 'password-reset')
    assert.deepEqual(events.map(e => [e.outcome, e.userId]), [['success', user.id], ['failure', undefined]])
    const all = logs.join('\n')
    assert.equal(all.includes(message.token), false, 'the token is not logged, not even the URL of the page')
    assert.equal(all.includes(NEW_PASSWORD), false)
  })

  it('marks the address verified, since the link reached it', async (t) => {
    const { smtp, app } = await setup(t)
    const { username, email } = await userWithMail(t, smtp, app)
    const message = await resetMail(app, smtp, email)
    assert.equal((await postJson(app, '/reset-password', { token: message.token!, password: NEW_PASSWORD })).statusCode, 204)
    const tokens = (await passwordLogin(app, username, NEW_PASSWORD)).json<{ access_token: string }>()
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).json().email_verified, true)
  })

  it('expires the token after 60 minutes', async (t) => {
    const { smtp, app } = await setup(t)
    const { username, email } = await userWithMail(t, smtp, app)
    const message = await resetMail(app, smtp, email)
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    t.mock.timers.tick(59 * 60_000)
    assert.equal((await openLink(app, message.link!)).statusCode, 200, 'live at 59 minutes')
    t.mock.timers.tick(60_000)
    assert.equal((await openLink(app, message.link!)).statusCode, 400, 'expired at 60 minutes')
    assertHttpError(await postJson(app, '/reset-password', { token: message.token!, password: NEW_PASSWORD }), 400, 'Bad Request')
    t.mock.timers.reset()
    assert.equal((await passwordLogin(app, username, PASSWORD)).statusCode, 200, 'the password is unchanged')
  })

  it('replaces an older token with a newer one', async (t) => {
    const { smtp, app } = await setup(t, { EMAIL_COOLDOWN_SECONDS: '0' })
    const { username, email } = await userWithMail(t, smtp, app)
    const first = await resetMail(app, smtp, email)
    const second = await resetMail(app, smtp, email)
    assert.notEqual(first.token, second.token)
    assertHttpError(await postJson(app, '/reset-password', { token: first.token!, password: NEW_PASSWORD }), 400, 'Bad Request')
    assert.equal((await postJson(app, '/reset-password', { token: second.token!, password: NEW_PASSWORD })).statusCode, 204)
    assert.equal((await passwordLogin(app, username, NEW_PASSWORD)).statusCode, 200)
  })

  it('lets exactly one of two racing uses of a token succeed', async (t) => {
    const { smtp, app } = await setup(t)
    const { username, email } = await userWithMail(t, smtp, app)
    const message = await resetMail(app, smtp, email)
    const [a, b] = await Promise.all(['first racing passphrase', 'second racing passphrase'].map(password =>
      postJson(app, '/reset-password', { token: message.token!, password })))
    assert.deepEqual([a!.statusCode, b!.statusCode].sort(), [204, 400])
    const winner = a!.statusCode === 204 ? 'first racing passphrase' : 'second racing passphrase'
    assert.equal((await passwordLogin(app, username, winner)).statusCode, 200)
  })

  it('applies the password policy, and a refused password leaves the token usable', async (t) => {
    const { smtp, app } = await setup(t)
    const { email } = await userWithMail(t, smtp, app)
    const message = await resetMail(app, smtp, email)
    for (const weak of ['short', 'password123', '12345678']) {
      assertHttpError(await postJson(app, '/reset-password', { token: message.token!, password: weak }), 400, 'Bad Request')
    }
    assert.equal((await postJson(app, '/reset-password', { token: message.token!, password: NEW_PASSWORD })).statusCode, 204)
  })

  it('answers 202 {} and sends nothing for an unknown address or a disabled account', async (t) => {
    const { smtp, app } = await setup(t)
    const { user, email } = await userWithMail(t, smtp, app)
    const admin = await adminLogin(app)
    assert.equal((await app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: bearer(admin.tokens.access_token), payload: { disabled: true } })).statusCode, 200)
    for (const address of ['nobody-here@example.com', email]) {
      const res = await postJson(app, '/forgot-password', { email: address })
      assert.equal(res.statusCode, 202)
      assert.equal(res.body, '{}')
    }
    await settle()
    assert.equal(smtp.to('nobody-here@example.com').length, 0)
    assert.equal(smtp.to(email).length, 1, 'only the verification of the registration')
  })

  it('finds the account whatever the case of the address', async (t) => {
    const { smtp, app } = await setup(t)
    const { email } = await userWithMail(t, smtp, app)
    const message = await resetMail(app, smtp, email.toUpperCase())
    assert.deepEqual(message.to, [email], 'sent to the address of the account')
  })

  const invalid: Array<[string, unknown]> = [
    ['no body', undefined],
    ['no email', {}],
    ['not an e-mail', { email: 'not-an-address' }],
    ['an array', { email: ['a@example.com', 'b@example.com'] }],
    ['an extra property', { email: 'a@example.com', admin: true }]
  ]
  for (const [name, payload] of invalid) {
    it(`answers 400 to /forgot-password with ${name}`, async (t) => {
      const { app } = await setup(t)
      assertHttpError(await app.inject({ method: 'POST', url: '/forgot-password', payload: payload as object }), 400, 'Bad Request')
    })
  }

  for (const [name, payload] of [
    ['an unknown token', { token: 'x'.repeat(43), password: NEW_PASSWORD }],
    ['no token', { password: NEW_PASSWORD }],
    ['no password', { token: 'x'.repeat(43) }],
    ['a token that is not a string', { token: 12345, password: NEW_PASSWORD }]
  ] as const) {
    it(`answers 400 to /reset-password with ${name}`, async (t) => {
      const { app } = await setup(t)
      assertHttpError(await postJson(app, '/reset-password', payload), 400, 'Bad Request')
    })
  }

  it('answers the page\'s form post with pages: changed, or why not', async (t) => {
    const { smtp, app } = await setup(t)
    const { username, email } = await userWithMail(t, smtp, app)
    const message = await resetMail(app, smtp, email)
    const weak = await postForm(app, '/reset-password', { token: message.token!, password: 'password123' })
    assert.equal(weak.statusCode, 400)
    assert.match(String(weak.headers['content-type']), /^text\/html/)
    assert.match(weak.body, /Choose another password/)
    const done = await postForm(app, '/reset-password', { token: message.token!, password: NEW_PASSWORD })
    assert.equal(done.statusCode, 200)
    assert.match(String(done.headers['content-type']), /^text\/html/)
    assert.match(done.body, /Password changed/)
    const again = await postForm(app, '/reset-password', { token: message.token!, password: NEW_PASSWORD })
    assert.equal(again.statusCode, 400)
    assert.match(again.body, /This link does not work/)
    assert.equal((await passwordLogin(app, username, NEW_PASSWORD)).statusCode, 200)
  })

  it('serves the pages with a strict Content-Security-Policy, no Referer, no caching, and nothing inline', async (t) => {
    const { smtp, app } = await setup(t)
    const { email, verification } = await userWithMail(t, smtp, app)
    const message = await resetMail(app, smtp, email)
    for (const link of [message.link!, verification.link!]) {
      const page = await openLink(app, link)
      assert.equal(page.statusCode, 200)
      assert.match(String(page.headers['content-security-policy']), /default-src 'none'/)
      assert.equal(page.headers['referrer-policy'], 'no-referrer')
      assert.equal(page.headers['cache-control'], 'no-store')
      assert.doesNotMatch(page.body, /<script|<style|\sstyle=|\son[a-z]+=/i)
    }
  })
})

describe('e-mail verification', () => {
  it('sends a verification e-mail at registration; its page posts the token, which verifies the address once', async (t) => {
    const { smtp, app } = await setup(t)
    const { user, username, email, verification } = await userWithMail(t, smtp, app)
    assert.equal(user.email_verified, false)
    assert.match(verification.headers.subject ?? '', /confirm your e-mail address/i)
    assert.match(verification.text ?? '', new RegExp(`${PUBLIC_URL}/verify\\?token=[A-Za-z0-9_-]{43}\\r?\\n`))

    const page = await openLink(app, verification.link!)
    assert.equal(page.statusCode, 200)
    assert.match(page.body, /<form method="post" action="verify">/)
    assert.equal((page.body.match(/<button/g) ?? []).length, 1, 'one button')
    const { access_token: accessToken } = (await passwordLogin(app, username, PASSWORD)).json<{ access_token: string }>()
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(accessToken) })).json().email_verified, false, 'opening the page verified nothing')

    const res = await postJson(app, '/verify', { token: verification.token! })
    assert.equal(res.statusCode, 200, res.body)
    assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8$/)
    assert.deepEqual(Object.keys(res.json()).sort(), ['created_at', 'disabled', 'email', 'email_verified', 'full_name', 'id', 'is_admin', 'mfa_enabled', 'scopes', 'username'])
    assert.deepEqual({ id: res.json().id, email: res.json().email, email_verified: res.json().email_verified }, { id: user.id, email, email_verified: true })
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(accessToken) })).json().email_verified, true)
    assertHttpError(await postJson(app, '/verify', { token: verification.token! }), 400, 'Bad Request')
  })

  it('expires the token after 48 hours', async (t) => {
    const { smtp, app } = await setup(t)
    const { verification } = await userWithMail(t, smtp, app)
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    t.mock.timers.tick(48 * 3600_000 - 60_000)
    assert.equal((await openLink(app, verification.link!)).statusCode, 200, 'live just before 48 hours')
    t.mock.timers.tick(60_000)
    assertHttpError(await postJson(app, '/verify', { token: verification.token! }), 400, 'Bad Request')
  })

  it('sends a new link on /request-verify-token, which replaces the older one; nothing once verified', async (t) => {
    const { smtp, app } = await setup(t, { EMAIL_COOLDOWN_SECONDS: '0' })
    const { email, verification } = await userWithMail(t, smtp, app)
    const res = await postJson(app, '/request-verify-token', { email })
    assert.equal(res.statusCode, 202)
    assert.deepEqual(res.json(), {})
    const newer = await nextMail(smtp, email, 1)
    assertHttpError(await postJson(app, '/verify', { token: verification.token! }), 400, 'Bad Request')
    assert.equal((await postJson(app, '/verify', { token: newer.token! })).statusCode, 200)

    assert.equal((await postJson(app, '/request-verify-token', { email })).statusCode, 202)
    assert.equal((await postJson(app, '/request-verify-token', { email: 'nobody-at-all@example.com' })).statusCode, 202)
    await settle()
    assert.equal(smtp.to(email).length, 2, 'no message for a verified address')
    assert.equal(smtp.to('nobody-at-all@example.com').length, 0)
  })

  it('answers the page\'s form post with a page', async (t) => {
    const { smtp, app } = await setup(t)
    const { email, verification } = await userWithMail(t, smtp, app)
    const res = await postForm(app, '/verify', { token: verification.token! })
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^text\/html/)
    assert.ok(res.body.includes(email))
    const again = await postForm(app, '/verify', { token: verification.token! })
    assert.equal(again.statusCode, 400)
    assert.match(again.body, /This link does not work/)
  })

  it('unverifies a changed address (PATCH /users/me) and sends a link to the new one; the old link verifies nothing', async (t) => {
    const { smtp, app } = await setup(t)
    const { username, email, verification } = await userWithMail(t, smtp, app)
    const { access_token: accessToken } = (await passwordLogin(app, username, PASSWORD)).json<{ access_token: string }>()
    const newer = await nextMail(smtp, email, 0)
    assert.equal((await postJson(app, '/verify', { token: newer.token! })).statusCode, 200)

    // The same address in another case keeps its verification and sends nothing.
    const same = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(accessToken), payload: { email: email.toUpperCase() } })
    assert.equal(same.json().email_verified, true)

    const changedTo = `changed-${email}`
    const changed = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(accessToken), payload: { email: changedTo, current_password: PASSWORD } })
    assert.equal(changed.statusCode, 200)
    assert.equal(changed.json().email_verified, false)
    const toNew = await nextMail(smtp, changedTo)
    assert.match(toNew.text ?? '', /\/verify\?token=/)
    const notice = await nextMail(smtp, email, 1)
    assert.match(notice.headers.subject ?? '', /e-mail address .* was changed/i)
    assert.ok(notice.text?.includes(changedTo), 'the notice names the new address')
    assert.equal(notice.token, undefined, 'and carries no link with a token')
    await settle()
    assert.equal(smtp.to(email).length, 2, 'nothing more to the old address than the notice')
    assert.equal(verification.token, newer.token)

    // A reset link sent to the old address no longer works once the address changed.
    assert.equal((await postJson(app, '/forgot-password', { email })).statusCode, 202)
    assert.equal((await postJson(app, '/verify', { token: toNew.token! })).json().email_verified, true)
  })

  it('does not verify a new address with a link sent to the former one', async (t) => {
    const { smtp, app } = await setup(t)
    const { username, email, verification } = await userWithMail(t, smtp, app)
    const { access_token: accessToken } = (await passwordLogin(app, username, PASSWORD)).json<{ access_token: string }>()
    const reset = await resetMail(app, smtp, email)
    assert.equal((await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(accessToken), payload: { email: `moved-${email}`, current_password: PASSWORD } })).statusCode, 200)
    assertHttpError(await postJson(app, '/verify', { token: verification.token! }), 400, 'Bad Request')
    assertHttpError(await postJson(app, '/reset-password', { token: reset.token!, password: NEW_PASSWORD }), 400, 'Bad Request')
  })

  it('lets admins see and set email_verified, and sends a link when they change an address', async (t) => {
    const { smtp, app } = await setup(t)
    const { user, email } = await userWithMail(t, smtp, app)
    const { tokens } = await adminLogin(app)
    const patch = (payload: object) => app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: bearer(tokens.access_token), payload: payload as Record<string, unknown> })
    assert.equal((await app.inject({ url: `/users/${user.id}`, headers: bearer(tokens.access_token) })).json().email_verified, false)
    assert.equal((await patch({ email_verified: true })).json().email_verified, true)
    assert.equal((await patch({ email_verified: false })).json().email_verified, false)

    const moved = `admin-moved-${email}`
    const changed = await patch({ email: moved })
    assert.equal(changed.json().email_verified, false)
    await nextMail(smtp, moved)
    const notice = await nextMail(smtp, email, 1)
    assert.ok(notice.text?.includes(moved), 'the old address is told of an admin\'s change too')
    const both = await patch({ email: `set-${email}`, email_verified: true })
    assert.equal(both.json().email_verified, true, 'an admin may vouch for an address')
    await settle()
    assert.equal(smtp.to(`set-${email}`).length, 0, 'no link for an address the admin verified')
    assertHttpError(await patch({ email_verified: 'yes' }), 400, 'Bad Request')
  })
})

describe('REQUIRE_VERIFIED_EMAIL=true', () => {
  it('refuses the password login of an unverified user with the wrong-password answer, only once the password is right', async (t) => {
    const { smtp, app } = await setup(t, { REQUIRE_VERIFIED_EMAIL: 'true' })
    const { username, verification } = await userWithMail(t, smtp, app)
    const wrong = await passwordLogin(app, username, 'not the password at all')
    const right = await passwordLogin(app, username, PASSWORD)
    assert.equal(wrong.statusCode, 400)
    assert.equal(right.statusCode, 400)
    assert.deepEqual(right.json(), wrong.json(), 'the same invalid_grant answer')
    assert.equal(right.json().error, 'invalid_grant')

    assert.equal((await postJson(app, '/verify', { token: verification.token! })).statusCode, 200)
    assert.equal((await passwordLogin(app, username, PASSWORD)).statusCode, 200)
  })

  it('lets users log in without it (the default)', async (t) => {
    const { smtp, app } = await setup(t)
    const { username } = await userWithMail(t, smtp, app)
    assert.equal((await passwordLogin(app, username, PASSWORD)).statusCode, 200)
  })
})

describe('rate limits of /forgot-password and /request-verify-token', () => {
  it('limit per client address alike for known and unknown addresses', async (t) => {
    const { smtp, app } = await setup(t, { TOKEN_RATE_LIMIT: '4', EMAIL_RATE_LIMIT: '0' })
    const { email } = await userWithMail(t, smtp, app)
    const statuses = []
    for (const address of [email, 'unknown-1@example.com', email, 'unknown-2@example.com', email, 'unknown-3@example.com']) {
      statuses.push((await postJson(app, '/forgot-password', { email: address })).statusCode)
    }
    assert.deepEqual(statuses, [202, 202, 202, 202, 429, 429])
  })

  it('limit mail actually sent per account, one of each kind per cooldown, alike for known and unknown addresses', async (t) => {
    const { smtp, app } = await setup(t, { TOKEN_RATE_LIMIT: '0' })
    const { email } = await userWithMail(t, smtp, app) // its registration sent the verification
    for (const address of [email, 'unknown-person@example.com']) {
      const answers = [
        await postJson(app, '/forgot-password', { email: address }),
        await postJson(app, '/request-verify-token', { email: address.toUpperCase() }),
        await postJson(app, '/forgot-password', { email: address })
      ]
      assert.deepEqual(answers.map(a => a.statusCode), [202, 202, 202], address)
    }
    await smtp.waitFor(email, 2) // the worker resolves the queued requests at its polls
    await settle()
    assert.deepEqual(smtp.to(email).map(m => m.headers.subject?.split(' ')[0]), ['Confirm', 'Reset'], 'one verification (at registration), one reset')
  })
})

describe('the recovery routes in an app of your own', () => {
  it('serve under authRoutes\' prefix, with links to it, on the mail plugin with the SQL store', async (t) => {
    const smtp = await startSmtp(t)
    const { db } = createDatabase('sqlite::memory:')
    t.after(() => db.destroy())
    await migrateToLatest(db)
    const app = Fastify()
    t.after(() => app.close())
    await app.register(auth, { store: createSqlStore(db), jwt: { secret: 'a-mounted-app-secret-of-at-least-32-bytes', issuer: 'https://api.example.test' } })
    await app.register(mail, { store: createSqlMailStore(db), smtpUrl: smtp.url, publicUrl: 'https://api.example.test/auth', worker: FAST_WORKER })
    await app.register(authRoutes, { prefix: '/auth' })
    await app.ready()
    app.mailOutbox.start() // a server would start it when listening

    const email = 'mounted-user@example.com'
    const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'mounteduser', password: PASSWORD, email } })
    assert.equal(registered.statusCode, 201)
    const verification = await nextMail(smtp, email)
    assert.equal(verification.from, 'no-reply@api.example.test')
    assert.match(verification.link ?? '', /^https:\/\/api\.example\.test\/auth\/verify\?token=/)
    const page = await openLink(app, verification.link!)
    assert.equal(page.statusCode, 200)
    assert.equal((await postJson(app, '/auth/verify', { token: verification.token! })).statusCode, 200)
    assert.equal((await postJson(app, '/auth/forgot-password', { email })).statusCode, 202)
    const reset = await nextMail(smtp, email, 1)
    assert.equal((await postJson(app, '/auth/reset-password', { token: reset.token!, password: NEW_PASSWORD })).statusCode, 204)
  })

  it('are absent without the mail plugin', async (t) => {
    const app = Fastify()
    t.after(() => app.close())
    await app.register(auth, { jwt: { secret: 'a-mounted-app-secret-of-at-least-32-bytes' } })
    await app.register(authRoutes, { prefix: '/auth' })
    assert.equal((await postJson(app, '/auth/forgot-password', { email: 'a@example.com' })).statusCode, 404)
  })

  it('refuses invalid mail plugin options at register, naming them', async (t) => {
    const cases: Array<[string, object, RegExp]> = [
      ['no store', {}, /store/],
      ['an SMTP URL of another scheme', { smtpUrl: 'http://mail.example.com' }, /smtpUrl/],
      ['a public URL that is not http(s)', { publicUrl: 'ftp://example.com' }, /publicUrl/],
      ['a worker interval of 0', { worker: { intervalMs: 0 } }, /worker\.intervalMs/]
    ]
    for (const [name, options, message] of cases) {
      const app = Fastify()
      t.after(() => app.close())
      await app.register(auth, { jwt: { secret: 'a-mounted-app-secret-of-at-least-32-bytes', issuer: 'https://api.example.test' } })
      const { db } = createDatabase('sqlite::memory:')
      t.after(() => db.destroy())
      const store = name === 'no store' ? undefined : createSqlMailStore(db)
      await assert.rejects(async () => {
        await app.register(mail, { store, ...options } as never)
        await app.ready()
      }, (error: Error) => /^mail plugin: /.test(error.message) && message.test(error.message), name)
    }
  })
})

describe('the recovery routes in /openapi.json', () => {
  it('are documented with an operationId, a request schema with examples, and their answers', async (t) => {
    const { app } = await setup(t)
    const doc = (await app.inject('/openapi.json')).json()
    const expected: Array<[string, string, string, string[]]> = [
      ['/forgot-password', 'post', 'forgotPassword', ['202', '400', '429']],
      ['/reset-password', 'post', 'resetPassword', ['200', '204', '400', '429']],
      ['/reset-password', 'get', 'resetPasswordPage', ['200', '400']],
      ['/request-verify-token', 'post', 'requestVerifyToken', ['202', '400', '429']],
      ['/verify', 'post', 'verify', ['200', '400', '429']],
      ['/verify', 'get', 'verifyPage', ['200', '400']]
    ]
    for (const [path, method, operationId, statuses] of expected) {
      const op = doc.paths[path]?.[method]
      assert.ok(op !== undefined, `${method} ${path}`)
      assert.equal(op.operationId, operationId)
      assert.deepEqual(op.tags, ['auth'])
      assert.equal(op.security, undefined, `${method} ${path} is public`)
      for (const status of statuses) assert.ok(op.responses[status] !== undefined, `${method} ${path} documents ${status}`)
    }
    const forgot = doc.paths['/forgot-password'].post.requestBody.content['application/json'].schema
    assert.deepEqual(forgot.required, ['email'])
    assert.ok(forgot.properties.email.examples?.length > 0 || forgot.properties.email.example !== undefined)
    const reset = doc.paths['/reset-password'].post.requestBody.content
    assert.ok('application/json' in reset && 'application/x-www-form-urlencoded' in reset)
    assert.ok('text/html' in doc.paths['/reset-password'].get.responses['200'].content)
  })
})
