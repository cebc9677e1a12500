import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeJwt } from 'jose'
import { build, registerAndLogin } from '../helper.js'

describe('session clean-up', () => {
  it('deletes expired and ended sessions, and keeps live ones', async (t) => {
    const app = await build(t)
    const live = await registerAndLogin(app)
    const expired = await registerAndLogin(app)
    const sid = (token: string) => decodeJwt<{ sid: string }>(token).sid
    await app.db.updateTable('sessions').set({ expires_at: Date.now() - 1000 }).where('id', '=', sid(expired.tokens.access_token)).execute()

    const purged = await app.authSessions.purge()

    assert.equal(purged, 1)
    const left = await app.db.selectFrom('sessions').select('id').execute()
    assert.deepEqual(left.map(s => s.id), [sid(live.tokens.access_token)])
    const refreshRows = await app.db.selectFrom('refresh_tokens').select('session_id').execute()
    assert.ok(refreshRows.every(r => r.session_id === sid(live.tokens.access_token)), 'refresh tokens go with their session')
  })
})
