import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bearer, build, registerAndLogin } from '../helper.js'

describe('GET /users/me', () => {
  it('answers the logged-in user', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const res = await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), user)
  })
})
