import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { assertHttpError, bearer, getMe, login, registerUser, uniqueName } from '../helper.js'
import { startSmtp } from '../mail/smtp.js'
import { buildWithProviders, GH, OIDC, socialLogin, startGithubMock, startOidcProvider } from './upstream.js'

/* GET/DELETE /users/me/identities, passwordless users' passwords, and OIDC_PROVIDERS_FILE at start. */

async function setup (t: import('node:test').TestContext, env: Record<string, string> = {}) {
  const upstream = await startOidcProvider(t)
  const github = await startGithubMock(t)
  const app = await buildWithProviders(t, [
    { ...OIDC, issuer: upstream.issuer },
    { ...GH, authorization_endpoint: `${github.base}/login/oauth/authorize`, token_endpoint: `${github.base}/login/oauth/access_token`, api_base: github.base }
  ], env)
  return { upstream, github, app }
}

describe('/users/me/identities', { concurrency: 3 }, () => {
  it('lists identities, refuses to remove the last way to log in (409), removes one of two (identity.unlinked), 404 for another user\'s', async (t) => {
    const { upstream, github, app } = await setup(t)
    const name = uniqueName('multi')
    upstream.login({ sub: name, email: `${name}@example.org`, email_verified: true })
    const { tokens } = await socialLogin(app, OIDC.id)
    const auth = bearer(tokens.access_token)
    const [only] = (await app.inject({ url: '/users/me/identities', headers: auth })).json()
    assertHttpError(await app.inject({ method: 'DELETE', url: `/users/me/identities/${only.id}`, headers: auth }), 409, 'Conflict')
    // GitHub with the same verified address: linked to this user (both sides verified).
    github.login({ id: 4_000_000 + Math.floor(Math.random() * 1e6), login: name, emails: [{ email: `${name}@example.org`, primary: true, verified: true }] })
    const viaGithub = await socialLogin(app, 'github')
    const me = (await getMe(app, tokens.access_token)).json()
    assert.equal((await getMe(app, viaGithub.tokens.access_token)).json().id, me.id)
    const both = (await app.inject({ url: '/users/me/identities', headers: auth })).json()
    assert.deepEqual(both.map((i: { provider: string }) => i.provider), [OIDC.id, 'github'])
    // Another user cannot remove it: 404.
    const { user: other } = await registerUser(app)
    const otherTokens = await login(app, other.username)
    assertHttpError(await app.inject({ method: 'DELETE', url: `/users/me/identities/${only.id}`, headers: bearer(otherTokens.access_token) }), 404, 'Not Found')
    assertHttpError(await app.inject({ method: 'DELETE', url: '/users/me/identities/unknown', headers: auth }), 404, 'Not Found')
    const removed = await app.inject({ method: 'DELETE', url: `/users/me/identities/${only.id}`, headers: auth })
    assert.equal(removed.statusCode, 204)
    const events = await app.db.selectFrom('audit_events').select('type').where('user_id', '=', me.id).execute()
    assert.ok(events.some(e => e.type === 'identity.unlinked'))
    // Now GitHub is the last way in.
    const last = (await app.inject({ url: '/users/me/identities', headers: auth })).json()
    assert.equal(last.length, 1)
    assertHttpError(await app.inject({ method: 'DELETE', url: `/users/me/identities/${last[0].id}`, headers: auth }), 409, 'Conflict')
  })

  it('a passwordless user: PUT /users/me/password refuses clearly (400); a reset by e-mail (a real SMTP server, the link\'s token posted to /reset-password) gives a password, and then the last identity can go', async (t) => {
    const smtp = await startSmtp(t)
    const { upstream, app } = await setup(t, { SMTP_URL: smtp.url })
    app.mailOutbox.start()
    const name = uniqueName('nopw')
    upstream.login({ sub: name, email: `${name}@example.org`, email_verified: true })
    const { tokens } = await socialLogin(app, OIDC.id)
    const auth = bearer(tokens.access_token)
    const change = await app.inject({ method: 'PUT', url: '/users/me/password', headers: auth, payload: { current_password: 'x', new_password: 'a brand new passphrase' } })
    assertHttpError(change, 400, 'Bad Request')
    assert.match(change.json().message, /no password.*forgot-password/)
    // The reset by e-mail: the provider verified the address, so it is the account's and reachable.
    const me = (await getMe(app, tokens.access_token)).json()
    assert.equal((await app.inject({ method: 'POST', url: '/forgot-password', payload: { email: me.email } })).statusCode, 202)
    const reset = (await smtp.waitFor(me.email)).find(m => m.link?.includes('/reset-password') === true)
    assert.ok(reset?.token !== undefined, 'a reset e-mail with its link')
    const done = await app.inject({ method: 'POST', url: '/reset-password', payload: { token: reset.token, password: 'a brand new passphrase' } })
    assert.equal(done.statusCode, 204, done.body)
    // The reset ended every session: log in with the new password, then the identity is no longer the last way in.
    const fresh = bearer((await login(app, me.username, 'a brand new passphrase')).access_token)
    const [identity] = (await app.inject({ url: '/users/me/identities', headers: fresh })).json()
    assert.equal((await app.inject({ method: 'DELETE', url: `/users/me/identities/${identity.id}`, headers: fresh })).statusCode, 204)
  })

  it('requires scope me', async (t) => {
    const { app } = await setup(t)
    const { user } = await registerUser(app)
    const tokens = await login(app, user.username, undefined, { scope: 'items' })
    assert.equal((await app.inject({ url: '/users/me/identities', headers: bearer(tokens.access_token) })).statusCode, 403)
    assert.deepEqual((await app.inject({ url: '/users/me/identities', headers: bearer((await login(app, user.username)).access_token) })).json(), [])
  })
})
