import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { APP, exchange } from '../authorization-helpers.js'
import { bearer, getMe, login, passwordGrant, registerUser, storeOf, uniqueName } from '../helper.js'
import { buildWithProviders, OIDC, openCallback, socialLogin, startOidcProvider, toCallback, traced } from './upstream.js'

/*
 * Social login against a real OpenID Connect provider (oidc-provider on 127.0.0.1), driven as a
 * browser would: /authorize → the login page's link → the provider → our callback → the code →
 * /token → /users/me. Threat model: "Social login (OIDC, GitHub)", S1–S16.
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
    // S9: the provider's address changes: the identity (provider, sub) still logs the same user in.
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

  it('S1: an unverified provider e-mail never links to the local account (a page), and no second account is made', async (t) => {
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

  it('S2: a pre-registered unverified local account is not linked, even when the provider verified the address', async (t) => {
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

  it('S3, S4, S5: an unknown state is a 400 page, a replayed callback a 400 page, a callback from another browser a 403 page; never a redirect', async (t) => {
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

  it('S8: a code stolen from the downstream redirect is useless without the verifier', async (t) => {
    const { upstream, app } = await setup(t)
    upstream.login({ sub: uniqueName('sub'), email: `${uniqueName('s')}@example.org`, email_verified: true })
    const { callback, cookie } = await toCallback(app, OIDC.id)
    const res = await openCallback(app, callback, cookie)
    const code = new URL(String(res.headers.location)).searchParams.get('code')!
    const stolen = await exchange(app, { code, redirect_uri: APP.redirect, client_id: APP.client_id, code_verifier: 'x'.repeat(43) })
    assert.equal(stolen.statusCode, 400)
    assert.equal(stolen.json().error, 'invalid_grant')
  })

  it('S11: never redirects to a URL taken from the start or the callback query', async (t) => {
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

  it('S13, S16: a disabled user, and a user with TOTP, are refused with a page', async (t) => {
    const { upstream, app } = await setup(t)
    const sub = uniqueName('sub')
    upstream.login({ sub, email: `${sub}@example.org`, email_verified: true })
    const { tokens } = await socialLogin(app, OIDC.id)
    const me = (await getMe(app, tokens.access_token)).json()
    await app.db.updateTable('users').set({ mfa_enabled: 1 }).where('id', '=', me.id).execute()
    const withTotp = await toCallback(app, OIDC.id)
    const refusedTotp = await openCallback(app, withTotp.callback, withTotp.cookie)
    assert.equal(refusedTotp.statusCode, 403)
    assert.match(refusedTotp.body, /two-factor/)
    await app.db.updateTable('users').set({ mfa_enabled: 0 }).where('id', '=', me.id).execute()
    await app.authAccounts.setDisabled(me.id, true)
    const disabled = await toCallback(app, OIDC.id)
    const refused = await openCallback(app, disabled.callback, disabled.cookie)
    assert.equal(refused.statusCode, 403)
    assert.match(refused.body, /disabled/)
  })

  it('S14: a new user\'s username is made unique', async (t) => {
    const { upstream, app } = await setup(t)
    const taken = uniqueName('taken')
    await registerUser(app, { username: taken })
    upstream.login({ sub: uniqueName('sub'), email: `${uniqueName('s')}@example.org`, email_verified: false, preferred_username: taken })
    const { tokens } = await socialLogin(app, OIDC.id)
    const me = (await getMe(app, tokens.access_token)).json()
    assert.match(me.username, new RegExp(`^${taken}-[0-9a-f]{6}$`))
    assert.equal(me.email_verified, false)
  })

  it('S12: a discovery failure is a page (502), and the server keeps serving', async (t) => {
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

  it('S15: the password grant refuses a passwordless user exactly as a wrong password (same answer, same time)', async (t) => {
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
    const median = async (name: string) => {
      const times: number[] = []
      for (let i = 0; i < 7; i++) {
        const started = performance.now()
        await passwordGrant(app, name, `guess ${i}`)
        times.push(performance.now() - started)
      }
      return times.sort((a, b) => a - b)[3]!
    }
    const [passwordless, wrong] = [await median(me.username), await median(user.username)]
    assert.ok(passwordless > wrong * 0.5 && passwordless < wrong * 2, `passwordless ${passwordless} ms, wrong password ${wrong} ms`)
  })
})
