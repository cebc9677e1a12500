import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import auth from '../../src/index.js'
import { PASSWORD, uniqueName } from '../helper.js'

describe('request.jwtVerify() for app code (@fastify/jwt, verify-only)', () => {
  for (const jwt of [{ secret: 'an-app-secret-of-at-least-32-bytes-long' }, {}]) {
    it(`verifies the plugin's own tokens with the same pins (${jwt.secret === undefined ? 'EdDSA' : 'HS256'})`, async (t) => {
      const app = Fastify()
      t.after(() => app.close())
      await app.register(auth, { jwt })
      app.get('/claims', async request => {
        const claims = await request.jwtVerify<{ sub: string, scope: string }>()
        return { sub: claims.sub, scope: claims.scope }
      })
      await app.ready()
      const user = await app.authAccounts.register({ username: uniqueName('jwt'), password: PASSWORD })
      const { tokens } = await app.authLogin.passwordLogin({ username: user.username, password: PASSWORD, scope: 'me' })
      const ok = await app.inject({ url: '/claims', headers: { authorization: `Bearer ${tokens.access_token}` } })
      assert.equal(ok.statusCode, 200, ok.body)
      assert.deepEqual(ok.json(), { sub: user.id, scope: 'me' })
      const [h, p, s] = tokens.access_token.split('.') as [string, string, string]
      const tampered = `${h}.${p}.${s.slice(0, -4)}AAAA`
      assert.equal((await app.inject({ url: '/claims', headers: { authorization: `Bearer ${tampered}` } })).statusCode, 401)
    })
  }
})
