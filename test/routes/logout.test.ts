import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { assertSessionEnded, bearer, build, getMe, login, registerAndLogin } from '../helper.js'

/* routes/auth/logout.ts: POST /logout. */

describe('POST /logout', () => {
  it('ends the session of the presented token', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const other = await login(app, user.username)
    const res = await app.inject({ method: 'POST', url: '/logout', headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 204)
    assert.equal(res.body, '')
    await assertSessionEnded(app, tokens)
    assert.equal((await getMe(app, other.access_token)).statusCode, 200, 'other sessions stay')
  })

  it('answers 401 without a token', async (t) => {
    const app = await build(t)
    const res = await app.inject({ method: 'POST', url: '/logout' })
    assert.equal(res.statusCode, 401)
    assert.equal(res.headers['www-authenticate'], 'Bearer')
  })

  it('answers 401 for a token whose session already ended', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    assert.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(tokens.access_token) })).statusCode, 204)
    const again = await app.inject({ method: 'POST', url: '/logout', headers: bearer(tokens.access_token) })
    assert.equal(again.statusCode, 401)
  })
})
