import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { getMe, registerUser, uniqueName } from '../helper.js'
import { buildWithProviders, GH, openCallback, socialLogin, startGithubMock, toCallback, traced } from './upstream.js'

/* The GitHub preset against a mock of GitHub's endpoints on 127.0.0.1 (PKCE checked there as GitHub does). */

async function setup (t: import('node:test').TestContext) {
  const github = await startGithubMock(t)
  const app = await buildWithProviders(t, [{ ...GH, authorization_endpoint: `${github.base}/login/oauth/authorize`, token_endpoint: `${github.base}/login/oauth/access_token`, api_base: github.base }])
  return { github, app }
}

describe('social login: the GitHub preset', { concurrency: 3 }, () => {
  it('a new user from the primary verified address of /user/emails, the flow traced', async (t) => {
    const { github, app } = await setup(t)
    const login = uniqueName('octo')
    github.login({ id: 1000 + Math.floor(Math.random() * 1e6), login, name: 'Octo Cat', emails: [{ email: `other-${login}@example.org`, primary: false, verified: false }, { email: `${login}@example.org`, primary: true, verified: true }] })
    const { tokens, hops } = await socialLogin(app, 'github')
    t.diagnostic(`github flow:\n${traced(hops)}`)
    const me = (await getMe(app, tokens.access_token)).json()
    assert.equal(me.username, login)
    assert.equal(me.email, `${login}@example.org`)
    assert.equal(me.email_verified, true)
    assert.equal(me.full_name, 'Octo Cat')
  })

  it('X1: an address GitHub has not verified never links to a local account', async (t) => {
    const { github, app } = await setup(t)
    const { user } = await registerUser(app, { email: `${uniqueName('victim')}@example.org` })
    await app.authAccounts.markEmailVerified(user.id)
    github.login({ id: 2_000_000 + Math.floor(Math.random() * 1e6), login: uniqueName('attacker'), emails: [{ email: user.email!, primary: true, verified: false }] })
    const { callback, cookie } = await toCallback(app, 'github')
    const res = await openCallback(app, callback, cookie)
    assert.equal(res.statusCode, 409, res.body)
    assert.equal(res.headers.location, undefined)
  })

  it('a user whose only address is unverified gets an account without one (X18); the identity records it', async (t) => {
    const { github, app } = await setup(t)
    const login = uniqueName('octo')
    github.login({ id: 3_000_000 + Math.floor(Math.random() * 1e6), login, emails: [{ email: `${login}@example.org`, primary: true, verified: false }] })
    const { tokens } = await socialLogin(app, 'github')
    const me = (await getMe(app, tokens.access_token)).json()
    assert.equal(me.email, null)
    assert.equal(me.email_verified, false)
    const [identity] = (await app.inject({ url: '/users/me/identities', headers: { authorization: `Bearer ${tokens.access_token}` } })).json()
    assert.deepEqual([identity.email, identity.email_verified], [`${login}@example.org`, false])
  })
})
