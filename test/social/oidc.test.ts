import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { APP, exchange, submitForm } from '../authorization-helpers.js'
import { amrOf, codeAt, enrol } from '../routes/mfa-helpers.js'
import { bearer, getMe, login, passwordGrant, registerUser, storeOf, uniqueName } from '../helper.js'
import { buildWithProviders, OIDC, openCallback, socialLogin, startOidcProvider, toCallback, traced } from './upstream.js'

/*
 * Social login against a real OpenID Connect provider (oidc-provider on 127.0.0.1), driven as a
 * browser would: /authorize → the login page's link → the provider → our callback → the code →
 * /token → /users/me. Threat model: "Social login (OIDC, GitHub)", X1–X19.
 */

async function setup (t: import('node:test').TestContext, env: Record<string, string> = {}) {
  const upstream = await startOidcProvider(t)
  const app = await buildWithProviders(t, [{ ...OIDC, issuer: upstream.issuer }], env)
  return { upstream, app }
}

const eventsOf = (app: import('fastify').FastifyInstance, userId: string) =>
  app.db.selectFrom('audit_events').select(['type', 'data']).where('user_id', '=', userId).orderBy('at').execute()

describe('social login (OpenID Connect, oidc-provider upstream)', { concurrency: 3 }, () => {
  it('a new user: the whole flow traced, a user without a password (user.created, identity.linked), then the same user again by subject, whatever its e-mail now', async (t) => {
    const { upstream, app } = await setup(t)
    const sub = uniqueName('sub')
    upstream.login({ sub, email: `${sub}@example.org`, email_verified: true, preferred_username: 'Ada Lovelace' })
    const { tokens, hops } = await socialLogin(app, OIDC.id)
    t.diagnostic(`social flow:\n${traced(hops)}`)
    const me = (await getMe(app, tokens.access_token)).json()
    assert.equal(me.email, `${sub}@example.org`)
    assert.equal(me.email_verified, true)
    assert.equal(me.username, 'Ada_Lovelace')
    const stored = await storeOf(app).users.findById(me.id)
    assert.equal(stored?.password_hash, null)
    const types = (await eventsOf(app, me.id)).map(e => e.type)
    assert.ok(types.includes('user.created') && types.includes('identity.linked'), types.join())
    const list = await app.inject({ url: '/users/me/identities', headers: bearer(tokens.access_token) })
    assert.equal(list.statusCode, 200)
    assert.deepEqual(list.json().map((i: { provider: string, subject: string }) => [i.provider, i.subject]), [[OIDC.id, sub]])
    // X9: the provider's address changes: the identity (provider, sub) still logs the same user in.
    upstream.login({ sub, email: `changed-${sub}@example.org`, email_verified: true })
    const again = await socialLogin(app, OIDC.id)
    assert.equal((await getMe(app, again.tokens.access_token)).json().id, me.id)
  })

  it('links to a local account only when both sides verified the same e-mail', async (t) => {
    const { upstream, app } = await setup(t)
    const { user } = await registerUser(app, { email: `${uniqueName('both')}@example.org` })
    await app.authAccounts.markEmailVerified(user.id)
    upstream.login({ sub: uniqueName('sub'), email: user.email!, email_verified: true })
    const { tokens } = await socialLogin(app, OIDC.id)
    assert.equal((await getMe(app, tokens.access_token)).json().id, user.id)
    // The password still works: nothing was replaced.
    await login(app, user.username)
  })

  it('X1: an unverified provider e-mail never links to the local account (a page), and no second account is made', async (t) => {
    const { upstream, app } = await setup(t)
    const { user } = await registerUser(app, { email: `${uniqueName('victim')}@example.org` })
    await app.authAccounts.markEmailVerified(user.id)
    for (const emailVerified of [false, undefined, 'true']) {
      upstream.login({ sub: uniqueName('attacker'), email: user.email!, email_verified: emailVerified as boolean | undefined })
      const { callback, cookie } = await toCallback(app, OIDC.id)
      const res = await openCallback(app, callback, cookie)
      assert.equal(res.statusCode, 409, res.body)
      assert.match(res.body, /Log in with that account&#39;s password|Log in with that account's password/)
      assert.equal(res.headers.location, undefined)
    }
    assert.deepEqual(await storeOf(app).identities!.listForUser(user.id), [])
    assert.equal((await storeOf(app).users.list(100, 0)).total, 1)
  })

  it('X2: a pre-registered unverified local account is not linked, even when the provider verified the address', async (t) => {
    const { upstream, app } = await setup(t)
    const email = `${uniqueName('victim')}@example.org`
    const { user: squatter } = await registerUser(app, { email }) // the attacker registers first, never verifies
    upstream.login({ sub: uniqueName('victim'), email, email_verified: true })
    const { callback, cookie } = await toCallback(app, OIDC.id)
    const res = await openCallback(app, callback, cookie)
    assert.equal(res.statusCode, 409, res.body)
    assert.deepEqual(await storeOf(app).identities!.listForUser(squatter.id), [])
    assert.equal((await storeOf(app).users.list(100, 0)).total, 1)
  })

  it('X3, X4, X5: an unknown state is a 400 page, a replayed callback a 400 page, a callback from another browser a 403 page; never a redirect', async (t) => {
    const { upstream, app } = await setup(t)
    upstream.login({ sub: uniqueName('sub'), email: `${uniqueName('s')}@example.org`, email_verified: true })
    const first = await toCallback(app, OIDC.id)
    const forged = first.callback.replace(/state=[^&]+/, 'state=forged-state-value')
    const unknown = await openCallback(app, forged, first.cookie)
    assert.equal(unknown.statusCode, 400)
    assert.equal(unknown.headers.location, undefined)
    const ok = await openCallback(app, first.callback, first.cookie)
    assert.equal(ok.statusCode, 303, ok.body)
    const replayed = await openCallback(app, first.callback, first.cookie)
    assert.equal(replayed.statusCode, 400)
    assert.equal(replayed.headers.location, undefined)
    const second = await toCallback(app, OIDC.id)
    const other = await openCallback(app, second.callback, 'authorize=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')
    assert.equal(other.statusCode, 403)
    const none = await openCallback(app, second.callback, undefined)
    assert.equal(none.statusCode, 400, 'the state was spent by the attempt from the other browser')
    // An error answer of the provider is a page too.
    const denied = await openCallback(app, '/login/oidc/callback?error=access_denied&state=x', first.cookie)
    assert.equal(denied.statusCode, 400)
  })

  it('X8: a code stolen from the downstream redirect is useless without the verifier', async (t) => {
    const { upstream, app } = await setup(t)
    upstream.login({ sub: uniqueName('sub'), email: `${uniqueName('s')}@example.org`, email_verified: true })
    const { callback, cookie } = await toCallback(app, OIDC.id)
    const res = await openCallback(app, callback, cookie)
    const code = new URL(String(res.headers.location)).searchParams.get('code')!
    const stolen = await exchange(app, { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: 'x'.repeat(43) })
    assert.equal(stolen.statusCode, 400)
    assert.equal(stolen.json().error, 'invalid_grant')
  })

  it('X11: never redirects to a URL taken from the start or the callback query', async (t) => {
    const { upstream, app } = await setup(t)
    upstream.login({ sub: uniqueName('sub'), email: `${uniqueName('s')}@example.org`, email_verified: true })
    const { callback, cookie } = await toCallback(app, OIDC.id)
    const hostile = `${callback}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}&return_to=${encodeURIComponent('https://evil.example/')}&next=//evil.example`
    const res = await openCallback(app, hostile, cookie)
    assert.equal(res.statusCode, 303, res.body)
    assert.ok(String(res.headers.location).startsWith(`${APP.redirect}?`), String(res.headers.location))
    // The start takes no URL either: an unknown request id is a page.
    const start = await app.inject({ url: '/login/oidc?request=nope&redirect_uri=https://evil.example/', headers: { cookie } })
    assert.equal(start.statusCode, 400)
    assert.equal(start.headers.location, undefined)
    const unknownProvider = await app.inject({ url: '/login/evil?request=nope', headers: { cookie } })
    assert.equal(unknownProvider.statusCode, 404)
  })

  it('X16: a linked user who then turns TOTP on gets the code page after the provider; the code (its form followed as a browser does) gives amr ext and otp; the provider alone gives nothing', async (t) => {
    const { upstream, app } = await setup(t)
    // A password account, its address verified, linked by that address (rule b) while TOTP is off…
    const email = `${uniqueName('totp')}@example.org`
    const { user } = await registerUser(app, { email })
    await app.authAccounts.markEmailVerified(user.id)
    const passwordTokens = await login(app, user.username)
    upstream.login({ sub: uniqueName('sub'), email, email_verified: true })
    await socialLogin(app, OIDC.id)
    // …then TOTP on.
    const { totp } = await enrol(app, passwordTokens.access_token)
    const { callback, cookie, verifier } = await toCallback(app, OIDC.id)
    const codePage = await openCallback(app, callback, cookie)
    assert.equal(codePage.statusCode, 200, codePage.body)
    assert.match(codePage.body, /Enter your authentication code/)
    assert.equal(codePage.headers.location, undefined, 'no code without the second factor')
    const wrong = await submitForm(app, callback, codePage.body, { code: '12345a' }, cookie)
    assert.equal(wrong.url, '/authorize/mfa', 'the page at /login/oidc/callback posts to /authorize/mfa')
    assert.equal(wrong.res.statusCode, 400)
    const right = await submitForm(app, wrong.url, wrong.res.body, { code: codeAt(totp, 0) }, cookie)
    assert.equal(right.res.statusCode, 303, right.res.body)
    const code = new URL(String(right.res.headers.location)).searchParams.get('code')!
    const tokens = await exchange(app, { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: verifier })
    assert.equal(tokens.statusCode, 200, tokens.body)
    assert.deepEqual(amrOf(tokens.json().access_token), ['ext', 'otp'])
    assert.equal((await getMe(app, tokens.json().access_token)).json().id, user.id)
  })

  it('X17: an account with TOTP, a disabled account, or a login whose request is gone is never linked (nor an account created) by a login that cannot finish', async (t) => {
    const { upstream, app } = await setup(t)
    const linkable = async () => {
      const email = `${uniqueName('l')}@example.org`
      const { user } = await registerUser(app, { email })
      await app.authAccounts.markEmailVerified(user.id)
      const tokens = await login(app, user.username)
      upstream.login({ sub: uniqueName('sub'), email, email_verified: true })
      return { user, tokens }
    }
    const withTotp = await linkable()
    await enrol(app, withTotp.tokens.access_token)
    const totpTry = await toCallback(app, OIDC.id)
    const totpRes = await openCallback(app, totpTry.callback, totpTry.cookie)
    assert.equal(totpRes.statusCode, 409, totpRes.body)
    assert.match(totpRes.body, /two-factor authentication on/)
    assert.deepEqual(await storeOf(app).identities!.listForUser(withTotp.user.id), [])

    const disabled = await linkable()
    await app.authAccounts.setDisabled(disabled.user.id, true)
    const disabledTry = await toCallback(app, OIDC.id)
    assert.equal((await openCallback(app, disabledTry.callback, disabledTry.cookie)).statusCode, 403)
    assert.deepEqual(await storeOf(app).identities!.listForUser(disabled.user.id), [])

    // The pending /authorize request gone meanwhile (expired, or used in another tab).
    const users = (await storeOf(app).users.list(100, 0)).total
    upstream.login({ sub: uniqueName('sub'), email: `${uniqueName('new')}@example.org`, email_verified: true })
    const gone = await toCallback(app, OIDC.id)
    await app.db.deleteFrom('authorization_requests').execute()
    const goneRes = await openCallback(app, gone.callback, gone.cookie)
    assert.equal(goneRes.statusCode, 400)
    assert.equal((await storeOf(app).users.list(100, 0)).total, users, 'no account created')
  })

  it('X18: an unverified address from the provider never becomes a new account\'s: its owner can still register it, and a reset never hands them the provider\'s account', async (t) => {
    const { upstream, app } = await setup(t)
    const victim = `${uniqueName('future')}@example.org`
    upstream.login({ sub: uniqueName('attacker'), email: victim, email_verified: false })
    const { tokens } = await socialLogin(app, OIDC.id)
    const attacker = (await getMe(app, tokens.access_token)).json()
    assert.equal(attacker.email, null, 'the account has no address the provider did not verify')
    const list = (await app.inject({ url: '/users/me/identities', headers: bearer(tokens.access_token) })).json()
    assert.equal(list[0].email, victim, 'the identity records what the provider said')
    assert.equal(list[0].email_verified, false)
    // The owner registers the address: their own account, not the provider's.
    const { user } = await registerUser(app, { email: victim })
    assert.notEqual(user.id, attacker.id)
    // The attacker's next login at the provider is still their own account.
    const again = await socialLogin(app, OIDC.id)
    assert.equal((await getMe(app, again.tokens.access_token)).json().id, attacker.id)
  })

  it('X19: a provider\'s address that /register would refuse (a Kelvin sign, a full-width @, CRLF and a header, a trailing dot, spaces) is neither stored nor used to link a verified account', async (t) => {
    const { upstream, app } = await setup(t)
    const local = uniqueName('kate')
    const { user } = await registerUser(app, { email: `k${local}@example.org` })
    await app.authAccounts.markEmailVerified(user.id)
    const lookAlikes = [
      `\u212A${local}@example.org`, `k${local}\uFF20example.org`, `k${local}@example.org\r\nBcc: spy@evil.example`, `k${local}@example.org.`, ` k${local}@example.org `,
      // …and in the domain, which IDNA would map onto example.org: full-width letters, a Kelvin sign, 。, a soft hyphen, circled and bold letters
      `k${local}@\uFF45xample.org`, `k${local}@example.or\u217F`, `k${local}@example\u3002org`, `k${local}@exam\u00ADple.org`, `k${local}@\u24D4xample.org`, `k${local}@\u{1D41E}xample.org`
    ]
    for (const email of lookAlikes) {
      upstream.login({ sub: uniqueName('sub'), email, email_verified: true })
      const { tokens } = await socialLogin(app, OIDC.id)
      const me = (await getMe(app, tokens.access_token)).json()
      assert.notEqual(me.id, user.id, JSON.stringify(email))
      assert.equal(me.email, null, JSON.stringify(email))
    }
    assert.deepEqual(await storeOf(app).identities!.listForUser(user.id), [])
  })

  it('X13: a disabled user is refused with a page', async (t) => {
    const { upstream, app } = await setup(t)
    const sub = uniqueName('sub')
    upstream.login({ sub, email: `${sub}@example.org`, email_verified: true })
    const { tokens } = await socialLogin(app, OIDC.id)
    const me = (await getMe(app, tokens.access_token)).json()
    await app.authAccounts.setDisabled(me.id, true)
    const disabled = await toCallback(app, OIDC.id)
    const refused = await openCallback(app, disabled.callback, disabled.cookie)
    assert.equal(refused.statusCode, 403)
    assert.match(refused.body, /disabled/)
  })

  it('X14: a new user\'s username is made unique', async (t) => {
    const { upstream, app } = await setup(t)
    const taken = uniqueName('taken')
    await registerUser(app, { username: taken })
    upstream.login({ sub: uniqueName('sub'), email: `${uniqueName('s')}@example.org`, email_verified: false, preferred_username: taken })
    const { tokens } = await socialLogin(app, OIDC.id)
    const me = (await getMe(app, tokens.access_token)).json()
    assert.match(me.username, new RegExp(`^${taken}-[0-9a-f]{6}$`))
    assert.equal(me.email_verified, false)
  })

  it('X12: a discovery failure is a page (502), and the server keeps serving', async (t) => {
    const app = await buildWithProviders(t, [{ ...OIDC, issuer: 'http://127.0.0.1:9' }])
    const page = await app.inject({ url: '/authorize?' + new URLSearchParams({ response_type: 'code', client_id: APP.client_id, redirect_uri: APP.redirect, code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' }).toString() })
    assert.equal(page.statusCode, 200)
    const link = /href="(login\/oidc\?request=[^"]+)"/.exec(page.body)![1]!
    const cookie = String(page.headers['set-cookie']).split(';')[0]!
    const res = await app.inject({ url: `/${link}`, headers: { cookie } })
    assert.equal(res.statusCode, 502)
    assert.match(res.body, /cannot be reached/)
    assert.equal((await app.inject({ url: '/health' })).statusCode, 200)
  })

  it('X15: the password grant refuses a passwordless user exactly as a wrong password (same answer, same time)', async (t) => {
    const { upstream, app } = await setup(t, { LOGIN_USERNAME_RATE_LIMIT: '0' })
    const sub = uniqueName('sub')
    upstream.login({ sub, email: `${sub}@example.org`, email_verified: true })
    const { tokens } = await socialLogin(app, OIDC.id)
    const me = (await getMe(app, tokens.access_token)).json()
    const { user } = await registerUser(app)
    for (const password of ['', '!', 'anything at all']) {
      const passwordless = await passwordGrant(app, me.username, password || 'x')
      const wrong = await passwordGrant(app, user.username, 'wrong password')
      assert.equal(passwordless.statusCode, wrong.statusCode)
      assert.deepEqual(passwordless.json(), wrong.json())
    }
    // The same time: the passwordless user's check verifies the dummy hash (medians of a few tries).
    // Interleaved rounds (one of each per round, the order alternating), so a burst of load on this
    // machine falls on both; the medians of 11 rounds.
    const times: Record<string, number[]> = { [me.username]: [], [user.username]: [] }
    for (let i = 0; i < 11; i++) {
      for (const name of i % 2 === 0 ? [me.username, user.username] : [user.username, me.username]) {
        const started = performance.now()
        await passwordGrant(app, name, `guess ${i}`)
        times[name]!.push(performance.now() - started)
      }
    }
    const median = (samples: number[]) => samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!
    const [passwordless, wrong] = [median(times[me.username]!), median(times[user.username]!)]
    assert.ok(passwordless > wrong * 0.5 && passwordless < wrong * 2, `passwordless ${passwordless} ms, wrong password ${wrong} ms`)
  })
})
