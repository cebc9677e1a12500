import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { build, FORM, registerAndLogin } from '../helper.js'

/* POST /token/revoke (RFC 7009) records the request's context on session.ended, as logout does. */
describe('session.ended from POST /token/revoke', () => {
  for (const kind of ['refresh_token', 'access_token'] as const) {
    it(`carries the request's address, user agent and the session's client (${kind === 'access_token' ? 'an' : 'a'} ${kind})`, async (t) => {
      const app = await build(t, { TOKEN_RATE_LIMIT: '0' })
      const { user, tokens } = await registerAndLogin(app)
      const res = await app.inject({
        method: 'POST',
        url: '/token/revoke',
        headers: { ...FORM, 'user-agent': 'revoker/1.0' },
        payload: new URLSearchParams({ token: tokens[kind] }).toString(),
        remoteAddress: '192.0.2.77'
      })
      assert.equal(res.statusCode, 200)
      const rows = await app.db.selectFrom('audit_events').selectAll().where('type', '=', 'session.ended').execute()
      assert.equal(rows.length, 1)
      const started = await app.db.selectFrom('audit_events').selectAll().where('type', '=', 'login.succeeded').executeTakeFirstOrThrow()
      assert.deepEqual(
        [rows[0]!.user_id, rows[0]!.session_id, rows[0]!.ip, rows[0]!.user_agent, rows[0]!.client_id, JSON.parse(rows[0]!.data)],
        [user.id, started.session_id, '192.0.2.77', 'revoker/1.0', started.client_id, { reason: 'revoked' }])
    })
  }
})
