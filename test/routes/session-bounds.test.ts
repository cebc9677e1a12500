import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { newId } from '../../src/identifiers.js'
import { bearer, build, login, refresh, registerUser, storeOf, testConfig } from '../helper.js'

/*
 * Per-user data is bounded (issue 18, finding 6; ASVS 7.1.2): a user has at most
 * MAX_SESSIONS_PER_USER live sessions, the oldest ending first, and GET /users/me/sessions answers
 * a page, however many rows an older version (or a flood) left behind.
 */

const sessionsOf = (app: Awaited<ReturnType<typeof build>>, accessToken: string, query = '') =>
  app.inject({ url: `/users/me/sessions${query}`, headers: bearer(accessToken) })

describe('the number of live sessions per user', () => {
  it('is 100 by default, documented as MAX_SESSIONS_PER_USER', () => {
    assert.equal(testConfig().auth.maxSessionsPerUser, 100)
    assert.equal(testConfig({ MAX_SESSIONS_PER_USER: '7' }).auth.maxSessionsPerUser, 7)
    assert.throws(() => testConfig({ MAX_SESSIONS_PER_USER: '0' }), /MAX_SESSIONS_PER_USER/)
  })

  it('is capped: a login beyond the cap ends the oldest sessions, their access and refresh tokens with them', async (t) => {
    const app = await build(t, { MAX_SESSIONS_PER_USER: '3' })
    const { user } = await registerUser(app)
    const logins = []
    for (let i = 0; i < 5; i++) logins.push(await login(app, user.username))
    const newest = logins.at(-1)!
    const listed = (await sessionsOf(app, newest.access_token)).json<Array<{ id: string, current: boolean }>>()
    assert.equal(listed.length, 3)
    assert.equal(listed[0]!.current, true, 'newest first')
    for (const ended of logins.slice(0, 2)) {
      assert.equal((await app.inject({ url: '/users/me', headers: bearer(ended.access_token) })).statusCode, 401)
      assert.equal((await refresh(app, ended.refresh_token)).statusCode, 400)
    }
    for (const live of logins.slice(2)) assert.equal((await app.inject({ url: '/users/me', headers: bearer(live.access_token) })).statusCode, 200)
  })
})

describe('GET /users/me/sessions', () => {
  it('answers a page (limit, offset), newest first', async (t) => {
    const app = await build(t)
    const { user } = await registerUser(app)
    const logins = []
    for (let i = 0; i < 4; i++) logins.push(await login(app, user.username))
    const token = logins.at(-1)!.access_token
    const all = (await sessionsOf(app, token)).json<Array<{ id: string }>>()
    assert.equal(all.length, 4)
    const first = (await sessionsOf(app, token, '?limit=2')).json<Array<{ id: string }>>()
    const second = (await sessionsOf(app, token, '?limit=2&offset=2')).json<Array<{ id: string }>>()
    assert.deepEqual([...first, ...second].map(s => s.id), all.map(s => s.id))
    assert.deepEqual((await sessionsOf(app, token, '?offset=4')).json(), [])
    for (const query of ['?limit=0', '?limit=101', '?offset=-1', '?limit=x']) assert.equal((await sessionsOf(app, token, query)).statusCode, 400, query)
  })

  it('stays small and fast with 10,000 sessions stored for the user (rows an older version could leave)', async (t) => {
    const app = await build(t)
    const { user } = await registerUser(app)
    const { access_token: token } = await login(app, user.username)
    const now = Date.now()
    const rows = Array.from({ length: 10_000 }, (_, i) => ({
      id: newId(),
      user_id: user.id,
      scope: 'me',
      client_id: 'public',
      user_agent: 'x'.repeat(512),
      created_at: now - 10_000 + i,
      last_used_at: now,
      expires_at: now + 86_400_000,
      ended_at: null
    }))
    for (let i = 0; i < rows.length; i += 500) await app.db.insertInto('sessions').values(rows.slice(i, i + 500)).execute()
    const started = performance.now()
    const res = await sessionsOf(app, token)
    const ms = performance.now() - started
    t.diagnostic(`10,001 sessions: ${res.rawPayload.length} bytes in ${ms.toFixed(1)} ms`)
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().length, 50)
    assert.ok(res.rawPayload.length < 64 * 1024, `one page, not every row: ${res.rawPayload.length} bytes`)
    // Ending one of them still finds it, wherever it is in the list.
    assert.equal((await app.inject({ method: 'DELETE', url: `/users/me/sessions/${rows[0]!.id}`, headers: bearer(token) })).statusCode, 204)
    assert.equal((await storeOf(app).sessions.findWithUser(rows[0]!.id))?.session.ended_at !== null, true)
  })
})
