import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { adminLogin, bearer, build, registerAndLogin } from '../helper.js'

/* user.updated names the fields whose value changed: a PATCH that changes nothing records nothing. */
const updated = async (app: FastifyInstance) => (await app.db.selectFrom('audit_events').selectAll().where('type', '=', 'user.updated').execute()).map(row => JSON.parse(row.data))

describe('user.updated', () => {
  it('PATCH /users/me with the same full_name 20 times: one event, for the one change', async (t) => {
    const app = await build(t, { TOKEN_RATE_LIMIT: '0' })
    const { tokens } = await registerAndLogin(app)
    for (let i = 0; i < 20; i++) {
      const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(tokens.access_token), payload: { full_name: 'Same Name' } })
      assert.equal(res.statusCode, 200, res.body)
    }
    assert.deepEqual(await updated(app), [{ fields: ['full_name'] }])
  })

  it('names only the changed fields of a patch (an admin\'s too)', async (t) => {
    const app = await build(t, { TOKEN_RATE_LIMIT: '0' })
    const admin = await adminLogin(app)
    const { user } = await registerAndLogin(app)
    const patch = (payload: object) => app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: bearer(admin.tokens.access_token), payload })
    assert.equal((await patch({ full_name: 'First' })).statusCode, 200)
    assert.equal((await patch({ full_name: 'First', is_admin: true })).statusCode, 200)
    assert.equal((await patch({ full_name: 'First', is_admin: true })).statusCode, 200)
    assert.deepEqual(await updated(app), [{ fields: ['full_name'] }, { fields: ['is_admin'] }])
  })
})
