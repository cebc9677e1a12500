import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import auth, { authRoutes, createDatabase, createSqlStore, migrateToLatest, type AuthStore } from '../../src/index.js'
import { cookieOf, pkce, requestIdOf } from '../authorization-helpers.js'
import { FORM, form, PASSWORD } from '../helper.js'

/*
 * The authorization-code flow in an app that mounts the plugin: clients from the plugin's
 * `oauthClients` option, routes under a prefix, and a store of the app's own without the optional
 * `authorization` part (requests and codes then live in the core's memory).
 */

const SECRET = 'a-mounted-app-secret-of-at-least-32-bytes'
const REDIRECT = 'https://app.example.com/cb'

describe('the authorization-code flow in a mounted app', () => {
  for (const ownStore of [false, true]) {
    it(`runs under /auth with clients from the plugin's options${ownStore ? ', on a store without the authorization part' : ''}`, async (t) => {
      const app = Fastify()
      t.after(() => app.close())
      let store: AuthStore | undefined
      if (ownStore) {
        const { db } = createDatabase('sqlite::memory:')
        await migrateToLatest(db)
        t.after(() => db.destroy())
        const { authorization: _left, ...withoutAuthorization } = createSqlStore(db)
        store = withoutAuthorization
      }
      await app.register(auth, { jwt: { secret: SECRET, issuer: 'https://auth.example.com' }, oauthClients: [{ client_id: 'app', public: true, first_party: true, redirect_uris: [REDIRECT] }], ...(store === undefined ? {} : { store }) })
      await app.register(authRoutes, { prefix: '/auth' })
      await app.ready()

      const registered = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'mounted', password: PASSWORD } })
      assert.equal(registered.statusCode, 201)
      const { verifier, challenge } = pkce()
      const query = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT, state: 's1', code_challenge: challenge, code_challenge_method: 'S256' })
      const page = await app.inject({ url: `/auth/authorize?${query.toString()}` })
      assert.equal(page.statusCode, 200, page.body)
      // A relative action: the form posts to /auth/authorize under the prefix.
      assert.match(page.body, /<form method="post" action="authorize">/)
      const res = await app.inject({ method: 'POST', url: '/auth/authorize', headers: { ...FORM, cookie: cookieOf(page) }, payload: form({ request: requestIdOf(page.body), username: 'mounted', password: PASSWORD }) })
      assert.equal(res.statusCode, 303, res.body)
      const location = new URL(String(res.headers.location))
      assert.equal(location.searchParams.get('iss'), 'https://auth.example.com')
      const tokens = await app.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload: form({ grant_type: 'authorization_code', code: location.searchParams.get('code')!, redirect_uri: REDIRECT, client_id: 'app', code_verifier: verifier }) })
      assert.equal(tokens.statusCode, 200, tokens.body)
    })
  }

  it('refuses invalid oauthClients at register, naming the client', async (t) => {
    const app = Fastify()
    t.after(() => app.close())
    await assert.rejects(async () => {
      await app.register(auth, { jwt: { secret: SECRET }, oauthClients: [{ client_id: 'bad', public: true, redirect_uris: ['http://evil.example/cb'] }] })
      await app.ready()
    }, /client bad: redirect_uri http:\/\/evil.example\/cb: http is for loopback/)
  })
})
